//! The event trace: every simulated event with its timestamp and cost.
//!
//! Memory is bounded: detailed [`Event`]s are kept up to a cap
//! ([`DEFAULT_DETAIL_CAP`], configurable); the [`Counters`] are always
//! exact (per kind, per hypercall, per event-channel port, bytes). Phase
//! marks split simulated time for reports. [`Sim`] bundles the clock, the
//! cost model and the trace so a device charges an event in one call.
//!
//! New event kinds (BIOS calls, port exits, …) are added to [`EventKind`]
//! and [`EventTag`]; the counters index by tag.

use std::collections::BTreeMap;

use serde::Serialize;

use super::clock::SimClock;
use super::cost::{CostKey, CostModel};
use super::units::SimTime;

pub const DEFAULT_DETAIL_CAP: usize = 100_000;

/// Hypercall numbers counted in a fixed array (Xen's `NR_hypercalls` is 64).
const HYPERCALL_SLOTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantOpKind {
    /// Guest writes a grant entry (no hypercall).
    Access,
    /// Guest revokes a grant entry (no hypercall).
    EndAccess,
    Map,
    Unmap,
    Copy,
}

impl GrantOpKind {
    const COUNT: usize = 5;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RingStage {
    /// The frontend wrote the request into its slot (`req_prod_pvt`).
    Pushed,
    /// The backend copied it out of the ring (`req_cons`).
    Consumed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XsOp {
    Read,
    Write,
    Watch,
    /// A watch fired (the watcher was told `path` changed).
    WatchEvent,
}

/// What happened. Small `Copy`-free variants on the ring path keep the
/// hot path cheap; strings appear only on rare events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A hypercall: `nr` from xen.h (`__HYPERVISOR_*`), `sub_op` its
    /// command (GNTTABOP_*, EVTCHNOP_*), `count` the batch size.
    Hypercall {
        nr: u32,
        name: &'static str,
        sub_op: u32,
        count: u32,
    },
    /// A grant-table operation and its GNTST_* status.
    Grant {
        op: GrantOpKind,
        gref: u32,
        status: i16,
    },
    /// EVTCHNOP_send by domain `dom` on its `port`.
    EvtchnNotify {
        dom: u16,
        port: u32,
    },
    /// An upcall delivered to domain `dom` on its `port`.
    EvtchnUpcall {
        dom: u16,
        port: u32,
    },
    RingRequest {
        stage: RingStage,
        id: u64,
        op: u8,
        sector: u64,
        segments: u16,
    },
    /// The backend put a response on the ring.
    RingResponse {
        id: u64,
        op: u8,
        status: i16,
    },
    Xenstore {
        op: XsOp,
        path: String,
    },
    /// A file read by a loader (filled in by the boot paths).
    FileRead {
        device: String,
        path: String,
        bytes: u64,
    },
    /// The backend read `bytes` from the medium at 512-byte `sector`.
    DiskRead {
        sector: u64,
        bytes: u64,
    },
    /// A CPU copy of `bytes` (bounce buffers, persistent-grant copies).
    Memcpy {
        bytes: u64,
    },
}

/// A field-less mirror of [`EventKind`], the counters' index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventTag {
    Hypercall,
    Grant,
    EvtchnNotify,
    EvtchnUpcall,
    RingRequest,
    RingResponse,
    Xenstore,
    FileRead,
    DiskRead,
    Memcpy,
}

impl EventTag {
    pub const COUNT: usize = 10;
    pub const ALL: [EventTag; EventTag::COUNT] = [
        EventTag::Hypercall,
        EventTag::Grant,
        EventTag::EvtchnNotify,
        EventTag::EvtchnUpcall,
        EventTag::RingRequest,
        EventTag::RingResponse,
        EventTag::Xenstore,
        EventTag::FileRead,
        EventTag::DiskRead,
        EventTag::Memcpy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventTag::Hypercall => "hypercall",
            EventTag::Grant => "grant",
            EventTag::EvtchnNotify => "evtchn_notify",
            EventTag::EvtchnUpcall => "evtchn_upcall",
            EventTag::RingRequest => "ring_request",
            EventTag::RingResponse => "ring_response",
            EventTag::Xenstore => "xenstore",
            EventTag::FileRead => "file_read",
            EventTag::DiskRead => "disk_read",
            EventTag::Memcpy => "memcpy",
        }
    }
}

