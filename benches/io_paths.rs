//! `boot-sim bench`'s simulated I/O paths, host speed: MB of simulated
//! reads per host second for each path (issue 8 asks ≥ 1 GB/s), and the
//! exits per host second of the emulated IDE paths.
//!
//!     cargo bench --bench io_paths
//!
//! Each iteration is one whole `boot::bench::run_path`: building the
//! machine (HVM bus + IDE controller, or the PV vbd with its xenstore
//! handshake) and reading 16 MiB of a synthetic image with the block size
//! named, every register access / ring request charged to the cost model;
//! and the `boot` workload run live (the filesystem code reading the
//! fixture hvm-simboot.img through each path's device).

use std::hint::black_box;
use std::sync::Arc;

use boot::bench::{self, BenchConfig, IoPath, Workload, synthetic_image};
use boot::machine::CostModel;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use disk_image::ReadAt;

const MIB: u64 = 1 << 20;

fn bench_paths(c: &mut Criterion) {
    let image: Arc<dyn ReadAt> = synthetic_image(16 * MIB);
    let cost = CostModel::default();
    let config = BenchConfig::default();
    let mut g = c.benchmark_group("io_paths");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(16 * MIB));
    let workloads = [
        ("seq_4KiB", Workload::seq(16 * MIB, 4 << 10)),
        ("seq_64KiB", Workload::seq(16 * MIB, 64 << 10)),
        ("rand_4KiB_qd32", Workload::rand(16 * MIB, 4 << 10, 32)),
    ];
    for (wname, w) in &workloads {
        for path in IoPath::ALL {
            g.bench_function(format!("{}/{wname}", path.name()), |b| {
                b.iter(|| black_box(bench::run_path(image.clone(), &cost, path, w, &config).unwrap()))
            });
        }
    }
    g.finish();

    // The boot workload, live: the filesystem code reading the bundled
    // fixture's /boot, /etc and /usr/lib through each path's device.
    let fixture: Arc<dyn ReadAt> =
        Arc::new(disk_image::RawImage::open(boot_sim::fixture("images/hvm-simboot.img")).unwrap());
    let w = Workload::boot_read(fixture.clone(), 16 * MIB).unwrap();
    let mut g = c.benchmark_group("io_paths_boot_live");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(w.total_bytes));
    for path in IoPath::ALL {
        g.bench_function(format!("{}/boot_hvm-simboot", path.name()), |b| {
            b.iter(|| black_box(bench::run_path(fixture.clone(), &cost, path, &w, &config).unwrap()))
        });
    }
    g.finish();

    // Exits per host second: the PIO path at 4 KiB is almost all exits.
    let w = Workload::seq(16 * MIB, 4 << 10);
    let exits = bench::run_path(image.clone(), &cost, IoPath::IdePio, &w, &config).unwrap().exits;
    let mut g = c.benchmark_group("ide_exits");
    g.sample_size(10);
    g.throughput(Throughput::Elements(exits));
    g.bench_function("ide-pio/seq_4KiB", |b| {
        b.iter(|| black_box(bench::run_path(image.clone(), &cost, IoPath::IdePio, &w, &config).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_paths);
criterion_main!(benches);
