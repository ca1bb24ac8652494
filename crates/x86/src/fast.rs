//! Pre-decoded forms of the commonest instructions, run without iced-x86's
//! operand accessors: everything the semantics need (register slots, the
//! memory operand's base/index/scale/displacement/segment, the immediate,
//! the branch displacement) is worked out once when the instruction is
//! decoded and kept in its cache entry.
//!
//! Each form does exactly what the general arm of `exec.rs` for the same
//! instruction does (the same flags, the same order of limit checks and
//! memory accesses); anything else is [`Fast::General`] and goes through
//! `exec.rs`. The property and idiom tests compare both paths' results with
//! single-stepping and hand-computed states.

use iced_x86::{Code, Instruction, Mnemonic as M, OpKind, Register};

use crate::alu::{self, AluOp, ShiftKind, mask};
use crate::bus::Bus;
use crate::cpu::{Cpu, Decoded, Ex};
use crate::mnemonic::{CcOp, cc_op, mem_size, reg_size};
use crate::state::flags;

/// A general register operand as a slot of `Registers::gpr`: the value is
/// `(gpr[idx] >> shift) & mask` (AH..BH: shift 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegRef {
    idx: u8,
    shift: u8,
    mask: u32,
}

impl RegRef {
    /// The general register `r` (8, 16 or 32 bits), or `None` for any other
    /// register (segment, control, debug, 64-bit).
    pub(crate) fn of(r: Register) -> Option<RegRef> {
        let n = r as usize;
        let (idx, shift, mask) = match n {
            1..=4 => (n - 1, 0, 0xFF),
            5..=8 => (n - 5, 8, 0xFF),
            21..=28 => (n - 21, 0, 0xFFFF),
            37..=44 => (n - 37, 0, u32::MAX),
            _ => return None,
        };
        Some(RegRef { idx: idx as u8, shift, mask })
    }
}

/// The memory operand of an instruction in the form `Cpu::ea` computes it:
/// `(disp + base + (index << scale)) & amask` in segment `seg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mem {
    disp: u32,
    amask: u32,
    /// Slot of the base register, 8 for none.
    base: u8,
    /// Slot of the index register, 8 for none.
    index: u8,
    scale: u8,
    /// Segment register number (ES = 0 … GS = 5).
    seg: u8,
}

impl Mem {
    const NONE: Mem = Mem { disp: 0, amask: 0, base: 8, index: 8, scale: 0, seg: 3 };

    fn of(i: &Instruction, addr32: bool) -> Option<Mem> {
        let slot = |r: Register| -> Option<u8> {
            if r == Register::None {
                return Some(8);
            }
            // 16-bit addressing uses the 16-bit registers, 32-bit the 32-bit
            // ones; the full slot is added and the sum masked to the address
            // size, which is the same modulo 2^16.
            RegRef::of(r).filter(|g| g.shift == 0 && g.mask != 0xFF).map(|g| g.idx)
        };
        let seg = (i.memory_segment() as usize).checked_sub(Register::ES as usize).filter(|&s| s < 6)?;
        Some(Mem {
            disp: i.memory_displacement32(),
            amask: if addr32 { u32::MAX } else { 0xFFFF },
            base: slot(i.memory_base())?,
            index: slot(i.memory_index())?,
            scale: i.memory_index_scale().trailing_zeros() as u8,
            seg: seg as u8,
        })
    }
}

/// A source or destination operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opnd {
    Reg(RegRef),
    /// The entry's [`Mem`] operand.
    Mem,
    /// An immediate, already extended and masked to the operand size as
    /// `exec.rs` uses it.
    Imm(u32),
}

/// The operands of a register ALU form: `dst` is a slot of
/// `Registers::gpr`; the source is `(gpr[src] & rmask) | imm`, a register
/// (`rmask` all ones, `imm` 0) or an immediate (`rmask` 0), so both kinds
/// run the same code without a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegAlu {
    dst: u8,
    src: u8,
    rmask: u32,
    imm: u32,
}

/// The [`Fast`] form of `op` on a `size`-byte (2 or 4) register.
fn reg_alu_form(op: AluOp, size: u32, a: RegAlu) -> Fast {
    let wide = size == 4;
    match op {
        AluOp::Add if wide => Fast::Add32(a),
        AluOp::Add => Fast::Add16(a),
        AluOp::Or if wide => Fast::Or32(a),
        AluOp::Or => Fast::Or16(a),
        AluOp::Adc if wide => Fast::Adc32(a),
        AluOp::Adc => Fast::Adc16(a),
        AluOp::Sbb if wide => Fast::Sbb32(a),
        AluOp::Sbb => Fast::Sbb16(a),
        AluOp::And if wide => Fast::And32(a),
        AluOp::And => Fast::And16(a),
        AluOp::Sub if wide => Fast::Sub32(a),
        AluOp::Sub => Fast::Sub16(a),
        AluOp::Xor if wide => Fast::Xor32(a),
        AluOp::Xor => Fast::Xor16(a),
        AluOp::Cmp if wide => Fast::Cmp32(a),
        AluOp::Cmp => Fast::Cmp16(a),
        AluOp::Test if wide => Fast::Test32(a),
        AluOp::Test => Fast::Test16(a),
        AluOp::Mov if wide => Fast::Mov32(a),
        AluOp::Mov => Fast::Mov16(a),
    }
}

