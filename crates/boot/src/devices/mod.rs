//! Devices of the simulated machine, each a state machine that does no I/O
//! of its own (the rust-vmm `vm-superio` style): the bus that owns it
//! routes port accesses and performs what it reports.
//!
//! - [`xen`]: the PV devices (grant table, event channels, xenstore, blkif
//!   ring, blkfront/blkback);
//! - [`ide`]: the emulated IDE controller with bus-master DMA an HVM guest's
//!   BIOS and kernel drive;
//! - [`pit`]: the 8254 timer and port 0x61;
//! - [`uart`]: COM1, a 16550;
//! - [`platform`]: the Xen platform PCI device (PV-on-HVM's unplug).

pub(crate) mod ata_host;
pub mod ide;
pub mod pit;
pub mod platform;
pub mod uart;
pub mod xen;

pub use xen::{BlkfrontDisk, PvError, PvIo, PvIoConfig, XenPlatform};
