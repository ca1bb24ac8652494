//! Xen PV devices, modelled on `xen/include/public`: grant table v1,
//! event channels, xenstore, the blkif ring, and a block frontend/backend
//! pair. [`PvIo`] bundles them for one vbd; [`BlkfrontDisk`] is a
//! [`ReadAt`] whose every read goes through the ring, so the disk-image
//! code (partitions, filesystems, menus) runs unchanged over blkfront and
//! its I/O is counted.
//!
//! Devices are state machines: the only I/O is the backend's reads of the
//! image. Every step is charged to the [`Sim`] (clock + cost + trace).

pub mod blkback;
pub mod blkfront;
pub mod blkif;
pub mod evtchn;
#[doc(hidden)]
pub mod fuzzing;
pub mod grant;
pub mod xenstore;

use std::sync::{Arc, Mutex, MutexGuard};

use disk_image::{ByteOffset, DiskError, ReadAt};

use machine::{GuestMemory, GuestPhysAddr, MemoryError, Sim};

use blkback::{BackendError, Blkback, BlkbackConfig, Negotiated};
use blkfront::{Blkfront, BlkfrontConfig};
use blkif::{SECTOR, VDISK_READONLY};
use evtchn::{EventChannels, EvtchnError};
use grant::{DEFAULT_GRANT_FRAMES, DomId, GrantError, GrantTable};
use xenstore::{XenStore, XenbusState};

/// Everything the devices share: guest memory, the simulation, and Xen's
/// tables. Devices take `&mut XenPlatform` for each step.
#[derive(Debug)]
pub struct XenPlatform {
    pub memory: GuestMemory,
    pub sim: Sim,
    /// The frontend domain's grant table.
    pub grants: GrantTable,
    pub evtchn: EventChannels,
    pub xenstore: XenStore,
}

