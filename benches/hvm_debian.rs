//! Whole `boot-sim run --mode hvm` runs of Debian-kernel images, each loader
//! installed by its own installer as tests/interop_real_loaders.rs does it
//! ([`boot_sim::loaders`]): GRUB 0.97 by `grub --batch` (`root (hd0,0)`,
//! `setup (hd0)`) on ext2; GRUB 2.06 (Debian 12) by `grub-install` on an MBR
//! ext4 disk; GRUB 2.12 (Debian 13) by `grub-install` on XFS and on btrfs.
//! Each runs from power-on through SeaBIOS and the loader's own code (its
//! int 13h reads of the 13 MiB kernel; GRUB 2's Reed-Solomon check, LZMA
//! decompression, modules, menu and relocator), to the kernel's 32-bit
//! entry, plus the report's explanation (the reads matched to /boot's
//! files, the menus module's prediction). A disk whose tools are absent
//! (`bash scripts/interop-setup.sh`, root for loop mounts) is skipped with
//! a message.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, run};
use boot_sim::loaders::{Built, Grub2Layout, Grub2Version, LegacyLayout, grub_legacy_disk, grub2_disk};
use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::{MemImage, ReadAt};

type Builder = fn(&Path) -> Option<Built>;

const DISKS: [(&str, Builder); 4] = [
    ("GRUB 0.97, ext2", |dir| grub_legacy_disk(dir, LegacyLayout::PlainExt2, "bench")),
    ("GRUB 2.06, MBR ext4", |dir| grub2_disk(dir, Grub2Version::V2_06, Grub2Layout::MbrExt4, "bench")),
    ("GRUB 2.12, XFS", |dir| grub2_disk(dir, Grub2Version::V2_12, Grub2Layout::MbrXfs, "bench")),
    ("GRUB 2.12, btrfs", |dir| grub2_disk(dir, Grub2Version::V2_12, Grub2Layout::MbrBtrfs, "bench")),
];

fn debian_kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("hvm_debian");
    g.sample_size(10);
    for (name, build) in DISKS {
        let dir = std::env::temp_dir().join(format!("boot-sim-bench-hvm-debian-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let Some(path) = build(&dir).map(|b| b.img) else {
            eprintln!("hvm_debian: {name} skipped (no Debian loader files, kernel or image tools)");
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        };
        // In memory, so the bench measures the simulator, not the page cache.
        let bytes = std::fs::read(&path).expect("image");
        let _ = std::fs::remove_dir_all(&dir);
        let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(bytes, "debian-kernel.img"));
        // `run --mode hvm`'s defaults (1 GiB, Xen's SeaBIOS build, its boot
        // menu wait, the instruction cap).
        let opts = HvmOptions::default();
        let r = run(img.clone(), &opts);
        assert!(matches!(r.end, EndState::KernelEntry { .. }), "{name}: {}", r.reason);
        eprintln!(
            "hvm_debian: {name}: {} ns simulated, {} instructions, {} port exits",
            r.counters.sim_time_ns, r.counters.instructions, r.counters.port_exits
        );
        g.bench_function(format!("run --mode hvm to the kernel entry, {name}"), |b| {
            b.iter(|| black_box(run(img.clone(), &opts)))
        });
    }
    g.finish();
}

criterion_group!(benches, debian_kernel);
criterion_main!(benches);
