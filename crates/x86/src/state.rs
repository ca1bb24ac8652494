//! Architectural state: general registers, EFLAGS bits, segment registers
//! with their hidden descriptor caches, control registers and descriptor
//! table registers (Intel SDM Vol. 3A §2.3 "System Flags and Fields in the
//! EFLAGS Register", §3.4.3 "Segment Registers", §2.5 "Control Registers").

/// General-purpose registers in encoding order (SDM Vol. 2A §2.1.5, table
/// 2-2: the `reg` field values 0..7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gpr {
    /// EAX / AX / AL.
    Eax = 0,
    /// ECX / CX / CL.
    Ecx = 1,
    /// EDX / DX / DL.
    Edx = 2,
    /// EBX / BX / BL.
    Ebx = 3,
    /// ESP / SP (AH when used as an 8-bit high register).
    Esp = 4,
    /// EBP / BP.
    Ebp = 5,
    /// ESI / SI.
    Esi = 6,
    /// EDI / DI.
    Edi = 7,
}

/// Segment registers in encoding order (SDM Vol. 2A §3.1.1.3 `Sreg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegReg {
    /// ES.
    Es = 0,
    /// CS.
    Cs = 1,
    /// SS.
    Ss = 2,
    /// DS.
    Ds = 3,
    /// FS.
    Fs = 4,
    /// GS.
    Gs = 5,
}

impl SegReg {
    /// All six, in encoding order.
    pub const ALL: [SegReg; 6] = [SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs];
    /// Upper-case name.
    pub const fn name(self) -> &'static str {
        match self {
            SegReg::Es => "ES",
            SegReg::Cs => "CS",
            SegReg::Ss => "SS",
            SegReg::Ds => "DS",
            SegReg::Fs => "FS",
            SegReg::Gs => "GS",
        }
    }
}

/// EFLAGS bits (SDM Vol. 1 §3.4.3, figure 3-8).
pub mod flags {
    /// Carry.
    pub const CF: u32 = 1 << 0;
    /// Reserved, always reads as 1.
    pub const FIXED: u32 = 1 << 1;
    /// Parity of the low result byte.
    pub const PF: u32 = 1 << 2;
    /// Auxiliary carry (bit 3 carry/borrow).
    pub const AF: u32 = 1 << 4;
    /// Zero.
    pub const ZF: u32 = 1 << 6;
    /// Sign.
    pub const SF: u32 = 1 << 7;
    /// Trap (single step).
    pub const TF: u32 = 1 << 8;
    /// Interrupt enable.
    pub const IF: u32 = 1 << 9;
    /// Direction.
    pub const DF: u32 = 1 << 10;
    /// Overflow.
    pub const OF: u32 = 1 << 11;
    /// I/O privilege level (two bits).
    pub const IOPL: u32 = 3 << 12;
    /// Nested task.
    pub const NT: u32 = 1 << 14;
    /// Resume.
    pub const RF: u32 = 1 << 16;
    /// Virtual-8086 mode.
    pub const VM: u32 = 1 << 17;
    /// Alignment check.
    pub const AC: u32 = 1 << 18;
    /// CPUID available (software-toggleable).
    pub const ID: u32 = 1 << 21;
    /// The six arithmetic status flags.
    pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
    /// Bits `popfd` may change at CPL 0 (SDM Vol. 2B POPF: RF is cleared,
    /// VM and VIF/VIP are kept).
    pub const POPF_MASK: u32 = ARITH | TF | IF | DF | IOPL | NT | AC | ID;
}

/// CR0 bits (SDM Vol. 3A §2.5).
pub mod cr0 {
    /// Protection enable.
    pub const PE: u32 = 1 << 0;
    /// Monitor coprocessor.
    pub const MP: u32 = 1 << 1;
    /// x87 emulation.
    pub const EM: u32 = 1 << 2;
    /// Task switched.
    pub const TS: u32 = 1 << 3;
    /// Extension type (hard-wired 1 since the i486).
    pub const ET: u32 = 1 << 4;
    /// Numeric error.
    pub const NE: u32 = 1 << 5;
    /// Paging.
    pub const PG: u32 = 1 << 31;
}

/// A segment register: the visible selector and the hidden descriptor cache
/// (SDM Vol. 3A §3.4.3, figure 3-7). Real-mode loads change only the
/// selector and base; limit and attributes survive, which is what makes
/// "unreal" (big real) mode and PM→RM returns work (SDM Vol. 3A §21.1.1,
/// §9.9.2 "Switching Back to Real-Address Mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Visible selector.
    pub selector: u16,
    /// Cached base address.
    pub base: u32,
    /// Cached limit in bytes (already scaled by the G bit).
    pub limit: u32,
    /// Cached descriptor attributes: bits 0..7 = access byte (type, S, DPL,
    /// P), bits 12..15 = AVL, L, D/B, G (descriptor bits 52..55).
    pub attributes: u16,
}

