//! Entry point shared by the `blkif_ring` fuzz target and the corpus
//! replay test: arbitrary bytes become the shared ring page (indices,
//! event indices and all 32 slots) of a connected vbd over a small
//! in-memory image; blkback consumes whatever that claims to be. It must
//! never panic, never write outside the frontend's granted pages, and
//! answer only with blkif.h statuses.

use std::sync::Arc;

use disk_image::MemImage;

use machine::{CostModel, GuestMemory, GuestPhysAddr, PAGE_SIZE, Pfn, Sim};

use super::blkback::{BackendError, BlkbackConfig, DataPath};
use super::blkfront::BlkfrontConfig;
use super::blkif::{BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, BlkifResponse, RING_SIZE};
use super::grant::DomId;
use super::{PvError, PvIo, PvIoConfig};

/// Image: 64 sectors with a recognisable pattern.
const IMAGE_SECTORS: usize = 64;

pub fn blkif_ring(data: &[u8]) {
    // Byte 0 picks the backend's options, the rest is the ring page.
    let (opts, page) = data.split_first().unwrap_or((&0, &[]));
    let back = BlkbackConfig {
        data_path: if opts & 1 != 0 { DataPath::Copy } else { DataPath::Map },
        persistent: opts & 2 != 0,
        max_indirect_segments: if opts & 4 != 0 { 64 } else { 0 },
    };
    let front = BlkfrontConfig { max_outstanding: 1, persistent: opts & 2 != 0, indirect_segments: 0 };
    let image: Vec<u8> = (0..IMAGE_SECTORS * 512).map(|i| (i / 512) as u8 ^ (i as u8)).collect();
    let memory = GuestMemory::new(64 * PAGE_SIZE).expect("64 pages");
    let config = PvIoConfig { scratch: GuestPhysAddr(16 * PAGE_SIZE), front, back, ..PvIoConfig::default() };
    let mut pv =
        PvIo::new(Arc::new(MemImage::new(image, "fuzz")), memory, Sim::with_trace_cap(CostModel::default(), 0), config)
            .expect("the handshake succeeds");
    // Grants a request may name: refs after the frontend's, writable and
    // read-only, some on pages outside the scratch area.
    for (i, pfn) in [2u64, 3, 4, 5, 40, 63].into_iter().enumerate() {
        pv.grant_page(Pfn(pfn), i % 3 == 2).expect("grant");
    }
    let ring = pv.frontend().ring.sring.base;
    let mut bytes = [0u8; PAGE_SIZE as usize];
    let n = page.len().min(bytes.len());
    bytes[..n].copy_from_slice(&page[..n]);
    let x = pv.platform_mut();
    x.memory.write(ring, &bytes).expect("ring page is in memory");
    // The frontend notifies (its port is 1): the backend's port goes pending.
    let x = pv.platform_mut();
    x.evtchn.send(&mut x.sim, DomId(1), 1).expect("the frontend's port is bound");
    let consumed = match pv.run_backend() {
        Ok(n) => n,
        Err(PvError::Backend(BackendError::BogusRing { .. })) => {
            assert!(pv.backend().is_halted());
            return;
        }
        Err(e) => panic!("backend failed on a fuzzed ring: {e}"),
    };
    assert!(consumed <= RING_SIZE, "consumed {consumed} > ring size");
    // Every response slot written carries a blkif.h status.
    let mem = pv.memory();
    if consumed > 0 {
        // The backend's rsp_prod_pvt started at 0 after the handshake.
        let rsp_prod = mem.read_u32(GuestPhysAddr(ring.0 + 8)).expect("ring");
        assert_eq!(rsp_prod, consumed, "one response per request consumed");
    }
    for i in 0..consumed {
        let idx = i & (RING_SIZE - 1);
        let at = GuestPhysAddr(ring.0 + 64 + u64::from(idx) * 112);
        let rsp: BlkifResponse = bytemuck::pod_read_unaligned(mem.slice(at, 16).expect("slot"));
        assert!(matches!(rsp.status, BLKIF_RSP_OKAY | BLKIF_RSP_ERROR | BLKIF_RSP_EOPNOTSUPP), "{rsp:?}");
    }
    // No grant stays mapped unless persistent.
    if opts & 2 == 0 {
        assert_eq!(pv.platform().grants.live_mappings(), 1, "only the ring page stays mapped");
    }
}
