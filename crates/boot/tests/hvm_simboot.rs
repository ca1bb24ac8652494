//! simboot, boot-sim's own boot loader (fixtures/bootcode/simboot-*.asm),
//! executed on the interpreter from the MBR to the Linux kernel's 32-bit
//! entry on `hvm-simboot.img`: no loader model anywhere, the entry seen by
//! the 32-bit-entry watch (boot.rst "32-bit boot protocol"), boot_params
//! and the loaded bytes read back from guest memory. Patched copies of the
//! image check simboot's own error paths.

use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, HvmReport, run};
use disk_image::{MemImage, ReadAt};

fn image_bytes() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/hvm-simboot.img");
    std::fs::read(path).unwrap()
}

fn boot(bytes: Vec<u8>, keys: &str) -> HvmReport {
    let image: Arc<dyn ReadAt> = Arc::new(MemImage::new(bytes, "hvm-simboot.img"));
    run(image, &HvmOptions { keys: keys.into(), ..HvmOptions::default() })
}

/// The entry simboot booted, or a panic showing the run.
fn entry(r: &HvmReport) -> (&boot::hvm::Loc, &boot::hvm::KernelEntryInfo) {
    match &r.end {
        EndState::KernelEntry { at, info } => (at, info),
        other => panic!("{other:?}\nscreen:\n{}", r.screen.join("\n")),
    }
}

#[test]
fn the_default_entry_boots_by_execution_to_the_32_bit_entry() {
    let r = boot(image_bytes(), "");
    let (at, info) = entry(&r);
    // Executed, not modelled: no model took over.
    assert_eq!((at.cs, at.linear), (0x10, 0x10_0000));
    assert_eq!(info.entry_title, "boot-sim fixture kernel");
    assert_eq!(info.cmdline, "root=/dev/sda1 ro console=ttyS0");
    assert_eq!(info.kernel, "(hd0,msdos1)/boot/vmlinuz");
    assert_eq!(info.initrd.as_deref(), Some("(hd0,msdos1)/boot/initrd.img"));
    assert_eq!(info.protocol, "2.15");
    // simboot's boot_params at 0x40000, the command line after it, the
    // protected-mode kernel at 1 MiB, the initrd page-aligned below the
    // top of the RAM (1 GiB guest) and initrd_addr_max.
    assert_eq!((info.zero_page, info.cmd_line_ptr, info.kernel_load), (0x4_0000, 0x4_1000, 0x10_0000));
    assert_eq!(info.initrd_size, Some(20000));
    let initrd = info.initrd_addr.unwrap();
    assert_eq!(initrd % 4096, 0);
    assert!(initrd + 20000 <= 1 << 30 && initrd + 20000 > (1 << 30) - 8192, "{initrd:#x}");
    // boot.rst: flat __BOOT_CS/__BOOT_DS, ESI = boot_params, interrupts off.
    let g = &info.regs;
    assert_eq!(g.mode, "protected32");
    assert_eq!((g.cs, g.ds, g.es, g.ss), (0x10, 0x18, 0x18, 0x18));
    assert_eq!(g.esi, Some(0x4_0000));
    assert!(!g.interrupts);
    // Every byte of both files as the disk holds them.
    assert_eq!(info.checks.len(), 2, "{:?}", info.checks);
    assert!(info.checks.iter().all(|c| c.ok), "{:?}", info.checks);
    // type_of_loader 0xFF: no assigned id (boot.rst); the banner names it.
    assert_eq!(info.loader, "simboot 1.0");
    // Explained from what executed: the reads of both files, a phase for
    // each load, the countdown, and the menus module's prediction from the
    // same menu.lst agreeing with the execution.
    for (role, path) in [("kernel", "/boot/vmlinuz"), ("initrd", "/boot/initrd.img")] {
        let read = r.disk_reads.iter().find(|d| d.role.as_deref() == Some(role)).expect(role);
        assert!(matches!(&read.owner, disk_image::owners::Owner::File { path: p, .. } if p == path), "{read:?}");
    }
    let names: Vec<&str> = r.phases.iter().map(|p| p.name.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("the loader waits for a key (100 empty polls, 5.0 s")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("load the kernel (hd0,msdos1)/boot/vmlinuz")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("load the initrd (hd0,msdos1)/boot/initrd.img")), "{names:?}");
    let p = r.prediction.as_ref().expect("a prediction from menu.lst");
    assert_eq!((p.entry_title.as_str(), p.agrees), ("boot-sim fixture kernel", Some(true)), "{p:?}");
}

