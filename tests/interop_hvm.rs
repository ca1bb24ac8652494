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
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boot::hvm::{AtaConfig, EndState, HvmOptions, HvmReport, run};
use boot_sim::qemu::{self, Scratch, kill_group, text_page};
use boot_sim::scratch_disk::ext2_disk_mib;
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
// instruction), then one where boot-sim's run is expected to stop (the
// kernel's 32-bit entry, 0x100000), `c`ontinue, and at the stop it reads
// the registers (`g`: CS and EIP) and the 80x25 text page at 0xB8000 (`m`,
// through QEMU's VGA memory window). The screen is compared as it is at
// that instruction. Every QEMU run is under `timeout -s KILL 60` in
// its own process group, killed as a group at the end.
// ---------------------------------------------------------------------------

/// What QEMU showed when it stopped.
#[derive(Debug)]
struct QemuStop {
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
    /// Simply this long after 0000:7C00.
    After(Duration),
}

/// RAM of the QEMU guests of [`qemu_until`] (and boot-sim's, to compare).
const QEMU_MIB: u32 = 64;

/// Boots `image` (a scratch copy; QEMU also gets `snapshot=on`) in QEMU +
/// SeaBIOS until `until` or `max`.
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
                    if !is_stop(&reply) {
                        pause(&mut gdb);
                    }
                    for a in stops {
                        gdb.cmd(&format!("z0,{a:x},1"));
                    }
                }
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
        QemuStop { cs, eip, screen, debugcon, esi, zero_page, cmdline }
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

fn boot_sim(image: &Path, max_instructions: u64) -> HvmReport {
    let opts = HvmOptions {
        memory: 64 << 20,
        max_instructions,
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        ..HvmOptions::default()
    };
    run(Arc::new(RawImage::open(image).unwrap()), &opts)
}

/// The int 10h text boot-sim's guest printed after SeaBIOS's boot line.
fn guest_console(r: &HvmReport) -> String {
    r.console.split("Booting from Hard Disk...\r\n").nth(1).unwrap_or_default().to_string()
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
    assert_eq!(&info.cmdline, line);
    assert_eq!(info.initrd_size, Some(initrd.len() as u32));
    assert_eq!(info.checks.len(), 2);
    assert!(info.checks.iter().all(|c| c.ok), "{:?}", info.checks);
    let mask = |rows: &[String]| rows.iter().map(|r| without_initrd_address(r)).collect::<Vec<_>>();
    assert_eq!(mask(&r.screen), mask(&q.screen), "boot-sim {:#?}\nQEMU {:#?}", r.screen, q.screen);
}
