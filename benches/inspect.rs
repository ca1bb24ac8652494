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

use boot_config::inspect;
use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::Disk;

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

/// A 1 TiB sparse image holding an XFS V5 root made by the real
/// `mkfs.xfs -p` (a `/boot/grub/menu.lst -> ./grub.conf` symlink, a
/// grub.cfg, a kernel); `None` without xfsprogs.
fn sparse_xfs_image() -> Option<PathBuf> {
    let mkfs = boot_sim::find_tool("mkfs.xfs")?;
    let dir = std::env::temp_dir().join("boot-sim-bench-xfs");
    std::fs::create_dir_all(&dir).ok()?;
    let put = |name: &str, data: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, data).expect("write bench source file");
        p.display().to_string()
    };
    let proto = format!(
        "/dev/null\n0 0\nd--755 0 0\n boot d--755 0 0\n  vmlinuz ---644 0 0 {}\n  grub d--755 0 0\n   grub.conf ---644 0 0 {}\n   grub.cfg ---644 0 0 {}\n   menu.lst l--777 0 0 ./grub.conf\n  $\n $\n$\n",
        put("vmlinuz", &[0x90; 8192]),
        put("grub.conf", b"default 0\ntitle t\nroot (hd0)\nkernel /boot/vmlinuz ro\n"),
        put("grub.cfg", b"menuentry 't' {\n\tlinux /boot/vmlinuz ro\n}\n"),
    );
    let proto_path = dir.join("proto");
    std::fs::write(&proto_path, proto).ok()?;
    let img = dir.join("1tib-xfs.img");
    std::fs::File::create(&img).ok()?.set_len(TIB).ok()?;
    let ok = std::process::Command::new(mkfs).arg("-q").arg("-p").arg(&proto_path).arg(&img).status().ok()?.success();
    ok.then_some(img)
}

/// `inspect` of a 1 TiB sparse image with an XFS root (issue 18): under
/// 50 ms and 30 MB RSS.
fn bench_inspect_xfs(c: &mut Criterion) {
    let Some(path) = sparse_xfs_image() else {
        eprintln!("SKIPPED: inspect/1TiB_sparse_xfs_v5 needs mkfs.xfs (xfsprogs)");
        return;
    };
    let disk = Disk::open(&path).expect("open");
    let report = inspect::inspect(&disk).expect("inspect");
    assert!(!report.volumes[0].configs.is_empty(), "the bench image's configs must be found");
    c.bench_function("inspect/1TiB_sparse_xfs_v5_root/open+inspect", |b| {
        b.iter(|| {
            let disk = Disk::open(black_box(&path)).expect("open");
            black_box(inspect::inspect(&disk).expect("inspect"))
        })
    });
    if std::env::var_os("BOOT_SIM_KEEP_BENCH_IMAGE").is_some() {
        eprintln!("bench image kept at {}", path.display());
    } else {
        let _ = std::fs::remove_dir_all(path.parent().expect("bench dir"));
    }
}

criterion_group!(benches, bench_inspect, bench_inspect_xfs);
criterion_main!(benches);
