//! The block backend (dom0), modelled on Linux `drivers/block/xen-blkback/
//! blkback.c`: `do_block_io_op` consumes the ring, `dispatch_rw_block_io`
//! validates each request exactly as Linux does and answers with the same
//! status, the data moves into the frontend's granted frames, and
//! `make_response` pushes responses with notification hold-off.
//!
//! The backing store is a [`ReadAt`] and the vbd is **read-only**
//! (`mode = "r"`): boot-sim never writes a user's image. Writes, flushes,
//! barriers and discards fail in `xen_vbd_translate` ("access denied")
//! with BLKIF_RSP_ERROR, as on a read-only vbd in Linux.
//!
//! Data path, per [`DataPath`]: `Map` (Linux blkback: GNTTABOP_map_grant_ref
//! of every segment, one hypercall per request, the disk "DMA" lands in the
//! mapped frame, then one GNTTABOP_unmap_grant_ref hypercall with a TLB
//! flush per page) or `Copy` (tapdisk3 / QEMU qdisk: read into dom0's own
//! buffer, then one GNTTABOP_copy per segment, no mapping and no TLB flush).
//! `Map` is the default because it is what the dom0 kernel backend does.
//!
//! Optional features, off by default: `feature-persistent` (grants stay
//! mapped, up to Linux's `max_persistent_grants` = 1056; the periodic LRU
//! purge is not modelled) and indirect descriptors
//! (`feature-max-indirect-segments`; without it an INDIRECT request is an
//! unknown operation, BLKIF_RSP_EOPNOTSUPP, as from a backend that predates
//! indirect support).

use std::collections::BTreeMap;
use std::sync::Arc;

use disk_image::ReadAt;

use machine::{CostKey, EventKind, GuestMemory, GuestPhysAddr, MemoryError, PAGE_SIZE, RingStage, units::PAGE_SHIFT};

use super::XenPlatform;
use super::blkif::*;
use super::evtchn::Port;
use super::grant::{
    CopyPtr, DOMID_SELF, DomId, GNTCOPY_DEST_GREF, GNTTABOP_COPY, GNTTABOP_MAP_GRANT_REF, GNTTABOP_UNMAP_GRANT_REF,
    GnttabCopy, GrantMapping, GrantRef, HYPERVISOR_GRANT_TABLE_OP, status,
};

