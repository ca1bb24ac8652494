//! `boot-sim ami …` end to end: register the fixture images, launch them on
//! compatible and incompatible instance types, permissions, copy,
//! footprint, concurrent processes, a corrupt registry.

mod common;

use common::stdout;

use std::path::Path;
use std::process::{Command, Output};

use boot_sim::image;

fn ami(registry: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim"))
        .arg("ami")
        .args(args)
        .arg("--registry")
        .arg(registry)
        .output()
        .expect("run boot-sim")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o).trim().to_string()
}

#[test]
fn register_and_launch_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("amis.db");
    let pv = ok(ami(
        &reg,
        &["register", &image("pv-kernel.img"), "--name", "pv kernel", "--virtualization-type", "paravirtual"],
    ));
    assert!(pv.starts_with("ami-") && pv.len() == 21, "{pv}");
    let hvm =
        ok(ami(&reg, &["register", &image("hvm-simboot.img"), "--name", "hvm test", "--virtualization-type", "hvm"]));

    // PV on m1.small: PV-GRUB, domain builder, kernel entry.
    let t = ok(ami(&reg, &["launch", &pv, "--instance-type", "m1.small"]));
    for needle in [
        "on m1.small as 123456789012 (the owner): paravirtual, ebs root (cost model disk: EbsGp3)",
        "PV-GRUB: looked at (hd0)/boot/grub/menu.lst: found",
        "cs=0xe033 ss=0xe02b",
        "Reached the kernel entry",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }

    // PV on t2.micro: refused, exit 1, saying why.
    let o = ami(&reg, &["launch", &pv, "--instance-type", "t2.micro"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("t2.micro does not support paravirtual AMIs"), "{}", stdout(&o));

    // HVM on t2.micro: the firmware runs simboot to the kernel entry.
    let t = ok(ami(&reg, &["launch", &hvm, "--instance-type", "t2.micro"]));
    assert!(t.contains("on t2.micro as 123456789012 (the owner): hvm"), "{t}");
    assert!(t.contains("HVM boot of") && t.contains("simboot 1.0 entered the Linux kernel"), "{t}");

    // HVM on m1.small: refused.
    let o = ami(&reg, &["launch", &hvm, "--instance-type", "m1.small"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("m1.small does not support hvm AMIs"));

    // JSON: a launch object, then the boot's result.
    let o = ami(&reg, &["launch", &pv, "--instance-type", "c3.large", "--json"]);
    let lines = boot_sim::json_lines(&o.stdout);
    assert_eq!(lines[0]["type"], "launch");
    assert_eq!(lines[0]["disk_profile"], "ebs-gp3");
    assert!(lines[0]["notes"].to_string().contains("enhanced networking needs an HVM AMI"));
    assert_eq!(lines.last().unwrap()["outcome"], "kernel-entry");

    // Unknown instance type / AMI: exit 2.
    let o = ami(&reg, &["launch", &pv, "--instance-type", "z9.huge"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown instance type \"z9.huge\""));
    let o = ami(&reg, &["show", "ami-0123456789abcdef0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown AMI"));
}

#[test]
fn permissions_copy_and_footprint() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("amis.db");
    let img = dir.path().join("disk.img");
    std::fs::copy(image("hvm-simboot.img"), &img).unwrap();
    let id = ok(ami(
        &reg,
        &["register", img.to_str().unwrap(), "--name", "shared one", "--virtualization-type", "hvm", "--tag", "k=v"],
    ));
    let launch_as = |acct: &str| ami(&reg, &["launch", &id, "--instance-type", "t3.micro", "--account", acct]);
    let o = launch_as("444455556666");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("account 444455556666 is not allowed to launch"), "{}", stdout(&o));
    ok(ami(&reg, &["permissions", &id, "--add", "444455556666"]));
    ok(launch_as("444455556666"));
    assert_eq!(launch_as("777788889999").status.code(), Some(1));
    let t = ok(ami(&reg, &["permissions", &id, "--public"]));
    assert!(t.contains("public"), "{t}");
    ok(launch_as("777788889999"));

    let copy = ok(ami(&reg, &["copy", &id, "--region", "eu-west-1"]));
    let shown = ok(ami(&reg, &["show", &copy, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["ami"]["region"], "eu-west-1");
    assert_eq!(v["ami"]["public"], false);
    assert_eq!(v["ami"]["tags"], serde_json::json!({}));
    assert_eq!(v["ami"]["launch_permissions"], serde_json::json!([]));

    let o = ami(&reg, &["footprint", &id, &copy, "--json"]);
    let lines = boot_sim::json_lines(&o.stdout);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["entry"]["stored_bytes"], 0, "the copy stores nothing new");
    assert_eq!(lines[2]["type"], "total");
    let t = ok(ami(&reg, &["footprint", &id, &copy]));
    assert!(t.contains("incremental to") && t.contains("total:"), "{t}");

    // The image changes: launch refuses it, naming both digests.
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&img, bytes).unwrap();
    let o = ami(&reg, &["launch", &id, "--instance-type", "t2.micro"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("changed since it was registered") && e.matches("sha256-blocks-512k").count() == 2, "{e}");

    ok(ami(&reg, &["deregister", &copy]));
    let list = ok(ami(&reg, &["list"]));
    assert!(list.contains(&id) && !list.contains(&copy), "{list}");
}

