//! The block-device ring: `xen/include/public/io/blkif.h` structures with
//! their x86_64 layout, and `io/ring.h`'s front/back ring macros over a
//! shared page that **lives in guest memory**: the producer/consumer
//! indices and the request/response slots are read and written there,
//! as both ends of a real ring do.
//!
//! The simulation is single-threaded, so barriers are no-ops, but each
//! place ring.h puts one is named in a comment: the order of the index
//! and slot accesses is the real protocol's.

use bytemuck::{Pod, Zeroable};

use machine::{GuestMemory, GuestPhysAddr, MemoryError, PAGE_SIZE};

use super::grant::GrantRef;

/// blkif.h `BLKIF_OP_*`.
pub const BLKIF_OP_READ: u8 = 0;
pub const BLKIF_OP_WRITE: u8 = 1;
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
pub const BLKIF_OP_DISCARD: u8 = 5;
pub const BLKIF_OP_INDIRECT: u8 = 6;

/// blkif.h `BLKIF_RSP_*`.
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
pub const BLKIF_RSP_ERROR: i16 = -1;
pub const BLKIF_RSP_OKAY: i16 = 0;

/// "carefully chosen so that sizeof(blkif_ring_t) <= PAGE_SIZE".
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// Segments per indirect page: PAGE_SIZE / sizeof(blkif_request_segment).
pub const SEGS_PER_INDIRECT_FRAME: usize = PAGE_SIZE as usize / size_of::<BlkifRequestSegment>();
/// Sectors are 512 bytes in the protocol whatever the disk's sector-size.
pub const SECTOR: u64 = 512;
/// Sectors per 4 KiB frame: `last_sect` must be below this.
pub const SECTORS_PER_PAGE: u8 = (PAGE_SIZE / SECTOR) as u8;

/// VDISK_* bits of the backend's `info` node.
pub const VDISK_CDROM: u32 = 0x1;
pub const VDISK_REMOVABLE: u32 = 0x2;
pub const VDISK_READONLY: u32 = 0x4;

/// blkif.h `struct blkif_request_segment` (8 bytes, 2 of tail padding).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
pub struct BlkifRequestSegment {
    pub gref: GrantRef,
    /// First 512-byte sector in the frame to transfer (inclusive).
    pub first_sect: u8,
    /// Last sector in the frame to transfer (inclusive).
    pub last_sect: u8,
    pub _pad: [u8; 2],
}

/// blkif.h `struct blkif_request`, x86_64 layout (112 bytes): `id` is at
/// +8 by natural alignment (the x86_32 ABI packs it at +4).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
pub struct BlkifRequest {
    pub operation: u8,
    pub nr_segments: u8,
    /// `blkif_vdev_t`: "only for read/write requests".
    pub handle: u16,
    pub _pad: [u8; 4],
    /// "private guest value, echoed in resp".
    pub id: u64,
    /// Start sector on disk, 512-byte units.
    pub sector_number: u64,
    pub seg: [BlkifRequestSegment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}

impl BlkifRequest {
    /// The same slot read as `struct blkif_request_indirect` (its first
    /// 64 bytes), for `operation == BLKIF_OP_INDIRECT`.
    #[inline(always)]
    pub fn as_indirect(&self) -> BlkifRequestIndirect {
        bytemuck::pod_read_unaligned(&bytemuck::bytes_of(self)[..size_of::<BlkifRequestIndirect>()])
    }
}

/// blkif.h `struct blkif_request_discard`, x86_64 view of a ring slot.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct BlkifRequestDiscard {
    pub operation: u8,
    /// BLKIF_DISCARD_SECURE or 0.
    pub flag: u8,
    pub handle: u16,
    pub _pad: [u8; 4],
    pub id: u64,
    pub sector_number: u64,
    pub nr_sectors: u64,
}

/// blkif.h `struct blkif_request_indirect`, x86_64 layout (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
pub struct BlkifRequestIndirect {
    pub operation: u8,
    /// BLKIF_OP_READ or BLKIF_OP_WRITE.
    pub indirect_op: u8,
    pub nr_segments: u16,
    pub _pad0: [u8; 4],
    pub id: u64,
    pub sector_number: u64,
    pub handle: u16,
    pub _pad1: u16,
    pub indirect_grefs: [GrantRef; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
    pub _pad2: [u8; 4],
}

/// blkif.h `struct blkif_response` (16 bytes on x86_64).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Pod, Zeroable)]
pub struct BlkifResponse {
    pub id: u64,
    pub operation: u8,
    pub _pad0: u8,
    pub status: i16,
    pub _pad1: [u8; 4],
}

/// ring.h `struct blkif_sring` header: four RING_IDX then padding to 64.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct BlkifSringHeader {
    pub req_prod: u32,
    pub req_event: u32,
    pub rsp_prod: u32,
    pub rsp_event: u32,
    /// `union { uint8_t pvt_pad[4]; … } pvt` + `uint8_t __pad[44]`.
    pub pad: [u8; 48],
}

