//! Interop: boot-sim's HVM path against QEMU + SeaBIOS on the same image.
//!
//! QEMU (`qemu-system-x86_64`, from bookworm-backports, installed by
//! scripts/interop-hvm.sh) runs `-machine pc,accel=tcg` with the committed
//! fixture hvm-test.img as an IDE disk (`snapshot=on`: never written), its
//! port 0xE9 captured with `-debugcon file:`. Our test MBR writes every
//! character it prints through int 10h to port 0xE9 as well, so boot-sim's
//! console text and QEMU's debugcon capture are compared byte for byte.
//!
//! What is compared: every line the boot code prints, exactly, except the
//! three memory-map lines (E820 entry count, E801 and AH=88h values), which
//! differ by platform — QEMU's SeaBIOS gets its E820 from fw_cfg, not from
//! hvmloader, and reserves its high tables below the top of RAM — and are
//! compared by their label only. Both runs stop at the same point: the test
//! MBR's `int 16h AH=00h` with no key available (QEMU waits; boot-sim ends
//! with "waiting for a key").

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boot::hvm::{AtaConfig, EndState, HvmOptions, HvmReport, run};
use boot_sim::grub_legacy_image::{
    clear_blocklist, debian_kernel_image, ext2_disk_mib, file_sectors, install_grub_legacy_stage2, patch_stage1,
    run_tool,
};
use boot_sim::qemu::{self, Monitor, Scratch, install_grub2, kill_group, screen_rows, text_page};
use boot_sim::{fixture, interop_file, interop_tool};
use disk_image::RawImage;

