//! XenStore as a key store with watches (`xen/include/public/io/xs_wire.h`
//! message types XS_READ / XS_WRITE / XS_WATCH / XS_WATCH_EVENT) and the
//! XenBus states of `xen/include/public/io/xenbus.h`.
//!
//! A watch fires once when it is registered (xenstored does this so the
//! watcher reads the initial value) and again on every write or removal
//! at or below its path. Fired watches queue up as [`WatchEvent`]s for
//! the watcher to take, and each is recorded in the trace.

use std::collections::{BTreeMap, VecDeque};

use machine::{EventKind, Sim, XsOp};

use super::grant::DomId;

/// xenbus.h `enum xenbus_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum XenbusState {
    Unknown = 0,
    Initialising = 1,
    InitWait = 2,
    Initialised = 3,
    Connected = 4,
    Closing = 5,
    Closed = 6,
    Reconfiguring = 7,
    Reconfigured = 8,
}

impl XenbusState {
    /// From the decimal string xenstore holds.
    pub fn parse(s: &str) -> Option<XenbusState> {
        Some(match s.trim().parse::<u32>().ok()? {
            0 => XenbusState::Unknown,
            1 => XenbusState::Initialising,
            2 => XenbusState::InitWait,
            3 => XenbusState::Initialised,
            4 => XenbusState::Connected,
            5 => XenbusState::Closing,
            6 => XenbusState::Closed,
            7 => XenbusState::Reconfiguring,
            8 => XenbusState::Reconfigured,
            _ => return None,
        })
    }

    pub fn value(self) -> u32 {
        self as u32
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub watcher: DomId,
    /// The path that changed.
    pub path: String,
    pub token: String,
}

#[derive(Debug, Clone)]
struct Watch {
    watcher: DomId,
    path: String,
    token: String,
}

/// Nodes (path → value) and watches. Paths are absolute
/// (`/local/domain/1/device/vbd/51712/state`).
#[derive(Debug, Clone, Default)]
pub struct XenStore {
    nodes: BTreeMap<String, String>,
    watches: Vec<Watch>,
    fired: VecDeque<WatchEvent>,
}

fn under(path: &str, watched: &str) -> bool {
    path == watched || (path.starts_with(watched) && path.as_bytes().get(watched.len()) == Some(&b'/'))
}

impl XenStore {
    pub fn new() -> XenStore {
        XenStore::default()
    }

    /// XS_READ.
    pub fn read(&mut self, sim: &mut Sim, path: &str) -> Option<String> {
        sim.xenstore(XsOp::Read, path);
        self.nodes.get(path).cloned()
    }

    /// XS_READ of a decimal integer (`xenbus_read_integer`).
    pub fn read_u64(&mut self, sim: &mut Sim, path: &str) -> Option<u64> {
        self.read(sim, path)?.trim().parse().ok()
    }

    /// XS_WRITE; fires the watches at or above `path`.
    pub fn write(&mut self, sim: &mut Sim, path: &str, value: impl Into<String>) {
        sim.xenstore(XsOp::Write, path);
        self.nodes.insert(path.to_string(), value.into());
        self.fire(sim, path);
    }

    /// XS_RM of a node and everything below it.
    pub fn rm(&mut self, sim: &mut Sim, path: &str) {
        sim.xenstore(XsOp::Write, path);
        self.nodes.retain(|k, _| !under(k, path));
        self.fire(sim, path);
    }

    /// XS_WATCH: fires once now, then on each change at or below `path`.
    pub fn watch(&mut self, sim: &mut Sim, watcher: DomId, path: &str, token: &str) {
        sim.xenstore(XsOp::Watch, path);
        self.watches.push(Watch { watcher, path: path.to_string(), token: token.to_string() });
        self.queue(sim, WatchEvent { watcher, path: path.to_string(), token: token.to_string() });
    }

    fn fire(&mut self, sim: &mut Sim, path: &str) {
        let hits: Vec<WatchEvent> = self
            .watches
            .iter()
            .filter(|w| under(path, &w.path))
            .map(|w| WatchEvent { watcher: w.watcher, path: path.to_string(), token: w.token.clone() })
            .collect();
        for ev in hits {
            self.queue(sim, ev);
        }
    }

    fn queue(&mut self, sim: &mut Sim, ev: WatchEvent) {
        // The path is copied into the trace only if the event is kept.
        let path = if sim.trace.keeps_next() { ev.path.clone() } else { String::new() };
        sim.record(0, EventKind::Xenstore { op: XsOp::WatchEvent, path });
        self.fired.push_back(ev);
    }

    /// The next fired watch for `watcher`, if any.
    pub fn take_watch_event(&mut self, watcher: DomId) -> Option<WatchEvent> {
        let i = self.fired.iter().position(|e| e.watcher == watcher)?;
        self.fired.remove(i)
    }

    /// A node's value without charging (for reports and tests).
    pub fn peek(&self, path: &str) -> Option<&str> {
        self.nodes.get(path).map(String::as_str)
    }

    /// All nodes under `prefix`, sorted.
    pub fn dump(&self, prefix: &str) -> Vec<(&str, &str)> {
        self.nodes.iter().filter(|(k, _)| under(k, prefix)).map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use machine::CostModel;

    #[test]
    fn watches_fire_on_registration_and_on_changes_below() {
        let mut sim = Sim::new(CostModel::default());
        let mut xs = XenStore::new();
        xs.write(&mut sim, "/a/b", "1");
        xs.watch(&mut sim, DomId(0), "/a", "tok");
        assert_eq!(xs.take_watch_event(DomId(0)).unwrap().path, "/a");
        xs.write(&mut sim, "/ab", "x");
        assert!(xs.take_watch_event(DomId(0)).is_none(), "/ab is not below /a");
        xs.write(&mut sim, "/a/b/c", "2");
        assert_eq!(xs.take_watch_event(DomId(0)).unwrap().path, "/a/b/c");
        assert_eq!(xs.read_u64(&mut sim, "/a/b"), Some(1));
        xs.rm(&mut sim, "/a");
        assert_eq!(xs.peek("/a/b"), None);
        assert_eq!(XenbusState::parse("4"), Some(XenbusState::Connected));
        assert_eq!(XenbusState::parse("9"), None);
    }
}
