//! The Xen PV devices end to end: blkif layouts, the xenstore handshake,
//! whole-image reads through blkfront against direct reads, inspect over
//! blkfront, exact I/O counters, every rejection status, the cost model's
//! direction, and the fuzz corpus.

use std::path::PathBuf;
use std::sync::Arc;

use devices::xen::blkback::{BlkbackConfig, DataPath};
use devices::xen::blkfront::BlkfrontConfig;
use devices::xen::blkif::*;
use devices::xen::grant::NR_RESERVED_ENTRIES;
use devices::{BlkfrontDisk, PvError, PvIo, PvIoConfig};
use disk_image::{Disk, MemImage, RawImage, ReadAt};
use machine::{CostKey, CostModel, EventKind, GrantOpKind, GuestMemory, GuestPhysAddr, PAGE_SIZE, Pfn, Sim, XsOp};
use proptest::prelude::*;

const MIB: u64 = 1 << 20;

fn pv_with(image: Arc<dyn ReadAt>, cost: CostModel, front: BlkfrontConfig, back: BlkbackConfig) -> PvIo {
    let memory = GuestMemory::new(16 * MIB).unwrap();
    let config = PvIoConfig { scratch: GuestPhysAddr(8 * MIB), front, back, ..PvIoConfig::default() };
    PvIo::new(image, memory, Sim::new(cost), config).unwrap()
}

fn pv(image: Arc<dyn ReadAt>) -> PvIo {
    pv_with(image, CostModel::default(), BlkfrontConfig::default(), BlkbackConfig::default())
}

fn pattern(sectors: usize) -> Vec<u8> {
    (0..sectors * 512).map(|i| ((i / 512) as u8).wrapping_mul(31) ^ (i as u8)).collect()
}

fn mem_image(sectors: usize) -> Arc<dyn ReadAt> {
    Arc::new(MemImage::new(pattern(sectors), "pattern"))
}

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "img"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "fixtures missing in {}", dir.display());
    v
}

#[test]
fn blkif_layout_matches_blkif_h() {
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<BlkifRequest>(), 112);
    assert_eq!(size_of::<BlkifRequestSegment>(), 8);
    assert_eq!(size_of::<BlkifResponse>(), 16);
    assert_eq!(size_of::<BlkifSringHeader>(), 64);
    assert_eq!(offset_of!(BlkifRequest, id), 8);
    assert_eq!(offset_of!(BlkifRequest, sector_number), 16);
    assert_eq!(offset_of!(BlkifRequest, seg), 24);
    assert_eq!(offset_of!(BlkifResponse, status), 10);
    assert_eq!(RING_SIZE, 32);
    assert_eq!(64 + u64::from(RING_SIZE) * SLOT_SIZE, 3648, "32 slots fit a 4 KiB page");
    assert_eq!(
        (BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT),
        (0, 1, 3, 5, 6)
    );
    assert_eq!((BLKIF_RSP_OKAY, BLKIF_RSP_ERROR, BLKIF_RSP_EOPNOTSUPP), (0, -1, -2));
    // A request's bytes as the backend reads them from the ring.
    let mut r = BlkifRequest {
        operation: 0,
        nr_segments: 2,
        handle: 51712,
        id: 0x1122,
        sector_number: 9,
        ..Default::default()
    };
    r.seg[1] = BlkifRequestSegment { gref: 77, first_sect: 1, last_sect: 7, _pad: [0; 2] };
    let b = bytemuck::bytes_of(&r);
    assert_eq!(&b[0..4], &[0, 2, 0x00, 0xCA]);
    assert_eq!(&b[8..10], &[0x22, 0x11]);
    assert_eq!(&b[32..38], &[77, 0, 0, 0, 1, 7]);
}

