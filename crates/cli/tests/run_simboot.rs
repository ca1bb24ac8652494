//! `boot-sim run --mode hvm` on `hvm-simboot.img`, as a user runs it on a
//! fresh clone: simboot (boot-sim's own loader, fixtures/bootcode/) executes
//! from the MBR to the kernel's 32-bit entry with no loader model, the text
//! report and the JSON result say what it loaded; `--keys` picks entries;
//! simboot's own error halts the machine with its message.

mod common;

use common::boot_sim;

use boot_sim::image;

#[test]
fn the_default_entry_reaches_the_32_bit_entry_by_execution() {
    let out = boot_sim(&["run", &image("hvm-simboot.img"), "--mode", "hvm"]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{t}{}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "  | simboot 1.0 (boot-sim's own boot loader)\n",
        "Booting 'boot-sim fixture kernel'\n",
        "entered the Linux kernel ((hd0,msdos1)/boot/vmlinuz) at 0010:00100000, its 32-bit entry (code32_start)",
        "cmdline \"root=/dev/sda1 ro console=ttyS0\"",
        "check: the kernel in guest memory equals (hd0,msdos1)/boot/vmlinuz\n",
        "check: the initrd in guest memory equals (hd0,msdos1)/boot/initrd.img\n",
        "ESI 0x40000",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    // No model continued anything.
    assert!(!t.contains("note: "), "{t}");
}

#[test]
fn json_screen_has_the_menu_and_keys_boot_the_second_entry() {
    let out = boot_sim(&["run", &image("hvm-simboot.img"), "--mode", "hvm", "--json", "--keys", "{down}\\n"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = boot_sim::json_lines(&out.stdout);
    let r = lines.last().unwrap();
    assert_eq!(r["outcome"]["state"], "kernel_entry", "{r}");
    let info = &r["outcome"]["info"];
    assert_eq!(info["entry_title"], "boot-sim fixture kernel (xz, single user)");
    assert_eq!(info["kernel"], "(hd0,msdos1)/boot/vmlinuz-xz");
    assert_eq!(info["initrd"], "(hd0,msdos1)/boot/initrd-small.img");
    assert_eq!(info["cmdline"], "root=/dev/sda1 ro single");
    assert_eq!(info["regs"]["mode"], "protected32");
    assert!(info["checks"].as_array().unwrap().iter().all(|c| c["ok"] == true), "{info}");
    let screen: Vec<&str> = r["screen"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().trim_end()).collect();
    for line in [
        "    boot-sim fixture kernel",
        "  > boot-sim fixture kernel (xz, single user)",
        "    Not a kernel (memtest stand-in)",
    ] {
        assert!(screen.contains(&line), "missing {line:?} in {screen:#?}");
    }
}

#[test]
fn a_non_kernel_entry_halts_with_simboots_message() {
    let out = boot_sim(&["run", &image("hvm-simboot.img"), "--mode", "hvm", "--keys", "{down}{down}\\n"]);
    let t = String::from_utf8_lossy(&out.stdout);
    // The loader halts: the boot stops before a kernel (exit 1, README
    // "Exit status"), and the report says where and why.
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("simboot: error: not a Linux kernel (no HdrS setup header): /boot/memtest.bin"), "{t}");
    assert!(t.contains("end: halted at "), "{t}");
}
