//! `boot::bench`: the four I/O paths over the same workloads, asserted from
//! the simulation (never from constants).

use std::sync::Arc;

use boot::bench::{self, BenchConfig, IoPath, PathResult, Workload, synthetic_image};
use boot::machine::CostModel;
use disk_image::ReadAt;

const MIB: u64 = 1 << 20;

fn run(cost: &CostModel, workloads: Vec<Workload>) -> Vec<PathResult> {
    run_paths(cost, workloads, &IoPath::ALL)
}

fn run_paths(cost: &CostModel, workloads: Vec<Workload>, paths: &[IoPath]) -> Vec<PathResult> {
    let size = workloads.iter().map(|w| w.total_bytes).max().unwrap_or(MIB).max(8 * MIB);
    let image: Arc<dyn ReadAt> = synthetic_image(size);
    let config = BenchConfig { workloads, paths: paths.to_vec(), ..BenchConfig::default() };
    bench::run(image, cost, &config, &mut |_| {}).expect("bench runs").results
}

fn get(rs: &[PathResult], p: IoPath) -> &PathResult {
    rs.iter().find(|r| r.path == p).expect("path ran")
}

fn small() -> Vec<Workload> {
    vec![Workload::seq(4 * MIB, 64 << 10)]
}

#[test]
fn pvhvm_is_pv_plus_the_one_time_switch_and_within_ten_percent() {
    // The default report's size: the switch is paid once per boot.
    for w in [Workload::seq(64 * MIB, 64 << 10), Workload::rand(64 * MIB, 4 << 10, 32)] {
        let rs = run_paths(&CostModel::default(), vec![w], &[IoPath::Pv, IoPath::Pvhvm]);
        let (pv, pvhvm) = (get(&rs, IoPath::Pv), get(&rs, IoPath::Pvhvm));
        assert_eq!(pvhvm.sim_ns, pv.sim_ns + pvhvm.switch_ns, "the same ring work");
        assert!(pvhvm.sim_ns as f64 <= pv.sim_ns as f64 * 1.10, "PVHVM {} ns vs PV {} ns", pvhvm.sim_ns, pv.sim_ns);
        assert_eq!((pvhvm.ring_requests, pvhvm.grants), (pv.ring_requests, pv.grants));
    }
}

#[test]
fn pv_beats_emulated_ide() {
    for w in [Workload::seq(4 * MIB, 4 << 10), Workload::seq(4 * MIB, 64 << 10), Workload::rand(2 * MIB, 4 << 10, 32)] {
        let rs = run(&CostModel::default(), vec![w.clone()]);
        let (pio, dma, pv, pvhvm) =
            (get(&rs, IoPath::IdePio), get(&rs, IoPath::IdeDma), get(&rs, IoPath::Pv), get(&rs, IoPath::Pvhvm));
        for r in &rs {
            assert_eq!(r.bytes, w.total_bytes, "{r:?}");
            assert!(r.sim_ns > 0);
        }
        assert!(pv.mib_per_s > pio.mib_per_s, "PV {} vs PIO {} ({w:?})", pv.mib_per_s, pio.mib_per_s);
        assert!(pv.mib_per_s > dma.mib_per_s, "PV {} vs DMA {} ({w:?})", pv.mib_per_s, dma.mib_per_s);
        assert!(pvhvm.mib_per_s > dma.mib_per_s);
        // The switch is real work: exits on port 0x10 and the PCI ports.
        assert!(pvhvm.switch_ns > 0 && pvhvm.sim_ns > pv.sim_ns);
        assert!(pvhvm.exits_by_port.iter().any(|p| p.port == 0x10 && p.writes >= 2), "{:?}", pvhvm.exits_by_port);
        assert_eq!(pv.exits, 0);
        assert!(pv.ring_requests > 0 && pv.notifies > 0);
    }
}

