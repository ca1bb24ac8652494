//! String instructions with REP/REPE/REPNE (SDM Vol. 2B MOVS/CMPS/STOS/
//! LODS/SCAS/INS/OUTS and "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! A repeated instruction runs in chunks: whenever a chunk can be done as
//! one bulk operation with results identical to element-by-element order
//! (no segment-limit, address-size or A20 wrap inside it, and for MOVS no
//! overlap that would replicate data), it is handed to the bus as one copy,
//! fill or string-port request; otherwise one element is done at a time.
//! Between chunks the instruction budget is checked; when it runs out EIP
//! stays on the instruction with ECX/ESI/EDI updated, exactly as an
//! interrupted REP instruction resumes on hardware.

use iced_x86::Code;

use crate::alu::{self, mask};
use crate::bus::{AccessSize, Bus};
use crate::cpu::{Cpu, Decoded, Ex, Exit, Stop};
use crate::state::{SegReg, flags};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrOp {
    Movs,
    Cmps,
    Stos,
    Lods,
    Scas,
    Ins,
    Outs,
}

/// Largest single bulk request: 1 MiB for memory-to-memory, 64 KiB for
/// string port I/O.
const BULK_MEM: u32 = 1 << 20;
const BULK_PORT: u32 = 1 << 16;

struct Str {
    op: StrOp,
    size: u32,
    /// Source segment for SI-based operands (DS or the override).
    seg: usize,
    amask: u32,
}

impl Cpu {
    pub(crate) fn string<B: Bus + ?Sized>(&mut self, bus: &mut B, d: &Decoded, start: u32) -> Ex<Option<Exit>> {
        let i = &d.instr;
        let (op, size) = match i.code() {
            Code::Movsb_m8_m8 => (StrOp::Movs, 1),
            Code::Movsw_m16_m16 => (StrOp::Movs, 2),
            Code::Movsd_m32_m32 => (StrOp::Movs, 4),
            Code::Cmpsb_m8_m8 => (StrOp::Cmps, 1),
            Code::Cmpsw_m16_m16 => (StrOp::Cmps, 2),
            Code::Cmpsd_m32_m32 => (StrOp::Cmps, 4),
            Code::Stosb_m8_AL => (StrOp::Stos, 1),
            Code::Stosw_m16_AX => (StrOp::Stos, 2),
            Code::Stosd_m32_EAX => (StrOp::Stos, 4),
            Code::Lodsb_AL_m8 => (StrOp::Lods, 1),
            Code::Lodsw_AX_m16 => (StrOp::Lods, 2),
            Code::Lodsd_EAX_m32 => (StrOp::Lods, 4),
            Code::Scasb_AL_m8 => (StrOp::Scas, 1),
            Code::Scasw_AX_m16 => (StrOp::Scas, 2),
            Code::Scasd_EAX_m32 => (StrOp::Scas, 4),
            Code::Insb_m8_DX => (StrOp::Ins, 1),
            Code::Insw_m16_DX => (StrOp::Ins, 2),
            Code::Insd_m32_DX => (StrOp::Ins, 4),
            Code::Outsb_DX_m8 => (StrOp::Outs, 1),
            Code::Outsw_DX_m16 => (StrOp::Outs, 2),
            Code::Outsd_DX_m32 => (StrOp::Outs, 4),
            _ => return Err(Stop::Unsupported("string instruction form").into()),
        };
        let seg = (i.memory_segment() as usize).wrapping_sub(iced_x86::Register::ES as usize).min(5);
        let s = Str { op, size, seg, amask: if d.addr32 { u32::MAX } else { 0xFFFF } };
        let repe = i.has_repe_prefix();
        let repne = i.has_repne_prefix();
        if !repe && !repne {
            self.string_one(bus, &s)?;
            return Ok(None);
        }
        let avail = self.budget_end.saturating_sub(self.counters.instructions).max(1);
        let mut done = 0u64;
        let result = loop {
            let cnt = self.regs.gpr[1] & s.amask;
            if cnt == 0 {
                break Ok(None);
            }
            if done >= avail {
                // Out of budget: resume this instruction on the next run.
                self.regs.eip = start;
                break Ok(None);
            }
            let want = u64::from(cnt).min(avail - done) as u32;
            let k = match self.string_bulk(bus, &s, want) {
                Ok(0) => match self.string_one(bus, &s) {
                    Ok(()) => 1,
                    Err(e) => break Err(e),
                },
                Ok(k) => k,
                Err(e) => break Err(e),
            };
            self.regs.gpr[1] = (self.regs.gpr[1] & !s.amask) | (cnt - k);
            done += u64::from(k);
            if matches!(op, StrOp::Cmps | StrOp::Scas) {
                let zf = self.regs.eflags & flags::ZF != 0;
                if (repe && !zf) || (repne && zf) {
                    break Ok(None);
                }
            }
        };
        self.counters.instructions += done.saturating_sub(1);
        result
    }

