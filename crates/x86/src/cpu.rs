//! The CPU: run loop, decoded-instruction cache, memory access through
//! segments and interrupt/exception delivery. Segment register loads (GDT
//! descriptors and their checks) are in `cpu/segments.rs`.

use std::collections::BTreeMap;

use iced_x86::{Decoder, DecoderOptions, Instruction, OpKind, Register};

use crate::bus::Bus;
use crate::cpuid::CpuidConfig;
use crate::error::{Bytes, Error, Location};
use crate::fast::{Fast, Mem};
use crate::mnemonic::{mem_size, reg_size};
use crate::state::{Registers, SegReg, cr0, flags};

mod segments;

/// Why [`Cpu::run`] handed control back. None of these is an error: the
/// embedder decides what happens next and may call [`Cpu::run`] again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// A software interrupt (`int n`, `int3`, `into` when OF=1, `int1`)
    /// whose vector is hooked with [`Cpu::hook_interrupt`]. Nothing was
    /// pushed and EIP already points past the instruction: the embedder
    /// services the call through [`Cpu::regs`] and the bus (for a BIOS call:
    /// set AX/CF and so on) and resumes — or, to let the guest's own handler
    /// run, calls [`Cpu::deliver_interrupt`] first.
    Interrupt {
        /// Interrupt vector.
        vector: u8,
    },
    /// `hlt` executed; EIP points past it.
    Halt,
    /// The instruction budget given to [`Cpu::run`] is used up.
    InstructionLimit,
    /// [`Bus::new_code`] asked to stop before the instruction at CS:EIP,
    /// which has not executed yet.
    NewCode,
    /// A near `jmp` to itself (`jmp $`) executed while
    /// [`Cpu::stop_on_self_jump`] is set: without an interrupt the CPU runs
    /// it forever. EIP is on the jump.
    SelfJump,
    /// Triple fault: an exception occurred while delivering a double fault
    /// (SDM Vol. 3A §6.15 "Interrupt 8—Double Fault Exception", "if another
    /// exception occurs while attempting to call the double-fault handler,
    /// the processor enters shutdown mode"). `vector` is the exception that
    /// started the chain. Real hardware signals shutdown and the chipset
    /// usually resets the machine.
    Shutdown {
        /// The first exception of the chain.
        vector: u8,
    },
}

/// Per-port access counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortCount {
    /// `in` requests (a whole `rep ins` chunk counts as one request).
    pub in_requests: u64,
    /// `out` requests (a whole `rep outs` chunk counts as one request).
    pub out_requests: u64,
    /// Elements transferred by `in`/`ins`.
    pub in_items: u64,
    /// Elements transferred by `out`/`outs`.
    pub out_items: u64,
}

/// What the CPU has done so far; never reset by the CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Instructions executed. Each iteration of a REP-prefixed string
    /// instruction counts as one (so the instruction cap also bounds string
    /// work), and delivering an exception counts as one.
    pub instructions: u64,
    /// Interrupts taken by vector: software interrupts (hooked or not),
    /// exceptions and [`Cpu::deliver_interrupt`] calls.
    pub interrupts: [u64; 256],
    /// Port accesses by port number.
    pub ports: BTreeMap<u16, PortCount>,
    /// Decoded-instruction cache misses (instructions decoded by iced-x86).
    pub decodes: u64,
    /// Instructions dispatched one at a time (a REP string instruction or
    /// a fused copy loop counts once here however many iterations it ran
    /// in bulk): `instructions` over this is how much of the work ran in
    /// bulk.
    pub stepped: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters { instructions: 0, interrupts: [0; 256], ports: BTreeMap::new(), decodes: 0, stepped: 0 }
    }
}

/// Decoded-instruction cache size (direct mapped by linear address): 64 Ki
/// slots, because real GRUB 2 runs code from its kernel.img at 0x9000 and
/// from modules it loads near the top of RAM at once, and 8 Ki slots made
/// them evict each other.
const CACHE_BITS: u32 = 16;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

/// Code granules: the unit of write tracking for the decode cache. A write
/// anywhere in a granule that holds cached code makes every cached
/// instruction with a byte in it re-check its bytes before it runs again;
/// 256 bytes keeps a real-mode stack just below a boot sector (SP = 0x7C00)
/// out of the boot sector's own granules. (64 bytes made a real GRUB 2 boot
/// re-check more instructions, not fewer: more granules to claim.)
const GRANULE_BITS: u32 = 8;
/// Slots of the granule table (direct mapped by granule number: 64 Ki
/// slots cover 16 MiB without two granules sharing a slot, so GRUB 2's
/// kernel.img and the modules it loads high keep their own).
const GRANULE_SLOTS: usize = 1 << 16;

/// The decoded-instruction cache, direct mapped by linear address. The map
/// holds entry numbers plus one (0: empty slot), so a new CPU costs only
/// zeroed memory and entries exist only for code that ran.
#[derive(Clone, Debug, Default)]
pub(crate) struct DecodeCache {
    map: Vec<u32>,
    pub(crate) entries: Vec<Decoded>,
}

