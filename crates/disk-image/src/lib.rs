//! Raw disk images as boot-sim sees them: byte access that never writes,
//! MBR/EBR/GPT partition tables, filesystems (ext2/3/4 read through
//! `ext4-view`, XFS V4/V5 by `fs::xfs`, btrfs, LVM2 logical volumes, others
//! identified), GRUB and Linux device names, boot-code identification
//! (what sector 0 and GRUB 2's core.img hold) and which file owns a sector.
//!
//! Nothing here knows about booting: boot-loader configs, their discovery
//! and entry selection are the `boot-config` crate's, the machine is the
//! `boot` crate's; both build on this one.
#![forbid(unsafe_code)]

pub mod bootcode;
pub mod diag;
pub mod disk;
pub mod error;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod grub2_core;
pub mod guid;
/// The little-endian field types on-disk structs are made of (`le-bytes`).
pub use le_bytes as le;
pub mod lvm;
pub mod owners;
pub mod partition;
pub mod read;
pub mod units;

pub use diag::{Diagnostic, Severity};
pub use disk::{Disk, Volume};
pub use error::{DiskError, PathErrorKind, Result};
pub use read::{MemImage, RawImage, ReadAt, Window};
pub use units::{ByteOffset, Lba, SECTOR_SIZE};