/// What the fast path runs for an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fast {
    /// The general interpreter (`exec.rs`).
    General,
    /// Register-register and register-immediate ALU/MOV forms of 16 and 32
    /// bits, the bulk of loop bodies: one variant per operation and size,
    /// so running one is a single dispatch with the operation, masks and
    /// sign bits constant (a second `match` on the operation cost a tight
    /// loop 12% of its time).
    Add32(RegAlu),
    Add16(RegAlu),
    Or32(RegAlu),
    Or16(RegAlu),
    Adc32(RegAlu),
    Adc16(RegAlu),
    Sbb32(RegAlu),
    Sbb16(RegAlu),
    And32(RegAlu),
    And16(RegAlu),
    Sub32(RegAlu),
    Sub16(RegAlu),
    Xor32(RegAlu),
    Xor16(RegAlu),
    Cmp32(RegAlu),
    Cmp16(RegAlu),
    Test32(RegAlu),
    Test16(RegAlu),
    Mov32(RegAlu),
    Mov16(RegAlu),
    /// INC/DEC of a 32- or 16-bit register (its slot).
    Inc32(u8),
    Inc16(u8),
    Dec32(u8),
    Dec16(u8),
    Alu {
        op: AluOp,
        size: u8,
        dst: Opnd,
        src: Opnd,
    },
    IncDec {
        dec: bool,
        size: u8,
        dst: Opnd,
    },
    /// MOVZX/MOVSX from a `ssize`-byte source.
    Extend {
        signed: bool,
        ssize: u8,
        dst: RegRef,
        src: Opnd,
    },
    Lea {
        dst: RegRef,
    },
    Shift {
        kind: ShiftKind,
        size: u8,
        dst: Opnd,
        count: Opnd,
    },
    /// Jcc: taken when condition `cc` holds; the target is
    /// `(start + disp) & amask`.
    Jcc {
        cc: u8,
        disp: u32,
        amask: u32,
    },
    /// A near relative JMP that is neither `jmp $` nor a backward
    /// `jmp rel8` in 32-bit code that may close a loop `idiom.rs` runs at
    /// once (those have their own handling in exec.rs).
    Jmp {
        disp: u32,
        amask: u32,
    },
    /// Near relative CALL pushing a `size`-byte return address.
    Call {
        disp: u32,
        amask: u32,
        size: u8,
    },
    /// Near RET without an immediate, popping `size` bytes.
    Ret {
        size: u8,
    },
    /// PUSH of a general register or an immediate, `size` bytes.
    Push {
        size: u8,
        src: Opnd,
    },
    /// POP into a general register, `size` bytes.
    Pop {
        size: u8,
        dst: RegRef,
    },
    /// NOT (`neg` false) or NEG.
    NotNeg {
        neg: bool,
        size: u8,
        dst: Opnd,
    },
    /// SETcc of condition `cc` into a byte.
    Setcc {
        cc: u8,
        dst: Opnd,
    },
    /// CMOVcc: the source is read (and may fault) whatever the condition.
    Cmovcc {
        cc: u8,
        size: u8,
        dst: RegRef,
        src: Opnd,
    },
    /// XCHG of two operands, at most one of them in memory.
    Xchg {
        size: u8,
        a: Opnd,
        b: Opnd,
    },
    /// CBW, CWDE, CWD, CDQ.
    Convert(Convert),
    /// Near RET with an immediate: pops `size` bytes, releases `imm`.
    RetImm {
        size: u8,
        imm: u16,
    },
    /// LEAVE of a `size`-byte frame pointer.
    Leave {
        size: u8,
    },
    /// CLC, STC, CMC.
    Carry(Carry),
    /// LOOP (without a ZF condition) counting ECX (`cmask` all ones) or CX.
    Loop {
        disp: u32,
        amask: u32,
        cmask: u32,
    },
    /// One-operand MUL/IMUL/DIV/IDIV of the accumulator by `src`.
    MulDiv {
        op: MulDiv,
        size: u8,
        src: Opnd,
    },
    /// IMUL with two or three operands: `dst = a * b` truncated.
    Imul {
        size: u8,
        dst: RegRef,
        a: Opnd,
        b: Opnd,
    },
    /// SHLD (`left`) / SHRD of `dst` with bits from `src`, `count` from an
    /// immediate or CL.
    DoubleShift {
        left: bool,
        size: u8,
        dst: Opnd,
        src: RegRef,
        count: Opnd,
    },
}