    #[inline]
    fn advance(&mut self, reg: usize, amask: u32, by: u32) {
        let v = self.regs.gpr[reg].wrapping_add(by) & amask;
        self.regs.gpr[reg] = (self.regs.gpr[reg] & !amask) | v;
    }

    #[inline]
    fn step(&self, size: u32) -> u32 {
        if self.regs.eflags & flags::DF != 0 { size.wrapping_neg() } else { size }
    }

    /// One element.
    fn string_one<B: Bus + ?Sized>(&mut self, bus: &mut B, s: &Str) -> Ex<()> {
        let (size, amask) = (s.size, s.amask);
        let step = self.step(size);
        let si = self.regs.gpr[6] & amask;
        let di = self.regs.gpr[7] & amask;
        let es = SegReg::Es as usize;
        let acc = self.regs.gpr[0] & mask(size);
        match s.op {
            StrOp::Movs => {
                let v = self.read_seg(bus, s.seg, si, size)?;
                self.write_seg(bus, es, di, size, v)?;
                self.advance(6, amask, step);
                self.advance(7, amask, step);
            }
            StrOp::Cmps => {
                let a = self.read_seg(bus, s.seg, si, size)?;
                let b = self.read_seg(bus, es, di, size)?;
                let (_, f) = alu::sub(a, b, 0, size);
                self.regs.eflags = (self.regs.eflags & !flags::ARITH) | f;
                self.advance(6, amask, step);
                self.advance(7, amask, step);
            }
            StrOp::Stos => {
                self.write_seg(bus, es, di, size, acc)?;
                self.advance(7, amask, step);
            }
            StrOp::Lods => {
                let v = self.read_seg(bus, s.seg, si, size)?;
                self.set_acc(size, v);
                self.advance(6, amask, step);
            }
            StrOp::Scas => {
                let b = self.read_seg(bus, es, di, size)?;
                let (_, f) = alu::sub(acc, b, 0, size);
                self.regs.eflags = (self.regs.eflags & !flags::ARITH) | f;
                self.advance(7, amask, step);
            }
            StrOp::Ins => {
                let port = self.regs.gpr[2] as u16;
                let l = self.lin(es, di, size)?;
                let c = self.counters.ports.entry(port).or_default();
                c.in_requests += 1;
                c.in_items += 1;
                let v = bus.port_in(port, AccessSize::from_bytes(size)) & mask(size);
                self.memory_may_have_changed();
                self.wr(bus, l, size, v);
                self.advance(7, amask, step);
            }
            StrOp::Outs => {
                let port = self.regs.gpr[2] as u16;
                let v = self.read_seg(bus, s.seg, si, size)?;
                let c = self.counters.ports.entry(port).or_default();
                c.out_requests += 1;
                c.out_items += 1;
                bus.port_out(port, AccessSize::from_bytes(size), v);
                self.memory_may_have_changed();
                self.refresh_a20(bus);
                self.advance(6, amask, step);
            }
        }
        Ok(())
    }

    fn set_acc(&mut self, size: u32, v: u32) {
        let m = mask(size);
        self.regs.gpr[0] = (self.regs.gpr[0] & !m) | (v & m);
    }

    /// The lowest offset and linear address of `n` elements starting at
    /// `off` in direction DF, if the whole block is inside the segment
    /// limit, the address size and one A20-consistent, non-wrapping linear
    /// range. `None` means "do it element by element".
    fn block(&self, seg: usize, off: u32, n: u32, size: u32, amask: u32) -> Option<u32> {
        let bytes = n.checked_mul(size)?;
        let low = if self.regs.eflags & flags::DF != 0 { off.checked_sub((n - 1).checked_mul(size)?)? } else { off };
        let last = low.checked_add(bytes - 1)?;
        if last > amask {
            return None;
        }
        let lin = self.lin(seg, low, bytes).ok()?;
        let lin_last = lin.checked_add(bytes - 1)?;
        if self.a20_mask != u32::MAX && (lin & (1 << 20) != 0 || lin >> 20 != lin_last >> 20) {
            return None;
        }
        Some(lin)
    }

