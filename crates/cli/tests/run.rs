//! `boot-sim run --mode pv` on the fixture images: exit codes, the text
//! report, JSON Lines (events, then one result).

mod common;

use common::{boot_sim, result};

use boot_sim::image;

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
fn pv_console_shows_what_pv_grub_printed_with_its_fallbacks() {
    // pv-fallback.img: `default saved` (0), `fallback 2 1`; entry 0's kernel
    // is missing, entry 2's partition does not exist, entry 1 loads (its
    // kernel is not PV-bootable: exit 1 after PV-GRUB is done).
    let out = boot_sim(&["run", &image("pv-fallback.img"), "--mode", "pv"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    let console = [
        "Xen console (PV-GRUB):",
        "  | vbd 51712 is hd0",
        "  |   Booting '0: kernel missing'",
        "  |",
        "  | root (hd0)",
        "  |  Filesystem type is ext2fs, using whole disk",
        "  | kernel /boot/vmlinuz-missing root=/dev/xvda ro",
        "  |",
        "  | Error 15: File not found",
        "  |   Booting '2: partition missing'",
        "  |",
        "  | root (hd0,3)",
        "  |",
        "  | Error 22: No such partition",
        "  |   Booting '1: good'",
    ];
    let lines: Vec<&str> = t.lines().collect();
    let at = lines.iter().position(|l| *l == console[2]).unwrap_or_else(|| panic!("no Booting line in:\n{t}"));
    assert_eq!(&lines[at..at + console.len() - 2], &console[2..], "{t}");
    assert!(t.contains(console[0]) && t.contains(console[1]), "{t}");
    let out = boot_sim(&["run", &image("pv-fallback.img"), "--mode", "pv", "--json"]);
    let lines = boot_sim::json_lines(&out.stdout);
    let c = lines.last().unwrap()["console"].as_str().unwrap().to_string();
    assert!(c.contains("\nError 22: No such partition\n  Booting '1: good'\n\nroot (hd0)\n"), "{c:?}");
    // pygrub runs in dom0: no guest console.
    let out = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--loader", "pygrub", "--json"]);
    let lines = boot_sim::json_lines(&out.stdout);
    assert!(lines.last().unwrap()["console"].is_null());
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

    let bad = boot_sim(&["run", &image("pv-kernel.img"), "--mode", "pv", "--memory", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn hvm_boot_runs_the_mbr_through_the_bios() {
    let img = image("hvm-test.img");
    // A key wait and a halt are ends the run reports; the boot stopped
    // before a kernel, so the exit status is 1 (README "Exit status").
    let waiting = boot_sim(&["run", &img, "--mode", "hvm"]);
    assert_eq!(waiting.status.code(), Some(1), "{}", String::from_utf8_lossy(&waiting.stderr));
    let t = String::from_utf8_lossy(&waiting.stdout);
    for needle in
        ["Booting from Hard Disk...", "boot-sim test MBR", "EDD 30 0007", "end: waiting for a key", "port exits"]
    {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    let done = boot_sim(&["run", &img, "--mode", "hvm", "--keys", "y", "--json"]);
    assert_eq!(done.status.code(), Some(1));
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

#[test]
fn pvhvm_unplugs_ide_and_reads_the_root_filesystem_over_the_ring() {
    use boot::devices::platform;
    let img = image("hvm-simboot.img");
    let o = boot_sim(&["run", &img, "--mode", "pvhvm", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = result(&o);
    assert_eq!(r["mode"], "pvhvm");
    assert_eq!(r["outcome"], "switched");

    // The HVM part is exactly what `run --mode hvm` reports.
    let h = result(&boot_sim(&["run", &img, "--mode", "hvm", "--json"]));
    assert_eq!(h["outcome"]["state"], "kernel_entry");
    for k in ["outcome", "reason", "console", "sim_ns", "counters", "stages", "disk"] {
        assert_eq!(r["hvm"][k], h[k], "{k}");
    }

    // The platform device as the model answers, and the unplug write.
    let sw = &r["switch"];
    let p = &sw["platform"];
    assert_eq!(p["vendor"], platform::XEN_PLATFORM_VENDOR);
    assert_eq!(p["device"], platform::XEN_PLATFORM_DEVICE);
    assert_eq!(p["bdf"], format!("00:{:02x}.0", platform::XEN_PLATFORM_SLOT));
    assert_eq!(p["magic"], platform::XEN_IOPORT_MAGIC);
    let mask = p["unplug_mask"].as_u64().unwrap() as u16;
    assert_ne!(mask & platform::XEN_UNPLUG_ALL_IDE_DISKS, 0);
    assert_eq!(sw["ide_unplugged"], true);
    let ports = sw["exits_by_port"].as_array().unwrap();
    let port = |n: u16| ports.iter().find(|e| e["port"] == n).unwrap_or_else(|| panic!("no exits on {n:#x}: {sw}"));
    assert!(port(platform::XEN_IOPORT_BASE)["writes"].as_u64().unwrap() >= 1, "{sw}");
    assert!(port(platform::PCI_CONFIG_DATA)["reads"].as_u64().unwrap() >= 1, "{sw}");
    let exits: u64 = ports.iter().map(|e| e["reads"].as_u64().unwrap() + e["writes"].as_u64().unwrap()).sum();
    assert_eq!(sw["port_exits"].as_u64().unwrap(), exits);
    assert!(sw["hypercalls"].as_u64().unwrap() > 0);

    // The bench's boot workload of this image, read over the ring, and no
    // IDE traffic after the switch.
    let raw: std::sync::Arc<dyn disk_image::ReadAt> =
        std::sync::Arc::new(disk_image::RawImage::open(std::path::Path::new(&img)).unwrap());
    let want = boot::bench::Workload::boot_read(raw, 16 << 20).unwrap();
    let io = &r["io"];
    assert_eq!(io["bytes"].as_u64().unwrap(), want.total_bytes);
    assert_eq!(io["ops"].as_u64().unwrap(), want.recorded.len() as u64);
    assert!(io["ring_requests"].as_u64().unwrap() > 0, "{io}");
    assert!(io["notifies"].as_u64().unwrap() > 0, "{io}");
    assert_eq!(io["ata_commands"], 0);
    assert_eq!(r["ide_exits_after_switch"], 0);

    // One timeline: HVM boot, switch, xenbus connect, workload.
    let ns = |v: &serde_json::Value| v.as_u64().unwrap();
    assert_eq!(ns(&sw["start_ns"]), ns(&h["sim_ns"]));
    assert_eq!(ns(&r["sim_ns"]), ns(&h["sim_ns"]) + ns(&sw["sim_ns"]) + ns(&sw["connect_ns"]) + ns(&io["sim_ns"]));

    let t = boot_sim(&["run", &img, "--mode", "pvhvm"]);
    assert!(t.status.success());
    let text = String::from_utf8_lossy(&t.stdout);
    for needle in [
        "HVM boot of",
        "entered the Linux kernel",
        "PV-on-HVM switch",
        "found at 00:03.0",
        "written to port 0x10: emulated IDE disk unplugged",
        "Root filesystem over the blkif ring",
        "IDE port exits after the switch: 0",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

#[test]
fn pvhvm_needs_the_kernel_entry() {
    let img = image("no-signature.img");
    let o = boot_sim(&["run", &img, "--mode", "pvhvm"]);
    assert_eq!(o.status.code(), Some(1));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("HVM boot of") && t.contains("PVHVM needs the HVM boot to reach the Linux kernel entry"), "{t}");
    assert!(!t.contains("PV-on-HVM switch"), "{t}");

    let j = boot_sim(&["run", &img, "--mode", "pvhvm", "--json"]);
    assert_eq!(j.status.code(), Some(1));
    let r = result(&j);
    assert_eq!(r["outcome"], "no-switch");
    let h = result(&boot_sim(&["run", &img, "--mode", "hvm", "--json"]));
    assert_eq!(r["hvm"]["outcome"], h["outcome"]);
    assert!(r["reason"].as_str().unwrap().contains(h["reason"].as_str().unwrap()), "{r}");
}
