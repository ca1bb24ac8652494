//! Instruction semantics (Intel SDM Vol. 2A/2B, one arm per mnemonic).

use iced_x86::{Code, Mnemonic as M, OpKind, Register};

use crate::alu::{self, AluOp, RotKind, ShiftKind, mask, sext};
use crate::bus::{AccessSize, Bus};
use crate::cpu::{Cpu, DE, Decoded, Ex, Exit, Fault, Stop};
use crate::mnemonic::{CcOp, cc_op, mem_size, reg_size};
use crate::state::{SegReg, Segment, cr0, flags};

/// A resolved r/m operand.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    Reg(Register),
    Mem(u32),
}

const CR0_REG: usize = Register::CR0 as usize;
const SEG_FIRST: usize = Register::ES as usize;

fn unsupported_reason(m: M) -> &'static str {
    let name = format!("{m:?}");
    if name.starts_with('F') {
        "x87 floating point is out of scope (only fninit/fnstsw/fnstcw/fldcw/fnclex/fwait are modelled)"
    } else if matches!(m, M::Daa | M::Das | M::Aaa | M::Aas | M::Aam | M::Aad) {
        "BCD arithmetic is not modelled"
    } else if matches!(m, M::Rdmsr | M::Wrmsr) {
        "model-specific registers are not modelled"
    } else if matches!(m, M::Lar | M::Lsl | M::Verr | M::Verw | M::Arpl) {
        "selector-probing instructions are not modelled (ring 0 GDT-only machine)"
    } else {
        "instruction not implemented by this interpreter (x87/MMX/SSE and system extensions are out of scope)"
    }
}

impl Cpu {
    // ---- operand helpers ----

    /// Effective address of the memory operand (SDM Vol. 2A §2.1.5),
    /// truncated to the address size.
    #[inline]
    pub(crate) fn ea(&self, d: &Decoded) -> u32 {
        let i = &d.instr;
        let mut a = i.memory_displacement32();
        let b = i.memory_base();
        if b != Register::None {
            a = a.wrapping_add(self.get_reg(b));
        }
        let x = i.memory_index();
        if x != Register::None {
            a = a.wrapping_add(self.get_reg(x).wrapping_mul(i.memory_index_scale()));
        }
        if d.addr32 { a } else { a & 0xFFFF }
    }

    #[inline]
    fn mem_seg(d: &Decoded) -> usize {
        (d.instr.memory_segment() as usize).wrapping_sub(SEG_FIRST).min(5)
    }

    /// Linear address of the memory operand, limit-checked for `size` bytes.
    #[inline]
    pub(crate) fn mem_lin(&self, d: &Decoded, size: u32) -> Ex<u32> {
        self.lin(Self::mem_seg(d), self.ea(d), size)
    }

    #[inline]
    fn loc(&self, d: &Decoded, op: u32, size: u32) -> Ex<Loc> {
        match d.instr.op_kind(op) {
            OpKind::Register => Ok(Loc::Reg(d.instr.op_register(op))),
            OpKind::Memory => Ok(Loc::Mem(self.mem_lin(d, size)?)),
            _ => Err(Stop::Unsupported("unexpected operand kind").into()),
        }
    }

    #[inline]
    fn read_loc<B: Bus + ?Sized>(&self, bus: &mut B, l: Loc, size: u32) -> u32 {
        match l {
            Loc::Reg(r) => self.get_reg(r),
            Loc::Mem(a) => self.rd(bus, a, size),
        }
    }

    #[inline]
    fn write_loc<B: Bus + ?Sized>(&mut self, bus: &mut B, l: Loc, size: u32, v: u32) {
        match l {
            Loc::Reg(r) => self.set_reg(r, v),
            Loc::Mem(a) => self.wr(bus, a, size, v),
        }
    }

    /// Value of operand `op` (`size` bytes for memory operands).
    #[inline]
    fn src<B: Bus + ?Sized>(&self, bus: &mut B, d: &Decoded, op: u32, size: u32) -> Ex<u32> {
        let i = &d.instr;
        Ok(match i.op_kind(op) {
            OpKind::Register => self.get_reg(i.op_register(op)),
            OpKind::Memory => {
                let a = self.mem_lin(d, size)?;
                self.rd(bus, a, size)
            }
            OpKind::Immediate8 => u32::from(i.immediate8()),
            OpKind::Immediate8_2nd => u32::from(i.immediate8_2nd()),
            OpKind::Immediate16 => u32::from(i.immediate16()),
            OpKind::Immediate32 => i.immediate32(),
            OpKind::Immediate8to16 => u32::from(i.immediate8to16() as u16),
            OpKind::Immediate8to32 => i.immediate8to32() as u32,
            _ => return Err(Stop::Unsupported("unexpected operand kind").into()),
        })
    }

    /// Size of operand `op` of a register or memory kind.
    fn op_size(d: &Decoded, op: u32) -> u32 {
        match d.instr.op_kind(op) {
            OpKind::Register => u32::from(reg_size(d.instr.op_register(op))),
            OpKind::Memory => u32::from(mem_size(d.instr.memory_size())),
            _ => 1,
        }
    }