#[test]
fn handshake_follows_the_blkif_state_diagram() {
    let pv = pv(mem_image(100));
    let xs = &pv.platform().xenstore;
    let (fe, be) = (pv.frontend_path().to_string(), pv.backend_path().to_string());
    assert_eq!(fe, "/local/domain/1/device/vbd/51712");
    assert_eq!(be, "/local/domain/0/backend/vbd/1/51712");
    assert_eq!(xs.peek(&format!("{fe}/state")), Some("4"));
    assert_eq!(xs.peek(&format!("{be}/state")), Some("4"));
    assert_eq!(xs.peek(&format!("{fe}/protocol")), Some("x86_64-abi"));
    assert_eq!(xs.peek(&format!("{fe}/ring-ref")), Some(NR_RESERVED_ENTRIES.to_string().as_str()));
    assert_eq!(xs.peek(&format!("{fe}/event-channel")), Some("1"));
    assert_eq!(xs.peek(&format!("{be}/sectors")), Some("100"));
    assert_eq!(xs.peek(&format!("{be}/info")), Some("4"), "VDISK_READONLY");
    assert_eq!(xs.peek(&format!("{be}/sector-size")), Some("512"));
    assert_eq!(xs.peek(&format!("{be}/mode")), Some("r"));
    // The order of state writes: front 1, back 1, back 2 (InitWait),
    // front 3 (Initialised), back 4, front 4.
    let states: Vec<&str> = pv
        .sim()
        .trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Xenstore { op: XsOp::Write, path } if path.ends_with("/state") => Some(path.as_str()),
            _ => None,
        })
        .collect();
    let f = format!("{fe}/state");
    let b = format!("{be}/state");
    assert_eq!(states, [&f, &b, &b, &f, &b, &f]);
    // ring-ref, event-channel, protocol are written before Initialised;
    // sectors before the backend's Connected.
    let writes: Vec<String> = pv
        .sim()
        .trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Xenstore { op: XsOp::Write, path } => Some(path.clone()),
            _ => None,
        })
        .collect();
    let pos = |p: &str| writes.iter().position(|w| w == p).unwrap();
    let fe_init = writes.iter().rposition(|w| *w == f).unwrap();
    assert!(pos(&format!("{fe}/ring-ref")) < pos(&format!("{fe}/event-channel")));
    assert!(pos(&format!("{fe}/protocol")) < writes.iter().enumerate().filter(|(_, w)| **w == f).nth(1).unwrap().0);
    assert!(pos(&format!("{be}/sectors")) < fe_init);
    let c = pv.sim().trace.counters();
    assert_eq!(c.hypercalls(32), 2, "alloc_unbound + bind_interdomain");
    assert_eq!(c.hypercalls(20), 1, "the backend maps the ring page");
    assert_eq!(pv.platform().grants.live_mappings(), 1);
}

#[test]
fn handshake_rejects_a_scratch_region_outside_memory() {
    let memory = GuestMemory::new(MIB).unwrap();
    let config = PvIoConfig { scratch: GuestPhysAddr(MIB - PAGE_SIZE), ..PvIoConfig::default() };
    let err = PvIo::new(mem_image(8), memory, Sim::new(CostModel::default()), config).unwrap_err();
    assert!(matches!(err, PvError::Config(_)), "{err}");
}

#[test]
fn every_fixture_reads_the_same_through_blkfront() {
    for path in fixtures() {
        let raw: Arc<dyn ReadAt> = Arc::new(RawImage::open(&path).unwrap());
        let disk = BlkfrontDisk::new(pv(raw.clone()));
        // A vbd has whole sectors: a trailing partial sector is not there.
        assert_eq!(disk.size(), raw.size() / 512 * 512, "{}", path.display());
        let mut via_ring = vec![0u8; disk.size() as usize];
        disk.read_exact_at(0, &mut via_ring).unwrap();
        let mut direct = vec![0u8; disk.size() as usize];
        raw.read_exact_at(0, &mut direct).unwrap();
        assert!(via_ring == direct, "{} differs", path.display());
        let pv = disk.lock().unwrap();
        let c = pv.sim().trace.counters();
        let sectors = raw.size() / 512;
        assert_eq!(c.disk_bytes(), sectors * 512);
        assert_eq!(c.requests_pushed(), sectors.div_ceil(88));
        assert_eq!(c.responses_failed(), 0);
    }
}

