//! A whole `boot-sim run --mode hvm` of a Debian-kernel image: GRUB 0.97
//! installed by its own `grub --batch` (`root (hd0,0)`, `setup (hd0)`) on an
//! ext2 partition with Debian's cloud kernel and a small initrd, built as
//! tests/interop_real_loaders.rs builds it
//! ([`boot_sim::loaders::grub_legacy_disk`]), from power-on through SeaBIOS,
//! stage1, stage1.5 and stage2 executed (its int 13h reads of the 13 MiB
//! kernel), Linux's real-mode setup, to the kernel's 32-bit entry, and the
//! report's explanation (the reads matched to /boot's files, the menus
//! module's prediction). Skipped with a message when the Debian files, the
//! image tools or root (loop mounts) are absent (`bash
//! scripts/interop-setup.sh`).

use std::hint::black_box;
use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, run};
use boot_sim::loaders::{LegacyLayout, grub_legacy_disk};
use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::{MemImage, ReadAt};

fn debian_kernel(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("boot-sim-bench-hvm-debian-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let built = grub_legacy_disk(&dir, LegacyLayout::PlainExt2, "bench");
    let Some(path) = built.map(|b| b.img) else {
        eprintln!("hvm_debian: skipped (no Debian grub-legacy files, kernel or image tools)");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    // In memory, so the bench measures the simulator, not the page cache.
    let bytes = std::fs::read(&path).expect("image");
    let _ = std::fs::remove_dir_all(&dir);
    let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(bytes, "debian-kernel.img"));
    // `run --mode hvm`'s defaults (1 GiB, Xen's SeaBIOS build, its boot
    // menu wait, the instruction cap).
    let opts = HvmOptions::default();
    let r = run(img.clone(), &opts);
    assert!(matches!(r.end, EndState::KernelEntry { .. }), "{}", r.reason);
    eprintln!(
        "hvm_debian: {} simulated, {} instructions, {} port exits",
        r.counters.sim_time_ns, r.counters.instructions, r.counters.port_exits
    );
    let mut g = c.benchmark_group("hvm_debian");
    g.sample_size(10);
    g.bench_function("run --mode hvm, Debian kernel image to the kernel entry", |b| {
        b.iter(|| black_box(run(img.clone(), &opts)))
    });
    g.finish();
}

criterion_group!(benches, debian_kernel);
criterion_main!(benches);
