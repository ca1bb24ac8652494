//! Interop: real GRUB 2.06 executed by boot-sim against the same under QEMU.
//!
//! The image: Debian's grub-pc-bin 2.06 core.img made by `grub-mkimage -O
//! i386-pc` with biosdisk, part_msdos and ext2 embedded and the prefix
//! `(,msdos1)/boot/grub` (as grub-install makes it for a /boot on the boot
//! disk), boot.img and core.img installed in the MBR gap as
//! grub-bios-setup does (the same bytes as `install_grub2` in
//! tests/interop_hvm.rs, copied here), every module and list of the
//! package under /boot/grub/i386-pc, Debian's cloud kernel and a small
//! initrd, and a grub.cfg that sends GRUB's terminal to the serial port.
//!
//! QEMU (TCG, 1 GiB, serial to a file, a hard `timeout -s KILL` and the
//! process group killed) boots it; compared with boot-sim (executing the
//! same GRUB code, 1 GiB, QEMU's SeaBIOS configuration) on the same image:
//! - the lines GRUB prints for the entry (`echo`), found on the serial
//!   port and on boot-sim's console in the same order, and everything GRUB
//!   prints from "  Booting `…'" to the kernel's first line, byte for byte
//!   (the menu GRUB draws before it goes to the serial port there, to the
//!   console in boot-sim: that part is not compared);
//! - the kernel's own `Command line:` on the serial port equals the
//!   command line boot-sim hands over;
//! - the kernel's `RAMDISK: [mem A-B]` equals boot-sim's initrd address
//!   and size (A = the address, B + 1 = A + size rounded up to a page).
//!
//! `grub2_menu_and_keys_as_under_qemu` sets `terminal_output console` and
//! compares the drawn menu: the VGA text page during the countdown (every
//! row, the countdown line with the ones boot-sim printed), after `down`
//! (highlight moved, countdown cleared), and the kernel's `Command line:`
//! after `down` + `ret` (the second entry, booted directly);
//! `grub2_submenu_as_under_qemu` the nested menu a submenu opens and the
//! command line of an entry inside it.
//!
//! A third test boots a real core.img whose prefix has no modules: the
//! executed GRUB's screen must end at `grub rescue>`, as QEMU's does.
//!
//! Skips with a message without QEMU, grub-mkimage or the extracted files;
//! fails under BOOT_SIM_INTEROP=require.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boot::hvm::{AtaConfig, EndState, HvmOptions, HvmReport, run};
use boot_sim::qemu::{self, Monitor, Scratch, install_grub2, kill_group};
use boot_sim::scratch_disk::{ext2_disk_mib, run_tool};
use boot_sim::{interop_file, interop_tool};
use disk_image::RawImage;

const CMDLINE_ARGS: &str = "root=/dev/sda1 ro console=ttyS0";
const ECHO_LINES: [&str; 2] = ["Loading Linux 6.1.0-interop ...", "Loading initial ramdisk ..."];

/// The image described in the module doc; `None` when skipped.
fn grub2_debian_image(dir: &Path) -> Option<(PathBuf, String)> {
    grub2_debian_image_with(dir, None)
}