#[test]
fn inspect_over_blkfront_equals_inspect_over_the_raw_image() {
    for path in fixtures() {
        let raw = RawImage::open(&path).unwrap();
        if !raw.size().is_multiple_of(512) {
            continue; // truncated.img: not a whole-sector vbd (checked above)
        }
        let raw_name = raw.describe();
        let direct = Disk::from_reader(Arc::new(raw)).and_then(|d| boot_config::inspect::inspect(&d));
        let raw: Arc<dyn ReadAt> = Arc::new(RawImage::open(&path).unwrap());
        let blk = Arc::new(BlkfrontDisk::new(pv(raw)));
        let blk_name = blk.describe();
        let via = Disk::from_reader(blk.clone()).and_then(|d| boot_config::inspect::inspect(&d));
        match (direct, via) {
            (Ok(a), Ok(b)) => {
                let a = serde_json::to_string(&a).unwrap();
                let b = serde_json::to_string(&b).unwrap().replace(&blk_name, &raw_name);
                assert_eq!(a, b, "{}", path.display());
                let pv = blk.lock().unwrap();
                let c = pv.sim().trace.counters();
                assert!(c.requests_pushed() > 0 && c.responses() == c.requests_pushed(), "{}", path.display());
                assert_eq!(c.grant_ops(GrantOpKind::Map), c.segments_pushed() + 1, "segments and the ring page");
                assert_eq!(c.grant_ops(GrantOpKind::Unmap), c.segments_pushed());
                assert_eq!(
                    c.grant_ops(GrantOpKind::EndAccess),
                    c.grant_ops(GrantOpKind::Access) - 1,
                    "{}: all but the ring; {:?}",
                    path.display(),
                    pv.sim().summary()
                );
            }
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string().replace(&blk_name, &raw_name), "{}", path.display())
            }
            (a, b) => panic!("{}: raw {:?} vs blkfront {:?}", path.display(), a.is_ok(), b.is_ok()),
        }
    }
}

/// The reference pattern: 64 KiB at sector 0 = 128 sectors = 2 requests
/// (11 + 5 segments of 4 KiB).
#[test]
fn reference_read_counters_are_exact() {
    let cost = CostModel::default();
    let mut pv = pv(mem_image(1024));
    let before = pv.sim().trace.counters().clone();
    let t0 = pv.sim().now();
    let mut buf = vec![0u8; 64 * 1024];
    pv.read_sectors(0, &mut buf).unwrap();
    assert_eq!(buf, pattern(128));
    let c = pv.sim().trace.counters();
    let d = |f: fn(&machine::trace::Counters) -> u64| f(c) - f(&before);
    assert_eq!(d(|c| c.requests_pushed()), 2);
    assert_eq!(d(|c| c.segments_pushed()), 16);
    assert_eq!(d(|c| c.requests_consumed()), 2);
    assert_eq!(d(|c| c.responses()), 2);
    assert_eq!(d(|c| c.grant_ops(GrantOpKind::Access)), 16);
    assert_eq!(d(|c| c.grant_ops(GrantOpKind::Map)), 16);
    assert_eq!(d(|c| c.grant_ops(GrantOpKind::Unmap)), 16);
    assert_eq!(d(|c| c.grant_ops(GrantOpKind::EndAccess)), 16);
    // Both requests are pushed before the backend runs: the first push
    // crosses req_event (1 notify), the second does not; the backend's
    // first response crosses rsp_event (1 notify back), the second not.
    assert_eq!(d(|c| c.notifies()), 2);
    assert_eq!(d(|c| c.notifies_on(1, 1)), 1, "domU port 1");
    assert_eq!(d(|c| c.notifies_on(0, 1)), 1, "dom0 port 1");
    assert_eq!(d(|c| c.upcalls_on(0, 1) + c.upcalls_on(1, 1)), 2);
    assert_eq!(d(|c| c.hypercalls(32)), 2, "EVTCHNOP_send ×2");
    assert_eq!(d(|c| c.hypercalls(20)), 4, "map + unmap per request");
    assert_eq!(d(|c| c.disk_bytes()), 65536);
    // Simulated time, from the cost model alone.
    let expect = 6 * cost.ns(CostKey::Hypercall)
        + 16 * cost.ns(CostKey::GrantMap)
        + 16 * (cost.ns(CostKey::GrantUnmap) + cost.ns(CostKey::TlbFlushPage))
        + 2 * cost.ns(CostKey::EvtchnUpcall)
        + 2 * cost.ns(CostKey::DiskRequest)
        + cost.disk_transfer_ns(45056)
        + cost.disk_transfer_ns(20480);
    assert_eq!(pv.sim().now().0 - t0.0, expect);

    // Mini-OS (PV-GRUB) waits for each request: 2 notifies per request.
    let mut pv = pv_with(mem_image(1024), cost, BlkfrontConfig::mini_os(), BlkbackConfig::default());
    let before = pv.sim().trace.counters().notifies();
    pv.read_sectors(0, &mut buf).unwrap();
    assert_eq!(pv.sim().trace.counters().notifies() - before, 4);
}

