//! `inspect` of a 1 TiB sparse image with 128 GPT partitions: the target is
//! under 50 ms and 30 MB RSS (issue: foundation). The image is built at
//! bench time by our own GPT writer and costs a few KiB of real disk.
//!
//!     cargo bench --bench inspect
//!
//! RSS is measured on the CLI with the same image:
//!     BOOT_SIM_KEEP_BENCH_IMAGE=1 cargo bench --bench inspect
//!     /usr/bin/time -v target/release/boot-sim inspect <printed path>

use std::fs::OpenOptions;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::{Disk, inspect};

const TIB: u64 = 1 << 40;

fn sparse_gpt_image() -> PathBuf {
    let path = std::env::temp_dir().join("boot-sim-bench-1tib-gpt128.img");
    let file =
        OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).expect("create bench image");
    boot_sim_fixtures::gpt::write_sparse_gpt(&file, TIB, 128).expect("write sparse GPT");
    path
}

fn bench_inspect(c: &mut Criterion) {
    let path = sparse_gpt_image();
    let disk = Disk::open(&path).expect("open");
    assert_eq!(disk.table().partitions.len(), 128, "the bench image must have 128 partitions");
    let mut group = c.benchmark_group("inspect");
    group.bench_function("1TiB_sparse_gpt_128_partitions/open+inspect", |b| {
        b.iter(|| {
            let disk = Disk::open(black_box(&path)).expect("open");
            black_box(inspect::inspect(&disk).expect("inspect"))
        })
    });
    group.bench_function("1TiB_sparse_gpt_128_partitions/partition_table", |b| {
        b.iter(|| black_box(Disk::open(black_box(&path)).expect("open")))
    });
    group.finish();
    if std::env::var_os("BOOT_SIM_KEEP_BENCH_IMAGE").is_some() {
        eprintln!("bench image kept at {}", path.display());
    } else {
        let _ = std::fs::remove_file(&path);
    }
}

criterion_group!(benches, bench_inspect);
criterion_main!(benches);
