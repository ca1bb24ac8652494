//! Arithmetic and logic with EFLAGS results, as pure functions of their
//! inputs so they can be tested against an independent reference.
//!
//! Defined flags follow the Intel SDM Vol. 2 instruction pages. Where the
//! SDM says "undefined", the value follows Bochs (`cpu/arith*.cc`,
//! `cpu/shift*.cc`, `cpu/mult*.cc`): logic-style SF/ZF/PF from the result
//! and AF cleared. Operand sizes are 1, 2 or 4 bytes; values are kept
//! zero-extended in `u32`, and wrapping is the architecture's semantics.

use crate::state::flags::{AF, CF, OF, PF, SF, ZF};

/// Two-operand arithmetic/logic, plus MOV (no flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AluOp {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
    Test,
    Mov,
}

impl AluOp {
    /// Whether the result is written back: CMP and TEST only set flags.
    #[inline(always)]
    pub(crate) const fn writes(self) -> bool {
        !matches!(self, AluOp::Cmp | AluOp::Test)
    }
}

/// The result and flags of `op` on `size`-byte operands (`b` already
/// masked) with carry-in `cf` (SDM Vol. 2 ADD/ADC/SUB/SBB/CMP/AND/OR/XOR/
/// TEST); MOV passes `b` through with no flags. The one definition the
/// interpreter and the fast path both run.
#[inline(always)]
pub(crate) fn binop(op: AluOp, a: u32, b: u32, cf: u32, size: u32) -> (u32, u32) {
    match op {
        AluOp::Add => add(a, b, 0, size),
        AluOp::Adc => add(a, b, cf, size),
        AluOp::Sub | AluOp::Cmp => sub(a, b, 0, size),
        AluOp::Sbb => sub(a, b, cf, size),
        AluOp::Or => (a | b, logic(a | b, size)),
        AluOp::Xor => (a ^ b, logic(a ^ b, size)),
        AluOp::And | AluOp::Test => (a & b, logic(a & b, size)),
        AluOp::Mov => (b, 0),
    }
}

/// Mask of an operand of `size` bytes.
#[inline(always)]
pub const fn mask(size: u32) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

/// Sign bit of an operand of `size` bytes.
#[inline(always)]
pub const fn sign(size: u32) -> u32 {
    match size {
        1 => 0x80,
        2 => 0x8000,
        _ => 0x8000_0000,
    }
}

/// Sign-extends a `size`-byte value to 32 bits.
#[inline(always)]
pub const fn sext(v: u32, size: u32) -> u32 {
    match size {
        1 => v as u8 as i8 as i32 as u32,
        2 => v as u16 as i16 as i32 as u32,
        _ => v,
    }
}

/// PF for each low result byte (even parity), a table because POPCNT is
/// not in the x86-64 baseline.
const PARITY: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        if (i as u32).count_ones() & 1 == 0 {
            t[i] = PF as u8;
        }
        i += 1;
    }
    t
};

/// SF, ZF and PF of a result (PF: even parity of the low byte). Branch
/// free: it runs for nearly every interpreted instruction.
#[inline(always)]
pub const fn szp(res: u32, size: u32) -> u32 {
    let zf = ((res & mask(size) == 0) as u32) * ZF;
    let sf = ((res & sign(size) != 0) as u32) * SF;
    zf | sf | PARITY[(res & 0xFF) as usize] as u32
}

/// ADD/ADC: `a + b + carry_in`. Returns the result and all six flags.
#[inline(always)]
pub const fn add(a: u32, b: u32, carry_in: u32, size: u32) -> (u32, u32) {
    let m = mask(size);
    let wide = (a as u64) + (b as u64) + (carry_in as u64);
    let res = (wide as u32) & m;
    let cf = ((wide > m as u64) as u32) * CF;
    let af = (a ^ b ^ res) & AF;
    let of = (((a ^ res) & (b ^ res) & sign(size) != 0) as u32) * OF;
    (res, szp(res, size) | cf | af | of)
}

