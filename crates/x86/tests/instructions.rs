//! Per-instruction-group semantics with exact results and flags, property
//! tests of the flag arithmetic against an independent bit-by-bit
//! reference, and "random bytes as code never panic".

use proptest::prelude::*;
use x86::arith::{self, RotKind, ShiftKind};
use x86::flags::{AF, CF, DF, IF, OF, PF, SF, ZF};
use x86::{Cpu, Exit, Gpr, RamBus, SegReg, Segment};

const ARITH: u32 = CF | PF | AF | ZF | SF | OF;

/// Runs `code` at 0000:7C00 (it must end in `hlt`) after `setup`.
fn run(code: &[u8], setup: impl FnOnce(&mut Cpu, &mut RamBus)) -> (Cpu, RamBus) {
    let mut bus = RamBus::new(2 << 20);
    bus.load(0x7C00, code);
    let mut cpu = Cpu::new(0, 0x7C00);
    cpu.regs.gpr[Gpr::Esp as usize] = 0x7000;
    setup(&mut cpu, &mut bus);
    assert_eq!(cpu.run(&mut bus, 100_000), Ok(Exit::Halt));
    (cpu, bus)
}

fn r(cpu: &Cpu, g: Gpr) -> u32 {
    cpu.regs.gpr[g as usize]
}

fn flags(cpu: &Cpu) -> u32 {
    cpu.regs.eflags & ARITH
}

// ---- arithmetic ----

#[test]
fn add_adc_sub_sbb_cmp_executed() {
    // add al,bl ; hlt  with al=0xFF bl=1
    let (c, _) = run(&[0x00, 0xD8, 0xF4], |c, _| {
        c.regs.gpr[0] = 0xFF;
        c.regs.gpr[3] = 1;
    });
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0, CF | ZF | AF | PF));
    // stc ; adc ax,0x7fff ; hlt with ax=0 -> 0x8000, OF SF AF, PF (0x00 low byte)
    let (c, _) = run(&[0xF9, 0x15, 0xFF, 0x7F, 0xF4], |_, _| {});
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0x8000, OF | SF | AF | PF));
    // sub eax,ebx (66 29 D8) with 1-2 -> 0xFFFFFFFF CF SF AF PF
    let (c, _) = run(&[0x66, 0x29, 0xD8, 0xF4], |c, _| {
        c.regs.gpr[0] = 1;
        c.regs.gpr[3] = 2;
    });
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0xFFFF_FFFF, CF | SF | AF | PF));
    // stc ; sbb al,1 with al=1 -> 0xFF
    let (c, _) = run(&[0xF9, 0x1C, 0x01, 0xF4], |c, _| c.regs.gpr[0] = 1);
    assert_eq!((r(&c, Gpr::Eax) & 0xFF, flags(&c)), (0xFF, CF | SF | AF | PF));
    // cmp word [0x500],0x1234 (81 3E 00 05 34 12): equal -> ZF PF, memory unchanged
    let (c, b) = run(&[0x81, 0x3E, 0x00, 0x05, 0x34, 0x12, 0xF4], |_, b| b.load(0x500, &[0x34, 0x12]));
    assert_eq!(flags(&c), ZF | PF);
    assert_eq!(b.ram[0x500..0x502], [0x34, 0x12]);
    // add word [bx+si+2],-1 (83 40 02 FF) with mem=1 -> 0, CF ZF AF PF
    let (c, b) = run(&[0x83, 0x40, 0x02, 0xFF, 0xF4], |c, b| {
        c.regs.gpr[3] = 0x500;
        c.regs.gpr[6] = 0x10;
        b.load(0x512, &[1, 0]);
    });
    assert_eq!(flags(&c), CF | ZF | AF | PF);
    assert_eq!(b.ram[0x512..0x514], [0, 0]);
}

#[test]
fn inc_dec_keep_cf_neg_not() {
    // stc ; inc al (FE C0) with al=0x7F -> 0x80 OF SF AF, CF kept
    let (c, _) = run(&[0xF9, 0xFE, 0xC0, 0xF4], |c, _| c.regs.gpr[0] = 0x7F);
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0x80, CF | OF | SF | AF));
    // clc ; dec cx (49) with cx=0 -> 0xFFFF, CF still clear
    let (c, _) = run(&[0xF8, 0x49, 0xF4], |_, _| {});
    assert_eq!((r(&c, Gpr::Ecx), flags(&c)), (0xFFFF, SF | AF | PF));
    // neg ax (F7 D8) with 1 -> 0xFFFF CF SF AF PF ; neg of 0 clears CF
    let (c, _) = run(&[0xF7, 0xD8, 0xF4], |c, _| c.regs.gpr[0] = 1);
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0xFFFF, CF | SF | AF | PF));
    let (c, _) = run(&[0xF9, 0xF7, 0xD8, 0xF4], |_, _| {});
    assert_eq!(flags(&c), ZF | PF);
    // not bl (F6 D3): flags untouched
    let (c, _) = run(&[0xF9, 0xF6, 0xD3, 0xF4], |c, _| c.regs.gpr[3] = 0x0F);
    assert_eq!((r(&c, Gpr::Ebx), flags(&c)), (0xF0, CF));
}

