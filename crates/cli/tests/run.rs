//! `boot-sim run --mode pv` on the fixture images: exit codes, the text
//! report, JSON Lines (events, then one result).

use std::path::PathBuf;
use std::process::{Command, Output};

fn image(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name).to_string_lossy().into_owned()
}

fn boot_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim")).args(args).output().expect("run boot-sim")
}

#[test]
fn pv_boot_reaches_the_kernel_entry() {
    let out = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--memory", "256", "--dump-start-info"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "PV-GRUB: looked at (hd0)/boot/grub/menu.lst: found",
        "PV-GRUB: boots entry 0 \"Xen PV kernel (gzip bzImage)\" — `default 0`",
        "Kernel: BzImage, gzip payload",
        "magic \"xen-3.0-x86_64\", nr_pages 0x10000",
        "cs=0xe033 ss=0xe02b",
        "Reached the kernel entry",
        "cmd_line         \"root=/dev/xvda ro console=hvc0\"",
        "I/O over the blkif ring (Mini-OS blkfront, one request in flight):",
        "pv-grub: load the kernel",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
}

#[test]
fn json_result_has_the_entry_point_and_start_info() {
    let out = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--json"]);
    assert!(out.status.success());
    let lines = boot_sim::json_lines(&out.stdout);
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["mode"], "pv");
    assert_eq!(result["outcome"], "kernel-entry");
    assert_eq!(result["entry"]["index"], 0);
    assert_eq!(result["cmdline"], "root=/dev/xvda ro console=hvc0");
    assert_eq!(result["vcpu"]["rsi"], result["start_info_address"]);
    assert_eq!(result["start_info"]["magic"], "xen-3.0-x86_64");
    assert!(result["entry_point"].as_u64().unwrap() >= 0xffff_ffff_8000_0000);
    assert!(
        lines.iter().any(|l| l["type"] == "event" && l["kind"] == "segment" && l["segment"]["name"] == "page tables")
    );
}

#[test]
fn cannot_boot_exits_1_with_the_reason() {
    let out = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--entry", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("xc_dom_find_loader: no loader found"), "{t}");
    assert!(t.contains("hint: no Xen ELF notes"), "{t}");

    let no_menu = boot_sim(&["run", &image("hvm-mbr.img"), "--mode", "pv", "--loader", "pvgrub-hd0", "--json"]);
    assert_eq!(no_menu.status.code(), Some(1));
    let lines = boot_sim::json_lines(&no_menu.stdout);
    let r = lines.last().unwrap();
    assert_eq!(r["outcome"], "cannot-boot");
    assert_eq!(r["stage"], "menu");
    assert!(r["hint"].as_str().unwrap().contains("pvgrub-hd00 finds (hd0,0)/boot/grub/menu.lst"), "{r}");

    let o = boot_sim(&["run", &image("hvm-mbr.img"), "--mode", "pvhvm"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not supported yet"));
    let bad = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--memory", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn hvm_boot_runs_the_mbr_through_the_bios() {
    let img = image("hvm-test.img");
    let waiting = boot_sim(&["run", &img, "--mode", "hvm"]);
    assert!(waiting.status.success(), "{}", String::from_utf8_lossy(&waiting.stderr));
    let t = String::from_utf8_lossy(&waiting.stdout);
    for needle in
        ["Booting from Hard Disk...", "boot-sim test MBR", "EDD 30 0007", "end: waiting for a key", "port exits"]
    {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    let done = boot_sim(&["run", &img, "--mode", "hvm", "--keys", "y", "--json"]);
    assert!(done.status.success());
    let r = boot_sim::json_lines(&done.stdout).pop().unwrap();
    assert_eq!(r["mode"], "hvm");
    assert_eq!(r["outcome"]["state"], "halted");
    assert!(r["console"].as_str().unwrap().contains("boot-sim test VBR"));
    assert!(r["counters"]["exits_by_port"]["0x01f7"]["reads"].as_u64().unwrap() > 0, "IDE status reads are exits");

    let none = boot_sim(&["run", &image("no-signature.img"), "--mode", "hvm"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stdout).contains("Boot failed: not a bootable disk"));
    let cap = boot_sim(&["run", &img, "--mode", "hvm", "--keys", "y", "--max-instructions", "100"]);
    assert_eq!(cap.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cap.stdout).contains("instruction"));
}

#[test]
fn pv_trace_events_show_the_ring_at_work() {
    let out = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--trace", "--json"]);
    assert!(out.status.success());
    let lines = boot_sim::json_lines(&out.stdout);
    let kinds: std::collections::BTreeSet<&str> =
        lines.iter().filter(|l| l["type"] == "event").filter_map(|l| l["kind"].as_str()).collect();
    for k in [
        "xenstore",
        "hypercall",
        "grant",
        "ring_request",
        "ring_response",
        "evtchn_notify",
        "evtchn_upcall",
        "disk_read",
        "file_read",
    ] {
        assert!(kinds.contains(k), "no {k} event among {kinds:?}");
    }
    let result = lines.last().unwrap();
    let pushed = lines.iter().filter(|l| l["kind"] == "ring_request" && l["stage"] == "pushed").count() as u64;
    assert_eq!(pushed, result["counters"]["ring"]["requests_pushed"].as_u64().unwrap(), "one event per request");
}