/// SUB/SBB/CMP/NEG: `a - b - borrow_in`. Returns the result and all six
/// flags.
#[inline(always)]
pub const fn sub(a: u32, b: u32, borrow_in: u32, size: u32) -> (u32, u32) {
    let m = mask(size);
    let res = a.wrapping_sub(b).wrapping_sub(borrow_in) & m;
    let cf = (((a as u64) < (b as u64) + (borrow_in as u64)) as u32) * CF;
    let af = (a ^ b ^ res) & AF;
    let of = (((a ^ b) & (a ^ res) & sign(size) != 0) as u32) * OF;
    (res, szp(res, size) | cf | af | of)
}

/// AND/OR/XOR/TEST flags: CF = OF = 0, AF cleared (undefined), SF/ZF/PF from
/// the result.
#[inline(always)]
pub const fn logic(res: u32, size: u32) -> u32 {
    szp(res, size)
}

/// What every shift and rotate starts from (SDM Vol. 2B SAL/SAR/SHL/SHR,
/// RCL/RCR/ROL/ROR, SHLD/SHRD: "the count is masked to 5 bits"; a masked
/// count of 0 changes nothing): the masked count, the operand's bits, its
/// mask and `val` masked to it; `None` for a count of 0.
#[inline(always)]
const fn shift_operands(val: u32, count: u32, size: u32) -> Option<(u32, u32, u32, u32)> {
    let c = count & 0x1F;
    if c == 0 {
        return None;
    }
    let m = mask(size);
    Some((c, size * 8, m, val & m))
}

/// The shift group (SHL/SAL, SHR, SAR) after masking the count to 5 bits.
/// `None` when the masked count is 0: result and flags are unchanged.
/// Returns the result and the six arithmetic flags (AF cleared).
pub const fn shift(kind: ShiftKind, val: u32, count: u32, size: u32) -> Option<(u32, u32)> {
    let Some((c, bits, m, v)) = shift_operands(val, count, size) else { return None };
    let (res, cf, of) = match kind {
        ShiftKind::Shl => {
            let wide = (v as u64) << c;
            let res = (wide as u32) & m;
            let cf = (wide >> bits) & 1 != 0;
            (res, cf, cf ^ (res & sign(size) != 0))
        }
        ShiftKind::Shr => {
            let res = ((v as u64) >> c) as u32;
            let cf = ((v as u64) >> (c - 1)) & 1 != 0;
            let of = ((res >> (bits - 1)) ^ (res >> (bits - 2))) & 1 != 0;
            (res, cf, of)
        }
        ShiftKind::Sar => {
            let s = sext(v, size) as i32 as i64;
            let res = ((s >> c) as u32) & m;
            let cf = (s >> (c - 1)) & 1 != 0;
            (res, cf, false)
        }
    };
    let mut f = szp(res, size);
    if cf {
        f |= CF;
    }
    if of {
        f |= OF;
    }
    Some((res, f))
}

/// Which shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftKind {
    /// SHL/SAL.
    Shl,
    /// SHR.
    Shr,
    /// SAR.
    Sar,
}

/// Which rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotKind {
    /// ROL.
    Rol,
    /// ROR.
    Ror,
    /// RCL (through CF).
    Rcl,
    /// RCR (through CF).
    Rcr,
}