#[test]
fn logic_clears_cf_of() {
    // stc ; and al,0x0f (24 0F) with al=0xF0 -> 0 ZF PF
    let (c, _) = run(&[0xF9, 0x24, 0x0F, 0xF4], |c, _| c.regs.gpr[0] = 0xF0);
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0, ZF | PF));
    // or eax,0x80000000 (66 0D 00 00 00 80) -> SF, PF(low byte 0)
    let (c, _) = run(&[0x66, 0x0D, 0x00, 0x00, 0x00, 0x80, 0xF4], |_, _| {});
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0x8000_0000, SF | PF));
    // xor ax,ax ; test with 1 bit set: test al,1 (A8 01) with al=1 -> 0 flags
    let (c, _) = run(&[0xA8, 0x01, 0xF4], |c, _| c.regs.gpr[0] = 1);
    assert_eq!(flags(&c), 0);
}

#[test]
fn mul_imul_div_idiv_all_forms() {
    // mul bl (F6 E3): al=0x80 bl=2 -> ax=0x100, CF OF
    let (c, _) = run(&[0xF6, 0xE3, 0xF4], |c, _| {
        c.regs.gpr[0] = 0x80;
        c.regs.gpr[3] = 2;
    });
    assert_eq!(r(&c, Gpr::Eax), 0x100);
    assert_eq!(flags(&c) & (CF | OF), CF | OF);
    // mul ecx (66 F7 E1): eax=0x80000000 ecx=4 -> edx:eax = 2:0
    let (c, _) = run(&[0x66, 0xF7, 0xE1, 0xF4], |c, _| {
        c.regs.gpr[0] = 0x8000_0000;
        c.regs.gpr[1] = 4;
    });
    assert_eq!((r(&c, Gpr::Edx), r(&c, Gpr::Eax)), (2, 0));
    // mulw: mul cx (F7 E1) 0xFFFF*0xFFFF = 0xFFFE0001
    let (c, _) = run(&[0xF7, 0xE1, 0xF4], |c, _| {
        c.regs.gpr[0] = 0xFFFF;
        c.regs.gpr[1] = 0xFFFF;
    });
    assert_eq!((r(&c, Gpr::Edx), r(&c, Gpr::Eax)), (0xFFFE, 0x0001));
    // imul bl (F6 EB): al=-2 bl=3 -> ax=-6, no overflow
    let (c, _) = run(&[0xF6, 0xEB, 0xF4], |c, _| {
        c.regs.gpr[0] = 0xFE;
        c.regs.gpr[3] = 3;
    });
    assert_eq!(r(&c, Gpr::Eax), 0xFFFA);
    assert_eq!(flags(&c) & (CF | OF), 0);
    // imul ax,bx (0F AF C3): 0x4000*4 overflows 16 bits
    let (c, _) = run(&[0x0F, 0xAF, 0xC3, 0xF4], |c, _| {
        c.regs.gpr[0] = 0x4000;
        c.regs.gpr[3] = 4;
    });
    assert_eq!(r(&c, Gpr::Eax), 0);
    assert_eq!(flags(&c) & (CF | OF), CF | OF);
    // imul eax,ebx,-3 (66 6B C3 FD): ebx=5 -> -15
    let (c, _) = run(&[0x66, 0x6B, 0xC3, 0xFD, 0xF4], |c, _| c.regs.gpr[3] = 5);
    assert_eq!(r(&c, Gpr::Eax), (-15i32) as u32);
    // divl as GRUB stage1 uses: div ebx (66 F7 F3) edx:eax=0x1_00000005 / 0x10
    let (c, _) = run(&[0x66, 0xF7, 0xF3, 0xF4], |c, _| {
        c.regs.gpr[2] = 1;
        c.regs.gpr[0] = 5;
        c.regs.gpr[3] = 0x10;
    });
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Edx)), (0x1000_0000, 5));
    // div bl (F6 F3): ax=1000 / 7 = 142 r 6
    let (c, _) = run(&[0xF6, 0xF3, 0xF4], |c, _| {
        c.regs.gpr[0] = 1000;
        c.regs.gpr[3] = 7;
    });
    assert_eq!(r(&c, Gpr::Eax), 6 << 8 | 142);
    // idiv cx (F7 F9): dx:ax=-7 / 2 = -3 r -1
    let (c, _) = run(&[0xF7, 0xF9, 0xF4], |c, _| {
        c.regs.gpr[2] = 0xFFFF;
        c.regs.gpr[0] = 0xFFF9;
        c.regs.gpr[1] = 2;
    });
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Edx)), (0xFFFD, 0xFFFF));
}

#[test]
fn divide_overflow_raises_de() {
    // div bl with ax=0x1000, bl=1: quotient 0x1000 does not fit in AL -> #DE
    // IVT[0] -> 0000:0600 (hlt)
    let mut bus = RamBus::new(1 << 20);
    bus.load(0x7C00, &[0xF6, 0xF3, 0xF4]);
    bus.load(0, &[0x00, 0x06, 0x00, 0x00]);
    bus.load(0x600, &[0xF4]);
    let mut cpu = Cpu::new(0, 0x7C00);
    cpu.regs.gpr[0] = 0x1000;
    cpu.regs.gpr[3] = 1;
    cpu.regs.gpr[4] = 0x7000;
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(cpu.regs.eip, 0x601);
    // idiv of i32::MIN by -1 in 32 bits overflows too (not a Rust panic).
    let mut bus = RamBus::new(1 << 20);
    bus.load(0x7C00, &[0x66, 0xF7, 0xF9, 0xF4]);
    bus.load(0, &[0x00, 0x06, 0x00, 0x00]);
    bus.load(0x600, &[0xF4]);
    let mut cpu = Cpu::new(0, 0x7C00);
    cpu.regs.gpr[2] = 0xFFFF_FFFF;
    cpu.regs.gpr[0] = 0x8000_0000;
    cpu.regs.gpr[1] = 0xFFFF_FFFF;
    cpu.regs.gpr[4] = 0x7000;
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(cpu.regs.eip, 0x601);
}

