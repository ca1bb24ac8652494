//! Devices of the simulated machine. [`xen`]: the PV devices (grant table,
//! event channels, xenstore, blkif ring, blkfront/blkback).

pub mod xen;

pub use xen::{BlkfrontDisk, PvError, PvIo, PvIoConfig, XenPlatform};
