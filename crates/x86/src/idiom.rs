//! Hot loops of real boot loaders run as one step: GRUB 2's byte copies
//! and its Reed-Solomon polynomial evaluation.
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
//!
//! GRUB 2's core.img checks itself with Reed-Solomon before it runs
//! (grub-core/lib/reed_solomon.c, called from startup_raw.S): every
//! syndrome is `pol_evaluate`, a loop over every byte of the image that
//! GCC -Os makes of
//! `if (pol[i]) s ^= gf_powx[gf_logx[pol[i]] + log_xn]; log_xn += log_x;
//! if (log_xn >= 255) log_xn -= 255;` (i counting down), ten to fourteen
//! instructions a byte: about 160 M guest instructions for a btrfs
//! core.img. The exact shape (tables at the addresses its code names):
//! `L: test eax,eax ; js out ; movzx ecx,byte [ebx+eax] ; test cl,cl ; je
//! N ; movzx ecx,byte [ecx+LOGX] ; mov cl,[edx+ecx+POWX] ; xor esi,ecx ; N:
//! add edx,edi ; cmp edx,0xfe ; jle D ; sub edx,0xff ; D: dec eax ; jmp L`.

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

/// Whether a backward `jmp rel8` closing a loop of `loop_len` bytes (from
/// the loop head to the end of the `jmp`) can close one of the shapes
/// above. Every other backward jump is an ordinary one, so the decoder
/// gives it the fast path instead of a look at the loop's bytes per jump.
pub(crate) fn may_close_a_fused_loop(loop_len: u32) -> bool {
    matches!(loop_len, FORWARD_LEN | BACKWARD_LEN | RS_LEN)
}

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
            self.note_write(edi, n as u32);
            // Ascending byte order is memmove's unless the destination
            // starts inside the source, where each byte read was written
            // by the loop before (a replicating fill).
            if edi > esi && edi - esi < n as u32 {
                for k in 0..n as u32 {
                    let v = bus.read_u8(esi + k);
                    bus.write_u8(edi + k, v);
                }
            } else {
                bus.copy_bytes(edi, esi, n as u32);
            }
            let last = edi + n as u32 - 1;
            let (_, f) = if head[1] == 0xF9 { alu::sub(ecx, last, 0, 4) } else { alu::sub(last, ecx, 0, 4) };
            self.set_arith(f);
            self.regs.gpr[6] = esi + n as u32;
            self.regs.gpr[7] = edi + n as u32;
            self.counters.instructions += 4 * n;
        } else if loop_len == RS_LEN {
            self.fuse_pol_evaluate(bus, target, &head);
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
            self.note_write(eax + low, n as u32);
            // Descending byte order is memmove's unless the destination
            // starts below the source and reaches into it.
            let (src, dst) = (esi + low, eax + low);
            let dl = if dst < src && src - dst < n as u32 {
                let mut dl = 0;
                for c in (low..ecx).rev() {
                    dl = bus.read_u8(esi + c);
                    bus.write_u8(eax + c, dl);
                }
                dl
            } else {
                // DL ends as the last byte read, the lowest source byte: no
                // write of a non-replicating copy reaches it first, and a
                // destination in ROM would not hold it afterwards.
                let dl = bus.read_u8(src);
                bus.copy_bytes(dst, src, n as u32);
                dl
            };
            let (_, f) = alu::sub(low + 1, 1, 0, 4);
            self.set_arith(f);
            self.regs.gpr[1] = low;
            self.regs.gpr[2] = (self.regs.gpr[2] & !0xFF) | u32::from(dl);
            self.counters.instructions += 5 * n;
        }
    }
}

/// The `pol_evaluate` loop, from its head to its `jmp` (47 bytes).
const RS_LEN: u32 = 47;

impl Cpu {
    /// The remaining iterations of GRUB 2's `pol_evaluate` loop (see the
    /// module doc) whose head is at `target`, as the step-by-step run would
    /// leave them: EAX, ECX, EDX, ESI, the instruction count and EFLAGS as
    /// the last `dec eax` left them. It only reads memory.
    fn fuse_pol_evaluate<B: Bus + ?Sized>(&mut self, bus: &mut B, target: u32, head: &[u8; 16]) {
        let mut code = [0u8; RS_LEN as usize];
        code[..16].copy_from_slice(head);
        for (k, b) in code.iter_mut().enumerate().skip(16) {
            *b = bus.read_u8(target.wrapping_add(k as u32));
        }
        const SHAPE: [(usize, &[u8]); 9] = [
            (0, &[0x85, 0xC0, 0x78, 0x2B, 0x0F, 0xB6, 0x0C, 0x03, 0x84, 0xC9, 0x74, 0x10, 0x0F, 0xB6, 0x89]),
            (19, &[0x8A, 0x8C, 0x0A]),
            (26, &[0x31, 0xCE]),
            (28, &[0x01, 0xFA]),
            (30, &[0x81, 0xFA, 0xFE, 0x00, 0x00, 0x00]),
            (36, &[0x7E, 0x06]),
            (38, &[0x81, 0xEA, 0xFF, 0x00, 0x00, 0x00]),
            (44, &[0x48]),
            (45, &[0xEB, 0xD1]),
        ];
        if SHAPE.iter().any(|(at, bytes)| code[*at..*at + bytes.len()] != **bytes) {
            return;
        }
        let logx = u32::from_le_bytes([code[15], code[16], code[17], code[18]]);
        let powx = u32::from_le_bytes([code[22], code[23], code[24], code[25]]);
        let [mut eax, ebx, mut ecx, mut edx, mut esi, edi] = [0, 3, 1, 2, 6, 7].map(|r| self.regs.gpr[r]);
        let budget = self.budget_left();
        let mut done = 0u64;
        let mut last_flags = None;
        while (eax as i32) >= 0 {
            let byte = bus.read_u8(ebx.wrapping_add(eax));
            let nonzero = byte != 0;
            let sum = edx.wrapping_add(edi);
            let wrap = (sum as i32) > 0xFE;
            let cost = 10 + 3 * u64::from(nonzero) + u64::from(wrap);
            if done + cost > budget {
                break;
            }
            ecx = u32::from(byte);
            if nonzero {
                ecx = u32::from(bus.read_u8(ecx.wrapping_add(logx)));
                let v = bus.read_u8(edx.wrapping_add(ecx).wrapping_add(powx));
                ecx = (ecx & !0xFF) | u32::from(v);
                esi ^= ecx;
            }
            let (_, mut f) = alu::sub(sum, 0xFE, 0, 4);
            edx = sum;
            if wrap {
                let (r, fs) = alu::sub(edx, 0xFF, 0, 4);
                edx = r;
                f = fs;
            }
            let (r, fd) = alu::sub(eax, 1, 0, 4);
            eax = r;
            last_flags = Some((fd & !flags::CF) | (f & flags::CF));
            done += cost;
        }
        let Some(f) = last_flags else { return };
        self.set_arith(f);
        for (r, v) in [(0, eax), (1, ecx), (2, edx), (6, esi)] {
            self.regs.gpr[r] = v;
        }
        self.counters.instructions += done;
    }
}

/// Whether `[at, at + len)` touches the loop's code `[code, code + code_len)`.
fn overlaps(at: u32, len: u64, code: u32, code_len: u32) -> bool {
    let (a0, a1) = (u64::from(at), u64::from(at) + len);
    let (c0, c1) = (u64::from(code), u64::from(code) + u64::from(code_len));
    a0 < c1 && c0 < a1
}
