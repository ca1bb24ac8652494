//! Interop: the real syslinux 6.04 executed by boot-sim against the same under
//! QEMU + SeaBIOS, on a disk made the way a user makes one.
//!
//! The disk: 64 MiB, one bootable 0x83 partition from LBA 2048 (sfdisk),
//! ext2 (mke2fs), loop-mounted (`mount -o loop,offset=…`), Debian's
//! `extlinux --install /mnt/boot/extlinux` (package extlinux, extracted by
//! scripts/interop-setup.sh, never installed), ldlinux.c32 from
//! syslinux-common, Debian's cloud kernel, a tiny initrd, an extlinux.conf
//! with `SERIAL 0 115200` and `console=ttyS0`, and syslinux's mbr.bin in
//! the first 440 bytes. Without root or loop devices the mount fails and
//! the test is skipped with a message saying so, or fails under
//! `BOOT_SIM_INTEROP=require`.
//!
//! Compared: the lines syslinux prints on the serial port and boot-sim's
//! console: "Loading …" lines exactly; the banner line with the words of
//! `syslinux_banner`, `late_banner` and `copyright_str`. The serial copy of
//! the banner is printed by ldlinux.c32 when it reads `SERIAL` (without
//! `print_bios`'s "EDD", which only goes to the screen), so boot-sim's
//! screen line is compared with " EDD" taken out. The kernel's
//! `Command line:` equals the one boot-sim read from boot_params at the
//! kernel's 32-bit entry.
//!
//! The interactive front ends, with keys typed through the QEMU monitor's
//! `sendkey` and the VGA text page read with `xp` (characters and
//! attributes): `PROMPT 1` (an unknown kernel's "Loading … failed", Tab's
//! label list, Backspace, a label with an argument; `TIMEOUT` with
//! `ONTIMEOUT`), and `UI menu.c32` with Debian's menu.c32, libutil.c32 and
//! libcom32.c32 (the countdown screen, the highlight moved, the hotkey
//! colours, Enter, Esc to `boot:`, `MENU HIDDEN`, the scrollbar of a long
//! list). Each screen equals boot-sim's for the same keys, and the kernel's
//! `Command line:` equals boot-sim's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boot::hvm::{AtaConfig, EndState, HvmOptions, run};
use boot_sim::qemu::{self, Monitor, Scratch, kill_group, screen_rows};
use boot_sim::scratch_disk::{run_tool, sfdisk_script};
use boot_sim::{InteropPolicy, find_tool, interop_dir, interop_file, interop_tool};
use disk_image::RawImage;

const PART_START: u64 = 2048;
const CONFIG: &str = "SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 10\n\nLABEL linux\n  LINUX /boot/vmlinuz\n  \
                      INITRD /boot/initrd.img\n  APPEND root=/dev/sda1 ro console=ttyS0\n";