impl EventKind {
    pub fn tag(&self) -> EventTag {
        match self {
            EventKind::Hypercall { .. } => EventTag::Hypercall,
            EventKind::Grant { .. } => EventTag::Grant,
            EventKind::EvtchnNotify { .. } => EventTag::EvtchnNotify,
            EventKind::EvtchnUpcall { .. } => EventTag::EvtchnUpcall,
            EventKind::RingRequest { .. } => EventTag::RingRequest,
            EventKind::RingResponse { .. } => EventTag::RingResponse,
            EventKind::Xenstore { .. } => EventTag::Xenstore,
            EventKind::FileRead { .. } => EventTag::FileRead,
            EventKind::DiskRead { .. } => EventTag::DiskRead,
            EventKind::Memcpy { .. } => EventTag::Memcpy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// When the event started (the clock before its cost was added).
    pub time: SimTime,
    pub cost_ns: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Counts per (domain, port). A run uses a handful of ports (one vbd has
/// two), so a linear scan of a small vector beats a map on the ring's hot
/// path; the summary sorts by (domain, port).
#[derive(Debug, Clone, Default)]
struct PortCounts(Vec<((u16, u32), u64)>);

/// Equal as maps: the order ports were first seen does not matter.
impl PartialEq for PortCounts {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|&((d, p), n)| other.get(d, p) == n)
    }
}

impl PortCounts {
    #[inline(always)]
    fn bump(&mut self, dom: u16, port: u32) {
        match self.0.iter_mut().find(|(k, _)| *k == (dom, port)) {
            Some((_, n)) => *n += 1,
            None => self.0.push(((dom, port), 1)),
        }
    }

    fn get(&self, dom: u16, port: u32) -> u64 {
        self.0.iter().find(|(k, _)| *k == (dom, port)).map_or(0, |&(_, n)| n)
    }
}

/// Exact counts, whatever the detail cap.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    events: [u64; EventTag::COUNT],
    cost_ns: [u64; EventTag::COUNT],
    hypercalls: [u64; HYPERCALL_SLOTS],
    hypercall_names: [&'static str; HYPERCALL_SLOTS],
    /// Hypercall numbers >= 64 (none in Xen's ABI).
    hypercalls_other: u64,
    grant_ops: [u64; GrantOpKind::COUNT],
    /// Grant operations that returned a status other than GNTST_okay.
    grant_failures: u64,
    /// EVTCHNOP_send per (sending domain, port).
    notify_ports: PortCounts,
    /// Upcalls per (receiving domain, port).
    upcall_ports: PortCounts,
    requests_pushed: u64,
    requests_consumed: u64,
    segments_pushed: u64,
    responses: u64,
    responses_failed: u64,
    disk_bytes: u64,
    memcpy_bytes: u64,
    file_bytes: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            events: [0; EventTag::COUNT],
            cost_ns: [0; EventTag::COUNT],
            hypercalls: [0; HYPERCALL_SLOTS],
            hypercall_names: [""; HYPERCALL_SLOTS],
            hypercalls_other: 0,
            grant_ops: [0; GrantOpKind::COUNT],
            grant_failures: 0,
            notify_ports: PortCounts::default(),
            upcall_ports: PortCounts::default(),
            requests_pushed: 0,
            requests_consumed: 0,
            segments_pushed: 0,
            responses: 0,
            responses_failed: 0,
            disk_bytes: 0,
            memcpy_bytes: 0,
            file_bytes: 0,
        }
    }
}

impl Counters {
    /// Always inlined: at a call site that builds a known variant the
    /// `match` folds away, leaving a few adds (an out-of-line call paid a
    /// mispredicted jump table per event).
    #[inline(always)]
    fn add(&mut self, cost_ns: u64, kind: &EventKind) {
        let tag = kind.tag() as usize;
        self.events[tag] += 1;
        self.cost_ns[tag] = self.cost_ns[tag].saturating_add(cost_ns);
        match *kind {
            EventKind::Hypercall { nr, name, .. } => match self.hypercalls.get_mut(nr as usize) {
                Some(c) => {
                    *c += 1;
                    self.hypercall_names[nr as usize] = name;
                }
                None => self.hypercalls_other += 1,
            },
            EventKind::Grant { op, status, .. } => {
                self.grant_ops[op as usize] += 1;
                if status != 0 {
                    self.grant_failures += 1;
                }
            }
            EventKind::EvtchnNotify { dom, port } => self.notify_ports.bump(dom, port),
            EventKind::EvtchnUpcall { dom, port } => self.upcall_ports.bump(dom, port),
            EventKind::RingRequest { stage: RingStage::Pushed, segments, .. } => {
                self.requests_pushed += 1;
                self.segments_pushed += u64::from(segments);
            }
            EventKind::RingRequest { stage: RingStage::Consumed, .. } => self.requests_consumed += 1,
            EventKind::RingResponse { status, .. } => {
                self.responses += 1;
                if status != 0 {
                    self.responses_failed += 1;
                }
            }
            EventKind::Xenstore { .. } => {}
            EventKind::FileRead { bytes, .. } => self.file_bytes = self.file_bytes.saturating_add(bytes),
            EventKind::DiskRead { bytes, .. } => self.disk_bytes = self.disk_bytes.saturating_add(bytes),
            EventKind::Memcpy { bytes } => self.memcpy_bytes = self.memcpy_bytes.saturating_add(bytes),
        }
    }

