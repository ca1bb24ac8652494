//! The simulated machine: guest memory, units, and (as the paths land) the
//! clock, the cost model and the event trace.

pub mod memory;
pub mod units;

pub use memory::{GuestMemory, MemoryError};
pub use units::{GuestPhysAddr, GuestVirtAddr, Mfn, PAGE_SIZE, Pfn, SimTime};
