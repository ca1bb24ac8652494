//! Grant table v1 (`xen/include/public/grant_table.h`), both halves: the
//! granting guest's side (`grant_access` / `end_access`, which real guests
//! do by writing the shared entry, no hypercall) and Xen's side of
//! GNTTABOP_map_grant_ref / unmap_grant_ref / copy, with the checks and
//! GNTST_* codes of `xen/common/grant_table.c`.
//!
//! **Where the table lives.** The entries are [`GrantEntryV1`] values with
//! the header's exact layout, kept in this object rather than in
//! [`GuestMemory`]: a PV guest's grant-table frames are Xen's pages that
//! the guest maps with GNTTABOP_setup_table, outside its pseudo-physical
//! RAM, so placing them in guest memory would take RAM a real guest keeps.
//! The flag protocol is the real one (the guest writes `frame`, `domid`,
//! then `flags`; Xen sets GTF_reading / GTF_writing while mapped; the
//! guest may only revoke an entry whose GTF_reading|GTF_writing are clear),
//! and [`GrantTable::frame_bytes`] shows the bytes a guest would see.
//!
//! **Frames.** `frame` holds a guest frame of the simulated
//! [`GuestMemory`]; boot-sim's p2m is the identity here (on real PV Xen it
//! would be an MFN).

use bytemuck::{Pod, Zeroable};

use machine::{CostKey, units::PAGE_SHIFT};
use machine::{EventKind, GrantOpKind, GuestMemory, GuestPhysAddr, PAGE_SIZE, Pfn, Sim};

/// A Xen domain id (`domid_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DomId(pub u16);

/// `DOMID_SELF` (xen.h): "the calling domain".
pub const DOMID_SELF: DomId = DomId(0x7FF0);

/// `grant_ref_t`.
pub type GrantRef = u32;

/// grant_table.h `struct grant_entry_v1`: 8 bytes, 512 per 4 KiB frame.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct GrantEntryV1 {
    /// GTF_* (+0).
    pub flags: u16,
    /// The domain being granted access (+2).
    pub domid: u16,
    /// The frame being granted (+4).
    pub frame: u32,
}
const _: () = assert!(size_of::<GrantEntryV1>() == 8);

pub const GTF_INVALID: u16 = 0;
pub const GTF_PERMIT_ACCESS: u16 = 1;
pub const GTF_TYPE_MASK: u16 = 3;
pub const GTF_READONLY: u16 = 1 << 2;
pub const GTF_READING: u16 = 1 << 3;
pub const GTF_WRITING: u16 = 1 << 4;
pub const GTF_SUB_PAGE: u16 = 1 << 8;

/// grant_table.h GNTST_* codes.
pub mod status {
    pub const OKAY: i16 = 0;
    pub const GENERAL_ERROR: i16 = -1;
    pub const BAD_DOMAIN: i16 = -2;
    pub const BAD_GNTREF: i16 = -3;
    pub const BAD_HANDLE: i16 = -4;
    pub const PERMISSION_DENIED: i16 = -8;
    pub const BAD_PAGE: i16 = -9;
    pub const BAD_COPY_ARG: i16 = -10;
    pub const NO_SPACE: i16 = -13;
}

/// xen.h `__HYPERVISOR_grant_table_op`, and its GNTTABOP_* sub-ops.
pub const HYPERVISOR_GRANT_TABLE_OP: u32 = 20;
pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;
pub const GNTTABOP_COPY: u32 = 5;

/// GNTCOPY_* flags of `struct gnttab_copy`.
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

/// Entries per 4 KiB grant-table frame.
pub const ENTRIES_PER_FRAME: u32 = (PAGE_SIZE / 8) as u32;
/// Refs 0..8 are reserved for the toolstack (Linux `GNTTAB_NR_RESERVED_ENTRIES`,
/// Mini-OS `NR_RESERVED_ENTRIES`); guests allocate from 8 up.
pub const NR_RESERVED_ENTRIES: u32 = 8;
/// Frames boot-sim gives each table. Real tables grow with
/// GNTTABOP_setup_table up to `max_grant_frames`; 4 frames = 2048 entries
/// cover a ring, 32 × 11 data pages and indirect pages.
pub const DEFAULT_GRANT_FRAMES: u32 = 4;

