//! The simulated machine both of Xen's boot paths run on: guest memory (a
//! flat RAM range addressed by pseudo-physical frame, as Xen's `p2m` gives a
//! guest), the units that must not be mixed (`Pfn`, `Mfn`, guest physical
//! and virtual addresses, `SimTime`), the simulated clock, the cost model
//! (one table of per-event costs, each with its source, see
//! `docs/cost-model.md`) and the event trace every device and boot path
//! charges through [`Sim`]. It owns time and cost; it must not know the
//! devices that charge it, disks, boot configs, kernel formats or the PV and
//! HVM paths (the `devices` and `boot` crates build on it), and it never
//! prints.
#![forbid(unsafe_code)]

pub mod clock;
pub mod cost;
pub mod memory;
pub mod trace;
pub mod units;

pub use clock::SimClock;
pub use cost::{CostKey, CostModel, CostModelError, CostParams, DiskProfile};
pub use memory::{GuestMemory, HostBuffer, MemoryError};
pub use trace::{Event, EventKind, EventTag, GrantOpKind, RingStage, Sim, Trace, TraceSummary, XsOp};
pub use units::{GuestPhysAddr, GuestVirtAddr, Mfn, PAGE_SIZE, Pfn, SimTime};
