//! Loader stages are recognised by their bytes where the BIOS put them, for
//! the report's stages and phases only: the stage's own code then runs like
//! any other. Boot code here loads its next stage the way real GRUB does,
//! through a buffer at 7000:0000 copied to the load address. (Regression:
//! boot-sim once watched `buffer + 0x200` (0x70200), which GRUB 0.97 stage1
//! + start.S and GRUB 2 boot.img + diskboot.S never execute.)

use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, run};
use disk_image::MemImage;

/// MBR: int 13h AH=42h of LBA 1..=2 to 7000:0000, copies 1 KiB to
/// 0000:2000 and jumps there (what GRUB 0.97 stage1 does with
/// stage2_segment 0x200). LBA 1: a start sector that names "Loading
/// stage1.5", has its blocklist segment 0x220 at 0x1FE and jumps to
/// 0000:2200 (start.S's `ljmp $0, $0x2200`). LBA 2: `cli; hlt`.
fn disk() -> Arc<MemImage> {
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
    start[..5].copy_from_slice(&[0xEA, 0x00, 0x22, 0, 0]);
    start[0x20..0x31].copy_from_slice(b"Loading stage1.5\0");
    start[0x1FE..].copy_from_slice(&0x220u16.to_le_bytes());
    d[1024..1026].copy_from_slice(&[0xFA, 0xF4]);
    Arc::new(MemImage::new(d, "handoff.img"))
}

fn opts() -> HvmOptions {
    HvmOptions { memory: 16 << 20, max_instructions: 100_000, ..HvmOptions::default() }
}

#[test]
fn a_recognised_stage_is_named_and_its_code_runs() {
    let r = run(disk(), &opts());
    // The body at 0000:2200 (`cli; hlt`) ran: nothing stopped at the stage.
    match &r.end {
        EndState::Halted { at } => assert_eq!((at.cs, at.linear), (0, 0x2202)),
        other => panic!("{other:?}"),
    }
    // The BIOS wrote the sectors to the buffer, where the stage was seen.
    assert_eq!(r.stages.len(), 1);
    assert_eq!(
        (r.stages[0].stage.as_str(), r.stages[0].lba, r.stages[0].address),
        ("GRUB legacy stage1.5", 1, 0x70000)
    );
    assert!(r.phases.iter().any(|p| p.name == "GRUB legacy stage1.5: start sector"), "{:?}", r.phases);
}