#[test]
fn shifts_rotates_double_shifts_executed() {
    // shl ax,cl (D3 E0) cl=4 ax=0x1234 -> 0x2340, CF=1 (bit 12)
    let (c, _) = run(&[0xD3, 0xE0, 0xF4], |c, _| {
        c.regs.gpr[0] = 0x1234;
        c.regs.gpr[1] = 4;
    });
    assert_eq!(r(&c, Gpr::Eax), 0x2340);
    assert_eq!(flags(&c) & CF, CF);
    // shll $2,%eax as 66 C1 E0 02
    let (c, _) = run(&[0x66, 0xC1, 0xE0, 0x02, 0xF4], |c, _| c.regs.gpr[0] = 0x4000_0001);
    assert_eq!(r(&c, Gpr::Eax), 4);
    // sar bl,1 (D0 FB) 0x81 -> 0xC0, CF=1
    let (c, _) = run(&[0xD0, 0xFB, 0xF4], |c, _| c.regs.gpr[3] = 0x81);
    assert_eq!((r(&c, Gpr::Ebx), flags(&c) & (CF | OF | SF)), (0xC0, CF | SF));
    // rol al,cl with cl=0: nothing changes (stc kept)
    let (c, _) = run(&[0xF9, 0xD2, 0xC0, 0xF4], |c, _| c.regs.gpr[0] = 0x81);
    assert_eq!((r(&c, Gpr::Eax), flags(&c)), (0x81, CF));
    // rcr ax,1 (D1 D8) with CF=1 ax=2 -> 0x8001, CF=0
    let (c, _) = run(&[0xF9, 0xD1, 0xD8, 0xF4], |c, _| c.regs.gpr[0] = 2);
    assert_eq!((r(&c, Gpr::Eax), flags(&c) & CF), (0x8001, 0));
    // shld eax,edx,8 (66 0F A4 D0 08)
    let (c, _) = run(&[0x66, 0x0F, 0xA4, 0xD0, 0x08, 0xF4], |c, _| {
        c.regs.gpr[0] = 0x1122_3344;
        c.regs.gpr[2] = 0xAABB_CCDD;
    });
    assert_eq!(r(&c, Gpr::Eax), 0x2233_44AA);
    // shrd ax,dx,cl (0F AD D0) cl=4: ax=0x1234 dx=0xABCD -> 0xD123
    let (c, _) = run(&[0x0F, 0xAD, 0xD0, 0xF4], |c, _| {
        c.regs.gpr[0] = 0x1234;
        c.regs.gpr[2] = 0xABCD;
        c.regs.gpr[1] = 4;
    });
    assert_eq!(r(&c, Gpr::Eax), 0xD123);
}

#[test]
fn bit_tests_and_scans() {
    // bts ax,3 (0F BA E8 03) ax=0 -> 8, CF=0
    let (c, _) = run(&[0x0F, 0xBA, 0xE8, 0x03, 0xF4], |_, _| {});
    assert_eq!((r(&c, Gpr::Eax), flags(&c) & CF), (8, 0));
    // bt [0x500],bx with bx=17 (0F A3 1E 00 05): bit 1 of byte 0x502
    let (c, _) = run(&[0x0F, 0xA3, 0x1E, 0x00, 0x05, 0xF4], |c, b| {
        c.regs.gpr[3] = 17;
        b.load(0x502, &[0x02]);
    });
    assert_eq!(flags(&c) & CF, CF);
    // btr with a negative register offset reaches below the operand: bx=-1
    // -> bit 15 of the word at 0x4FE.
    let (c, b) = run(&[0x0F, 0xB3, 0x1E, 0x00, 0x05, 0xF4], |c, b| {
        c.regs.gpr[3] = 0xFFFF;
        b.load(0x4FE, &[0x00, 0x80]);
    });
    assert_eq!(flags(&c) & CF, CF);
    assert_eq!(b.ram[0x4FF], 0);
    // bsf ax,bx (0F BC C3) bx=0x0100 -> 8; bsr eax,ebx (66 0F BD C3) -> 31
    let (c, _) = run(&[0x0F, 0xBC, 0xC3, 0xF4], |c, _| c.regs.gpr[3] = 0x0100);
    assert_eq!((r(&c, Gpr::Eax), flags(&c) & ZF), (8, 0));
    let (c, _) = run(&[0x66, 0x0F, 0xBD, 0xC3, 0xF4], |c, _| c.regs.gpr[3] = 0x8000_0001);
    assert_eq!(r(&c, Gpr::Eax), 31);
    // bsf with source 0: ZF=1, destination unchanged
    let (c, _) = run(&[0x0F, 0xBC, 0xC3, 0xF4], |c, _| c.regs.gpr[0] = 0x77);
    assert_eq!((r(&c, Gpr::Eax), flags(&c) & ZF), (0x77, ZF));
}