/// The carry-flag instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carry {
    Clear,
    Set,
    Complement,
}

/// The accumulator multiplies and divides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MulDiv {
    Mul,
    Imul,
    Div,
    Idiv,
}

/// The accumulator sign extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Convert {
    Cbw,
    Cwde,
    Cwd,
    Cdq,
}

/// Works out the fast form of `i` (decoded at IP 0) and its memory operand.
pub(crate) fn classify(i: &Instruction, op32: bool, addr32: bool) -> (Fast, Mem) {
    let Some(mem) = (0..i.op_count()).any(|k| i.op_kind(k) == OpKind::Memory).then(|| Mem::of(i, addr32)) else {
        return (classify_ops(i, op32, false).unwrap_or(Fast::General), Mem::NONE);
    };
    match mem {
        Some(m) => (classify_ops(i, op32, true).unwrap_or(Fast::General), m),
        None => (Fast::General, Mem::NONE),
    }
}

fn classify_ops(i: &Instruction, op32: bool, has_mem: bool) -> Option<Fast> {
    let opnd = |k: u32, size: u32| -> Option<Opnd> {
        Some(match i.op_kind(k) {
            OpKind::Register => Opnd::Reg(RegRef::of(i.op_register(k))?),
            OpKind::Memory => Opnd::Mem,
            OpKind::Immediate8 => Opnd::Imm(u32::from(i.immediate8()) & mask(size)),
            OpKind::Immediate16 => Opnd::Imm(u32::from(i.immediate16()) & mask(size)),
            OpKind::Immediate32 => Opnd::Imm(i.immediate32() & mask(size)),
            OpKind::Immediate8to16 => Opnd::Imm(u32::from(i.immediate8to16() as u16) & mask(size)),
            OpKind::Immediate8to32 => Opnd::Imm(i.immediate8to32() as u32 & mask(size)),
            _ => return None,
        })
    };
    let size0 = || -> Option<u32> {
        let size = match i.op0_kind() {
            OpKind::Register => u32::from(reg_size(i.op0_register())),
            OpKind::Memory => u32::from(mem_size(i.memory_size())),
            _ => return None,
        };
        matches!(size, 1 | 2 | 4).then_some(size)
    };
    let near = |k: u32| -> Option<(u32, u32)> {
        match i.op_kind(k) {
            OpKind::NearBranch16 => Some((u32::from(i.near_branch16()), 0xFFFF)),
            OpKind::NearBranch32 => Some((i.near_branch32(), u32::MAX)),
            _ => None,
        }
    };
    let m = i.mnemonic();
    if let Some((op, cc)) = cc_op(m) {
        return Some(match op {
            CcOp::Setcc => Fast::Setcc { cc, dst: opnd(0, 1)? },
            CcOp::Cmovcc => {
                let size = size0()?;
                let dst = RegRef::of(i.op0_register())?;
                Fast::Cmovcc { cc, size: size as u8, dst, src: opnd(1, size)? }
            }
            CcOp::Jcc => {
                let (disp, amask) = near(0)?;
                Fast::Jcc { cc, disp, amask }
            }
        });
    }
    let alu = AluOp::of(m);
    if let Some(op) = alu {
        if i.op_count() != 2 {
            return None;
        }
        let size = size0()?;
        let dst = opnd(0, size)?;
        let src = opnd(1, size)?;
        if matches!(dst, Opnd::Imm(_)) {
            return None;
        }
        let wide = |r: RegRef| (r.shift == 0 && r.mask != 0xFF).then_some(r.idx);
        return Some(match (size, dst, src) {
            (2 | 4, Opnd::Reg(d), Opnd::Reg(r)) => {
                reg_alu_form(op, size, RegAlu { dst: wide(d)?, src: wide(r)?, rmask: u32::MAX, imm: 0 })
            }
            (2 | 4, Opnd::Reg(d), Opnd::Imm(imm)) => {
                reg_alu_form(op, size, RegAlu { dst: wide(d)?, src: 0, rmask: 0, imm })
            }
            _ => Fast::Alu { op, size: size as u8, dst, src },
        });
    }
    Some(match m {
        M::Inc | M::Dec => {
            let size = size0()?;
            let dec = m == M::Dec;
            match (size, dec, opnd(0, size)?) {
                (4, false, Opnd::Reg(r)) => Fast::Inc32(r.idx),
                (2, false, Opnd::Reg(r)) => Fast::Inc16(r.idx),
                (4, true, Opnd::Reg(r)) => Fast::Dec32(r.idx),
                (2, true, Opnd::Reg(r)) => Fast::Dec16(r.idx),
                (_, _, dst) => Fast::IncDec { dec, size: size as u8, dst },
            }
        }
        M::Movzx | M::Movsx => {
            let ssize = match i.op1_kind() {
                OpKind::Register => u32::from(reg_size(i.op1_register())),
                OpKind::Memory => u32::from(mem_size(i.memory_size())),
                _ => return None,
            };
            if !matches!(ssize, 1 | 2) {
                return None;
            }
            let dst = RegRef::of(i.op0_register())?;
            Fast::Extend { signed: m == M::Movsx, ssize: ssize as u8, dst, src: opnd(1, ssize)? }
        }
        M::Lea if has_mem => Fast::Lea { dst: RegRef::of(i.op0_register())? },
        M::Not | M::Neg => {
            let size = size0()?;
            Fast::NotNeg { neg: m == M::Neg, size: size as u8, dst: opnd(0, size)? }
        }
        M::Xchg if i.op_count() == 2 => {
            let size = size0()?;
            let (a, b) = (opnd(0, size)?, opnd(1, size)?);
            if matches!(a, Opnd::Imm(_)) || matches!(b, Opnd::Imm(_)) || (a == Opnd::Mem && b == Opnd::Mem) {
                return None;
            }
            Fast::Xchg { size: size as u8, a, b }
        }
        M::Cbw => Fast::Convert(Convert::Cbw),
        M::Cwde => Fast::Convert(Convert::Cwde),
        M::Cwd => Fast::Convert(Convert::Cwd),
        M::Cdq => Fast::Convert(Convert::Cdq),
        M::Shl | M::Sal | M::Shr | M::Sar => {
            let size = size0()?;
            let kind = match m {
                M::Shr => ShiftKind::Shr,
                M::Sar => ShiftKind::Sar,
                _ => ShiftKind::Shl,
            };
            Fast::Shift { kind, size: size as u8, dst: opnd(0, size)?, count: opnd(1, 1)? }
        }
        M::Jmp => {
            let (disp, amask) = near(0)?;
            let self_jump = disp & amask == 0;
            // `disp` counts from the `jmp` itself (decoded at 0), so the loop
            // from the target to the end of the 2-byte `jmp` is 2 - disp.
            let backward_rel8_32 = i.code() == Code::Jmp_rel8_32
                && (disp as i32) < 0
                && crate::idiom::may_close_a_fused_loop(2u32.wrapping_sub(disp));
            if self_jump || backward_rel8_32 {
                return None;
            }
            Fast::Jmp { disp, amask }
        }
        M::Call => {
            let (disp, amask) = near(0)?;
            Fast::Call { disp, amask, size: if amask == 0xFFFF { 2 } else { 4 } }
        }
        M::Ret if i.op_count() == 0 => Fast::Ret { size: if i.code() == Code::Retnw { 2 } else { 4 } },
        M::Push => {
            let size = if op32 { 4 } else { 2 };
            let src = match i.op0_kind() {
                OpKind::Register => Opnd::Reg(RegRef::of(i.op0_register())?),
                OpKind::Immediate8to16 => Opnd::Imm(u32::from(i.immediate8to16() as u16)),
                OpKind::Immediate8to32 => Opnd::Imm(i.immediate8to32() as u32),
                OpKind::Immediate16 => Opnd::Imm(u32::from(i.immediate16())),
                OpKind::Immediate32 => Opnd::Imm(i.immediate32()),
                OpKind::Memory => Opnd::Mem,
                _ => return None,
            };
            Fast::Push { size, src }
        }
        M::Ret if i.op_count() == 1 => {
            Fast::RetImm { size: if i.code() == Code::Retnw_imm16 { 2 } else { 4 }, imm: i.immediate16() }
        }
        M::Leave => Fast::Leave { size: if i.code() == Code::Leaved { 4 } else { 2 } },
        M::Clc => Fast::Carry(Carry::Clear),
        M::Stc => Fast::Carry(Carry::Set),
        M::Cmc => Fast::Carry(Carry::Complement),
        M::Loop => {
            let (disp, amask) = near(0)?;
            let cmask =
                if matches!(i.code(), Code::Loop_rel8_16_ECX | Code::Loop_rel8_32_ECX) { u32::MAX } else { 0xFFFF };
            Fast::Loop { disp, amask, cmask }
        }
        M::Mul | M::Imul | M::Div | M::Idiv if i.op_count() == 1 => {
            let size = size0()?;
            let op = match m {
                M::Mul => MulDiv::Mul,
                M::Imul => MulDiv::Imul,
                M::Div => MulDiv::Div,
                _ => MulDiv::Idiv,
            };
            Fast::MulDiv { op, size: size as u8, src: opnd(0, size)? }
        }
        M::Imul => {
            let size = size0()?;
            let dst = RegRef::of(i.op0_register())?;
            let (a, b) =
                if i.op_count() == 2 { (Opnd::Reg(dst), opnd(1, size)?) } else { (opnd(1, size)?, opnd(2, size)?) };
            Fast::Imul { size: size as u8, dst, a, b }
        }
        M::Shld | M::Shrd => {
            let size = size0()?;
            let count = opnd(2, 1)?;
            Fast::DoubleShift {
                left: m == M::Shld,
                size: size as u8,
                dst: opnd(0, size)?,
                src: RegRef::of(i.op1_register())?,
                count,
            }
        }
        M::Pop if i.op0_kind() == OpKind::Register => {
            Fast::Pop { size: if op32 { 4 } else { 2 }, dst: RegRef::of(i.op0_register())? }
        }
        _ => return None,
    })
}