/// That image with `cfg` (given the kernel's path) as grub.cfg instead.
fn grub2_debian_image_with(dir: &Path, cfg: Option<&dyn Fn(&str) -> String>) -> Option<(PathBuf, String)> {
    let mkimage = interop_tool("grub-mkimage")?;
    let boot_img = interop_file("root/usr/lib/grub/i386-pc/boot.img")?;
    let moddir = boot_img.parent()?.to_path_buf();
    let boot_dir = boot_img.ancestors().nth(5)?.join("boot");
    let vmlinuz = std::fs::read_dir(&boot_dir)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")));
    // The gate's message (a failure under BOOT_SIM_INTEROP=require).
    let vmlinuz = match vmlinuz {
        Some(v) => v,
        None => interop_file("root/boot/vmlinuz-*")?,
    };
    let core = dir.join("core.img");
    run_tool(
        Command::new(&mkimage)
            .args(["-O", "i386-pc", "-d"])
            .arg(&moddir)
            .args(["-p", "(,msdos1)/boot/grub", "-o"])
            .arg(&core)
            .args(["biosdisk", "part_msdos", "ext2"]),
    );
    let kernel_path = "/boot/vmlinuz-6.1.0-interop";
    let cfg = match cfg {
        Some(f) => f(kernel_path),
        None => format!(
            "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=1\n\
         menuentry 'Debian GNU/Linux' --id debian {{\n\tinsmod gzio\n\techo\t'{}'\n\tlinux\t{kernel_path} \
         {CMDLINE_ARGS}\n\techo\t'{}'\n\tinitrd\t/boot/initrd.img-6.1.0-interop\n}}\n",
            ECHO_LINES[0], ECHO_LINES[1]
        ),
    };
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("boot/grub/grub.cfg".into(), cfg.into_bytes()),
        (kernel_path.trim_start_matches('/').into(), std::fs::read(&vmlinuz).ok()?),
        ("boot/initrd.img-6.1.0-interop".into(), (0..54321u32).map(|i| (i * 13 % 251) as u8).collect()),
    ];
    for e in std::fs::read_dir(&moddir).ok()?.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".mod") || name.ends_with(".lst") {
            files.push((format!("boot/grub/i386-pc/{name}"), std::fs::read(e.path()).ok()?));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let img = ext2_disk_mib(dir, &refs, 32)?;
    install_grub2(&img, &std::fs::read(&boot_img).ok()?, &std::fs::read(&core).ok()?);
    Some((img, format!("BOOT_IMAGE={kernel_path} {CMDLINE_ARGS}")))
}