/// Unmounts (and removes the mount point) however the test ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The extlinux-installed disk in `dir` with `config` as extlinux.conf and
/// `modules` (COM32 modules of syslinux-common) next to ldlinux.c32, or
/// `None` (skipped).
fn extlinux_disk(dir: &Path, config: &str, modules: &[&str]) -> Option<PathBuf> {
    let sfdisk = interop_tool("sfdisk")?;
    let mke2fs = interop_tool("mke2fs")?;
    let extlinux = interop_file("root/usr/bin/extlinux")?;
    let c32 = interop_file("root/usr/lib/syslinux/modules/bios/ldlinux.c32")?;
    let mbr = std::fs::read(interop_file("root/usr/lib/syslinux/mbr/mbr.bin")?).ok()?;
    let mut mods = Vec::new();
    for m in modules {
        mods.push((m, interop_file(&format!("root/usr/lib/syslinux/modules/bios/{m}"))?));
    }
    let boot_dir = interop_dir().join("root/boot");
    let kernel = std::fs::read_dir(&boot_dir)
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        })
        // No kernel: interop_file reports it (skip, or fail under require).
        .or_else(|| interop_file("root/boot/vmlinuz-<version>"))?;
    let img = dir.join("disk.img");
    std::fs::write(&img, vec![0u8; 64 << 20]).unwrap();
    sfdisk_script(&sfdisk, &img, "label: dos\nstart=2048, type=83, bootable\n");
    let fs_bytes = (64 << 20) - PART_START * 512;
    run_tool(
        Command::new(&mke2fs)
            .args(["-q", "-F", "-t", "ext2", "-E"])
            .arg(format!("offset={}", PART_START * 512))
            .arg(&img)
            .arg(format!("{}k", fs_bytes / 1024)),
    );
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let out = Command::new(find_tool("mount").unwrap_or_else(|| "mount".into()))
        .arg("-o")
        .arg(format!("loop,offset={}", PART_START * 512))
        .arg(&img)
        .arg(&mnt)
        .output()
        .unwrap();
    if !out.status.success() {
        let msg = format!(
            "interop_extlinux: `mount -o loop,offset=…` failed ({}); extlinux --install needs a mounted \
             filesystem (run as root with loop devices)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        // CI runs as root with loop devices: there a failed mount is a
        // failure, like a missing tool.
        assert!(InteropPolicy::from_env() != InteropPolicy::Require, "{msg} (BOOT_SIM_INTEROP=require)");
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let m = Mounted(mnt.clone());
    let ext = mnt.join("boot/extlinux");
    std::fs::create_dir_all(&ext).unwrap();
    run_tool(Command::new(&extlinux).arg("--install").arg(&ext));
    std::fs::copy(&c32, ext.join("ldlinux.c32")).unwrap();
    for (m, from) in &mods {
        std::fs::copy(from, ext.join(m)).unwrap();
    }
    std::fs::copy(&kernel, mnt.join("boot/vmlinuz")).unwrap();
    // A tiny initrd: any bytes do, the kernel only reports where they are.
    let initrd: Vec<u8> = (0..4321u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(mnt.join("boot/initrd.img"), initrd).unwrap();
    std::fs::write(ext.join("extlinux.conf"), config).unwrap();
    drop(m);
    let mut disk = std::fs::read(&img).unwrap();
    disk[..440].copy_from_slice(&mbr[..440]);
    std::fs::write(&img, disk).unwrap();
    Some(img)
}

/// QEMU's serial output until the kernel has printed its RAMDISK line.
fn qemu_serial(qemu: &Path, img: &Path, dir: &Path) -> String {
    let serial = dir.join("serial.txt");
    let mut child = qemu::tcg_command(qemu, img, 256, 120)
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .spawn()
        .expect("spawn qemu");
    let start = Instant::now();
    let mut text = String::new();
    while start.elapsed() < Duration::from_secs(110) {
        std::thread::sleep(Duration::from_millis(300));
        text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
        if text.contains("RAMDISK: [mem") || child.try_wait().unwrap().is_some() {
            break;
        }
    }
    kill_group(&mut child);
    text
}

#[test]
fn extlinux_boots_debian_kernel_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let n = std::process::id();
    let s = Scratch(std::env::temp_dir().join(format!("boot-sim-interop-extlinux-{n}")));
    let _ = std::fs::remove_dir_all(&s.0);
    std::fs::create_dir_all(&s.0).unwrap();
    let Some(img) = extlinux_disk(&s.0, CONFIG, &[]) else { return };
    let serial = qemu_serial(&qemu, &img, &s.0);
    // The real ldlinux.sys, ldlinux.c32 and Linux's own setup, executed:
    // the kernel's 32-bit entry with the command line QEMU's kernel prints,
    // and the kernel and initrd in memory equal to the files.
    let opts = HvmOptions { memory: 256 << 20, ata: AtaConfig::QEMU, boot_menu_wait_ms: None, ..HvmOptions::default() };
    let x = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    let EndState::KernelEntry { info: xi, .. } = &x.end else { panic!("executed: {:?}\n{}", x.end, x.console) };
    assert!(xi.loader.starts_with("SYSLINUX"), "{}", xi.loader);
    assert!(xi.setup_entry.is_some(), "SYSLINUX enters Linux's 16-bit setup");
    assert!(xi.checks.iter().all(|c| c.ok) && xi.checks.len() == 2, "{:?}", xi.checks);
    let kernel_line = serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(xi.cmdline, kernel_line.trim_end(), "executed (left) vs the kernel under QEMU (right)");
    // syslinux's lines: serial up to the kernel's first line.
    let before_kernel = serial.split("\r\n[").next().unwrap_or_default();
    let serial_lines: Vec<&str> = before_kernel.split("\r\n").filter(|l| !l.is_empty()).collect();
    // syslinux moves the cursor for its line ends (no CR LF in the int 10h
    // transcript): its lines are the screen's rows, as the VGA shows them.
    let console = x.screen.join("\n");
    let sim_lines: Vec<&str> = x.screen.iter().map(String::as_str).filter(|l| !l.is_empty()).collect();
    let loading =
        |v: &[&str]| v.iter().filter(|l| l.starts_with("Loading ")).map(|l| l.to_string()).collect::<Vec<_>>();
    assert_eq!(loading(&sim_lines), loading(&serial_lines), "serial:\n{serial}\nboot-sim:\n{console}");
    assert_eq!(loading(&sim_lines), ["Loading /boot/vmlinuz... ok", "Loading /boot/initrd.img...ok"]);
    let banner = sim_lines.iter().find(|l| l.contains(" Copyright (C) ")).expect("boot-sim banner");
    assert!(serial_lines.contains(&banner.replacen(" EDD ", " ", 1).as_str()), "{banner:?} vs {serial_lines:?}");
    assert!(banner.starts_with("SYSLINUX ") && banner.contains(" EDD "), "{banner}");

    // The kernel's view.
    let cmdline = serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(cmdline.trim_end(), xi.cmdline);
    assert_eq!(xi.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro console=ttyS0 initrd=/boot/initrd.img");
    eprintln!("interop_extlinux: banner {banner:?}, command line {cmdline:?} agree");
}

// ---------------------------------------------------------------------------
// PROMPT 1: the `boot:` command line of ldlinux.c32 (cli.c edit_cmdline),
// keys through the QEMU monitor's `sendkey` (a PS/2 keyboard behind
// SeaBIOS's int 16h), the text page read with `xp` from 0xB8000.
// ---------------------------------------------------------------------------

const PROMPT_CONFIG: &str = "DEFAULT linux\nPROMPT 1\nTIMEOUT 0\n\nLABEL linux\n  LINUX /boot/vmlinuz\n  INITRD \
                             /boot/initrd.img\n  APPEND root=/dev/sda1 ro console=ttyS0\n";

/// What a QEMU run showed: the text page once the screen settled after
/// `keys`, and the serial output after `last` keys more.
struct QemuRun {
    /// The page when `ready` first showed.
    ready: Vec<(u8, u8)>,
    cells: Vec<(u8, u8)>,
    serial: String,
}

/// Boots `img`, waits until a row contains `ready`, types `keys` (QEMU
/// `sendkey` names, 200 ms apart), takes the settled text page, types
/// `last` and waits for the kernel's `Command line:` on the serial port.
/// Hard limits: `timeout -s KILL` and the process group killed.
fn qemu_keys(qemu: &Path, img: &Path, dir: &Path, ready: &str, keys: &[&str], last: &[&str]) -> QemuRun {
    let sock = dir.join("monitor.sock");
    let serial = dir.join("serial-keys.txt");
    let mut child = qemu::tcg_command(qemu, img, 256, 150)
        .args(["-vga", "std"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .spawn()
        .expect("spawn qemu");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let deadline = Instant::now() + Duration::from_secs(130);
        let mut m = Monitor::connect(&sock, Instant::now() + Duration::from_secs(20));
        let settled = |m: &mut Monitor, ok: &dyn Fn(&[String]) -> bool| {
            let mut prev = Vec::new();
            loop {
                let cells = m.cells();
                if (ok(&screen_rows(&cells)) && cells == prev) || Instant::now() > deadline {
                    return cells;
                }
                prev = cells;
                std::thread::sleep(Duration::from_millis(500));
            }
        };
        let first = m.cells();
        let ready_cells = if screen_rows(&first).iter().any(|r| r.contains(ready)) {
            first
        } else {
            settled(&mut m, &|rows| rows.iter().any(|r| r.contains(ready)))
        };
        for k in keys {
            m.cmd(&format!("sendkey {k}"));
            std::thread::sleep(Duration::from_millis(200));
        }
        let cells = settled(&mut m, &|_| true);
        for k in last {
            m.cmd(&format!("sendkey {k}"));
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut text = String::new();
        while !last.is_empty() && Instant::now() < deadline {
            text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
            // The kernel's command line, whole (the line ended).
            if text.split("Command line: ").nth(1).is_some_and(|l| l.contains('\n')) {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        QemuRun { ready: ready_cells, cells, serial: text }
    }));
    kill_group(&mut child);
    match result {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// QEMU `sendkey` names for ASCII text (`\n` = ret, `\x08` = backspace,
/// `\t` = tab).
fn sendkeys(text: &str) -> Vec<String> {
    text.chars()
        .map(|c| match c {
            '\n' => "ret".to_string(),
            '\x08' => "backspace".to_string(),
            '\t' => "tab".to_string(),
            ' ' => "spc".to_string(),
            '=' => "equal".to_string(),
            '.' => "dot".to_string(),
            '/' => "slash".to_string(),
            '-' => "minus".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `text` in `--keys` syntax.
fn sim_keys(text: &str) -> String {
    text.replace('\x08', "\\b").replace('\t', "\\t")
}

/// The rows from the one that starts with `from` on.
fn rows_from(rows: &[String], from: &str) -> Vec<String> {
    rows.iter().skip_while(|r| !r.starts_with(from)).cloned().collect()
}

fn hvm_opts(keys: &str) -> HvmOptions {
    HvmOptions {
        memory: 256 << 20,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        keys: keys.into(),
        ..HvmOptions::default()
    }
}

/// PROMPT 1 under QEMU: an implicit kernel that does not exist ("Loading
/// nosuch... failed: …" and a new `boot:`), Tab listing the labels, a
/// label typed with a typo fixed by Backspace and an extra argument. The screen before the last
/// Enter equals boot-sim's (from the SYSLINUX banner down), and the
/// kernel's `Command line:` equals boot-sim's command line.
#[test]
fn extlinux_prompt_and_typed_label_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let s = Scratch::new("interop-extlinux-prompt");
    let Some(img) = extlinux_disk(&s.0, PROMPT_CONFIG, &[]) else { return };
    let typed = "nosuch\nl\tinuz\x08x single";
    let keys = sendkeys(typed);
    let q = qemu_keys(&qemu, &img, &s.0, "boot:", &keys.iter().map(String::as_str).collect::<Vec<_>>(), &["ret"]);
    let real = rows_from(&screen_rows(&q.cells), "SYSLINUX ");
    // boot-sim, stopped at the same point: the keys run out at the prompt.
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts(&sim_keys(typed)));
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}\n{}", r.end, r.console);
    let sim = rows_from(&r.screen, "SYSLINUX ");
    assert_eq!(sim, real, "boot-sim screen vs QEMU's text page");
    assert!(real.iter().any(|l| l == "Loading nosuch... failed: No such file or directory"), "{real:#?}");
    assert_eq!(real[real.len() - 2..], [" linux", "boot: linux single"]);
    // The last Enter: both boot the label with the typed argument.
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts(&format!("{}\n", sim_keys(typed))));
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("{:?}\n{}", r.end, r.console) };
    let cmdline = q.serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(cmdline.trim_end(), info.cmdline);
    assert_eq!(info.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro console=ttyS0 initrd=/boot/initrd.img single");
    eprintln!("interop_extlinux: boot: prompt screen ({} rows) and command line {cmdline:?} agree", real.len());
}

// ---------------------------------------------------------------------------
// UI menu.c32: Debian's menu.c32 and libutil.c32 (syslinux-common) next to
// ldlinux.c32. The text page (characters and attributes) against
// boot-sim's screen; the kernel's command line after Enter.
// ---------------------------------------------------------------------------

const MENU_CONFIG: &str = "UI menu.c32\nPROMPT 0\nTIMEOUT 300\nMENU TITLE boot-sim menu\nDEFAULT linux\n\nLABEL \
                           linux\n  MENU LABEL Debian GNU/Linux\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  \
                           APPEND root=/dev/sda1 ro console=ttyS0\nLABEL single\n  MENU LABEL Debian (^single \
                           user)\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND root=/dev/sda1 ro \
                           console=ttyS0 single\nLABEL secret\n  MENU HIDE\n  LINUX /boot/vmlinuz\nLABEL other\n  \
                           LINUX /boot/vmlinuz\n  APPEND console=ttyS0 other\n";

const MENU_MODULES: [&str; 3] = ["menu.c32", "libutil.c32", "libcom32.c32"];

/// Attribute runs per row: (attribute, count), left to right.
fn attr_runs(cells: &[(u8, u8)]) -> Vec<Vec<(u8, usize)>> {
    cells
        .chunks(80)
        .map(|row| {
            let mut v: Vec<(u8, usize)> = Vec::new();
            for &(_, a) in row {
                match v.last_mut() {
                    Some(l) if l.0 == a => l.1 += 1,
                    _ => v.push((a, 1)),
                }
            }
            v
        })
        .collect()
}

/// The menu with entry `sel` highlighted and no countdown, as the model
/// draws it ([`boot::hvm::syslinux`] unit tests check the same attributes
/// on boot-sim's own cells).
fn want_attrs(sel: usize) -> Vec<Vec<(u8, usize)>> {
    let mut rows = vec![vec![(0x07, 10), (0x10, 60), (0x07, 10)]];
    rows.push(vec![(0x07, 10), (0x10, 1), (0x1B, 58), (0x10, 1), (0x07, 10)]);
    rows.push(rows[0].clone());
    for i in 0..12 {
        rows.push(match (i == sel, i) {
            (true, 1) => vec![(0x07, 10), (0x10, 1), (0x70, 9), (0x78, 1), (0x70, 48), (0x10, 1), (0x07, 10)],
            (false, 1) => vec![(0x07, 10), (0x10, 1), (0x17, 9), (0x1F, 1), (0x17, 48), (0x10, 1), (0x07, 10)],
            (true, _) => vec![(0x07, 10), (0x10, 1), (0x70, 58), (0x10, 1), (0x07, 10)],
            (false, _) => vec![(0x07, 10), (0x10, 1), (0x17, 58), (0x10, 1), (0x07, 10)],
        });
    }
    rows.push(rows[0].clone());
    rows.push(vec![(0x07, 80)]);
    rows.push(vec![(0x07, 26), (0x04, 27), (0x07, 27)]);
    while rows.len() < 25 {
        rows.push(vec![(0x07, 80)]);
    }
    rows
}

/// menu.c32 under QEMU: the first screen (countdown running) and the
/// screen after Down, Up, Down (the countdown cancelled, the second entry
/// highlighted, its `^s` hotkey in the hotkey colours) equal boot-sim's
/// screen, character for character and attribute for attribute; Enter
/// boots the second entry with the same command line.
#[test]
fn extlinux_menu_c32_screen_and_choice_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let s = Scratch::new("interop-extlinux-menu");
    let Some(img) = extlinux_disk(&s.0, MENU_CONFIG, &MENU_MODULES) else { return };
    let q = qemu_keys(&qemu, &img, &s.0, "Automatic boot in", &["down", "up", "down"], &["ret"]);
    let open = |keys: &str| run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts(keys));
    // The first screen: as boot-sim's after Down, Up (no countdown), but
    // for the countdown row, which says how many seconds are left.
    let real_first = screen_rows(&q.ready);
    let r = open("{down}{up}");
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}\n{}", r.end, r.console);
    let mut sim_first = r.screen.clone();
    let countdown = real_first.get(19).cloned().unwrap_or_default();
    let secs: u64 = countdown.split_whitespace().nth(3).and_then(|n| n.parse().ok()).expect("a countdown");
    let msg = format!("Automatic boot in {secs} seconds...");
    sim_first.resize(20, String::new());
    sim_first[19] = format!("{}{msg}", " ".repeat((80 - msg.len()) / 2));
    assert_eq!(real_first[..20], sim_first[..], "the first menu.c32 screen, QEMU vs boot-sim");
    let mut first_attrs = want_attrs(0);
    let at = (80 - msg.len()) / 2;
    first_attrs[19] =
        vec![(0x07, at + 18), (0x0F, secs.to_string().len()), (0x07, 80 - at - 18 - secs.to_string().len())];
    assert_eq!(attr_runs(&q.ready), first_attrs, "QEMU's first menu.c32 attributes");
    // After the keys.
    let r = open("{down}{up}{down}");
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}", r.end);
    assert_eq!(screen_rows(&q.cells), r.screen, "menu.c32 after Down Up Down, QEMU vs boot-sim");
    assert_eq!(attr_runs(&q.cells), want_attrs(1), "QEMU's menu.c32 attributes after Down Up Down");
    // Enter.
    let r = open("{down}{up}{down}\n");
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("{:?}\n{}", r.end, r.console) };
    let cmdline = q.serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(cmdline.trim_end(), info.cmdline);
    assert_eq!(info.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro console=ttyS0 single initrd=/boot/initrd.img");
    eprintln!("interop_extlinux: menu.c32 screens (characters, attributes) and command line {cmdline:?} agree");
}

/// Esc in menu.c32 (ALLOWOPTIONS 1): back to ldlinux.c32's `boot:` prompt
/// on the menu's END_ROW; a label typed there boots.
#[test]
fn extlinux_menu_c32_escape_to_the_prompt_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let s = Scratch::new("interop-extlinux-menu-esc");
    let Some(img) = extlinux_disk(&s.0, MENU_CONFIG, &MENU_MODULES) else { return };
    let typed = sendkeys("other x=1");
    let mut keys = vec!["esc"];
    keys.extend(typed.iter().map(String::as_str));
    let q = qemu_keys(&qemu, &img, &s.0, "Automatic boot in", &keys, &["ret"]);
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts("\\eother x=1"));
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}\n{}", r.end, r.console);
    assert_eq!(screen_rows(&q.cells), r.screen, "after Esc and typing, QEMU vs boot-sim");
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts("\\eother x=1\n"));
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("{:?}\n{}", r.end, r.console) };
    let cmdline = q.serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(cmdline.trim_end(), info.cmdline);
    assert_eq!(info.cmdline, "BOOT_IMAGE=/boot/vmlinuz console=ttyS0 other x=1");
}