    pub fn events(&self, tag: EventTag) -> u64 {
        self.events[tag as usize]
    }
    pub fn cost_ns(&self, tag: EventTag) -> u64 {
        self.cost_ns[tag as usize]
    }
    /// Hypercalls with number `nr` (xen.h `__HYPERVISOR_*`).
    pub fn hypercalls(&self, nr: u32) -> u64 {
        self.hypercalls.get(nr as usize).copied().unwrap_or(0)
    }
    pub fn hypercalls_total(&self) -> u64 {
        self.events(EventTag::Hypercall)
    }
    pub fn grant_ops(&self, op: GrantOpKind) -> u64 {
        self.grant_ops[op as usize]
    }
    pub fn grant_failures(&self) -> u64 {
        self.grant_failures
    }
    /// EVTCHNOP_send calls domain `dom` made on its `port`.
    pub fn notifies_on(&self, dom: u16, port: u32) -> u64 {
        self.notify_ports.get(dom, port)
    }
    /// Upcalls delivered to domain `dom` on its `port`.
    pub fn upcalls_on(&self, dom: u16, port: u32) -> u64 {
        self.upcall_ports.get(dom, port)
    }
    pub fn notifies(&self) -> u64 {
        self.events(EventTag::EvtchnNotify)
    }
    pub fn requests_pushed(&self) -> u64 {
        self.requests_pushed
    }
    pub fn requests_consumed(&self) -> u64 {
        self.requests_consumed
    }
    pub fn segments_pushed(&self) -> u64 {
        self.segments_pushed
    }
    pub fn responses(&self) -> u64 {
        self.responses
    }
    pub fn responses_failed(&self) -> u64 {
        self.responses_failed
    }
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }
    pub fn memcpy_bytes(&self) -> u64 {
        self.memcpy_bytes
    }
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseMark {
    pub name: String,
    pub start: SimTime,
    /// Index of the first event (counting dropped ones) in this phase.
    pub first_event: u64,
}

/// The event log: detailed events up to a cap, exact counters, phases.
#[derive(Debug, Clone)]
pub struct Trace {
    events: Vec<Event>,
    cap: usize,
    total: u64,
    counters: Counters,
    phases: Vec<PhaseMark>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::with_cap(DEFAULT_DETAIL_CAP)
    }
}

impl Trace {
    /// A trace keeping at most `cap` detailed events (0 keeps none; the
    /// counters are exact either way).
    pub fn with_cap(cap: usize) -> Trace {
        Trace { events: Vec::new(), cap, total: 0, counters: Counters::default(), phases: Vec::new() }
    }

    /// Counts `kind` and keeps it if under the cap. The counting is
    /// inlined into the caller; keeping the detail (a `Vec` push) is out
    /// of line, as a run without `--trace` keeps none.
    #[inline(always)]
    pub fn push(&mut self, time: SimTime, cost_ns: u64, kind: EventKind) {
        self.counters.add(cost_ns, &kind);
        self.total += 1;
        if self.keeps_next() {
            self.keep(Event { time, cost_ns, kind });
        }
    }