/// QEMU's serial output until the kernel's `RAMDISK:` and `Command line:`
/// lines are there (or `max`).
fn qemu_serial(qemu: &Path, image: &Path, dir: &Path, max: Duration) -> String {
    let serial = dir.join("serial.txt");
    let mut child = qemu::tcg_command(qemu, image, 1024, max.as_secs())
        .args(["-vga", "std"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .spawn()
        .expect("spawn qemu");
    let start = Instant::now();
    let mut text = String::new();
    while start.elapsed() < max {
        std::thread::sleep(Duration::from_millis(250));
        text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
        if text.contains("Command line: ") && text.contains("RAMDISK: ") {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    kill_group(&mut child);
    eprintln!("QEMU + TCG: {} serial bytes after {:?}", text.len(), start.elapsed());
    text
}

/// `RAMDISK: [mem 0x37f83000-0x37f90d30]` -> (start, end).
fn ramdisk(serial: &str) -> Option<(u64, u64)> {
    let l = serial.lines().find_map(|l| l.split_once("RAMDISK: [mem ").map(|(_, r)| r.to_string()))?;
    let (a, b) = l.trim_end_matches(|c: char| c != ']').trim_end_matches(']').split_once('-')?;
    Some((
        u64::from_str_radix(a.trim_start_matches("0x"), 16).ok()?,
        u64::from_str_radix(b.trim_start_matches("0x"), 16).ok()?,
    ))
}

#[test]
fn grub2_boots_debian_kernel_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let scratch = Scratch::new("debian");
    let Some((img, cmdline)) = grub2_debian_image(&scratch.0) else { return };

    let opts = HvmOptions { memory: 1 << 30, ata: AtaConfig::QEMU, boot_menu_wait_ms: None, ..HvmOptions::default() };
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    let EndState::KernelEntry { at, info } = &r.end else { panic!("boot-sim: {}\n{}", r.reason, r.console) };
    let c = &r.counters;
    eprintln!(
        "boot-sim: kernel entry after {} ns simulated, {} port exits, {} sectors read, {} int 13h AH=42h calls",
        c.sim_time_ns,
        c.port_exits,
        c.sectors_read,
        c.bios_calls.get("int 13h AH=42h").copied().unwrap_or(0)
    );
    // Executed: the loader names itself by its banner on the serial
    // terminal, and its lines went to COM1 as they do under QEMU.
    assert!(info.loader.starts_with("GRUB 2.06"), "{}", info.loader);
    assert_eq!(info.cmdline, cmdline);
    assert_eq!(at.cs, 0x10);
    assert!(info.checks.iter().all(|c| c.ok) && info.checks.len() == 2, "{:?}", info.checks);
    let console = r.serial.replace("\n\r", "\n");
    let mut from = 0;
    for l in ECHO_LINES {
        let at = console[from..].find(&format!("{l}\n")).unwrap_or_else(|| panic!("boot-sim: no {l:?} in {console:?}"));
        from += at + l.len();
    }

    let serial = qemu_serial(&qemu, &img, &scratch.0, Duration::from_secs(100));
    let mut from = 0;
    for l in ECHO_LINES {
        let at = serial[from..].find(l).unwrap_or_else(|| panic!("QEMU: no {l:?} on the serial port:\n{serial}"));
        from += at + l.len();
    }
    // Byte for byte from "  Booting `…'" (after the drawn menu, which
    // goes to the serial port here) to the kernel's first line: GRUB 2 ends
    // its lines with "\n\r" on the serial terminal as on the console.
    let grub_part = |t: &str| -> Option<String> {
        let start = t.find("  Booting `")?;
        let end = t[start..].find("[    0.").map_or(t.len(), |e| start + e);
        Some(t[start..end].to_string())
    };
    let q = grub_part(&serial).unwrap_or_else(|| panic!("QEMU: no \"  Booting `\" on the serial port:\n{serial}"));
    assert_eq!(grub_part(&r.serial).as_deref(), Some(q.as_str()), "boot-sim's COM1 (left) vs QEMU's serial (right)");
    let line = serial
        .lines()
        .find_map(|l| l.split_once("Command line: ").map(|(_, c)| c.trim_end().to_string()))
        .unwrap_or_else(|| panic!("QEMU: no \"Command line:\" on the serial port:\n{serial}"));
    assert_eq!(info.cmdline, line, "boot-sim (left) vs the kernel under QEMU (right)");
    let (a, b) = ramdisk(&serial).unwrap_or_else(|| panic!("QEMU: no \"RAMDISK:\" line:\n{serial}"));
    let (ia, is) = (info.initrd_addr.unwrap(), info.initrd_size.unwrap());
    // arch/x86/kernel/setup.c reserve_initrd: the end is page-aligned.
    let end = (u64::from(ia) + u64::from(is)).div_ceil(4096) * 4096 - 1;
    assert_eq!((u64::from(ia), end), (a, b), "initrd: boot-sim (left) vs the kernel (right)");
}

/// Real boot.img + core.img (prefix `(hd0,msdos1)/boot/grub`) on a disk
/// with grub.cfg but no modules: GRUB 2.06 cannot load normal.mod and
/// drops to its rescue prompt; boot-sim, executing that GRUB code, must
/// leave the screen real GRUB leaves under QEMU/SeaBIOS (checked against
/// QEMU when this disk's test ran the models against it).
#[test]
fn grub2_without_normal_mod_shows_the_rescue_prompt_as_real_grub() {
    let Some(mkimage) = interop_tool("grub-mkimage") else { return };
    let Some(boot_img) = interop_file("root/usr/lib/grub/i386-pc/boot.img") else { return };
    let moddir = boot_img.parent().unwrap().to_path_buf();
    let scratch = Scratch::new("rescue");
    let core = scratch.0.join("core.img");
    run_tool(
        Command::new(&mkimage)
            .args(["-O", "i386-pc", "-d"])
            .arg(&moddir)
            .args(["-p", "(hd0,msdos1)/boot/grub", "-o"])
            .arg(&core)
            .args(["biosdisk", "part_msdos", "ext2"]),
    );
    let cfg = b"set timeout=5\nmenuentry 'Debian' {\n  linux /vmlinuz root=/dev/xvda1\n}\n".to_vec();
    let Some(img) = ext2_disk_mib(&scratch.0, &[("boot/grub/grub.cfg", cfg)], 8) else { return };
    install_grub2(&img, &std::fs::read(&boot_img).unwrap(), &std::fs::read(&core).unwrap());
    let opts = HvmOptions { memory: 64 << 20, ata: AtaConfig::QEMU, boot_menu_wait_ms: None, ..HvmOptions::default() };
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    // Real GRUB at its rescue prompt polls for a key.
    assert!(matches!(&r.end, EndState::WaitingForKey { .. }), "{}", r.reason);
    let i = r.screen.iter().position(|l| l.starts_with("Booting from Hard Disk")).expect("SeaBIOS's boot line");
    let want = [
        "GRUB loading.",
        "Welcome to GRUB!",
        "",
        "error: file `/boot/grub/i386-pc/normal.mod' not found.",
        "grub rescue>",
    ];
    assert_eq!(r.screen[i + 1..], want, "boot-sim screen");
}

// ---------------------------------------------------------------------------
// GRUB 2.06's drawn menu: real Debian GRUB under QEMU with
// `terminal_output console`, keys through the QEMU monitor's `sendkey`, the
// text page read with `xp` from 0xB8000 (the approach and the helpers of
// tests/interop_hvm.rs, copied: integration test binaries share no code).
// ---------------------------------------------------------------------------

/// One step of a QEMU run: the `sendkey` names to type (300 ms apart),
/// then the screen to wait for.
type Step<'a> = (&'a [&'a str], &'a dyn Fn(&[String]) -> bool);

const COUNTDOWN: &str = "   The highlighted entry will be executed automatically in ";

/// Boots `image` in QEMU, runs `steps` (the text page after each), then
/// reads the serial port until the kernel's `Command line:` (or `max`).
fn qemu_menu(qemu: &Path, image: &Path, dir: &Path, max: Duration, steps: &[Step<'_>]) -> (Vec<Vec<String>>, String) {
    let sock = dir.join("monitor.sock");
    let serial = dir.join("serial-menu.txt");
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&serial);
    let mut child = qemu::tcg_command(qemu, image, 1024, max.as_secs())
        .args(["-vga", "std"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .spawn()
        .expect("spawn qemu");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let deadline = Instant::now() + max;
        let mut m = Monitor::connect(&sock, Instant::now() + Duration::from_secs(20));
        let mut screens = Vec::new();
        for (keys, ok) in steps {
            for k in keys.iter() {
                m.cmd(&format!("sendkey {k}"));
                std::thread::sleep(Duration::from_millis(300));
            }
            let rows = loop {
                let rows = m.rows();
                if ok(&rows) || Instant::now() > deadline {
                    break rows;
                }
                std::thread::sleep(Duration::from_millis(300));
            };
            screens.push(rows);
        }
        let mut text = String::new();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
            if text.contains("Command line: ") {
                break;
            }
        }
        (screens, text)
    }));
    kill_group(&mut child);
    match result {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e),
    }
}