/// MENU HIDDEN under QEMU: a blank screen with the countdown on HIDDENROW
/// (row 23); a key shows the menu without a countdown, as boot-sim draws
/// it.
#[test]
fn extlinux_menu_hidden_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let s = Scratch::new("interop-extlinux-menu-hidden");
    let config = MENU_CONFIG.replacen("PROMPT 0\n", "PROMPT 0\nMENU HIDDEN\n", 1);
    let Some(img) = extlinux_disk(&s.0, &config, &MENU_MODULES) else { return };
    let q = qemu_keys(&qemu, &img, &s.0, "Automatic boot in", &["x"], &[]);
    let first = screen_rows(&q.ready);
    assert_eq!(first.len(), 23, "{first:#?}");
    assert!(first[..22].iter().all(String::is_empty), "{first:#?}");
    let secs = first[22].split_whitespace().nth(3).unwrap_or_default();
    let msg = format!("Automatic boot in {secs} seconds...");
    assert_eq!(first[22], format!("{}{msg}", " ".repeat((80 - msg.len()) / 2)));
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts("x"));
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}\n{}", r.end, r.console);
    assert_eq!(screen_rows(&q.cells), r.screen, "MENU HIDDEN after a key, QEMU vs boot-sim");
    assert_eq!(attr_runs(&q.cells), want_attrs(0));
}