/// Write generations of the code granules, direct mapped by granule number
/// (empty in a new CPU, allocated when the first instruction is cached, so
/// a CPU that runs a few instructions costs no 768 KiB of tables; then all
/// zero: no granule owns a slot).
#[derive(Clone, Debug)]
struct Granules {
    /// Granule number + 1 owning each slot (0: none).
    owner: Vec<u32>,
    /// Bumped by every write into the owning granule and whenever another
    /// granule takes the slot over, so it never returns to a value a cached
    /// instruction was stamped with.
    generation: Vec<u64>,
}

/// One decoded instruction and the bytes it was decoded from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoded {
    pub(crate) instr: Instruction,
    /// The raw bytes (low `len` bytes significant).
    pub(crate) bytes: u128,
    /// Mask selecting the `len` instruction bytes of a 16-byte fetch.
    pub(crate) byte_mask: u128,
    /// Linear address it was decoded at, plus 1 << 32 for 32-bit code.
    pub(crate) tag: u64,
    /// Entry number of the instruction that ran after this one last time
    /// on the fast path (at first the next entry: code that ran in order
    /// the first time sits in consecutive entries), the first guess for
    /// the next instruction, checked by its tag like a map hit. After a
    /// taken branch it saves the map lookup the next time round a loop.
    next: u32,
    /// [`Cpu`]'s memory epoch when the bytes were last checked.
    epoch: u64,
    /// [`Cpu`]'s change count when the stamps below were last checked: while
    /// it is unchanged nothing at all can have changed code.
    checked: u64,
    /// Granule-table slots of the first and last instruction byte, and their
    /// generations when the bytes were last checked: while all three stamps
    /// match, no write can have reached the instruction and it runs without
    /// looking at memory.
    slots: [u16; 2],
    generations: [u64; 2],
    /// 32-bit operand size (code size XOR 0x66).
    pub(crate) op32: bool,
    /// 32-bit address size (code size XOR 0x67).
    pub(crate) addr32: bool,
    /// Size in bytes of operand 0 when it is a register or memory operand.
    pub(crate) size: u8,
    /// Instruction length in bytes.
    pub(crate) len: u8,
    /// The pre-decoded form the fast path runs, if any.
    pub(crate) fast: Fast,
    /// The memory operand in pre-decoded form (for [`Fast`] forms).
    pub(crate) mem: Mem,
}

/// How an interrupt was raised (SDM Vol. 3A §6.4 "Sources of Interrupts").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// An exception to deliver through the IVT/IDT, with its error code
    /// (pushed in protected mode only).
    Exception(u8, Option<u16>),
    /// Stop executing (unsupported or invalid), restoring EIP.
    Stop(Stop),
    /// [`Bus::new_code`] asked to stop before this instruction.
    NewCode,
}

/// Stop reasons before the location is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Invalid,
    Unsupported(&'static str),
    Feature(String),
    NoHandler(u8),
}

impl From<Stop> for Fault {
    fn from(s: Stop) -> Self {
        Fault::Stop(s)
    }
}

pub(crate) type Ex<T> = Result<T, Fault>;

/// #GP(0) or, for SS, #SS(0).
pub(crate) const GP: u8 = 13;
pub(crate) const SS_FAULT: u8 = 12;
pub(crate) const NP: u8 = 11;
pub(crate) const DE: u8 = 0;

/// Human names of the exception vectors (SDM Vol. 3A §6.3.1, table 6-1).
pub fn vector_name(v: u8) -> String {
    const NAMES: [&str; 20] = [
        "#DE",
        "#DB",
        "NMI",
        "#BP",
        "#OF",
        "#BR",
        "#UD",
        "#NM",
        "#DF",
        "coprocessor segment overrun",
        "#TS",
        "#NP",
        "#SS",
        "#GP",
        "#PF",
        "reserved",
        "#MF",
        "#AC",
        "#MC",
        "#XM",
    ];
    match NAMES.get(usize::from(v)) {
        Some(n) => (*n).to_string(),
        None => format!("INT {v:#04x}"),
    }
}

/// An x86 CPU in real or 32-bit protected mode, ring 0 only.
///
/// Privilege: the CPL is always 0. Loading a code segment whose DPL or RPL
/// is not 0, call gates, task gates/switches, LDT selectors, virtual-8086
/// mode and paging stop with [`Error::UnsupportedFeature`]. Segment limits
/// (including expand-down) are checked on every data access and on
/// instruction fetch; segment type checks (write to a read-only segment)
/// are done at load time only.
#[derive(Clone, Debug)]
pub struct Cpu {
    /// Architectural registers; the embedder may read and change them
    /// between [`Cpu::run`] calls.
    pub regs: Registers,
    /// Counters for reports and the cost model.
    pub counters: Counters,
    /// What `cpuid` returns.
    pub cpuid: CpuidConfig,
    /// Stop with [`Exit::SelfJump`] at a `jmp $` (embedders that inject no
    /// interrupt while the guest runs know it never ends). Default false.
    pub stop_on_self_jump: bool,
    hooks: [u64; 4],
    pub(crate) a20_mask: u32,
    pub(crate) cache: DecodeCache,
    /// Write generations of the granules that hold cached code.
    granules: Granules,
    /// Bumped whenever memory may have changed in a way the CPU did not see
    /// as a write of its own: a new [`Cpu::run`] (the embedder may have
    /// written memory in between: firmware services, DMA) and every port
    /// access (a device may do DMA). Cached instructions stamped with an
    /// older epoch re-check their bytes before they run.
    epoch: u64,
    /// Counts everything that can make a cached instruction stale: epoch
    /// bumps, writes into code granules and granule slot take-overs. An
    /// entry checked at the current count is valid without looking further.
    changes: u64,
    pub(crate) scratch: Vec<u8>,
    /// Instruction count at which the current `run` must stop.
    pub(crate) budget_end: u64,
    /// Decode everything for the general interpreter only (the tests that
    /// compare the fast forms with it).
    #[cfg(test)]
    pub(crate) general_only: bool,
}