    /// MUL/IMUL with one operand (SDM Vol. 2A MUL, IMUL): AX, DX:AX or
    /// EDX:EAX = the accumulator × `v`; CF = OF = the high half matters.
    pub(crate) fn mul_acc(&mut self, v: u32, size: u32, signed: bool) {
        let a = self.regs.gpr[0] & mask(size);
        let (lo, hi, overflow) = if signed {
            let p = i64::from(sext(a, size) as i32) * i64::from(sext(v, size) as i32);
            let lo = (p as u32) & mask(size);
            (lo, ((p >> (size * 8)) as u32) & mask(size), i64::from(sext(lo, size) as i32) != p)
        } else {
            let p = u64::from(a) * u64::from(v);
            let lo = (p as u32) & mask(size);
            let hi = ((p >> (size * 8)) as u32) & mask(size);
            (lo, hi, hi != 0)
        };
        match size {
            1 => self.set_reg(Register::AX, lo | hi << 8),
            2 => {
                self.set_reg(Register::AX, lo);
                self.set_reg(Register::DX, hi);
            }
            _ => {
                self.regs.gpr[0] = lo;
                self.regs.gpr[2] = hi;
            }
        }
        let of = if overflow { flags::CF | flags::OF } else { 0 };
        self.set_arith(alu::szp(lo, size) | of);
    }

    /// IMUL with two or three operands: the product truncated to `size`,
    /// CF = OF = it did not fit.
    pub(crate) fn imul_truncated(&mut self, a: u32, b: u32, size: u32) -> u32 {
        let p = i64::from(sext(a & mask(size), size) as i32) * i64::from(sext(b & mask(size), size) as i32);
        let r = (p as u32) & mask(size);
        let of = if i64::from(sext(r, size) as i32) != p { flags::CF | flags::OF } else { 0 };
        self.set_arith(alu::szp(r, size) | of);
        r
    }

    /// DIV (`unsigned`) or IDIV of AX, DX:AX or EDX:EAX by `v` (SDM Vol. 2A
    /// DIV, IDIV): #DE, with nothing changed, for a zero divisor or a
    /// quotient that does not fit.
    pub(crate) fn div_acc(&mut self, v: u32, size: u32, unsigned: bool) -> Ex<()> {
        let (dividend_lo, dividend_hi) = match size {
            1 => (self.regs.gpr[0] & 0xFFFF, 0),
            2 => ((self.regs.gpr[2] & 0xFFFF) << 16 | (self.regs.gpr[0] & 0xFFFF), 0),
            _ => (self.regs.gpr[0], self.regs.gpr[2]),
        };
        let dividend = u64::from(dividend_hi) << 32 | u64::from(dividend_lo);
        let (q, r) = if unsigned {
            let q = dividend.checked_div(u64::from(v)).ok_or(Fault::Exception(DE, None))?;
            if q > u64::from(mask(size)) {
                return Err(Fault::Exception(DE, None));
            }
            (q as u32, (dividend % u64::from(v)) as u32)
        } else {
            let n: i64 = match size {
                1 => i64::from(dividend as u16 as i16),
                2 => i64::from(dividend as u32 as i32),
                _ => dividend as i64,
            };
            let dv = i64::from(sext(v, size) as i32);
            let q = n.checked_div(dv).ok_or(Fault::Exception(DE, None))?;
            let r = n.checked_rem(dv).ok_or(Fault::Exception(DE, None))?;
            let lim = i64::from(alu::sign(size));
            if q >= lim || q < -lim {
                return Err(Fault::Exception(DE, None));
            }
            ((q as u32) & mask(size), (r as u32) & mask(size))
        };
        match size {
            1 => self.set_reg(Register::AX, q | r << 8),
            2 => {
                self.set_reg(Register::AX, q);
                self.set_reg(Register::DX, r);
            }
            _ => {
                self.regs.gpr[0] = q;
                self.regs.gpr[2] = r;
            }
        }
        Ok(())
    }

    /// Near RET: pops the return offset (`size` bytes), then releases
    /// `imm` more bytes of stack; returns the new EIP.
    #[inline]
    pub(crate) fn ret_near<B: Bus + ?Sized>(&mut self, bus: &mut B, size: u32, imm: u16) -> Ex<u32> {
        let t = self.pop(bus, size)?;
        if imm != 0 {
            let sp = self.regs.gpr[4].wrapping_add(u32::from(imm));
            self.set_sp(sp);
        }
        Ok(t)
    }

    /// LEAVE (SDM Vol. 2A): the stack pointer from the frame pointer, then
    /// the frame pointer (`size` 4: EBP, 2: BP) popped.
    #[inline]
    pub(crate) fn leave<B: Bus + ?Sized>(&mut self, bus: &mut B, size: u32) -> Ex<()> {
        let bp = self.regs.gpr[5] & self.sp_mask();
        let v = self.read_seg(bus, SegReg::Ss as usize, bp, size)?;
        self.set_sp(bp.wrapping_add(size));
        let reg = if size == 4 { Register::EBP } else { Register::BP };
        self.set_reg(reg, v);
        Ok(())
    }

    #[inline]
    pub(crate) fn set_arith(&mut self, f: u32) {
        self.regs.eflags = (self.regs.eflags & !flags::ARITH) | f;
    }

    #[inline]
    fn flag(&self, f: u32) -> bool {
        self.regs.eflags & f != 0
    }

    #[inline]
    fn set_flag(&mut self, f: u32, on: bool) {
        if on {
            self.regs.eflags |= f;
        } else {
            self.regs.eflags &= !f;
        }
    }

    /// Evaluates condition `cc` (SDM Vol. 1 appendix B).
    #[inline]
    pub(crate) fn cond(&self, cc: u8) -> bool {
        use flags::{CF, OF, PF, SF, ZF};
        let f = self.regs.eflags;
        let r = match cc >> 1 {
            0 => f & OF != 0,
            1 => f & CF != 0,
            2 => f & ZF != 0,
            3 => f & (CF | ZF) != 0,
            4 => f & SF != 0,
            5 => f & PF != 0,
            6 => (f & SF != 0) != (f & OF != 0),
            _ => f & ZF != 0 || ((f & SF != 0) != (f & OF != 0)),
        };
        r ^ (cc & 1 != 0)
    }

