//! boot-sim's boot machinery: [`machine`] is the simulated machine (guest
//! memory, units, clock, costs, trace); [`devices`] are the Xen PV devices
//! (blkif rings, grants, event channels, xenstore, blkfront/blkback);
//! [`pv`] and [`hvm`] are the two ways Xen starts a guest, built on them,
//! and [`bench`] measures their I/O paths. It drives what the crates below
//! describe: disks (`disk-image`), boot configs and the loaders' choice
//! (`boot-config`), kernel images ([`kernel`], the `kernel-image` crate).
//! It must not parse those formats itself, and never prints or exits
//! (`cli` renders).
#![forbid(unsafe_code)]

pub mod bench;
pub mod devices;
pub mod grub_text;
pub mod hvm;
pub mod machine;
pub mod pv;

/// Kernel images (ELF, bzImage, Multiboot, codecs, Xen notes) are their own
/// crate; `boot::kernel` keeps the path the boot paths use.
pub use kernel_image as kernel;