#[test]
fn grant_copy_persistent_and_indirect_paths_read_the_same_bytes() {
    let want = pattern(2048);
    let configs = [
        (BlkfrontConfig::default(), BlkbackConfig { data_path: DataPath::Copy, ..Default::default() }),
        (
            BlkfrontConfig { persistent: true, ..Default::default() },
            BlkbackConfig { persistent: true, ..Default::default() },
        ),
        (
            BlkfrontConfig { indirect_segments: 32, ..Default::default() },
            BlkbackConfig { max_indirect_segments: 256, ..Default::default() },
        ),
        (
            BlkfrontConfig { indirect_segments: 32, persistent: true, max_outstanding: 4 },
            BlkbackConfig { max_indirect_segments: 256, persistent: true, data_path: DataPath::Map },
        ),
    ];
    for (front, back) in configs {
        let mut pv = pv_with(mem_image(2048), CostModel::default(), front, back);
        let mut buf = vec![0u8; 2048 * 512];
        for _ in 0..2 {
            pv.read_sectors(0, &mut buf).unwrap();
            assert!(buf == want, "{front:?} {back:?}");
        }
        let c = pv.sim().trace.counters();
        let (persistent, indirect) = pv.frontend().features();
        assert_eq!(persistent, front.persistent);
        assert_eq!(indirect, front.indirect_segments);
        let per_req = if indirect > 0 { 256 } else { 88 };
        assert_eq!(c.requests_pushed(), 2 * 2048u64.div_ceil(per_req), "{front:?} {back:?}");
        match (back.data_path, persistent) {
            (DataPath::Copy, _) => {
                assert_eq!(c.grant_ops(GrantOpKind::Copy), 512);
                assert_eq!(c.grant_ops(GrantOpKind::Map), 1, "only the ring");
            }
            (DataPath::Map, true) => {
                assert!(c.grant_ops(GrantOpKind::Map) < 512, "persistent grants are mapped once");
                assert_eq!(c.memcpy_bytes(), 2 * 2048 * 512, "data copied out of the pool");
                assert!(pv.backend().stats().persistent_hits > 0);
            }
            (DataPath::Map, false) => assert_eq!(c.grant_ops(GrantOpKind::Map), 512 + 1 + 2 * 2048 / 256),
        }
    }
}

#[test]
fn unaligned_reads_become_whole_sector_reads() {
    let disk = BlkfrontDisk::new(pv(mem_image(64)));
    let want = pattern(64);
    let mut b = vec![0u8; 1000];
    disk.read_exact_at(700, &mut b).unwrap();
    assert_eq!(b, &want[700..1700]);
    let c = disk.lock().unwrap().sim().trace.counters().disk_bytes();
    assert_eq!(c, 3 * 512, "sectors 1..=3 (bytes 512..2048)");
    let err = disk.read_exact_at(64 * 512 - 10, &mut b).unwrap_err().to_string();
    assert!(err.contains("past the end"), "{err}");
    let pv = disk.into_inner().unwrap();
    let (mem, sim) = pv.into_parts();
    assert!(mem.touched_pages() > 0 && sim.now().0 > 0);
}

