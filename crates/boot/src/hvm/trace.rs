//! The HVM path's event log: port exits, BIOS calls, medium requests, DMA
//! copies and phases, each with its simulated time and cost.
//!
//! Kept beside the machine's [`crate::machine::Trace`] until that trace
//! grows kinds for port exits and BIOS calls; the counters in the report
//! are exact whatever the level, the detailed list is capped.

use serde::Serialize;

use super::bus::Origin;
use crate::machine::SimTime;

/// How much of the run is recorded in detail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceLevel {
    /// Counters only (the default).
    #[default]
    Summary,
    /// BIOS calls, medium requests, DMA and phases; no per-port events.
    Calls,
    /// Everything, including every port exit (capped).
    Full,
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HvmEvent {
    /// A port access (one VM exit); `count` > 1 for `rep ins/outs`.
    PortExit { port: u16, write: bool, size: u8, count: u32, value: u32, origin: Origin },
    /// A BIOS service call: vector, AX on entry, where it was called from.
    BiosCall { vector: u8, ax: u16, function: String, cs: u16, ip: u32, chained: bool },
    /// The disk image was read by the device model.
    MediaRead { lba: u64, sectors: u64 },
    /// Bus-master DMA copied `bytes` into guest memory.
    Dma { bytes: u64 },
    /// A new phase of the boot started.
    Phase { name: String },
    /// An int 13h read finished: what the loader asked for.
    DiskRead { lba: u64, sectors: u64, dest: u32, status: u8, transfer: &'static str },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimedEvent {
    pub time_ns: u64,
    pub cost_ns: u64,
    #[serde(flatten)]
    pub event: HvmEvent,
}

/// The event list (capped) and the level.
#[derive(Clone, Debug)]
pub struct HvmTrace {
    level: TraceLevel,
    cap: usize,
    pub events: Vec<TimedEvent>,
    pub dropped: u64,
}

/// Detailed events kept at most.
pub const DETAIL_CAP: usize = 200_000;

impl HvmTrace {
    pub fn new(level: TraceLevel) -> HvmTrace {
        HvmTrace { level, cap: DETAIL_CAP, events: Vec::new(), dropped: 0 }
    }

    #[inline]
    pub fn full(&self) -> bool {
        self.level == TraceLevel::Full
    }

    pub fn level(&self) -> TraceLevel {
        self.level
    }

    /// Records `event` unless the level leaves it out.
    #[inline]
    pub fn push(&mut self, time: SimTime, cost_ns: u64, event: HvmEvent) {
        if self.level == TraceLevel::Summary {
            return;
        }
        if self.events.len() < self.cap {
            self.events.push(TimedEvent { time_ns: time.0, cost_ns, event });
        } else {
            self.dropped += 1;
        }
    }
}