/// The guest-side errors (no GNTST code: these are the guest's own
/// bookkeeping, e.g. Linux's `gnttab_end_foreign_access_ref` refusing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("grant table of d{0} is full")]
    Full(u16),
    #[error("grant ref {0} is not a granted entry")]
    NotGranted(GrantRef),
    #[error("grant ref {0} is still mapped (GTF_reading/GTF_writing set); it cannot be revoked")]
    InUse(GrantRef),
    #[error("frame {0} is outside guest memory")]
    BadFrame(u64),
}

/// A live mapping made by [`GrantTable::map`]: Xen's maptrack handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantMapping {
    pub handle: u32,
    pub gref: GrantRef,
    pub frame: Pfn,
    pub readonly: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pins {
    readers: u32,
    writers: u32,
}

#[derive(Debug, Clone, Copy)]
struct MapTrack {
    gref: GrantRef,
    readonly: bool,
}

/// One side of `struct gnttab_copy`: a grant ref of `domid`'s table, or
/// (without the GNTCOPY_*_gref flag) a frame of the caller (`DOMID_SELF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyPtr {
    /// `u.ref` or `u.gmfn`.
    pub ref_or_gmfn: u64,
    pub domid: DomId,
    pub offset: u16,
}

/// grant_table.h `struct gnttab_copy` (status is the return value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GnttabCopy {
    pub source: CopyPtr,
    pub dest: CopyPtr,
    pub len: u16,
    pub flags: u16,
}

/// The grant table of one granting domain (the frontend's), and the
/// maptrack of the one domain that maps from it (the backend).
#[derive(Debug, Clone)]
pub struct GrantTable {
    owner: DomId,
    entries: Vec<GrantEntryV1>,
    pins: Vec<Pins>,
    /// Guest-side free refs (LIFO, like Linux's gnttab free list).
    free: Vec<GrantRef>,
    maptrack: Vec<Option<MapTrack>>,
    free_handles: Vec<u32>,
}

impl GrantTable {
    pub fn new(owner: DomId, frames: u32) -> GrantTable {
        let n = frames.max(1) * ENTRIES_PER_FRAME;
        GrantTable {
            owner,
            entries: vec![GrantEntryV1::zeroed(); n as usize],
            pins: vec![Pins::default(); n as usize],
            free: (NR_RESERVED_ENTRIES..n).rev().collect(),
            maptrack: Vec::new(),
            free_handles: Vec::new(),
        }
    }

    pub fn owner(&self) -> DomId {
        self.owner
    }

    /// `nr_grant_entries()`.
    pub fn nr_entries(&self) -> u32 {
        self.entries.len() as u32
    }

    pub fn entry(&self, gref: GrantRef) -> Option<GrantEntryV1> {
        self.entries.get(gref as usize).copied()
    }

    /// Grant-table frame `i` as the guest sees it (512 little-endian entries).
    pub fn frame_bytes(&self, i: u32) -> Option<&[u8]> {
        let per = ENTRIES_PER_FRAME as usize;
        let start = (i as usize).checked_mul(per)?;
        self.entries.get(start..start + per).map(bytemuck::cast_slice)
    }

    /// Refs currently mapped by the backend.
    pub fn live_mappings(&self) -> usize {
        self.maptrack.iter().filter(|m| m.is_some()).count()
    }