impl Cpu {
    /// A register-register or register-immediate ALU/MOV form of `SIZE`
    /// (2 or 4) bytes (`op` is a constant at every call).
    #[inline(always)]
    fn alu_reg<const SIZE: u32>(&mut self, op: AluOp, a: RegAlu) {
        let dst = a.dst;
        let b = (self.regs.gpr[usize::from(a.src & 7)] & a.rmask) | a.imm;
        let m = mask(SIZE);
        let g = self.regs.gpr[usize::from(dst & 7)];
        let a = g & m;
        let cf = self.regs.eflags & flags::CF;
        let (r, f) = alu::binop(op, a, b & m, cf, SIZE);
        if op != AluOp::Mov {
            self.set_arith(f);
        }
        if op.writes() {
            self.regs.gpr[usize::from(dst & 7)] = (g & !m) | r;
        }
    }

    /// INC/DEC of a `SIZE`-byte (2 or 4) register slot: CF is kept.
    #[inline(always)]
    fn inc_dec_reg<const SIZE: u32>(&mut self, dec: bool, reg: u8) {
        let m = mask(SIZE);
        let g = self.regs.gpr[usize::from(reg & 7)];
        let (r, f) = if dec { alu::sub(g & m, 1, 0, SIZE) } else { alu::add(g & m, 1, 0, SIZE) };
        self.set_arith((f & !flags::CF) | (self.regs.eflags & flags::CF));
        self.regs.gpr[usize::from(reg & 7)] = (g & !m) | r;
    }