/// ROL/ROR/RCL/RCR (SDM Vol. 2B "RCL/RCR/ROL/ROR"): only CF and OF change.
/// Returns the result and the new CF and OF, or `None` when the masked
/// count is 0 (nothing changes). For RCL/RCR a count that is a multiple of
/// size+1 leaves the value and CF as they were but OF is still computed.
pub fn rotate(kind: RotKind, val: u32, count: u32, size: u32, cf_in: bool) -> Option<(u32, bool, bool)> {
    let (c, bits, m, v) = shift_operands(val, count, size)?;
    let msb = |x: u32| x & sign(size) != 0;
    match kind {
        RotKind::Rol => {
            let r = c % bits;
            let res = if r == 0 { v } else { ((v << r) | (v >> (bits - r))) & m };
            let cf = res & 1 != 0;
            Some((res, cf, msb(res) ^ cf))
        }
        RotKind::Ror => {
            let r = c % bits;
            let res = if r == 0 { v } else { ((v >> r) | (v << (bits - r))) & m };
            let cf = msb(res);
            let of = msb(res) ^ (res & (sign(size) >> 1) != 0);
            Some((res, cf, of))
        }
        RotKind::Rcl => {
            let r = c % (bits + 1);
            // bits+1-bit quantity CF:value rotated left by r.
            let wide = ((cf_in as u64) << bits) | v as u64;
            let n = bits as u64 + 1;
            let all = (1u64 << n) - 1;
            let rot = if r == 0 { wide } else { ((wide << r) | (wide >> (n - r as u64))) & all };
            let res = (rot as u32) & m;
            let cf = (rot >> bits) & 1 != 0;
            Some((res, cf, msb(res) ^ cf))
        }
        RotKind::Rcr => {
            let r = c % (bits + 1);
            let wide = ((cf_in as u64) << bits) | v as u64;
            let n = bits as u64 + 1;
            let all = (1u64 << n) - 1;
            let rot = if r == 0 { wide } else { ((wide >> r) | (wide << (n - r as u64))) & all };
            let res = (rot as u32) & m;
            let cf = (rot >> bits) & 1 != 0;
            // SDM: OF = MSB(DEST) XOR CF, computed before the rotation.
            Some((res, cf, msb(v) ^ cf_in))
        }
    }
}