    /// A chunk of up to `want` elements as one bulk operation; returns how
    /// many were done (0: not possible here, do one element instead).
    fn string_bulk<B: Bus + ?Sized>(&mut self, bus: &mut B, s: &Str, want: u32) -> Ex<u32> {
        if want < 2 || matches!(s.op, StrOp::Cmps | StrOp::Scas | StrOp::Lods) {
            return Ok(0);
        }
        let size = s.size;
        let cap = if matches!(s.op, StrOp::Ins | StrOp::Outs) { BULK_PORT } else { BULK_MEM } / size;
        let n = want.min(cap);
        let bytes = n * size;
        let amask = s.amask;
        let df = self.regs.eflags & flags::DF != 0;
        let si = self.regs.gpr[6] & amask;
        let di = self.regs.gpr[7] & amask;
        let es = SegReg::Es as usize;
        let moved = bytes.wrapping_mul(if df { u32::MAX } else { 1 });
        match s.op {
            StrOp::Movs => {
                let (Some(src), Some(dst)) =
                    (self.block(s.seg, si, n, size, amask), self.block(es, di, n, size, amask))
                else {
                    return Ok(0);
                };
                // Element order equals memmove order unless the destination
                // lies inside the source block ahead of the reads.
                let overlaps = dst < src.wrapping_add(bytes) && src < dst.wrapping_add(bytes);
                if overlaps && ((!df && dst > src) || (df && dst < src)) {
                    return Ok(0);
                }
                self.note_write(dst, bytes);
                bus.copy_bytes(dst, src, bytes);
                self.advance(6, amask, moved);
                self.advance(7, amask, moved);
            }
            StrOp::Stos => {
                let Some(dst) = self.block(es, di, n, size, amask) else {
                    return Ok(0);
                };
                let pat = (self.regs.gpr[0] & mask(size)).to_le_bytes();
                let mut buf = std::mem::take(&mut self.scratch);
                let chunk = bytes.min(4096) as usize;
                buf.clear();
                buf.extend((0..chunk).map(|k| pat[k % size as usize]));
                self.note_write(dst, bytes);
                let mut off = 0u32;
                while off < bytes {
                    let len = (bytes - off).min(chunk as u32);
                    bus.write_bytes(dst.wrapping_add(off), &buf[..len as usize]);
                    off += len;
                }
                self.scratch = buf;
                self.advance(7, amask, moved);
            }
            StrOp::Ins => {
                let Some(dst) = self.block(es, di, n, size, amask) else {
                    return Ok(0);
                };
                let port = self.regs.gpr[2] as u16;
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                buf.resize(bytes as usize, 0);
                bus.port_in_string(port, AccessSize::from_bytes(size), &mut buf);
                self.memory_may_have_changed();
                if df {
                    reverse_elements(&mut buf, size as usize);
                }
                self.note_write(dst, bytes);
                bus.write_bytes(dst, &buf);
                self.scratch = buf;
                let c = self.counters.ports.entry(port).or_default();
                c.in_requests += 1;
                c.in_items += u64::from(n);
                self.advance(7, amask, moved);
            }
            StrOp::Outs => {
                let Some(src) = self.block(s.seg, si, n, size, amask) else {
                    return Ok(0);
                };
                let port = self.regs.gpr[2] as u16;
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                buf.resize(bytes as usize, 0);
                bus.read_bytes(src, &mut buf);
                if df {
                    reverse_elements(&mut buf, size as usize);
                }
                bus.port_out_string(port, AccessSize::from_bytes(size), &buf);
                self.memory_may_have_changed();
                self.scratch = buf;
                let c = self.counters.ports.entry(port).or_default();
                c.out_requests += 1;
                c.out_items += u64::from(n);
                self.refresh_a20(bus);
                self.advance(6, amask, moved);
            }
            StrOp::Cmps | StrOp::Scas | StrOp::Lods => return Ok(0),
        }
        Ok(n)
    }
}

/// Reverses the order of `size`-byte elements in `buf` (DF=1 transfers).
fn reverse_elements(buf: &mut [u8], size: usize) {
    let n = buf.len() / size;
    for k in 0..n / 2 {
        for b in 0..size {
            buf.swap(k * size + b, (n - 1 - k) * size + b);
        }
    }
}