fn qemu_debugcon(qemu: &Path, image: &Path, memory_mib: u32, want_end: &str, max: Duration) -> String {
    let dir = std::env::temp_dir().join(format!("boot-sim-interop-hvm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dbg = dir.join("debugcon.txt");
    let _ = std::fs::remove_file(&dbg);
    let mut child = qemu::tcg_command(qemu, image, memory_mib, 60)
        .arg("-debugcon")
        .arg(format!("file:{}", dbg.display()))
        .args(["-global", "isa-debugcon.iobase=0xe9"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qemu");
    let start = Instant::now();
    let mut text = String::new();
    while start.elapsed() < max {
        std::thread::sleep(Duration::from_millis(200));
        text = String::from_utf8_lossy(&std::fs::read(&dbg).unwrap_or_default()).into_owned();
        if text.ends_with(want_end) {
            // Give it a moment to prove nothing else follows.
            std::thread::sleep(Duration::from_millis(500));
            text = String::from_utf8_lossy(&std::fs::read(&dbg).unwrap_or_default()).into_owned();
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    kill_group(&mut child);
    let _ = std::fs::remove_dir_all(&dir);
    text
}

/// Kills the process group `child` leads (`timeout` and the QEMU under it)
/// and reaps it.
fn comparable(lines: &str) -> Vec<String> {
    lines
        .split("\r\n")
        .map(|l| {
            let platform = ["E820 ", "E801 ", "MEM88 "];
            match platform.iter().find(|p| l.starts_with(*p)) {
                Some(p) => format!("{p}<platform>"),
                None => l.to_string(),
            }
        })
        .collect()
}

#[test]
fn test_mbr_prints_the_same_as_under_qemu_seabios() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let image = fixture("images/hvm-test.img");
    let qemu_out = qemu_debugcon(&qemu, &image, 64, "KEY ", Duration::from_secs(50));
    assert!(qemu_out.starts_with("boot-sim test MBR\r\n"), "QEMU debugcon: {qemu_out:?}");
    // QEMU's SeaBIOS is built without ATA DMA and 32-bit PIO; compare with
    // that configuration and with Xen's (the text must not depend on it).
    for ata in [AtaConfig::QEMU, AtaConfig::XEN] {
        let opts = HvmOptions { memory: 64 << 20, keys: String::new(), ata, ..HvmOptions::default() };
        let r = run(Arc::new(RawImage::open(&image).unwrap()), &opts);
        assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{}", r.reason);
        let ours = r.debugcon.split("Booting from 0000:7c00\n").nth(1).unwrap_or_default().to_string();
        assert_eq!(comparable(&ours), comparable(&qemu_out), "boot-sim (left) vs QEMU (right), {ata:?}");
        // And the console (int 10h) text carries the same bytes.
        assert!(r.console.ends_with(&ours));
    }
}

#[test]
fn no_signature_failure_text_matches_seabios() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let image = fixture("images/no-signature.img");
    // QEMU's SeaBIOS prints to its debug port 0x402, not 0xE9; the screen
    // text is not captured, so compare the end state words with SeaBIOS's
    // source strings and check QEMU does not boot it (nothing on 0xE9).
    let qemu_out = qemu_debugcon(&qemu, &image, 64, "\u{0}never", Duration::from_secs(4));
    assert_eq!(qemu_out, "");
    let opts = HvmOptions { memory: 64 << 20, boot_fail_wait_ms: None, ..HvmOptions::default() };
    let r = run(Arc::new(RawImage::open(&image).unwrap()), &opts);
    assert!(r.console.ends_with("Boot failed: not a bootable disk\r\n\r\nNo bootable device.\r\n"));
}

// ---------------------------------------------------------------------------
// Real boot code from Debian packages: GRUB 0.97 stage1 + e2fs_stage1_5,
// GRUB 2 boot.img + core.img, syslinux mbr.bin + our VBR.
//
// How QEMU's side is observed: SeaBIOS prints int 10h text through the VGA
// BIOS to the VGA text buffer, not to a serial or debug port, and real boot
// code does not write to port 0xE9. So QEMU runs with `-vga std -display
// none -S` and its gdbstub on a Unix socket; the test speaks the GDB remote
// protocol itself: a breakpoint at 0000:7C00 (the boot sector's first
// instruction), then one at the hand-off address boot-sim is expected to
// stop at (0000:2200, 0000:8200, …), `c`ontinue, and at the stop it reads
// the registers (`g`: CS and EIP) and the 80x25 text page at 0xB8000 (`m`,
// through QEMU's VGA memory window). The stop is therefore exactly the
// instruction boot-sim's hand-off names, and the screen is compared as it
// is at that instruction. Every QEMU run is under `timeout -s KILL 60` in
// its own process group, killed as a group at the end.
// ---------------------------------------------------------------------------

/// What QEMU showed when it stopped.
#[derive(Debug)]
struct QemuStop {
    /// The breakpoint hit (linear address; 0 for a screen condition met),
    /// `None` if the condition was not met in time.
    hit: Option<u32>,
    cs: u16,
    eip: u32,
    /// Text page 0, trailing blanks removed, trailing empty rows dropped.
    screen: Vec<String>,
    debugcon: String,
    /// ESI, and the 4 KiB at ESI with the command line its `cmd_line_ptr`
    /// (0x228) points to: boot_params at a 32-bit kernel entry (boot.rst);
    /// empty where ESI is no address in the guest's RAM.
    esi: u32,
    zero_page: Vec<u8>,
    cmdline: String,
}

/// A minimal GDB remote-protocol client (packets `$data#cc`, acks `+`).
struct Gdb {
    s: UnixStream,
}

impl Gdb {
    fn connect(path: &Path, deadline: Instant) -> Gdb {
        loop {
            match UnixStream::connect(path) {
                Ok(s) => return Gdb { s },
                Err(e) if Instant::now() > deadline => panic!("gdbstub {}: {e}", path.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn send(&mut self, data: &str) {
        let sum = data.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        self.s.write_all(format!("${data}#{sum:02x}").as_bytes()).unwrap();
    }

    /// The next packet's payload (acks and notifications before it skipped).
    fn recv(&mut self, timeout: Duration) -> Option<String> {
        self.s.set_read_timeout(Some(timeout)).unwrap();
        let mut byte = [0u8; 1];
        loop {
            match self.s.read(&mut byte) {
                Ok(1) if byte[0] == b'$' => break,
                Ok(1) => continue,
                _ => return None,
            }
        }
        let mut data = Vec::new();
        loop {
            self.s.read_exact(&mut byte).ok()?;
            if byte[0] == b'#' {
                break;
            }
            data.push(byte[0]);
        }
        let mut sum = [0u8; 2];
        self.s.read_exact(&mut sum).ok()?;
        self.s.write_all(b"+").unwrap();
        Some(String::from_utf8_lossy(&data).into_owned())
    }

    fn cmd(&mut self, data: &str) -> String {
        self.send(data);
        self.recv(Duration::from_secs(10)).unwrap_or_else(|| panic!("gdbstub: no reply to {data}"))
    }

    fn read_mem(&mut self, addr: u32, len: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = addr;
        while at < addr + len {
            let n = (addr + len - at).min(0x400);
            let hex = self.cmd(&format!("m{at:x},{n:x}"));
            out.extend((0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()));
            at += n;
        }
        out
    }
}

fn le_hex(hex: &str) -> u64 {
    (0..hex.len() / 2).rev().fold(0, |a, i| a << 8 | u64::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
}

/// Where a QEMU run stops.
#[derive(Clone, Copy, Debug)]
enum Until<'a> {
    /// The first of these linear addresses executed after the boot sector
    /// started at 0000:7C00.
    Executes(&'a [u32]),
    /// The last non-empty screen row reads this (checked twice a second:
    /// `c`, 0.5 s, interrupt, read the text page).
    LastRow(&'a str),
    /// Simply this long after 0000:7C00.
    After(Duration),
}

/// RAM of the QEMU guests of [`qemu_until`] (and boot-sim's, to compare).
const QEMU_MIB: u32 = 64;

/// Boots `image` (a scratch copy; QEMU also gets `snapshot=on`) in QEMU +
/// SeaBIOS until `until` or `max` (then `hit` is `None`).
fn qemu_until(qemu: &Path, image: &Path, until: Until<'_>, max: Duration) -> QemuStop {
    let dir = Scratch::new("qemu");
    let sock = dir.0.join("gdb.sock");
    let dbg = dir.0.join("debugcon.txt");
    let mut child = qemu::tcg_command(qemu, image, QEMU_MIB, 60)
        .args(["-vga", "std", "-S"])
        .arg("-chardev")
        .arg(format!("socket,id=gdb0,path={},server=on,wait=off", sock.display()))
        .args(["-gdb", "chardev:gdb0", "-debugcon"])
        .arg(format!("file:{}", dbg.display()))
        .args(["-global", "isa-debugcon.iobase=0xe9"])
        .spawn()
        .expect("spawn qemu");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut gdb = Gdb::connect(&sock, Instant::now() + Duration::from_secs(20));
        gdb.cmd("?");
        let deadline = Instant::now() + max;
        let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let cs_ip = |gdb: &mut Gdb| {
            let regs = gdb.cmd("g");
            (le_hex(&regs[280..288]) as u16, le_hex(&regs[256..264]) as u32)
        };
        // Stop interrupted: ^C and its stop reply.
        let pause = |gdb: &mut Gdb| {
            gdb.s.write_all(&[3]).unwrap();
            gdb.recv(Duration::from_secs(5));
        };
        let is_stop = |r: &Option<String>| r.as_deref().is_some_and(|r| r.starts_with('T') || r.starts_with('S'));
        assert_eq!(gdb.cmd("Z0,7c00,1"), "OK");
        gdb.send("c");
        let booted = gdb.recv(left());
        gdb.cmd("z0,7c00,1");
        let mut hit = None;
        if !is_stop(&booted) {
            pause(&mut gdb);
        } else {
            match until {
                Until::Executes(stops) => {
                    for a in stops {
                        assert_eq!(gdb.cmd(&format!("Z0,{a:x},1")), "OK");
                    }
                    gdb.send("c");
                    let reply = gdb.recv(left());
                    if is_stop(&reply) {
                        let (cs, eip) = cs_ip(&mut gdb);
                        hit = stops.iter().copied().find(|&a| a == (u32::from(cs) << 4) + eip);
                    } else {
                        pause(&mut gdb);
                    }
                    for a in stops {
                        gdb.cmd(&format!("z0,{a:x},1"));
                    }
                }
                Until::LastRow(row) => loop {
                    gdb.send("c");
                    std::thread::sleep(Duration::from_millis(500));
                    pause(&mut gdb);
                    let screen = text_page(&gdb.read_mem(0xB8000, 80 * 25 * 2));
                    if screen.last().is_some_and(|l| l == row) {
                        hit = Some(0);
                        break;
                    }
                    if Instant::now() > deadline {
                        break;
                    }
                },
                Until::After(d) => {
                    gdb.send("c");
                    std::thread::sleep(d.min(left()));
                    pause(&mut gdb);
                }
            }
        }
        let (cs, eip) = cs_ip(&mut gdb);
        let screen = text_page(&gdb.read_mem(0xB8000, 80 * 25 * 2));
        let debugcon = String::from_utf8_lossy(&std::fs::read(&dbg).unwrap_or_default()).into_owned();
        // x86-64 `g` layout: RAX RBX RCX RDX RSI…, 8 bytes each.
        let esi = le_hex(&gdb.cmd("g")[64..72]) as u32;
        let (mut zero_page, mut cmdline) = (Vec::new(), String::new());
        if (0x500..QEMU_MIB << 20).contains(&esi) {
            zero_page = gdb.read_mem(esi, 0x1000);
            let ptr = u32::from_le_bytes(zero_page[0x228..0x22C].try_into().unwrap());
            if (0x500..QEMU_MIB << 20).contains(&ptr) {
                let b = gdb.read_mem(ptr, 256);
                cmdline = b.iter().take_while(|&&c| c != 0).map(|&c| char::from(c)).collect();
            }
        }
        QemuStop { hit, cs, eip, screen, debugcon, esi, zero_page, cmdline }
    }));
    kill_group(&mut child);
    match result {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// The screen rows after SeaBIOS's "Booting from Hard Disk..." line: what
/// the boot code put there (the BIOS banners above it differ by build).
fn after_booting(screen: &[String]) -> Vec<String> {
    let i = screen
        .iter()
        .position(|l| l.starts_with("Booting from Hard Disk"))
        .unwrap_or_else(|| panic!("no \"Booting from Hard Disk\" on screen: {screen:#?}"));
    screen[i + 1..].to_vec()
}

/// boot-sim on the same image, QEMU's SeaBIOS configuration.
/// boot-sim ended where QEMU stopped: a hand-off to `stage`, loaded from
/// `from_lba` to `loaded_at`.
fn assert_hand_off(r: &HvmReport, q: &QemuStop, stage: &str, from_lba: u64, loaded_at: u32) {
    match &r.end {
        EndState::HandOff { at, stage: got, loaded_from_lba, loaded_at: got_at, .. } => {
            assert_eq!((at.cs, at.ip), (q.cs, q.eip));
            assert_eq!(got, stage);
            assert_eq!((*loaded_from_lba, *got_at), (from_lba, loaded_at));
        }
        other => panic!("boot-sim: {other:?}\n{}", r.console),
    }
}

fn boot_sim(image: &Path, max_instructions: u64) -> HvmReport {
    let opts = HvmOptions {
        memory: 64 << 20,
        max_instructions,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        loader_model: false,
        ..HvmOptions::default()
    };
    run(Arc::new(RawImage::open(image).unwrap()), &opts)
}

/// boot-sim past the hand-off (the loader runs on), QEMU's SeaBIOS
/// configuration.
fn boot_sim_through(image: &Path, max_instructions: u64) -> HvmReport {
    let opts = HvmOptions {
        memory: 64 << 20,
        max_instructions,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        stop_at_handoff: false,
        ..HvmOptions::default()
    };
    run(Arc::new(RawImage::open(image).unwrap()), &opts)
}

/// The int 10h text boot-sim's guest printed after SeaBIOS's boot line.
fn guest_console(r: &HvmReport) -> String {
    r.console.split("Booting from Hard Disk...\r\n").nth(1).unwrap_or_default().to_string()
}

/// An 8 MiB disk with one bootable type-0x83 partition from LBA 2048 to the
/// end, holding an ext2 filesystem made by `mke2fs -d` from `files`
/// (path inside the filesystem, content).
fn ext2_disk(dir: &Path, files: &[(&str, Vec<u8>)]) -> Option<PathBuf> {
    ext2_disk_mib(dir, files, 8)
}

/// GRUB 0.97's `setup (hd0)` with root (hd0,0), done byte for byte as
/// stage2/builtins.c does it (the 32-bit `grub` shell in grub-legacy cannot
/// run on an amd64 host without i386 libraries):
/// `setup_func` finds e2fs_stage1_5 for the ext2 root, `embed_func` writes
/// it to sectors 1..=n of (hd0) (after the MBR, before the first
/// partition), and calls `install_func` with
/// `/boot/grub/stage1 (hd0) (hd0)1+n p (hd0,0)/boot/grub/stage2 /boot/grub/menu.lst`:
/// - stage1: the old sector's BPB (bytes 3..0x3E) and partition table
///   (0x1B8..0x1FE) kept, STAGE1_BOOT_DRIVE (0x40) = 0xFF (no `d`),
///   STAGE1_FORCE_LBA (0x41) = 0, the boot-drive-check jump at 0x4B
///   replaced by two nops (hard disk), STAGE1_STAGE2_ADDRESS (0x42) =
///   0x2000 (a Stage 1.5), STAGE1_STAGE2_SECTOR (0x44) = 1,
///   STAGE1_STAGE2_SEGMENT (0x48) = 0x200;
/// - stage1.5 first sector (start.S): the old blocklists cleared, then
///   `disk_read_blocklist_func` records sectors 2..=n as one entry at
///   0x1F8 (start, 4 bytes), 0x1FC (count), 0x1FE (segment 0x220);
/// - stage1.5 second sector: STAGE2_INSTALLPART (+8) = 0xFFFFFF (the
///   blocklist is on the whole disk), STAGE2_FORCE_LBA (+0x11) = 0, and
///   after the version string the device (0xFF << 24 | 0x00FFFF: same
///   drive, partition 0) and "/boot/grub/stage2";
/// - stage2 in the filesystem: its config file name is already
///   "/boot/grub/menu.lst" (the only thing `install` patches there).
fn install_grub_legacy(img: &Path, stage1: &[u8], stage1_5: &[u8]) {
    let mut disk = std::fs::read(img).unwrap();
    let n = stage1_5.len().div_ceil(512);
    let mut s15 = stage1_5.to_vec();
    s15.resize(n * 512, 0);
    let s1 = patch_stage1(stage1, &disk, 0x2000, 1, 0x200);
    clear_blocklist(&mut s15);
    s15[0x1F8..0x1FC].copy_from_slice(&2u32.to_le_bytes());
    s15[0x1FC..0x1FE].copy_from_slice(&((n - 1) as u16).to_le_bytes());
    s15[0x1FE..0x200].copy_from_slice(&0x220u16.to_le_bytes());
    s15[512 + 8..512 + 12].copy_from_slice(&0xFF_FFFFu32.to_le_bytes());
    s15[512 + 0x11] = 0;
    let mut at = 512 + 0x12;
    while s15[at] != 0 {
        at += 1;
    }
    at += 1;
    s15[at..at + 4].copy_from_slice(&0xFF00_FFFFu32.to_le_bytes());
    let cfg = b"/boot/grub/stage2\0";
    s15[at + 4..at + 4 + cfg.len()].copy_from_slice(cfg);
    disk[..512].copy_from_slice(&s1);
    disk[512..512 + s15.len()].copy_from_slice(&s15);
    std::fs::write(img, disk).unwrap();
}

#[test]
fn grub_legacy_stage1_and_stage1_5_run_as_under_qemu_seabios() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let dir = "root/usr/lib/grub/x86_64-pc";
    let (Some(stage1), Some(stage1_5), Some(stage2)) = (
        interop_file(&format!("{dir}/stage1")),
        interop_file(&format!("{dir}/e2fs_stage1_5")),
        interop_file(&format!("{dir}/stage2")),
    ) else {
        return;
    };
    let scratch = Scratch::new("grub-legacy");
    let (stage1, stage1_5, stage2) =
        (std::fs::read(stage1).unwrap(), std::fs::read(stage1_5).unwrap(), std::fs::read(stage2).unwrap());
    let menu = b"default 0\ntimeout 0\ntitle Debian\nroot (hd0,0)\nkernel /vmlinuz root=/dev/xvda1\n".to_vec();
    let Some(img) = ext2_disk(
        &scratch.0,
        &[
            ("boot/grub/stage1", stage1.clone()),
            ("boot/grub/e2fs_stage1_5", stage1_5.clone()),
            ("boot/grub/stage2", stage2),
            ("boot/grub/menu.lst", menu),
        ],
    ) else {
        return;
    };
    install_grub_legacy(&img, &stage1, &stage1_5);

    let q = qemu_until(&qemu, &img, Until::Executes(&[0x2200]), Duration::from_secs(40));
    assert_eq!((q.hit, q.cs, q.eip), (Some(0x2200), 0, 0x2200), "QEMU: {q:#?}");
    let want = vec!["GRUB Loading stage1.5.".to_string()];
    assert_eq!(after_booting(&q.screen), want, "QEMU screen: {:#?}", q.screen);

    let r = boot_sim(&img, 5_000_000);
    assert_hand_off(&r, &q, "GRUB legacy stage1.5", 1, 0x2000);
    assert_eq!(after_booting(&r.screen), want, "boot-sim screen: {:#?}", r.screen);
    assert_eq!(guest_console(&r), "GRUB Loading stage1.5.\r\n");

    // And on, past the hand-off: stage1.5 reads /boot/grub/stage2 from the
    // ext2 filesystem, stage2 (protected mode, int 13h/10h/15h/16h through
    // its real-mode trampolines) boots the default entry at once
    // (timeout 0) and fails on the missing kernel. Both sit polling int 16h
    // for a key (boot-sim: at the instruction cap); the whole screen is
    // compared.
    let last = "Press any key to continue...";
    let q = qemu_until(&qemu, &img, Until::LastRow(last), Duration::from_secs(40));
    assert_eq!(q.hit, Some(0), "QEMU: {q:#?}");
    let want = [
        "  Booting 'Debian'",
        "",
        "root (hd0,0)",
        " Filesystem type is ext2fs, partition type 0x83",
        "kernel /vmlinuz root=/dev/xvda1",
        "",
        "Error 15: File not found",
        "",
        last,
    ];
    assert_eq!(q.screen, want, "QEMU screen");
    // Real stage1.5 and stage2 run on: after "Press any key" GRUB polls
    // int 16h until boot-sim's idle budget says it waits for a key.
    let r = boot_sim_through(&img, 50_000_000);
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{}", r.reason);
    assert_eq!(r.screen, want, "boot-sim screen");
    // And the same through boot-sim's models: stage1.5 reads stage2 from
    // the filesystem through int 13h, the stage2 model does the rest.
    let r = boot_sim_models(&img);
    assert!(matches!(&r.end, EndState::LoaderError { entry_index: 0, error: 15, .. }), "{}", r.reason);
    assert_eq!(r.screen, want, "boot-sim screen (models)");
    assert!(guest_console(&r).starts_with("GRUB Loading stage1.5.\r\n\r\n\r\nGRUB loading, please wait...\r\n"));
}

/// boot-sim with its loader models (the default), QEMU's SeaBIOS
/// configuration.
fn boot_sim_models(image: &Path) -> HvmReport {
    let opts = HvmOptions {
        execute: false,
        memory: 64 << 20,
        max_instructions: 5_000_000,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        ..HvmOptions::default()
    };
    run(Arc::new(RawImage::open(image).unwrap()), &opts)
}

/// Stage 1.5 that cannot find stage2: real e2fs_stage1_5 prints its
/// number-only error and halts; so does boot-sim's model.
#[test]
fn grub_legacy_stage1_5_without_stage2_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let dir = "root/usr/lib/grub/x86_64-pc";
    let (Some(stage1), Some(stage1_5)) =
        (interop_file(&format!("{dir}/stage1")), interop_file(&format!("{dir}/e2fs_stage1_5")))
    else {
        return;
    };
    let scratch = Scratch::new("grub-legacy-no-stage2");
    let (stage1, stage1_5) = (std::fs::read(stage1).unwrap(), std::fs::read(stage1_5).unwrap());
    let Some(img) = ext2_disk(&scratch.0, &[("boot/grub/menu.lst", b"timeout 0\n".to_vec())]) else { return };
    install_grub_legacy(&img, &stage1, &stage1_5);
    let q = screen_rows(&qemu_keys(&qemu, &img, "GRUB loading", &[], "Error 15", Duration::from_secs(30)));
    let want = ["GRUB Loading stage1.5.", "", "", "GRUB loading, please wait...", "Error 15"];
    assert_eq!(after_booting(&q), want, "QEMU screen: {q:#?}");
    let r = boot_sim_models(&img);
    match &r.end {
        EndState::LoaderStopped { loader, reason } => {
            assert_eq!(loader, "GRUB legacy 0.97 stage1.5");
            assert!(reason.starts_with("Error 15 (File not found) reading (hd0,0)/boot/grub/stage2"), "{reason}");
        }
        other => panic!("boot-sim: {other:?}"),
    }
    assert_eq!(after_booting(&r.screen), want, "boot-sim screen");
}

#[test]
fn grub2_boot_img_and_core_img_run_as_under_qemu_seabios() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let Some(mkimage) = interop_tool("grub-mkimage") else { return };
    let Some(boot_img) = interop_file("root/usr/lib/grub/i386-pc/boot.img") else { return };
    let moddir = boot_img.parent().unwrap().to_path_buf();
    let scratch = Scratch::new("grub2");
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
    let Some(img) = ext2_disk(&scratch.0, &[("boot/grub/grub.cfg", cfg)]) else { return };
    let core = std::fs::read(core).unwrap();
    install_grub2(&img, &std::fs::read(&boot_img).unwrap(), &core);

    let q = qemu_until(&qemu, &img, Until::Executes(&[0x8200]), Duration::from_secs(40));
    assert_eq!((q.hit, q.cs, q.eip), (Some(0x8200), 0, 0x8200), "QEMU: {q:#?}");
    // diskboot.S prints one dot per blocklist entry it loads: one here.
    let want = vec!["GRUB loading.".to_string()];
    assert_eq!(after_booting(&q.screen), want, "QEMU screen: {:#?}", q.screen);

    let r = boot_sim(&img, 5_000_000);
    assert_hand_off(&r, &q, "GRUB 2 core.img", 1, 0x8000);
    assert_eq!(after_booting(&r.screen), want, "boot-sim screen: {:#?}", r.screen);

    // And on: startup_raw switches to protected mode, decompresses the
    // lzma'd kernel + modules, reads the ext2 filesystem through biosdisk
    // (int 13h from real-mode trampolines) and, with no normal.mod there,
    // drops to the rescue prompt and polls int 16h.
    let last = "grub rescue>";
    let q = qemu_until(&qemu, &img, Until::LastRow(last), Duration::from_secs(40));
    assert_eq!(q.hit, Some(0), "QEMU: {q:#?}");
    let want =
        ["GRUB loading.", "Welcome to GRUB!", "", "error: file `/boot/grub/i386-pc/normal.mod' not found.", last];
    assert_eq!(after_booting(&q.screen), want, "QEMU screen");
    let r = boot_sim_through(&img, 50_000_000);
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{}", r.reason);
    assert_eq!(after_booting(&r.screen), want, "boot-sim screen");
}

#[test]
fn syslinux_mbr_chains_our_vbr_as_under_qemu_seabios() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let Some(mbr) = interop_file("root/usr/lib/syslinux/mbr/mbr.bin") else { return };
    let mbr = std::fs::read(mbr).unwrap();
    assert!(mbr.len() <= 440);
    // hvm-test.img's partition 1 (bootable, LBA 2048) holds our VBR
    // (fixtures/bootcode/test-vbr.asm: prints through int 10h and port
    // 0xE9, then cli; hlt). Only its first 440 bytes change.
    let scratch = Scratch::new("syslinux");
    let img = scratch.0.join("disk.img");
    let mut disk = std::fs::read(fixture("images/hvm-test.img")).unwrap();
    disk[..mbr.len()].copy_from_slice(&mbr);
    std::fs::write(&img, &disk).unwrap();

    // The VBR halts with interrupts off: QEMU sits there; look after 3 s.
    let q = qemu_until(&qemu, &img, Until::After(Duration::from_secs(3)), Duration::from_secs(40));
    assert_eq!(q.debugcon, "boot-sim test VBR\r\n", "QEMU: {q:#?}");
    let want = vec!["boot-sim test VBR".to_string()];
    assert_eq!(after_booting(&q.screen), want, "QEMU screen: {:#?}", q.screen);

    let r = boot_sim(&img, 1_000_000);
    match &r.end {
        EndState::Halted { at } => assert_eq!((at.cs, at.ip), (q.cs, q.eip), "halt location"),
        other => panic!("boot-sim: {other:?}\n{}", r.console),
    }
    assert!(r.debugcon.ends_with("Booting from 0000:7c00\nboot-sim test VBR\r\n"), "{}", r.debugcon);
    assert_eq!(after_booting(&r.screen), want);
    assert_eq!(guest_console(&r), "boot-sim test VBR\r\n");
}

#[test]
fn grub_legacy_stage1_and_stage2_run_as_under_qemu_seabios() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let dir = "root/usr/lib/grub/x86_64-pc";
    let (Some(stage1), Some(stage2)) = (interop_file(&format!("{dir}/stage1")), interop_file(&format!("{dir}/stage2")))
    else {
        return;
    };
    let scratch = Scratch::new("grub-legacy-stage2");
    let (stage1, stage2) = (std::fs::read(stage1).unwrap(), std::fs::read(stage2).unwrap());
    let menu = b"default 0\ntimeout 0\ntitle Debian\nroot (hd0,0)\nkernel /vmlinuz root=/dev/xvda1\n".to_vec();
    let Some(img) = ext2_disk(
        &scratch.0,
        &[("boot/grub/stage1", stage1.clone()), ("boot/grub/stage2", stage2.clone()), ("boot/grub/menu.lst", menu)],
    ) else {
        return;
    };
    let Some(sectors) = file_sectors(&img, "/boot/grub/stage2") else { return };
    install_grub_legacy_stage2(&img, &stage1, stage2.len(), &sectors);

    let q = qemu_until(&qemu, &img, Until::Executes(&[0x8200]), Duration::from_secs(40));
    assert_eq!((q.hit, q.cs, q.eip), (Some(0x8200), 0, 0x8200), "QEMU: {q:#?}");
    let shown = after_booting(&q.screen);
    assert_eq!(shown.len(), 1, "QEMU screen: {:#?}", q.screen);
    assert!(shown[0].starts_with("GRUB Loading stage2.."), "QEMU screen: {:#?}", q.screen);

    let r = boot_sim(&img, 5_000_000);
    assert_hand_off(&r, &q, "GRUB legacy stage2", u64::from(sectors[0]), 0x8000);
    // The same text and the same number of dots (one per read start.S
    // makes).
    assert_eq!(after_booting(&r.screen), shown, "boot-sim screen: {:#?}", r.screen);
    assert_eq!(guest_console(&r), format!("{}\r\n", shown[0]));
}

/// Real GRUB 0.97 stage2 (Debian's grub-legacy) loading Debian's cloud
/// kernel and a small initrd under QEMU + SeaBIOS, stopped at the kernel's
/// 16-bit entry (9020:0000), against boot-sim's GRUB legacy model on the
/// same image: the `[Linux-bzImage, …]` and `[Linux-initrd @ …]` lines.
#[test]
fn grub_legacy_stage2_loads_debian_kernel_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let scratch = Scratch::new("grub-legacy-kernel");
    let Some(img) = debian_kernel_image(&scratch.0, None) else { return };

    let q = qemu_until(&qemu, &img, Until::Executes(&[0x90200]), Duration::from_secs(60));
    assert_eq!((q.hit, q.cs, q.eip), (Some(0x90200), 0x9020, 0), "QEMU: {q:#?}");
    let lines =
        |screen: &[String]| -> Vec<String> { screen.iter().filter(|l| l.starts_with("   [Linux-")).cloned().collect() };
    let want = lines(&q.screen);
    assert_eq!(want.len(), 2, "QEMU screen: {:#?}", q.screen);

    let opts = HvmOptions {
        memory: 64 << 20,
        max_instructions: 5_000_000,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        ..HvmOptions::default()
    };
    let started = Instant::now();
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    eprintln!(
        "boot-sim to the kernel entry: {:?} on the host, {} simulated ns, {} int 13h AH=42h, {} port exits",
        started.elapsed(),
        r.counters.sim_time_ns,
        r.counters.bios_calls.get("int 13h AH=42h").copied().unwrap_or(0),
        r.counters.port_exits
    );
    match &r.end {
        EndState::KernelEntry { at, info } => {
            assert_eq!((at.cs, at.ip), (q.cs, q.eip));
            assert_eq!(info.cmdline, "root=/dev/xvda1 ro console=ttyS0");
        }
        other => panic!("boot-sim: {other:?}\n{}", r.console),
    }
    let ours = lines(&r.screen);
    assert_eq!(ours[0], want[0], "bzImage line; boot-sim screen {:#?}", r.screen);
    // The initrd line: the same size; the address follows mem_upper (the
    // end of the E820 RAM region at 1 MiB). QEMU's SeaBIOS keeps the part
    // of its ZoneHigh it used (src/malloc.c malloc_preinit/prepboot, 128
    // KiB here) reserved at the top of RAM; boot-sim's firmware map has no
    // such reservation, so its initrd sits that much higher: a known
    // difference of the firmware model, not of the GRUB model.
    let parse = |l: &str| -> (u32, u32) {
        let (a, n) =
            l.trim().trim_start_matches("[Linux-initrd @ 0x").trim_end_matches(" bytes]").split_once(", 0x").unwrap();
        (u32::from_str_radix(a, 16).unwrap(), u32::from_str_radix(n, 16).unwrap())
    };
    eprintln!("QEMU:     {want:?}\nboot-sim: {ours:?}");
    let ((qa, qn), (oa, on)) = (parse(&want[1]), parse(&ours[1]));
    assert_eq!(qn, on, "initrd size: {want:?} vs {ours:?}");
    assert!(qa <= oa && (oa - qa) % 0x1000 == 0 && oa - qa <= 16 << 20, "{want:?} vs {ours:?}");
}

// ---------------------------------------------------------------------------
// GRUB 0.97's menu: real Debian stage2 under QEMU, keys through the QEMU
// monitor's `sendkey` (a PS/2 keyboard: SeaBIOS's int 16h sees them as a
// real keyboard's), the text page read with the monitor's `xp` from the VGA
// window at 0xB8000 (characters and attributes).
// ---------------------------------------------------------------------------

/// Boots `image` in QEMU (no `-S`), waits until a screen row contains
/// `ready`, types `keys` (QEMU `sendkey` names) 300 ms apart, waits until
/// the last row reads `last` (or `max`), and returns the text page.
fn qemu_keys(qemu: &Path, image: &Path, ready: &str, keys: &[&str], last: &str, max: Duration) -> Vec<(u8, u8)> {
    let dir = Scratch::new("qemu-menu");
    let sock = dir.0.join("monitor.sock");
    let mut child = qemu::tcg_command(qemu, image, 64, 60)
        .args(["-vga", "std"])
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .spawn()
        .expect("spawn qemu");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let deadline = Instant::now() + max;
        let mut m = Monitor::connect(&sock, Instant::now() + Duration::from_secs(20));
        // Met, and unchanged for 400 ms (GRUB may still be redrawing).
        let wait_for = |m: &mut Monitor, ok: &dyn Fn(&[String]) -> bool| {
            let mut last = Vec::new();
            loop {
                let cells = m.cells();
                if (ok(&screen_rows(&cells)) && cells == last) || Instant::now() > deadline {
                    return cells;
                }
                last = cells;
                std::thread::sleep(Duration::from_millis(400));
            }
        };
        wait_for(&mut m, &|rows| rows.iter().any(|r| r.contains(ready)));
        for k in keys {
            m.cmd(&format!("sendkey {k}"));
            std::thread::sleep(Duration::from_millis(300));
        }
        wait_for(&mut m, &|rows| rows.last().is_some_and(|r| r == last))
    }));
    kill_group(&mut child);
    match result {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// The memory figures of init_page's line differ by firmware (QEMU's
/// SeaBIOS reserves its ZoneHigh at the top of RAM): compared as a shape.
fn without_memory(rows: &[String]) -> Vec<String> {
    rows.iter()
        .map(|r| match r.find("  (") {
            Some(i) if r.starts_with("    GNU GRUB  version") && r.ends_with("K upper memory)") => {
                format!("{}  (<memory>)", &r[..i])
            }
            _ => r.clone(),
        })
        .collect()
}

#[test]
fn grub_legacy_menu_and_keys_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let dir = "root/usr/lib/grub/x86_64-pc";
    let (Some(stage1), Some(stage2)) = (interop_file(&format!("{dir}/stage1")), interop_file(&format!("{dir}/stage2")))
    else {
        return;
    };
    let scratch = Scratch::new("grub-legacy-menu");
    let (stage1, stage2) = (std::fs::read(stage1).unwrap(), std::fs::read(stage2).unwrap());
    let menu = b"default 0\ntimeout 20\ntitle Debian one\nroot (hd0,0)\nkernel /vmlinuz-1 root=/dev/xvda1\n\
                 title Second entry, its title long enough to be cut at column seventy-two by GRUB\n\
                 root (hd0,0)\nkernel /vmlinuz-2\n"
        .to_vec();
    let Some(img) = ext2_disk(
        &scratch.0,
        &[("boot/grub/stage1", stage1.clone()), ("boot/grub/stage2", stage2.clone()), ("boot/grub/menu.lst", menu)],
    ) else {
        return;
    };
    let Some(sectors) = file_sectors(&img, "/boot/grub/stage2") else { return };
    install_grub_legacy_stage2(&img, &stage1, stage2.len(), &sectors);
    let sim = |keys: &str| {
        let opts = HvmOptions {
            execute: false,
            memory: 64 << 20,
            max_instructions: 5_000_000,
            ata: AtaConfig::QEMU,
            boot_menu_wait_ms: None,
            keys: keys.into(),
            ..HvmOptions::default()
        };
        run(Arc::new(RawImage::open(&img).unwrap()), &opts)
    };
    let ready = "booted automatically";

    // `down`: the countdown line is blanked, the second entry highlighted,
    // GRUB waits for the next key.
    let q = qemu_keys(
        &qemu,
        &img,
        ready,
        &["down"],
        "    commands before booting, or 'c' for a command-line.",
        Duration::from_secs(45),
    );
    let q_rows = screen_rows(&q);
    assert!(q_rows[3].starts_with(" ┌─"), "QEMU screen: {q_rows:#?}");
    let r = sim("{down}");
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{}", r.reason);
    assert_eq!(without_memory(&r.screen), without_memory(&q_rows), "boot-sim (left) vs QEMU (right)");
    // The attributes: the highlight (A_REVERSE) moved to row 5, columns
    // 2..=74, as boot-sim's unit tests expect of its own text cells.
    let attrs = |row: usize| -> Vec<u8> { q[row * 80..row * 80 + 80].iter().map(|c| c.1).collect() };
    assert!(attrs(5)[2..75].iter().all(|&a| a == 0x70) && attrs(5)[75] == 0x07, "QEMU row 5: {:?}", attrs(5));
    assert!(attrs(4).iter().all(|&a| a == 0x07), "QEMU row 4: {:?}", attrs(4));

    // `down`, Enter: the second entry boots and fails; no fallback.
    let last = "Press any key to continue...";
    let q = screen_rows(&qemu_keys(&qemu, &img, ready, &["down", "ret"], last, Duration::from_secs(45)));
    assert_eq!(q.last().map(String::as_str), Some(last), "QEMU screen: {q:#?}");
    let r = sim("{down}\\n");
    assert!(matches!(&r.end, EndState::LoaderError { entry_index: 1, error: 15, .. }), "{}", r.reason);
    assert_eq!(r.screen, q, "boot-sim (left) vs QEMU (right)");
}

/// `savedefault` with a `default` file: real GRUB rewrites its first 10
/// bytes (QEMU's disk is `snapshot=on`) and goes on; boot-sim reads the
/// file the same way, records the write it would make, and goes on too.
#[test]
fn grub_legacy_savedefault_goes_on_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let dir = "root/usr/lib/grub/x86_64-pc";
    let (Some(stage1), Some(stage2)) = (interop_file(&format!("{dir}/stage1")), interop_file(&format!("{dir}/stage2")))
    else {
        return;
    };
    let scratch = Scratch::new("grub-legacy-savedefault");
    let (stage1, stage2) = (std::fs::read(stage1).unwrap(), std::fs::read(stage2).unwrap());
    let menu = b"default saved\ntimeout 0\ntitle A\nroot (hd0,0)\nkernel /vmlinuz-a\ntitle B\nroot (hd0,0)\n\
                 savedefault\nkernel /vmlinuz-b\n"
        .to_vec();
    let default = b"1\n\n\n\n\n\n\n\n\n\n\n".to_vec();
    let Some(img) = ext2_disk(
        &scratch.0,
        &[
            ("boot/grub/stage1", stage1.clone()),
            ("boot/grub/stage2", stage2.clone()),
            ("boot/grub/menu.lst", menu),
            ("boot/grub/default", default),
        ],
    ) else {
        return;
    };
    let Some(sectors) = file_sectors(&img, "/boot/grub/stage2") else { return };
    install_grub_legacy_stage2(&img, &stage1, stage2.len(), &sectors);
    let last = "Press any key to continue...";
    let q = screen_rows(&qemu_keys(&qemu, &img, "Booting", &[], last, Duration::from_secs(45)));
    assert_eq!(q.first().map(String::as_str), Some("  Booting 'B'"), "QEMU screen: {q:#?}");
    let opts = HvmOptions {
        execute: false,
        memory: 64 << 20,
        max_instructions: 5_000_000,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        trace_level: boot::hvm::TraceLevel::Calls,
        ..HvmOptions::default()
    };
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    assert!(matches!(&r.end, EndState::LoaderError { entry_index: 1, error: 15, .. }), "{}", r.reason);
    assert_eq!(r.screen, q, "boot-sim (left) vs QEMU (right)");
    let note = serde_json::to_string(&r.trace).unwrap();
    assert!(note.contains("savedefault: GRUB would write entry 1 to (hd0,0)/boot/grub/default"), "{note}");
}

