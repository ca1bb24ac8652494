//! boot-sim's boot paths: [`pv`] and [`hvm`] are the two ways Xen starts a
//! guest, and [`bench`] measures their I/O paths. They run on the simulated
//! machine (guest memory, units, clock, costs, trace: the `machine` crate,
//! re-exported as [`machine`]) and its devices (the Xen PV devices and the
//! emulated IDE, PIT, UART and platform device: the `devices` crate,
//! re-exported as [`devices`]). It drives what the crates below
//! describe: disks (`disk-image`), boot configs and the loaders' choice
//! (`boot-config`), kernel images ([`kernel`], the `kernel-image` crate).
//! It must not parse those formats itself, and never prints or exits
//! (`cli` renders).
#![forbid(unsafe_code)]

pub mod bench;
pub mod grub_text;
pub mod hvm;
pub mod pv;

/// The simulated machine is its own crate; `boot::machine` keeps the path
/// the boot paths, the CLI and the tests use.
pub use machine;

/// The devices are their own crate; `boot::devices` keeps the path the boot
/// paths, the CLI and the tests use.
pub use devices;

/// Kernel images (ELF, bzImage, Multiboot, codecs, Xen notes) are their own
/// crate; `boot::kernel` keeps the path the boot paths use.
pub use kernel_image as kernel;
