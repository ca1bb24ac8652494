//! The one error type of the kernel inspector: the image could not be read.
//! Xen's own rejection of a kernel that was read is a verdict, not an
//! error here: [`crate::xen::XenElfError`] names libelf's or libxc's line.

use thiserror::Error;

/// Why a kernel image could not be inspected. Every variant names what was
/// being read and the byte offset in the input where it went wrong (for a
/// bzImage payload: the offset in the bzImage file; for the ELF inside a
/// payload: the offset in the decompressed ELF, as `readelf` would count it).
#[derive(Debug, Error)]
pub enum KernelError {
    /// Writing decompressed bytes to the caller's sink failed.
    #[error("I/O error while {what} at byte {offset:#x}: {source}")]
    Io {
        what: &'static str,
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    /// Well-formed input that uses something this inspector (and Xen's
    /// loader) does not handle, e.g. an unknown codec or ELF class.
    #[error("unsupported {what} at byte {offset:#x}: {detail}")]
    Unsupported { what: &'static str, offset: u64, detail: String },
    /// Malformed input: truncated, out of range, a corrupt stream, a size
    /// that lies.
    #[error("corrupt {what} at byte {offset:#x}: {detail}")]
    Corrupt { what: &'static str, offset: u64, detail: String },
}

impl KernelError {
    pub(crate) fn corrupt(what: &'static str, offset: u64, detail: impl Into<String>) -> Self {
        Self::Corrupt { what, offset, detail: detail.into() }
    }

    pub(crate) fn unsupported(what: &'static str, offset: u64, detail: impl Into<String>) -> Self {
        Self::Unsupported { what, offset, detail: detail.into() }
    }

    /// The byte offset the error refers to.
    pub fn offset(&self) -> u64 {
        match self {
            Self::Io { offset, .. } | Self::Unsupported { offset, .. } | Self::Corrupt { offset, .. } => *offset,
        }
    }

    /// Which kind of failure this is, for reports and exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. } => ErrorKind::Io,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Corrupt { .. } => ErrorKind::Corrupt,
        }
    }

    /// The same error with its offset moved by `base` (used when a payload
    /// error found at an offset inside the payload is reported against the
    /// whole file).
    pub(crate) fn rebased(self, base: u64) -> Self {
        match self {
            Self::Io { what, offset, source } => Self::Io { what, offset: offset.saturating_add(base), source },
            Self::Unsupported { what, offset, detail } => {
                Self::Unsupported { what, offset: offset.saturating_add(base), detail }
            }
            Self::Corrupt { what, offset, detail } => {
                Self::Corrupt { what, offset: offset.saturating_add(base), detail }
            }
        }
    }
}

/// The kind of a [`KernelError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Io,
    Unsupported,
    Corrupt,
}
