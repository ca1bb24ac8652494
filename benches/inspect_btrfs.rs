//! `inspect` of a 1 TiB sparse image holding a btrfs made by `mkfs.btrfs
//! --rootdir` (a GRUB 2 config in /boot/grub): the target is under 50 ms
//! and 30 MB RSS (issue 18). Without mkfs.btrfs (btrfs-progs) the bench
//! says so and measures nothing.
//!
//!     cargo bench --bench inspect_btrfs
//!
//! RSS is measured on the CLI with the same image:
//!     BOOT_SIM_KEEP_BENCH_IMAGE=1 cargo bench --bench inspect_btrfs
//!     /usr/bin/time -v target/release/boot-sim inspect <printed path>

use std::hint::black_box;
use std::process::Command;

use boot_config::inspect;
use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::Disk;

const TIB: u64 = 1 << 40;

fn bench_inspect_btrfs(c: &mut Criterion) {
    let Some(mkfs) = boot_sim::find_tool("mkfs.btrfs") else {
        eprintln!("inspect_btrfs: mkfs.btrfs (btrfs-progs) not found, nothing measured");
        return;
    };
    let dir = std::env::temp_dir().join(format!("boot-sim-bench-btrfs-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("boot/grub")).unwrap();
    std::fs::write(
        src.join("boot/grub/grub.cfg"),
        "set default=0\nmenuentry 'Linux' {\n  linux /boot/vmlinuz root=/dev/xvda ro\n}\n",
    )
    .unwrap();
    std::fs::write(src.join("boot/vmlinuz"), vec![0x90u8; 1 << 20]).unwrap();
    let path = dir.join("1tib-btrfs.img");
    std::fs::File::create(&path).unwrap().set_len(TIB).unwrap();
    let out = Command::new(mkfs).args(["-q", "-f", "--rootdir"]).arg(&src).arg(&path).output().unwrap();
    assert!(out.status.success(), "mkfs.btrfs: {}", String::from_utf8_lossy(&out.stderr));
    let disk = Disk::open(&path).expect("open");
    let fs = disk.open_fs(&disk.volumes()[0]).expect("btrfs");
    assert!(fs.stat("/boot/grub/grub.cfg").is_ok(), "the bench image must hold the config");

    let mut group = c.benchmark_group("inspect");
    group.bench_function("1TiB_sparse_btrfs/open+inspect", |b| {
        b.iter(|| {
            let disk = Disk::open(black_box(&path)).expect("open");
            black_box(inspect::inspect(&disk).expect("inspect"))
        })
    });
    group.finish();
    if std::env::var_os("BOOT_SIM_KEEP_BENCH_IMAGE").is_some() {
        eprintln!("bench image kept at {}", path.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

criterion_group!(benches, bench_inspect_btrfs);
criterion_main!(benches);