    /// Target of a relative branch (decoded at IP 0, so relative to the
    /// instruction start), wrapped to the operand size.
    #[inline]
    fn near_target(d: &Decoded, start: u32) -> u32 {
        match d.instr.op0_kind() {
            OpKind::NearBranch16 => start.wrapping_add(u32::from(d.instr.near_branch16())) & 0xFFFF,
            _ => start.wrapping_add(d.instr.near_branch32()),
        }
    }

    /// Validates a far-transfer target's CS without committing it.
    fn far_cs<B: Bus + ?Sized>(&mut self, bus: &mut B, sel: u16) -> Ex<Segment> {
        if self.protected_mode() {
            if self.regs.eflags & flags::VM != 0 {
                return Err(Stop::Feature("virtual-8086 mode".into()).into());
            }
            self.code_descriptor(bus, sel)
        } else {
            let mut s = self.regs.seg[SegReg::Cs as usize];
            s.selector = sel;
            s.base = u32::from(sel) << 4;
            s.attributes |= Segment::PRESENT;
            Ok(s)
        }
    }

    /// Reads a far pointer `offset(size), selector(2)` from the memory operand.
    fn far_ptr<B: Bus + ?Sized>(&self, bus: &mut B, d: &Decoded, size: u32) -> Ex<(u32, u16)> {
        let seg = Self::mem_seg(d);
        let ea = self.ea(d);
        let off = self.read_seg(bus, seg, ea, size)?;
        let sel = self.read_seg(bus, seg, ea.wrapping_add(size) & if d.addr32 { u32::MAX } else { 0xFFFF }, 2)?;
        Ok((off, sel as u16))
    }

    fn port_count(&mut self, port: u16, out: bool, items: u64) {
        let c = self.counters.ports.entry(port).or_default();
        if out {
            c.out_requests += 1;
            c.out_items += items;
        } else {
            c.in_requests += 1;
            c.in_items += items;
        }
    }

    /// Software interrupt: hand to the embedder when hooked, else deliver.
    fn soft_int<B: Bus + ?Sized>(&mut self, bus: &mut B, vector: u8) -> Ex<Option<Exit>> {
        self.counters.interrupts[usize::from(vector)] += 1;
        if self.is_hooked(vector) {
            return Ok(Some(Exit::Interrupt { vector }));
        }
        self.deliver(bus, vector, None)?;
        Ok(None)
    }

    fn fpu_check(&self) -> Ex<()> {
        if self.regs.cr0 & (cr0::EM | cr0::TS) != 0 {
            return Err(Fault::Exception(7, None));
        }
        Ok(())
    }

    // ---- the interpreter ----

