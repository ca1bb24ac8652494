//! The block frontend (the guest's driver), after Mini-OS `blkfront.c`
//! (what PV-GRUB used) and Linux `drivers/block/xen-blkfront.c`.
//!
//! Its pages are guest memory at a caller-given scratch region: the shared
//! ring page, then one slot of data pages per outstanding request (and the
//! indirect-descriptor pages when indirect is on). Per request it grants
//! each data page to the backend (writable: the backend writes the data,
//! Mini-OS's `gnttab_grant_access(dom, mfn, write=0)`), writes the request,
//! pushes with `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY` and notifies only if
//! asked; on the response it revokes the grants (`gnttab_end_access`). With
//! `feature-persistent` the pool is granted once and data is copied out of
//! it (a charged memcpy, as Mini-OS's `_fmemcpy256` and Linux do).
//!
//! Mini-OS's blkfront has no read-ahead or sector cache, and neither does
//! this one: every read goes to the ring.

use machine::{EventKind, GuestPhysAddr, PAGE_SIZE, Pfn, RingStage};

use super::blkif::*;
use super::evtchn::Port;
use super::grant::{DomId, GrantRef};
use super::{PvError, XenPlatform};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkfrontConfig {
    /// Requests in flight at once, 1..=32. Mini-OS's `blkfront_io` (what
    /// PV-GRUB calls) waits for each request: 1. Linux keeps the ring full: 32.
    pub max_outstanding: u32,
    /// Ask for `feature-persistent` (used only if the backend offers it).
    pub persistent: bool,
    /// Segments per indirect request (0: no indirect descriptors); capped
    /// by the backend's `feature-max-indirect-segments`. Linux blkfront's
    /// default `max_indirect_segments` is 32.
    pub indirect_segments: u32,
}

impl Default for BlkfrontConfig {
    fn default() -> Self {
        BlkfrontConfig { max_outstanding: RING_SIZE, persistent: false, indirect_segments: 0 }
    }
}

impl BlkfrontConfig {
    /// Mini-OS / PV-GRUB: synchronous, one request at a time, no features.
    pub fn mini_os() -> BlkfrontConfig {
        BlkfrontConfig { max_outstanding: 1, persistent: false, indirect_segments: 0 }
    }

    /// Data pages per slot: 11, or the indirect segment count.
    pub fn segments_per_request(&self) -> u32 {
        if self.indirect_segments > 0 { self.indirect_segments } else { BLKIF_MAX_SEGMENTS_PER_REQUEST as u32 }
    }

    fn indirect_pages(&self) -> u32 {
        self.indirect_segments.div_ceil(SEGS_PER_INDIRECT_FRAME as u32)
    }

    /// Pages of scratch guest memory the frontend needs: the ring page and
    /// `max_outstanding` slots of data (+ indirect) pages.
    pub fn scratch_pages(&self) -> u64 {
        1 + u64::from(self.max_outstanding) * u64::from(self.segments_per_request() + self.indirect_pages())
    }
}

/// A mask with the low `n` bits (slots) set, `n` ≤ 32.
fn all_slots(n: u32) -> u32 {
    u32::MAX.checked_shr(32 - n.min(32)).unwrap_or(0)
}

#[derive(Debug, Clone, Copy)]
struct Inflight {
    id: u64,
    op: u8,
    sector: u64,
    sectors: u32,
    /// Where the data goes in the caller's buffer.
    dst_off: usize,
}

/// The guest side of one vbd.
#[derive(Debug)]
pub struct Blkfront {
    pub(crate) dom: DomId,
    pub(crate) backend: DomId,
    pub(crate) handle: u16,
    pub(crate) ring: FrontRing,
    pub(crate) ring_ref: GrantRef,
    pub(crate) port: Port,
    config: BlkfrontConfig,
    /// Negotiated: backend offered, frontend asked.
    persistent: bool,
    indirect_segments: u32,
    scratch: GuestPhysAddr,
    /// Persistent mode: the pool's grants, per slot then page.
    pool_grefs: Vec<GrantRef>,
    slots: Vec<Option<Inflight>>,
    /// Bit `i` set: `slots[i]` is free (`max_outstanding` ≤ 32 bits), so
    /// finding a free slot, the in-flight count and "can queue" are O(1).
    free_slots: u32,
    /// Per slot, the grants to revoke when its request completes (empty
    /// with persistent grants). Kept across requests so that queueing
    /// does not allocate.
    slot_grefs: Vec<Vec<GrantRef>>,
    next_id: u64,
    pub(crate) sectors: u64,
    pub(crate) info: u32,
}

