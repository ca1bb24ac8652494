//! boot-sim's boot machinery. For now: [`kernel`], which says what a kernel
//! image is (ELF, bzImage, Multiboot) and whether Xen's PV and HVM paths can
//! start it. The machine, devices and the HVM/PV boot paths join it later.
#![forbid(unsafe_code)]

pub mod kernel;
