//! `boot-sim run --mode hvm` on `hvm-grub2.img`: GRUB 2's core.img model
//! from the hand-off at 0000:8200 to the Linux kernel's 32-bit entry, in
//! the text report and in the JSON result; exit 1 when GRUB 2 stops.

use std::process::{Command, Output};

use boot_sim::image;

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
    // The 32-bit entry's EIP, ESI and ESP in full: code32_start and
    // boot_params (grub_relocator32_boot's state).
    assert_eq!(info["regs"]["ip"], end["at"]["linear"]);
    assert_eq!(info["regs"]["esi"], info["zero_page"]);
    assert_eq!(info["regs"]["sp"], info["zero_page"]);
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

/// The last JSON line of `boot-sim run hvm-grub2.img --mode hvm --json`
/// with these `--keys`, and the exit code.
fn with_keys(keys: &str) -> (serde_json::Value, Option<i32>) {
    let out = boot_sim(&["run", &image("hvm-grub2.img"), "--mode", "hvm", "--json", "--keys", keys]);
    let lines = boot_sim::json_lines(&out.stdout);
    (lines.last().cloned().expect("a result line"), out.status.code())
}

fn screen(r: &serde_json::Value) -> Vec<String> {
    r["screen"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

#[test]
fn down_and_enter_in_the_drawn_menu_boot_entry_1_directly() {
    let (r, code) = with_keys("{down}\\n");
    assert_eq!(code, Some(0), "{r}");
    let end = &r["outcome"];
    assert_eq!(end["state"], "kernel_entry", "{r}");
    assert_eq!(end["info"]["entry_index"], 1);
    assert_eq!(end["info"]["cmdline"], CMDLINE);
    // Chosen with a key: no failed default entry, no fallback.
    assert_eq!(end["info"]["failed"].as_array().map(Vec::len), Some(0), "{r}");
    let s = screen(&r);
    assert_eq!(s[0], "  Booting `Debian GNU/Linux, with Linux 6.1.0-fixture'", "menu_fini clears the screen: {s:?}");
    assert!(!r["console"].as_str().unwrap().contains("Falling back"));
}

#[test]
fn e_in_the_menu_stops_with_the_menu_on_screen() {
    let (r, code) = with_keys("{down}e");
    assert_eq!(code, Some(1), "{r}");
    assert_eq!(r["outcome"]["state"], "loader_stopped", "{r}");
    assert!(
        r["outcome"]["reason"].as_str().unwrap().contains("entry editor: not modelled (item 1 highlighted)"),
        "{r}"
    );
    let s = screen(&r);
    assert_eq!(s[1], format!("{}GNU GRUB  version 2.06-13+deb12u2", " ".repeat(23)));
    assert_eq!(s[3], format!(" ┌{}┐", "─".repeat(76)));
    assert_eq!(s[4], format!(" │ Debian GNU/Linux, with Linux 6.1.0-missing{}│", " ".repeat(33)));
    assert_eq!(s[5], format!(" │*Debian GNU/Linux, with Linux 6.1.0-fixture{}│", " ".repeat(33)));
    assert_eq!(s[19], "      Use the ↑ and ↓ keys to select which entry is highlighted.");
    // The first key stopped the countdown: its line is blank.
    assert_eq!(s.get(22).map(String::as_str).unwrap_or(""), "");
}

#[test]
fn without_keys_left_the_menu_waits() {
    let (r, _) = with_keys("{down}");
    assert_eq!(r["outcome"]["state"], "waiting_for_key", "{r}");
    assert!(r["outcome"]["function"].as_str().unwrap().contains("GRUB 2 menu"), "{r}");
    let (r, _) = with_keys("");
    assert_eq!(r["outcome"]["state"], "kernel_entry", "the 3 s timeout elapses: {r}");
}
