//! The HVM path's event log: port exits, BIOS calls, medium requests, DMA
//! copies and phases, each with its simulated time and cost.
//!
//! It is not the machine's [`crate::machine::Trace`] (the PV path's), and
//! folding it in would change what users see, so both stay until a
//! release may change the output:
//! - JSON: a PV event is flat with `time`
//!   (`{"type":"event","time":…,"kind":…}`), an HVM event nests a
//!   [`TimedEvent`] with `time_ns` (`{"type":"event","event":{…}}`), and
//!   both traces have a `disk_read` kind with other fields (blkback's
//!   medium read; an int 13h read as the loader asked for it).
//! - What is kept: the machine's trace counts every event into exact
//!   counters and keeps the first `cap` (its `dropped` is all the rest);
//!   this one records nothing at [`TraceLevel::Summary`], leaves port
//!   exits out below [`TraceLevel::Full`], and counts as dropped only what
//!   its level would have kept. The HVM report's counters come from the
//!   port bus and the IDE model, not from here.
//! - Phases: the machine's phases count events; these count port exits
//!   and sectors read, and phases found after the run from what executed
//!   are inserted in time order ([`HvmTrace::mark_at`]).
//!
//! The counters in the report are exact whatever the level; the detailed
//! list is capped.

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

/// One phase of the HVM boot on the simulated clock: from its mark to the
/// next one (or the end of the run), with the VM exits and the sectors the
/// IDE model read in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HvmPhase {
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Port exits (VM exits to the device model) in the phase.
    pub exits: u64,
    /// Sectors the IDE model read from the image in the phase.
    pub sectors_read: u64,
}

impl HvmPhase {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// Where a phase started: time and the exact counters then.
#[derive(Clone, Debug)]
struct PhaseMark {
    name: String,
    start_ns: u64,
    exits: u64,
    sectors_read: u64,
}

/// The event list (capped), the level, and the phase marks (always kept,
/// whatever the level: a boot has a handful).
#[derive(Clone, Debug)]
pub struct HvmTrace {
    level: TraceLevel,
    cap: usize,
    pub events: Vec<TimedEvent>,
    pub dropped: u64,
    marks: Vec<PhaseMark>,
}

/// Detailed events kept at most.
pub const DETAIL_CAP: usize = 200_000;

impl HvmTrace {
    pub fn new(level: TraceLevel) -> HvmTrace {
        HvmTrace { level, cap: DETAIL_CAP, events: Vec::new(), dropped: 0, marks: Vec::new() }
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

    /// Starts the phase `name` at `time`; `exits` and `sectors_read` are
    /// the bus's totals at that moment. Also a [`HvmEvent::Phase`] in the
    /// detailed list (per the level).
    pub fn mark(&mut self, time: SimTime, name: String, exits: u64, sectors_read: u64) {
        self.push(time, 0, HvmEvent::Phase { name: name.clone() });
        self.marks.push(PhaseMark { name, start_ns: time.0, exits, sectors_read });
    }

    /// A phase found after the run (from what executed): inserted in time
    /// order, after the marks made at the same moment.
    pub fn mark_at(&mut self, time: SimTime, name: String, exits: u64, sectors_read: u64) {
        let at = self.marks.partition_point(|m| m.start_ns <= time.0);
        self.marks.insert(at, PhaseMark { name, start_ns: time.0, exits, sectors_read });
    }

    /// The phases up to `now`, when the bus's totals are `exits` and
    /// `sectors_read`: each ends where the next starts.
    pub fn phases(&self, now: SimTime, exits: u64, sectors_read: u64) -> Vec<HvmPhase> {
        let ends = self.marks.iter().skip(1).map(|m| (m.start_ns, m.exits, m.sectors_read));
        let ends = ends.chain(std::iter::once((now.0, exits, sectors_read)));
        self.marks
            .iter()
            .zip(ends)
            .map(|(m, (end, x, s))| HvmPhase {
                name: m.name.clone(),
                start_ns: m.start_ns,
                end_ns: end.max(m.start_ns),
                exits: x.saturating_sub(m.exits),
                sectors_read: s.saturating_sub(m.sectors_read),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_end_where_the_next_starts_even_at_summary_level() {
        let mut t = HvmTrace::new(TraceLevel::Summary);
        t.mark(SimTime(0), "a".into(), 0, 0);
        t.mark(SimTime(10), "b".into(), 4, 1);
        let p = t.phases(SimTime(25), 9, 3);
        assert!(t.events.is_empty());
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].start_ns, p[0].end_ns, p[0].exits, p[0].sectors_read), (0, 10, 4, 1));
        assert_eq!((p[1].start_ns, p[1].end_ns, p[1].exits, p[1].sectors_read), (10, 25, 5, 2));
        assert_eq!(p[1].duration_ns(), 15);
    }
}
