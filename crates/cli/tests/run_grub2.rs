//! `boot-sim run --mode hvm` on `hvm-grub2.img`: GRUB 2's core.img model
//! from the hand-off at 0000:8200 to the Linux kernel's 32-bit entry, in
//! the text report and in the JSON result; exit 1 when GRUB 2 stops.

use std::path::PathBuf;
use std::process::{Command, Output};

fn image(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name).to_string_lossy().into_owned()
}

fn boot_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim")).args(args).output().expect("run boot-sim")
}

const CMDLINE: &str =
    "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture root=UUID=b007f1c5-0022-4000-8000-000000000002 ro console=ttyS0 quiet";

#[test]
fn text_report_shows_grub2_lines_and_the_32_bit_entry() {
    let out = boot_sim(&["run", &image("hvm-grub2.img"), "--mode", "hvm"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "  | Welcome to GRUB!\n",
        "  |   Booting `Debian GNU/Linux, with Linux 6.1.0-missing'\n",
        "  | Loading Linux 6.1.0-missing ...\n  | error: file `/boot/vmlinuz-6.1.0-missing' not found.\n",
        "  | error: you need to load the kernel first.\n",
        "  |    Falling back to `Debian GNU/Linux, with Linux 6.1.0-fixture'\n",
        "  | Loading Linux 6.1.0-fixture ...\n  | Loading initial ramdisk ...\n",
        "GRUB 2.06 entered the Linux kernel ((hd0,msdos1)/boot/vmlinuz-6.1.0-fixture) at 0010:01000000, its 32-bit entry",
        "registers: 32-bit flat protected mode, CS 0010 EIP 0x1000000",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    assert!(t.contains(&format!("cmdline {CMDLINE:?}")), "{t}");
}

#[test]
fn json_result_names_loader_entry_kernel_initrd_and_mode() {
    let out = boot_sim(&["run", &image("hvm-grub2.img"), "--mode", "hvm", "--json"]);
    assert!(out.status.success());
    let lines = boot_sim::json_lines(&out.stdout);
    let r = lines.last().unwrap();
    assert_eq!(r["type"], "result");
    let end = &r["outcome"];
    assert_eq!(end["state"], "kernel_entry", "{r}");
    let info = &end["info"];
    assert_eq!(info["loader"], "GRUB 2.06");
    assert_eq!(info["entry_index"], 1);
    assert_eq!(info["kernel"], "(hd0,msdos1)/boot/vmlinuz-6.1.0-fixture");
    assert_eq!(info["initrd"], "(hd0,msdos1)/boot/initrd.img-6.1.0-fixture");
    assert_eq!(info["cmdline"], CMDLINE);
    assert_eq!(info["regs"]["mode"], "protected32");
    assert_eq!(end["at"]["linear"], 0x100_0000);
    assert_eq!(info["zero_page"], info["setup_base"]);
    assert_eq!(info["failed"][0]["message"], "file `/boot/vmlinuz-6.1.0-missing' not found");
}

#[test]
fn a_small_guest_puts_the_initrd_below_its_ram_top() {
    let out = boot_sim(&["run", &image("hvm-grub2.img"), "--mode", "hvm", "--json", "--memory", "64"]);
    let lines = boot_sim::json_lines(&out.stdout);
    let r = lines.last().unwrap();
    // 64 MiB: the kernel at pref_address 16 MiB (+ init_size) still fits.
    assert_eq!(r["outcome"]["state"], "kernel_entry", "{r}");
    let initrd = r["outcome"]["info"]["initrd_addr"].as_u64().unwrap();
    assert!((0x100_0000 + 0x40_0000..64 << 20).contains(&initrd), "{initrd:#x}");
}

#[test]
fn a_failed_entry_without_fallback_exits_1() {
    let mut img = std::fs::read(image("hvm-grub2.img")).unwrap();
    let (from, to) = (b"set fallback=", b"set fallbacx=");
    let at = img.windows(from.len()).position(|w| w == from).expect("fallback line in grub.cfg");
    img[at..at + to.len()].copy_from_slice(to);
    let path = std::env::temp_dir().join(format!("boot-sim-grub2-nofallback-{}.img", std::process::id()));
    std::fs::write(&path, &img).unwrap();
    let out = boot_sim(&["run", &path.to_string_lossy(), "--mode", "hvm"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(out.status.code(), Some(1));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("  |   Failed to boot both default and fallback entries.\n  | \n  | Press any key to continue..."),
        "{t}"
    );
    assert!(t.contains("GRUB 2.06: entry 0 failed with Error 5: file `/boot/vmlinuz-6.1.0-missing' not found"), "{t}");
}