#[test]
fn moves_and_conversions() {
    // movzx eax,byte [0x500] (66 0F B6 06 00 05) ; movsx bx,byte [0x500] (0F BE 1E 00 05)
    let (c, _) = run(&[0x66, 0x0F, 0xB6, 0x06, 0x00, 0x05, 0x0F, 0xBE, 0x1E, 0x00, 0x05, 0xF4], |c, b| {
        c.regs.gpr[0] = 0xFFFF_FFFF;
        b.load(0x500, &[0x80]);
    });
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Ebx)), (0x80, 0xFF80));
    // lea si,[bx+di+0x10] (8D 71 10) wraps at 16 bits
    let (c, _) = run(&[0x8D, 0x71, 0x10, 0xF4], |c, _| {
        c.regs.gpr[3] = 0xFFF8;
        c.regs.gpr[7] = 0x0004;
    });
    assert_eq!(r(&c, Gpr::Esi), 0x000C);
    // xchg ax,bx (93); cbw (98); cwd (99); cwde (66 98); cdq (66 99)
    let (c, _) = run(&[0x93, 0xF4], |c, _| {
        c.regs.gpr[0] = 1;
        c.regs.gpr[3] = 2;
    });
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Ebx)), (2, 1));
    let (c, _) = run(&[0x98, 0x99, 0xF4], |c, _| c.regs.gpr[0] = 0x80);
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Edx)), (0xFF80, 0xFFFF));
    let (c, _) = run(&[0x66, 0x98, 0x66, 0x99, 0xF4], |c, _| c.regs.gpr[0] = 0x8000);
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Edx)), (0xFFFF_8000, 0xFFFF_FFFF));
    // xlat (D7): al = [bx+al]
    let (c, _) = run(&[0xD7, 0xF4], |c, b| {
        c.regs.gpr[3] = 0x500;
        c.regs.gpr[0] = 3;
        b.load(0x503, &[0x99]);
    });
    assert_eq!(r(&c, Gpr::Eax), 0x99);
    // mov al,[moffs] as stage1's `.byte 0xa0`: A0 00 05
    let (c, _) = run(&[0xA0, 0x00, 0x05, 0xF4], |_, b| b.load(0x500, &[0x42]));
    assert_eq!(r(&c, Gpr::Eax), 0x42);
    // bswap eax (66 0F C8)
    let (c, _) = run(&[0x66, 0x0F, 0xC8, 0xF4], |c, _| c.regs.gpr[0] = 0x1122_3344);
    assert_eq!(r(&c, Gpr::Eax), 0x4433_2211);
    // xadd [0x500],ax (0F C1 06 00 05); cmpxchg [0x502],bx (0F B1 1E 02 05)
    let (c, b) = run(&[0x0F, 0xC1, 0x06, 0x00, 0x05, 0x0F, 0xB1, 0x1E, 0x02, 0x05, 0xF4], |c, b| {
        c.regs.gpr[0] = 5;
        c.regs.gpr[3] = 0x77;
        b.load(0x500, &[10, 0, 0x0F, 0]);
    });
    // xadd: [0x500]=15, ax=10; cmpxchg: ax(10)!=0x0F -> ax=0x0F, ZF=0
    assert_eq!(b.ram[0x500], 15);
    assert_eq!(r(&c, Gpr::Eax), 0x0F);
    assert_eq!(flags(&c) & ZF, 0);
}

#[test]
fn setcc_cmovcc_jcc_loops() {
    // cmp ax,bx ; setl cl ; setb dl ; cmovg si,ax ; hlt  with ax=-1 bx=1
    let (c, _) = run(&[0x39, 0xD8, 0x0F, 0x9C, 0xC1, 0x0F, 0x92, 0xC2, 0x0F, 0x4F, 0xF0, 0xF4], |c, _| {
        c.regs.gpr[0] = 0xFFFF;
        c.regs.gpr[3] = 1;
        c.regs.gpr[6] = 7;
    });
    assert_eq!((r(&c, Gpr::Ecx) & 0xFF, r(&c, Gpr::Edx) & 0xFF, r(&c, Gpr::Esi)), (1, 0, 7));
    // mov cx,5 ; l: inc ax ; loop l ; jcxz ok ; hlt ; ok: inc bx ; hlt
    let (c, _) = run(&[0xB9, 0x05, 0x00, 0x40, 0xE2, 0xFD, 0xE3, 0x01, 0xF4, 0x43, 0xF4], |_, _| {});
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Ebx)), (5, 1));
    // loop with a32 uses ECX: mov ecx,0x10002 ; l: loop l (67 E2 FD) -> ecx=0
    let (c, _) = run(&[0x66, 0xB9, 0x02, 0x00, 0x01, 0x00, 0x67, 0xE2, 0xFD, 0xF4], |_, _| {});
    assert_eq!(r(&c, Gpr::Ecx), 0);
    // loopne stops on ZF: mov cx,10 ; l: dec ax ; loopnz l -> ax goes 3..0
    let (c, _) = run(&[0xB9, 0x0A, 0x00, 0x48, 0xE0, 0xFD, 0xF4], |c, _| c.regs.gpr[0] = 3);
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Ecx)), (0, 7));
}

