//! Event channels (`xen/include/public/event_channel.h`, 2-level ABI):
//! per-domain port tables, EVTCHNOP_alloc_unbound / bind_interdomain /
//! send, pending and mask bits, per-port counters. Xen's
//! `xen/common/event_channel.c` semantics: a send on an unbound port is
//! silently dropped, on a free or out-of-range port it is -EINVAL; the
//! pending bit is set on the remote port and an upcall is raised only if
//! the bit was clear and the port unmasked.

use machine::{CostKey, EventKind, Sim};

use super::grant::DomId;

/// xen.h `__HYPERVISOR_event_channel_op` and the EVTCHNOP_* commands.
pub const HYPERVISOR_EVENT_CHANNEL_OP: u32 = 32;
pub const EVTCHNOP_BIND_INTERDOMAIN: u32 = 0;
pub const EVTCHNOP_SEND: u32 = 4;
pub const EVTCHNOP_ALLOC_UNBOUND: u32 = 6;
pub const EVTCHNOP_UNMASK: u32 = 9;

/// 2-level ABI limit for a 64-bit guest: 64 × 64 ports.
pub const MAX_PORTS: u32 = 4096;

pub type Port = u32;

/// Xen errno values the event-channel ops return (negated in the ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvtchnError {
    #[error("EINVAL: port {0} is not valid for this operation")]
    Inval(Port),
    #[error("ENOSPC: no free event-channel port")]
    NoSpace,
    #[error("ESRCH: no such domain d{0}")]
    NoDomain(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    /// ECS_FREE.
    Free,
    /// ECS_RESERVED (port 0).
    Reserved,
    /// ECS_UNBOUND: waiting for `remote` to bind.
    Unbound { remote: DomId },
    /// ECS_INTERDOMAIN.
    Interdomain { remote: DomId, remote_port: Port },
}

#[derive(Debug, Clone, Copy)]
pub struct PortInfo {
    pub state: PortState,
    pub pending: bool,
    pub masked: bool,
    /// EVTCHNOP_send calls on this port.
    pub sends: u64,
    /// Times this port's pending bit went 0 → 1.
    pub raised: u64,
}

impl PortInfo {
    const FREE: PortInfo = PortInfo { state: PortState::Free, pending: false, masked: false, sends: 0, raised: 0 };
}

#[derive(Debug, Clone)]
struct DomainPorts {
    dom: DomId,
    ports: Vec<PortInfo>,
}

/// The event channels of the simulated domains.
#[derive(Debug, Clone)]
pub struct EventChannels {
    doms: Vec<DomainPorts>,
}