#[test]
fn the_menu_is_drawn_and_counts_down() {
    let r = boot(image_bytes(), "");
    entry(&r);
    let screen = r.screen.join("\n");
    for line in [
        "simboot 1.0 (boot-sim's own boot loader)",
        "  > boot-sim fixture kernel",
        "    boot-sim fixture kernel (xz, single user)",
        "    Not a kernel (memtest stand-in)",
        "  Booting 'boot-sim fixture kernel'",
        "  Loading the kernel: 932 bytes at 0x00100000",
        "  Starting the kernel at its 32-bit entry 0x00100000",
    ] {
        assert!(r.screen.iter().any(|l| l.trim_end() == line), "missing {line:?} in:\n{screen}");
    }
    // The 5 s countdown ran on the BIOS clock (int 1Ah) down to 1.
    for s in 1..=5 {
        assert!(r.console.contains(&format!("booted automatically in {s} s.")), "{}", r.console);
    }
    assert!(r.counters.bios_calls.keys().any(|k| k.starts_with("int 1Ah")));
}

#[test]
fn down_then_enter_boots_the_second_entry() {
    let r = boot(image_bytes(), "{down}\n");
    let (_, info) = entry(&r);
    assert_eq!(info.entry_title, "boot-sim fixture kernel (xz, single user)");
    assert_eq!(info.cmdline, "root=/dev/sda1 ro single");
    assert_eq!(info.kernel, "(hd0,msdos1)/boot/vmlinuz-xz");
    assert_eq!(info.initrd.as_deref(), Some("(hd0,msdos1)/boot/initrd-small.img"));
    assert!(info.checks.iter().all(|c| c.ok), "{:?}", info.checks);
    assert!(r.screen.iter().any(|l| l.trim_end() == "  > boot-sim fixture kernel (xz, single user)"));
    // A key stopped the countdown at 5.
    assert!(!r.console.contains("automatically in 4 s."));
    // The menus module predicts the default entry; the execution, which a
    // key moved, is the result and the report names each difference.
    let p = r.prediction.as_ref().expect("a prediction from menu.lst");
    assert_eq!(p.agrees, Some(false), "{p:?}");
    assert!(p.differences.iter().any(|d| d.starts_with("entry: predicted 'boot-sim fixture kernel'")), "{p:?}");
    assert!(p.differences.iter().any(|d| d.starts_with("kernel: predicted (hd0,0)/boot/vmlinuz,")), "{p:?}");
}

#[test]
fn a_key_stops_the_countdown_and_simboot_waits() {
    let r = boot(image_bytes(), "x");
    assert!(matches!(r.end, EndState::WaitingForKey { .. }), "{:?}", r.end);
}

fn halted_with(r: &HvmReport, message: &str) {
    assert!(matches!(r.end, EndState::Halted { .. }), "{:?}\n{}", r.end, r.screen.join("\n"));
    assert!(r.screen.iter().any(|l| l.trim_end() == message), "missing {message:?} in:\n{}", r.screen.join("\n"));
}

#[test]
fn a_file_without_hdrs_stops_simboot_with_its_message() {
    let r = boot(image_bytes(), "{down}{down}\n");
    halted_with(&r, "simboot: error: not a Linux kernel (no HdrS setup header): /boot/memtest.bin");
}

/// Offset of the map in the image: stage 2 (LBA 1) names its LBA at
/// offset 12, where the installer wrote it.
fn map_offset(img: &[u8]) -> usize {
    let lba = u64::from_le_bytes(img[512 + 12..512 + 20].try_into().unwrap());
    let at = lba as usize * 512;
    assert_eq!(&img[at..at + 8], b"SIMBOOTM");
    at
}

#[test]
fn a_damaged_map_is_refused() {
    let mut img = image_bytes();
    let map = map_offset(&img);
    img[map + 512] ^= 0x20; // entry 0's title: the checksum no longer holds
    halted_with(&boot(img, ""), "simboot: error: bad map: checksum mismatch");
}

#[test]
fn extents_shorter_than_the_file_are_an_error_not_a_short_load() {
    let mut img = image_bytes();
    let map = map_offset(&img);
    // Entry 0's kernel: say one extent fewer, keep the checksum.
    let at = map + 512 + 330;
    let count = u16::from_le_bytes([img[at], img[at + 1]]);
    assert!(count >= 1);
    img[at..at + 2].copy_from_slice(&(count - 1).to_le_bytes());
    let adj = map + 18;
    let old = u16::from_le_bytes([img[adj], img[adj + 1]]);
    img[adj..adj + 2].copy_from_slice(&old.wrapping_add(1).to_le_bytes());
    halted_with(&boot(img, ""), "simboot: error: the map's sectors end before the file does: /boot/vmlinuz");
}