#[test]
fn stack_calls_and_frames() {
    // push 0x1234 (68 34 12) ; pop ax ; pushad (66 60) ; popad (66 61) ; hlt
    let (c, _) = run(&[0x68, 0x34, 0x12, 0x58, 0x66, 0x60, 0x66, 0x61, 0xF4], |c, _| c.regs.gpr[3] = 0xDEAD_BEEF);
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Ebx), r(&c, Gpr::Esp)), (0x1234, 0xDEAD_BEEF, 0x7000));
    // call f ; hlt ; f: mov ax,1 ; ret
    let (c, _) = run(&[0xE8, 0x01, 0x00, 0xF4, 0xB8, 0x01, 0x00, 0xC3], |_, _| {});
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Esp), c.regs.eip), (1, 0x7000, 0x7C04));
    // call far 0000:7C0A (9A 0A 7C 00 00) ; hlt ; ... f: retf 2 after push
    let code = [0x6A, 0x00, 0x9A, 0x09, 0x7C, 0x00, 0x00, 0xF4, 0x90, 0x31, 0xC0, 0xCA, 0x02, 0x00];
    let (c, _) = run(&code, |_, _| {});
    assert_eq!((r(&c, Gpr::Esp), c.regs.eip), (0x7000, 0x7C08));
    // enter 4,0 (C8 04 00 00) ; leave (C9) ; hlt
    let (c, _) = run(&[0xC8, 0x04, 0x00, 0x00, 0x89, 0xE3, 0xC9, 0xF4], |c, _| c.regs.gpr[5] = 0x1111);
    assert_eq!((r(&c, Gpr::Ebx), r(&c, Gpr::Ebp), r(&c, Gpr::Esp)), (0x6FFA, 0x1111, 0x7000));
    // pushf ; popf with IF/DF ; lahf ; sahf
    let (c, _) = run(&[0xFB, 0xFD, 0x9C, 0xFA, 0xFC, 0x9D, 0xF4], |_, _| {});
    assert_eq!(c.regs.eflags & (IF | DF), IF | DF);
    let (c, _) = run(&[0xF9, 0x9F, 0xF8, 0x9E, 0xF4], |_, _| {});
    assert_eq!(flags(&c) & CF, CF);
    // jmp word [0x500] (FF 26 00 05) as stage1's `jmp *(stage2_address)`
    let (c, _) = run(&[0xFF, 0x26, 0x00, 0x05], |_, b| {
        b.load(0x500, &[0x00, 0x80]);
        b.load(0x8000, &[0xF4]);
    });
    assert_eq!(c.regs.eip, 0x8001);
    // jmpw *%sp as syslinux's hand-off (FF E4)
    let (c, _) = run(&[0xBC, 0x00, 0x06, 0xFF, 0xE4], |_, b| b.load(0x600, &[0xF4]));
    assert_eq!(c.regs.eip, 0x601);
}

#[test]
fn far_jump_to_07c0_segment() {
    // ljmp $0x07c0,$5 ; at 07C0:0005 -> linear 0x7C05: hlt
    let (c, _) = run(&[0xEA, 0x05, 0x00, 0xC0, 0x07, 0xF4], |_, _| {});
    assert_eq!((c.regs.seg[SegReg::Cs as usize].selector, c.regs.eip), (0x07C0, 6));
    assert_eq!(c.regs.seg[SegReg::Cs as usize].base, 0x7C00);
}

#[test]
fn segment_loads_and_far_pointers() {
    // les di,[0x500] (C4 3E 00 05) ; lss sp,[0x504] (0F B2 26 04 05) ; mov ax,es ; hlt
    let (c, _) = run(&[0xC4, 0x3E, 0x00, 0x05, 0x0F, 0xB2, 0x26, 0x04, 0x05, 0x8C, 0xC0, 0xF4], |_, b| {
        b.load(0x500, &[0x34, 0x12, 0x00, 0x20, 0x00, 0x90, 0x00, 0x30]);
    });
    assert_eq!((r(&c, Gpr::Edi), r(&c, Gpr::Esp), r(&c, Gpr::Eax)), (0x1234, 0x9000, 0x2000));
    assert_eq!(c.regs.seg[SegReg::Ss as usize].base, 0x30000);
}