fn command_line(serial: &str) -> String {
    serial
        .lines()
        .find_map(|l| l.split_once("Command line: ").map(|(_, c)| c.trim_end().to_string()))
        .unwrap_or_else(|| panic!("QEMU: no \"Command line:\" on the serial port:\n{serial}"))
}

fn menu_entry(kernel: &str, title: &str, tag: &str) -> String {
    format!(
        "menuentry '{title}' {{\n\tinsmod gzio\n\tlinux\t{kernel} {CMDLINE_ARGS} {tag}\n\
         \tinitrd\t/boot/initrd.img-6.1.0-interop\n}}\n"
    )
}

fn boot_sim_keys(img: &Path, keys: &str) -> HvmReport {
    let opts = HvmOptions {
        memory: 1 << 30,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        keys: keys.into(),
        ..HvmOptions::default()
    };
    run(Arc::new(RawImage::open(img).unwrap()), &opts)
}

/// grub.cfg on the console with two entries and a 10 s countdown: the
/// drawn menu (header, box, entries, help text, countdown), `down` (the
/// highlight moves, the countdown line is cleared) and `ret` (the second
/// entry boots: the kernel's `Command line:` is boot-sim's).
#[test]
fn grub2_menu_and_keys_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let scratch = Scratch::new("menu");
    let cfg = |kernel: &str| {
        format!(
            "terminal_output console\nset timeout=10\n{}{}",
            menu_entry(kernel, "Debian GNU/Linux", "first"),
            menu_entry(kernel, "Debian GNU/Linux, second entry", "second")
        )
    };
    let Some((img, cmdline)) = grub2_debian_image_with(&scratch.0, Some(&cfg)) else { return };

    // boot-sim: the first key clears the countdown, so the menu as drawn
    // is compared without its countdown line (down, then up: the
    // highlight back on the first entry), and that line with what boot-sim
    // printed first.
    let stopped = boot_sim_keys(&img, "{down}{up}");
    assert!(matches!(stopped.end, EndState::WaitingForKey { .. }), "{}", stopped.reason);
    let down = boot_sim_keys(&img, "{down}");
    assert!(matches!(down.end, EndState::WaitingForKey { .. }), "{}", down.reason);
    let booted = boot_sim_keys(&img, "{down}\n");
    let EndState::KernelEntry { info, .. } = &booted.end else { panic!("boot-sim: {}", booted.reason) };
    // GRUB 2 prints "Booting `…'" only when it boots on its own (timeout,
    // fallback: normal/menu.c notify_booting), not for an entry chosen with
    // Enter; the command line says which entry ran.
    assert_eq!(info.entry_title, "");
    assert_eq!(info.cmdline, format!("{cmdline} second"));

    let countdown = |r: &[String]| r.len() > 22 && r[22].starts_with(COUNTDOWN);
    let moved = |r: &[String]| r.len() > 5 && r.len() <= 22 && r[5].contains('*');
    let steps: [Step<'_>; 3] = [(&[], &countdown), (&["down"], &moved), (&["ret"], &|_| true)];
    let (screens, serial) = qemu_menu(&qemu, &img, &scratch.0, Duration::from_secs(150), &steps);
    let (countdown, after_down) = (&screens[0], &screens[1]);
    eprintln!("QEMU countdown screen:\n{}", countdown.join("\n"));
    assert!(countdown.len() > 22 && countdown[22].starts_with(COUNTDOWN), "QEMU: {countdown:?}");
    assert_eq!(stopped.screen, countdown[..22], "menu: boot-sim (left) vs QEMU (right) above the countdown");
    // The second QEMU showed is among those boot-sim prints (10 s to 0 s).
    let timed_out = boot_sim_keys(&img, "");
    assert!(matches!(&timed_out.end, EndState::KernelEntry { info, .. } if info.entry_title == "Debian GNU/Linux"));
    assert!(
        timed_out.console.contains(&countdown[22]),
        "countdown: QEMU {:?} not in boot-sim's console",
        countdown[22]
    );
    assert_eq!(&down.screen, after_down, "after down: boot-sim (left) vs QEMU (right)");
    let kernel = command_line(&serial);
    assert_eq!(info.cmdline, kernel, "boot-sim (left) vs the kernel under QEMU (right)");
}

