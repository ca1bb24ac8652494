//! Devices of the simulated machine, each a state machine that does no I/O
//! of its own (the rust-vmm `vm-superio` style): the bus that owns it
//! routes port accesses and performs what it reports. The Xen PV devices
//! follow Xen's `xen/include/public/io/blkif.h`, `grant_table.h`,
//! `event_channel.h` and `xs_wire.h`; the emulated ones follow QEMU's
//! `hw/ide`, `hw/timer/i8254.c`, `hw/char/serial.c` and
//! `hw/i386/xen/xen_platform.c`.
//!
//! This crate owns the device state and protocols, charged through the
//! `machine` crate's [`Sim`](machine::Sim) and reading disks only through
//! `disk_image::ReadAt`. It must not know the boot paths that drive it (the
//! `boot` crate's PV and HVM paths, its port bus and BIOS), loaders, boot
//! configs or kernel formats, and it never prints.
//!
//! - [`xen`]: the PV devices (grant table, event channels, xenstore, blkif
//!   ring, blkfront/blkback);
//! - [`ide`]: the emulated IDE controller with bus-master DMA an HVM guest's
//!   BIOS and kernel drive;
//! - [`pit`]: the 8254 timer and port 0x61;
//! - [`uart`]: COM1, a 16550;
//! - [`platform`]: the Xen platform PCI device (PV-on-HVM's unplug).

#![forbid(unsafe_code)]

pub mod ata_host;
pub mod ide;
pub mod pit;
pub mod platform;
pub mod uart;
pub mod xen;

pub use xen::{BlkfrontDisk, PvError, PvIo, PvIoConfig, XenPlatform};