/// The status Linux xen-blkback answers a request with, on a read-only
/// vbd of `sectors` sectors where grants in `ok_grefs` are writable.
fn expected_status(raw: &[u8; 112], sectors: u64, ok_grefs: &[u32]) -> i16 {
    let op = raw[0];
    let nseg = usize::from(raw[1]);
    let sector = u64::from_le_bytes(raw[16..24].try_into().unwrap());
    match op {
        0..=3 => {
            let flush = op == 2 || op == 3;
            if (nseg == 0 && !flush) || nseg > 11 {
                return BLKIF_RSP_ERROR;
            }
            let mut n = 0u64;
            for i in 0..nseg {
                let s = &raw[24 + 8 * i..32 + 8 * i];
                let (first, last) = (s[4], s[5]);
                if last >= 8 || last < first {
                    return BLKIF_RSP_ERROR;
                }
                n += u64::from(last - first + 1);
            }
            if op != 0 || sector.checked_add(n).is_none_or(|e| e > sectors) {
                return BLKIF_RSP_ERROR;
            }
            let all_ok = (0..nseg)
                .all(|i| ok_grefs.contains(&u32::from_le_bytes(raw[24 + 8 * i..28 + 8 * i].try_into().unwrap())));
            if all_ok { BLKIF_RSP_OKAY } else { BLKIF_RSP_ERROR }
        }
        5 => BLKIF_RSP_ERROR,
        _ => BLKIF_RSP_EOPNOTSUPP,
    }
}

fn raw_request(op: u8, id: u64, sector: u64, segs: &[(u32, u8, u8)], nr: u8) -> [u8; 112] {
    let mut r =
        BlkifRequest { operation: op, nr_segments: nr, handle: 51712, id, sector_number: sector, ..Default::default() };
    for (i, &(gref, first, last)) in segs.iter().take(11).enumerate() {
        r.seg[i] = BlkifRequestSegment { gref, first_sect: first, last_sect: last, _pad: [0; 2] };
    }
    bytemuck::cast(r)
}

struct RawRig {
    pv: PvIo,
    writable: Vec<u32>,
    readonly: u32,
}

fn rig() -> RawRig {
    let mut pv = pv(mem_image(64));
    let writable = (0..11).map(|i| pv.grant_page(Pfn(16 + i), false).unwrap()).collect();
    let readonly = pv.grant_page(Pfn(40), true).unwrap();
    RawRig { pv, writable, readonly }
}