/// SHLD (`left`) / SHRD: shifts `dst` by `count & 31`, filling from `src`.
/// `None` when the masked count is 0. For 16-bit operands a count above 16
/// is undefined in the SDM; the double-width formula used here then shifts
/// bits of `dst` back in, as Bochs does.
pub const fn double_shift(left: bool, dst: u32, src: u32, count: u32, size: u32) -> Option<(u32, u32)> {
    let Some((c, bits, m, _)) = shift_operands(dst, count, size) else { return None };
    let (res, cf) = if left {
        let wide = ((dst & m) as u64) << bits | (src & m) as u64;
        let wide = if bits == 16 { wide << 32 | wide } else { wide };
        let top = if bits == 16 { 64 } else { 2 * bits };
        let shifted = wide << c;
        let res = ((shifted >> (top - bits)) as u32) & m;
        let cf = (wide >> (top - c)) & 1 != 0;
        (res, cf)
    } else {
        let wide = ((src & m) as u64) << bits | (dst & m) as u64;
        let wide = if bits == 16 { wide << 32 | wide } else { wide };
        let res = ((wide >> c) as u32) & m;
        let cf = (wide >> (c - 1)) & 1 != 0;
        (res, cf)
    };
    let mut f = szp(res, size);
    if cf {
        f |= CF;
    }
    if (res ^ dst) & sign(size) != 0 {
        f |= OF;
    }
    Some((res, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_flags_by_hand() {
        // 0xFF + 1 = 0x00: CF, ZF, AF, PF (0 has even parity), no OF.
        assert_eq!(add(0xFF, 1, 0, 1), (0, CF | ZF | AF | PF));
        // 0x7F + 1 = 0x80: OF, SF, AF; 0x80 has one bit -> odd parity.
        assert_eq!(add(0x7F, 1, 0, 1), (0x80, OF | SF | AF));
        // 0x7FFF_FFFF + 0x7FFF_FFFF + 1 = 0xFFFF_FFFF: OF, SF, AF, PF.
        assert_eq!(add(0x7FFF_FFFF, 0x7FFF_FFFF, 1, 4), (0xFFFF_FFFF, OF | SF | AF | PF));
        // 16-bit carry out, 0x8000 + 0x8000 = 0: CF, OF, ZF, PF.
        assert_eq!(add(0x8000, 0x8000, 0, 2), (0, CF | OF | ZF | PF));
    }

    #[test]
    fn sub_flags_by_hand() {
        // 0 - 1 = 0xFF: CF (borrow), SF, AF, PF.
        assert_eq!(sub(0, 1, 0, 1), (0xFF, CF | SF | AF | PF));
        // 0x80 - 1 = 0x7F: OF (neg - pos = pos), AF; 0x7F has 7 bits -> odd.
        assert_eq!(sub(0x80, 1, 0, 1), (0x7F, OF | AF));
        // cmp 5,5: ZF PF.
        assert_eq!(sub(5, 5, 0, 4), (0, ZF | PF));
        // sbb 0,0 with borrow = 0xFFFF_FFFF: CF SF AF PF.
        assert_eq!(sub(0, 0, 1, 4), (0xFFFF_FFFF, CF | SF | AF | PF));
    }

    #[test]
    fn shifts_by_hand() {
        // shl al,1 with al=0x81 -> 0x02, CF=1, OF = CF ^ MSB = 1.
        assert_eq!(shift(ShiftKind::Shl, 0x81, 1, 1), Some((0x02, CF | OF)));
        // shr al,1 with al=0x81 -> 0x40, CF=1, OF = old MSB = 1.
        assert_eq!(shift(ShiftKind::Shr, 0x81, 1, 1), Some((0x40, CF | OF)));
        // sar ax,4 with 0x8010 -> 0xF801, CF = bit 3 = 0.
        assert_eq!(shift(ShiftKind::Sar, 0x8010, 4, 2), Some((0xF801, SF)));
        // count masked to 0: unchanged.
        assert_eq!(shift(ShiftKind::Shl, 0x81, 32, 1), None);
        // shl eax,31 of 3 -> 0x8000_0000, CF = bit 1 = 1.
        assert_eq!(shift(ShiftKind::Shl, 3, 31, 4), Some((0x8000_0000, CF | SF | PF)));
    }

    #[test]
    fn rotates_by_hand() {
        // OF = MSB(result) ^ CF = 0 ^ 1.
        assert_eq!(rotate(RotKind::Rol, 0x81, 1, 1, false), Some((0x03, true, true)));
        assert_eq!(rotate(RotKind::Ror, 0x01, 1, 1, false), Some((0x80, true, true)));
        // rcl al,1 with CF=1, al=0x80 -> 0x01, CF=1.
        assert_eq!(rotate(RotKind::Rcl, 0x80, 1, 1, true), Some((0x01, true, true)));
        // rcr al,1 with CF=1, al=0x01 -> 0x80, CF=1, OF = MSB(0x01) ^ 1 = 1.
        assert_eq!(rotate(RotKind::Rcr, 0x01, 1, 1, true), Some((0x80, true, true)));
        // rcl by 9 on a byte is the identity.
        assert_eq!(rotate(RotKind::Rcl, 0x5A, 9, 1, true).map(|r| (r.0, r.1)), Some((0x5A, true)));
    }

    #[test]
    fn double_shifts_by_hand() {
        // shld eax,edx,8: eax=0x11223344 edx=0xAABBCCDD -> 0x223344AA, CF = bit 24 of eax = 1.
        assert_eq!(double_shift(true, 0x1122_3344, 0xAABB_CCDD, 8, 4).map(|r| r.0), Some(0x2233_44AA));
        // shrd eax,edx,8 -> 0xDD112233, CF = bit 7 of eax = 0.
        let (r, f) = double_shift(false, 0x1122_3344, 0xAABB_CCDD, 8, 4).unwrap_or_default();
        assert_eq!(r, 0xDD11_2233);
        assert_eq!(f & CF, 0);
        // 16-bit: shld ax,dx,4: ax=0x1234 dx=0xABCD -> 0x234A, CF = bit 12 of ax = 1.
        let (r, f) = double_shift(true, 0x1234, 0xABCD, 4, 2).unwrap_or_default();
        assert_eq!((r, f & CF), (0x234A, CF));
    }
}
