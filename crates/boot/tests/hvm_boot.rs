//! Whole-boot tests of the HVM path on our own boot code
//! (fixtures/bootcode/*.asm, committed as .bin; the test MBR is in the
//! committed fixture image hvm-test.img): console text exact, exit counts
//! per port exact for a known read, and every bad input ending in a clear
//! state, never a panic.

use std::path::PathBuf;
use std::sync::Arc;

use boot::hvm::{AtaConfig, EndState, HvmEvent, HvmOptions, HvmReport, Origin, TraceLevel, run};
use disk_image::{MemImage, RawImage, ReadAt};

fn bootcode(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bootcode").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture(name: &str) -> Arc<dyn ReadAt> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name);
    Arc::new(RawImage::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// A 64-sector disk whose sector 0 is `mbr`.
fn one_sector_disk(mbr: &[u8]) -> Arc<dyn ReadAt> {
    let mut d = vec![0u8; 64 * 512];
    d[..mbr.len()].copy_from_slice(mbr);
    Arc::new(MemImage::new(d, "test.img"))
}

fn opts() -> HvmOptions {
    HvmOptions { memory: 64 << 20, max_instructions: 2_000_000, keys: "y".into(), ..HvmOptions::default() }
}

/// What the test MBR + stage 2 + VBR print on a 64 MiB machine.
const TEST_MBR_OUTPUT: &str = "boot-sim test MBR\r\n\
EDD 30 0007\r\n\
READ42 00 5342\r\n\
GEOM 063F 0F01\r\n\
EDD48 001E 00002000\r\n\
READ02 00 5342\r\n\
E820 0005\r\n\
E801 3C00 0300\r\n\
MEM88 FC00\r\n\
INT12 027F\r\n\
TICKS o\r\n\
KEY y\r\n\
CHAIN\r\n\
boot-sim test VBR\r\n";

#[test]
fn test_mbr_console_text_is_exact() {
    let r = run(fixture("hvm-test.img"), &opts());
    assert!(matches!(r.end, EndState::Halted { .. }), "{}", r.reason);
    let bios = "SeaBIOS (version boot-sim)\r\n\r\nPress ESC for boot menu.\r\n\r\nBooting from Hard Disk...\r\n";
    assert_eq!(r.console, format!("{bios}{TEST_MBR_OUTPUT}"));
    // The boot code also writes every character to port 0xE9.
    assert!(r.debugcon.ends_with(&format!("Booting from 0000:7c00\n{TEST_MBR_OUTPUT}")), "{}", r.debugcon);
    assert!(r.debugcon.starts_with("HVM Loader\nDetected Xen v4.17"));
    assert!(r.screen.iter().any(|l| l == "boot-sim test VBR"));
    assert_eq!(r.counters.bios_calls.get("int 13h AH=42h"), Some(&2));
    // int 19h's boot sector, the MBR's 4, stage 2's CHS read and the VBR.
    assert_eq!(r.counters.int13_sectors, 1 + 4 + 1 + 1);
    assert_eq!(r.disk.as_ref().unwrap().sectors, 8192);
}

/// Port exits between one BIOS call (the `nth` call of `function`) and the
/// next, by port.
fn exits_of_call(r: &HvmReport, function: &str, nth: usize) -> Vec<(u16, bool)> {
    let mut calls = 0;
    let mut inside = false;
    let mut out = Vec::new();
    for e in &r.trace {
        match &e.event {
            HvmEvent::BiosCall { function: f, .. } => {
                if inside {
                    break;
                }
                if f == function {
                    calls += 1;
                    inside = calls == nth;
                }
            }
            HvmEvent::PortExit { port, write, origin: Origin::Firmware, .. } if inside => out.push((*port, *write)),
            _ => {}
        }
    }
    out
}

/// One int 13h AH=42h read of 4 sectors (the test MBR's read of LBA 1..4).
///
/// DMA (Xen's SeaBIOS: CONFIG_ATA_DMA, ata.c `ata_try_dma` + `send_cmd` +
/// `ata_dma_transfer`, device never busy): BM_TABLE outl, BM_CMD inb/outb,
/// BM_STATUS outb (4); status inb, device inb/outb, 0x1F1..0x1F5 + command
/// outb (9); BM_CMD inb/outb start, BM_STATUS inb, BM_CMD outb stop, alt
/// status inb, status inb (6) = 19 exits.
///
/// PIO (`ata_pio_cmd_data`): control outb, send_cmd (9), wait-data status
/// inb, per sector one `rep insl`/`insw` + alt status + status (3 × 4),
/// control outb = 12 + 3N = 24 exits.
#[test]
fn exit_counts_for_one_four_sector_read() {
    let dma = run(fixture("hvm-test.img"), &HvmOptions { trace_level: TraceLevel::Full, ..opts() });
    let e = exits_of_call(&dma, "int 13h AH=42h", 1);
    assert_eq!(e.len(), 19, "{e:x?}");
    let count = |port: u16, w: bool| e.iter().filter(|&&x| x == (port, w)).count();
    assert_eq!((count(0x1F7, false), count(0x1F7, true)), (2, 1));
    assert_eq!((count(0x1F6, false), count(0x1F6, true)), (1, 1));
    for p in 0x1F1..=0x1F5 {
        assert_eq!(count(p, true), 1);
    }
    assert_eq!(count(0x3F6, false), 1);
    assert_eq!((count(0xC100, false), count(0xC100, true)), (2, 3));
    assert_eq!((count(0xC102, false), count(0xC102, true)), (1, 1));
    assert_eq!(count(0xC104, true), 1);
    assert_eq!(dma.counters.bytes_dma % 512, 0);
    assert!(dma.counters.bytes_dma >= 6 * 512);

    for ata in [AtaConfig { dma: false, pio32: true }, AtaConfig::QEMU] {
        let pio = run(fixture("hvm-test.img"), &HvmOptions { trace_level: TraceLevel::Full, ata, ..opts() });
        let e = exits_of_call(&pio, "int 13h AH=42h", 1);
        assert_eq!(e.len(), 12 + 3 * 4, "{ata:?} {e:x?}");
        assert_eq!(e.iter().filter(|&&x| x == (0x1F0, false)).count(), 4, "one string request per sector");
        assert_eq!(pio.console, dma.console);
        assert_eq!(pio.counters.bytes_dma, 0);
    }
}

#[test]
fn post_probes_the_ide_channels_through_ports() {
    let r = run(fixture("hvm-test.img"), &HvmOptions { trace_level: TraceLevel::Full, ..opts() });
    // Primary master 44 + primary slave 22 + secondary 2 x 9 exits (see
    // firmware.rs ata_detect_channel), before any BIOS call.
    let mut post = 0;
    let mut secondary = 0;
    for e in &r.trace {
        match &e.event {
            HvmEvent::Phase { name } if name == "int19-boot" => break,
            HvmEvent::PortExit { port, .. } if (0x170..=0x177).contains(port) => secondary += 1,
            HvmEvent::PortExit { port, .. } if (0x1F0..=0x1F7).contains(port) || *port == 0x3F6 => post += 1,
            _ => {}
        }
    }
    assert_eq!(post, 44 + 22);
    assert_eq!(secondary, 18);
    assert!(r.debugcon.contains("ata0-0: QEMU HARDDISK ATA-7 Hard-Disk (4 MiBytes)\n"));
}

#[test]
fn no_signature_says_what_seabios_says() {
    let r = run(fixture("no-signature.img"), &opts());
    assert!(r.console.ends_with(
        "Booting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n\r\nNo bootable device.  Retrying in 60 seconds.\r\n"
    ));
    assert!(matches!(r.end, EndState::NoBootableDevice { reboots_after_ms: Some(60_000), .. }));
    let q = run(fixture("no-signature.img"), &HvmOptions { boot_fail_wait_ms: None, ..opts() });
    assert_eq!(q.reason, "No bootable device.");
}

/// `jmp $` is seen for what it is at once, whatever the cap.
#[test]
fn jump_to_itself_spins_forever() {
    let r = run(one_sector_disk(&bootcode("bad-loop.bin")), &opts());
    match r.end {
        EndState::Spinning { at } => assert_eq!((at.cs, at.ip), (0, 0x7C08)),
        other => panic!("{other:?}"),
    }
    assert!(r.counters.instructions < 10);
}

/// Any other endless loop ends at the cap, which counts guest
/// instructions and the firmware's work together.
#[test]
fn endless_loop_ends_at_the_cap() {
    // The bad-loop sector with `jmp $` (EB FE) made a two-instruction loop
    // (`nop` ; `jmp` back 3), which is not a jump to itself.
    let mut code = bootcode("bad-loop.bin");
    let at = code.windows(2).position(|w| w == [0xEB, 0xFE]).expect("jmp $ in bad-loop.bin");
    code.splice(at..at + 2, [0x90, 0xEB, 0xFD]);
    code.truncate(510);
    code.extend_from_slice(&[0x55, 0xAA]);
    let r = run(one_sector_disk(&code), &HvmOptions { max_instructions: 10_000, ..opts() });
    match r.end {
        EndState::InstructionLimit { at, limit } => {
            assert_eq!(limit, 10_000);
            assert_eq!(at.cs, 0);
            assert!((0x7C08..=0x7C09).contains(&at.ip), "{at}");
        }
        other => panic!("{other:?}"),
    }
    // The cap counts guest instructions and the firmware's work (int 19h's
    // read of the boot sector) together.
    assert_eq!(r.counters.instructions + r.counters.firmware_work, 10_000);
    assert!(r.counters.firmware_work > 0);
}

#[test]
fn jump_into_zeroes_is_reported() {
    let r = run(one_sector_disk(&bootcode("bad-zeroes.bin")), &HvmOptions { max_instructions: 50_000, ..opts() });
    // `00 00` is `add [bx+si],al`: the CPU slides through zeroed memory,
    // IP wraps at 64 KiB into the low data areas; the run ends at the cap
    // or at the first byte pattern it cannot execute, never inside the MBR.
    match &r.end {
        EndState::InstructionLimit { at, .. } | EndState::CpuStopped { at, .. } => {
            assert!(!(0x7C00..0x7E00).contains(&at.linear), "{at:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn triple_fault_is_a_clear_end_state() {
    let r = run(one_sector_disk(&bootcode("bad-triple.bin")), &opts());
    match &r.end {
        EndState::TripleFault { first_exception, .. } => assert_eq!(*first_exception, 13),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_past_the_disk_fail_with_seabios_codes() {
    let r = run(one_sector_disk(&bootcode("bad-readpast.bin")), &opts());
    assert!(matches!(r.end, EndState::Halted { .. }), "{}", r.reason);
    // AH=01h+CF → '2'; AH=0Ch+CF → '=' ('0' + 13).
    assert!(r.debugcon.ends_with("2="), "{:?}", r.debugcon);
    // One abort by the past-the-end read, one by POST's IDENTIFY PACKET
    // DEVICE probe (a hard disk aborts it).
    assert_eq!(r.counters.ata_aborted, 2);
}

#[test]
fn invalid_opcode_and_unreadable_images_never_panic() {
    let mut mbr = vec![0u8; 512];
    mbr[..2].copy_from_slice(&[0xFE, 0xF8]); // FE /7: no such instruction
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    let r = run(one_sector_disk(&mbr), &opts());
    assert!(matches!(&r.end, EndState::CpuStopped { kind, .. } if kind == "invalid_opcode"), "{:?}", r.end);
    let tiny: Arc<dyn ReadAt> = Arc::new(MemImage::new(vec![0u8; 100], "tiny.img"));
    assert!(matches!(run(tiny, &opts()).end, EndState::SetupError { .. }));
    let r = run(fixture("hvm-test.img"), &HvmOptions { memory: 1 << 20, ..opts() });
    assert!(matches!(r.end, EndState::SetupError { .. }));
}

#[test]
fn missing_key_is_waiting_for_key() {
    let r = run(fixture("hvm-test.img"), &HvmOptions { keys: String::new(), ..opts() });
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}", r.end);
    assert!(r.console.ends_with("KEY "));
}

#[test]
fn report_serialises() {
    let r = run(fixture("hvm-test.img"), &opts());
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["end"]["state"], "halted");
    assert!(j["counters"]["exits_by_port"]["0x01f7"]["reads"].as_u64().unwrap() > 0);
    assert!(r.counters.sim_time_ns > 2_500_000_000, "the boot menu wait is on the clock");
}
