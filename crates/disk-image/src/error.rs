//! The crate's one error type. Every variant says what and where.

use crate::units::ByteOffset;

/// Errors of the disk-image crate, by kind: the image could not be read
/// (Io), its bytes are not what they claim to be (Corrupt), or they are
/// valid but beyond what boot-sim models (Unsupported).
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Reading the image failed (including reads past its end).
    #[error("cannot read {len} bytes at {offset} of {what}: {source}")]
    Io {
        what: String,
        offset: ByteOffset,
        len: usize,
        #[source]
        source: std::io::Error,
    },

    /// A structure in the image is malformed.
    #[error("{what} at {offset} is corrupt: {detail}")]
    Corrupt { what: String, offset: ByteOffset, detail: String },

    /// A file-level problem inside a filesystem (not found, symlink loop, …),
    /// or with the image path itself (missing, a directory, a FIFO).
    #[error("{path}: {detail}")]
    Path { path: String, detail: String, kind: PathErrorKind },

    /// Valid but not modelled (e.g. a filesystem boot-sim cannot read).
    #[error("{what}: not supported yet")]
    Unsupported { what: String },
}

/// Why a path lookup failed, so that callers can map it to the loader's own
/// error (GRUB's "Error 15: File not found", …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathErrorKind {
    NotFound,
    NotADirectory,
    IsADirectory,
    TooManySymlinks,
    NotAbsolute,
    TooLarge,
    Corrupt,
    Io,
    Other,
}

pub type Result<T, E = DiskError> = std::result::Result<T, E>;

impl DiskError {
    pub(crate) fn corrupt(what: impl Into<String>, offset: ByteOffset, detail: impl Into<String>) -> Self {
        DiskError::Corrupt { what: what.into(), offset, detail: detail.into() }
    }

    pub(crate) fn path(path: impl Into<String>, kind: PathErrorKind, detail: impl Into<String>) -> Self {
        DiskError::Path { path: path.into(), detail: detail.into(), kind }
    }
}