const _: () = {
    assert!(size_of::<BlkifRequestSegment>() == 8);
    assert!(size_of::<BlkifRequest>() == 112);
    assert!(std::mem::offset_of!(BlkifRequest, operation) == 0);
    assert!(std::mem::offset_of!(BlkifRequest, nr_segments) == 1);
    assert!(std::mem::offset_of!(BlkifRequest, handle) == 2);
    assert!(std::mem::offset_of!(BlkifRequest, id) == 8);
    assert!(std::mem::offset_of!(BlkifRequest, sector_number) == 16);
    assert!(std::mem::offset_of!(BlkifRequest, seg) == 24);
    assert!(size_of::<BlkifRequestDiscard>() == 32);
    assert!(std::mem::offset_of!(BlkifRequestDiscard, nr_sectors) == 24);
    assert!(size_of::<BlkifRequestIndirect>() == 64);
    assert!(std::mem::offset_of!(BlkifRequestIndirect, nr_segments) == 2);
    assert!(std::mem::offset_of!(BlkifRequestIndirect, id) == 8);
    assert!(std::mem::offset_of!(BlkifRequestIndirect, sector_number) == 16);
    assert!(std::mem::offset_of!(BlkifRequestIndirect, handle) == 24);
    assert!(std::mem::offset_of!(BlkifRequestIndirect, indirect_grefs) == 28);
    assert!(size_of::<BlkifResponse>() == 16);
    assert!(std::mem::offset_of!(BlkifResponse, operation) == 8);
    assert!(std::mem::offset_of!(BlkifResponse, status) == 10);
    assert!(size_of::<BlkifSringHeader>() == 64);
    assert!(RING_SIZE == 32);
};

/// Bytes per ring slot: the union of request and response.
pub const SLOT_SIZE: u64 = 112;
/// ring.h `__RING_SIZE`: (PAGE_SIZE - 64) / 112 = 36, rounded down to a
/// power of two.
pub const RING_SIZE: u32 = {
    let n = (PAGE_SIZE - 64) / SLOT_SIZE;
    1 << (63 - n.leading_zeros())
};

const REQ_PROD: u64 = 0;
const REQ_EVENT: u64 = 4;
const RSP_PROD: u64 = 8;
const RSP_EVENT: u64 = 12;

/// The shared page at `base` in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRing {
    pub base: GuestPhysAddr,
}

impl SharedRing {
    #[inline(always)]
    fn field(&self, mem: &GuestMemory, off: u64) -> Result<u32, MemoryError> {
        // Fixed-size slice accesses (here and in `set`, `put_*`) compile
        // to plain loads and stores; a length known only inside
        // `GuestMemory` became a `memmove` call per ring index.
        let b = mem.slice(GuestPhysAddr(self.base.0 + off), 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline(always)]
    fn set(&self, mem: &mut GuestMemory, off: u64, v: u32) -> Result<(), MemoryError> {
        mem.slice_mut(GuestPhysAddr(self.base.0 + off), 4)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }

    /// Writes `item` into slot `*prod_pvt` and advances the private producer
    /// index (ring.h `RING_GET_REQUEST`/`RING_GET_RESPONSE` then `++`): not
    /// visible to the other side until pushed.
    #[inline(always)]
    fn put<T: bytemuck::Pod>(&self, mem: &mut GuestMemory, prod_pvt: &mut u32, item: &T) -> Result<(), MemoryError> {
        mem.slice_mut(self.slot(*prod_pvt), size_of::<T>() as u64)?.copy_from_slice(bytemuck::bytes_of(item));
        *prod_pvt = prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// ring.h `RING_PUSH_{REQUESTS,RESPONSES}_AND_CHECK_NOTIFY` (one macro
    /// body for both sides): publish `new` as the producer index at `prod`,
    /// then notify only if the pushed entries cross the other side's event
    /// index at `event`.
    #[inline(always)]
    fn push_and_check_notify(
        &self,
        mem: &mut GuestMemory,
        prod: u64,
        event: u64,
        new: u32,
    ) -> Result<bool, MemoryError> {
        let old = self.field(mem, prod)?;
        // xen_wmb(): the other side sees the entries /before/ the updated producer index.
        self.set(mem, prod, new)?;
        // xen_mb(): the other side sees the new entries /before/ we check its event index.
        let event = self.field(mem, event)?;
        Ok(new.wrapping_sub(event) < new.wrapping_sub(old))
    }

    #[inline(always)]
    pub fn req_prod(&self, mem: &GuestMemory) -> Result<u32, MemoryError> {
        self.field(mem, REQ_PROD)
    }
    #[inline(always)]
    pub fn req_event(&self, mem: &GuestMemory) -> Result<u32, MemoryError> {
        self.field(mem, REQ_EVENT)
    }
    #[inline(always)]
    pub fn rsp_prod(&self, mem: &GuestMemory) -> Result<u32, MemoryError> {
        self.field(mem, RSP_PROD)
    }
    #[inline(always)]
    pub fn rsp_event(&self, mem: &GuestMemory) -> Result<u32, MemoryError> {
        self.field(mem, RSP_EVENT)
    }

    #[inline(always)]
    fn slot(&self, idx: u32) -> GuestPhysAddr {
        GuestPhysAddr(self.base.0 + 64 + u64::from(idx & (RING_SIZE - 1)) * SLOT_SIZE)
    }

    /// ring.h `SHARED_RING_INIT`: producers 0, events 1, padding zeroed
    /// (the whole page is zeroed, as Mini-OS's `memset(s, 0, PAGE_SIZE)`).
    pub fn init(&self, mem: &mut GuestMemory) -> Result<(), MemoryError> {
        mem.fill(self.base, PAGE_SIZE, 0)?;
        self.set(mem, REQ_EVENT, 1)?;
        self.set(mem, RSP_EVENT, 1)
    }
}

/// ring.h front ring (`DEFINE_RING_TYPES` `blkif_front_ring`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontRing {
    pub sring: SharedRing,
    pub req_prod_pvt: u32,
    pub rsp_cons: u32,
}

impl FrontRing {
    /// `XEN_FRONT_RING_INIT`: SHARED_RING_INIT + FRONT_RING_INIT.
    pub fn init(mem: &mut GuestMemory, base: GuestPhysAddr) -> Result<FrontRing, MemoryError> {
        let sring = SharedRing { base };
        sring.init(mem)?;
        Ok(FrontRing { sring, req_prod_pvt: 0, rsp_cons: 0 })
    }