#[test]
fn two_processes_register_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("amis.db");
    let children: Vec<_> = (0..2)
        .map(|p| {
            let mut cmd = Command::new("sh");
            let script = format!(
                "for i in 1 2 3 4 5 6; do {bin} ami register {img} --name \"p{p} image $i\" --virtualization-type hvm --registry {reg} >/dev/null || exit 1; done",
                bin = env!("CARGO_BIN_EXE_boot-sim"),
                img = image("hvm-simboot.img"),
                reg = reg.display()
            );
            cmd.arg("-c").arg(script);
            cmd.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let o = ami(&reg, &["list", "--json"]);
    assert_eq!(boot_sim::json_lines(&o.stdout).len(), 12);
}

#[test]
fn a_corrupt_registry_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("amis.db");
    std::fs::write(&reg, "not a database ".repeat(200)).unwrap();
    let o = ami(&reg, &["list"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("is corrupt or not a boot-sim registry") && e.contains("amis.db"), "{e}");
}

/// Eight `boot-sim ami register` processes on one new registry, fifty
/// times: every one succeeds and the list has the eight AMIs. (Schema
/// creation races: issue 19 saw a writer read the schema half made.)
#[test]
fn eight_processes_create_one_registry_fifty_times() {
    let dir = tempfile::tempdir().unwrap();
    // A small image: the race is in opening the registry, not in hashing.
    let img = dir.path().join("small.img");
    std::fs::write(&img, vec![0x5a; 4096]).unwrap();
    for round in 0..50 {
        let reg = dir.path().join(format!("round-{round}.db"));
        let children: Vec<_> = (0..8)
            .map(|p| {
                Command::new(env!("CARGO_BIN_EXE_boot-sim"))
                    .args(["ami", "register"])
                    .arg(&img)
                    .args(["--name", &format!("process {p}"), "--virtualization-type", "hvm", "--registry"])
                    .arg(&reg)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", String::from_utf8_lossy(&o.stderr));
        }
        let o = ami(&reg, &["list", "--json"]);
        assert_eq!(boot_sim::json_lines(&o.stdout).len(), 8, "round {round}");
    }
}

#[test]
fn amis_are_named_by_id_or_by_a_unique_name() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("amis.db");
    let img = image("hvm-simboot.img");
    let id = ok(ami(&reg, &["register", &img, "--name", "only one", "--virtualization-type", "hvm"]));
    let shown = ok(ami(&reg, &["show", "only one"]));
    assert!(shown.starts_with(&format!("{id}  only one")), "{shown}");
    let t = ok(ami(&reg, &["launch", "only one", "--instance-type", "t2.micro"]));
    assert!(t.contains(&format!("Launching {id} (only one)")), "{t}");
    // The same name in two regions: ambiguous, exit 2 naming both.
    let a = ok(ami(&reg, &["register", &img, "--name", "twice", "--virtualization-type", "hvm"]));
    let b =
        ok(ami(&reg, &["register", &img, "--name", "twice", "--virtualization-type", "hvm", "--region", "eu-west-1"]));
    for cmd in ["show", "deregister"] {
        let o = ami(&reg, &[cmd, "twice"]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("the AMI name \"twice\" is ambiguous: 2 AMIs have it")
                && e.contains(&format!("{a} in us-east-1"))
                && e.contains(&format!("{b} in eu-west-1"))
                && e.contains("give the id"),
            "{e}"
        );
    }
    let o = ami(&reg, &["launch", "twice", "--instance-type", "t2.micro"]);
    assert_eq!(o.status.code(), Some(2));
    let t = ok(ami(&reg, &["deregister", "only one"]));
    assert!(t.starts_with(&format!("deregistered {id} (only one)")), "{t}");
    let o = ami(&reg, &["show", "only one"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown AMI \"only one\""));
}

#[test]
fn an_empty_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("amis.db");
    let empty = dir.path().join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    let o = ami(&reg, &["register", empty.to_str().unwrap(), "--name", "empty", "--virtualization-type", "hvm"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("empty.img") && e.contains("it is 0 bytes, shorter than one 512-byte sector"), "{e}");
    assert_eq!(ok(ami(&reg, &["list", "--json"])), "");
}
