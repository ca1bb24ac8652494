//! Interop: boot-sim's EXTLINUX model against the real syslinux 6.04 under
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
//! `Command line:` equals boot-sim's command line, and the kernel's
//! `RAMDISK: [mem a-b]` equals the address load_linux.c's rule (as
//! [`boot::hvm::syslinux::layout`] implements it) gives for the E820 map the
//! kernel reports under QEMU.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boot::hvm::syslinux::layout;
use boot::hvm::{AtaConfig, EndState, HvmOptions, run};
use boot_sim::grub_legacy_image::run_tool;
use boot_sim::qemu::{Scratch, kill_group};
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

/// The extlinux-installed disk in `dir`, or `None` (skipped).
fn extlinux_disk(dir: &Path) -> Option<PathBuf> {
    let sfdisk = interop_tool("sfdisk")?;
    let mke2fs = interop_tool("mke2fs")?;
    let extlinux = interop_file("root/usr/bin/extlinux")?;
    let c32 = interop_file("root/usr/lib/syslinux/modules/bios/ldlinux.c32")?;
    let mbr = std::fs::read(interop_file("root/usr/lib/syslinux/mbr/mbr.bin")?).ok()?;
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
    let mut c = Command::new(&sfdisk);
    c.args(["-q", "--no-reread", "--no-tell-kernel"]).arg(&img).stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"label: dos\nstart=2048, type=83, bootable\n").unwrap();
    }
    assert!(child.wait().unwrap().success(), "sfdisk");
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
    std::fs::copy(&kernel, mnt.join("boot/vmlinuz")).unwrap();
    // A tiny initrd: any bytes do, the kernel only reports where they are.
    let initrd: Vec<u8> = (0..4321u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(mnt.join("boot/initrd.img"), initrd).unwrap();
    std::fs::write(ext.join("extlinux.conf"), CONFIG).unwrap();
    drop(m);
    let mut disk = std::fs::read(&img).unwrap();
    disk[..440].copy_from_slice(&mbr[..440]);
    std::fs::write(&img, disk).unwrap();
    Some(img)
}

/// QEMU's serial output until the kernel has printed its RAMDISK line.
fn qemu_serial(qemu: &Path, img: &Path, dir: &Path) -> String {
    let serial = dir.join("serial.txt");
    let mut child = Command::new("timeout")
        .args(["-s", "KILL", "120"])
        .process_group(0)
        .arg(qemu)
        .args(["-machine", "pc,accel=tcg", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=ide,snapshot=on", img.display()))
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
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

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn extlinux_boots_debian_kernel_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let n = std::process::id();
    let s = Scratch(std::env::temp_dir().join(format!("boot-sim-interop-extlinux-{n}")));
    let _ = std::fs::remove_dir_all(&s.0);
    std::fs::create_dir_all(&s.0).unwrap();
    let Some(img) = extlinux_disk(&s.0) else { return };
    let serial = qemu_serial(&qemu, &img, &s.0);
    let opts = HvmOptions { memory: 256 << 20, ata: AtaConfig::QEMU, boot_menu_wait_ms: None, ..HvmOptions::default() };
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("{:?}\n{}", r.end, r.console) };

    // syslinux's lines: serial up to the kernel's first line.
    let before_kernel = serial.split("\r\n[").next().unwrap_or_default();
    let serial_lines: Vec<&str> = before_kernel.split("\r\n").filter(|l| !l.is_empty()).collect();
    let console = r.console.split("Booting from Hard Disk...\r\n").nth(1).unwrap_or_default();
    let sim_lines: Vec<&str> = console.split("\r\n").filter(|l| !l.is_empty()).collect();
    let loading =
        |v: &[&str]| v.iter().filter(|l| l.starts_with("Loading ")).map(|l| l.to_string()).collect::<Vec<_>>();
    assert_eq!(loading(&sim_lines), loading(&serial_lines), "serial:\n{serial}\nboot-sim:\n{console}");
    assert_eq!(loading(&sim_lines), ["Loading /boot/vmlinuz... ok", "Loading /boot/initrd.img...ok"]);
    let banner = sim_lines.iter().find(|l| l.contains(" Copyright (C) ")).expect("boot-sim banner");
    assert!(serial_lines.contains(&banner.replacen(" EDD ", " ", 1).as_str()), "{banner:?} vs {serial_lines:?}");
    assert!(banner.starts_with(&format!("{} EDD ", info.loader)), "{banner}");

    // The kernel's view.
    let cmdline = serial.lines().find_map(|l| l.split("Command line: ").nth(1)).expect("Command line: in serial");
    assert_eq!(cmdline.trim_end(), info.cmdline);
    assert_eq!(info.cmdline, "BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro console=ttyS0 initrd=/boot/initrd.img");
    let e820: Vec<(u64, u64, u32)> = serial
        .lines()
        .filter_map(|l| l.split("BIOS-e820: [mem ").nth(1))
        .filter_map(|l| {
            let (range, kind) = l.split_once("] ")?;
            let (a, b) = range.split_once('-')?;
            Some((hex(a), hex(b) - hex(a) + 1, if kind.trim() == "usable" { 1 } else { 2 }))
        })
        .collect();
    let ramdisk = serial.lines().find_map(|l| l.split("RAMDISK: [mem ").nth(1)).expect("RAMDISK line");
    let start = hex(ramdisk.split('-').next().unwrap());
    let size = info.initrd_size.unwrap();
    let kernel = std::fs::read(
        interop_dir()
            .join("root/boot")
            .read_dir()
            .unwrap()
            .find_map(|e| {
                let p = e.ok()?.path();
                p.file_name()?.to_string_lossy().starts_with("vmlinuz-").then_some(p)
            })
            .unwrap(),
    )
    .unwrap();
    let setup = (u32::from(kernel[0x1F1]) + 1) * 512;
    let max = u64::from(u32::from_le_bytes(kernel[0x22C..0x230].try_into().unwrap())) + 1;
    let want = layout(&e820, setup, info.cmdline.len() as u32 + 1, kernel.len() as u32 - setup, size, max)
        .expect("a layout for QEMU's map");
    assert_eq!(Some(start), want.initrd_addr.map(u64::from), "RAMDISK {ramdisk} vs load_linux.c's rule");
    eprintln!("interop_extlinux: banner {banner:?}, command line {cmdline:?}, RAMDISK {start:#x} agree");
}
