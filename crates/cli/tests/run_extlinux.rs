//! `boot-sim run --mode hvm` on `hvm-extlinux.img`: the SYSLINUX 6.04
//! model from ldlinux.sys's hand-off at `ldlinux_ent` to the Linux
//! kernel's 16-bit setup entry, in the text report and in the JSON result;
//! exit 1 when it stops.

use std::process::{Command, Output};

use boot_sim::image;

fn boot_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim")).args(args).output().expect("run boot-sim")
}

const CMDLINE: &str = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture root=UUID=b007f1c5-0023-4000-8000-000000000003 ro \
                       console=ttyS0 initrd=/boot/initrd.img-6.1.0-fixture";

#[test]
fn text_report_shows_the_extlinux_lines_and_the_16_bit_entry() {
    let out = boot_sim(&["run", &image("hvm-extlinux.img"), "--mode", "hvm"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "  | SYSLINUX 6.04 EDD 20261123 Copyright (C) 1994-2015 H. Peter Anvin et al\n",
        "  | Loading /boot/vmlinuz-6.1.0-fixture... ok\n  | Loading /boot/initrd.img-6.1.0-fixture...ok\n",
        "SYSLINUX 6.04 entered the Linux kernel (/boot/vmlinuz-6.1.0-fixture) at 1020:0000, its 16-bit setup entry",
        "registers: CS:IP 1020:0000, DS=ES=FS=GS=SS 1000, SP FFF0",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    assert!(t.contains(&format!("cmdline {CMDLINE:?}")), "{t}");
}

#[test]
fn json_result_names_loader_entry_kernel_initrd_and_mode() {
    let out = boot_sim(&["run", &image("hvm-extlinux.img"), "--mode", "hvm", "--json"]);
    assert!(out.status.success());
    let lines = boot_sim::json_lines(&out.stdout);
    let r = lines.last().unwrap();
    assert_eq!(r["type"], "result");
    let end = &r["outcome"];
    assert_eq!(end["state"], "kernel_entry", "{r}");
    let info = &end["info"];
    assert_eq!(info["loader"], "SYSLINUX 6.04");
    assert_eq!(info["entry_index"], 0);
    assert_eq!(info["config"], "/boot/extlinux/extlinux.conf");
    assert_eq!(info["kernel"], "/boot/vmlinuz-6.1.0-fixture");
    assert_eq!(info["initrd"], "/boot/initrd.img-6.1.0-fixture");
    assert_eq!(info["cmdline"], CMDLINE);
    assert_eq!(info["cmd_line_ptr"], 0x20000);
    assert_eq!(info["regs"]["mode"], "real");
    assert_eq!(end["at"]["linear"], 0x10200);
}

#[test]
fn a_missing_kernel_exits_1_with_syslinux_words() {
    let mut img = std::fs::read(image("hvm-extlinux.img")).unwrap();
    for (from, to) in [(&b"DEFAULT debian"[..], &b"DEFAULT missin"[..]), (b"LABEL missing", b"LABEL missin ")] {
        let at = img.windows(from.len()).position(|w| w == from).expect("line in extlinux.conf");
        img[at..at + to.len()].copy_from_slice(to);
    }
    let path = std::env::temp_dir().join(format!("boot-sim-extlinux-missing-{}.img", std::process::id()));
    std::fs::write(&path, &img).unwrap();
    let out = boot_sim(&["run", &path.to_string_lossy(), "--mode", "hvm"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("  | Loading ../vmlinuz-6.1.0-missing... failed: No such file or directory\n"), "{t}");
}