    /// Guest side, `gnttab_grant_foreign_access`: lets `domid` map `frame`
    /// (read-only if `readonly`). Writes `frame` and `domid` first, then
    /// — after a write barrier (`wmb()` in Linux/Mini-OS) so Xen never sees
    /// a valid flag with a stale frame — the flags.
    #[inline]
    pub fn grant_access(
        &mut self,
        sim: &mut Sim,
        domid: DomId,
        frame: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, GrantError> {
        let frame32 = u32::try_from(frame.0).map_err(|_| GrantError::BadFrame(frame.0))?;
        let gref = self.free.pop().ok_or(GrantError::Full(self.owner.0))?;
        let e = &mut self.entries[gref as usize];
        e.frame = frame32;
        e.domid = domid.0;
        // wmb(): the entry's frame and domid are visible before its flags.
        e.flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        sim.record(0, EventKind::Grant { op: GrantOpKind::Access, gref, status: status::OKAY });
        Ok(gref)
    }

    /// Guest side, `gnttab_end_access`: revokes `gref` unless Xen still
    /// has it mapped (GTF_reading|GTF_writing), as Mini-OS's `gnttab.c`
    /// and Linux's `gnttab_end_foreign_access_ref` refuse to.
    #[inline]
    pub fn end_access(&mut self, sim: &mut Sim, gref: GrantRef) -> Result<(), GrantError> {
        let Some(e) = self.entries.get_mut(gref as usize).filter(|_| gref >= NR_RESERVED_ENTRIES) else {
            return Err(GrantError::NotGranted(gref));
        };
        if e.flags & GTF_TYPE_MASK != GTF_PERMIT_ACCESS {
            return Err(GrantError::NotGranted(gref));
        }
        if e.flags & (GTF_READING | GTF_WRITING) != 0 {
            return Err(GrantError::InUse(gref));
        }
        e.flags = GTF_INVALID;
        self.free.push(gref);
        sim.record(0, EventKind::Grant { op: GrantOpKind::EndAccess, gref, status: status::OKAY });
        Ok(())
    }

    /// Xen's `_set_status_v1` + pin: checks the entry for `mapper` and
    /// pins it for reading (and writing unless `readonly`).
    #[inline]
    fn pin(&mut self, mapper: DomId, gref: GrantRef, readonly: bool, pages: u64) -> Result<Pfn, i16> {
        let Some(e) = self.entries.get_mut(gref as usize) else { return Err(status::BAD_GNTREF) };
        let p = &mut self.pins[gref as usize];
        let pinned = p.readers + p.writers > 0;
        // "Bad flags (%x) or dom (%d); expected d%d" (sub-page grants can't be mapped).
        if !pinned && ((e.flags & (GTF_TYPE_MASK | GTF_SUB_PAGE)) != GTF_PERMIT_ACCESS || e.domid != mapper.0) {
            return Err(status::GENERAL_ERROR);
        }
        // "Attempt to write-pin a r/o grant entry".
        if !readonly && e.flags & GTF_READONLY != 0 {
            return Err(status::GENERAL_ERROR);
        }
        // get_paged_frame(): a frame the granter does not own is GNTST_bad_page.
        if u64::from(e.frame) >= pages {
            return Err(status::BAD_PAGE);
        }
        e.flags |= GTF_READING;
        if readonly {
            p.readers += 1;
        } else {
            e.flags |= GTF_WRITING;
            p.writers += 1;
        }
        Ok(Pfn(u64::from(e.frame)))
    }

    #[inline]
    fn unpin(&mut self, gref: GrantRef, readonly: bool) {
        let (e, p) = (&mut self.entries[gref as usize], &mut self.pins[gref as usize]);
        if readonly {
            p.readers = p.readers.saturating_sub(1);
        } else {
            p.writers = p.writers.saturating_sub(1);
        }
        if p.writers == 0 {
            e.flags &= !GTF_WRITING;
        }
        if p.readers + p.writers == 0 {
            e.flags &= !GTF_READING;
        }
    }

    /// Xen, one GNTTABOP_map_grant_ref op by `mapper` on (`dom`, `gref`).
    /// The caller charges the hypercall (one per batch); this records the
    /// grant event with its status. GNTST_bad_domain when `dom` is not the
    /// owner of this table ("Could not find domain"), GNTST_bad_gntref
    /// past the table, GNTST_general_error for a wrong domid, a non-grant
    /// entry or a write pin of a read-only grant, GNTST_bad_page for a
    /// frame outside guest memory.
    #[inline(always)]
    pub fn map(
        &mut self,
        sim: &mut Sim,
        mem: &GuestMemory,
        mapper: DomId,
        dom: DomId,
        gref: GrantRef,
        readonly: bool,
    ) -> Result<GrantMapping, i16> {
        let result = if dom != self.owner {
            Err(status::BAD_DOMAIN)
        } else {
            self.pin(mapper, gref, readonly, mem.pages()).map(|frame| {
                let track = Some(MapTrack { gref, readonly });
                let handle = match self.free_handles.pop() {
                    Some(h) => {
                        self.maptrack[h as usize] = track;
                        h
                    }
                    None => {
                        self.maptrack.push(track);
                        (self.maptrack.len() - 1) as u32
                    }
                };
                GrantMapping { handle, gref, frame, readonly }
            })
        };
        let st = result.err().unwrap_or(status::OKAY);
        sim.charge(CostKey::GrantMap, EventKind::Grant { op: GrantOpKind::Map, gref, status: st });
        result
    }

    /// Xen, one GNTTABOP_unmap_grant_ref op: GNTST_bad_handle for a handle
    /// that is not live. Charges the per-ref unmap and one page TLB flush.
    #[inline]
    pub fn unmap(&mut self, sim: &mut Sim, handle: u32) -> Result<(), i16> {
        let track = self.maptrack.get_mut(handle as usize).and_then(Option::take);
        let (gref, st) = match track {
            Some(t) => {
                self.unpin(t.gref, t.readonly);
                self.free_handles.push(handle);
                (t.gref, status::OKAY)
            }
            None => (u32::MAX, status::BAD_HANDLE),
        };
        let ns = if st == status::OKAY {
            sim.cost.ns(CostKey::GrantUnmap) + sim.cost.ns(CostKey::TlbFlushPage)
        } else {
            sim.cost.ns(CostKey::GrantUnmap)
        };
        sim.record(ns, EventKind::Grant { op: GrantOpKind::Unmap, gref, status: st });
        if st == status::OKAY { Ok(()) } else { Err(st) }
    }

    /// Xen, one GNTTABOP_copy op issued by `caller`, following
    /// `gnttab_copy_one`: domains first (a frame side must be DOMID_SELF,
    /// else GNTST_permission_denied; an unknown domain is GNTST_bad_domain),
    /// then the grant sides (as for map: bad_gntref / general_error /
    /// bad_page), then "copy beyond page area" (GNTST_bad_copy_arg). The
    /// caller's own frames (`DOMID_SELF` side) are `local`, one page each
    /// indexed by gmfn: boot-sim does not model the backend's RAM.
    pub fn copy(
        &mut self,
        sim: &mut Sim,
        mem: &mut GuestMemory,
        caller: DomId,
        op: &GnttabCopy,
        local: &mut [u8],
    ) -> i16 {
        let st = self.copy_inner(mem, caller, op, local);
        let gref = if op.flags & GNTCOPY_DEST_GREF != 0 { op.dest.ref_or_gmfn } else { op.source.ref_or_gmfn };
        let bytes = if st == status::OKAY { u64::from(op.len) } else { 0 };
        let ns = sim.cost.ns(CostKey::GrantCopy) + sim.cost.memcpy_ns(bytes);
        sim.record(ns, EventKind::Grant { op: GrantOpKind::Copy, gref: gref as u32, status: st });
        st
    }

    fn copy_inner(&mut self, mem: &mut GuestMemory, caller: DomId, op: &GnttabCopy, local: &mut [u8]) -> i16 {
        let sides = [(op.source, op.flags & GNTCOPY_SOURCE_GREF != 0), (op.dest, op.flags & GNTCOPY_DEST_GREF != 0)];
        for (ptr, is_gref) in sides {
            if !is_gref && ptr.domid != DOMID_SELF {
                return status::PERMISSION_DENIED;
            }
            if is_gref && ptr.domid != self.owner && ptr.domid != DOMID_SELF {
                return status::BAD_DOMAIN;
            }
        }
        // Claim the grant sides: source read-only, dest writable.
        let mut pinned: [Option<(GrantRef, bool)>; 2] = [None, None];
        let mut addrs = [0u64; 2];
        for (i, (ptr, is_gref)) in sides.into_iter().enumerate() {
            if is_gref {
                let readonly = i == 0;
                let Ok(gref) = u32::try_from(ptr.ref_or_gmfn) else {
                    self.release(&pinned);
                    return status::BAD_GNTREF;
                };
                match self.pin(caller, gref, readonly, mem.pages()) {
                    Ok(frame) => {
                        pinned[i] = Some((gref, readonly));
                        addrs[i] = frame.0 << PAGE_SHIFT;
                    }
                    Err(st) => {
                        self.release(&pinned);
                        return st;
                    }
                }
            } else {
                let pages = (local.len() as u64) / PAGE_SIZE;
                if ptr.ref_or_gmfn >= pages {
                    self.release(&pinned);
                    return status::BAD_PAGE;
                }
                addrs[i] = ptr.ref_or_gmfn << PAGE_SHIFT;
            }
        }
        let len = u64::from(op.len);
        let st = if u64::from(op.source.offset) + len > PAGE_SIZE || u64::from(op.dest.offset) + len > PAGE_SIZE {
            status::BAD_COPY_ARG
        } else {
            let src = addrs[0] + u64::from(op.source.offset);
            let dst = addrs[1] + u64::from(op.dest.offset);
            let (sg, dg) = (sides[0].1, sides[1].1);
            let ok = match (sg, dg) {
                (true, true) => {
                    let mut tmp = vec![0u8; len as usize];
                    mem.read(GuestPhysAddr(src), &mut tmp).is_ok() && mem.write(GuestPhysAddr(dst), &tmp).is_ok()
                }
                (true, false) => mem.read(GuestPhysAddr(src), &mut local[dst as usize..(dst + len) as usize]).is_ok(),
                (false, true) => mem.write(GuestPhysAddr(dst), &local[src as usize..(src + len) as usize]).is_ok(),
                (false, false) => {
                    local.copy_within(src as usize..(src + len) as usize, dst as usize);
                    true
                }
            };
            if ok { status::OKAY } else { status::BAD_PAGE }
        };
        self.release(&pinned);
        st
    }

    fn release(&mut self, pinned: &[Option<(GrantRef, bool)>; 2]) {
        for &(gref, readonly) in pinned.iter().flatten() {
            self.unpin(gref, readonly);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use machine::CostModel;

    fn setup() -> (Sim, GuestMemory, GrantTable) {
        (Sim::new(CostModel::default()), GuestMemory::new(16 * PAGE_SIZE).unwrap(), GrantTable::new(DomId(1), 1))
    }

    #[test]
    fn map_sets_and_unmap_clears_the_access_flags() {
        let (mut sim, mem, mut gt) = setup();
        let r = gt.grant_access(&mut sim, DomId(0), Pfn(3), false).unwrap();
        assert_eq!(r, NR_RESERVED_ENTRIES);
        let m = gt.map(&mut sim, &mem, DomId(0), DomId(1), r, false).unwrap();
        assert_eq!(m.frame, Pfn(3));
        assert_eq!(gt.entry(r).unwrap().flags, GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING);
        assert_eq!(gt.end_access(&mut sim, r), Err(GrantError::InUse(r)));
        gt.unmap(&mut sim, m.handle).unwrap();
        assert_eq!(gt.entry(r).unwrap().flags, GTF_PERMIT_ACCESS);
        assert_eq!(gt.unmap(&mut sim, m.handle), Err(status::BAD_HANDLE));
        gt.end_access(&mut sim, r).unwrap();
        assert_eq!(gt.entry(r).unwrap().flags, GTF_INVALID);
        assert_eq!(&gt.frame_bytes(0).unwrap()[r as usize * 8..r as usize * 8 + 8], &[0, 0, 0, 0, 3, 0, 0, 0]);
    }

    #[test]
    fn map_rejections_use_xens_status_codes() {
        let (mut sim, mem, mut gt) = setup();
        let ro = gt.grant_access(&mut sim, DomId(0), Pfn(1), true).unwrap();
        let far = gt.grant_access(&mut sim, DomId(0), Pfn(99), false).unwrap();
        assert_eq!(gt.map(&mut sim, &mem, DomId(0), DomId(1), ro, false), Err(status::GENERAL_ERROR));
        assert_eq!(gt.map(&mut sim, &mem, DomId(2), DomId(1), ro, true), Err(status::GENERAL_ERROR));
        assert_eq!(gt.map(&mut sim, &mem, DomId(0), DomId(1), 5, true), Err(status::GENERAL_ERROR));
        assert_eq!(gt.map(&mut sim, &mem, DomId(0), DomId(1), 4096, true), Err(status::BAD_GNTREF));
        assert_eq!(gt.map(&mut sim, &mem, DomId(0), DomId(7), ro, true), Err(status::BAD_DOMAIN));
        assert_eq!(gt.map(&mut sim, &mem, DomId(0), DomId(1), far, true), Err(status::BAD_PAGE));
        assert!(gt.map(&mut sim, &mem, DomId(0), DomId(1), ro, true).is_ok());
        assert_eq!(sim.trace.counters().grant_failures(), 6);
    }

    #[test]
    fn copy_checks_domains_grants_and_page_bounds() {
        let (mut sim, mut mem, mut gt) = setup();
        let w = gt.grant_access(&mut sim, DomId(0), Pfn(2), false).unwrap();
        let mut local = vec![7u8; PAGE_SIZE as usize];
        let mut op = GnttabCopy {
            source: CopyPtr { ref_or_gmfn: 0, domid: DOMID_SELF, offset: 0 },
            dest: CopyPtr { ref_or_gmfn: u64::from(w), domid: DomId(1), offset: 512 },
            len: 1024,
            flags: GNTCOPY_DEST_GREF,
        };
        assert_eq!(gt.copy(&mut sim, &mut mem, DomId(0), &op, &mut local), status::OKAY);
        assert_eq!(mem.read_u32(GuestPhysAddr(2 * PAGE_SIZE + 512)).unwrap(), 0x0707_0707);
        assert_eq!(gt.entry(w).unwrap().flags, GTF_PERMIT_ACCESS, "a copy leaves no pin behind");
        op.dest.offset = 3584;
        assert_eq!(gt.copy(&mut sim, &mut mem, DomId(0), &op, &mut local), status::BAD_COPY_ARG);
        op.dest.offset = 0;
        op.source.domid = DomId(0);
        assert_eq!(gt.copy(&mut sim, &mut mem, DomId(0), &op, &mut local), status::PERMISSION_DENIED);
        op.source.domid = DOMID_SELF;
        op.dest.ref_or_gmfn = 1 << 40;
        assert_eq!(gt.copy(&mut sim, &mut mem, DomId(0), &op, &mut local), status::BAD_GNTREF);
        let ro = gt.grant_access(&mut sim, DomId(0), Pfn(3), true).unwrap();
        op.dest.ref_or_gmfn = u64::from(ro);
        assert_eq!(gt.copy(&mut sim, &mut mem, DomId(0), &op, &mut local), status::GENERAL_ERROR);
    }
}
