//! Raw disk images as boot-sim sees them: byte access that never writes,
//! MBR/EBR/GPT partition tables, filesystems (ext2/3/4 read through
//! `ext4-view`, XFS V4/V5 by `fs::xfs`, others identified), GRUB and Linux device names, boot-code
//! identification and boot-loader config discovery.
//!
//! Nothing here knows about booting; the `boot` crate builds on it.
#![forbid(unsafe_code)]

pub mod bootcode;
pub mod configs;
pub mod diag;
pub mod disk;
pub mod error;
pub mod esp;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod grub2_core;
pub mod guid;
pub mod inspect;
pub mod le;
pub mod lvm;
pub mod menu;
pub mod owners;
pub mod partition;
pub mod read;
pub mod units;

pub use diag::{Diagnostic, Severity};
pub use disk::{Disk, Volume};
pub use error::{DiskError, PathErrorKind, Result};
pub use read::{MemImage, RawImage, ReadAt, Window};
pub use units::{ByteOffset, Lba, SECTOR_SIZE};
