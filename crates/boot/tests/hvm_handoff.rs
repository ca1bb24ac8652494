//! Hand-off detection on boot code that loads its next stage the way real
//! GRUB does: through a buffer at 7000:0000, copied to the load address.
//! Regression: boot-sim watched `buffer + 0x200` (0x70200), which GRUB 0.97
//! stage1 + start.S and GRUB 2 boot.img + diskboot.S never execute, so the
//! hand-off never fired on real code (found by tests/interop_hvm.rs with
//! Debian's stage1/e2fs_stage1_5 and boot.img/core.img).

use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, run};
use disk_image::MemImage;

/// MBR: int 13h AH=42h of LBA 1..=2 to 7000:0000, copies 1 KiB to
/// 0000:2000 and jumps there (what GRUB 0.97 stage1 does with
/// stage2_segment 0x200). LBA 1: a start sector that names "Loading
/// stage1.5", has its blocklist segment 0x220 at 0x1FE and jumps to
/// 0000:2200 (start.S's `ljmp $0, $0x2200`). LBA 2: `cli; hlt`.
fn disk(start_segment: u16, jump_to: u16) -> Arc<MemImage> {
    let mut d = vec![0u8; 64 * 512];
    let mbr: [u8; 41] = [
        0x31, 0xC0, 0x8E, 0xD8, 0x8E, 0xD0, 0xBC, 0x00, 0x7C, // xor ax,ax; mov ds,ax; mov ss,ax; mov sp,7C00
        0xB4, 0x42, 0xBE, 0x80, 0x7C, 0xCD, 0x13, // mov ah,42h; mov si,7C80h; int 13h
        0xB8, 0x00, 0x70, 0x8E, 0xD8, 0x31, 0xF6, // mov ax,7000h; mov ds,ax; xor si,si
        0x31, 0xC0, 0x8E, 0xC0, 0xBF, 0x00, 0x20, // xor ax,ax; mov es,ax; mov di,2000h
        0xB9, 0x00, 0x02, 0xFC, 0xF3, 0xA5, // mov cx,200h; cld; rep movsw
        0xEA, 0x00, 0x20, 0x00, 0x00, // jmp 0000:2000
    ];
    d[..mbr.len()].copy_from_slice(&mbr);
    // Disk address packet: 16 bytes, 2 sectors, to 7000:0000, LBA 1.
    d[0x80..0x90].copy_from_slice(&[0x10, 0, 2, 0, 0, 0, 0, 0x70, 1, 0, 0, 0, 0, 0, 0, 0]);
    d[510] = 0x55;
    d[511] = 0xAA;
    let start = &mut d[512..1024];
    start[..5].copy_from_slice(&[0xEA, jump_to as u8, (jump_to >> 8) as u8, 0, 0]);
    start[0x20..0x31].copy_from_slice(b"Loading stage1.5\0");
    start[0x1FE..].copy_from_slice(&start_segment.to_le_bytes());
    d[1024..1026].copy_from_slice(&[0xFA, 0xF4]);
    Arc::new(MemImage::new(d, "handoff.img"))
}

fn opts() -> HvmOptions {
    HvmOptions { memory: 16 << 20, max_instructions: 100_000, ..HvmOptions::default() }
}

#[test]
fn handoff_fires_where_the_start_sector_jumps_not_at_the_read_buffer() {
    let r = run(disk(0x220, 0x2200), &opts());
    match &r.end {
        EndState::HandOff { at, stage, loaded_from_lba, loaded_at, .. } => {
            assert_eq!((at.cs, at.ip, at.linear), (0, 0x2200, 0x2200));
            assert_eq!(stage, "GRUB legacy stage1.5");
            assert_eq!((*loaded_from_lba, *loaded_at), (1, 0x2000));
        }
        other => panic!("{other:?}"),
    }
    // The BIOS wrote the sectors to the buffer.
    assert_eq!(r.stages.len(), 1);
    assert_eq!(r.stages[0].address, 0x70000);
}

#[test]
fn without_handoff_the_body_runs() {
    let r = run(disk(0x220, 0x2200), &HvmOptions { stop_at_handoff: false, ..opts() });
    assert!(matches!(r.end, EndState::Halted { .. }), "{}", r.reason);
}

#[test]
fn a_start_sector_that_jumps_elsewhere_is_no_handoff() {
    // The start sector jumps to 0000:2400 (the body is not there: zeros,
    // `add [bx+si],al` … until the cap). No hand-off is claimed.
    let r = run(disk(0x220, 0x2400), &opts());
    assert!(!matches!(r.end, EndState::HandOff { .. }), "{}", r.reason);
}
