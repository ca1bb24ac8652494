//! `boot-sim lab list | check`: lab 3's broken fixtures fail the check, and
//! copies repaired the way the lab teaches pass it; lab 4's PV image fails
//! the migration check and a copy migrated the way the lab teaches passes
//! it (partitioned with sfdisk, edited with debugfs, simboot installed with
//! its installer: skipped without sfdisk/debugfs, failed under
//! BOOT_SIM_INTEROP=require); lab 7's image fails the bootstrap check where the lab says, and a
//! copy fixed the way the lab teaches passes it; answers files for labs 1,
//! 2, 5 and 6 are marked per question.

mod common;

use common::{boot_sim, stdout};

use std::path::{Path, PathBuf};
use std::process::Output;

use boot_sim::lab4::{OFFSET, edit_file, partitioned};
use boot_sim_fixtures::simboot_install;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// A copy of fixture `name` with `bytes` written at `offset`.
fn patched(dir: &Path, name: &str, offset: usize, bytes: &[u8]) -> PathBuf {
    let mut data = std::fs::read(fixture(name)).unwrap();
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn list_names_every_lab_and_the_checkable_parts() {
    let o = boot_sim(&["lab", "list"]);
    assert!(o.status.success());
    let s = stdout(&o);
    for n in 1..=7 {
        assert!(s.lines().any(|l| l.trim_start().starts_with(&format!("{n}  "))), "{s}");
    }
    assert!(s.contains("boot-sim lab check 3 IMAGE: parts A, B, C, D, E"), "{s}");
    assert!(s.contains("boot-sim lab check 4 IMAGE: the image migrated to HVM"), "{s}");
    assert!(s.contains("boot-sim lab check 5 ANSWERS.toml"), "{s}");
    assert!(s.contains("boot-sim lab check 7 IMAGE: the image on which the lab's script runs"), "{s}");
    let o = boot_sim(&["lab", "list", "--json"]);
    let labs: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(labs.len(), 7);
    assert_eq!(labs[2]["checks"].as_array().unwrap().len(), 5);
    assert_eq!(labs[3]["file"], "docs/labs/lab4-pv-to-hvm.md");
    assert_eq!(labs[4]["file"], "docs/labs/lab5-emulation-cost.md");
    let kinds: Vec<&str> = labs.iter().map(|l| l["check"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["answers", "answers", "repaired-image", "migrated-image", "answers", "answers", "bootstrapped-image"]
    );
    assert_eq!(labs[6]["file"], "docs/labs/lab7-bootstrap.md");
}

#[test]
fn every_broken_fixture_fails_its_check() {
    for (part, name) in [
        ("A", "no-signature.img"),
        ("B", "gpt-bad-primary.img"),
        ("C", "corrupt-superblock.img"),
        ("D", "pv-kernel.img"),
        ("E", "mbr-logical.img"),
    ] {
        let o = boot_sim(&["lab", "check", "3", fixture(name).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        let s = stdout(&o);
        assert!(s.contains(&format!("Part {part}: not repaired yet.")), "{s}");
        assert!(s.contains("  FAIL  "), "{s}");
    }
}

#[test]
fn repaired_copies_pass() {
    let dir = tempfile::tempdir().unwrap();
    // Part A: the signature; part B: the CRC boot-sim computes; part C: n = 0.
    let a = patched(dir.path(), "no-signature.img", 510, &[0x55, 0xAA]);
    let b = patched(dir.path(), "gpt-bad-primary.img", 528, &0x5ad0_6eb3u32.to_le_bytes());
    let c = patched(dir.path(), "corrupt-superblock.img", 1_049_624, &[0]);
    for (p, part) in [(a, 'A'), (b, 'B'), (c, 'C')] {
        let o = boot_sim(&["lab", "check", "3", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stdout(&o));
        assert!(stdout(&o).contains(&format!("Part {part}: repaired.")));
        assert!(!stdout(&o).contains("FAIL"));
    }
}

#[test]
fn a_half_repair_is_not_enough() {
    // The signature alone, with the wrong byte order: still no 0x55AA.
    let dir = tempfile::tempdir().unwrap();
    let p = patched(dir.path(), "no-signature.img", 510, &[0xAA, 0x55]);
    let o = boot_sim(&["lab", "check", "3", "--part", "a", p.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let objs: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = objs.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["repaired"], false);
    assert_eq!(objs[0]["check"], "sector 0 ends in 0x55AA");
    assert_eq!(objs[0]["passed"], false);
}

#[test]
fn unknown_labs_parts_and_images_are_usage_errors() {
    let img = fixture("pv-kernel.img");
    let img = img.to_str().unwrap();
    for (args, want) in [
        (vec!["lab", "check", "9", img], "there is no lab 9"),
        (vec!["lab", "check", "1", img], "not a TOML answers file"),
        (vec!["lab", "check", "4", "--part", "A", img], "--part is for lab 3"),
        (vec!["lab", "check", "3", "--part", "Z", img], "lab 3 has no part 'Z'"),
    ] {
        let o = boot_sim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(want), "{:?}", String::from_utf8_lossy(&o.stderr));
    }
    let other = fixture("gpt.img");
    let o = boot_sim(&["lab", "check", "3", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --part"));
}

// ------------------------------------------------------------- lab 4

/// simboot's installer, as the lab's `simboot-install IMAGE` runs it.
fn simboot_install(img: &Path) -> Result<simboot_install::Report, String> {
    let req = simboot_install::Request {
        image: img.to_path_buf(),
        partition: 1,
        config: "/boot/grub/menu.lst".into(),
        debugfs: simboot_install::find_debugfs().map_err(|e| e.to_string())?,
    };
    simboot_install::install_image(&req).map_err(|e| e.to_string())
}

/// The menu edit of lab 4's step 4: `root (hd0,0)` and `cmdline`.
fn edit_menu(img: &Path, cmdline: &str) -> Option<()> {
    edit_file(img, OFFSET, "/boot/grub/grub.conf", |t| {
        t.replace("root (hd0)\n", "root (hd0,0)\n").replace("root=/dev/xvda ro console=hvc0", cmdline)
    })
}

/// Lab 4's steps with the real tools on a copy of `pv-migrate.img`: the
/// partition table (sfdisk) and the file system at LBA 2048, the menu and
/// fstab edited with debugfs, then simboot's installer. `None`: sfdisk or
/// debugfs is missing (skipped; a failure under BOOT_SIM_INTEROP=require).
fn migrate(dir: &Path, name: &str, cmdline: &str) -> Option<PathBuf> {
    let img = partitioned(dir, name, 2048)?;
    edit_menu(&img, cmdline)?;
    edit_file(&img, OFFSET, "/etc/fstab", |t| t.replace("/dev/xvda   /", "/dev/xvda1  /"))?;
    simboot_install(&img).unwrap();
    Some(img)
}

fn fail_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| l.starts_with("  FAIL  ")).collect()
}

#[test]
fn the_pv_image_fails_every_migration_condition() {
    let o = boot_sim(&["lab", "check", "4", fixture("pv-migrate.img").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let s = stdout(&o);
    let fails = fail_lines(&s);
    assert_eq!(fails.len(), 8, "{s}");
    for words in [
        "no partition table",
        "there is no (hd0,0)",
        "the boot code in sector 0 loads a boot loader stage: none (code area is all zero)",
        "Error 22: No such partition",
        "console=hvc0: hvc0 is Xen's PV console; an HVM guest's console is the emulated serial port ttyS0 or the \
         VGA tty0 (the menu's: the HVM boot did not reach the kernel)",
        "root=/dev/xvda: that is the whole disk",
        "/etc/fstab mounts / from the first partition (/dev/xvda1, UUID= or LABEL=): /dev/xvda: that is the whole disk",
        "`run --mode hvm` reaches the kernel entry: No bootable device",
    ] {
        assert!(fails.iter().any(|l| l.contains(words)), "{words:?} not in {s}");
    }
    assert!(s.ends_with("Not migrated yet: 8 of 8 conditions fail.\n"), "{s}");
}

#[test]
fn a_copy_migrated_as_the_lab_teaches_passes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(good) = migrate(dir.path(), "good.img", "root=/dev/xvda1 ro console=ttyS0") else { return };
    let o = boot_sim(&["lab", "check", "4", good.to_str().unwrap()]);
    let s = stdout(&o);
    assert!(o.status.success(), "{s}");
    assert!(fail_lines(&s).is_empty(), "{s}");
    assert_eq!(s.lines().filter(|l| l.starts_with("  pass  ")).count(), 8, "{s}");
    assert!(
        s.contains(
            "loads a boot loader stage: simboot MBR (boot-sim's own loader): loads 8 sectors of stage 2 from LBA 1 \
             to 0x0000:8000; at LBA 1: simboot stage 2"
        ),
        "{s}"
    );
    assert!(s.contains("console=ttyS0 (the command line the HVM boot passed to the kernel)"), "{s}");
    assert!(
        s.contains(
            "reaches the kernel entry: simboot 1.0 entry \"Amazon Linux (boot-sim kernel)\" loads \
             (hd0,msdos1)/boot/vmlinuz, cmdline \"root=/dev/xvda1 ro console=ttyS0\""
        ),
        "{s}"
    );
    assert!(s.ends_with("Migrated: the image boots as HVM.\n"), "{s}");

    // The same with the root file system named by its label, as JSON.
    let Some(label) = migrate(dir.path(), "label.img", "root=LABEL=/ ro console=tty0") else { return };
    let o = boot_sim(&["lab", "check", "4", label.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stdout(&o));
    let objs: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objs.len(), 9);
    assert!(objs[..8].iter().all(|c| c["type"] == "check" && c["passed"] == true), "{objs:?}");
    assert_eq!(objs[8]["migrated"], true);
}

#[test]
fn half_migrations_fail_where_the_lab_says() {
    let dir = tempfile::tempdir().unwrap();
    // Partitioned and edited, but no boot code installed.
    let Some(no_code) = partitioned(dir.path(), "no-code.img", 2048) else { return };
    let Some(()) = edit_menu(&no_code, "root=/dev/xvda1 ro console=ttyS0") else { return };
    let s = stdout(&boot_sim(&["lab", "check", "4", no_code.to_str().unwrap()]));
    let fails = fail_lines(&s);
    assert_eq!(fails.len(), 3, "{s}");
    assert!(
        fails[0].contains("loads a boot loader stage: none (code area is all zero); it names no next stage"),
        "{s}"
    );
    assert!(fails[1].contains("/etc/fstab"), "{s}");
    assert!(fails[2].contains("`run --mode hvm` reaches the kernel entry"), "{s}");
    assert!(
        s.contains("pass  the kernel command line has console=ttyS0 or console=tty0: console=ttyS0 (the menu's"),
        "{s}"
    );

    // The installer refuses the PV menu's root (hd0): the menu condition
    // says why GRUB-style readers fail on it too.
    let Some(pv_menu) = partitioned(dir.path(), "pv-menu.img", 2048) else { return };
    let e = simboot_install(&pv_menu).unwrap_err();
    assert!(e.contains("\"root (hd0)\": (hd0) is the whole disk"), "{e}");
    let s = stdout(&boot_sim(&["lab", "check", "4", pv_menu.to_str().unwrap()]));
    assert!(fail_lines(&s).iter().any(|l| l.contains("default entry's kernel is on (hd0,0): Error 17")), "{s}");

    // Installed with the PV command line, then the menu fixed without
    // running the installer again: the boot still passes the old one.
    let Some(stale) = migrate(dir.path(), "stale.img", "root=/dev/xvda ro console=hvc0 ") else { return };
    let s = stdout(&boot_sim(&["lab", "check", "4", stale.to_str().unwrap()]));
    let fails = fail_lines(&s);
    assert_eq!(fails.len(), 2, "{s}");
    assert!(fails[0].contains("console=hvc0") && fails[1].contains("root=/dev/xvda:"), "{s}");
    assert!(!s.contains("the menu now says"), "{s}");
    let Some(()) = edit_file(&stale, OFFSET, "/boot/grub/grub.conf", |t| {
        t.replace("root=/dev/xvda ro console=hvc0 ", "root=/dev/xvda1 ro console=ttyS0")
    }) else {
        return;
    };
    let s = stdout(&boot_sim(&["lab", "check", "4", stale.to_str().unwrap()]));
    let fails = fail_lines(&s);
    assert_eq!(fails.len(), 2, "{s}");
    assert!(
        fails[0].contains(
            "console=hvc0: hvc0 is Xen's PV console; an HVM guest's console is the emulated serial port ttyS0 or the \
             VGA tty0 (the command line the HVM boot passed to the kernel; the menu now says \"root=/dev/xvda1 ro \
             console=ttyS0\": the loader boots what its installer wrote into the map, so re-run the installer after \
             changing the menu)"
        ),
        "{s}"
    );
    simboot_install(&stale).unwrap();
    let o = boot_sim(&["lab", "check", "4", stale.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));

    // A label that is not the file system's.
    let Some(wrong_label) = migrate(dir.path(), "wrong-label.img", "root=LABEL=rootfs ro console=ttyS0") else {
        return;
    };
    let s = stdout(&boot_sim(&["lab", "check", "4", wrong_label.to_str().unwrap()]));
    assert!(
        fail_lines(&s).iter().any(|l| l.contains("root=LABEL=rootfs: the file system on (hd0,0) has label \"/\"")),
        "{s}"
    );
}

// ------------------------------------------------------- answers files

/// Lab 7's fixes done in place in the files' data blocks of
/// `pv-cloud-init.img`, keeping their lengths (debugfs in the lab): Ec2 in
/// `90_dpkg.cfg`'s `datasource_list` (in NoCloud's place, padded with
/// blanks YAML drops), `scripts-user` in `99_hardening.cfg`'s
/// `cloud_final_modules` (in ssh-authkey-fingerprints' place, plus a
/// comment line).
fn bootstrap_fixed(dir: &Path, datasource: bool, scripts_user: bool) -> PathBuf {
    let mut img = read_fixture("pv-cloud-init.img");
    let mut replace = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len());
        let at = img.windows(from.len()).position(|w| w == from.as_bytes()).expect(from);
        img[at..at + from.len()].copy_from_slice(to.as_bytes());
    };
    if datasource {
        replace("[ NoCloud, ConfigDrive", "[ Ec2    , ConfigDrive");
    }
    if scripts_user {
        replace(
            " - scripts-per-instance\n - ssh-authkey-fingerprints\n",
            " - scripts-per-instance\n - scripts-user\n#scripts ok\n",
        );
    }
    let p = dir.join(format!("web-{datasource}-{scripts_user}.img"));
    std::fs::write(&p, img).unwrap();
    p
}

#[test]
fn the_cloud_init_image_fails_the_bootstrap_check_where_the_lab_says() {
    let o = boot_sim(&["lab", "check", "7", fixture("pv-cloud-init.img").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let s = stdout(&o);
    let fails = fail_lines(&s);
    assert_eq!(fails.len(), 3, "{s}");
    assert!(fails[0].contains("Ec2 is in datasource_list: [NoCloud, ConfigDrive, OpenStack, None] (from /etc/cloud/cloud.cfg.d/90_dpkg.cfg)"), "{s}");
    assert!(
        fails[1].contains(
            "scripts-user is in cloud_final_modules: 5 modules (from /etc/cloud/cloud.cfg.d/99_hardening.cfg)"
        ),
        "{s}"
    );
    assert!(fails[2].contains("the lab's script (lab7/boot.sh) runs: Ec2 is not in datasource_list"), "{s}");
    assert!(s.contains("pass  cloud-init is installed: 22.4.2"), "{s}");
    assert!(s.ends_with("Not fixed yet: 3 of 7 conditions fail.\n"), "{s}");
}

#[test]
fn a_copy_fixed_as_lab7_teaches_passes() {
    let dir = tempfile::tempdir().unwrap();
    // Only the datasource: the script is read but scripts-user is missing.
    let half = bootstrap_fixed(dir.path(), true, false);
    let s = stdout(&boot_sim(&["lab", "check", "7", half.to_str().unwrap()]));
    let fails = fail_lines(&s);
    assert_eq!(fails.len(), 2, "{s}");
    assert!(fails[1].contains("part-001 (text/x-shellscript): scripts-user is not in cloud_final_modules"), "{s}");
    // Both fixes.
    let good = bootstrap_fixed(dir.path(), true, true);
    let o = boot_sim(&["lab", "check", "7", good.to_str().unwrap()]);
    let s = stdout(&o);
    assert!(o.status.success(), "{s}");
    assert_eq!(s.lines().filter(|l| l.starts_with("  pass  ")).count(), 7, "{s}");
    assert!(s.contains("once per instance, by scripts-user in cloud-final.service"), "{s}");
    assert!(s.ends_with("Fixed: the script runs on this image.\n"), "{s}");
    let o = boot_sim(&["lab", "check", "7", good.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let objs: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objs.len(), 8);
    assert!(objs[..7].iter().all(|c| c["type"] == "check" && c["passed"] == true), "{objs:?}");
    assert_eq!(objs[7]["runs"], true);
    // The other way round: scripts-user alone does not help on EC2.
    let other = bootstrap_fixed(dir.path(), false, true);
    let s = stdout(&boot_sim(&["lab", "check", "7", other.to_str().unwrap()]));
    assert_eq!(fail_lines(&s).len(), 2, "{s}");
}

fn answers(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("answers.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn verdicts(o: &Output) -> Vec<(String, String)> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "answer")
        .map(|v| (v["question"].as_str().unwrap().to_string(), v["verdict"].as_str().unwrap().to_string()))
        .collect()
}

/// Lab 1's answers, computed here with the library the way a student
/// reads them off `inspect` and `kernel`.
fn lab1_answers() -> String {
    use boot_config::inspect::inspect;
    use disk_image::Disk;
    let report = |n: &str| inspect(&Disk::open(fixture(n)).unwrap()).unwrap();
    let whole = report("pv-whole-disk.img");
    let v = &whole.volumes[0];
    let hvm = report("hvm-mbr.img");
    let logical = report("mbr-logical.img");
    let menu = logical.volumes.iter().find(|v| v.configs.iter().any(|c| c.path == "/boot/grub/menu.lst")).unwrap();
    let link = v.configs.iter().find(|c| c.path == "/boot/grub/menu.lst").unwrap();
    format!(
        "[q1]\ngrub_legacy = {:?}\ngrub2 = {:?}\nlinux = {:?}\nboot_signature = {}\n\
         [q2]\nstage2_lba = {}\nstage2_present = false\n\
         [q3]\ngrub_legacy = {:?}\ngrub2 = {:?}\nlinux = {:?}\nstart_lba = {}\n\
         [q4]\ntarget = {:?}\ngrub_follows = true\n\
         [q5]\nwhole_disk_kernel_pv = false\nvmlinux_xen_pv = true\n",
        v.volume.names.grub,
        v.volume.names.grub2,
        v.volume.names.linux,
        whole.boot_sector.signature,
        hvm.boot_sector.code.next_stage_lba().unwrap(),
        menu.volume.names.grub,
        menu.volume.names.grub2,
        menu.volume.names.linux,
        menu.volume.partition.as_ref().unwrap().start.0,
        link.hops[0].1,
    )
}

#[test]
fn lab1_answers_from_the_library_are_all_correct() {
    let dir = tempfile::tempdir().unwrap();
    let p = answers(dir.path(), &lab1_answers());
    let o = boot_sim(&["lab", "check", "1", p.to_str().unwrap()]);
    let s = stdout(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("14 of 14 correct, 0 wrong, 0 missing."), "{s}");
    assert!(s.contains("not checked automatically: q1, why a BIOS cannot boot the disk"), "{s}");
}

#[test]
fn wrong_and_missing_answers_get_their_own_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    // The extended partition's start instead of the logical one's; q5 left out.
    let text = lab1_answers().replace("start_lba = 8192", "start_lba = 6144");
    let text = &text[..text.find("[q5]").unwrap()];
    let p = answers(dir.path(), text);
    let o = boot_sim(&["lab", "check", "1", p.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = verdicts(&o);
    let of = |q: &str| v.iter().find(|(k, _)| k == q).unwrap().1.as_str();
    assert_eq!(of("q3.start_lba"), "wrong");
    assert_eq!(of("q3.linux"), "correct");
    assert_eq!(of("q5.vmlinux_xen_pv"), "missing");
    assert_eq!(v.iter().filter(|(_, x)| x == "correct").count(), 11);
    let text = stdout(&boot_sim(&["lab", "check", "1", p.to_str().unwrap()]));
    let wrong = text.lines().find(|l| l.contains("WRONG")).unwrap();
    assert!(wrong.contains("hint:") && !wrong.contains("8192"), "a hint, not the answer: {wrong}");

    // Lab 2: the fallback order is GRUB's, not the menu's.
    let p = answers(dir.path(), "[q3]\ntried = [0, 1, 2]\nerrors = [15, 22]\n");
    let v = verdicts(&boot_sim(&["lab", "check", "2", p.to_str().unwrap(), "--json"]));
    assert!(v.contains(&("q3.tried".into(), "wrong".into())) && v.contains(&("q3.errors".into(), "correct".into())));
    // Lab 6: the owner may always launch its AMI.
    let p = answers(dir.path(), "[q2]\naccounts = [\"111122223333\", \"123456789012\"]\n[q5]\nv3_stored_kib = 512\n");
    let v = verdicts(&boot_sim(&["lab", "check", "6", p.to_str().unwrap(), "--json"]));
    assert!(
        v.contains(&("q2.accounts".into(), "correct".into()))
            && v.contains(&("q5.v3_stored_kib".into(), "wrong".into()))
    );
    // Lab 5: exits per command, counted from the bench library.
    let p = answers(dir.path(), "[q1]\ndma_exits_per_command = 19\npio_exits_per_command = 3\n");
    let v = verdicts(&boot_sim(&["lab", "check", "5", p.to_str().unwrap(), "--json"]));
    assert!(v.contains(&("q1.pio_exits_per_command".into(), "wrong".into())), "{v:?}");
}

#[test]
fn malformed_answers_files_are_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        ("[q3]\nstart_lba = \"8192\"\n", "answers.toml:2: q3.start_lba: expected an integer"),
        ("[q3]\n\nstartlba = 8192\n", "answers.toml:3: q3.startlba: question 3 of lab 1 has no field"),
        ("[q7]\nx = 1\n", "answers.toml:1: [q7]: lab 1 has no such question"),
        ("[q3\nstart_lba = 1\n", "answers.toml:1: "),
    ] {
        let p = answers(dir.path(), text);
        let o = boot_sim(&["lab", "check", "1", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let o = boot_sim(&["lab", "check", "2", dir.path().join("none.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("none.toml"));
}