/// A submenu: Enter opens it (GRUB draws it nested: the first item
/// highlighted, no countdown, "ESC to return previous menu."), and an entry
/// in it boots with its own command line.
#[test]
fn grub2_submenu_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let scratch = Scratch::new("submenu");
    let cfg = |kernel: &str| {
        format!(
            "terminal_output console\nset timeout=10\n{}submenu 'Advanced options for Debian GNU/Linux' {{\n{}{}}}\n",
            menu_entry(kernel, "Debian GNU/Linux", "first"),
            menu_entry(kernel, "Debian GNU/Linux (recovery mode)", "single"),
            menu_entry(kernel, "Debian GNU/Linux, in the submenu", "nested")
        )
    };
    let Some((img, cmdline)) = grub2_debian_image_with(&scratch.0, Some(&cfg)) else { return };
    let opened = boot_sim_keys(&img, "{down}\n");
    assert!(matches!(opened.end, EndState::WaitingForKey { .. }), "{}", opened.reason);
    let booted = boot_sim_keys(&img, "{down}\n{down}\n");
    let EndState::KernelEntry { info, .. } = &booted.end else { panic!("boot-sim: {}", booted.reason) };
    assert_eq!(info.cmdline, format!("{cmdline} nested"));
    // Esc goes back to the top menu, drawn afresh (the default highlighted).
    let back = boot_sim_keys(&img, "{down}\n\\e");
    assert!(back.screen.get(4).is_some_and(|r| r.contains("*Debian GNU/Linux")), "{:?}", back.screen);

    let countdown = |r: &[String]| r.len() > 22 && r[22].starts_with(COUNTDOWN);
    // GRUB draws the help text before the entries: wait for both, or the
    // screen may be read between the two.
    let nested =
        |r: &[String]| r.iter().any(|l| l.contains("previous menu.")) && r.iter().any(|l| l.contains("in the submenu"));
    let steps: [Step<'_>; 3] = [(&[], &countdown), (&["down", "ret"], &nested), (&["down", "ret"], &|_| true)];
    let (screens, serial) = qemu_menu(&qemu, &img, &scratch.0, Duration::from_secs(90), &steps);
    eprintln!("QEMU submenu screen:\n{}", screens[1].join("\n"));
    assert_eq!(opened.screen, screens[1], "submenu: boot-sim (left) vs QEMU (right)");
    assert_eq!(info.cmdline, command_line(&serial), "boot-sim (left) vs the kernel under QEMU (right)");
}