    #[inline(always)]
    fn reg(&self, r: RegRef) -> u32 {
        (self.regs.gpr[usize::from(r.idx & 7)] >> r.shift) & r.mask
    }

    #[inline(always)]
    fn set(&mut self, r: RegRef, v: u32) {
        let g = &mut self.regs.gpr[usize::from(r.idx & 7)];
        *g = (*g & !(r.mask << r.shift)) | ((v & r.mask) << r.shift);
    }

    #[inline(always)]
    fn fast_ea(&self, m: &Mem) -> u32 {
        let mut a = m.disp;
        if m.base < 8 {
            a = a.wrapping_add(self.regs.gpr[usize::from(m.base)]);
        }
        if m.index < 8 {
            a = a.wrapping_add(self.regs.gpr[usize::from(m.index)] << m.scale);
        }
        a & m.amask
    }

    /// Linear address of the memory operand for `size` bytes (limit
    /// checked).
    #[inline(always)]
    fn fast_lin(&self, m: &Mem, size: u32) -> Ex<u32> {
        self.lin(usize::from(m.seg), self.fast_ea(m), size)
    }

    /// Reads operand `o` of `size` bytes, giving the linear address when it
    /// is the memory operand.
    #[inline(always)]
    fn fast_read<B: Bus + ?Sized>(&self, bus: &mut B, d: &Decoded, o: Opnd, size: u32) -> Ex<(u32, u32)> {
        Ok(match o {
            Opnd::Reg(r) => (self.reg(r), 0),
            Opnd::Imm(v) => (v, 0),
            Opnd::Mem => {
                let a = self.fast_lin(&d.mem, size)?;
                (self.rd(bus, a, size), a)
            }
        })
    }

    #[inline(always)]
    fn fast_write<B: Bus + ?Sized>(&mut self, bus: &mut B, o: Opnd, lin: u32, size: u32, v: u32) {
        match o {
            Opnd::Reg(r) => self.set(r, v),
            Opnd::Mem => self.wr(bus, lin, size, v),
            Opnd::Imm(_) => {}
        }
    }