impl Cpu {
    /// A CPU in real mode at `cs`:`ip` (for a boot sector: 0x0000, 0x7C00)
    /// with the default CPUID ([`CpuidConfig::default`]) and no hooks.
    pub fn new(cs: u16, ip: u16) -> Cpu {
        Cpu::with_registers(Registers::real_mode(cs, ip))
    }

    /// A CPU with the given register state.
    pub fn with_registers(regs: Registers) -> Cpu {
        Cpu {
            regs,
            counters: Counters::default(),
            cpuid: CpuidConfig::default(),
            stop_on_self_jump: false,
            hooks: [0; 4],
            a20_mask: u32::MAX,
            cache: DecodeCache::default(),
            granules: Granules { owner: Vec::new(), generation: Vec::new() },
            epoch: 0,
            changes: 0,
            scratch: Vec::new(),
            budget_end: 0,
            #[cfg(test)]
            general_only: false,
        }
    }

    /// Makes `int vector` (and `int3`/`into`/`int1` for vectors 3/4/1) return
    /// [`Exit::Interrupt`] instead of going through the IVT/IDT.
    pub fn hook_interrupt(&mut self, vector: u8, hooked: bool) {
        let (w, b) = (usize::from(vector >> 6), vector & 63);
        if hooked {
            self.hooks[w] |= 1 << b;
        } else {
            self.hooks[w] &= !(1 << b);
        }
    }

    /// Whether `vector` is hooked.
    pub fn is_hooked(&self, vector: u8) -> bool {
        self.hooks[usize::from(vector >> 6)] & (1 << (vector & 63)) != 0
    }

    /// Whether CR0.PE is set.
    pub fn protected_mode(&self) -> bool {
        self.regs.cr0 & cr0::PE != 0
    }

    /// The current CS:EIP with its linear address.
    pub fn location(&self) -> Location {
        let cs = &self.regs.seg[SegReg::Cs as usize];
        Location { cs: cs.selector, eip: self.regs.eip, linear: cs.base.wrapping_add(self.regs.eip) & self.a20_mask }
    }

    /// Linear address of `seg`:`offset` with the current A20 state (no limit
    /// check), for embedders that access guest buffers given as far
    /// pointers.
    pub fn linear(&self, seg: SegReg, offset: u32) -> u32 {
        self.regs.seg[seg as usize].base.wrapping_add(offset) & self.a20_mask
    }

    /// Drops every cached decoded instruction. Never needed for correctness
    /// (a cached instruction is compared with the bytes in memory again
    /// before it runs whenever memory may have changed under it, see
    /// [`Cpu::run`]); offered for embedders that replace all of memory.
    pub fn flush_decode_cache(&mut self) {
        self.cache.map.fill(0);
        self.cache.entries.clear();
    }

    /// Runs until an [`Exit`] or an [`Error`], executing at most
    /// `max_instructions` instructions (counted as in
    /// [`Counters::instructions`]).
    ///
    /// Self-modifying code and memory written by the embedder are seen: a
    /// cached decoded instruction runs again without re-reading its bytes
    /// only while nothing can have written them: no write by this CPU into
    /// its 256-byte granules (instructions, pushes, string bulk copies), no
    /// port access (a device may do DMA) and no return from `run` (the
    /// embedder may write memory between runs; see [`Cpu::resume`] for an
    /// embedder that reports its writes) since the bytes were last
    /// compared. Everything else the [`Bus`] does must leave memory as it
    /// is (see the trait's documentation).
    pub fn run<B: Bus + ?Sized>(&mut self, bus: &mut B, max_instructions: u64) -> Result<Exit, Error> {
        self.memory_may_have_changed();
        self.resume(bus, max_instructions)
    }

    /// [`Cpu::run`] for an embedder that has written no guest memory since
    /// the previous `run` or `resume` returned, except ranges it reported
    /// with [`Cpu::note_memory_write`] (writes through [`Cpu`] methods, such
    /// as [`Cpu::deliver_interrupt`]'s pushes, are seen anyway). Cached
    /// instructions outside the reported ranges then run on without
    /// comparing their bytes with memory again, which `run` makes every
    /// one of them do once: an embedder that runs the guest in short
    /// slices (to advance a clock between them) would otherwise pay that
    /// for every instruction of every slice. An unreported write can leave
    /// stale code running: when in doubt, call `run`.
    pub fn resume<B: Bus + ?Sized>(&mut self, bus: &mut B, max_instructions: u64) -> Result<Exit, Error> {
        self.refresh_a20(bus);
        self.budget_end = self.counters.instructions.saturating_add(max_instructions);
        // The cache is moved out while running so that executing an entry
        // borrows it instead of copying the ~150-byte entry per instruction.
        let mut cache = std::mem::take(&mut self.cache);
        if cache.map.len() != CACHE_SIZE {
            cache.map = vec![0; CACHE_SIZE];
        }
        let r = self.run_loop(bus, &mut cache);
        self.cache = cache;
        r
    }

