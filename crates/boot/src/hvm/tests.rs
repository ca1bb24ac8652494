//! Unit tests per BIOS service: registers, flags and BDA in and out, on a
//! machine after POST (SeaBIOS contracts, boot-paths.md §1).

use std::sync::Arc;

use disk_image::MemImage;
use x86::{Gpr, SegReg, Segment, flags};

use super::vm::Hvm;
use super::*;

fn machine(memory: u64, keys: &str) -> Hvm {
    let mut disk = vec![0u8; 2048 * 512];
    for (i, s) in disk.chunks_mut(512).enumerate() {
        s[..4].copy_from_slice(&(i as u32).to_le_bytes());
    }
    disk[510] = 0x55;
    disk[511] = 0xAA;
    let opts = HvmOptions { memory, keys: keys.into(), ..HvmOptions::default() };
    let mut h = Hvm::new(Arc::new(MemImage::new(disk, "unit.img")), &opts).unwrap();
    h.post();
    h.cpu.regs = x86::Registers::real_mode(0, 0x7C00);
    h
}

fn call(h: &mut Hvm, vector: u8, ax: u16) {
    h.set16(Gpr::Eax, ax);
    h.service(vector, false);
}

fn cf(h: &Hvm) -> bool {
    h.cpu.regs.eflags & flags::CF != 0
}

#[test]
fn int13_41_edd_check() {
    let mut h = machine(64 << 20, "");
    h.set16(Gpr::Ebx, 0x55AA);
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x4100);
    assert!(!cf(&h));
    assert_eq!((h.hi(Gpr::Eax), h.r16(Gpr::Ebx), h.r16(Gpr::Ecx)), (0x30, 0xAA55, 0x0007));
    // Another drive: EPARAM, status in BDA 0x474 only for hard disks.
    h.set16(Gpr::Edx, 0x0081);
    call(&mut h, 0x13, 0x4100);
    assert!(cf(&h));
    assert_eq!(h.hi(Gpr::Eax), 0x01);
    assert_eq!(h.bus.r8(0x474), 0x01);
    // int 13h AH=01h returns it and clears it.
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x0100);
    assert_eq!(h.hi(Gpr::Eax), 0x01);
    assert!(cf(&h));
}

#[test]
fn int13_08_geometry_and_15() {
    let mut h = machine(64 << 20, "");
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x0800);
    // 2048 sectors, no partition table: 2 cylinders (clamped) x 16 x 63,
    // max cylinder = 2 - 2 = 0.
    assert!(!cf(&h));
    assert_eq!(h.r16(Gpr::Ecx), 0x003F);
    assert_eq!(h.r16(Gpr::Edx), 0x0F01);
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x1500);
    assert_eq!(h.hi(Gpr::Eax), 3);
    assert_eq!(u32::from(h.r16(Gpr::Ecx)) << 16 | u32::from(h.r16(Gpr::Edx)), 16 * 63);
}

#[test]
fn int13_42_reads_and_rejects_past_end() {
    let mut h = machine(64 << 20, "");
    // DAP at 0000:0600: 2 sectors from LBA 7 to 0000:8000.
    h.bus.write_phys(0x600, &[16, 0, 2, 0, 0x00, 0x80, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    h.set16(Gpr::Esi, 0x600);
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x4200);
    assert!(!cf(&h));
    assert_eq!(h.bus.r32(0x8000), 7);
    assert_eq!(h.bus.r32(0x8200), 8);
    assert_eq!(h.bus.r16(0x602), 2);
    // LBA = disk size: SeaBIOS's pre-check, no controller access.
    let before = h.bus.total_exits();
    h.bus.w32(0x608, 2048);
    call(&mut h, 0x13, 0x4200);
    assert!(cf(&h));
    assert_eq!(h.hi(Gpr::Eax), 0x01);
    assert_eq!(h.bus.total_exits(), before);
    // Last sector + 1 more: the controller aborts, SeaBIOS says 0Ch.
    h.bus.w32(0x608, 2047);
    call(&mut h, 0x13, 0x4200);
    assert!(cf(&h));
    assert_eq!(h.hi(Gpr::Eax), 0x0C);
    assert_eq!(h.bus.r8(0x474), 0x0C);
}

#[test]
fn int13_03_write_fails_on_the_read_only_image() {
    let mut h = machine(64 << 20, "");
    h.set16(Gpr::Ebx, 0x8000);
    h.set16(Gpr::Ecx, 0x0001);
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x0301);
    assert!(cf(&h));
    assert_eq!(h.hi(Gpr::Eax), 0x0C);
}