/// Linux blkback `xen_blkif_max_pgrants` default.
pub const MAX_PERSISTENT_GRANTS: usize = 1056;
/// Linux blkback's default `feature-max-indirect-segments` (MAX_INDIRECT_SEGMENTS).
pub const DEFAULT_MAX_INDIRECT_SEGMENTS: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DataPath {
    /// Map the frontend's frames (Linux xen-blkback).
    Map,
    /// Grant-copy into them (tapdisk3, QEMU qdisk).
    Copy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkbackConfig {
    pub data_path: DataPath,
    /// Advertise `feature-persistent`.
    pub persistent: bool,
    /// Advertise `feature-max-indirect-segments` with this value (0: off).
    pub max_indirect_segments: u32,
}

impl Default for BlkbackConfig {
    fn default() -> Self {
        BlkbackConfig { data_path: DataPath::Map, persistent: false, max_indirect_segments: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// ring.h `RING_REQUEST_PROD_OVERFLOW`: Linux logs "Frontend provided
    /// bogus ring requests … Halting ring processing" and stops the ring.
    #[error("frontend provided bogus ring requests (req_prod {prod}, rsp_prod_pvt {rsp}); ring processing halted")]
    BogusRing { prod: u32, rsp: u32 },
    #[error("the ring is halted after a bogus request index")]
    Halted,
    #[error("ring page: {0}")]
    Memory(#[from] MemoryError),
}

/// Counters blkback keeps (Linux `st_rd_req`, `st_rd_sect`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlkbackStats {
    pub requests: u64,
    pub read_requests: u64,
    pub read_sectors: u64,
    pub errors: u64,
    pub not_supported: u64,
    pub persistent_hits: u64,
}

#[derive(Debug, Clone, Copy)]
struct Persistent {
    mapping: GrantMapping,
    active: bool,
}

/// One segment after validation: which grant, where in the frame.
#[derive(Debug, Clone, Copy)]
struct Seg {
    gref: GrantRef,
    first: u8,
    nsec: u8,
}

/// A segment's frame as blkback holds it for the I/O.
#[derive(Debug, Clone, Copy)]
enum Held {
    Mapped(GrantMapping),
    Persistent(GrantRef, GrantMapping),
}

pub struct Blkback {
    dom: DomId,
    front: DomId,
    image: Arc<dyn ReadAt>,
    sectors: u64,
    ring: BackRing,
    port: Port,
    config: BlkbackConfig,
    /// Both ends agreed on persistent grants.
    persistent: bool,
    /// Frontend-negotiated indirect limit (the advertised value).
    indirect: u32,
    pgrants: BTreeMap<GrantRef, Persistent>,
    halted: bool,
    stats: BlkbackStats,
    /// Copy mode: dom0's data buffer, one page per segment.
    bounce: Vec<u8>,
    segs: Vec<Seg>,
    held: Vec<Held>,
}

impl std::fmt::Debug for Blkback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blkback")
            .field("image", &self.image.describe())
            .field("sectors", &self.sectors)
            .field("ring", &self.ring)
            .field("port", &self.port)
            .field("config", &self.config)
            .field("halted", &self.halted)
            .finish()
    }
}

/// What the frontend negotiated, read from its xenstore nodes.
#[derive(Debug, Clone, Copy)]
pub struct Negotiated {
    pub ring_page: GuestPhysAddr,
    pub port: Port,
    pub persistent: bool,
}

impl Blkback {
    /// Connects to a mapped ring page and a bound port (the xenstore
    /// handshake in `PvIo` does the mapping and binding).
    pub fn new(
        dom: DomId,
        front: DomId,
        image: Arc<dyn ReadAt>,
        config: BlkbackConfig,
        negotiated: Negotiated,
    ) -> Blkback {
        let sectors = image.size() / SECTOR;
        Blkback {
            dom,
            front,
            image,
            sectors,
            ring: BackRing::attach(negotiated.ring_page),
            port: negotiated.port,
            persistent: config.persistent && negotiated.persistent,
            indirect: config.max_indirect_segments,
            config,
            pgrants: BTreeMap::new(),
            halted: false,
            stats: BlkbackStats::default(),
            bounce: Vec::new(),
            segs: Vec::with_capacity(BLKIF_MAX_SEGMENTS_PER_REQUEST),
            held: Vec::with_capacity(BLKIF_MAX_SEGMENTS_PER_REQUEST),
        }
    }

    /// `vbd_sz`: whole 512-byte sectors of the image (a trailing partial
    /// sector is not addressable, as with a loop device).
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn port(&self) -> Port {
        self.port
    }

    pub fn stats(&self) -> BlkbackStats {
        self.stats
    }

    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// What the image says it is (`ReadAt::describe`).
    pub fn image_name(&self) -> String {
        self.image.describe()
    }

    pub fn persistent_grants(&self) -> usize {
        self.pgrants.len()
    }

    /// The event-channel interrupt (`xen_blkif_be_int` → `xen_blkif_schedule`):
    /// if our port is pending, take the upcall and run `do_block_io_op`.
    /// Returns the requests consumed.
    pub fn handle_event(&mut self, x: &mut XenPlatform) -> Result<u32, BackendError> {
        if !x.evtchn.take_pending(&mut x.sim, self.dom, self.port) {
            return Ok(0);
        }
        self.do_block_io_op(x)
    }

    /// `do_block_io_op`: consume until `RING_FINAL_CHECK_FOR_REQUESTS`
    /// finds nothing. Bounded: each pass consumes at most RING_SIZE
    /// requests (`RING_REQUEST_CONS_OVERFLOW`), and a pass only repeats
    /// when the final check found new ones, which needs the frontend to
    /// run; at most 2 passes happen here.
    pub fn do_block_io_op(&mut self, x: &mut XenPlatform) -> Result<u32, BackendError> {
        if self.halted {
            return Err(BackendError::Halted);
        }
        let mut consumed = 0;
        for _ in 0..2 {
            let mut rc = self.ring.req_cons;
            let rp = self.ring.sring.req_prod(&x.memory)?;
            // rmb(): see queued requests up to `rp`.
            if self.ring.request_prod_overflow(rp) {
                self.halted = true;
                return Err(BackendError::BogusRing { prod: rp, rsp: self.ring.rsp_prod_pvt });
            }
            while rc != rp {
                if self.ring.request_cons_overflow(rc) {
                    break;
                }
                let req = self.ring.copy_request(&x.memory, rc)?;
                rc = rc.wrapping_add(1);
                self.ring.req_cons = rc; // "before make_response()"
                self.dispatch(x, &req)?;
                consumed += 1;
            }
            if !self.ring.final_check_for_requests(&mut x.memory)? {
                break;
            }
        }
        Ok(consumed)
    }

    /// `req` is the private copy of the slot; `operation`, `id` and
    /// `sector_number` sit at the same offsets in every request layout.
    fn dispatch(&mut self, x: &mut XenPlatform, req: &BlkifRequest) -> Result<(), BackendError> {
        let (op, id, sector) = (req.operation, req.id, req.sector_number);
        // blkif_request_indirect's nr_segments is the u16 at +2, where
        // blkif_request has `handle`.
        let segments = if op == BLKIF_OP_INDIRECT { req.handle } else { u16::from(req.nr_segments) };
        x.sim.record(0, EventKind::RingRequest { stage: RingStage::Consumed, id, op, sector, segments });
        self.stats.requests += 1;
        let (rsp_op, status) = match op {
            BLKIF_OP_READ | BLKIF_OP_WRITE | BLKIF_OP_WRITE_BARRIER | BLKIF_OP_FLUSH_DISKCACHE => {
                (op, self.dispatch_rw(x, req))
            }
            BLKIF_OP_INDIRECT if self.indirect > 0 => {
                let req = req.as_indirect();
                (req.indirect_op, self.dispatch_indirect(x, &req))
            }
            // dispatch_discard_io: xen_vbd_translate(REQ_OP_WRITE) on a
            // read-only vbd fails: "access denied: DISCARD".
            BLKIF_OP_DISCARD => (op, BLKIF_RSP_ERROR),
            // dispatch_other_io.
            _ => (op, BLKIF_RSP_EOPNOTSUPP),
        };
        match status {
            BLKIF_RSP_ERROR => self.stats.errors += 1,
            BLKIF_RSP_EOPNOTSUPP => self.stats.not_supported += 1,
            _ => {}
        }
        self.make_response(x, id, rsp_op, status)
    }

    /// `dispatch_rw_block_io` for a direct request.
    fn dispatch_rw(&mut self, x: &mut XenPlatform, req: &BlkifRequest) -> i16 {
        let nseg = usize::from(req.nr_segments);
        let flush = matches!(req.operation, BLKIF_OP_FLUSH_DISKCACHE | BLKIF_OP_WRITE_BARRIER);
        // "Bad number of segments in request".
        if (nseg == 0 && !flush) || nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST {
            return BLKIF_RSP_ERROR;
        }
        self.segs.clear();
        let mut nr_sects = 0u64;
        for s in &req.seg[..nseg] {
            if s.last_sect >= SECTORS_PER_PAGE || s.last_sect < s.first_sect {
                return BLKIF_RSP_ERROR;
            }
            let nsec = s.last_sect - s.first_sect + 1;
            nr_sects += u64::from(nsec);
            self.segs.push(Seg { gref: s.gref, first: s.first_sect, nsec });
        }
        if !self.translate(req.operation, req.sector_number, nr_sects) {
            return BLKIF_RSP_ERROR;
        }
        // Only reads get here: translate refuses every write on a read-only vbd.
        self.stats.read_requests += 1;
        self.read_into_segments(x, req.sector_number, nr_sects)
    }

    /// `dispatch_rw_block_io` for BLKIF_OP_INDIRECT, with
    /// `xen_blkbk_parse_indirect`: map the indirect pages read-only, read
    /// the segments out of them, unmap.
    fn dispatch_indirect(&mut self, x: &mut XenPlatform, req: &BlkifRequestIndirect) -> i16 {
        if req.indirect_op != BLKIF_OP_READ && req.indirect_op != BLKIF_OP_WRITE {
            return BLKIF_RSP_ERROR; // "Invalid indirect operation"
        }
        let nseg = usize::from(req.nr_segments);
        if nseg == 0 || nseg > self.indirect as usize {
            return BLKIF_RSP_ERROR;
        }
        let pages = nseg.div_ceil(SEGS_PER_INDIRECT_FRAME);
        let mut held = Vec::with_capacity(pages);
        let mut status = BLKIF_RSP_OKAY;
        x.sim.hypercall(HYPERVISOR_GRANT_TABLE_OP, "grant_table_op", GNTTABOP_MAP_GRANT_REF, pages as u32, 0);
        for &gref in &req.indirect_grefs[..pages] {
            match self.map_one(x, gref, true) {
                Ok(h) => held.push(h),
                Err(_) => status = BLKIF_RSP_ERROR,
            }
        }
        let mut nr_sects = 0u64;
        self.segs.clear();
        if status == BLKIF_RSP_OKAY {
            for n in 0..nseg {
                let frame = held_frame(held[n / SEGS_PER_INDIRECT_FRAME]);
                let addr = GuestPhysAddr((frame << PAGE_SHIFT) + (n % SEGS_PER_INDIRECT_FRAME) as u64 * 8);
                let Ok(b) = x.memory.slice(addr, 8) else {
                    status = BLKIF_RSP_ERROR;
                    break;
                };
                let s: BlkifRequestSegment = bytemuck::pod_read_unaligned(b);
                if s.last_sect >= SECTORS_PER_PAGE || s.last_sect < s.first_sect {
                    status = BLKIF_RSP_ERROR;
                    break;
                }
                let nsec = s.last_sect - s.first_sect + 1;
                nr_sects += u64::from(nsec);
                self.segs.push(Seg { gref: s.gref, first: s.first_sect, nsec });
            }
        }
        self.release(x, &held);
        if status != BLKIF_RSP_OKAY || !self.translate(req.indirect_op, req.sector_number, nr_sects) {
            return BLKIF_RSP_ERROR;
        }
        self.stats.read_requests += 1;
        self.read_into_segments(x, req.sector_number, nr_sects)
    }

    /// `xen_vbd_translate`: writes on a read-only vbd, a wrapping range
    /// and a range past the end are "access denied".
    fn translate(&self, op: u8, sector: u64, nr_sects: u64) -> bool {
        if op != BLKIF_OP_READ {
            return false;
        }
        if nr_sects > 0 {
            match sector.checked_add(nr_sects) {
                Some(end) if end <= self.sectors => {}
                _ => return false,
            }
        }
        true
    }

    /// Maps one grant for this request (`xen_blkbk_map`): reuses a
    /// persistent mapping when there is one; with persistent grants every
    /// map is writable ("if (!use_persistent_gnts && ro) flags |=
    /// GNTMAP_readonly").
    #[inline]
    fn map_one(&mut self, x: &mut XenPlatform, gref: GrantRef, ro: bool) -> Result<Held, i16> {
        if self.persistent {
            if let Some(p) = self.pgrants.get_mut(&gref).filter(|p| !p.active) {
                p.active = true;
                self.stats.persistent_hits += 1;
                return Ok(Held::Persistent(gref, p.mapping));
            }
            let m = x.grants.map(&mut x.sim, &x.memory, self.dom, self.front, gref, false)?;
            if self.pgrants.len() < MAX_PERSISTENT_GRANTS && !self.pgrants.contains_key(&gref) {
                self.pgrants.insert(gref, Persistent { mapping: m, active: true });
                return Ok(Held::Persistent(gref, m));
            }
            return Ok(Held::Mapped(m));
        }
        x.grants.map(&mut x.sim, &x.memory, self.dom, self.front, gref, ro).map(Held::Mapped)
    }

    /// Unmaps what a request held (`xen_blkbk_unmap`): one hypercall for
    /// the non-persistent ones; persistent ones are just released.
    #[inline]
    fn release(&mut self, x: &mut XenPlatform, held: &[Held]) {
        let n = held.iter().filter(|h| matches!(h, Held::Mapped(_))).count();
        if n > 0 {
            x.sim.hypercall(HYPERVISOR_GRANT_TABLE_OP, "grant_table_op", GNTTABOP_UNMAP_GRANT_REF, n as u32, 0);
        }
        for h in held {
            match *h {
                Held::Mapped(m) => {
                    // Cannot fail: the handle came from map().
                    let _ = x.grants.unmap(&mut x.sim, m.handle);
                }
                Held::Persistent(gref, _) => {
                    if let Some(p) = self.pgrants.get_mut(&gref) {
                        p.active = false;
                    }
                }
            }
        }
    }

    /// Moves `nr_sects` sectors from `sector` into the validated segments.
    fn read_into_segments(&mut self, x: &mut XenPlatform, sector: u64, nr_sects: u64) -> i16 {
        let bytes = nr_sects * SECTOR;
        let media_ns = x.sim.cost.ns(CostKey::DiskRequest) + x.sim.cost.disk_transfer_ns(bytes);
        match self.config.data_path {
            DataPath::Map => {
                let segs = std::mem::take(&mut self.segs);
                let mut held = std::mem::take(&mut self.held);
                held.clear();
                let mut status = BLKIF_RSP_OKAY;
                let fresh = if self.persistent {
                    segs.iter().filter(|s| self.pgrants.get(&s.gref).is_none_or(|p| p.active)).count()
                } else {
                    segs.len()
                };
                if fresh > 0 {
                    x.sim.hypercall(
                        HYPERVISOR_GRANT_TABLE_OP,
                        "grant_table_op",
                        GNTTABOP_MAP_GRANT_REF,
                        fresh as u32,
                        0,
                    );
                }
                for s in &segs {
                    // READ: the backend writes the frame, so it maps writable.
                    match self.map_one(x, s.gref, false) {
                        Ok(h) => held.push(h),
                        Err(_) => status = BLKIF_RSP_ERROR, // "invalid buffer -- could not remap it"
                    }
                }
                if status == BLKIF_RSP_OKAY {
                    x.sim.record(media_ns, EventKind::DiskRead { sector, bytes });
                    let places = segs.iter().zip(&held).map(|(s, h)| {
                        let len = u64::from(s.nsec) * SECTOR;
                        (GuestPhysAddr((held_frame(*h) << PAGE_SHIFT) + u64::from(s.first) * SECTOR), len)
                    });
                    if !read_runs(&*self.image, &mut x.memory, sector * SECTOR, places) {
                        status = BLKIF_RSP_ERROR; // the bio failed
                    }
                }
                self.release(x, &held);
                self.segs = segs;
                self.held = held;
                if status == BLKIF_RSP_OKAY {
                    self.stats.read_sectors += nr_sects;
                }
                status
            }
            DataPath::Copy => {
                let need = self.segs.len() * PAGE_SIZE as usize;
                if self.bounce.len() < need {
                    self.bounce.resize(need, 0);
                }
                x.sim.record(media_ns, EventKind::DiskRead { sector, bytes });
                let mut off = sector * SECTOR;
                let mut status = BLKIF_RSP_OKAY;
                for (i, s) in self.segs.iter().enumerate() {
                    let len = usize::from(s.nsec) * SECTOR as usize;
                    let at = i * PAGE_SIZE as usize + usize::from(s.first) * SECTOR as usize;
                    if self.image.read_exact_at(off, &mut self.bounce[at..at + len]).is_err() {
                        return BLKIF_RSP_ERROR;
                    }
                    off += len as u64;
                }
                let n = self.segs.len() as u32;
                x.sim.hypercall(HYPERVISOR_GRANT_TABLE_OP, "grant_table_op", GNTTABOP_COPY, n, 0);
                for (i, s) in self.segs.iter().enumerate() {
                    let offset = u16::from(s.first) * SECTOR as u16;
                    let op = GnttabCopy {
                        source: CopyPtr { ref_or_gmfn: i as u64, domid: DOMID_SELF, offset },
                        dest: CopyPtr { ref_or_gmfn: u64::from(s.gref), domid: self.front, offset },
                        len: u16::from(s.nsec) * SECTOR as u16,
                        flags: GNTCOPY_DEST_GREF,
                    };
                    if x.grants.copy(&mut x.sim, &mut x.memory, self.dom, &op, &mut self.bounce) != status::OKAY {
                        status = BLKIF_RSP_ERROR;
                    }
                }
                if status == BLKIF_RSP_OKAY {
                    self.stats.read_sectors += nr_sects;
                }
                status
            }
        }
    }

    /// `make_response`: write the response, push with
    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`, notify if required.
    fn make_response(&mut self, x: &mut XenPlatform, id: u64, op: u8, status: i16) -> Result<(), BackendError> {
        let rsp = BlkifResponse { id, operation: op, status, ..Default::default() };
        self.ring.put_response(&mut x.memory, &rsp)?;
        x.sim.record(0, EventKind::RingResponse { id, op, status });
        if self.ring.push_responses_and_check_notify(&mut x.memory)? {
            // notify_remote_via_irq(); the port is bound, so send cannot fail.
            let _ = x.evtchn.send(&mut x.sim, self.dom, self.port);
        }
        Ok(())
    }
}

/// Reads the image from byte `off` into the segments' guest ranges
/// `(address, length)`, in order, as one bio: segments that follow each
/// other in guest memory (a frontend's data pages usually do) are read
/// with one `pread`, so a 44 KiB request costs the host one system call
/// instead of eleven. The simulated device sees the same request either
/// way. A run that does not lie wholly inside the image is read segment by
/// segment, so that the segments before the failing one hold their data
/// (and count as touched) exactly as a per-segment bio leaves them.
/// Returns whether every segment was read.
fn read_runs(
    image: &dyn ReadAt,
    memory: &mut GuestMemory,
    mut off: u64,
    places: impl Iterator<Item = (GuestPhysAddr, u64)>,
) -> bool {
    let read_one = |memory: &mut GuestMemory, addr: GuestPhysAddr, len: u64, off: u64| match memory.slice_mut(addr, len)
    {
        Ok(dst) => image.read_exact_at(off, dst).is_ok(),
        Err(_) => false,
    };
    let read_run = |memory: &mut GuestMemory, run: &[(GuestPhysAddr, u64)], off: u64| {
        let len: u64 = run.iter().map(|r| r.1).sum();
        if off.checked_add(len).is_some_and(|end| end <= image.size()) {
            return read_one(memory, run[0].0, len, off);
        }
        let mut at = off;
        run.iter().all(|&(a, l)| {
            let ok = read_one(memory, a, l, at);
            at += l;
            ok
        })
    };
    let mut run: Vec<(GuestPhysAddr, u64)> = Vec::with_capacity(BLKIF_MAX_SEGMENTS_PER_REQUEST);
    for (addr, len) in places {
        if let Some(&(a, l)) = run.last()
            && a.0.checked_add(l) != Some(addr.0)
        {
            if !read_run(memory, &run, off) {
                return false;
            }
            off += run.iter().map(|r| r.1).sum::<u64>();
            run.clear();
        }
        run.push((addr, len));
    }
    run.is_empty() || read_run(memory, &run, off)
}

fn held_frame(h: Held) -> u64 {
    match h {
        Held::Mapped(m) | Held::Persistent(_, m) => m.frame.0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// An image of `len` bytes (byte i = i as u8) that counts its reads.
    struct Counted {
        len: u64,
        reads: AtomicUsize,
    }

    impl ReadAt for Counted {
        fn size(&self) -> u64 {
            self.len
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> disk_image::Result<()> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            if offset + buf.len() as u64 > self.len {
                return Err(disk_image::DiskError::Unsupported { what: format!("read past {}", self.len) });
            }
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (offset + i as u64) as u8;
            }
            Ok(())
        }
        fn describe(&self) -> String {
            "counted".into()
        }
    }

    fn page(n: u64) -> GuestPhysAddr {
        GuestPhysAddr(n * PAGE_SIZE)
    }

    #[test]
    fn contiguous_segments_are_one_read_and_land_in_order() {
        let img = Counted { len: 1 << 20, reads: AtomicUsize::new(0) };
        let mut mem = GuestMemory::new(64 * PAGE_SIZE).unwrap();
        // Pages 3, 4, 5 follow each other; then page 9; then a half page at 10.
        let places = [(page(3), PAGE_SIZE), (page(4), PAGE_SIZE), (page(5), PAGE_SIZE), (page(9), PAGE_SIZE)];
        let places = places.into_iter().chain([(page(10), 512)]);
        assert!(read_runs(&img, &mut mem, 1000, places));
        assert_eq!(img.reads.load(Ordering::Relaxed), 2, "two runs: pages 3-5, then pages 9-10");
        let want = |off: u64, len: u64| (off..off + len).map(|i| i as u8).collect::<Vec<_>>();
        assert_eq!(mem.slice(page(3), 3 * PAGE_SIZE).unwrap(), want(1000, 3 * PAGE_SIZE));
        assert_eq!(mem.slice(page(9), PAGE_SIZE).unwrap(), want(1000 + 3 * PAGE_SIZE, PAGE_SIZE));
        assert_eq!(mem.slice(page(10), 512).unwrap(), want(1000 + 4 * PAGE_SIZE, 512));
        assert_eq!(mem.touched_pages(), 5);
    }

    #[test]
    fn a_run_past_the_image_end_fails_after_the_segments_before_it() {
        // Two segments fit, the third runs past the end: as per-segment
        // reads, the first two hold their data and the third is refused.
        let img = Counted { len: 2 * PAGE_SIZE + 100, reads: AtomicUsize::new(0) };
        let mut mem = GuestMemory::new(16 * PAGE_SIZE).unwrap();
        let places = [(page(1), PAGE_SIZE), (page(2), PAGE_SIZE), (page(3), PAGE_SIZE)];
        assert!(!read_runs(&img, &mut mem, 0, places.into_iter()));
        assert_eq!(img.reads.load(Ordering::Relaxed), 3);
        assert_eq!(mem.slice(page(2), 4).unwrap(), [0, 1, 2, 3]);
        assert_eq!(mem.read_u32(page(3)).unwrap(), 0, "the failed segment got no data");
    }
}