/// PROMPT 1 with TIMEOUT 10 and ONTIMEOUT: nothing typed, after 1 s both
/// boot the ONTIMEOUT label.
#[test]
fn extlinux_prompt_timeout_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let s = Scratch::new("interop-extlinux-prompt-timeout");
    let config = PROMPT_CONFIG.replacen("TIMEOUT 0\n", "TIMEOUT 10\nONTIMEOUT other\n", 1)
        + "LABEL other\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND console=ttyS0 ontimeout\n";
    let Some(img) = extlinux_disk(&s.0, &config, &[]) else { return };
    let serial = qemu_serial(&qemu, &img, &s.0);
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts(""));
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("{:?}\n{}", r.end, r.console) };
    // The prompt timed out with nothing typed: `boot:` stays empty and the
    // ONTIMEOUT label loads on the next row (the screen, as syslinux moves
    // the cursor for its line ends).
    let at = r.screen.iter().position(|l| l == "boot:").unwrap_or_else(|| panic!("{:#?}", r.screen));
    assert_eq!(r.screen.get(at + 1).map(String::as_str), Some("Loading /boot/vmlinuz... ok"), "{:#?}", r.screen);
    let cmdline = serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(cmdline.trim_end(), info.cmdline);
    assert_eq!(info.cmdline, "BOOT_IMAGE=/boot/vmlinuz console=ttyS0 ontimeout initrd=/boot/initrd.img");
}