#[test]
fn int13_48_fills_edd_buffer() {
    let mut h = machine(64 << 20, "");
    h.bus.w16(0x700, 66);
    h.set16(Gpr::Esi, 0x700);
    h.set16(Gpr::Edx, 0x0080);
    call(&mut h, 0x13, 0x4800);
    assert!(!cf(&h));
    assert_eq!(h.bus.r16(0x700), 30);
    assert_eq!(h.bus.r16(0x702), 0x02);
    assert_eq!(h.bus.r32(0x710), 2048);
    assert_eq!(h.bus.r16(0x718), 512);
    assert_eq!((h.bus.r16(0x71A), h.bus.r16(0x71C)), (0x0F00, 0xF000), "DPTE F000:0F00");
    assert_eq!(h.bus.r16(0x71E), 0xBEDD);
    assert_eq!(
        &{
            let mut b = [0u8; 8];
            h.bus.read_phys(0x728, &mut b);
            b
        },
        b"ATA     "
    );
    let sum = (30..66).fold(0u8, |a, i| a.wrapping_add(h.bus.r8(0x700 + i)));
    assert_eq!(sum, 0, "EDD 3.0 checksum");
    // Too small.
    h.bus.w16(0x700, 20);
    call(&mut h, 0x13, 0x4800);
    assert!(cf(&h));
}

#[test]
fn int15_memory_functions() {
    let mut h = machine(1 << 30, "");
    call(&mut h, 0x15, 0xE801);
    assert!(!cf(&h));
    assert_eq!((h.r16(Gpr::Eax), h.r16(Gpr::Ebx)), (0x3C00, 0x3F00));
    call(&mut h, 0x15, 0x8800);
    assert_eq!(h.r16(Gpr::Eax), 0xFC00);
    call(&mut h, 0x12, 0);
    assert_eq!(h.r16(Gpr::Eax), 639);
    assert_eq!(h.bus.r16(0x413), 639);
    // E820: 20-byte entries, EBX continuation, 0 after the last.
    let mut seen = Vec::new();
    h.cpu.regs.gpr[Gpr::Ebx as usize] = 0;
    loop {
        h.cpu.regs.gpr[Gpr::Edx as usize] = 0x534D_4150;
        h.cpu.regs.gpr[Gpr::Ecx as usize] = 24;
        h.set16(Gpr::Edi, 0x900);
        call(&mut h, 0x15, 0xE820);
        assert!(!cf(&h));
        assert_eq!(h.cpu.regs.gpr[Gpr::Eax as usize], 0x534D_4150);
        assert_eq!(h.cpu.regs.gpr[Gpr::Ecx as usize], 20);
        seen.push((h.bus.r32(0x900), h.bus.r32(0x908), h.bus.r32(0x910)));
        if h.cpu.regs.gpr[Gpr::Ebx as usize] == 0 {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            (0, 0x9FC00, 1),
            (0x9FC00, 0x400, 2),
            (0xF0000, 0x10000, 2),
            (0x10_0000, (1 << 30) - 0x10_0000, 1),
            (0xFC00_0000, 0x0400_0000, 2)
        ]
    );
    // Bad signature → AH=86h, CF.
    h.cpu.regs.gpr[Gpr::Edx as usize] = 0;
    call(&mut h, 0x15, 0xE820);
    assert!(cf(&h));
    assert_eq!(h.hi(Gpr::Eax), 0x86);
    // Unknown function.
    call(&mut h, 0x15, 0x5F00);
    assert!(cf(&h));
    assert_eq!(h.hi(Gpr::Eax), 0x86);
}

#[test]
fn int15_a20_goes_through_port_92() {
    let mut h = machine(64 << 20, "");
    let before = h.bus.ports[0x92];
    call(&mut h, 0x15, 0x2400);
    assert!(!cf(&h));
    assert!(!x86::Bus::a20_enabled(&h.bus));
    call(&mut h, 0x15, 0x2402);
    assert_eq!(h.lo(Gpr::Eax), 0);
    call(&mut h, 0x15, 0x2401);
    assert!(x86::Bus::a20_enabled(&h.bus));
    let after = h.bus.ports[0x92];
    // 2400: in+out, 2402: in, 2401: in+out.
    assert_eq!((after.reads - before.reads, after.writes - before.writes), (3, 2));
    call(&mut h, 0x15, 0x2403);
    assert_eq!(h.r16(Gpr::Ebx), 3);
    call(&mut h, 0x15, 0xC000);
    assert_eq!(h.cpu.regs.seg[SegReg::Es as usize].selector, 0xF000);
    assert_eq!(h.bus.r8(0xFE6F5 + 2), 0xFC);
}