    /// Runs a [`Fast`] form other than [`Fast::General`] at offset `start`
    /// and returns the offset of the next instruction (`self.regs.eip` is
    /// neither read nor written: the caller keeps EIP). On a fault nothing
    /// has changed.
    #[inline(always)]
    pub(crate) fn exec_fast<B: Bus + ?Sized>(&mut self, bus: &mut B, d: &Decoded, start: u32) -> Ex<u32> {
        let next = start.wrapping_add(u32::from(d.len));
        match d.fast {
            Fast::General => unreachable!("the run loop sends general instructions to exec"),
            Fast::Add32(a) => self.alu_reg::<4>(AluOp::Add, a),
            Fast::Add16(a) => self.alu_reg::<2>(AluOp::Add, a),
            Fast::Or32(a) => self.alu_reg::<4>(AluOp::Or, a),
            Fast::Or16(a) => self.alu_reg::<2>(AluOp::Or, a),
            Fast::Adc32(a) => self.alu_reg::<4>(AluOp::Adc, a),
            Fast::Adc16(a) => self.alu_reg::<2>(AluOp::Adc, a),
            Fast::Sbb32(a) => self.alu_reg::<4>(AluOp::Sbb, a),
            Fast::Sbb16(a) => self.alu_reg::<2>(AluOp::Sbb, a),
            Fast::And32(a) => self.alu_reg::<4>(AluOp::And, a),
            Fast::And16(a) => self.alu_reg::<2>(AluOp::And, a),
            Fast::Sub32(a) => self.alu_reg::<4>(AluOp::Sub, a),
            Fast::Sub16(a) => self.alu_reg::<2>(AluOp::Sub, a),
            Fast::Xor32(a) => self.alu_reg::<4>(AluOp::Xor, a),
            Fast::Xor16(a) => self.alu_reg::<2>(AluOp::Xor, a),
            Fast::Cmp32(a) => self.alu_reg::<4>(AluOp::Cmp, a),
            Fast::Cmp16(a) => self.alu_reg::<2>(AluOp::Cmp, a),
            Fast::Test32(a) => self.alu_reg::<4>(AluOp::Test, a),
            Fast::Test16(a) => self.alu_reg::<2>(AluOp::Test, a),
            Fast::Mov32(a) => self.alu_reg::<4>(AluOp::Mov, a),
            Fast::Mov16(a) => self.alu_reg::<2>(AluOp::Mov, a),
            Fast::Inc32(reg) => self.inc_dec_reg::<4>(false, reg),
            Fast::Inc16(reg) => self.inc_dec_reg::<2>(false, reg),
            Fast::Dec32(reg) => self.inc_dec_reg::<4>(true, reg),
            Fast::Dec16(reg) => self.inc_dec_reg::<2>(true, reg),
            Fast::Alu { op, size, dst, src } => {
                let size = u32::from(size);
                if op == AluOp::Mov {
                    let (v, _) = self.fast_read(bus, d, src, size)?;
                    let lin = match dst {
                        Opnd::Mem => self.fast_lin(&d.mem, size)?,
                        _ => 0,
                    };
                    self.fast_write(bus, dst, lin, size, v);
                    return Ok(next);
                }
                let (a, lin) = self.fast_read(bus, d, dst, size)?;
                let (b, _) = self.fast_read(bus, d, src, size)?;
                let b = b & mask(size);
                let cf = self.regs.eflags & flags::CF;
                let (r, f) = alu::binop(op, a, b, cf, size);
                self.set_arith(f);
                if op.writes() {
                    self.fast_write(bus, dst, lin, size, r);
                }
            }
            Fast::IncDec { dec, size, dst } => {
                let size = u32::from(size);
                let (a, lin) = self.fast_read(bus, d, dst, size)?;
                let (r, f) = if dec { alu::sub(a, 1, 0, size) } else { alu::add(a, 1, 0, size) };
                self.set_arith((f & !flags::CF) | (self.regs.eflags & flags::CF));
                self.fast_write(bus, dst, lin, size, r);
            }
            Fast::Extend { signed, ssize, dst, src } => {
                let ss = u32::from(ssize);
                let (v, _) = self.fast_read(bus, d, src, ss)?;
                self.set(dst, if signed { alu::sext(v, ss) } else { v });
            }
            Fast::Lea { dst } => {
                let a = self.fast_ea(&d.mem);
                self.set(dst, a);
            }
            Fast::Shift { kind, size, dst, count } => {
                let size = u32::from(size);
                let (a, lin) = self.fast_read(bus, d, dst, size)?;
                let (c, _) = self.fast_read(bus, d, count, 1)?;
                if let Some((r, f)) = alu::shift(kind, a, c, size) {
                    self.set_arith(f);
                    self.fast_write(bus, dst, lin, size, r);
                }
            }
            Fast::Jcc { cc, disp, amask } => {
                if self.cond(cc) {
                    return Ok(start.wrapping_add(disp) & amask);
                }
            }
            Fast::Jmp { disp, amask } => return Ok(start.wrapping_add(disp) & amask),
            Fast::Call { disp, amask, size } => {
                let size = u32::from(size);
                self.push(bus, size, next & mask(size))?;
                return Ok(start.wrapping_add(disp) & amask);
            }
            Fast::Ret { size } => {
                return self.pop(bus, u32::from(size));
            }
            Fast::Push { size, src } => {
                let size = u32::from(size);
                let (v, _) = self.fast_read(bus, d, src, size)?;
                self.push(bus, size, v)?;
            }
            Fast::NotNeg { neg, size, dst } => {
                let size = u32::from(size);
                let (a, lin) = self.fast_read(bus, d, dst, size)?;
                let r = if neg {
                    let (r, f) = alu::sub(0, a, 0, size);
                    self.set_arith(f);
                    r
                } else {
                    !a & mask(size)
                };
                self.fast_write(bus, dst, lin, size, r);
            }
            Fast::Setcc { cc, dst } => {
                let lin = match dst {
                    Opnd::Mem => self.fast_lin(&d.mem, 1)?,
                    _ => 0,
                };
                let v = u32::from(self.cond(cc));
                self.fast_write(bus, dst, lin, 1, v);
            }
            Fast::Cmovcc { cc, size, dst, src } => {
                let (v, _) = self.fast_read(bus, d, src, u32::from(size))?;
                if self.cond(cc) {
                    self.set(dst, v);
                }
            }
            Fast::Xchg { size, a, b } => {
                let size = u32::from(size);
                let (va, la) = self.fast_read(bus, d, a, size)?;
                let (vb, lb) = self.fast_read(bus, d, b, size)?;
                self.fast_write(bus, a, la, size, vb);
                self.fast_write(bus, b, lb, size, va);
            }
            Fast::Convert(c) => {
                let eax = self.regs.gpr[0];
                match c {
                    Convert::Cbw => self.regs.gpr[0] = (eax & !0xFFFF) | (alu::sext(eax & 0xFF, 1) & 0xFFFF),
                    Convert::Cwde => self.regs.gpr[0] = alu::sext(eax & 0xFFFF, 2),
                    Convert::Cwd => {
                        let dx = if eax & 0x8000 != 0 { 0xFFFF } else { 0 };
                        self.regs.gpr[2] = (self.regs.gpr[2] & !0xFFFF) | dx;
                    }
                    Convert::Cdq => self.regs.gpr[2] = if eax & 0x8000_0000 != 0 { u32::MAX } else { 0 },
                }
            }
            Fast::Pop { size, dst } => {
                let v = self.pop(bus, u32::from(size))?;
                self.set(dst, v);
            }
            Fast::RetImm { size, imm } => return self.ret_near(bus, u32::from(size), imm),
            Fast::Leave { size } => self.leave(bus, u32::from(size))?,
            Fast::Carry(c) => match c {
                Carry::Clear => self.regs.eflags &= !flags::CF,
                Carry::Set => self.regs.eflags |= flags::CF,
                Carry::Complement => self.regs.eflags ^= flags::CF,
            },
            Fast::Loop { disp, amask, cmask } => {
                let c = self.regs.gpr[1].wrapping_sub(1) & cmask;
                self.regs.gpr[1] = (self.regs.gpr[1] & !cmask) | c;
                if c != 0 {
                    return Ok(start.wrapping_add(disp) & amask);
                }
            }
            Fast::MulDiv { op, size, src } => {
                let size = u32::from(size);
                let (v, _) = self.fast_read(bus, d, src, size)?;
                match op {
                    MulDiv::Mul => self.mul_acc(v, size, false),
                    MulDiv::Imul => self.mul_acc(v, size, true),
                    MulDiv::Div => self.div_acc(v, size, true)?,
                    MulDiv::Idiv => self.div_acc(v, size, false)?,
                }
            }
            Fast::Imul { size, dst, a, b } => {
                let size = u32::from(size);
                let (va, _) = self.fast_read(bus, d, a, size)?;
                let (vb, _) = self.fast_read(bus, d, b, size)?;
                let r = self.imul_truncated(va, vb, size);
                self.set(dst, r);
            }
            Fast::DoubleShift { left, size, dst, src, count } => {
                let size = u32::from(size);
                let (a, lin) = self.fast_read(bus, d, dst, size)?;
                let (c, _) = self.fast_read(bus, d, count, 1)?;
                if let Some((r, f)) = alu::double_shift(left, a, self.reg(src), c, size) {
                    self.set_arith(f);
                    self.fast_write(bus, dst, lin, size, r);
                }
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Cpu, RamBus, SegReg, Segment};

    /// xorshift64: deterministic test inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Opcode bytes of the forms the fast path handles (ALU, MOV, INC/DEC,
    /// shifts, Jcc, JMP/CALL/RET, PUSH/POP, LEA, MOVZX/MOVSX, LEAVE, LOOP,
    /// CLC/STC/CMC, MUL/DIV/IMUL, SHLD/SHRD), mixed into
    /// the random code so they are common.
    const FAST_OPCODES: &[&[u8]] = &[
        &[0x01],
        &[0x03],
        &[0x11],
        &[0x19],
        &[0x21],
        &[0x29],
        &[0x31],
        &[0x39],
        &[0x85],
        &[0x80],
        &[0x81],
        &[0x83],
        &[0x88],
        &[0x89],
        &[0x8A],
        &[0x8B],
        &[0xC6],
        &[0xC7],
        &[0xB8],
        &[0xB4],
        &[0x40],
        &[0x4B],
        &[0xFE],
        &[0xFF],
        &[0xC1],
        &[0xD1],
        &[0xD3],
        &[0x74],
        &[0x75],
        &[0x7C],
        &[0x0F, 0x85],
        &[0xEB],
        &[0xE8],
        &[0xC3],
        &[0x50],
        &[0x5E],
        &[0x6A],
        &[0x68],
        &[0x8D],
        &[0x0F, 0xB6],
        &[0x0F, 0xBF],
        &[0xF7],
        &[0xF6],
        &[0x0F, 0x94],
        &[0x0F, 0x9F],
        &[0x0F, 0x44],
        &[0x0F, 0x4C],
        &[0x86],
        &[0x87],
        &[0x93],
        &[0x98],
        &[0x99],
        &[0x66],
        &[0x67],
        &[0x26],
        &[0xC2],
        &[0xC9],
        &[0xF8],
        &[0xF9],
        &[0xF5],
        &[0xE2],
        &[0x69],
        &[0x6B],
        &[0x0F, 0xAF],
        &[0x0F, 0xA4],
        &[0x0F, 0xA5],
        &[0x0F, 0xAC],
        &[0x0F, 0xAD],
    ];

    fn program(rng: &mut Rng) -> Vec<u8> {
        let mut code = Vec::new();
        while code.len() < 200 {
            let r = rng.next();
            if r.is_multiple_of(3) {
                code.push((r >> 8) as u8);
            } else {
                code.extend_from_slice(FAST_OPCODES[(r >> 8) as usize % FAST_OPCODES.len()]);
                code.push((r >> 16) as u8);
                code.push((r >> 24) as u8);
            }
        }
        code
    }

    fn machine(code: &[u8], regs: [u32; 8], flat32: bool, general_only: bool) -> (Cpu, RamBus) {
        let mut bus = RamBus::new(1 << 20);
        bus.load(0x7C00, code);
        let mut cpu = Cpu::new(0, 0x7C00);
        cpu.general_only = general_only;
        cpu.regs.gpr = regs;
        if flat32 {
            cpu.regs.cr0 |= 1;
            cpu.regs.seg[SegReg::Cs as usize] = Segment::from_descriptor(8, 0x00CF_9B00_0000_FFFF);
            for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
                cpu.regs.seg[s as usize] = Segment::from_descriptor(16, 0x00CF_9300_0000_FFFF);
            }
            cpu.regs.eip = 0x7C00;
            cpu.regs.gpr[4] = 0x9_0000 + (regs[4] & 0xFFFC);
        }
        for (k, b) in bus.ram[0x1_0000..0x2_0000].iter_mut().enumerate() {
            *b = (k as u8).wrapping_mul(37);
        }
        (cpu, bus)
    }

    /// Runs random code, rich in the fast forms, with and without the fast
    /// path: registers, flags, memory, counts and the end must be equal.
    #[test]
    fn fast_forms_equal_the_general_interpreter() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut fast_runs = 0;
        for case in 0..3000 {
            let code = program(&mut rng);
            let regs = [0; 8].map(|_| rng.next() as u32);
            let flat32 = case % 2 == 1;
            let (mut a, mut bus_a) = machine(&code, regs, flat32, false);
            let (mut b, mut bus_b) = machine(&code, regs, flat32, true);
            let ra = a.run(&mut bus_a, 2000);
            let rb = b.run(&mut bus_b, 2000);
            assert_eq!(ra, rb, "case {case}: exit");
            assert_eq!(a.regs, b.regs, "case {case}: registers");
            assert_eq!(a.counters, b.counters, "case {case}: counters");
            assert!(bus_a.ram == bus_b.ram, "case {case}: memory");
            if a.cache.entries.iter().any(|e| e.fast != super::Fast::General) {
                fast_runs += 1;
            }
        }
        assert!(fast_runs > 2500, "fast forms exercised in {fast_runs} cases");
    }
}