impl Blkfront {
    /// State after `init_blkfront`'s ring allocation; the handshake in
    /// `PvIo` fills the rest. `scratch` must be page-aligned.
    pub(crate) fn new(
        x: &mut XenPlatform,
        dom: DomId,
        backend: DomId,
        handle: u16,
        scratch: GuestPhysAddr,
        config: BlkfrontConfig,
    ) -> Result<Blkfront, PvError> {
        if !(1..=RING_SIZE).contains(&config.max_outstanding) {
            return Err(PvError::Config(format!("max_outstanding {} is not in 1..=32", config.max_outstanding)));
        }
        if config.indirect_segments > 4096 {
            return Err(PvError::Config("indirect_segments above 4096 (8 indirect pages)".into()));
        }
        if !scratch.0.is_multiple_of(PAGE_SIZE) {
            return Err(PvError::Config(format!("scratch region {scratch} is not page-aligned")));
        }
        let bytes = config.scratch_pages() * PAGE_SIZE;
        if scratch.0.checked_add(bytes).is_none_or(|end| end > x.memory.size()) {
            return Err(PvError::Config(format!(
                "scratch region {scratch}+{bytes:#x} does not fit in guest memory ({:#x} bytes)",
                x.memory.size()
            )));
        }
        let ring = FrontRing::init(&mut x.memory, scratch)?;
        let ring_ref = x.grants.grant_access(&mut x.sim, backend, scratch.pfn(), false)?;
        Ok(Blkfront {
            dom,
            backend,
            handle,
            ring,
            ring_ref,
            port: 0,
            config,
            persistent: false,
            indirect_segments: 0,
            scratch,
            pool_grefs: Vec::new(),
            slots: vec![None; config.max_outstanding as usize],
            free_slots: all_slots(config.max_outstanding),
            slot_grefs: vec![Vec::new(); config.max_outstanding as usize],
            next_id: 0,
            sectors: 0,
            info: 0,
        })
    }

    pub fn config(&self) -> BlkfrontConfig {
        self.config
    }

    /// What was negotiated: (persistent grants, indirect segments).
    pub fn features(&self) -> (bool, u32) {
        (self.persistent, self.indirect_segments)
    }

    pub fn port(&self) -> Port {
        self.port
    }

    /// The shared ring page in guest memory.
    pub fn ring_page(&self) -> GuestPhysAddr {
        self.ring.sring.base
    }

    pub fn ring_ref(&self) -> GrantRef {
        self.ring_ref
    }

