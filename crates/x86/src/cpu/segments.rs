//! Segment register loads (SDM Vol. 3A §3.4, §5): real-mode loads, GDT
//! descriptors for code, data, stack and the task register, their checks
//! (#GP, #SS, #NP with the selector) and the accessed bit. Split from the
//! run loop in `cpu.rs`: a change to descriptor checks is not a change to
//! fetching, caching or delivery.

use super::{Cpu, Ex, Fault, GP, NP, SS_FAULT, Stop};
use crate::bus::Bus;
use crate::state::{SegReg, Segment, flags};

impl Cpu {
    /// Real-mode segment load: only selector and base change (the cached
    /// limit and D/B survive: SDM Vol. 3A §21.1.1; Bochs `load_seg_reg`
    /// "Do not modify segment limit and AR bytes when in real mode"); the
    /// register becomes present/usable again.
    pub(crate) fn load_real(&mut self, sr: SegReg, sel: u16) {
        let s = &mut self.regs.seg[sr as usize];
        s.selector = sel;
        s.base = u32::from(sel) << 4;
        s.attributes |= Segment::PRESENT;
        if s.attributes & 0x10 == 0 {
            // A system descriptor is never left in a segment register;
            // make it ordinary read/write data (code for CS).
            s.attributes = (s.attributes & 0xF000) | if sr == SegReg::Cs { 0x9B } else { 0x93 };
        }
    }

    /// Reads GDT entry for `sel` (TI=0 only), checking the GDT limit.
    fn descriptor<B: Bus + ?Sized>(&mut self, bus: &mut B, sel: u16) -> Ex<(u64, u32)> {
        if sel & 4 != 0 {
            return Err(Stop::Feature(format!("LDT selector {sel:#06x} (LLDT is not modelled)")).into());
        }
        let idx = u32::from(sel & !7);
        if idx + 7 > u32::from(self.regs.gdtr.limit) {
            return Err(Fault::Exception(GP, Some(sel & !3)));
        }
        let addr = self.regs.gdtr.base.wrapping_add(idx);
        let raw = u64::from(self.rd(bus, addr, 4)) | u64::from(self.rd(bus, addr.wrapping_add(4), 4)) << 32;
        Ok((raw, addr))
    }

    /// `ltr`: the selector must name an available TSS in the GDT (type 1 or
    /// 9), which becomes busy in memory (SDM Vol. 2A LTR "Operation").
    pub(crate) fn load_tr<B: Bus + ?Sized>(&mut self, bus: &mut B, sel: u16) -> Ex<()> {
        if sel & !3 == 0 {
            return Err(Fault::Exception(GP, Some(0)));
        }
        let (raw, addr) = self.descriptor(bus, sel)?;
        let access = ((raw >> 40) & 0xFF) as u8;
        if access & 0x10 != 0 || !matches!(access & 0x0F, 0x1 | 0x9) {
            return Err(Fault::Exception(GP, Some(sel & !3)));
        }
        if access & 0x80 == 0 {
            return Err(Fault::Exception(NP, Some(sel & !3)));
        }
        self.wr(bus, addr.wrapping_add(5), 1, u32::from(access | 0x02));
        self.regs.tr = sel;
        Ok(())
    }

    /// Sets the descriptor's accessed bit in memory as the CPU does on load.
    fn mark_accessed<B: Bus + ?Sized>(&mut self, bus: &mut B, raw: &mut u64, addr: u32) {
        if *raw & (1 << 40) == 0 {
            *raw |= 1 << 40;
            let b = ((*raw >> 40) & 0xFF) as u32;
            self.wr(bus, addr.wrapping_add(5), 1, b);
        }
    }

    /// Loads a code segment descriptor for a far transfer at CPL 0
    /// (SDM Vol. 3A §5.8.1 "Direct Calls or Jumps to Code Segments").
    pub(crate) fn code_descriptor<B: Bus + ?Sized>(&mut self, bus: &mut B, sel: u16) -> Ex<Segment> {
        if sel & !3 == 0 {
            return Err(Fault::Exception(GP, Some(0)));
        }
        let (mut raw, addr) = self.descriptor(bus, sel)?;
        let access = ((raw >> 40) & 0xFF) as u8;
        if access & 0x10 == 0 {
            return Err(Stop::Feature(format!(
                "far transfer through system descriptor {sel:#06x} (type {:#x}: call/task gates are not modelled)",
                access & 0xF
            ))
            .into());
        }
        if access & 0x08 == 0 {
            return Err(Fault::Exception(GP, Some(sel & !3)));
        }
        let dpl = (access >> 5) & 3;
        let conforming = access & 0x04 != 0;
        if sel & 3 != 0 || (dpl != 0 && !conforming) {
            return Err(Stop::Feature(format!(
                "privilege level change to code selector {sel:#06x} (RPL {}, DPL {dpl}); only ring 0 is modelled",
                sel & 3
            ))
            .into());
        }
        if access & 0x80 == 0 {
            return Err(Fault::Exception(NP, Some(sel & !3)));
        }
        self.mark_accessed(bus, &mut raw, addr);
        Ok(Segment::from_descriptor(sel, raw))
    }

    /// `mov sreg`, `pop sreg`, `lds`..`lss`: loads a data/stack segment
    /// register (SDM Vol. 3A §5.5, Vol. 2B MOV "Operation").
    pub(crate) fn load_data_seg<B: Bus + ?Sized>(&mut self, bus: &mut B, sr: SegReg, sel: u16) -> Ex<()> {
        if !self.protected_mode() {
            self.load_real(sr, sel);
            return Ok(());
        }
        if self.regs.eflags & flags::VM != 0 {
            return Err(Stop::Feature("virtual-8086 mode".into()).into());
        }
        let is_ss = sr == SegReg::Ss;
        if sel & !3 == 0 {
            if is_ss {
                return Err(Fault::Exception(GP, Some(0)));
            }
            // Null selector: the register is loaded but unusable.
            self.regs.seg[sr as usize] = Segment { selector: sel, base: 0, limit: 0, attributes: 0 };
            return Ok(());
        }
        let (mut raw, addr) = self.descriptor(bus, sel)?;
        let access = ((raw >> 40) & 0xFF) as u8;
        let err = Fault::Exception(GP, Some(sel & !3));
        if access & 0x10 == 0 {
            return Err(err);
        }
        let code = access & 0x08 != 0;
        let writable = !code && access & 0x02 != 0;
        let readable = !code || access & 0x02 != 0;
        let dpl = (access >> 5) & 3;
        let rpl = (sel & 3) as u8;
        if is_ss {
            if !writable || rpl != 0 || dpl != 0 {
                return Err(err);
            }
        } else if !readable || (!(code && access & 0x04 != 0) && dpl < rpl) {
            return Err(err);
        }
        if access & 0x80 == 0 {
            return Err(Fault::Exception(if is_ss { SS_FAULT } else { NP }, Some(sel & !3)));
        }
        self.mark_accessed(bus, &mut raw, addr);
        self.regs.seg[sr as usize] = Segment::from_descriptor(sel, raw);
        Ok(())
    }
}
