//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong in the AMI layer. Registry errors name the registry
/// file; image errors name the AMI and the image path; launch refusals say
/// why in the words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    /// Reading an image or creating the registry's directory.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// The image could not be read (the disk-image layer's error).
    #[error(transparent)]
    Image(#[from] disk_image::DiskError),

    /// An SQLite error other than corruption (locked past the busy
    /// timeout, read-only file, disk full, …).
    #[error("AMI registry {}: {source}", path.display())]
    Registry { path: PathBuf, source: rusqlite::Error },

    /// The registry file is not an SQLite database, is damaged, or is
    /// some other program's database.
    #[error(
        "AMI registry {} is corrupt or not a boot-sim registry: {detail} (move it away, or pass --registry PATH to use another file)",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },

    /// A registry written by a newer boot-sim.
    #[error("AMI registry {}: schema version {found} is newer than this boot-sim understands ({supported})", path.display())]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },

    #[error("unknown AMI {id:?} (see `boot-sim ami list`)")]
    UnknownAmi { id: String },

    /// A name given for an AMI that several AMIs have.
    #[error("the AMI name {name:?} is ambiguous: {} AMIs have it ({}); give the id", candidates.len(), candidates.join(", "))]
    AmbiguousName { name: String, candidates: Vec<String> },

    #[error("unknown instance type {name:?}: {why}")]
    UnknownInstanceType { name: String, why: String },

    /// A field value that does not follow the rules (name, account, tag…).
    #[error("invalid {what} {value:?}: {why}")]
    Invalid { what: &'static str, value: String, why: String },

    #[error("{id} already exists ({why})")]
    Exists { id: String, why: String },

    #[error("account {account} is not allowed to launch {ami}: {why}")]
    PermissionDenied { ami: String, account: String, why: String },

    /// The instance type cannot run this AMI ("t2.micro does not support
    /// paravirtual AMIs").
    #[error("{0}")]
    Incompatible(String),

    #[error("the image of {ami} is missing: {}: {source}", path.display())]
    ImageMissing { ami: String, path: PathBuf, source: std::io::Error },

    /// The image's bytes are not those registered.
    #[error(
        "the image of {ami} changed since it was registered: {} is now {current_size} bytes, {alg} {current_digest}; registered {registered_size} bytes, {alg} {registered_digest} (register it again as a new AMI)",
        path.display()
    )]
    ImageChanged {
        ami: String,
        path: PathBuf,
        /// The digest's definition.
        alg: crate::image::DigestAlg,
        registered_size: u64,
        registered_digest: String,
        current_size: u64,
        current_digest: String,
    },

    /// `root=` names no volume of the disk.
    #[error("root={spec}: no volume on the disk matches it; the kernel would not find its root")]
    RootNotFound { spec: String },

    /// No `root=`, and the loader did not say where it read the kernel.
    #[error("the command line has no root= and the kernel's device is unknown")]
    RootUnknown,

    /// No `root=`, and the kernel's device is not a volume of the disk.
    #[error("no root= and the kernel's device {device} is not a volume")]
    KernelDeviceNotVolume { device: String },

    /// The btrfs subvolume `rootflags=` names (or the default) cannot be
    /// opened.
    #[error("{device}: btrfs {subvolume}: {source}")]
    RootSubvolume { device: String, subvolume: String, source: disk_image::DiskError },
}

impl AmiError {
    /// A launch refused for a reason the user can change (permission,
    /// instance type), as opposed to an error (bad input, I/O, corruption).
    pub fn is_refusal(&self) -> bool {
        matches!(self, AmiError::PermissionDenied { .. } | AmiError::Incompatible(_))
    }
}