#[test]
fn emulated_time_is_dominated_by_exits_and_dma_needs_fewer_exits_per_sector() {
    let rs = run(&CostModel::default(), small());
    let (pio, dma) = (get(&rs, IoPath::IdePio), get(&rs, IoPath::IdeDma));
    for r in [pio, dma] {
        assert!(r.exit_cost_share > 0.5, "{}: exit share {}", r.path.name(), r.exit_cost_share);
        let by_port: u64 = r.exits_by_port.iter().map(|p| p.reads + p.writes).sum();
        assert_eq!(by_port, r.exits);
        assert_eq!(r.effective_queue_depth, 1);
    }
    assert!(
        dma.exits_per_sector < pio.exits_per_sector,
        "DMA {} vs PIO {}",
        dma.exits_per_sector,
        pio.exits_per_sector
    );
    // One command per 64 KiB request on both.
    assert_eq!(pio.ata_commands, pio.ops);
    assert_eq!(dma.ata_commands, dma.ops);
    assert_eq!(dma.bytes_copied, dma.bytes);
    assert_eq!(pio.bytes_copied, pio.bytes);
}

#[test]
fn cheaper_device_model_exits_narrow_the_gap() {
    let base = run(&CostModel::default(), small());
    let cheap = CostModel::from_toml_str(&format!(
        "pio_device_model_cycles = {}",
        CostModel::default().params().pio_device_model_cycles / 10
    ))
    .unwrap();
    let cheap = run(&cheap, small());
    for p in [IoPath::IdePio, IoPath::IdeDma] {
        assert!(get(&cheap, p).mib_per_s > get(&base, p).mib_per_s, "{p:?} faster with cheaper exits");
        assert!(get(&cheap, p).exit_cost_share <= get(&base, p).exit_cost_share);
    }
    assert!(get(&cheap, IoPath::IdeDma).exit_cost_share < get(&base, IoPath::IdeDma).exit_cost_share);
    // The PV ring never exits to the device model: unchanged.
    assert_eq!(get(&cheap, IoPath::Pv).sim_ns, get(&base, IoPath::Pv).sim_ns);
    let ratio = |rs: &[PathResult]| get(rs, IoPath::Pv).mib_per_s / get(rs, IoPath::IdeDma).mib_per_s;
    assert!(ratio(&cheap) < ratio(&base), "PV's lead over DMA shrinks");
    // Dearer hypercalls slow the ring paths, not PIO.
    let dear = CostModel::from_toml_str("hypercall_cycles = 40000").unwrap();
    let dear = run(&dear, small());
    assert!(get(&dear, IoPath::Pv).sim_ns > get(&base, IoPath::Pv).sim_ns);
    assert_eq!(get(&dear, IoPath::IdePio).sim_ns, get(&base, IoPath::IdePio).sim_ns);
}

#[test]
fn queue_depth_batches_notifies_on_the_ring() {
    let qd1 = run(&CostModel::default(), vec![Workload::rand(MIB, 4 << 10, 1)]);
    let qd32 = run(&CostModel::default(), vec![Workload::rand(MIB, 4 << 10, 32)]);
    let (a, b) = (get(&qd1, IoPath::Pv), get(&qd32, IoPath::Pv));
    assert_eq!(a.ring_requests, b.ring_requests);
    assert!(b.notifies < a.notifies, "qd32 {} vs qd1 {}", b.notifies, a.notifies);
    assert!(b.iops > a.iops);
    // IDE cannot queue: the same time whatever the depth.
    assert_eq!(get(&qd1, IoPath::IdeDma).sim_ns, get(&qd32, IoPath::IdeDma).sim_ns);
}

#[test]
fn bad_workloads_are_errors() {
    let image: Arc<dyn ReadAt> = synthetic_image(MIB);
    let cfg = BenchConfig { workloads: vec![Workload::seq(2 * MIB, 4096)], ..BenchConfig::default() };
    assert!(bench::run(image.clone(), &CostModel::default(), &cfg, &mut |_| {}).is_err());
    let cfg = BenchConfig { workloads: vec![Workload::seq(MIB, 1000)], ..BenchConfig::default() };
    assert!(bench::run(image, &CostModel::default(), &cfg, &mut |_| {}).is_err());
}