impl Segment {
    /// Access-byte P bit.
    pub const PRESENT: u16 = 0x80;
    /// D/B bit in [`Segment::attributes`].
    pub const DB: u16 = 0x4000;
    /// G bit in [`Segment::attributes`].
    pub const G: u16 = 0x8000;

    /// A real-mode segment as after reset or a real-mode load: base =
    /// selector × 16, limit 0xFFFF, present read/write data (for CS:
    /// execute/read code), 16-bit.
    pub const fn real(selector: u16, code: bool) -> Segment {
        Segment { selector, base: (selector as u32) << 4, limit: 0xFFFF, attributes: if code { 0x9B } else { 0x93 } }
    }

    /// D/B bit: 32-bit default operand size (CS) or stack pointer size (SS).
    pub const fn big(&self) -> bool {
        self.attributes & Self::DB != 0
    }

    /// Present bit (a null selector loaded in protected mode leaves the
    /// register unusable: present clear).
    pub const fn present(&self) -> bool {
        self.attributes & Self::PRESENT != 0
    }

    /// Expand-down data segment (type bits 0b01x1 with S=1).
    pub const fn expand_down(&self) -> bool {
        self.attributes & 0x1C == 0x14
    }

    /// Decodes an 8-byte GDT/LDT descriptor into a cache value (SDM Vol. 3A
    /// §3.4.5, figure 3-8).
    pub fn from_descriptor(selector: u16, raw: u64) -> Segment {
        let limit_raw = (raw & 0xFFFF) as u32 | (((raw >> 48) & 0xF) as u32) << 16;
        let base = ((raw >> 16) & 0xFF_FFFF) as u32 | (((raw >> 56) & 0xFF) as u32) << 24;
        let access = ((raw >> 40) & 0xFF) as u16;
        let flags = ((raw >> 52) & 0xF) as u16;
        let attributes = access | flags << 12;
        let limit = if attributes & Self::G != 0 { (limit_raw << 12) | 0xFFF } else { limit_raw };
        Segment { selector, base, limit, attributes }
    }
}

/// GDTR / IDTR contents (SDM Vol. 3A §2.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableReg {
    /// Linear base address.
    pub base: u32,
    /// Limit in bytes (last valid offset).
    pub limit: u16,
}

/// The complete register file the embedder may read and change between
/// [`crate::Cpu::run`] calls (for instance while servicing a hooked
/// interrupt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registers {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (index = [`Gpr`]).
    pub gpr: [u32; 8],
    /// Instruction pointer (offset in CS).
    pub eip: u32,
    /// EFLAGS; bit 1 always reads as 1.
    pub eflags: u32,
    /// ES, CS, SS, DS, FS, GS (index = [`SegReg`]).
    pub seg: [Segment; 6],
    /// CR0 (PE honoured; PG rejected as unsupported).
    pub cr0: u32,
    /// CR2 (stored only).
    pub cr2: u32,
    /// CR3 (stored only; paging is not modelled).
    pub cr3: u32,
    /// CR4 (stored only).
    pub cr4: u32,
    /// Global descriptor table register.
    pub gdtr: TableReg,
    /// Interrupt descriptor table register (in real mode: the IVT, base 0,
    /// limit 0x3FF after reset).
    pub idtr: TableReg,
    /// x87 control word (only `fninit`/`fnstcw`/`fldcw` are modelled).
    pub fpu_control: u16,
    /// x87 status word.
    pub fpu_status: u16,
    /// Task register selector (`ltr`; the TSS is never used for a task
    /// switch, which is not modelled).
    pub tr: u16,
    /// LDT register selector (`lldt`; only the null LDT is accepted).
    pub ldtr: u16,
}

impl Registers {
    /// Power-on state in real mode with CS:IP = `cs`:`ip` (the architectural
    /// reset vector is F000:FFF0 with CS base 0xFFFF0000; embedders that
    /// start at a boot sector pass 0000:7C00). SDM Vol. 3A §9.1.1, table 9-1.
    pub fn real_mode(cs: u16, ip: u16) -> Registers {
        let mut seg = [Segment::real(0, false); 6];
        seg[SegReg::Cs as usize] = Segment::real(cs, true);
        Registers {
            gpr: [0; 8],
            eip: u32::from(ip),
            eflags: flags::FIXED,
            seg,
            cr0: cr0::ET,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            gdtr: TableReg { base: 0, limit: 0xFFFF },
            idtr: TableReg { base: 0, limit: 0x3FF },
            fpu_control: 0x0040,
            fpu_status: 0,
            tr: 0,
            ldtr: 0,
        }
    }
}