    fn run_loop<B: Bus + ?Sized>(&mut self, bus: &mut B, cache: &mut DecodeCache) -> Result<Exit, Error> {
        // Code that ran in order the first time sits in consecutive entries,
        // so the entry after the last one is the first guess for the next
        // instruction; `fetch` checks it by its tag like a map hit.
        let mut hint = usize::MAX;
        loop {
            if self.regs.eflags & flags::TF == 0 {
                self.run_fast(bus, cache, &mut hint);
            }
            if self.counters.instructions >= self.budget_end {
                return Ok(Exit::InstructionLimit);
            }
            let start = self.regs.eip;
            let trap = self.regs.eflags & flags::TF != 0;
            let result = match self.fetch(bus, cache, hint) {
                Ok(k) => {
                    hint = k + 1;
                    let d = &cache.entries[k];
                    if d.fast == Fast::General {
                        self.exec(bus, d)
                    } else {
                        self.exec_fast(bus, d, start).map(|next| {
                            self.regs.eip = next;
                            None
                        })
                    }
                }
                Err(f) => Err(f),
            };
            self.counters.instructions += 1;
            self.counters.stepped += 1;
            match result {
                Ok(None) => {
                    if trap {
                        // Single-step trap after the instruction (SDM Vol. 3A §17.3.1.4).
                        let here = self.regs.eip;
                        if let Some(exit) = self.exception(bus, 1, None, here)? {
                            return Ok(exit);
                        }
                    }
                }
                Ok(Some(exit)) => return Ok(exit),
                Err(Fault::Exception(v, code)) => {
                    self.regs.eip = start;
                    if let Some(exit) = self.exception(bus, v, code, start)? {
                        return Ok(exit);
                    }
                }
                Err(Fault::Stop(s)) => {
                    self.regs.eip = start;
                    return Err(self.stop_error(bus, s));
                }
                Err(Fault::NewCode) => {
                    // Nothing executed: the count above is taken back.
                    self.counters.instructions -= 1;
                    self.counters.stepped -= 1;
                    self.regs.eip = start;
                    return Ok(Exit::NewCode);
                }
            }
        }
    }

    /// Runs cached, unchanged [`Fast`] forms back to back for as long as the
    /// budget lasts, and returns before anything else: an instruction that
    /// is not cached, may be stale, is not a fast form, crosses the CS limit
    /// or faults (EIP is then back on it and nothing else changed), for
    /// [`Cpu::run_loop`]'s general step to handle. Fast forms change neither
    /// CS, A20 nor TF, so those are read once.
    #[inline(always)]
    fn run_fast<B: Bus + ?Sized>(&mut self, bus: &mut B, cache: &mut DecodeCache, hint: &mut usize) {
        let cs = &self.regs.seg[SegReg::Cs as usize];
        let (base, limit) = (cs.base, u64::from(cs.limit));
        // Offsets up to here leave room for the longest instruction (15
        // bytes) inside the limit; beyond it the exact check runs.
        let roomy = i64::from(cs.limit) - 14;
        let code32 = u64::from(cs.big()) << 32;
        let a20 = self.a20_mask;
        let budget = self.budget_end.saturating_sub(self.counters.instructions);
        let mut left = budget;
        let mut h = *hint;
        // The entry that ran last (none yet): a miss of its `next` guess
        // that the map resolves becomes its new guess.
        let mut prev = usize::MAX;
        let mut eip = self.regs.eip;
        while left > 0 {
            let linear = base.wrapping_add(eip) & a20;
            let tag = u64::from(linear) | code32;
            let k = match cache.entries.get(h) {
                Some(e) if e.tag == tag => h,
                _ => {
                    let Some(k) = (cache.map[(linear as usize) & (CACHE_SIZE - 1)] as usize).checked_sub(1) else {
                        break;
                    };
                    match cache.entries.get(k) {
                        Some(e) if e.tag == tag => {
                            if let Some(p) = cache.entries.get_mut(prev) {
                                p.next = k as u32;
                            }
                            k
                        }
                        _ => break,
                    }
                }
            };
            // A write to any code granule moves `changes` on; an entry whose
            // own granules kept their generations is re-stamped here instead
            // of leaving the fast path once per cached instruction after
            // every such write (GRUB 2 writes data beside its code all the
            // time).
            if !self.still_valid(&mut cache.entries[k]) {
                break;
            }
            let d = &cache.entries[k];
            if matches!(d.fast, Fast::General)
                || (i64::from(eip) > roomy && u64::from(eip) + u64::from(d.len) - 1 > limit)
            {
                break;
            }
            match self.exec_fast(bus, d, eip) {
                Ok(next) => eip = next,
                Err(_) => break,
            }
            left -= 1;
            prev = k;
            h = d.next as usize;
        }
        self.regs.eip = eip;
        self.counters.instructions += budget - left;
        self.counters.stepped += budget - left;
        *hint = h;
    }

    /// Delivers interrupt `vector` through the IVT (real mode) or IDT
    /// (protected mode) as an external interrupt would be: pushes FLAGS,
    /// CS, IP, clears IF/TF and continues at the handler. Used by embedders
    /// to reflect a hooked interrupt to a guest-installed handler or to
    /// inject a hardware interrupt (check IF first). A failure to deliver
    /// follows the double-fault rules.
    pub fn deliver_interrupt<B: Bus + ?Sized>(&mut self, bus: &mut B, vector: u8) -> Result<Option<Exit>, Error> {
        self.refresh_a20(bus);
        let here = self.regs.eip;
        self.exception(bus, vector, None, here)
    }