#[test]
fn boot_read_pattern_replays_the_filesystem_reads_of_a_fixture() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/pv-kernel.img");
    let image: Arc<dyn ReadAt> = Arc::new(disk_image::RawImage::open(&path).unwrap());
    let w = Workload::boot_read(image.clone(), 64 * MIB).unwrap();
    assert!(!w.recorded.is_empty());
    // Each page once, and the total is what the extents say.
    let mut pages: Vec<u64> = w.recorded.iter().flat_map(|e| (e.sector..e.sector + e.sectors).step_by(8)).collect();
    let n = pages.len();
    pages.sort_unstable();
    pages.dedup();
    assert_eq!(pages.len(), n);
    assert_eq!(w.total_bytes, w.recorded.iter().map(|e| e.sectors * 512).sum::<u64>());
    let config = BenchConfig { workloads: vec![w.clone()], ..BenchConfig::default() };
    let rs = bench::run(image, &CostModel::default(), &config, &mut |_| {}).unwrap().results;
    assert_eq!(rs.len(), 4);
    assert!(rs.iter().all(|r| r.bytes == w.total_bytes && r.ops == w.recorded.len() as u64));
    assert!(get(&rs, IoPath::Pv).sim_ns < get(&rs, IoPath::IdeDma).sim_ns);
}

fn fixture(name: &str) -> Arc<dyn ReadAt> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name);
    Arc::new(disk_image::RawImage::open(&path).unwrap())
}

#[test]
fn boot_workload_runs_live_with_the_same_bytes_on_every_path() {
    let image = fixture("hvm-simboot.img");
    let w = Workload::boot_read(image.clone(), 64 * MIB).unwrap();
    let cost = CostModel::default();
    let config = BenchConfig { workloads: vec![w.clone()], ..BenchConfig::default() };
    let rs = bench::run(image.clone(), &cost, &config, &mut |_| {}).unwrap().results;
    for r in &rs {
        assert_eq!((r.ops, r.bytes), (w.recorded.len() as u64, w.total_bytes), "{r:?}");
    }
    // Each request is real device work on its path.
    for p in [IoPath::IdePio, IoPath::IdeDma] {
        let r = get(&rs, p);
        assert!(r.ata_commands >= r.ops && r.exits > 0 && r.ring_requests == 0, "{r:?}");
    }
    for p in [IoPath::Pv, IoPath::Pvhvm] {
        let r = get(&rs, p);
        assert!(r.ring_requests >= r.ops && r.notifies > 0, "{r:?}");
    }
    // Every path is checked against the reference bytes: a wrong digest
    // (or request list) fails each of them.
    let mut wrong = w.clone();
    wrong.digest ^= 1;
    for p in IoPath::ALL {
        let e = bench::run_path(image.clone(), &cost, p, &wrong, &config).unwrap_err();
        assert!(matches!(e, bench::BenchError::DataMismatch { .. }), "{p:?}: {e}");
    }
    let mut wrong = w.clone();
    wrong.recorded.swap(0, 1);
    assert!(bench::run_path(image, &cost, IoPath::Pv, &wrong, &config).is_err());
}

#[test]
fn pv_post_boot_reads_continue_the_boots_clock_in_its_memory() {
    let image = fixture("hvm-simboot.img");
    let opts = boot::pv::PvOptions::default();
    let (run, memory) = boot::pv::run(image.clone(), &opts).unwrap();
    let boot::pv::PvOutcome::Booted(b) = &run.outcome else { panic!("{:?}", run.outcome) };
    let end = bench::pv_layout_end(&b.layout);
    assert!(end > 0 && end < memory.size());
    let w = Workload::boot_read(image.clone(), 16 * MIB).unwrap();
    let at = boot::machine::SimTime(run.sim.sim_ns);
    let r = bench::pv_post_boot(image.clone(), memory, end, at, &opts.cost, bench::PvSetup::linux(), &w).unwrap();
    assert_eq!((r.ops, r.bytes), (w.recorded.len() as u64, w.total_bytes));
    assert!(r.setup_ns > 0 && r.sim_ns > 0 && r.ring_requests >= r.ops, "{r:?}");
    // No room above the layout: an error, not a panic.
    let (_, small) = boot::pv::run(image.clone(), &opts).unwrap();
    let size = small.size();
    assert!(bench::pv_post_boot(image, small, size, at, &opts.cost, bench::PvSetup::linux(), &w).is_err());
}