/// Byte offset in the image of entry `entry`'s kernel file, from its first
/// extent in the map (3 entries: the extent table is the map's 5th sector).
fn kernel_offset(img: &[u8], entry: usize) -> usize {
    let map = map_offset(img);
    let e = map + 512 * (1 + entry);
    let first = usize::from(u16::from_le_bytes([img[e + 328], img[e + 329]]));
    let ext = map + 512 * 4 + 8 * first;
    u32::from_le_bytes(img[ext..ext + 4].try_into().unwrap()) as usize * 512
}

#[test]
fn init_size_from_the_runtime_start_must_fit_in_ram() {
    let mut img = image_bytes();
    let k = kernel_offset(&img, 0);
    assert_eq!(&img[k + 0x202..k + 0x206], b"HdrS");
    // A relocatable 2.15 kernel: runtime start align_up(1 MiB, 2 MiB) =
    // 2 MiB; init_size 1 GiB - 1 MiB then ends 1 MiB past the 1 GiB guest.
    img[k + 0x260..k + 0x264].copy_from_slice(&((1u32 << 30) - (1 << 20)).to_le_bytes());
    halted_with(&boot(img.clone(), ""), "simboot: error: the kernel does not fit in the RAM at 1 MiB: /boot/vmlinuz");
    // 2 MiB less and it fits (the initrd then goes above it).
    img[k + 0x260..k + 0x264].copy_from_slice(&((1u32 << 30) - (4 << 20)).to_le_bytes());
    let r = boot(img, "");
    let (_, info) = entry(&r);
    assert!(info.initrd_addr.unwrap() >= (1 << 30) - (2 << 20), "{:#x?}", info.initrd_addr);
}

#[test]
fn a_protocol_older_than_2_02_is_refused() {
    let mut img = image_bytes();
    let k = kernel_offset(&img, 0);
    img[k + 0x206..k + 0x208].copy_from_slice(&0x0201u16.to_le_bytes());
    halted_with(&boot(img, ""), "simboot: error: boot protocol 0x00000201 is before 2.02: /boot/vmlinuz");
}

#[test]
fn a_read_past_the_disk_is_an_error_with_its_lba() {
    let mut img = image_bytes();
    let map = map_offset(&img);
    // Entry 0's first kernel extent: LBA 100000 on a 6144-sector disk.
    let first = usize::from(u16::from_le_bytes([img[map + 512 + 328], img[map + 512 + 329]]));
    let ext = map + 512 * 4 + 8 * first;
    img[ext..ext + 4].copy_from_slice(&100_000u32.to_le_bytes());
    fix_checksum(&mut img, map);
    let r = boot(img, "");
    assert!(matches!(r.end, EndState::Halted { .. }), "{:?}", r.end);
    let line =
        r.screen.iter().find(|l| l.starts_with("simboot: error: disk read error")).expect("simboot's read error");
    assert!(line.trim_end().ends_with(") at LBA 100000"), "{line}");
}

#[test]
fn an_mbr_without_stage_2_says_so() {
    let mut img = image_bytes();
    img[0x1A6..0x1A8].copy_from_slice(&[0, 0]);
    halted_with(&boot(img, ""), "simboot: stage 2 not installed");
}

/// Sets the map's checksum word (offset 18) so its 16-bit words sum to 0
/// again, so simboot's later checks see the bytes, not just the checksum.
fn fix_checksum(img: &mut [u8], map: usize) {
    let sectors = usize::from(u16::from_le_bytes([img[512 + 20], img[512 + 21]]));
    img[map + 18..map + 20].copy_from_slice(&[0, 0]);
    let sum = img[map..map + sectors * 512]
        .chunks_exact(2)
        .fold(0u16, |s, w| s.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
    img[map + 18..map + 20].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Whatever the map says (bytes changed anywhere in it, the checksum
    /// made to hold), simboot boots an entry, waits for a key or halts with
    /// its own "simboot: error:" line: never a fault, a runaway or the cap.
    #[test]
    fn any_map_ends_in_a_boot_or_simboots_error(
        edits in proptest::collection::vec((0usize..5 * 512, proptest::num::u8::ANY), 1..8),
        keys in proptest::sample::select(vec!["", "{down}\n", "{down}{down}\n", "{up}\n"]),
    ) {
        let mut img = image_bytes();
        let map = map_offset(&img);
        for (at, b) in edits {
            img[map + at] = b;
        }
        fix_checksum(&mut img, map);
        let r = boot(img, keys);
        match &r.end {
            EndState::KernelEntry { .. } | EndState::WaitingForKey { .. } => {}
            EndState::Halted { .. } => proptest::prop_assert!(
                r.console.contains("simboot: error: "),
                "halted without simboot's message: {}", r.console
            ),
            other => proptest::prop_assert!(false, "{other:?}\n{}", r.screen.join("\n")),
        }
    }
}
