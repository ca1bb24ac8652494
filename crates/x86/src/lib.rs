//! An x86 real/protected-mode interpreter for boot code, on iced-x86
//! decoding.
//!
//! Scope (see `/work/shared/reference/boot-paths.md` §2.6): 16-bit real mode
//! with 0x66/0x67 prefixes, 32-bit protected mode (flat and segmented,
//! 16-bit protected-mode code segments), unreal mode through the segment
//! descriptor caches, PM↔RM round trips, the integer instruction set boot
//! sectors, GRUB legacy/GRUB 2 and Linux's real-mode setup use, string
//! instructions with REP (bulk fast paths with exact semantics), port I/O
//! including `rep ins/outs` as single requests, `cpuid`, `rdtsc` and `hlt`.
//! Out of scope, each a clear [`Error`] stop: paging, 64-bit mode, privilege
//! levels other than 0, task switches, LDTs, virtual-8086 mode, x87
//! arithmetic, MMX/SSE, BCD instructions, MSRs.
//!
//! The crate knows nothing of BIOS, disks or Xen. The embedder supplies a
//! [`Bus`] (memory + ports), drives [`Cpu::run`] and handles each [`Exit`]:
//! software interrupts it hooked with [`Cpu::hook_interrupt`] come back as
//! [`Exit::Interrupt`] *before* the IVT is consulted, so firmware services
//! are Rust callbacks, not magic addresses.
//!
//! ```
//! use x86::{Cpu, Exit, RamBus};
//!
//! let mut bus = RamBus::new(1 << 20);
//! // mov ah,0x0e ; mov al,'A' ; int 0x10 ; hlt
//! bus.load(0x7C00, &[0xB4, 0x0E, 0xB0, b'A', 0xCD, 0x10, 0xF4]);
//! let mut cpu = Cpu::new(0, 0x7C00);
//! cpu.hook_interrupt(0x10, true);
//! assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Interrupt { vector: 0x10 }));
//! assert_eq!(cpu.regs.gpr[0] & 0xFF, u32::from(b'A'));
//! assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
//! ```
#![forbid(unsafe_code)]

mod alu;
mod bus;
mod cpu;
mod cpuid;
mod error;
mod exec;
mod fast;
mod idiom;
mod mnemonic;
mod state;
mod string;

pub use bus::{AccessSize, Bus, RamBus, copy_in_chunks};
pub use cpu::{Counters, Cpu, Exit, PortCount, vector_name};
pub use cpuid::CpuidConfig;
pub use error::{Bytes, Error, Location};
pub use state::{Gpr, Registers, SegReg, Segment, TableReg, cr0, flags};

/// Flag computations, exposed so tests and tools can check them against
/// other references.
pub mod arith {
    pub use crate::alu::{RotKind, ShiftKind, add, double_shift, logic, rotate, shift, sub, szp};
}

/// The harness of the `x86_exec` fuzz target (fuzz/fuzz_targets/x86_exec.rs),
/// shared with the corpus replay test so both run exactly the same code.
pub mod fuzz {
    use crate::{Cpu, Exit, RamBus};

    /// Most instructions one input may execute.
    pub const MAX_INSTRUCTIONS: u64 = 10_000;

    /// Runs `data` as 16-bit real-mode code at 0000:7C00 in a 1 MiB machine
    /// (longer inputs are cut at 64 KiB), with the BIOS vectors 0x10..=0x1F
    /// hooked (each hooked call simply returns), for at most
    /// [`MAX_INSTRUCTIONS`]; returns the final state. Must never panic.
    pub fn exec(data: &[u8]) -> (Cpu, Result<Exit, crate::Error>) {
        let mut bus = RamBus::new(1 << 20);
        let code = &data[..data.len().min(0x1_0000)];
        bus.load(0x7C00, code);
        let mut cpu = Cpu::new(0, 0x7C00);
        cpu.regs.gpr[4] = 0x7C00;
        for v in 0x10..=0x1F {
            cpu.hook_interrupt(v, true);
        }
        loop {
            let left = MAX_INSTRUCTIONS.saturating_sub(cpu.counters.instructions);
            let r = cpu.run(&mut bus, left);
            match r {
                Ok(Exit::Interrupt { .. }) | Ok(Exit::Halt) if left > 0 => {
                    // Halt with interrupts off would sleep forever; count it
                    // as a step and go on so the budget still ends the run.
                    if r == Ok(Exit::Halt) {
                        cpu.counters.instructions += 1;
                    }
                }
                other => return (cpu, other),
            }
        }
    }
}
