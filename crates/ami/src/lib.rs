//! The AMI layer of boot-sim: what an Amazon Machine Image is (a root
//! volume image plus the settings it was registered with), where AMIs are
//! kept (a local SQLite registry), which instance types can launch one, and
//! what storing a chain of AMIs costs.
//!
//! Source material (DESIGN.md, "AMI facts"): an AMI = OS + software +
//! settings — root device type (EBS or instance store) and virtualization
//! type (hvm or paravirtual). HVM works on all current-generation instance
//! types and on CC2, CR1, HI1, HS1; PV on C3, M3 and on C1, HI1, HS1, M1,
//! M2, T1. Enhanced networking and GPUs need HVM. Instance-store AMIs store
//! a full copy per AMI; EBS-backed AMIs store only changed blocks.
//!
//! This crate never prints and never boots: `launch` is split into
//! [`Registry::prepare_launch`] (permission, compatibility, image
//! integrity) and the boot itself, which the CLI runs with `boot`.
//! It reads images through `disk-image` and names loaders with
//! `boot-config`, and must not know the machine (no cost model, memory or
//! devices: the CLI maps a root device type to the cost model's disk).
#![forbid(unsafe_code)]

pub mod bootstrap;
mod error;
pub mod firstboot;
pub mod footprint;
pub mod fuzzing;
pub mod image;
pub mod instance_types;
pub mod model;
pub mod registry;
pub mod rootfs;
pub mod userdata;

pub use error::AmiError;
pub use footprint::{BLOCK_SIZE, Footprint, FootprintEntry, footprint};
pub use instance_types::{Generation, InstanceFamily, InstanceType};
pub use model::{
    Account, Ami, AmiId, Clock, DEFAULT_ACCOUNT, DEFAULT_REGION, LaunchGrant, RootDeviceType, StepClock, SystemClock,
    VirtualizationType, format_unix_time,
};
pub use registry::{LaunchPlan, RegisterRequest, Registry};

pub type Result<T, E = AmiError> = std::result::Result<T, E>;