    /// Executes one decoded instruction. EIP is advanced first (relative
    /// branches and pushed return addresses use the next instruction's
    /// address); on a fault the run loop puts it back.
    pub(crate) fn exec<B: Bus + ?Sized>(&mut self, bus: &mut B, d: &Decoded) -> Ex<Option<Exit>> {
        let i = &d.instr;
        let start = self.regs.eip;
        self.regs.eip = start.wrapping_add(i.len() as u32);
        let size = u32::from(d.size);
        let m = i.mnemonic();
        if let Some((op, cc)) = cc_op(m) {
            let taken = self.cond(cc);
            match op {
                CcOp::Jcc if taken => self.regs.eip = Self::near_target(d, start),
                CcOp::Jcc => {}
                CcOp::Setcc => {
                    let l = self.loc(d, 0, 1)?;
                    self.write_loc(bus, l, 1, u32::from(taken));
                }
                CcOp::Cmovcc => {
                    // The source is read (and may fault) whether or not the move happens.
                    let v = self.src(bus, d, 1, size)?;
                    if taken {
                        self.set_reg(i.op0_register(), v);
                    }
                }
            }
            return Ok(None);
        }
        if let Some(op) = AluOp::of(m).filter(|&op| op != AluOp::Mov) {
            let dst = self.loc(d, 0, size)?;
            let a = self.read_loc(bus, dst, size);
            let b = self.src(bus, d, 1, size)? & mask(size);
            let (r, f) = alu::binop(op, a, b, self.regs.eflags & flags::CF, size);
            self.set_arith(f);
            if op.writes() {
                self.write_loc(bus, dst, size, r);
            }
            return Ok(None);
        }
        match m {
            M::Mov => return self.mov(bus, d),
            M::Inc | M::Dec | M::Neg | M::Not => {
                let dst = self.loc(d, 0, size)?;
                let a = self.read_loc(bus, dst, size);
                let r = match m {
                    M::Not => !a & mask(size),
                    M::Neg => {
                        let (r, f) = alu::sub(0, a, 0, size);
                        self.set_arith(f);
                        r
                    }
                    _ => {
                        let (r, f) = if m == M::Inc { alu::add(a, 1, 0, size) } else { alu::sub(a, 1, 0, size) };
                        self.set_arith((f & !flags::CF) | (self.regs.eflags & flags::CF));
                        r
                    }
                };
                self.write_loc(bus, dst, size, r);
            }
            M::Shl | M::Sal | M::Shr | M::Sar => {
                let dst = self.loc(d, 0, size)?;
                let a = self.read_loc(bus, dst, size);
                let c = self.src(bus, d, 1, 1)?;
                let k = match m {
                    M::Shr => ShiftKind::Shr,
                    M::Sar => ShiftKind::Sar,
                    _ => ShiftKind::Shl,
                };
                if let Some((r, f)) = alu::shift(k, a, c, size) {
                    self.set_arith(f);
                    self.write_loc(bus, dst, size, r);
                }
            }
            M::Rol | M::Ror | M::Rcl | M::Rcr => {
                let dst = self.loc(d, 0, size)?;
                let a = self.read_loc(bus, dst, size);
                let c = self.src(bus, d, 1, 1)?;
                let k = match m {
                    M::Rol => RotKind::Rol,
                    M::Ror => RotKind::Ror,
                    M::Rcl => RotKind::Rcl,
                    _ => RotKind::Rcr,
                };
                if let Some((r, cf, of)) = alu::rotate(k, a, c, size, self.flag(flags::CF)) {
                    self.set_flag(flags::CF, cf);
                    self.set_flag(flags::OF, of);
                    self.write_loc(bus, dst, size, r);
                }
            }
            M::Shld | M::Shrd => {
                let dst = self.loc(d, 0, size)?;
                let a = self.read_loc(bus, dst, size);
                let b = self.get_reg(i.op1_register());
                let c = self.src(bus, d, 2, 1)?;
                if let Some((r, f)) = alu::double_shift(m == M::Shld, a, b, c, size) {
                    self.set_arith(f);
                    self.write_loc(bus, dst, size, r);
                }
            }
            M::Mul | M::Imul if i.op_count() == 1 => {
                let v = self.src(bus, d, 0, size)?;
                self.mul_acc(v, size, m == M::Imul);
            }
            M::Imul => {
                let (a, b) = if i.op_count() == 2 {
                    (self.get_reg(i.op0_register()), self.src(bus, d, 1, size)?)
                } else {
                    (self.src(bus, d, 1, size)?, self.src(bus, d, 2, size)?)
                };
                let r = self.imul_truncated(a, b, size);
                self.set_reg(i.op0_register(), r);
            }
            M::Div | M::Idiv => {
                let v = self.src(bus, d, 0, size)?;
                self.div_acc(v, size, m == M::Div)?;
            }
            M::Movzx | M::Movsx => {
                let ss = Self::op_size(d, 1);
                let v = self.src(bus, d, 1, ss)?;
                let v = if m == M::Movsx { sext(v, ss) } else { v };
                self.set_reg(i.op0_register(), v & mask(size));
            }
            M::Lea => {
                let a = self.ea(d);
                self.set_reg(i.op0_register(), a & mask(size));
            }
            M::Xchg => {
                let a = self.loc(d, 0, size)?;
                let b = self.loc(d, 1, size)?;
                let va = self.read_loc(bus, a, size);
                let vb = self.read_loc(bus, b, size);
                self.write_loc(bus, a, size, vb);
                self.write_loc(bus, b, size, va);
            }
            M::Xadd => {
                let dst = self.loc(d, 0, size)?;
                let a = self.read_loc(bus, dst, size);
                let b = self.get_reg(i.op1_register());
                let (r, f) = alu::add(a, b, 0, size);
                self.set_reg(i.op1_register(), a);
                self.write_loc(bus, dst, size, r);
                self.set_arith(f);
            }
            M::Cmpxchg => {
                let dst = self.loc(d, 0, size)?;
                let a = self.read_loc(bus, dst, size);
                let acc = self.regs.gpr[0] & mask(size);
                let (_, f) = alu::sub(acc, a, 0, size);
                self.set_arith(f);
                if acc == a {
                    let s = self.get_reg(i.op1_register());
                    self.write_loc(bus, dst, size, s);
                } else {
                    self.write_loc(bus, dst, size, a);
                    let accr = match size {
                        1 => Register::AL,
                        2 => Register::AX,
                        _ => Register::EAX,
                    };
                    self.set_reg(accr, a);
                }
            }
            M::Cmpxchg8b => {
                let a = self.mem_lin(d, 8)?;
                let lo = self.rd(bus, a, 4);
                let hi = self.rd(bus, a.wrapping_add(4), 4);
                if lo == self.regs.gpr[0] && hi == self.regs.gpr[2] {
                    self.wr(bus, a, 4, self.regs.gpr[3]);
                    self.wr(bus, a.wrapping_add(4), 4, self.regs.gpr[1]);
                    self.set_flag(flags::ZF, true);
                } else {
                    self.wr(bus, a, 4, lo);
                    self.wr(bus, a.wrapping_add(4), 4, hi);
                    self.regs.gpr[0] = lo;
                    self.regs.gpr[2] = hi;
                    self.set_flag(flags::ZF, false);
                }
            }
            M::Bswap => {
                let r = i.op0_register();
                // 16-bit BSWAP is undefined (SDM); it clears the register on
                // Intel parts, as Bochs models.
                let v = if size == 4 { self.get_reg(r).swap_bytes() } else { 0 };
                self.set_reg(r, v);
            }
            M::Bt | M::Bts | M::Btr | M::Btc => {
                let off = self.src(bus, d, 1, size)?;
                let bits = size * 8;
                let (l, bit) = if i.op0_kind() == OpKind::Memory && i.op1_kind() == OpKind::Register {
                    // Register bit offset addresses memory beyond the operand
                    // (SDM Vol. 2A BT: signed offset).
                    let s = sext(off, size) as i32;
                    let disp = (s >> (if size == 2 { 4 } else { 5 })).wrapping_mul(size as i32) as u32;
                    let ea = self.ea(d).wrapping_add(disp) & if d.addr32 { u32::MAX } else { 0xFFFF };
                    (Loc::Mem(self.lin(Self::mem_seg(d), ea, size)?), off & (bits - 1))
                } else {
                    (self.loc(d, 0, size)?, off & (bits - 1))
                };
                let v = self.read_loc(bus, l, size);
                self.set_flag(flags::CF, (v >> bit) & 1 != 0);
                let nv = match m {
                    M::Bts => v | 1 << bit,
                    M::Btr => v & !(1 << bit),
                    M::Btc => v ^ 1 << bit,
                    _ => v,
                };
                if m != M::Bt {
                    self.write_loc(bus, l, size, nv);
                }
            }
            M::Bsf | M::Bsr => {
                let v = self.src(bus, d, 1, size)? & mask(size);
                if v == 0 {
                    self.set_flag(flags::ZF, true);
                } else {
                    self.set_flag(flags::ZF, false);
                    let idx = if m == M::Bsf { v.trailing_zeros() } else { 31 - v.leading_zeros() };
                    self.set_reg(i.op0_register(), idx);
                }
            }
            M::Push => {
                let sz = if d.op32 { 4 } else { 2 };
                let v = self.src(bus, d, 0, sz)?;
                self.push(bus, sz, v)?;
            }
            M::Pop => {
                let sz = if d.op32 { 4 } else { 2 };
                match i.op0_kind() {
                    OpKind::Register => {
                        let r = i.op0_register();
                        let ri = r as usize;
                        if (SEG_FIRST..SEG_FIRST + 6).contains(&ri) {
                            let v = self.peek(bus, 0, sz)?;
                            self.load_data_seg(bus, SegReg::ALL[ri - SEG_FIRST], v as u16)?;
                            self.pop(bus, sz)?;
                        } else {
                            let v = self.pop(bus, sz)?;
                            self.set_reg(r, v);
                        }
                    }
                    _ => {
                        let old = self.regs.gpr[4];
                        let v = self.pop(bus, sz)?;
                        match self.mem_lin(d, sz) {
                            Ok(a) => self.wr(bus, a, sz, v),
                            Err(e) => {
                                self.regs.gpr[4] = old;
                                return Err(e);
                            }
                        }
                    }
                }
            }
            M::Pusha | M::Pushad => {
                let sz = if m == M::Pushad { 4 } else { 2 };
                let sp = self.regs.gpr[4];
                // Check the whole frame first so a fault leaves ESP intact.
                let low = sp.wrapping_sub(8 * sz) & self.sp_mask();
                self.lin(SegReg::Ss as usize, low, 8 * sz)?;
                for r in 0..8 {
                    let v = if r == 4 { sp } else { self.regs.gpr[r] };
                    self.push(bus, sz, v & mask(sz))?;
                }
            }
            M::Popa | M::Popad => {
                let sz = if m == M::Popad { 4 } else { 2 };
                let sp = self.regs.gpr[4] & self.sp_mask();
                self.lin(SegReg::Ss as usize, sp, 8 * sz)?;
                for r in (0..8).rev() {
                    let v = self.pop(bus, sz)?;
                    if r != 4 {
                        self.regs.gpr[r] = if sz == 4 { v } else { (self.regs.gpr[r] & !0xFFFF) | v };
                    }
                }
            }
            M::Pushf | M::Pushfd => {
                let sz = if m == M::Pushfd { 4 } else { 2 };
                let v = self.regs.eflags & !(flags::VM | flags::RF);
                self.push(bus, sz, v & mask(sz))?;
            }
            M::Popf | M::Popfd => {
                let sz = if m == M::Popfd { 4 } else { 2 };
                let v = self.pop(bus, sz)?;
                let msk = flags::POPF_MASK & mask(sz);
                self.regs.eflags = (self.regs.eflags & !msk & !flags::RF) | (v & msk) | flags::FIXED;
            }
            M::Lahf => {
                let v = self.regs.eflags & (flags::ARITH & 0xFF) | flags::FIXED;
                self.set_reg(Register::AH, v);
            }
            M::Sahf => {
                let ah = self.get_reg(Register::AH);
                let msk = flags::ARITH & 0xFF;
                self.regs.eflags = (self.regs.eflags & !msk) | (ah & msk);
            }
            M::Cbw => self.set_reg(Register::AX, sext(self.regs.gpr[0] & 0xFF, 1)),
            M::Cwde => self.regs.gpr[0] = sext(self.regs.gpr[0] & 0xFFFF, 2),
            M::Cwd => {
                let v = if self.regs.gpr[0] & 0x8000 != 0 { 0xFFFF } else { 0 };
                self.set_reg(Register::DX, v);
            }
            M::Cdq => self.regs.gpr[2] = if self.regs.gpr[0] & 0x8000_0000 != 0 { u32::MAX } else { 0 },
            M::Loop | M::Loope | M::Loopne => {
                let cmask = if d.addr32 { u32::MAX } else { 0xFFFF };
                let c = self.regs.gpr[1].wrapping_sub(1) & cmask;
                self.regs.gpr[1] = (self.regs.gpr[1] & !cmask) | c;
                let zf = self.flag(flags::ZF);
                let take = c != 0
                    && match m {
                        M::Loope => zf,
                        M::Loopne => !zf,
                        _ => true,
                    };
                if take {
                    self.regs.eip = Self::near_target(d, start);
                }
            }
            M::Jcxz | M::Jecxz => {
                let c = if m == M::Jecxz { self.regs.gpr[1] } else { self.regs.gpr[1] & 0xFFFF };
                if c == 0 {
                    self.regs.eip = Self::near_target(d, start);
                }
            }
            M::Jmp => match i.op0_kind() {
                OpKind::NearBranch16 | OpKind::NearBranch32 => {
                    self.regs.eip = Self::near_target(d, start);
                    if self.regs.eip == start && self.stop_on_self_jump {
                        return Ok(Some(Exit::SelfJump));
                    }
                    if i.code() == Code::Jmp_rel8_32 && self.regs.eip < start {
                        let base = self.regs.seg[SegReg::Cs as usize].base;
                        self.fuse_copy_loop(bus, base.wrapping_add(start), base.wrapping_add(self.regs.eip));
                    }
                }
                OpKind::FarBranch16 | OpKind::FarBranch32 => {
                    let off = if i.op0_kind() == OpKind::FarBranch16 {
                        u32::from(i.far_branch16())
                    } else {
                        i.far_branch32()
                    };
                    let cs = self.far_cs(bus, i.far_branch_selector())?;
                    self.regs.seg[SegReg::Cs as usize] = cs;
                    self.regs.eip = off;
                }
                _ => match i.code() {
                    Code::Jmp_m1616 | Code::Jmp_m1632 => {
                        let sz = if i.code() == Code::Jmp_m1632 { 4 } else { 2 };
                        let (off, sel) = self.far_ptr(bus, d, sz)?;
                        let cs = self.far_cs(bus, sel)?;
                        self.regs.seg[SegReg::Cs as usize] = cs;
                        self.regs.eip = off;
                    }
                    _ => {
                        let t = self.src(bus, d, 0, size)?;
                        self.regs.eip = t & mask(size);
                    }
                },
            },
            M::Call => {
                let next = self.regs.eip;
                let old_cs = u32::from(self.regs.seg[SegReg::Cs as usize].selector);
                match i.op0_kind() {
                    OpKind::NearBranch16 | OpKind::NearBranch32 => {
                        let sz = if i.op0_kind() == OpKind::NearBranch16 { 2 } else { 4 };
                        self.push(bus, sz, next & mask(sz))?;
                        self.regs.eip = Self::near_target(d, start);
                    }
                    OpKind::FarBranch16 | OpKind::FarBranch32 => {
                        let (off, sz) = if i.op0_kind() == OpKind::FarBranch16 {
                            (u32::from(i.far_branch16()), 2)
                        } else {
                            (i.far_branch32(), 4)
                        };
                        let cs = self.far_cs(bus, i.far_branch_selector())?;
                        self.far_call_push(bus, sz, old_cs, next)?;
                        self.regs.seg[SegReg::Cs as usize] = cs;
                        self.regs.eip = off;
                    }
                    _ => match i.code() {
                        Code::Call_m1616 | Code::Call_m1632 => {
                            let sz = if i.code() == Code::Call_m1632 { 4 } else { 2 };
                            let (off, sel) = self.far_ptr(bus, d, sz)?;
                            let cs = self.far_cs(bus, sel)?;
                            self.far_call_push(bus, sz, old_cs, next)?;
                            self.regs.seg[SegReg::Cs as usize] = cs;
                            self.regs.eip = off;
                        }
                        _ => {
                            let t = self.src(bus, d, 0, size)? & mask(size);
                            self.push(bus, size, next & mask(size))?;
                            self.regs.eip = t;
                        }
                    },
                }
            }
            M::Ret => {
                let sz = if matches!(i.code(), Code::Retnw | Code::Retnw_imm16) { 2 } else { 4 };
                let imm = if i.op_count() == 1 { i.immediate16() } else { 0 };
                self.regs.eip = self.ret_near(bus, sz, imm)?;
            }
            M::Retf => {
                let sz = if matches!(i.code(), Code::Retfw | Code::Retfw_imm16) { 2 } else { 4 };
                let off = self.peek(bus, 0, sz)?;
                let sel = self.peek(bus, sz, 2)? as u16;
                let cs = self.far_cs(bus, sel)?;
                let imm = if i.op_count() == 1 { u32::from(i.immediate16()) } else { 0 };
                let sp = self.regs.gpr[4].wrapping_add(2 * sz).wrapping_add(imm);
                self.set_sp(sp);
                self.regs.seg[SegReg::Cs as usize] = cs;
                self.regs.eip = off;
            }
            M::Iret | M::Iretd => {
                let sz = if m == M::Iretd { 4 } else { 2 };
                if self.protected_mode() && self.flag(flags::NT) {
                    return Err(Stop::Feature("task return (IRET with EFLAGS.NT set)".into()).into());
                }
                let off = self.peek(bus, 0, sz)?;
                let sel = self.peek(bus, sz, 2)? as u16;
                let fl = self.peek(bus, 2 * sz, sz)?;
                if sz == 4 && self.protected_mode() && fl & flags::VM != 0 {
                    return Err(Stop::Feature("IRET to virtual-8086 mode".into()).into());
                }
                let cs = self.far_cs(bus, sel)?;
                let sp = self.regs.gpr[4].wrapping_add(3 * sz);
                self.set_sp(sp);
                self.regs.seg[SegReg::Cs as usize] = cs;
                self.regs.eip = off;
                let msk = flags::POPF_MASK & mask(sz);
                self.regs.eflags = (self.regs.eflags & !msk & !flags::RF) | (fl & msk) | flags::FIXED;
            }
            M::Int => return self.soft_int(bus, i.immediate8()),
            M::Int3 => return self.soft_int(bus, 3),
            M::Int1 => return self.soft_int(bus, 1),
            M::Into => {
                if self.flag(flags::OF) {
                    return self.soft_int(bus, 4);
                }
            }
            M::Enter => {
                let sz = if i.code() == Code::Enterd_imm16_imm8 { 4 } else { 2 };
                let alloc = u32::from(i.immediate16());
                let level = u32::from(i.immediate8_2nd()) & 31;
                let bp = self.regs.gpr[5];
                self.push(bus, sz, bp & mask(sz))?;
                let frame = self.regs.gpr[4] & self.sp_mask();
                if level > 0 {
                    let mut p = bp;
                    for _ in 1..level {
                        p = p.wrapping_sub(sz) & self.sp_mask();
                        let v = self.read_seg(bus, SegReg::Ss as usize, p, sz)?;
                        self.push(bus, sz, v)?;
                    }
                    self.push(bus, sz, frame & mask(sz))?;
                }
                let new_sp = (self.regs.gpr[4] & self.sp_mask()).wrapping_sub(alloc) & self.sp_mask();
                self.lin(SegReg::Ss as usize, new_sp, 1)?;
                let reg = if sz == 4 { Register::EBP } else { Register::BP };
                self.set_reg(reg, frame);
                self.set_sp(new_sp);
            }
            M::Leave => {
                self.leave(bus, if i.code() == Code::Leaved { 4 } else { 2 })?;
            }
            M::In => {
                let sz = u32::from(reg_size(i.op0_register()));
                let port =
                    if i.op1_kind() == OpKind::Register { self.regs.gpr[2] as u16 } else { u16::from(i.immediate8()) };
                self.port_count(port, false, 1);
                let v = bus.port_in(port, AccessSize::from_bytes(sz)) & mask(sz);
                self.memory_may_have_changed();
                self.set_reg(i.op0_register(), v);
            }
            M::Out => {
                let sz = u32::from(reg_size(i.op1_register()));
                let port =
                    if i.op0_kind() == OpKind::Register { self.regs.gpr[2] as u16 } else { u16::from(i.immediate8()) };
                self.port_count(port, true, 1);
                let v = self.get_reg(i.op1_register()) & mask(sz);
                bus.port_out(port, AccessSize::from_bytes(sz), v);
                self.memory_may_have_changed();
                self.refresh_a20(bus);
            }
            M::Cli => self.set_flag(flags::IF, false),
            M::Sti => self.set_flag(flags::IF, true),
            M::Cld => self.set_flag(flags::DF, false),
            M::Std => self.set_flag(flags::DF, true),
            M::Clc => self.set_flag(flags::CF, false),
            M::Stc => self.set_flag(flags::CF, true),
            M::Cmc => self.regs.eflags ^= flags::CF,
            M::Xlatb => {
                let a = self.mem_lin(d, 1)?;
                let v = self.rd(bus, a, 1);
                self.set_reg(Register::AL, v);
            }
            M::Lgdt | M::Lidt => {
                let seg = Self::mem_seg(d);
                let ea = self.ea(d);
                let limit = self.read_seg(bus, seg, ea, 2)? as u16;
                let mut base =
                    self.read_seg(bus, seg, ea.wrapping_add(2) & alu::mask(if d.addr32 { 4 } else { 2 }), 4)?;
                if matches!(i.code(), Code::Lgdt_m1632_16 | Code::Lidt_m1632_16) {
                    // 16-bit operand size loads a 24-bit base (SDM Vol. 2A LGDT).
                    base &= 0x00FF_FFFF;
                }
                let t = crate::state::TableReg { base, limit };
                if m == M::Lgdt {
                    self.regs.gdtr = t;
                } else {
                    self.regs.idtr = t;
                }
            }
            M::Sgdt | M::Sidt => {
                let t = if m == M::Sgdt { self.regs.gdtr } else { self.regs.idtr };
                let seg = Self::mem_seg(d);
                let ea = self.ea(d);
                self.lin(seg, ea, 6)?;
                self.write_seg(bus, seg, ea, 2, u32::from(t.limit))?;
                self.write_seg(bus, seg, ea.wrapping_add(2) & alu::mask(if d.addr32 { 4 } else { 2 }), 4, t.base)?;
            }
            M::Ltr | M::Lldt => {
                // SDM Vol. 2A LTR/LLDT: protected mode only, CPL 0. Linux's
                // arch/x86/boot/pmjump.S loads TR and a null LDTR "to make
                // Intel VT happy" just before the 32-bit entry.
                if !self.protected_mode() {
                    return Err(Stop::Invalid.into());
                }
                let sel = self.src(bus, d, 0, 2)? as u16;
                if m == M::Lldt {
                    if sel & !3 != 0 {
                        return Err(Stop::Feature(format!(
                            "LLDT of a non-null selector {sel:#06x} (LDTs are not modelled)"
                        ))
                        .into());
                    }
                    self.regs.ldtr = sel;
                } else {
                    self.load_tr(bus, sel)?;
                }
            }
            M::Str | M::Sldt => {
                if !self.protected_mode() {
                    return Err(Stop::Invalid.into());
                }
                let v = u32::from(if m == M::Str { self.regs.tr } else { self.regs.ldtr });
                let l = self.loc(d, 0, size)?;
                self.write_loc(bus, l, size, v & mask(size));
            }
            M::Smsw => {
                let l = self.loc(d, 0, size)?;
                self.write_loc(bus, l, size, self.regs.cr0 & mask(size));
            }
            M::Lmsw => {
                // Loads PE, MP, EM, TS; cannot clear PE (SDM Vol. 2A LMSW).
                let v = self.src(bus, d, 0, 2)? & 0xF;
                let pe = self.regs.cr0 & cr0::PE;
                self.regs.cr0 = (self.regs.cr0 & !0xF) | v | pe;
            }
            M::Clts => self.regs.cr0 &= !cr0::TS,
            M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => {
                let sr = match m {
                    M::Lds => SegReg::Ds,
                    M::Les => SegReg::Es,
                    M::Lfs => SegReg::Fs,
                    M::Lgs => SegReg::Gs,
                    _ => SegReg::Ss,
                };
                let (off, sel) = self.far_ptr(bus, d, size)?;
                self.load_data_seg(bus, sr, sel)?;
                self.set_reg(i.op0_register(), off);
            }
            M::Cpuid => {
                let r = self.cpuid.query(self.regs.gpr[0], self.regs.gpr[1]);
                self.regs.gpr[0] = r[0];
                self.regs.gpr[3] = r[1];
                self.regs.gpr[1] = r[2];
                self.regs.gpr[2] = r[3];
            }
            M::Rdtsc => {
                let t = bus.tsc(self.counters.instructions);
                self.memory_may_have_changed();
                self.regs.gpr[0] = t as u32;
                self.regs.gpr[2] = (t >> 32) as u32;
            }
            M::Hlt => return Ok(Some(Exit::Halt)),
            M::Nop | M::Pause | M::Wbinvd | M::Invd | M::Invlpg | M::Wait => {}
            M::Fninit => {
                self.fpu_check()?;
                self.regs.fpu_control = 0x037F;
                self.regs.fpu_status = 0;
            }
            M::Fnclex => {
                self.fpu_check()?;
                self.regs.fpu_status &= 0x7F00;
            }
            M::Fnstsw => {
                self.fpu_check()?;
                let l = self.loc(d, 0, 2)?;
                self.write_loc(bus, l, 2, u32::from(self.regs.fpu_status));
            }
            M::Fnstcw => {
                self.fpu_check()?;
                let l = self.loc(d, 0, 2)?;
                self.write_loc(bus, l, 2, u32::from(self.regs.fpu_control));
            }
            M::Fldcw => {
                self.fpu_check()?;
                self.regs.fpu_control = self.src(bus, d, 0, 2)? as u16;
            }
            M::Movsb | M::Movsw | M::Cmpsb | M::Cmpsw | M::Stosb | M::Stosw | M::Stosd | M::Lodsb | M::Lodsw => {
                return self.string(bus, d, start);
            }
            M::Lodsd
            | M::Scasb
            | M::Scasw
            | M::Scasd
            | M::Insb
            | M::Insw
            | M::Insd
            | M::Outsb
            | M::Outsw
            | M::Outsd => {
                return self.string(bus, d, start);
            }
            M::Movsd | M::Cmpsd if matches!(i.code(), Code::Movsd_m32_m32 | Code::Cmpsd_m32_m32) => {
                return self.string(bus, d, start);
            }
            M::Ud2 => return Err(Stop::Invalid.into()),
            _ => return Err(Stop::Unsupported(unsupported_reason(m)).into()),
        }
        Ok(None)
    }

