//! boot-sim's boot machinery: [`kernel`] says what a kernel image is (ELF,
//! bzImage, Multiboot) and whether Xen's PV and HVM paths can start it;
//! [`machine`] is the simulated machine (guest memory, units, clock, costs,
//! trace); the devices and the boot paths build on them.
#![forbid(unsafe_code)]

pub mod bench;
pub mod devices;
pub mod grub_text;
pub mod hvm;
pub mod kernel;
pub mod machine;
pub mod pv;