/// The command line the kernel itself reports: real GRUB 0.97 boots
/// Debian's cloud kernel under QEMU (serial to a file, `console=ttyS0`) and
/// the kernel prints "Command line: …" in its first lines; boot-sim's GRUB
/// model hands over the same bytes at cmd_line_ptr.
#[test]
fn debian_kernel_reports_the_command_line_boot_sim_hands_over() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let scratch = Scratch::new("grub-legacy-cmdline");
    let Some(img) = debian_kernel_image(&scratch.0, None) else { return };
    let serial = scratch.0.join("serial.txt");
    let mut child = qemu::tcg_command(&qemu, &img, 1024, 90)
        .args(["-vga", "std"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .spawn()
        .expect("spawn qemu");
    let start = Instant::now();
    let mut line = None;
    while start.elapsed() < Duration::from_secs(80) && line.is_none() {
        std::thread::sleep(Duration::from_millis(250));
        let text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
        line = text.lines().find_map(|l| l.split_once("Command line: ").map(|(_, c)| c.trim_end().to_string()));
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let elapsed = start.elapsed();
    kill_group(&mut child);
    let Some(line) = line else { panic!("QEMU: no \"Command line:\" on the serial port in {elapsed:?}") };
    eprintln!("QEMU + TCG: the kernel's \"Command line:\" after {elapsed:?} on the host");
    let r = boot_sim_models(&img);
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("boot-sim: {}", r.reason) };
    assert_eq!(info.cmdline, line, "boot-sim (left) vs the kernel under QEMU (right)");
    assert_eq!(line, "root=/dev/xvda1 ro console=ttyS0");
}

/// Fourteen entries: the box shows twelve; twelve `down`s scroll it by
/// one (print_entries with first_entry 1: the ↑ and ↓ marks at column 77).
#[test]
fn grub_legacy_menu_scrolls_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let dir = "root/usr/lib/grub/x86_64-pc";
    let (Some(stage1), Some(stage2)) = (interop_file(&format!("{dir}/stage1")), interop_file(&format!("{dir}/stage2")))
    else {
        return;
    };
    let scratch = Scratch::new("grub-legacy-scroll");
    let (stage1, stage2) = (std::fs::read(stage1).unwrap(), std::fs::read(stage2).unwrap());
    let mut menu = String::from("default 0\ntimeout 20\ncolor cyan/blue white/red\n");
    for i in 0..14 {
        menu.push_str(&format!("title Entry number {i}\nroot (hd0,0)\nkernel /vmlinuz-{i}\n"));
    }
    let Some(img) = ext2_disk(
        &scratch.0,
        &[
            ("boot/grub/stage1", stage1.clone()),
            ("boot/grub/stage2", stage2.clone()),
            ("boot/grub/menu.lst", menu.into_bytes()),
        ],
    ) else {
        return;
    };
    let Some(sectors) = file_sectors(&img, "/boot/grub/stage2") else { return };
    install_grub_legacy_stage2(&img, &stage1, stage2.len(), &sectors);
    let downs = ["down"; 12];
    let last = "    commands before booting, or 'c' for a command-line.";
    let q = qemu_keys(&qemu, &img, "booted automatically", &downs, last, Duration::from_secs(45));
    let q_rows = screen_rows(&q);
    assert!(q_rows[4].ends_with('↑') && q_rows[15].ends_with('↓'), "QEMU screen: {q_rows:#?}");
    assert!(q_rows[4].contains("Entry number 1 ") && q_rows[15].contains("Entry number 12"), "QEMU: {q_rows:#?}");
    // `color cyan/blue white/red`: 0x13 normal, 0x4F highlighted (row 15).
    assert_eq!((q[3 * 80 + 1].1, q[4 * 80 + 2].1, q[15 * 80 + 2].1), (0x13, 0x13, 0x4F), "QEMU attributes");
    let opts = HvmOptions {
        memory: 64 << 20,
        max_instructions: 5_000_000,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        keys: "{down}".repeat(12),
        ..HvmOptions::default()
    };
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{}", r.reason);
    assert_eq!(without_memory(&r.screen), without_memory(&q_rows), "boot-sim (left) vs QEMU (right)");
}

