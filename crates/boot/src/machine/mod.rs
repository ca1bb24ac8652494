//! The simulated machine: guest memory, units, and (as the paths land) the
//! clock, the cost model and the event trace.

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