#[test]
fn every_rejection_gets_blkbacks_status() {
    let mut r = rig();
    let w = r.writable[0];
    let cases: Vec<(&str, [u8; 112], i16)> = vec![
        ("good read", raw_request(0, 1, 0, &[(w, 0, 7)], 1), BLKIF_RSP_OKAY),
        ("nr_segments 0", raw_request(0, 2, 0, &[], 0), BLKIF_RSP_ERROR),
        ("nr_segments 12", raw_request(0, 3, 0, &[(w, 0, 7)], 12), BLKIF_RSP_ERROR),
        ("first_sect > last_sect", raw_request(0, 4, 0, &[(w, 5, 4)], 1), BLKIF_RSP_ERROR),
        ("last_sect 8", raw_request(0, 5, 0, &[(w, 0, 8)], 1), BLKIF_RSP_ERROR),
        ("past the end", raw_request(0, 6, 60, &[(w, 0, 7)], 1), BLKIF_RSP_ERROR),
        ("sector wraps", raw_request(0, 7, u64::MAX - 2, &[(w, 0, 7)], 1), BLKIF_RSP_ERROR),
        ("write on a read-only vbd", raw_request(1, 8, 0, &[(w, 0, 7)], 1), BLKIF_RSP_ERROR),
        ("write barrier", raw_request(2, 9, 0, &[], 0), BLKIF_RSP_ERROR),
        ("flush", raw_request(3, 10, 0, &[], 0), BLKIF_RSP_ERROR),
        ("discard", raw_request(5, 11, 0, &[], 0), BLKIF_RSP_ERROR),
        ("indirect (not offered)", raw_request(6, 12, 0, &[], 0), BLKIF_RSP_EOPNOTSUPP),
        ("reserved op 4", raw_request(4, 13, 0, &[], 0), BLKIF_RSP_EOPNOTSUPP),
        ("unknown op 200", raw_request(200, 14, 0, &[], 0), BLKIF_RSP_EOPNOTSUPP),
        ("read into a read-only grant", raw_request(0, 15, 0, &[(r.readonly, 0, 7)], 1), BLKIF_RSP_ERROR),
        ("ungranted ref", raw_request(0, 16, 0, &[(5, 0, 7)], 1), BLKIF_RSP_ERROR),
        ("ref past the table", raw_request(0, 17, 0, &[(1 << 30, 0, 7)], 1), BLKIF_RSP_ERROR),
    ];
    for (what, req, want) in cases {
        let rsp = r.pv.submit_raw(&req).unwrap().expect("a response");
        assert_eq!(rsp.status, want, "{what}");
        assert_eq!(rsp.id, u64::from_le_bytes(req[8..16].try_into().unwrap()), "{what}: id echoed");
        assert_eq!(rsp.operation, req[0], "{what}: op echoed");
        assert_eq!(r.pv.platform().grants.live_mappings(), 1, "{what}: nothing left mapped");
    }
    // A bogus producer index halts the ring, as Linux does.
    let ring = r.pv.frontend().ring_page();
    let x = r.pv.platform_mut();
    let cons = x.memory.read_u32(ring).unwrap();
    x.memory.write_u32(ring, cons + 40).unwrap();
    x.evtchn.send(&mut x.sim, devices::xen::grant::DomId(1), 1).unwrap();
    let err = r.pv.run_backend().unwrap_err();
    assert!(err.to_string().contains("bogus ring requests"), "{err}");
    assert!(r.pv.backend().is_halted());
}

#[test]
fn a_failed_request_reports_its_sector_and_leaves_the_ring_clean() {
    // An image whose reads fail past 16 KiB: the blkif status is ERROR.
    struct Flaky(Vec<u8>);
    impl ReadAt for Flaky {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> disk_image::Result<()> {
            if offset >= 88 * 512 {
                return Err(disk_image::DiskError::Io {
                    what: "flaky".into(),
                    offset: disk_image::ByteOffset(offset),
                    len: buf.len(),
                    source: std::io::Error::other("media error"),
                });
            }
            buf.copy_from_slice(&self.0[offset as usize..offset as usize + buf.len()]);
            Ok(())
        }
        fn describe(&self) -> String {
            "flaky".into()
        }
    }
    let mut pv = pv(Arc::new(Flaky(pattern(256))));
    let mut buf = vec![0u8; 256 * 512];
    let err = pv.read_sectors(0, &mut buf).unwrap_err();
    assert!(matches!(err, PvError::Io { sector: 88, status: BLKIF_RSP_ERROR, .. }), "{err}");
    assert_eq!(pv.frontend().inflight(), 0);
    assert_eq!(pv.platform().grants.live_mappings(), 1);
    let mut small = vec![0u8; 4096];
    pv.read_sectors(0, &mut small).unwrap();
    assert_eq!(small, &pattern(8)[..]);
}

#[test]
fn changing_a_cost_moves_simulated_time_the_expected_way() {
    let run = |toml: &str| {
        let cost = CostModel::from_toml_str(toml).unwrap();
        let mut pv = pv_with(mem_image(1024), cost, BlkfrontConfig::mini_os(), BlkbackConfig::default());
        let t0 = pv.sim().now();
        let mut buf = vec![0u8; 256 * 512];
        pv.read_sectors(0, &mut buf).unwrap();
        pv.sim().now().0 - t0.0
    };
    let base = run("");
    assert!(run("hypercall_cycles = 8000") > base);
    assert!(run("hypercall_cycles = 1000") < base);
    assert!(run("cpu_ghz = 6.0") < base);
    assert!(run("disk_profile = \"instance-store\"") < base);
    assert!(run("disk_profile = \"ideal\"") < run("disk_profile = \"instance-store\""));
    assert!(run("tlb_flush_page_ns = 1000") > base);
    assert_eq!(run("vm_exit_cycles = 99999"), base, "no VM exits on the PV path");
    let err = CostModel::from_toml_str("grant_map_cycles = 1").unwrap_err().to_string();
    assert!(err.contains("grant_map_cycles"), "{err}");
}

