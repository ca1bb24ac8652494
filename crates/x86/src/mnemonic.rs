//! Which family a mnemonic belongs to and how large an operand is: the
//! tables the interpreter (`exec.rs`), the fast-path decoder (`fast.rs`)
//! and the decoder (`cpu.rs`) share, so they cannot disagree on what an
//! instruction is.

use iced_x86::{Mnemonic as M, Register};

use crate::alu::AluOp;

impl AluOp {
    /// The two-operand arithmetic/logic mnemonics and MOV; the interpreter
    /// and the fast-path decoder both ask this one list.
    pub(crate) fn of(m: M) -> Option<AluOp> {
        Some(match m {
            M::Add => AluOp::Add,
            M::Or => AluOp::Or,
            M::Adc => AluOp::Adc,
            M::Sbb => AluOp::Sbb,
            M::And => AluOp::And,
            M::Sub => AluOp::Sub,
            M::Xor => AluOp::Xor,
            M::Cmp => AluOp::Cmp,
            M::Test => AluOp::Test,
            M::Mov => AluOp::Mov,
            _ => return None,
        })
    }
}

/// The three instruction families that test a condition code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CcOp {
    Jcc,
    Setcc,
    Cmovcc,
}

/// The family of a Jcc/SETcc/CMOVcc mnemonic and its condition code number
/// (SDM Vol. 2A §B.1.4.7, table B-10: the `tttn` field); `None` for every
/// other mnemonic. The one list of them: the interpreter and the fast-path
/// decoder both ask it.
pub(crate) fn cc_op(m: M) -> Option<(CcOp, u8)> {
    Some(match m {
        M::Jo => (CcOp::Jcc, 0),
        M::Seto => (CcOp::Setcc, 0),
        M::Cmovo => (CcOp::Cmovcc, 0),
        M::Jno => (CcOp::Jcc, 1),
        M::Setno => (CcOp::Setcc, 1),
        M::Cmovno => (CcOp::Cmovcc, 1),
        M::Jb => (CcOp::Jcc, 2),
        M::Setb => (CcOp::Setcc, 2),
        M::Cmovb => (CcOp::Cmovcc, 2),
        M::Jae => (CcOp::Jcc, 3),
        M::Setae => (CcOp::Setcc, 3),
        M::Cmovae => (CcOp::Cmovcc, 3),
        M::Je => (CcOp::Jcc, 4),
        M::Sete => (CcOp::Setcc, 4),
        M::Cmove => (CcOp::Cmovcc, 4),
        M::Jne => (CcOp::Jcc, 5),
        M::Setne => (CcOp::Setcc, 5),
        M::Cmovne => (CcOp::Cmovcc, 5),
        M::Jbe => (CcOp::Jcc, 6),
        M::Setbe => (CcOp::Setcc, 6),
        M::Cmovbe => (CcOp::Cmovcc, 6),
        M::Ja => (CcOp::Jcc, 7),
        M::Seta => (CcOp::Setcc, 7),
        M::Cmova => (CcOp::Cmovcc, 7),
        M::Js => (CcOp::Jcc, 8),
        M::Sets => (CcOp::Setcc, 8),
        M::Cmovs => (CcOp::Cmovcc, 8),
        M::Jns => (CcOp::Jcc, 9),
        M::Setns => (CcOp::Setcc, 9),
        M::Cmovns => (CcOp::Cmovcc, 9),
        M::Jp => (CcOp::Jcc, 10),
        M::Setp => (CcOp::Setcc, 10),
        M::Cmovp => (CcOp::Cmovcc, 10),
        M::Jnp => (CcOp::Jcc, 11),
        M::Setnp => (CcOp::Setcc, 11),
        M::Cmovnp => (CcOp::Cmovcc, 11),
        M::Jl => (CcOp::Jcc, 12),
        M::Setl => (CcOp::Setcc, 12),
        M::Cmovl => (CcOp::Cmovcc, 12),
        M::Jge => (CcOp::Jcc, 13),
        M::Setge => (CcOp::Setcc, 13),
        M::Cmovge => (CcOp::Cmovcc, 13),
        M::Jle => (CcOp::Jcc, 14),
        M::Setle => (CcOp::Setcc, 14),
        M::Cmovle => (CcOp::Cmovcc, 14),
        M::Jg => (CcOp::Jcc, 15),
        M::Setg => (CcOp::Setcc, 15),
        M::Cmovg => (CcOp::Cmovcc, 15),
        _ => return None,
    })
}

/// Size in bytes of a general register operand (segment registers: 2).
pub(crate) fn reg_size(r: Register) -> u8 {
    match r as usize {
        1..=20 => 1,
        21..=36 | 71..=76 => 2,
        _ => 4,
    }
}

/// Size in bytes of the memory operand kinds the interpreter handles.
pub(crate) fn mem_size(m: iced_x86::MemorySize) -> u8 {
    use iced_x86::MemorySize as M;
    match m {
        M::UInt8 | M::Int8 => 1,
        M::UInt16 | M::Int16 | M::WordOffset => 2,
        M::UInt32 | M::Int32 | M::DwordOffset | M::SegPtr16 => 4,
        M::SegPtr32 | M::Fword6 => 6,
        M::UInt64 | M::Int64 => 8,
        _ => 0,
    }
}