#[test]
fn int16_keys_and_int1a_ticks() {
    let mut h = machine(64 << 20, "a\\n");
    // `--keys` are typed while the guest waits: a check finds the next key
    // once the guest has polled for 200 ms (four empty 50 ms polls).
    for _ in 0..4 {
        call(&mut h, 0x16, 0x0100);
        assert_ne!(h.cpu.regs.eflags & flags::ZF, 0);
    }
    call(&mut h, 0x16, 0x0100);
    assert_eq!(h.cpu.regs.eflags & flags::ZF, 0);
    assert_eq!(h.r16(Gpr::Eax), 0x1E61);
    call(&mut h, 0x16, 0x0000);
    assert_eq!(h.r16(Gpr::Eax), 0x1E61);
    // A blocking read waits the 200 ms for the next key.
    call(&mut h, 0x16, 0x0000);
    assert_eq!(h.r16(Gpr::Eax), 0x1C0D);
    call(&mut h, 0x16, 0x0100);
    assert_ne!(h.cpu.regs.eflags & flags::ZF, 0);
    call(&mut h, 0x16, 0x0000);
    assert!(matches!(h.bios.end, Some(EndState::WaitingForKey { .. })));
    // On the clock: the boot menu wait (2.5 s), five empty polls (250 ms)
    // and the 200 ms wait for Enter: 2.95 s, 53 ticks of 54.9 ms.
    call(&mut h, 0x1A, 0x0000);
    let ticks = u32::from(h.r16(Gpr::Ecx)) << 16 | u32::from(h.r16(Gpr::Edx));
    assert_eq!(ticks, 53);
    assert!(!cf(&h));
    call(&mut h, 0x1A, 0x0200);
    assert_eq!(h.hi(Gpr::Edx), 0x02, "2 s in BCD");
    call(&mut h, 0x1A, 0x0900);
    assert!(cf(&h));
}

#[test]
fn int10_teletype_cursor_and_mode() {
    let mut h = machine(64 << 20, "");
    let start = h.bios.console.cursor[0];
    call(&mut h, 0x10, 0x0E41);
    assert_eq!(h.bios.console.cursor[0], (start.0, start.1 + 1));
    h.set16(Gpr::Ebx, 0);
    call(&mut h, 0x10, 0x0300);
    assert_eq!(h.r16(Gpr::Edx), u16::from(start.0) << 8 | u16::from(start.1 + 1));
    assert_eq!(h.r16(Gpr::Ecx), 0x0607);
    h.set16(Gpr::Edx, 0x0A05);
    call(&mut h, 0x10, 0x0200);
    assert_eq!(h.bus.r16(0x450), 0x0A05);
    call(&mut h, 0x10, 0x0E42);
    assert_eq!(h.bus.r8(0xB8000 + (10 * 80 + 5) * 2), b'B');
    call(&mut h, 0x10, 0x0F00);
    assert_eq!((h.lo(Gpr::Eax), h.hi(Gpr::Eax), h.hi(Gpr::Ebx)), (3, 80, 0));
    assert!(h.bios.console.transcript.ends_with(b"AB"));
}

#[test]
fn chained_vector_reaches_the_bios() {
    // A guest int 13h handler that chains to the old vector with
    // pushf; call far [old]; iret.
    let mut h = machine(64 << 20, "");
    let old = h.bus.r32(0x13 * 4);
    h.bus.w32(0x500, old);
    h.bus.write_phys(0x7000, &[0x9C, 0xFF, 0x1E, 0x00, 0x05, 0xCF]);
    h.bus.w32(0x13 * 4, 0x0000_7000);
    // Guest: mov ah,41h; mov bx,55AAh; mov dl,80h; int 13h; hlt
    h.bus.write_phys(0x7C00, &[0xB4, 0x41, 0xBB, 0xAA, 0x55, 0xB2, 0x80, 0xCD, 0x13, 0xFA, 0xF4]);
    h.cpu.regs = x86::Registers::real_mode(0, 0x7C00);
    h.cpu.regs.gpr[Gpr::Esp as usize] = 0x7B00;
    h.cpu.regs.seg[SegReg::Ss as usize] = Segment::real(0, false);
    let end = h.run_loop(1000);
    assert!(matches!(end, EndState::Halted { .. }), "{end:?}");
    assert_eq!(h.r16(Gpr::Ebx), 0xAA55);
    assert!(!cf(&h));
    assert_eq!(h.bios.calls.get("int 13h AH=41h"), Some(&1));
}