// ---------------------------------------------------------------------------
// simboot (boot-sim's own loader, fixtures/bootcode/simboot-*.asm) on the
// committed hvm-simboot.img: QEMU + SeaBIOS run it to the kernel's 32-bit
// entry (a breakpoint at code32_start 0x100000); boot-sim executes it to the
// same instruction. The screens, ESI and boot_params are compared; the
// E820 table and the initrd address follow each firmware's memory map.
// ---------------------------------------------------------------------------

/// `row` with the address after "Loading the initrd: N bytes at " cut off.
fn without_initrd_address(row: &str) -> String {
    match row.find(" bytes at 0x") {
        Some(i) if row.starts_with("  Loading the initrd: ") => row[..i].to_string(),
        _ => row.to_string(),
    }
}

#[test]
fn simboot_reaches_the_32_bit_entry_as_under_qemu() {
    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let img = fixture("images/hvm-simboot.img");
    let q = qemu_until(&qemu, &img, Until::Executes(&[0x10_0000]), Duration::from_secs(50));
    // `hit` is worked out as a real-mode CS:IP; here CS is the flat
    // __BOOT_CS, so the stop is checked by CS and EIP themselves.
    assert_eq!((q.cs, q.eip), (0x10, 0x10_0000), "QEMU: {:#?}", q.screen);
    assert_eq!(q.esi, 0x4_0000, "QEMU: {q:#?}");

    let opts = HvmOptions {
        memory: u64::from(QEMU_MIB) << 20,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        loader_model: false,
        stop_at_handoff: false,
        ..HvmOptions::default()
    };
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    let EndState::KernelEntry { at, info } = &r.end else { panic!("boot-sim: {}\n{:#?}", r.reason, r.screen) };
    assert_eq!((at.cs, at.linear), (q.cs, q.eip));
    assert_eq!(info.regs.esi, Some(q.esi));
    assert_eq!(info.cmdline, q.cmdline);
    assert_eq!(q.cmdline, "root=/dev/sda1 ro console=ttyS0");

    let mask = |rows: &[String]| rows.iter().map(|r| without_initrd_address(r)).collect::<Vec<_>>();
    assert_eq!(mask(&r.screen), mask(&q.screen), "boot-sim {:#?}\nQEMU {:#?}", r.screen, q.screen);
    assert!(q.screen.iter().any(|l| l == "  Booting 'boot-sim fixture kernel'"), "{:#?}", q.screen);

    // QEMU's boot_params: the kernel's setup header byte for byte with the
    // fields simboot writes (type_of_loader, ramdisk_image/size,
    // cmd_line_ptr), equal to what boot-sim decoded; the initrd address
    // follows each firmware's E820 top (QEMU's SeaBIOS reserves its own
    // tables below the end of RAM).
    let zp = &q.zero_page;
    let le32 = |at: usize| u32::from_le_bytes(zp[at..at + 4].try_into().unwrap());
    let (qa, oa) = (le32(0x218), info.initrd_addr.unwrap());
    assert!(qa % 0x1000 == 0 && oa % 0x1000 == 0 && qa <= oa && oa - qa <= 1 << 20, "{qa:#x} vs {oa:#x}");
    let mut want = std::fs::read(fixture("kernels/bzimage-gzip.bin")).unwrap()[..0x400].to_vec();
    want[0x210] = 0xFF;
    want[0x218..0x21C].copy_from_slice(&qa.to_le_bytes());
    want[0x21C..0x220].copy_from_slice(&20000u32.to_le_bytes());
    want[0x228..0x22C].copy_from_slice(&0x4_1000u32.to_le_bytes());
    let end = 0x202 + usize::from(want[0x201]);
    assert_eq!(zp[0x1F1..end], want[0x1F1..end]);
    assert_eq!((le32(0x214), le32(0x228), Some(le32(0x21C))), (info.kernel_load, info.cmd_line_ptr, info.initrd_size));
    assert!(zp[0x1E8] > 0, "QEMU's E820 entries");
}