/// More entries than MENU ROWS: the scrollbar, and End scrolling the list,
/// as under QEMU (characters and attributes).
#[test]
fn extlinux_menu_scrollbar_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let s = Scratch::new("interop-extlinux-menu-scroll");
    let mut config = String::from("UI menu.c32\nTIMEOUT 0\nMENU TITLE many\n");
    for i in 0..20 {
        config += &format!(
            "LABEL l{i}\n  MENU LABEL Entry number {i}\n  LINUX /boot/vmlinuz\n  APPEND console=ttyS0 n={i}\n"
        );
    }
    let Some(img) = extlinux_disk(&s.0, &config, &MENU_MODULES) else { return };
    let q = qemu_keys(&qemu, &img, &s.0, "Entry number 11", &["down", "end", "up"], &[]);
    let open = |keys: &str| run(Arc::new(RawImage::open(&img).unwrap()), &hvm_opts(keys));
    let r = open("{down}");
    assert_eq!(screen_rows(&q.ready), open("").screen, "the first screen, QEMU vs boot-sim");
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}", r.end);
    let r = open("{down}{end}{up}");
    assert_eq!(screen_rows(&q.cells), r.screen, "after Down End Up, QEMU vs boot-sim");
    // The scrollbar (`a` in DEC graphics, ▒) beside the last seven rows.
    let rows = screen_rows(&q.cells);
    assert!(rows[8..15].iter().all(|l| l.ends_with('▒')) && rows[3].ends_with('│'), "{rows:#?}");
    assert!(screen_rows(&q.cells).iter().any(|l| l.contains("Entry number 19")));
}