#[derive(Debug, thiserror::Error)]
pub enum PvError {
    #[error("PV device configuration: {0}")]
    Config(String),
    #[error("guest memory: {0}")]
    Memory(#[from] MemoryError),
    #[error("grant table: {0}")]
    Grant(#[from] GrantError),
    #[error("event channel: {0}")]
    Evtchn(#[from] EvtchnError),
    #[error("blkback: {0}")]
    Backend(#[from] BackendError),
    #[error("xenbus handshake: {0}")]
    Handshake(String),
    #[error("blkif request at sector {sector} (op {op}) failed with status {status}")]
    Io { sector: u64, op: u8, status: i16 },
    #[error("bad response from the backend: {0}")]
    BadResponse(String),
    #[error("the ring is stuck: {0}")]
    Stalled(&'static str),
    #[error("read of {len} bytes at byte {offset} is past the end of the vbd ({size} bytes)")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    #[error("the PV machine lock is poisoned (a previous read panicked)")]
    Poisoned,
}

/// Where and how to set up the vbd.
#[derive(Debug, Clone)]
pub struct PvIoConfig {
    /// The guest (frontend) domain id. The backend is dom0.
    pub front_domid: DomId,
    /// Linux's vbd number: 51712 = (202 << 8) = xvda.
    pub devid: u32,
    /// Page-aligned guest-physical region the frontend may use for its
    /// ring and buffers ([`BlkfrontConfig::scratch_pages`] pages).
    pub scratch: GuestPhysAddr,
    pub front: BlkfrontConfig,
    pub back: BlkbackConfig,
}

impl Default for PvIoConfig {
    fn default() -> Self {
        PvIoConfig {
            front_domid: DomId(1),
            devid: 51712,
            scratch: GuestPhysAddr(0),
            front: BlkfrontConfig::default(),
            back: BlkbackConfig::default(),
        }
    }
}

/// One vbd (`xvda`): domU's blkfront and dom0's blkback on a shared ring,
/// connected through the xenstore handshake of blkif.h's state diagram.
///
/// **Ownership.** `PvIo` owns the [`GuestMemory`] and the [`Sim`] (inside
/// [`XenPlatform`]); the domain builder borrows memory with
/// [`PvIo::memory_mut`] to place the kernel after the loader has read it,
/// or takes both back with [`PvIo::into_parts`]. One owner keeps the
/// devices' view of guest memory and the builder's the same bytes, with no
/// copy and no shared-mutable aliasing; the scratch region is the only
/// memory the devices write.
#[derive(Debug)]
pub struct PvIo {
    x: XenPlatform,
    front: Blkfront,
    back: Blkback,
    front_path: String,
    back_path: String,
}

impl PvIo {
    /// Builds the platform, creates the xenstore nodes the toolstack would,
    /// and runs the handshake to Connected.
    pub fn new(image: Arc<dyn ReadAt>, memory: GuestMemory, sim: Sim, config: PvIoConfig) -> Result<PvIo, PvError> {
        let back_dom = DomId(0);
        let dom = config.front_domid;
        if dom == back_dom {
            return Err(PvError::Config("the frontend domain cannot be dom0".into()));
        }
        let handle = u16::try_from(config.devid)
            .map_err(|_| PvError::Config(format!("devid {} does not fit blkif_vdev_t", config.devid)))?;
        let mut x = XenPlatform {
            memory,
            sim,
            grants: GrantTable::new(dom, DEFAULT_GRANT_FRAMES),
            evtchn: EventChannels::new(&[back_dom, dom]),
            xenstore: XenStore::new(),
        };
        let front_path = format!("/local/domain/{}/device/vbd/{}", dom.0, config.devid);
        let back_path = format!("/local/domain/0/backend/vbd/{}/{}", dom.0, config.devid);
        let sectors = image.size() / SECTOR;

        // Toolstack (libxl): both directories, state Initialising.
        let xs = &mut x.xenstore;
        let s = &mut x.sim;
        xs.write(s, &format!("{front_path}/backend"), back_path.clone());
        xs.write(s, &format!("{front_path}/backend-id"), "0");
        xs.write(s, &format!("{front_path}/virtual-device"), config.devid.to_string());
        xs.write(s, &format!("{front_path}/device-type"), "disk");
        xs.write(s, &format!("{front_path}/state"), state(XenbusState::Initialising));
        xs.write(s, &format!("{back_path}/frontend"), front_path.clone());
        xs.write(s, &format!("{back_path}/frontend-id"), dom.0.to_string());
        xs.write(s, &format!("{back_path}/params"), image.describe());
        xs.write(s, &format!("{back_path}/mode"), "r");
        xs.write(s, &format!("{back_path}/state"), state(XenbusState::Initialising));

        // Backend probe: watch the frontend, publish features -> InitWait.
        xs.watch(s, back_dom, &format!("{front_path}/state"), "backend");
        let b = &config.back;
        xs.write(s, &format!("{back_path}/feature-flush-cache"), "0");
        xs.write(s, &format!("{back_path}/feature-discard"), "0");
        xs.write(s, &format!("{back_path}/feature-persistent"), if b.persistent { "1" } else { "0" });
        if b.max_indirect_segments > 0 {
            xs.write(s, &format!("{back_path}/feature-max-indirect-segments"), b.max_indirect_segments.to_string());
        }
        xs.write(s, &format!("{back_path}/max-ring-page-order"), "0");
        xs.write(s, &format!("{back_path}/state"), state(XenbusState::InitWait));

        // Frontend: ring page, grant, event channel, nodes -> Initialised.
        let backend_id = x.xenstore.read_u64(&mut x.sim, &format!("{front_path}/backend-id"));
        if backend_id != Some(0) {
            return Err(PvError::Handshake(format!("{front_path}/backend-id is {backend_id:?}, expected 0")));
        }
        x.xenstore.watch(&mut x.sim, dom, &format!("{back_path}/state"), "frontend");
        let mut front = Blkfront::new(&mut x, dom, back_dom, handle, config.scratch, config.front)?;
        front.port = x.evtchn.alloc_unbound(&mut x.sim, dom, back_dom)?;
        let want_persistent = config.front.persistent
            && x.xenstore.read_u64(&mut x.sim, &format!("{back_path}/feature-persistent")) == Some(1);
        let indirect = x.xenstore.read_u64(&mut x.sim, &format!("{back_path}/feature-max-indirect-segments"));
        let xs = &mut x.xenstore;
        let s = &mut x.sim;
        xs.write(s, &format!("{front_path}/ring-ref"), front.ring_ref().to_string());
        xs.write(s, &format!("{front_path}/event-channel"), front.port.to_string());
        xs.write(s, &format!("{front_path}/protocol"), "x86_64-abi");
        xs.write(s, &format!("{front_path}/feature-persistent"), if want_persistent { "1" } else { "0" });
        xs.write(s, &format!("{front_path}/state"), state(XenbusState::Initialised));

        // Backend (its watch fired): map the ring, bind -> Connected.
        let back = connect_backend(&mut x, &front_path, &back_path, dom, image, config.back)?;
        let xs = &mut x.xenstore;
        let s = &mut x.sim;
        xs.write(s, &format!("{back_path}/sectors"), sectors.to_string());
        xs.write(s, &format!("{back_path}/info"), VDISK_READONLY.to_string());
        xs.write(s, &format!("{back_path}/sector-size"), "512");
        xs.write(s, &format!("{back_path}/physical-sector-size"), "512");
        xs.write(s, &format!("{back_path}/state"), state(XenbusState::Connected));

        // Frontend (its watch fired): read the disk's geometry -> Connected.
        while x.xenstore.take_watch_event(dom).is_some() {}
        let be_state = x.xenstore.read(&mut x.sim, &format!("{back_path}/state"));
        if be_state.as_deref().and_then(XenbusState::parse) != Some(XenbusState::Connected) {
            return Err(PvError::Handshake(format!("backend state is {be_state:?}, expected 4 (Connected)")));
        }
        front.sectors = x.xenstore.read_u64(&mut x.sim, &format!("{back_path}/sectors")).unwrap_or(0);
        front.info = x.xenstore.read_u64(&mut x.sim, &format!("{back_path}/info")).unwrap_or(0) as u32;
        let sector_size = x.xenstore.read_u64(&mut x.sim, &format!("{back_path}/sector-size"));
        if sector_size != Some(SECTOR) {
            return Err(PvError::Handshake(format!("sector-size {sector_size:?} is not 512")));
        }
        front.negotiate(&mut x, want_persistent, indirect.unwrap_or(0) as u32)?;
        x.xenstore.write(&mut x.sim, &format!("{front_path}/state"), state(XenbusState::Connected));
        while x.xenstore.take_watch_event(back_dom).is_some() {}
        Ok(PvIo { x, front, back, front_path, back_path })
    }

    pub fn memory(&self) -> &GuestMemory {
        &self.x.memory
    }
    pub fn memory_mut(&mut self) -> &mut GuestMemory {
        &mut self.x.memory
    }
    pub fn sim(&self) -> &Sim {
        &self.x.sim
    }
    pub fn sim_mut(&mut self) -> &mut Sim {
        &mut self.x.sim
    }
    pub fn platform(&self) -> &XenPlatform {
        &self.x
    }
    /// For tests and fuzzing: the raw platform, to put malformed requests
    /// on the ring.
    pub fn platform_mut(&mut self) -> &mut XenPlatform {
        &mut self.x
    }
    pub fn frontend(&self) -> &Blkfront {
        &self.front
    }
    pub fn backend(&self) -> &Blkback {
        &self.back
    }
    /// `/local/domain/<domU>/device/vbd/<devid>`.
    pub fn frontend_path(&self) -> &str {
        &self.front_path
    }
    /// `/local/domain/0/backend/vbd/<domU>/<devid>`.
    pub fn backend_path(&self) -> &str {
        &self.back_path
    }
    /// The vbd's size in bytes (whole sectors).
    pub fn size(&self) -> u64 {
        self.front.sectors() * SECTOR
    }

    /// Guest memory and the simulation back, for the domain builder.
    pub fn into_parts(self) -> (GuestMemory, Sim) {
        (self.x.memory, self.x.sim)
    }

    /// Runs the backend when its event is pending (the frontend's notify).
    pub fn run_backend(&mut self) -> Result<u32, PvError> {
        Ok(self.back.handle_event(&mut self.x)?)
    }

    /// Reads `dst.len() / 512` sectors from `sector` through the ring: the
    /// single-extent case of [`Self::read_extents`] (requests split, up to
    /// `max_outstanding` in flight, backend run when notified, responses
    /// consumed when the frontend is notified). `dst.len()` must be a
    /// multiple of 512.
    pub fn read_sectors(&mut self, sector: u64, dst: &mut [u8]) -> Result<(), PvError> {
        let len = dst.len() as u64;
        if !len.is_multiple_of(SECTOR) {
            return Err(PvError::Config(format!("read of {len} bytes is not whole sectors")));
        }
        // One extent: the same range check, requests and order as a queue of one.
        self.read_extents(&[(sector, len / SECTOR)], dst)
    }

    /// Reads several extents at once, as a block layer with queue depth
    /// `extents.len()` does: every extent `(first sector, sectors)` is split
    /// into ring requests, all are queued while the ring has room (one
    /// notify per push that crosses `req_event`), and the data lands in
    /// `dst` one extent after another. `dst.len()` must be the extents'
    /// total size.
    pub fn read_extents(&mut self, extents: &[(u64, u64)], dst: &mut [u8]) -> Result<(), PvError> {
        let total: u64 = extents.iter().map(|&(_, n)| n).sum();
        if dst.len() as u64 != total * SECTOR {
            return Err(PvError::Config(format!("buffer of {} bytes for {total} sectors", dst.len())));
        }
        for &(sector, n) in extents {
            if sector.checked_add(n).is_none_or(|end| end > self.front.sectors()) {
                return Err(PvError::OutOfRange {
                    offset: sector.saturating_mul(SECTOR),
                    len: n * SECTOR,
                    size: self.size(),
                });
            }
        }
        let per_req = u64::from(self.front.max_request_sectors());
        let requests: u64 = extents.iter().map(|&(_, n)| n.div_ceil(per_req)).sum();
        // (extent index, sectors of it already queued), destination offset.
        let (mut ext, mut done_in_ext, mut queued) = (0usize, 0u64, 0usize);
        let mut failure = None;
        for _ in 0..=requests + 2 {
            let mut progress = false;
            while failure.is_none() && ext < extents.len() && self.front.can_queue() {
                let (sector, len) = extents[ext];
                let n = (len - done_in_ext).min(per_req) as u32;
                if n > 0 {
                    self.front.queue_read(&mut self.x, sector + done_in_ext, n, queued)?;
                    queued += n as usize * SECTOR as usize;
                    done_in_ext += u64::from(n);
                    progress = true;
                }
                if done_in_ext >= len {
                    ext += 1;
                    done_in_ext = 0;
                }
            }
            progress |= self.back.handle_event(&mut self.x)? > 0;
            match self.front.handle_event(&mut self.x, dst) {
                Ok(n) => progress |= n > 0,
                Err(e @ PvError::Io { .. }) => {
                    failure.get_or_insert(e);
                    progress = true;
                }
                Err(e) => return Err(e),
            }
            if self.front.inflight() == 0 && (ext >= extents.len() || failure.is_some()) {
                return failure.map_or(Ok(()), Err);
            }
            if !progress {
                return Err(PvError::Stalled("no event pending and requests still in flight"));
            }
        }
        Err(PvError::Stalled("more rounds than requests"))
    }

    /// Byte-granular read: unaligned ranges become whole-sector reads
    /// (as Mini-OS's `blkfront_posix_rwop` does through its bounce buffer).
    pub fn read_bytes(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), PvError> {
        let len = buf.len() as u64;
        let size = self.size();
        let end = offset.checked_add(len).filter(|&e| e <= size).ok_or(PvError::OutOfRange { offset, len, size })?;
        if len == 0 {
            return Ok(());
        }
        if offset.is_multiple_of(SECTOR) && len.is_multiple_of(SECTOR) {
            return self.read_sectors(offset / SECTOR, buf);
        }
        let first = offset / SECTOR;
        let last = end.div_ceil(SECTOR);
        let mut bounce = vec![0u8; ((last - first) * SECTOR) as usize];
        self.read_sectors(first, &mut bounce)?;
        let skip = (offset - first * SECTOR) as usize;
        buf.copy_from_slice(&bounce[skip..skip + buf.len()]);
        Ok(())
    }
}

/// Raw ring access: what a misbehaving (or hand-written) frontend can do.
/// For tests, fuzzing and teaching; the normal path is [`PvIo::read_sectors`].
impl PvIo {
    /// Grants guest page `pfn` to the backend outside the frontend's
    /// bookkeeping (the ref is the test's to reference in raw requests).
    pub fn grant_page(&mut self, pfn: machine::Pfn, readonly: bool) -> Result<grant::GrantRef, PvError> {
        Ok(self.x.grants.grant_access(&mut self.x.sim, DomId(0), pfn, readonly)?)
    }

    /// Puts `raw` (a ring slot's 112 bytes, any content) on the ring as the
    /// next request, pushes and notifies as a frontend would, lets the
    /// backend run, and returns the response it produced (`None` if it
    /// produced none). Only while no normal read is in flight.
    pub fn submit_raw(
        &mut self,
        raw: &[u8; blkif::SLOT_SIZE as usize],
    ) -> Result<Option<blkif::BlkifResponse>, PvError> {
        if self.front.inflight() != 0 {
            return Err(PvError::Config("submit_raw while requests are in flight".into()));
        }
        let req: blkif::BlkifRequest = bytemuck::pod_read_unaligned(raw);
        self.front.ring.put_request(&mut self.x.memory, &req)?;
        if self.front.ring.push_requests_and_check_notify(&mut self.x.memory)? {
            self.x.evtchn.send(&mut self.x.sim, self.front.dom, self.front.port)?;
        }
        self.back.handle_event(&mut self.x)?;
        let _ = self.x.evtchn.take_pending(&mut self.x.sim, self.front.dom, self.front.port);
        let Some(prod) = self.front.ring.rsp_prod(&self.x.memory)? else {
            return Err(PvError::BadResponse("rsp_prod overflow".into()));
        };
        let mut last = None;
        while self.front.ring.rsp_cons != prod {
            last = Some(self.front.ring.response(&self.x.memory, self.front.ring.rsp_cons)?);
            self.front.ring.rsp_cons = self.front.ring.rsp_cons.wrapping_add(1);
        }
        self.front.ring.final_check_for_responses(&mut self.x.memory)?;
        Ok(last)
    }
}

fn state(s: XenbusState) -> String {
    s.value().to_string()
}

/// The backend's `connect()` (Linux xen-blkback `xenbus.c`
/// `connect_ring`): read ring-ref, event-channel and protocol, map the
/// ring page, bind the event channel.
fn connect_backend(
    x: &mut XenPlatform,
    front_path: &str,
    back_path: &str,
    dom: DomId,
    image: Arc<dyn ReadAt>,
    config: BlkbackConfig,
) -> Result<Blkback, PvError> {
    let back_dom = DomId(0);
    let fe_state = x.xenstore.read(&mut x.sim, &format!("{front_path}/state"));
    if fe_state.as_deref().and_then(XenbusState::parse) != Some(XenbusState::Initialised) {
        return Err(PvError::Handshake(format!("frontend state is {fe_state:?}, expected 3 (Initialised)")));
    }
    while x.xenstore.take_watch_event(back_dom).is_some() {}
    let ring_ref = x
        .xenstore
        .read_u64(&mut x.sim, &format!("{front_path}/ring-ref"))
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| PvError::Handshake(format!("{front_path}/ring-ref is missing or not a number")))?;
    let port = x
        .xenstore
        .read_u64(&mut x.sim, &format!("{front_path}/event-channel"))
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| PvError::Handshake(format!("{front_path}/event-channel is missing or not a number")))?;
    let protocol = x.xenstore.read(&mut x.sim, &format!("{front_path}/protocol"));
    // Linux blkback: "unknown fe protocol %s".
    if protocol.as_deref().is_some_and(|p| p != "x86_64-abi") {
        return Err(PvError::Handshake(format!("unknown fe protocol {protocol:?} (the backend is x86_64)")));
    }
    let persistent = x.xenstore.read_u64(&mut x.sim, &format!("{front_path}/feature-persistent")) == Some(1);
    x.sim.hypercall(grant::HYPERVISOR_GRANT_TABLE_OP, "grant_table_op", grant::GNTTABOP_MAP_GRANT_REF, 1, 0);
    let ring = x
        .grants
        .map(&mut x.sim, &x.memory, back_dom, dom, ring_ref, false)
        .map_err(|st| PvError::Handshake(format!("mapping ring-ref {ring_ref} failed with GNTST {st}")))?;
    let back_port = x.evtchn.bind_interdomain(&mut x.sim, back_dom, dom, port)?;
    // The bind leaves our port pending; the backend's first run finds an empty ring.
    let _ = x.evtchn.take_pending(&mut x.sim, back_dom, back_port);
    let _ = back_path;
    Ok(Blkback::new(
        back_dom,
        dom,
        image,
        config,
        Negotiated { ring_page: ring.frame.addr(), port: back_port, persistent },
    ))
}

/// A [`ReadAt`] over blkfront: the disk as PV-GRUB sees it. Reads lock the
/// PV machine, so `BlkfrontDisk` is `Send + Sync` as `ReadAt` requires.
/// Its size is the vbd's (whole 512-byte sectors: a trailing partial
/// sector of the image is not addressable, as on a loop-backed vbd).
#[derive(Debug, Clone)]
pub struct BlkfrontDisk {
    pv: Arc<Mutex<PvIo>>,
    size: u64,
    name: String,
}

impl BlkfrontDisk {
    pub fn new(pv: PvIo) -> BlkfrontDisk {
        let name = format!("xvda (blkfront, {})", pv.back.image_name());
        BlkfrontDisk { size: pv.size(), pv: Arc::new(Mutex::new(pv)), name }
    }

    /// The PV machine, e.g. to read counters or borrow guest memory.
    pub fn lock(&self) -> Result<MutexGuard<'_, PvIo>, PvError> {
        self.pv.lock().map_err(|_| PvError::Poisoned)
    }

    /// The PV machine back, when this is the last handle to it.
    pub fn into_inner(self) -> Result<PvIo, BlkfrontDisk> {
        let BlkfrontDisk { pv, size, name } = self;
        match Arc::try_unwrap(pv) {
            // A poisoned lock still holds a PvIo whose every step completed
            // or was reported: hand it back.
            Ok(m) => Ok(m.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)),
            Err(pv) => Err(BlkfrontDisk { pv, size, name }),
        }
    }
}

impl ReadAt for BlkfrontDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> disk_image::Result<()> {
        let io = |e: PvError| DiskError::Io {
            what: self.name.clone(),
            offset: ByteOffset(offset),
            len: buf.len(),
            source: std::io::Error::other(e.to_string()),
        };
        let mut pv = self.lock().map_err(io)?;
        let r = pv.read_bytes(offset, buf);
        drop(pv);
        r.map_err(|e| DiskError::Io {
            what: self.name.clone(),
            offset: ByteOffset(offset),
            len: buf.len(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