#[test]
fn rep_movs_and_stos_both_directions() {
    // cld ; rep movsw: 3 words 0x500 -> 0x600
    let (c, b) = run(&[0xFC, 0xF3, 0xA5, 0xF4], |c, b| {
        c.regs.gpr[1] = 3;
        c.regs.gpr[6] = 0x500;
        c.regs.gpr[7] = 0x600;
        b.load(0x500, &[1, 2, 3, 4, 5, 6, 7]);
    });
    assert_eq!(b.ram[0x600..0x607], [1, 2, 3, 4, 5, 6, 0]);
    assert_eq!((r(&c, Gpr::Ecx), r(&c, Gpr::Esi), r(&c, Gpr::Edi)), (0, 0x506, 0x606));
    // std ; rep movsd (66 F3 A5): 2 dwords from 0x504 down -> 0x604 down
    let (c, b) = run(&[0xFD, 0x66, 0xF3, 0xA5, 0xF4], |c, b| {
        c.regs.gpr[1] = 2;
        c.regs.gpr[6] = 0x504;
        c.regs.gpr[7] = 0x604;
        b.load(0x500, &[1, 2, 3, 4, 5, 6, 7, 8]);
    });
    assert_eq!(b.ram[0x600..0x608], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!((r(&c, Gpr::Esi), r(&c, Gpr::Edi)), (0x4FC, 0x5FC));
    // Overlapping forward copy replicates (dst = src + 1), as element order demands.
    let (_, b) = run(&[0xFC, 0xF3, 0xA4, 0xF4], |c, b| {
        c.regs.gpr[1] = 5;
        c.regs.gpr[6] = 0x500;
        c.regs.gpr[7] = 0x501;
        b.load(0x500, &[9, 1, 2, 3, 4, 5]);
    });
    assert_eq!(b.ram[0x500..0x506], [9, 9, 9, 9, 9, 9]);
    // Overlapping backward copy with dst < src replicates downwards.
    let (_, b) = run(&[0xFD, 0xF3, 0xA4, 0xF4], |c, b| {
        c.regs.gpr[1] = 4;
        c.regs.gpr[6] = 0x505;
        c.regs.gpr[7] = 0x504;
        b.load(0x500, &[0, 1, 2, 3, 4, 5]);
    });
    assert_eq!(b.ram[0x500..0x506], [0, 5, 5, 5, 5, 5]);
    // rep stosb forward and backward
    let (c, b) = run(&[0xFC, 0xF3, 0xAA, 0xF4], |c, _| {
        c.regs.gpr[0] = 0xAB;
        c.regs.gpr[1] = 3;
        c.regs.gpr[7] = 0x700;
    });
    assert_eq!(b.ram[0x6FF..0x704], [0, 0xAB, 0xAB, 0xAB, 0]);
    assert_eq!(r(&c, Gpr::Edi), 0x703);
    let (c, b) = run(&[0xFD, 0xF3, 0xAA, 0xF4], |c, _| {
        c.regs.gpr[0] = 0xCD;
        c.regs.gpr[1] = 3;
        c.regs.gpr[7] = 0x702;
    });
    assert_eq!(b.ram[0x6FF..0x704], [0, 0xCD, 0xCD, 0xCD, 0]);
    assert_eq!(r(&c, Gpr::Edi), 0x6FF);
    // 16-bit address wrap inside a rep: DI runs 0xFFFF -> 0x0000.
    let (c, b) = run(&[0xFC, 0xF3, 0xAA, 0xF4], |c, b| {
        c.regs.gpr[0] = 0xEE;
        c.regs.gpr[1] = 2;
        c.regs.gpr[7] = 0xFFFF;
        b.load(0, &[0; 4]);
        c.regs.seg[SegReg::Es as usize] = Segment::real(0x1000, false);
    });
    assert_eq!((b.ram[0x1_FFFF], b.ram[0x1_0000]), (0xEE, 0xEE));
    assert_eq!(r(&c, Gpr::Edi), 1);
    // ECX=0: nothing happens
    let (c, b) = run(&[0xF3, 0xAA, 0xF4], |c, _| c.regs.gpr[7] = 0x700);
    assert_eq!((b.ram[0x700], r(&c, Gpr::Edi)), (0, 0x700));
}

#[test]
fn cmps_scas_lods_with_conditions() {
    // repe cmpsb: strings differ at index 2
    let (c, _) = run(&[0xFC, 0xF3, 0xA6, 0xF4], |c, b| {
        c.regs.gpr[1] = 5;
        c.regs.gpr[6] = 0x500;
        c.regs.gpr[7] = 0x600;
        b.load(0x500, b"abXde");
        b.load(0x600, b"abcde");
    });
    assert_eq!((r(&c, Gpr::Ecx), r(&c, Gpr::Esi)), (2, 0x503));
    assert_eq!(flags(&c) & ZF, 0);
    // repne scasb: find 0 (strlen)
    let (c, _) = run(&[0xFC, 0xF2, 0xAE, 0xF4], |c, b| {
        c.regs.gpr[1] = 0xFFFF;
        c.regs.gpr[7] = 0x500;
        b.load(0x500, b"hello\0");
    });
    assert_eq!((r(&c, Gpr::Edi), r(&c, Gpr::Ecx)), (0x506, 0xFFFF - 6));
    assert_eq!(flags(&c) & ZF, ZF);
    // lodsw with segment override: es lodsw (26 AD)
    let (c, _) = run(&[0xFC, 0x26, 0xAD, 0xF4], |c, b| {
        c.regs.gpr[6] = 0x10;
        c.regs.seg[SegReg::Es as usize] = Segment::real(0x50, false);
        b.load(0x510, &[0x34, 0x12]);
    });
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Esi)), (0x1234, 0x12));
}

#[test]
fn system_instructions() {
    // cpuid leaf 0
    let (c, _) = run(&[0x0F, 0xA2, 0xF4], |_, _| {});
    assert_eq!(r(&c, Gpr::Ebx).to_le_bytes(), *b"Genu");
    // rdtsc follows the bus clock (RamBus: instructions executed so far)
    let (c, _) = run(&[0x90, 0x90, 0x0F, 0x31, 0xF4], |_, _| {});
    assert_eq!((r(&c, Gpr::Eax), r(&c, Gpr::Edx)), (2, 0));
    // smsw ax ; lmsw cannot clear PE (tested in PM elsewhere); sgdt [0x500]
    let (c, b) = run(&[0x0F, 0x01, 0xE0, 0x66, 0x0F, 0x01, 0x06, 0x00, 0x05, 0xF4], |c, _| {
        c.regs.gdtr = x86::TableReg { base: 0x12345, limit: 0x27 };
    });
    assert_eq!(r(&c, Gpr::Eax), 0x10);
    assert_eq!(b.ram[0x500..0x506], [0x27, 0, 0x45, 0x23, 0x01, 0]);
    // Linux has_fpu(): fninit ; fnstsw [0x500] ; fnstcw [0x502]
    let (_, b) = run(&[0xDB, 0xE3, 0xDD, 0x3E, 0x00, 0x05, 0xD9, 0x3E, 0x02, 0x05, 0xF4], |_, b| {
        b.load(0x500, &[0xFF; 4]);
    });
    assert_eq!(b.ram[0x500..0x504], [0, 0, 0x7F, 0x03]);
    // EFLAGS.ID is toggleable (CPUID detection)
    let code =
        [0x66, 0x9C, 0x66, 0x58, 0x66, 0x35, 0, 0, 0x20, 0, 0x66, 0x50, 0x66, 0x9D, 0x66, 0x9C, 0x66, 0x5B, 0xF4];
    let (c, _) = run(&code, |_, _| {});
    assert_eq!(r(&c, Gpr::Ebx) & (1 << 21), 1 << 21);
    // in/out with counters
    let (c, _) = run(&[0xE4, 0x60, 0xBA, 0xF7, 0x01, 0xEC, 0x66, 0xED, 0xE6, 0x80, 0xF4], |_, _| {});
    assert_eq!(r(&c, Gpr::Eax), 0xFFFF_FFFF);
    assert_eq!(c.counters.ports[&0x1F7].in_requests, 2);
    assert_eq!(c.counters.ports[&0x80].out_requests, 1);
}