    /// Reports that the embedder wrote `len` bytes of guest memory at
    /// physical address `addr` (wrapping at 4 GiB) between runs, for
    /// [`Cpu::resume`]: cached instructions in those bytes' 256-byte
    /// granules compare their bytes again before they next run.
    pub fn note_memory_write(&mut self, addr: u32, len: u32) {
        if len > 0 {
            self.note_write(addr, len);
        }
    }

    /// Makes every cached instruction compare its bytes with memory before it
    /// runs again.
    #[inline]
    pub(crate) fn memory_may_have_changed(&mut self) {
        self.epoch += 1;
        self.changes += 1;
    }

    /// Records a write by the CPU of `len` (≥ 1) bytes at physical `addr`
    /// (wrapping at 4 GiB like the bus's multi-byte accesses).
    #[inline]
    pub(crate) fn note_write(&mut self, addr: u32, len: u32) {
        let first = addr >> GRANULE_BITS;
        let end = addr.wrapping_add(len - 1);
        self.bump_granule(first);
        if end >> GRANULE_BITS != first {
            self.note_write_range(first, end);
        }
    }

    #[cold]
    fn note_write_range(&mut self, first: u32, end: u32) {
        let last = end >> GRANULE_BITS;
        if end < first << GRANULE_BITS {
            // Wrapped at 4 GiB.
            for g in first..=(u32::MAX >> GRANULE_BITS) {
                self.bump_granule(g);
            }
            for g in 0..=last {
                self.bump_granule(g);
            }
        } else {
            for g in first..=last {
                self.bump_granule(g);
            }
        }
    }

    #[inline]
    fn bump_granule(&mut self, g: u32) {
        let slot = g as usize & (GRANULE_SLOTS - 1);
        if self.granules.owner.get(slot) == Some(&(g + 1)) {
            self.granules.generation[slot] += 1;
            self.changes += 1;
        }
    }

    /// Takes the slot of the granule holding physical `addr` for it and
    /// returns the slot and its generation.
    fn claim_granule(&mut self, addr: u32) -> (u16, u64) {
        if self.granules.owner.is_empty() {
            self.granules.owner = vec![0; GRANULE_SLOTS];
            self.granules.generation = vec![0; GRANULE_SLOTS];
        }
        let g = addr >> GRANULE_BITS;
        let slot = g as usize & (GRANULE_SLOTS - 1);
        if self.granules.owner[slot] != g + 1 {
            self.granules.owner[slot] = g + 1;
            self.granules.generation[slot] += 1;
            self.changes += 1;
        }
        (slot as u16, self.granules.generation[slot])
    }

    pub(crate) fn refresh_a20<B: Bus + ?Sized>(&mut self, bus: &B) {
        self.a20_mask = if bus.a20_enabled() { u32::MAX } else { !(1 << 20) };
    }