/// simboot installed (its installer from `boot_sim_fixtures::simboot`, the
/// sectors from debugfs) on an ext2 disk with Debian's cloud kernel and a
/// tiny initrd: QEMU + SeaBIOS boot it until the kernel prints `Command
/// line:` and `RAMDISK:` (so simboot's boot_params and loads work for a
/// real kernel), boot-sim executes it to the 32-bit entry with the same
/// command line, screen and initrd size, and both files equal the disk's.
#[test]
fn simboot_boots_debians_kernel_as_under_qemu() {
    use boot_sim_fixtures::simboot::{self, FileSectors};

    let Some(qemu) = interop_tool("qemu-system-x86_64") else { return };
    let Some(kernel) = boot_sim::loaders::debian_kernel() else { return };
    let scratch = Scratch::new("simboot-debian");
    let menu = "default 0\ntimeout 1\ntitle Debian (simboot)\n\
                kernel /boot/vmlinuz root=/dev/sda1 ro console=ttyS0\ninitrd /boot/initrd.img\n";
    let kernel_bytes = std::fs::read(&kernel.path).unwrap();
    let initrd = boot_sim::loaders::tiny_initrd();
    let files = [
        ("boot/vmlinuz", kernel_bytes.clone()),
        ("boot/initrd.img", initrd.clone()),
        ("boot/grub/menu.lst", menu.as_bytes().to_vec()),
    ];
    let Some(img) = ext2_disk_mib(&scratch.0, &files, 32) else { return };
    let sizes = [("/boot/vmlinuz", kernel_bytes.len()), ("/boot/initrd.img", initrd.len())];
    let Some(debugfs) = interop_tool("debugfs") else { return };
    // The kernel has all-zero blocks, which mke2fs -d leaves unallocated:
    // the installer maps them as holes.
    let sectors = |path: &str| -> Result<FileSectors, boot_sim_fixtures::FixtureError> {
        let size = sizes.iter().find(|(p, _)| *p == path).expect("a file of the menu").1 as u64;
        let out = Command::new(&debugfs)
            .args(["-R", &format!("stat {path}")])
            .arg(format!("{}?offset=1048576", img.display()))
            .output()
            .unwrap();
        let runs = simboot::parse_debugfs_stat(&String::from_utf8_lossy(&out.stdout)).unwrap();
        simboot::file_sectors(size, &runs, 1024, 2048)
    };
    let map = simboot::build_map(&simboot::parse_menu(menu).unwrap(), &sectors).unwrap();
    let mut disk = std::fs::read(&img).unwrap();
    simboot::install(&mut disk, &map, 2048).unwrap();
    std::fs::write(&img, &disk).unwrap();

    let q = boot_sim::loaders::qemu_to_command_line(&qemu, &img, &scratch.0, 512, Duration::from_secs(120));
    let Some(line) = &q.cmdline else { panic!("QEMU: no \"Command line:\" in {:?}:\n{}", q.elapsed, q.serial) };
    eprintln!("QEMU + TCG: simboot to the kernel's \"Command line:\" in {:?}", q.elapsed);
    assert_eq!(line, "root=/dev/sda1 ro console=ttyS0");
    let ramdisk = q.ramdisk.as_deref().expect("the kernel's RAMDISK: line");
    // "RAMDISK: [mem 0xA-0xB]": the initrd the kernel found, its size
    // rounded up to pages (arch/x86/kernel/setup.c reserve_initrd).
    let (a, b) = ramdisk.trim_start_matches("RAMDISK: [mem ").trim_end_matches(']').split_once('-').unwrap();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(hex(b) - hex(a) + 1, (initrd.len() as u64).next_multiple_of(4096), "{ramdisk}");

    let opts = HvmOptions { memory: 512 << 20, ata: AtaConfig::QEMU, boot_menu_wait_ms: None, ..HvmOptions::default() };
    let started = Instant::now();
    let r = run(Arc::new(RawImage::open(&img).unwrap()), &opts);
    let EndState::KernelEntry { info, .. } = &r.end else { panic!("boot-sim: {}\n{:#?}", r.reason, r.screen) };
    eprintln!(
        "boot-sim: simboot to the 32-bit entry of {} in {:?} ({} instructions)",
        kernel.version,
        started.elapsed(),
        r.counters.instructions
    );
    assert_eq!(r.execution_note, None);
    assert_eq!(&info.cmdline, line);
    assert_eq!(info.initrd_size, Some(initrd.len() as u32));
    assert_eq!(info.checks.len(), 2);
    assert!(info.checks.iter().all(|c| c.ok), "{:?}", info.checks);
    let mask = |rows: &[String]| rows.iter().map(|r| without_initrd_address(r)).collect::<Vec<_>>();
    assert_eq!(mask(&r.screen), mask(&q.screen), "boot-sim {:#?}\nQEMU {:#?}", r.screen, q.screen);
}