impl EventChannels {
    /// Port tables for `doms` (port 0 reserved in each, as Xen does).
    pub fn new(doms: &[DomId]) -> EventChannels {
        // A domain listed twice gets one table (a second was unreachable).
        let mut unique: Vec<DomId> = Vec::with_capacity(doms.len());
        for &d in doms {
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        let doms = unique
            .into_iter()
            .map(|dom| {
                let mut reserved = PortInfo::FREE;
                reserved.state = PortState::Reserved;
                DomainPorts { dom, ports: vec![reserved] }
            })
            .collect();
        EventChannels { doms }
    }

    /// Where `dom`'s table is: O(1) when domain ids are dense from 0 in
    /// creation order (dom0 then the guest, as `PvIo` builds them), a
    /// scan of the few domains otherwise.
    #[inline]
    fn index(&self, dom: DomId) -> Result<usize, EvtchnError> {
        let i = usize::from(dom.0);
        if self.doms.get(i).is_some_and(|d| d.dom == dom) {
            return Ok(i);
        }
        self.doms.iter().position(|d| d.dom == dom).ok_or(EvtchnError::NoDomain(dom.0))
    }

    #[inline]
    fn ports(&self, dom: DomId) -> Result<&Vec<PortInfo>, EvtchnError> {
        Ok(&self.doms[self.index(dom)?].ports)
    }

    #[inline]
    fn ports_mut(&mut self, dom: DomId) -> Result<&mut Vec<PortInfo>, EvtchnError> {
        let i = self.index(dom)?;
        Ok(&mut self.doms[i].ports)
    }

    fn get_free_port(&mut self, dom: DomId) -> Result<Port, EvtchnError> {
        let ports = self.ports_mut(dom)?;
        if let Some(p) = ports.iter().position(|p| p.state == PortState::Free) {
            return Ok(p as Port);
        }
        if ports.len() as u32 >= MAX_PORTS {
            return Err(EvtchnError::NoSpace);
        }
        ports.push(PortInfo::FREE);
        Ok((ports.len() - 1) as Port)
    }

    pub fn port(&self, dom: DomId, port: Port) -> Option<PortInfo> {
        self.ports(dom).ok()?.get(port as usize).copied()
    }

    /// EVTCHNOP_alloc_unbound by `dom`: a port `remote` may bind to.
    pub fn alloc_unbound(&mut self, sim: &mut Sim, dom: DomId, remote: DomId) -> Result<Port, EvtchnError> {
        sim.hypercall(HYPERVISOR_EVENT_CHANNEL_OP, "event_channel_op", EVTCHNOP_ALLOC_UNBOUND, 1, 0);
        self.ports(remote)?;
        let port = self.get_free_port(dom)?;
        self.ports_mut(dom)?[port as usize].state = PortState::Unbound { remote };
        Ok(port)
    }

    /// EVTCHNOP_bind_interdomain by `dom` to (`remote`, `remote_port`),
    /// which must be unbound and offered to `dom` (else -EINVAL).
    pub fn bind_interdomain(
        &mut self,
        sim: &mut Sim,
        dom: DomId,
        remote: DomId,
        remote_port: Port,
    ) -> Result<Port, EvtchnError> {
        sim.hypercall(HYPERVISOR_EVENT_CHANNEL_OP, "event_channel_op", EVTCHNOP_BIND_INTERDOMAIN, 1, 0);
        let offered = self.ports(remote)?.get(remote_port as usize).map(|p| p.state);
        if offered != Some(PortState::Unbound { remote: dom }) {
            return Err(EvtchnError::Inval(remote_port));
        }
        let port = self.get_free_port(dom)?;
        self.ports_mut(dom)?[port as usize].state = PortState::Interdomain { remote, remote_port };
        self.ports_mut(remote)?[remote_port as usize].state = PortState::Interdomain { remote: dom, remote_port: port };
        // Xen sets the local port pending on bind so no event is lost.
        self.set_pending(dom, port);
        Ok(port)
    }

    #[inline]
    fn set_pending(&mut self, dom: DomId, port: Port) -> bool {
        let Ok(ports) = self.ports_mut(dom) else { return false };
        let Some(p) = ports.get_mut(port as usize) else { return false };
        if p.pending {
            return false;
        }
        p.pending = true;
        p.raised += 1;
        !p.masked
    }

    /// EVTCHNOP_send by `dom` on its `port`: a hypercall; marks the remote
    /// port pending. Returns whether an upcall was raised on the remote.
    #[inline]
    pub fn send(&mut self, sim: &mut Sim, dom: DomId, port: Port) -> Result<bool, EvtchnError> {
        sim.hypercall(HYPERVISOR_EVENT_CHANNEL_OP, "event_channel_op", EVTCHNOP_SEND, 1, 0);
        sim.record(0, EventKind::EvtchnNotify { dom: dom.0, port });
        let ports = self.ports_mut(dom)?;
        let p = ports.get_mut(port as usize).ok_or(EvtchnError::Inval(port))?;
        p.sends += 1;
        match p.state {
            PortState::Interdomain { remote, remote_port } => Ok(self.set_pending(remote, remote_port)),
            PortState::Unbound { .. } => Ok(false),
            PortState::Free | PortState::Reserved => Err(EvtchnError::Inval(port)),
        }
    }

    pub fn is_pending(&self, dom: DomId, port: Port) -> bool {
        self.port(dom, port).is_some_and(|p| p.pending)
    }

    /// The guest's upcall handler: clears the pending bit and charges the
    /// upcall delivery. Returns false (and charges nothing) if not pending.
    #[inline]
    pub fn take_pending(&mut self, sim: &mut Sim, dom: DomId, port: Port) -> bool {
        let Ok(ports) = self.ports_mut(dom) else { return false };
        match ports.get_mut(port as usize) {
            Some(p) if p.pending && !p.masked => {
                p.pending = false;
                sim.charge(CostKey::EvtchnUpcall, EventKind::EvtchnUpcall { dom: dom.0, port });
                true
            }
            _ => false,
        }
    }

    pub fn mask(&mut self, dom: DomId, port: Port) {
        if let Some(p) = self.ports_mut(dom).ok().and_then(|ports| ports.get_mut(port as usize)) {
            p.masked = true;
        }
    }

    /// Clears the mask (EVTCHNOP_unmask); a pending event then raises.
    pub fn unmask(&mut self, sim: &mut Sim, dom: DomId, port: Port) -> Result<bool, EvtchnError> {
        sim.hypercall(HYPERVISOR_EVENT_CHANNEL_OP, "event_channel_op", EVTCHNOP_UNMASK, 1, 0);
        let p = self.ports_mut(dom)?.get_mut(port as usize).ok_or(EvtchnError::Inval(port))?;
        p.masked = false;
        Ok(p.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use machine::CostModel;

    #[test]
    fn alloc_bind_send_and_pending_bits() {
        let mut sim = Sim::new(CostModel::default());
        let (front, back) = (DomId(1), DomId(0));
        let mut ev = EventChannels::new(&[back, front]);
        let fp = ev.alloc_unbound(&mut sim, front, back).unwrap();
        assert_eq!(fp, 1);
        assert_eq!(ev.send(&mut sim, front, fp), Ok(false), "unbound: dropped");
        assert_eq!(ev.bind_interdomain(&mut sim, back, DomId(3), fp), Err(EvtchnError::NoDomain(3)));
        assert_eq!(ev.bind_interdomain(&mut sim, back, front, 9), Err(EvtchnError::Inval(9)));
        let bp = ev.bind_interdomain(&mut sim, back, front, fp).unwrap();
        assert!(ev.take_pending(&mut sim, back, bp), "bind leaves the local port pending");
        assert_eq!(ev.send(&mut sim, front, fp), Ok(true));
        assert_eq!(ev.send(&mut sim, front, fp), Ok(false), "already pending");
        assert!(ev.take_pending(&mut sim, back, bp));
        assert!(!ev.take_pending(&mut sim, back, bp));
        ev.mask(back, bp);
        assert_eq!(ev.send(&mut sim, front, fp), Ok(false), "masked: no upcall");
        assert_eq!(ev.unmask(&mut sim, back, bp), Ok(true));
        assert_eq!(ev.send(&mut sim, front, 0), Err(EvtchnError::Inval(0)));
        assert_eq!(ev.port(front, fp).unwrap().sends, 4);
        assert_eq!(sim.trace.counters().notifies_on(1, fp), 4);
    }
}