    fn far_call_push<B: Bus + ?Sized>(&mut self, bus: &mut B, sz: u32, cs: u32, eip: u32) -> Ex<()> {
        let sp = self.regs.gpr[4];
        let low = sp.wrapping_sub(2 * sz) & self.sp_mask();
        self.lin(SegReg::Ss as usize, low, 2 * sz)?;
        self.push(bus, sz, cs)?;
        self.push(bus, sz, eip & mask(sz))
    }

    /// MOV in all its forms: general, segment registers, control registers.
    fn mov<B: Bus + ?Sized>(&mut self, bus: &mut B, d: &Decoded) -> Ex<Option<Exit>> {
        let i = &d.instr;
        let size = u32::from(d.size);
        let r0 = i.op0_register() as usize;
        let r1 = i.op1_register() as usize;
        let is_seg = |r: usize| (SEG_FIRST..SEG_FIRST + 6).contains(&r);
        let is_cr = |r: usize| (CR0_REG..CR0_REG + 16).contains(&r);
        if i.op0_kind() == OpKind::Register && is_seg(r0) {
            let sr = SegReg::ALL[r0 - SEG_FIRST];
            if sr == SegReg::Cs {
                return Err(Stop::Invalid.into());
            }
            let v = self.src(bus, d, 1, 2)?;
            self.load_data_seg(bus, sr, v as u16)?;
        } else if i.op1_kind() == OpKind::Register && is_seg(r1) {
            let sel = u32::from(self.regs.seg[r1 - SEG_FIRST].selector);
            match i.op0_kind() {
                OpKind::Register => {
                    let r = i.op0_register();
                    // A 32-bit destination is zero-extended on P6 and later.
                    self.set_reg(r, sel);
                }
                _ => {
                    let a = self.mem_lin(d, 2)?;
                    self.wr(bus, a, 2, sel);
                }
            }
        } else if i.op0_kind() == OpKind::Register && is_cr(r0) {
            let v = self.get_reg(i.op1_register());
            match r0 - CR0_REG {
                0 => {
                    if v & cr0::PG != 0 {
                        return Err(Stop::Feature(format!("paging (mov cr0 with PG set, value {v:#010x})")).into());
                    }
                    self.regs.cr0 = v | cr0::ET;
                }
                2 => self.regs.cr2 = v,
                3 => self.regs.cr3 = v,
                4 => self.regs.cr4 = v,
                _ => return Err(Stop::Invalid.into()),
            }
        } else if i.op1_kind() == OpKind::Register && is_cr(r1) {
            let v = match r1 - CR0_REG {
                0 => self.regs.cr0,
                2 => self.regs.cr2,
                3 => self.regs.cr3,
                4 => self.regs.cr4,
                _ => return Err(Stop::Invalid.into()),
            };
            self.set_reg(i.op0_register(), v);
        } else if (i.op0_kind() == OpKind::Register && (r0 >= CR0_REG + 16))
            || (i.op1_kind() == OpKind::Register && (r1 >= CR0_REG + 16))
        {
            return Err(Stop::Unsupported("debug/test registers are not modelled").into());
        } else {
            let v = self.src(bus, d, 1, size)?;
            let l = self.loc(d, 0, size)?;
            self.write_loc(bus, l, size, v);
        }
        Ok(None)
    }
}