    #[cold]
    #[inline(never)]
    fn keep(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Whether the next event pushed is kept in detail (under the cap).
    /// Callers whose event owns strings build them only when it is.
    #[inline(always)]
    pub fn keeps_next(&self) -> bool {
        self.events.len() < self.cap
    }

    /// Starts a named phase at `now`; it lasts until the next phase mark
    /// (or the end of the run).
    pub fn phase(&mut self, name: impl Into<String>, now: SimTime) {
        self.phases.push(PhaseMark { name: name.into(), start: now, first_event: self.total });
    }

    /// The detailed events kept (the first `cap`).
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// Events recorded, kept or not.
    pub fn total_events(&self) -> u64 {
        self.total
    }
    pub fn dropped_events(&self) -> u64 {
        self.total - self.events.len() as u64
    }
    pub fn cap(&self) -> usize {
        self.cap
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn phases(&self) -> &[PhaseMark] {
        &self.phases
    }

    /// A serialisable summary, with phase durations up to `now`.
    pub fn summary(&self, now: SimTime) -> TraceSummary {
        let c = &self.counters;
        let per_kind = EventTag::ALL
            .into_iter()
            .filter(|&t| c.events(t) > 0)
            .map(|t| (t.name(), KindSummary { count: c.events(t), cost_ns: c.cost_ns(t) }))
            .collect();
        let hypercalls = (0..HYPERCALL_SLOTS)
            .filter(|&nr| c.hypercalls[nr] > 0)
            .map(|nr| HypercallSummary { nr: nr as u32, name: c.hypercall_names[nr], count: c.hypercalls[nr] })
            .collect();
        let ports = |m: &PortCounts| -> Vec<PortSummary> {
            let mut v: Vec<PortSummary> =
                m.0.iter().map(|&((dom, port), count)| PortSummary { dom, port, count }).collect();
            v.sort_unstable_by_key(|p| (p.dom, p.port));
            v
        };
        let phases = self
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (end, end_event) =
                    self.phases.get(i + 1).map_or((now, self.total), |next| (next.start, next.first_event));
                PhaseSummary {
                    name: p.name.clone(),
                    start_ns: p.start.0,
                    duration_ns: end.0.saturating_sub(p.start.0),
                    events: end_event.saturating_sub(p.first_event),
                }
            })
            .collect();
        TraceSummary {
            sim_ns: now.0,
            events_total: self.total,
            events_kept: self.events.len() as u64,
            events_dropped: self.dropped_events(),
            per_kind,
            hypercalls,
            hypercalls_other: c.hypercalls_other,
            grants: GrantSummary {
                access: c.grant_ops(GrantOpKind::Access),
                end_access: c.grant_ops(GrantOpKind::EndAccess),
                map: c.grant_ops(GrantOpKind::Map),
                unmap: c.grant_ops(GrantOpKind::Unmap),
                copy: c.grant_ops(GrantOpKind::Copy),
                failed: c.grant_failures,
            },
            notify_ports: ports(&c.notify_ports),
            upcall_ports: ports(&c.upcall_ports),
            ring: RingSummary {
                requests_pushed: c.requests_pushed,
                requests_consumed: c.requests_consumed,
                segments: c.segments_pushed,
                responses: c.responses,
                responses_failed: c.responses_failed,
            },
            bytes: BytesSummary { disk: c.disk_bytes, memcpy: c.memcpy_bytes, files: c.file_bytes },
            phases,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindSummary {
    pub count: u64,
    pub cost_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HypercallSummary {
    pub nr: u32,
    pub name: &'static str,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortSummary {
    pub dom: u16,
    pub port: u32,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrantSummary {
    pub access: u64,
    pub end_access: u64,
    pub map: u64,
    pub unmap: u64,
    pub copy: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RingSummary {
    pub requests_pushed: u64,
    pub requests_consumed: u64,
    pub segments: u64,
    pub responses: u64,
    pub responses_failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BytesSummary {
    pub disk: u64,
    pub memcpy: u64,
    pub files: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSummary {
    pub name: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    pub sim_ns: u64,
    pub events_total: u64,
    pub events_kept: u64,
    pub events_dropped: u64,
    pub per_kind: BTreeMap<&'static str, KindSummary>,
    pub hypercalls: Vec<HypercallSummary>,
    pub hypercalls_other: u64,
    pub grants: GrantSummary,
    pub notify_ports: Vec<PortSummary>,
    pub upcall_ports: Vec<PortSummary>,
    pub ring: RingSummary,
    pub bytes: BytesSummary,
    pub phases: Vec<PhaseSummary>,
}

/// Clock + cost model + trace: what every simulated step needs.
#[derive(Debug, Clone)]
pub struct Sim {
    pub clock: SimClock,
    pub cost: CostModel,
    pub trace: Trace,
}

impl Sim {
    pub fn new(cost: CostModel) -> Sim {
        Sim { clock: SimClock::new(), cost, trace: Trace::default() }
    }

    pub fn with_trace_cap(cost: CostModel, cap: usize) -> Sim {
        Sim { clock: SimClock::new(), cost, trace: Trace::with_cap(cap) }
    }

    #[inline]
    pub fn now(&self) -> SimTime {
        self.clock.now()
    }

    /// Records `kind` costing `cost_ns`: stamped with the current time,
    /// then the clock advances by the cost.
    #[inline(always)]
    pub fn record(&mut self, cost_ns: u64, kind: EventKind) {
        let t = self.clock.now();
        self.clock.advance(cost_ns);
        self.trace.push(t, cost_ns, kind);
    }

    /// Records `kind` at the cost-model price of `key`.
    #[inline(always)]
    pub fn charge(&mut self, key: CostKey, kind: EventKind) {
        let ns = self.cost.ns(key);
        self.record(ns, kind);
    }

    /// A hypercall: one [`CostKey::Hypercall`] plus `extra_ns` of per-op work.
    #[inline(always)]
    pub fn hypercall(&mut self, nr: u32, name: &'static str, sub_op: u32, count: u32, extra_ns: u64) {
        let ns = self.cost.ns(CostKey::Hypercall).saturating_add(extra_ns);
        self.record(ns, EventKind::Hypercall { nr, name, sub_op, count });
    }

    /// A CPU copy of `bytes`.
    #[inline]
    pub fn memcpy(&mut self, bytes: u64) {
        let ns = self.cost.memcpy_ns(bytes);
        self.record(ns, EventKind::Memcpy { bytes });
    }

    /// A loader's file read (the boot paths call this). The names are
    /// copied only if the event is kept; the counters need the bytes alone.
    pub fn file_read(&mut self, device: impl Into<String>, path: impl Into<String>, bytes: u64) {
        let (device, path) =
            if self.trace.keeps_next() { (device.into(), path.into()) } else { (String::new(), String::new()) };
        self.record(0, EventKind::FileRead { device, path, bytes });
    }

    /// A xenstore operation on `path` at [`CostKey::XenstoreOp`]; the path
    /// is copied only if the event is kept.
    pub fn xenstore(&mut self, op: XsOp, path: &str) {
        let path = if self.trace.keeps_next() { path.to_owned() } else { String::new() };
        self.charge(CostKey::XenstoreOp, EventKind::Xenstore { op, path });
    }

    pub fn phase(&mut self, name: impl Into<String>) {
        let now = self.clock.now();
        self.trace.phase(name, now);
    }

    pub fn summary(&self) -> TraceSummary {
        self.trace.summary(self.clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_stay_exact_past_the_cap_and_phases_split_time() {
        let mut sim = Sim::with_trace_cap(CostModel::default(), 2);
        sim.phase("one");
        sim.hypercall(32, "event_channel_op", 4, 1, 0);
        sim.record(10, EventKind::EvtchnNotify { dom: 1, port: 3 });
        sim.phase("two");
        sim.record(5, EventKind::EvtchnNotify { dom: 1, port: 3 });
        sim.record(7, EventKind::DiskRead { sector: 0, bytes: 512 });
        let t = &sim.trace;
        assert_eq!(t.events().len(), 2);
        assert_eq!(t.total_events(), 4);
        assert_eq!(t.dropped_events(), 2);
        assert_eq!(t.counters().notifies_on(1, 3), 2);
        assert_eq!(t.counters().notifies_on(0, 3), 0);
        assert_eq!(t.counters().hypercalls(32), 1);
        assert_eq!(t.counters().disk_bytes(), 512);
        let s = sim.summary();
        let hc = CostModel::default().ns(CostKey::Hypercall);
        assert_eq!(s.sim_ns, hc + 22);
        assert_eq!(s.phases[0].duration_ns, hc + 10);
        assert_eq!(s.phases[0].events, 2);
        assert_eq!(s.phases[1].duration_ns, 12);
        assert_eq!(s.hypercalls[0].name, "event_channel_op");
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"evtchn_notify\":{\"count\":2"), "{json}");
        assert!(serde_json::to_string(&t.events()[0]).unwrap().contains("\"kind\":\"hypercall\""));
    }

    #[test]
    fn the_cap_changes_what_is_kept_not_what_is_counted() {
        let run = |cap| {
            let mut sim = Sim::with_trace_cap(CostModel::default(), cap);
            sim.phase("connect");
            sim.xenstore(XsOp::Write, "/local/domain/1/device/vbd/51712/state");
            sim.file_read("(hd0,0)", "/boot/vmlinuz", 4096);
            sim.phase("read");
            sim.record(3, EventKind::EvtchnNotify { dom: 1, port: 3 });
            sim
        };
        let (kept, counted) = (run(10), run(0));
        assert_eq!(kept.trace.counters(), counted.trace.counters());
        assert_eq!(kept.summary().phases, counted.summary().phases);
        assert_eq!(counted.summary().phases[0].events, 2);
        assert_eq!((counted.trace.events().len(), counted.trace.total_events()), (0, 3));
        assert_eq!(
            kept.trace.events()[0].kind,
            EventKind::Xenstore { op: XsOp::Write, path: "/local/domain/1/device/vbd/51712/state".into() }
        );
        assert!(matches!(&kept.trace.events()[1].kind, EventKind::FileRead { path, .. } if path == "/boot/vmlinuz"));
    }
}
