//! Byte-copy loops run as one step.
//!
//! GRUB 2 moves every byte of a kernel it loads through `grub_memmove`
//! (grub-core/kern/misc.c: `while (n--) *d++ = *s++;` and the backward
//! `*--d = *--s;`), which GCC -Os compiles to loops of four or five
//! instructions per byte: about 300 M guest instructions for Debian's
//! 14 MB cloud kernel, most of a real GRUB 2 boot. When a backward `jmp
//! rel8` in flat 32-bit code closes exactly one of those loop shapes, its
//! remaining iterations run here at once, with the state the step-by-step
//! run would reach at the loop head: the same bytes in memory in the same
//! order, the same registers, the same instruction count (each skipped
//! iteration counts all its instructions, and the instruction budget is
//! honoured, EFLAGS as the last skipped `cmp`/`sub` left them).
//!
//! Shapes (32-bit code, DS and ES flat, A20 on, DF and TF clear):
//! - forward, `T: cmp ecx,edi ; je out ; movsb ; jmp T` (or `cmp edi,ecx`):
//!   ECX − EDI more iterations;
//! - backward, `L: sub ecx,1 ; jb out ; mov dl,[esi+ecx] ; mov [eax+ecx],dl
//!   ; jmp L`: ECX more iterations.

use crate::alu;
use crate::bus::Bus;
use crate::cpu::Cpu;
use crate::state::{SegReg, flags};

/// `cmp ecx,edi`/`cmp edi,ecx` ; `je rel8` ; `movsb` ; `jmp` back 7 bytes.
const FORWARD_LEN: u32 = 7;
/// `sub ecx,1` ; `jb rel8` ; `mov dl,[esi+ecx]` ; `mov [eax+ecx],dl` ;
/// `jmp` back 13 bytes.
const BACKWARD: [u8; 11] = [0x83, 0xE9, 0x01, 0x72, 0x08, 0x8A, 0x14, 0x0E, 0x88, 0x14, 0x08];
const BACKWARD_LEN: u32 = 13;

impl Cpu {
    /// Whether DS and ES are flat 4 GiB segments and nothing would make
    /// the step-by-step run differ (single-step trap, A20 masking).
    fn flat_data(&self) -> bool {
        let flat = |s: SegReg| {
            let seg = &self.regs.seg[s as usize];
            seg.base == 0 && seg.limit == u32::MAX && seg.present()
        };
        self.protected_mode()
            && self.a20_mask == u32::MAX
            && self.regs.eflags & flags::TF == 0
            && flat(SegReg::Ds)
            && flat(SegReg::Es)
    }

    /// Instructions the budget still allows after the current one.
    fn budget_left(&self) -> u64 {
        self.budget_end.saturating_sub(self.counters.instructions).saturating_sub(1)
    }

    /// Called after a taken `jmp rel8` at linear `jmp_at` to `target` in
    /// 32-bit code (EIP already at the target).
    pub(crate) fn fuse_copy_loop<B: Bus + ?Sized>(&mut self, bus: &mut B, jmp_at: u32, target: u32) {
        if !self.flat_data() {
            return;
        }
        let mut head = [0u8; 16];
        for (k, b) in head.iter_mut().enumerate() {
            *b = bus.read_u8(target.wrapping_add(k as u32));
        }
        let loop_len = jmp_at.wrapping_sub(target).wrapping_add(2);
        let (ecx, esi, edi, eax) = (self.regs.gpr[1], self.regs.gpr[6], self.regs.gpr[7], self.regs.gpr[0]);
        if loop_len == FORWARD_LEN
            && head[0] == 0x39
            && matches!(head[1], 0xF9 | 0xCF)
            && head[2] == 0x74
            && head[4] == 0xA4
            && self.regs.eflags & flags::DF == 0
            && edi < ecx
        {
            let n = u64::from(ecx - edi).min(self.budget_left() / 4);
            if n == 0 || overlaps(edi, n, target, FORWARD_LEN) || esi.checked_add(n as u32).is_none() {
                return;
            }
            for k in 0..n as u32 {
                let v = bus.read_u8(esi + k);
                bus.write_u8(edi + k, v);
            }
            let last = edi + n as u32 - 1;
            let (_, f) = if head[1] == 0xF9 { alu::sub(ecx, last, 0, 4) } else { alu::sub(last, ecx, 0, 4) };
            self.set_arith(f);
            self.regs.gpr[6] = esi + n as u32;
            self.regs.gpr[7] = edi + n as u32;
            self.counters.instructions += 4 * n;
        } else if loop_len == BACKWARD_LEN && head[..BACKWARD.len()] == BACKWARD {
            let n = u64::from(ecx).min(self.budget_left() / 5);
            let low = ecx - n as u32;
            if n == 0
                || esi.checked_add(ecx).is_none()
                || eax.checked_add(ecx).is_none()
                || overlaps(eax + low, n, target, BACKWARD_LEN)
            {
                return;
            }
            let mut dl = 0;
            for c in (low..ecx).rev() {
                dl = bus.read_u8(esi + c);
                bus.write_u8(eax + c, dl);
            }
            let (_, f) = alu::sub(low + 1, 1, 0, 4);
            self.set_arith(f);
            self.regs.gpr[1] = low;
            self.regs.gpr[2] = (self.regs.gpr[2] & !0xFF) | u32::from(dl);
            self.counters.instructions += 5 * n;
        }
    }
}

/// Whether `[at, at + len)` touches the loop's code `[code, code + code_len)`.
fn overlaps(at: u32, len: u64, code: u32, code_len: u32) -> bool {
    let (a0, a1) = (u64::from(at), u64::from(at) + len);
    let (c0, c1) = (u64::from(code), u64::from(code) + u64::from(code_len));
    a0 < c1 && c0 < a1
}