#[test]
fn single_step_trap_flag() {
    // IVT[1] -> 0000:0600: inc si ; iret. pushf ; pop ax ; or ah,1 ; push ax ;
    // popf ; nop ; nop ; hlt  (the trap fires after each instruction following popf)
    let code = [0x9C, 0x58, 0x80, 0xCC, 0x01, 0x50, 0x9D, 0x90, 0x90, 0xF4];
    let (c, _) = run(&code, |_, b| {
        b.load(4, &[0x00, 0x06, 0x00, 0x00]);
        b.load(0x600, &[0x46, 0xCF]);
    });
    // Traps after nop, nop (hlt exits before its trap is taken).
    assert_eq!(r(&c, Gpr::Esi), 2);
}

// ---- property tests of the flag arithmetic against a bit-by-bit reference ----

fn parity(v: u32) -> bool {
    let mut p = true;
    for k in 0..8 {
        if v >> k & 1 == 1 {
            p = !p;
        }
    }
    p
}

fn ref_szp(res: u32, bits: u32) -> u32 {
    let mut f = 0;
    if res == 0 {
        f |= ZF;
    }
    if res >> (bits - 1) & 1 == 1 {
        f |= SF;
    }
    if parity(res) {
        f |= PF;
    }
    f
}

fn signed(v: u32, bits: u32) -> i64 {
    let v = i64::from(v);
    if v >> (bits - 1) & 1 == 1 { v - (1i64 << bits) } else { v }
}

fn sizes() -> impl Strategy<Value = u32> {
    prop_oneof![Just(1u32), Just(2u32), Just(4u32)]
}

