//! Boot-menu parsing throughput per format, and a whole loader run
//! (discovery + selection) on a fixture image.
//!
//!     cargo bench --bench menu
//!
//! The side-by-side comparison with pygrub on the same image is a
//! whole-process one (hyperfine): see the closing note of the menus issue.

use std::hint::black_box;
use std::path::PathBuf;

use boot_config::discover::{self, Loader};
use boot_config::select::{self, EntryRequest};
use boot_config::{extlinux, grub_legacy, grub2};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use disk_image::Disk;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_dir(dir: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(root().join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files.into_iter().filter(|p| p.is_file()).map(|p| std::fs::read(p).unwrap()).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("menu_parse");
    let legacy = read_dir("tests/data/menus/legacy");
    let bytes: u64 = legacy.iter().map(|f| f.len() as u64).sum();
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("grub_legacy/22_variants", |b| {
        b.iter(|| legacy.iter().map(|f| grub_legacy::parse(black_box(f)).entries.len()).sum::<usize>())
    });
    let grub2_files = read_dir("crates/boot-config/tests/data/grub2");
    g.throughput(Throughput::Bytes(grub2_files.iter().map(|f| f.len() as u64).sum()));
    g.bench_function("grub2/14_variants_evaluated", |b| {
        b.iter(|| grub2_files.iter().map(|f| grub2::parse(black_box(f)).entries.len()).sum::<usize>())
    });
    let ext = read_dir("tests/data/menus/extlinux");
    g.throughput(Throughput::Bytes(ext.iter().map(|f| f.len() as u64).sum()));
    g.bench_function("extlinux/4_variants", |b| {
        b.iter(|| ext.iter().map(|f| extlinux::parse(black_box(f), "/boot").entries.len()).sum::<usize>())
    });
    g.finish();

    let img = root().join("fixtures/images/pv-whole-disk.img");
    c.bench_function("menu_run/pv-whole-disk/pvgrub-aws", |b| {
        b.iter(|| {
            let disk = Disk::open(&img).unwrap();
            let d = discover::discover(&disk, Loader::PvgrubAws);
            black_box(select::choose(&disk, &d, &EntryRequest::Default).unwrap().entry.index)
        })
    });
    c.bench_function("menu_run/pv-whole-disk/pygrub", |b| {
        b.iter(|| {
            let disk = Disk::open(&img).unwrap();
            let d = discover::discover(&disk, Loader::Pygrub);
            black_box(select::choose(&disk, &d, &EntryRequest::Default).unwrap().entry.index)
        })
    });
    // As `boot-sim menu` opens it: each volume opened once, answers remembered.
    c.bench_function("menu_run/pv-whole-disk/pygrub_memoized", |b| {
        b.iter(|| {
            let disk = Disk::open_memoized(&img).unwrap();
            let d = discover::discover(&disk, Loader::Pygrub);
            black_box(select::choose(&disk, &d, &EntryRequest::Default).unwrap().entry.index)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
