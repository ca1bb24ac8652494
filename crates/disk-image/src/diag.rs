//! Findings about an image that are not fatal to reading it: overlapping
//! partitions, a corrupt primary GPT header with a good backup, a symlink
//! loop in a config path. Library code returns them; the CLI renders them.

use serde::Serialize;

use crate::units::ByteOffset;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something is odd or was worked around; the rest is trustworthy.
    Warning,
    /// Something could not be read at all (e.g. no valid GPT header).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Byte offset on the whole disk the finding is about, when there is one.
    pub offset: Option<ByteOffset>,
    pub message: String,
}

impl Diagnostic {
    pub fn warning(offset: Option<ByteOffset>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, offset, message: message.into() }
    }

    pub fn error(offset: Option<ByteOffset>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, offset, message: message.into() }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.offset {
            // Said once: many messages already name their offset.
            Some(off) if self.message.contains(&off.to_string()) => write!(f, "{level}: {}", self.message),
            Some(off) => write!(f, "{level}: {} ({off})", self.message),
            None => write!(f, "{level}: {}", self.message),
        }
    }
}