#[test]
fn blkif_ring_fuzz_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/blkif_ring");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    for f in files {
        devices::xen::fuzzing::blkif_ring(&std::fs::read(&f).unwrap());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_reads_match_and_counters_add_up(
        reads in proptest::collection::vec((0u64..2000, 1u64..300), 1..6),
        qd in 1u32..=32,
    ) {
        let image = pattern(2048);
        let front = BlkfrontConfig { max_outstanding: qd, ..Default::default() };
        let mut pv = pv_with(Arc::new(MemImage::new(image.clone(), "p")), CostModel::default(), front, BlkbackConfig::default());
        let before = pv.sim().trace.counters().clone();
        let (mut sectors_total, mut want_reqs, mut want_segs) = (0u64, 0u64, 0u64);
        for (start, n) in reads {
            let n = n.min(2048 - start);
            let mut buf = vec![0u8; (n * 512) as usize];
            pv.read_sectors(start, &mut buf).unwrap();
            prop_assert!(buf == image[(start * 512) as usize..((start + n) * 512) as usize]);
            sectors_total += n;
            want_reqs += n.div_ceil(88);
            want_segs += n / 88 * 11 + (n % 88).div_ceil(8);
        }
        let c = pv.sim().trace.counters();
        let reqs = c.requests_pushed() - before.requests_pushed();
        let segs = c.segments_pushed() - before.segments_pushed();
        prop_assert_eq!(reqs, want_reqs);
        prop_assert_eq!(segs, want_segs);
        prop_assert!(segs >= (sectors_total * 512).div_ceil(4096));
        prop_assert!(reqs >= segs.div_ceil(11));
        prop_assert_eq!(c.grant_ops(GrantOpKind::Map) - before.grant_ops(GrantOpKind::Map), segs);
        prop_assert_eq!(c.grant_ops(GrantOpKind::EndAccess) - before.grant_ops(GrantOpKind::EndAccess), segs);
        prop_assert_eq!(c.hypercalls(20) - before.hypercalls(20), 2 * reqs);
        prop_assert_eq!(c.disk_bytes() - before.disk_bytes(), sectors_total * 512);
        let notifies = c.notifies() - before.notifies();
        prop_assert!(notifies >= 2 && notifies <= 2 * reqs);
        prop_assert_eq!(c.responses_failed(), 0);
    }

    #[test]
    fn malformed_requests_get_the_right_status(
        op in prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(5), Just(6), any::<u8>()],
        nr in prop_oneof![0u8..=12, any::<u8>()],
        sector in prop_oneof![0u64..70, any::<u64>()],
        segs in proptest::collection::vec((0usize..14, 0u8..10, 0u8..10), 11),
        id in any::<u64>(),
    ) {
        let mut r = rig();
        let pick = |k: usize| match k {
            0..=10 => r.writable[k],
            11 => r.readonly,
            12 => 3,
            _ => u32::MAX,
        };
        let segs: Vec<(u32, u8, u8)> = segs.into_iter().map(|(k, f, l)| (pick(k), f, l)).collect();
        let raw = raw_request(op, id, sector, &segs, nr);
        let want = expected_status(&raw, 64, &r.writable);
        let rsp = r.pv.submit_raw(&raw).unwrap().expect("a response");
        prop_assert_eq!(rsp.status, want);
        prop_assert_eq!(rsp.id, id);
        prop_assert_eq!(r.pv.platform().grants.live_mappings(), 1);
    }
}