    /// `RING_FREE_REQUESTS`.
    pub fn free_requests(&self) -> u32 {
        RING_SIZE.wrapping_sub(self.req_prod_pvt.wrapping_sub(self.rsp_cons))
    }

    /// `RING_FULL`.
    pub fn full(&self) -> bool {
        self.free_requests() == 0
    }

    /// Writes `req` into slot `req_prod_pvt` and advances it (the request
    /// is not visible to the backend until pushed).
    #[inline(always)]
    pub fn put_request(&mut self, mem: &mut GuestMemory, req: &BlkifRequest) -> Result<(), MemoryError> {
        self.sring.put(mem, &mut self.req_prod_pvt, req)
    }

    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publish `req_prod_pvt`;
    /// notify only if the new requests cross the backend's `req_event`.
    #[inline(always)]
    pub fn push_requests_and_check_notify(&mut self, mem: &mut GuestMemory) -> Result<bool, MemoryError> {
        self.sring.push_and_check_notify(mem, REQ_PROD, REQ_EVENT, self.req_prod_pvt)
    }

    /// The backend's published `rsp_prod`, checked with
    /// `RING_RESPONSE_PROD_OVERFLOW` (an ill-behaved backend).
    #[inline(always)]
    pub fn rsp_prod(&self, mem: &GuestMemory) -> Result<Option<u32>, MemoryError> {
        let prod = self.sring.rsp_prod(mem)?;
        // xen_rmb(): see responses up to `prod` only after reading it.
        Ok((prod.wrapping_sub(self.rsp_cons) <= RING_SIZE).then_some(prod))
    }

    /// `RING_COPY_RESPONSE` of slot `idx`.
    #[inline(always)]
    pub fn response(&self, mem: &GuestMemory, idx: u32) -> Result<BlkifResponse, MemoryError> {
        Ok(bytemuck::pod_read_unaligned(mem.slice(self.sring.slot(idx), 16)?))
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: if nothing is pending, set
    /// `rsp_event = rsp_cons + 1` and look again.
    #[inline(always)]
    pub fn final_check_for_responses(&mut self, mem: &mut GuestMemory) -> Result<bool, MemoryError> {
        if self.sring.rsp_prod(mem)? != self.rsp_cons {
            return Ok(true);
        }
        self.sring.set(mem, RSP_EVENT, self.rsp_cons.wrapping_add(1))?;
        // xen_mb()
        Ok(self.sring.rsp_prod(mem)? != self.rsp_cons)
    }
}

/// ring.h back ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackRing {
    pub sring: SharedRing,
    pub rsp_prod_pvt: u32,
    pub req_cons: u32,
}

impl BackRing {
    /// `BACK_RING_INIT` (the frontend initialised the shared page).
    pub fn attach(base: GuestPhysAddr) -> BackRing {
        BackRing { sring: SharedRing { base }, rsp_prod_pvt: 0, req_cons: 0 }
    }