proptest! {
    #[test]
    fn add_and_adc_match_reference(a: u32, b: u32, c in 0u32..2, size in sizes()) {
        let bits = size * 8;
        let m = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
        let (a, b) = (a & m, b & m);
        let wide = u64::from(a) + u64::from(b) + u64::from(c);
        let res = (wide & u64::from(m)) as u32;
        let mut f = ref_szp(res, bits);
        if wide >> bits != 0 { f |= CF; }
        let s = signed(a, bits) + signed(b, bits) + i64::from(c);
        if s < -(1i64 << (bits - 1)) || s >= 1i64 << (bits - 1) { f |= OF; }
        if (a & 0xF) + (b & 0xF) + c > 0xF { f |= AF; }
        prop_assert_eq!(arith::add(a, b, c, size), (res, f));
    }

    #[test]
    fn sub_and_sbb_match_reference(a: u32, b: u32, c in 0u32..2, size in sizes()) {
        let bits = size * 8;
        let m = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
        let (a, b) = (a & m, b & m);
        let res = (i64::from(a) - i64::from(b) - i64::from(c)).rem_euclid(1i64 << bits) as u32;
        let mut f = ref_szp(res, bits);
        if u64::from(a) < u64::from(b) + u64::from(c) { f |= CF; }
        let s = signed(a, bits) - signed(b, bits) - i64::from(c);
        if s < -(1i64 << (bits - 1)) || s >= 1i64 << (bits - 1) { f |= OF; }
        if (a & 0xF) < (b & 0xF) + c { f |= AF; }
        prop_assert_eq!(arith::sub(a, b, c, size), (res, f));
    }

    #[test]
    fn shifts_match_bitwise_reference(v: u32, count in 0u32..40, size in sizes()) {
        let bits = size * 8;
        let m = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
        let v = v & m;
        let c = count & 31;
        for kind in [ShiftKind::Shl, ShiftKind::Shr, ShiftKind::Sar] {
            let got = arith::shift(kind, v, count, size);
            if c == 0 {
                prop_assert_eq!(got, None);
                continue;
            }
            let (mut x, mut cf) = (v, false);
            for _ in 0..c {
                match kind {
                    ShiftKind::Shl => { cf = x >> (bits - 1) & 1 == 1; x = (x << 1) & m; }
                    ShiftKind::Shr => { cf = x & 1 == 1; x >>= 1; }
                    ShiftKind::Sar => { cf = x & 1 == 1; x = (x >> 1) | (x & (1 << (bits - 1))); }
                }
            }
            let (res, f) = got.unwrap_or_default();
            prop_assert_eq!(res, x, "{:?} {:#x} by {}", kind, v, c);
            prop_assert_eq!(f & CF != 0, cf, "CF {:?} {:#x} by {}", kind, v, c);
            prop_assert_eq!(f & (ZF | SF | PF), ref_szp(x, bits));
            if c == 1 {
                let of = match kind {
                    ShiftKind::Shl => (x >> (bits - 1) & 1 == 1) != cf,
                    ShiftKind::Shr => v >> (bits - 1) & 1 == 1,
                    ShiftKind::Sar => false,
                };
                prop_assert_eq!(f & OF != 0, of);
            }
        }
    }

    #[test]
    fn rotates_match_bitwise_reference(v: u32, count in 0u32..40, size in sizes(), cf_in: bool) {
        let bits = size * 8;
        let m = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
        let v = v & m;
        let c = count & 31;
        for kind in [RotKind::Rol, RotKind::Ror, RotKind::Rcl, RotKind::Rcr] {
            let got = arith::rotate(kind, v, count, size, cf_in);
            if c == 0 {
                prop_assert_eq!(got, None);
                continue;
            }
            let (mut x, mut cf) = (v, cf_in);
            for _ in 0..c {
                let msb = x >> (bits - 1) & 1;
                let lsb = x & 1;
                match kind {
                    RotKind::Rol => { x = ((x << 1) & m) | msb; cf = msb == 1; }
                    RotKind::Ror => { x = (x >> 1) | (lsb << (bits - 1)); cf = lsb == 1; }
                    RotKind::Rcl => { x = ((x << 1) & m) | u32::from(cf); cf = msb == 1; }
                    RotKind::Rcr => { x = (x >> 1) | (u32::from(cf) << (bits - 1)); cf = lsb == 1; }
                }
            }
            let (res, gcf, gof) = got.unwrap_or_default();
            prop_assert_eq!((res, gcf), (x, cf), "{:?} {:#x} by {} cf {}", kind, v, c, cf_in);
            if c == 1 {
                let of = match kind {
                    RotKind::Rol | RotKind::Rcl => (x >> (bits - 1) & 1 == 1) != cf,
                    RotKind::Ror | RotKind::Rcr => (x >> (bits - 1) & 1) != (x >> (bits - 2) & 1),
                };
                prop_assert_eq!(gof, of, "OF {:?}", kind);
            }
        }
    }

    /// Random bytes as 16-bit real-mode code never panic.
    #[test]
    fn random_real_mode_code_never_panics(code in proptest::collection::vec(any::<u8>(), 1..256), regs: [u32; 8]) {
        let mut bus = RamBus::new(1 << 20);
        bus.load(0x7C00, &code);
        let mut cpu = Cpu::new(0, 0x7C00);
        cpu.regs.gpr = regs;
        for _ in 0..4 {
            match cpu.run(&mut bus, 2_000) {
                Ok(Exit::InstructionLimit) | Ok(Exit::Shutdown { .. }) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Random bytes as 32-bit flat protected-mode code never panic.
    #[test]
    fn random_protected_mode_code_never_panics(code in proptest::collection::vec(any::<u8>(), 1..256), regs: [u32; 8]) {
        let mut bus = RamBus::new(1 << 20);
        bus.load(0x7C00, &code);
        let mut cpu = Cpu::new(0, 0);
        let flat = |code: bool| Segment { selector: if code { 8 } else { 16 }, base: 0, limit: u32::MAX, attributes: if code { 0xC09B } else { 0xC093 } };
        for s in SegReg::ALL {
            cpu.regs.seg[s as usize] = flat(s == SegReg::Cs);
        }
        cpu.regs.cr0 |= 1;
        cpu.regs.eip = 0x7C00;
        cpu.regs.gpr = regs;
        for _ in 0..4 {
            match cpu.run(&mut bus, 2_000) {
                Ok(Exit::InstructionLimit) | Ok(Exit::Shutdown { .. }) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// Linux's arch/x86/boot/pmjump.S before the 32-bit entry: `ltr` of an
/// available TSS (marked busy in the GDT), `lldt` of the null selector;
/// `str` reads TR back; a non-TSS selector is #GP (no handler: stop).
#[test]
fn ltr_lldt_str_in_protected_mode() {
    let gdt: [u64; 4] = [0, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x0000_8900_1000_0067];
    let setup = |c: &mut Cpu, b: &mut RamBus| {
        for (i, d) in gdt.iter().enumerate() {
            b.load(0x500 + 8 * i as u32, &d.to_le_bytes());
        }
        c.regs.gdtr = x86::TableReg { base: 0x500, limit: 0x1F };
        c.regs.cr0 |= 1;
        c.regs.seg[SegReg::Cs as usize] = Segment::from_descriptor(0x08, gdt[1]);
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
            c.regs.seg[s as usize] = Segment::from_descriptor(0x10, gdt[2]);
        }
    };
    // mov ax,0x18 ; ltr ax ; xor ecx,ecx ; lldt cx ; str bx ; hlt
    let code = [0x66, 0xB8, 0x18, 0x00, 0x0F, 0x00, 0xD8, 0x31, 0xC9, 0x0F, 0x00, 0xD1, 0x66, 0x0F, 0x00, 0xCB, 0xF4];
    let (c, b) = run(&code, setup);
    assert_eq!((c.regs.tr, c.regs.ldtr, r(&c, Gpr::Ebx) & 0xFFFF), (0x18, 0, 0x18));
    // The TSS descriptor's type went from 9 (available) to 11 (busy).
    assert_eq!(b.ram[0x500 + 0x18 + 5], 0x8B);
    // ltr of a data segment selector: #GP, and with no IDT the CPU stops.
    let mut bus = RamBus::new(2 << 20);
    let mut cpu = Cpu::new(0, 0x7C00);
    setup(&mut cpu, &mut bus);
    bus.load(0x7C00, &[0x66, 0xB8, 0x10, 0x00, 0x0F, 0x00, 0xD8, 0xF4]);
    assert_ne!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(cpu.regs.tr, 0);
}