    /// Sectors the backend published (512-byte units).
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.slots.len() - self.free_slots.count_ones() as usize
    }

    fn slot_pages(&self) -> u64 {
        u64::from(self.config.segments_per_request() + self.config.indirect_pages())
    }

    fn data_page(&self, slot: usize, page: usize) -> Pfn {
        Pfn(self.scratch.pfn().0 + 1 + slot as u64 * self.slot_pages() + page as u64)
    }

    fn indirect_page(&self, slot: usize, page: usize) -> Pfn {
        self.data_page(slot, self.config.segments_per_request() as usize + page)
    }

    /// Applies the negotiated features; grants the persistent pool once.
    pub(crate) fn negotiate(&mut self, x: &mut XenPlatform, persistent: bool, indirect: u32) -> Result<(), PvError> {
        self.persistent = persistent;
        self.indirect_segments = indirect.min(self.config.indirect_segments);
        if !persistent {
            return Ok(());
        }
        for slot in 0..self.slots.len() {
            for p in 0..self.slot_pages() as usize {
                let pfn = self.data_page(slot, p);
                self.pool_grefs.push(x.grants.grant_access(&mut x.sim, self.backend, pfn, false)?);
            }
        }
        Ok(())
    }

    /// The in-flight slot holding request `id`: a look at the busy slots
    /// only (one with Mini-OS's queue depth of 1).
    fn slot_of(&self, id: u64) -> Option<usize> {
        let mut busy = !self.free_slots & all_slots(self.slots.len() as u32);
        while busy != 0 {
            let i = busy.trailing_zeros() as usize;
            if self.slots[i].is_some_and(|s| s.id == id) {
                return Some(i);
            }
            busy &= busy - 1;
        }
        None
    }

    /// Sectors one request can carry.
    pub fn max_request_sectors(&self) -> u32 {
        let segs =
            if self.indirect_segments > 0 { self.indirect_segments } else { BLKIF_MAX_SEGMENTS_PER_REQUEST as u32 };
        segs * u32::from(SECTORS_PER_PAGE)
    }

    /// `RING_FULL` or no free slot.
    pub fn can_queue(&self) -> bool {
        !self.ring.full() && self.free_slots != 0
    }

    /// `blkfront_aio`: one read of `sectors` (≤ [`Self::max_request_sectors`])
    /// from `sector`, landing at `dst_off` of the caller's buffer. Data
    /// pages start page-aligned, so every segment but the last is a full
    /// page (first_sect 0, last_sect 7). Pushes and notifies if required.
    pub(crate) fn queue_read(
        &mut self,
        x: &mut XenPlatform,
        sector: u64,
        sectors: u32,
        dst_off: usize,
    ) -> Result<(), PvError> {
        debug_assert!(sectors > 0 && sectors <= self.max_request_sectors());
        // The lowest free slot, as a scan of `slots` would find.
        if self.free_slots == 0 {
            return Err(PvError::Stalled("no free request slot"));
        }
        let slot = self.free_slots.trailing_zeros() as usize;
        let spp = u32::from(SECTORS_PER_PAGE);
        let nseg = sectors.div_ceil(spp) as usize;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut grefs = std::mem::take(&mut self.slot_grefs[slot]);
        grefs.clear();
        let seg_for = |i: usize, gref: GrantRef| {
            let last = if i + 1 == nseg { ((sectors - 1) % spp) as u8 } else { SECTORS_PER_PAGE - 1 };
            BlkifRequestSegment { gref, first_sect: 0, last_sect: last, _pad: [0; 2] }
        };
        let pool_base = slot * self.slot_pages() as usize;
        let mut data_gref = |this: &mut Self, x: &mut XenPlatform, i: usize| -> Result<GrantRef, PvError> {
            if this.persistent {
                Ok(this.pool_grefs[pool_base + i])
            } else {
                let g = x.grants.grant_access(&mut x.sim, this.backend, this.data_page(slot, i), false)?;
                grefs.push(g);
                Ok(g)
            }
        };
        if self.indirect_segments > 0 && nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST {
            let mut req = BlkifRequestIndirect {
                operation: BLKIF_OP_INDIRECT,
                indirect_op: BLKIF_OP_READ,
                nr_segments: nseg as u16,
                id,
                sector_number: sector,
                handle: self.handle,
                ..Default::default()
            };
            for i in 0..nseg {
                let s = seg_for(i, data_gref(self, x, i)?);
                let page = self.indirect_page(slot, i / SEGS_PER_INDIRECT_FRAME);
                let at = GuestPhysAddr(page.addr().0 + (i % SEGS_PER_INDIRECT_FRAME) as u64 * 8);
                x.memory.write(at, bytemuck::bytes_of(&s))?;
            }
            let ipages = nseg.div_ceil(SEGS_PER_INDIRECT_FRAME);
            for p in 0..ipages {
                req.indirect_grefs[p] = if self.persistent {
                    self.pool_grefs[pool_base + self.config.segments_per_request() as usize + p]
                } else {
                    // Read-only: the backend only reads the descriptors.
                    let g = x.grants.grant_access(&mut x.sim, self.backend, self.indirect_page(slot, p), true)?;
                    grefs.push(g);
                    g
                };
            }
            let mut slot_bytes = [0u8; SLOT_SIZE as usize];
            slot_bytes[..64].copy_from_slice(bytemuck::bytes_of(&req));
            let as_req: BlkifRequest = bytemuck::pod_read_unaligned(&slot_bytes);
            self.ring.put_request(&mut x.memory, &as_req)?;
        } else {
            let mut req = BlkifRequest {
                operation: BLKIF_OP_READ,
                nr_segments: nseg as u8,
                handle: self.handle,
                id,
                sector_number: sector,
                ..Default::default()
            };
            for i in 0..nseg {
                req.seg[i] = seg_for(i, data_gref(self, x, i)?);
            }
            self.ring.put_request(&mut x.memory, &req)?;
        }
        let op = if self.indirect_segments > 0 && nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST {
            BLKIF_OP_INDIRECT
        } else {
            BLKIF_OP_READ
        };
        x.sim.record(0, EventKind::RingRequest { stage: RingStage::Pushed, id, op, sector, segments: nseg as u16 });
        self.slots[slot] = Some(Inflight { id, op, sector, sectors, dst_off });
        self.free_slots &= !(1 << slot);
        self.slot_grefs[slot] = grefs;
        // wmb(); RING_PUSH_REQUESTS_AND_CHECK_NOTIFY; if (notify) notify_remote_via_evtchn.
        if self.ring.push_requests_and_check_notify(&mut x.memory)? {
            x.evtchn.send(&mut x.sim, self.dom, self.port)?;
        }
        Ok(())
    }

    /// The frontend's interrupt + `blkfront_aio_poll`: if our port is
    /// pending, take the upcall, consume every response (copying data into
    /// `dst`), then `RING_FINAL_CHECK_FOR_RESPONSES`. Returns responses
    /// consumed. A failed response is an error naming its sector.
    pub(crate) fn handle_event(&mut self, x: &mut XenPlatform, dst: &mut [u8]) -> Result<u32, PvError> {
        if !x.evtchn.take_pending(&mut x.sim, self.dom, self.port) {
            return Ok(0);
        }
        let mut done = 0;
        let mut failure = None;
        // Bounded: each pass consumes at most RING_SIZE (the overflow check),
        // and responses only appear when the backend runs.
        for _ in 0..2 {
            let Some(rp) = self.ring.rsp_prod(&x.memory)? else {
                return Err(PvError::BadResponse("rsp_prod runs more than 32 ahead of rsp_cons".into()));
            };
            while self.ring.rsp_cons != rp {
                let rsp = self.ring.response(&x.memory, self.ring.rsp_cons)?;
                self.ring.rsp_cons = self.ring.rsp_cons.wrapping_add(1);
                let slot = self
                    .slot_of(rsp.id)
                    .ok_or_else(|| PvError::BadResponse(format!("response id {} matches no request", rsp.id)))?;
                let req = self.slots[slot].take().expect("slot_of found it");
                self.free_slots |= 1 << slot;
                for &g in &self.slot_grefs[slot] {
                    x.grants.end_access(&mut x.sim, g)?;
                }
                self.slot_grefs[slot].clear();
                done += 1;
                if rsp.status != BLKIF_RSP_OKAY {
                    failure.get_or_insert(PvError::Io { sector: req.sector, op: req.op, status: rsp.status });
                    continue;
                }
                let len = req.sectors as usize * SECTOR as usize;
                let out = dst
                    .get_mut(req.dst_off..req.dst_off + len)
                    .ok_or_else(|| PvError::BadResponse("destination buffer too small".into()))?;
                x.memory.read(self.data_page(slot, 0).addr(), out)?;
                if self.persistent {
                    x.sim.memcpy(len as u64);
                }
            }
            if !self.ring.final_check_for_responses(&mut x.memory)? {
                break;
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}