    /// `RING_REQUEST_PROD_OVERFLOW`: a frontend claiming more requests
    /// than the ring can hold is ill-behaved.
    pub fn request_prod_overflow(&self, prod: u32) -> bool {
        prod.wrapping_sub(self.rsp_prod_pvt) > RING_SIZE
    }

    /// `RING_REQUEST_CONS_OVERFLOW`: would consuming `cons` overrun the
    /// responses not yet produced?
    pub fn request_cons_overflow(&self, cons: u32) -> bool {
        cons.wrapping_sub(self.rsp_prod_pvt) >= RING_SIZE
    }

    /// `RING_HAS_UNCONSUMED_REQUESTS` (min of published and room).
    #[inline(always)]
    pub fn unconsumed_requests(&self, mem: &GuestMemory) -> Result<u32, MemoryError> {
        let req = self.sring.req_prod(mem)?.wrapping_sub(self.req_cons);
        let rsp = RING_SIZE.wrapping_sub(self.req_cons.wrapping_sub(self.rsp_prod_pvt));
        Ok(req.min(rsp))
    }

    /// `RING_COPY_REQUEST` of slot `idx`: the backend works on a private
    /// copy the frontend can no longer change (no double fetch). The slot
    /// is decoded in one unaligned read as the union's largest member;
    /// other layouts are views of it ([`BlkifRequest::as_indirect`]).
    #[inline(always)]
    pub fn copy_request(&self, mem: &GuestMemory, idx: u32) -> Result<BlkifRequest, MemoryError> {
        Ok(bytemuck::pod_read_unaligned(mem.slice(self.sring.slot(idx), SLOT_SIZE)?))
    }

    /// Writes a response at `rsp_prod_pvt` and advances it.
    #[inline(always)]
    pub fn put_response(&mut self, mem: &mut GuestMemory, rsp: &BlkifResponse) -> Result<(), MemoryError> {
        self.sring.put(mem, &mut self.rsp_prod_pvt, rsp)
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`.
    #[inline(always)]
    pub fn push_responses_and_check_notify(&mut self, mem: &mut GuestMemory) -> Result<bool, MemoryError> {
        self.sring.push_and_check_notify(mem, RSP_PROD, RSP_EVENT, self.rsp_prod_pvt)
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: if nothing is pending, set
    /// `req_event = req_cons + 1` and look again.
    #[inline(always)]
    pub fn final_check_for_requests(&mut self, mem: &mut GuestMemory) -> Result<bool, MemoryError> {
        if self.unconsumed_requests(mem)? != 0 {
            return Ok(true);
        }
        self.sring.set(mem, REQ_EVENT, self.req_cons.wrapping_add(1))?;
        // xen_mb()
        Ok(self.unconsumed_requests(mem)? != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_only_when_the_producer_crosses_the_event_index() {
        let mut mem = GuestMemory::new(4 * PAGE_SIZE).unwrap();
        let base = GuestPhysAddr(PAGE_SIZE);
        let mut front = FrontRing::init(&mut mem, base).unwrap();
        let mut back = BackRing::attach(base);
        assert_eq!(front.free_requests(), 32);
        let req = BlkifRequest { id: 7, ..Default::default() };
        front.put_request(&mut mem, &req).unwrap();
        assert!(front.push_requests_and_check_notify(&mut mem).unwrap(), "req_event = 1 is crossed");
        front.put_request(&mut mem, &req).unwrap();
        assert!(!front.push_requests_and_check_notify(&mut mem).unwrap(), "backend has not re-armed");
        assert_eq!(back.unconsumed_requests(&mem).unwrap(), 2);
        let r = back.copy_request(&mem, 0).unwrap();
        assert_eq!(r.id, 7);
        back.req_cons = 2;
        assert!(!back.final_check_for_requests(&mut mem).unwrap());
        assert_eq!(mem.read_u32(base).unwrap(), 2);
        assert_eq!(mem.read_u32(GuestPhysAddr(base.0 + 4)).unwrap(), 3, "req_event re-armed");
        back.put_response(&mut mem, &BlkifResponse { id: 7, ..Default::default() }).unwrap();
        assert!(back.push_responses_and_check_notify(&mut mem).unwrap());
        back.put_response(&mut mem, &BlkifResponse { id: 8, ..Default::default() }).unwrap();
        assert!(!back.push_responses_and_check_notify(&mut mem).unwrap());
        assert_eq!(front.rsp_prod(&mem).unwrap(), Some(2));
        assert_eq!(front.response(&mem, 1).unwrap().id, 8);
        front.rsp_cons = 2;
        assert!(!front.final_check_for_responses(&mut mem).unwrap());
        assert_eq!(mem.read_u32(GuestPhysAddr(base.0 + 12)).unwrap(), 3);
        assert!(back.request_prod_overflow(40));
        assert!(!back.request_prod_overflow(34));
    }
}
