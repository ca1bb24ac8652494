//! The crate's one error type: why execution stopped when the machine cannot
//! continue in a way real hardware would (as opposed to [`crate::Exit`],
//! which are normal hand-backs to the embedder).

use std::fmt;

/// Where the CPU was: CS selector, EIP and the linear address CS.base + EIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// CS selector.
    pub cs: u16,
    /// Offset in CS.
    pub eip: u32,
    /// Linear address of the instruction.
    pub linear: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.eip <= 0xFFFF {
            write!(f, "{:04X}:{:04X} (linear {:#x})", self.cs, self.eip, self.linear)
        } else {
            write!(f, "{:04X}:{:08X} (linear {:#x})", self.cs, self.eip, self.linear)
        }
    }
}

/// Raw instruction bytes, printed as hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why the interpreter stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes at CS:EIP are not a valid instruction in the current mode.
    /// (Hardware would raise #UD; boot code never relies on that, so the
    /// interpreter stops and shows the bytes.)
    #[error("invalid opcode at {at}: bytes [{bytes}]")]
    InvalidOpcode {
        /// Where.
        at: Location,
        /// Up to 15 bytes from CS:EIP.
        bytes: Bytes,
    },
    /// A valid instruction this interpreter does not implement (x87/SSE,
    /// MSRs, task switches, ...).
    #[error("unsupported instruction at {at}: `{disassembly}` [{bytes}]: {reason}")]
    UnsupportedInstruction {
        /// Where.
        at: Location,
        /// The instruction's bytes.
        bytes: Bytes,
        /// Disassembly of the instruction.
        disassembly: String,
        /// What is missing.
        reason: &'static str,
    },
    /// A supported instruction asked for a machine feature that is not
    /// modelled (paging, privilege-level changes, task gates, LDTs, v8086).
    #[error("unsupported feature at {at}: {feature}")]
    UnsupportedFeature {
        /// Where.
        at: Location,
        /// What was requested.
        feature: String,
    },
    /// An interrupt or exception whose real-mode IVT entry is 0000:0000 —
    /// nothing installed a handler, so jumping there would execute the IVT
    /// itself.
    #[error("interrupt {vector:#04x} ({name}) at {at} has no handler (IVT entry is 0000:0000)")]
    NoHandler {
        /// Where the interrupt was raised.
        at: Location,
        /// Vector number.
        vector: u8,
        /// Exception mnemonic (`#DE`, ...) or `INT n`.
        name: String,
    },
}

impl Error {
    /// Where execution stopped.
    pub fn location(&self) -> Location {
        match self {
            Error::InvalidOpcode { at, .. }
            | Error::UnsupportedInstruction { at, .. }
            | Error::UnsupportedFeature { at, .. }
            | Error::NoHandler { at, .. } => *at,
        }
    }
}