    /// Delivers an exception/interrupt, escalating to #DF and shutdown.
    fn exception<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        vector: u8,
        code: Option<u16>,
        at: u32,
    ) -> Result<Option<Exit>, Error> {
        self.counters.interrupts[usize::from(vector)] += 1;
        // `deliver` fetches no instruction, so it never yields NewCode.
        let first = match self.deliver(bus, vector, code) {
            Ok(()) | Err(Fault::NewCode) => return Ok(None),
            Err(Fault::Stop(s)) => {
                self.regs.eip = at;
                return Err(self.stop_error(bus, s));
            }
            Err(Fault::Exception(..)) if vector == 8 => return Ok(Some(Exit::Shutdown { vector })),
            Err(Fault::Exception(..)) => vector,
        };
        self.regs.eip = at;
        self.counters.interrupts[8] += 1;
        match self.deliver(bus, 8, Some(0)) {
            Ok(()) | Err(Fault::NewCode) => Ok(None),
            Err(Fault::Exception(..)) => Ok(Some(Exit::Shutdown { vector: first })),
            Err(Fault::Stop(s)) => {
                self.regs.eip = at;
                Err(self.stop_error(bus, s))
            }
        }
    }

    /// Pushes the return frame and enters the handler for `vector`
    /// (SDM Vol. 3A §21.1.4 "Interrupt and Exception Handling" in real mode,
    /// §6.12.1 "Exception- or Interrupt-Handler Procedures" in protected
    /// mode, same privilege level only). EIP must hold the return address.
    pub(crate) fn deliver<B: Bus + ?Sized>(&mut self, bus: &mut B, vector: u8, code: Option<u16>) -> Ex<()> {
        let off = u32::from(vector) * 8;
        let idt_fault = Fault::Exception(GP, Some((off + 2) as u16));
        if !self.protected_mode() {
            let ent = u32::from(vector) * 4;
            if ent + 3 > u32::from(self.regs.idtr.limit) {
                return Err(idt_fault);
            }
            let base = self.regs.idtr.base.wrapping_add(ent);
            let ip = self.rd(bus, base, 2) as u16;
            let cs = self.rd(bus, base.wrapping_add(2), 2) as u16;
            if ip == 0 && cs == 0 {
                return Err(Stop::NoHandler(vector).into());
            }
            let fl = self.regs.eflags;
            let old_cs = self.regs.seg[SegReg::Cs as usize].selector;
            self.push(bus, 2, fl)?;
            self.push(bus, 2, u32::from(old_cs))?;
            self.push(bus, 2, self.regs.eip & 0xFFFF)?;
            self.regs.eflags &= !(flags::IF | flags::TF | flags::AC | flags::RF);
            self.load_real(SegReg::Cs, cs);
            self.regs.eip = u32::from(ip);
            return Ok(());
        }
        if off + 7 > u32::from(self.regs.idtr.limit) {
            return Err(idt_fault);
        }
        let addr = self.regs.idtr.base.wrapping_add(off);
        let raw = u64::from(self.rd(bus, addr, 4)) | u64::from(self.rd(bus, addr.wrapping_add(4), 4)) << 32;
        let access = ((raw >> 40) & 0xFF) as u8;
        let gate32 = match access & 0x1F {
            0x0E | 0x0F => true,
            0x06 | 0x07 => false,
            0x05 => return Err(Stop::Feature(format!("task gate in IDT entry {vector:#04x}")).into()),
            _ => return Err(idt_fault),
        };
        if access & 0x80 == 0 {
            return Err(Fault::Exception(NP, Some((off + 2) as u16)));
        }
        let selector = ((raw >> 16) & 0xFFFF) as u16;
        let mut target = (raw & 0xFFFF) as u32;
        if gate32 {
            target |= (((raw >> 48) & 0xFFFF) as u32) << 16;
        }
        let cs = self.code_descriptor(bus, selector)?;
        let size = if gate32 { 4 } else { 2 };
        let fl = self.regs.eflags;
        let old_cs = u32::from(self.regs.seg[SegReg::Cs as usize].selector);
        let old_eip = self.regs.eip;
        self.push(bus, size, fl)?;
        self.push(bus, size, old_cs)?;
        self.push(bus, size, old_eip)?;
        if let Some(c) = code {
            self.push(bus, size, u32::from(c))?;
        }
        if access & 1 == 0 {
            self.regs.eflags &= !flags::IF;
        }
        self.regs.eflags &= !(flags::TF | flags::NT | flags::RF | flags::VM);
        self.regs.seg[SegReg::Cs as usize] = cs;
        self.regs.eip = target;
        Ok(())
    }

    fn stop_error<B: Bus + ?Sized>(&mut self, bus: &mut B, s: Stop) -> Error {
        let at = self.location();
        let mut raw = [0u8; 16];
        self.fetch_bytes(bus, at.linear, &mut raw);
        let code32 = self.regs.seg[SegReg::Cs as usize].big();
        let mut dec =
            Decoder::with_ip(if code32 { 32 } else { 16 }, &raw[..15], u64::from(at.eip), DecoderOptions::NONE);
        let instr = dec.decode();
        let len = if instr.is_invalid() { 15 } else { instr.len() };
        let bytes = Bytes(raw[..len].to_vec());
        match s {
            Stop::Invalid => Error::InvalidOpcode { at, bytes },
            Stop::Unsupported(reason) => {
                let mut disassembly = String::new();
                iced_x86::FastFormatter::new().format(&instr, &mut disassembly);
                Error::UnsupportedInstruction { at, bytes, disassembly, reason }
            }
            Stop::Feature(feature) => Error::UnsupportedFeature { at, feature },
            Stop::NoHandler(vector) => Error::NoHandler { at, vector, name: vector_name(vector) },
        }
    }

    /// Reads 16 code bytes at `linear`, honouring the A20 wrap.
    fn fetch_bytes<B: Bus + ?Sized>(&mut self, bus: &mut B, linear: u32, buf: &mut [u8; 16]) {
        let a = linear & self.a20_mask;
        if (self.a20_mask != u32::MAX && (a & 0xF_FFFF) > 0xF_FFF0) || a > u32::MAX - 15 {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = bus.read_u8(linear.wrapping_add(i as u32) & self.a20_mask);
            }
        } else {
            bus.read_code(a, buf);
        }
    }

    /// Fetches (from the cache while its stamps say nothing can have written
    /// the bytes, else after comparing them with memory) the instruction at
    /// CS:EIP and checks it against the CS limit.
    #[inline]
    fn fetch<B: Bus + ?Sized>(&mut self, bus: &mut B, cache: &mut DecodeCache, hint: usize) -> Ex<usize> {
        let cs = &self.regs.seg[SegReg::Cs as usize];
        let eip = self.regs.eip;
        let limit = cs.limit;
        if eip > limit {
            return Err(Fault::Exception(GP, Some(0)));
        }
        let linear = cs.base.wrapping_add(eip) & self.a20_mask;
        let tag = u64::from(linear) | (u64::from(cs.big()) << 32);
        let slot = (linear as usize) & (CACHE_SIZE - 1);
        // An entry with this tag can only be the one its map slot holds.
        let mut k = match cache.entries.get(hint) {
            Some(e) if e.tag == tag => hint + 1,
            _ => cache.map[slot] as usize,
        };
        let fresh = k != 0 && cache.entries[k - 1].tag == tag && self.still_valid(&mut cache.entries[k - 1]);
        if !fresh {
            k = self.refill(bus, cache, slot, linear, tag)?;
        }
        let k = k - 1;
        let len = u32::from(cache.entries[k].len);
        if u64::from(eip) + u64::from(len) - 1 > u64::from(limit) {
            return Err(Fault::Exception(GP, Some(0)));
        }
        Ok(k)
    }

    /// Whether cached entry `e` may run without comparing its bytes with
    /// memory: stamped since the last write to any code granule, or its own
    /// granules kept their generations in this epoch (it is then stamped).
    #[inline(always)]
    fn still_valid(&self, e: &mut Decoded) -> bool {
        if e.checked == self.changes {
            return true;
        }
        let valid = e.epoch == self.epoch
            && self.granules.generation[usize::from(e.slots[0])] == e.generations[0]
            && self.granules.generation[usize::from(e.slots[1])] == e.generations[1];
        if valid {
            e.checked = self.changes;
        }
        valid
    }

    /// The slow half of [`Cpu::fetch`]: compares the cached bytes with
    /// memory, decodes again if they differ, and stamps the entry.
    #[cold]
    #[inline(never)]
    fn refill<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        cache: &mut DecodeCache,
        slot: usize,
        linear: u32,
        tag: u64,
    ) -> Ex<usize> {
        let mut raw = [0u8; 16];
        self.fetch_bytes(bus, linear, &mut raw);
        let word = u128::from_le_bytes(raw);
        let mut k = cache.map[slot] as usize;
        let stale = k == 0 || {
            let e = &cache.entries[k - 1];
            e.tag != tag || (word & e.byte_mask) != e.bytes
        };
        if stale {
            let d = self.decode(&raw, tag >> 32 != 0, tag)?;
            if k == 0 {
                cache.entries.push(d);
                k = cache.entries.len();
                cache.map[slot] = k as u32;
            } else {
                cache.entries[k - 1] = d;
            }
            cache.entries[k - 1].next = k as u32;
            if bus.new_code(linear, &self.regs) {
                return Err(Fault::NewCode);
            }
        }
        let len = u32::from(cache.entries[k - 1].len);
        let last = linear.wrapping_add(len - 1) & self.a20_mask;
        // Consecutive granules (also across the A20 or 4 GiB wrap) never
        // share a slot, so the second claim leaves the first one's stamp.
        let (s0, g0) = self.claim_granule(linear);
        let (s1, g1) = self.claim_granule(last);
        let e = &mut cache.entries[k - 1];
        e.epoch = self.epoch;
        e.slots = [s0, s1];
        e.generations = [g0, g1];
        e.checked = self.changes;
        Ok(k)
    }

    #[cold]
    fn decode(&mut self, raw: &[u8; 16], code32: bool, tag: u64) -> Ex<Decoded> {
        self.counters.decodes += 1;
        // Decoded at IP 0: branch targets are stored relative to the
        // instruction start, so one cache entry serves every CS:IP that maps
        // to the same linear address.
        let mut dec = Decoder::with_ip(if code32 { 32 } else { 16 }, &raw[..15], 0, DecoderOptions::NO_INVALID_CHECK);
        let instr = dec.decode();
        if instr.is_invalid() {
            return Err(Stop::Invalid.into());
        }
        let len = instr.len();
        let byte_mask = if len >= 16 { u128::MAX } else { (1u128 << (len * 8)) - 1 };
        let bytes = u128::from_le_bytes(*raw) & byte_mask;
        let (mut p66, mut p67) = (false, false);
        for &b in &raw[..len] {
            match b {
                0x66 => p66 = true,
                0x67 => p67 = true,
                0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0xF0 | 0xF2 | 0xF3 => {}
                _ => break,
            }
        }
        let size = match instr.op0_kind() {
            OpKind::Register => reg_size(instr.op0_register()),
            OpKind::Memory => mem_size(instr.memory_size()),
            _ => 0,
        };
        let (op32, addr32) = (code32 ^ p66, code32 ^ p67);
        let (fast, mem) = crate::fast::classify(&instr, op32, addr32);
        #[cfg(test)]
        let (fast, mem) = if self.general_only { (Fast::General, mem) } else { (fast, mem) };
        Ok(Decoded {
            len: len as u8,
            fast,
            mem,
            instr,
            bytes,
            byte_mask,
            tag,
            next: u32::MAX,
            epoch: 0,
            checked: u64::MAX,
            slots: [0; 2],
            generations: [u64::MAX; 2],
            op32,
            addr32,
            size,
        })
    }

    // ---- registers ----

    #[inline(always)]
    pub(crate) fn get_reg(&self, r: Register) -> u32 {
        let n = r as usize;
        match n {
            1..=4 => self.regs.gpr[n - 1] & 0xFF,
            5..=8 => (self.regs.gpr[n - 5] >> 8) & 0xFF,
            21..=28 => self.regs.gpr[n - 21] & 0xFFFF,
            37..=44 => self.regs.gpr[n - 37],
            71..=76 => u32::from(self.regs.seg[n - 71].selector),
            _ => 0,
        }
    }

    #[inline(always)]
    pub(crate) fn set_reg(&mut self, r: Register, v: u32) {
        let n = r as usize;
        match n {
            1..=4 => self.regs.gpr[n - 1] = (self.regs.gpr[n - 1] & !0xFF) | (v & 0xFF),
            5..=8 => self.regs.gpr[n - 5] = (self.regs.gpr[n - 5] & !0xFF00) | ((v & 0xFF) << 8),
            21..=28 => self.regs.gpr[n - 21] = (self.regs.gpr[n - 21] & !0xFFFF) | (v & 0xFFFF),
            37..=44 => self.regs.gpr[n - 37] = v,
            _ => {}
        }
    }

    // ---- memory ----

    /// Segment-limit check and linear address for `size` bytes at
    /// `seg`:`off` (SDM Vol. 3A §5.3 "Limit Checking").
    #[inline]
    pub(crate) fn lin(&self, seg: usize, off: u32, size: u32) -> Ex<u32> {
        let s = &self.regs.seg[seg];
        let last = u64::from(off) + u64::from(size.max(1)) - 1;
        let ok = if s.attributes & 0x9C == 0x94 {
            // present expand-down data segment: valid offsets limit+1..=upper
            let upper: u64 = if s.big() { 0xFFFF_FFFF } else { 0xFFFF };
            u64::from(off) > u64::from(s.limit) && last <= upper
        } else {
            s.present() && last <= u64::from(s.limit)
        };
        if ok {
            Ok(s.base.wrapping_add(off))
        } else if seg == SegReg::Ss as usize {
            Err(Fault::Exception(SS_FAULT, Some(0)))
        } else {
            Err(Fault::Exception(GP, Some(0)))
        }
    }

    /// Reads `size` (1, 2, 4) bytes at a linear address.
    #[inline]
    pub(crate) fn rd<B: Bus + ?Sized>(&self, bus: &mut B, linear: u32, size: u32) -> u32 {
        let a = linear & self.a20_mask;
        if self.a20_mask != u32::MAX && (a & 0xF_FFFF) + size > 0x10_0000 {
            let mut v = 0;
            for i in 0..size {
                v |= u32::from(bus.read_u8(linear.wrapping_add(i) & self.a20_mask)) << (8 * i);
            }
            return v;
        }
        match size {
            1 => u32::from(bus.read_u8(a)),
            2 => u32::from(bus.read_u16(a)),
            _ => bus.read_u32(a),
        }
    }

    /// Writes `size` (1, 2, 4) bytes at a linear address.
    #[inline]
    pub(crate) fn wr<B: Bus + ?Sized>(&mut self, bus: &mut B, linear: u32, size: u32, v: u32) {
        let a = linear & self.a20_mask;
        if self.a20_mask != u32::MAX && (a & 0xF_FFFF) + size > 0x10_0000 {
            for i in 0..size {
                let b = linear.wrapping_add(i) & self.a20_mask;
                self.note_write(b, 1);
                bus.write_u8(b, (v >> (8 * i)) as u8);
            }
            return;
        }
        self.note_write(a, size);
        match size {
            1 => bus.write_u8(a, v as u8),
            2 => bus.write_u16(a, v as u16),
            _ => bus.write_u32(a, v),
        }
    }

    /// Reads `size` bytes at `seg`:`off` with limit checks.
    #[inline]
    pub(crate) fn read_seg<B: Bus + ?Sized>(&self, bus: &mut B, seg: usize, off: u32, size: u32) -> Ex<u32> {
        let l = self.lin(seg, off, size)?;
        Ok(self.rd(bus, l, size))
    }

    /// Writes `size` bytes at `seg`:`off` with limit checks.
    #[inline]
    pub(crate) fn write_seg<B: Bus + ?Sized>(
        &mut self,
        bus: &mut B,
        seg: usize,
        off: u32,
        size: u32,
        v: u32,
    ) -> Ex<()> {
        let l = self.lin(seg, off, size)?;
        self.wr(bus, l, size, v);
        Ok(())
    }

    // ---- stack ----

    #[inline]
    pub(crate) fn sp_mask(&self) -> u32 {
        if self.regs.seg[SegReg::Ss as usize].big() { u32::MAX } else { 0xFFFF }
    }

    #[inline]
    pub(crate) fn set_sp(&mut self, v: u32) {
        let m = self.sp_mask();
        let esp = &mut self.regs.gpr[4];
        *esp = (*esp & !m) | (v & m);
    }

    /// Pushes `size` (2 or 4) bytes (SDM Vol. 2B PUSH; stack address size
    /// from SS.B).
    #[inline]
    pub(crate) fn push<B: Bus + ?Sized>(&mut self, bus: &mut B, size: u32, v: u32) -> Ex<()> {
        let m = self.sp_mask();
        let sp = self.regs.gpr[4].wrapping_sub(size) & m;
        self.write_seg(bus, SegReg::Ss as usize, sp, size, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Pops `size` (2 or 4) bytes.
    #[inline]
    pub(crate) fn pop<B: Bus + ?Sized>(&mut self, bus: &mut B, size: u32) -> Ex<u32> {
        let m = self.sp_mask();
        let sp = self.regs.gpr[4] & m;
        let v = self.read_seg(bus, SegReg::Ss as usize, sp, size)?;
        self.set_sp(sp.wrapping_add(size));
        Ok(v)
    }

    /// Reads the stack at SP + `offset` without popping.
    pub(crate) fn peek<B: Bus + ?Sized>(&self, bus: &mut B, offset: u32, size: u32) -> Ex<u32> {
        let m = self.sp_mask();
        let sp = self.regs.gpr[4].wrapping_add(offset) & m;
        self.read_seg(bus, SegReg::Ss as usize, sp, size)
    }
}
