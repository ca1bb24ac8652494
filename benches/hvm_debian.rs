//! A whole `boot-sim run --mode hvm` of the Debian-kernel image: real GRUB
//! 0.97 stage1 + stage2 (Debian's grub-legacy) on an ext2 partition with
//! Debian's cloud kernel and a small initrd, built as tests/interop_hvm.rs
//! builds it ([`boot_sim::grub_legacy_image::debian_kernel_image`]), from
//! power-on through SeaBIOS, stage1's interpreted reads of stage2, GRUB
//! 0.97's own code executed (its menu: a 5-second visible countdown, on the
//! simulated clock, costing the host nothing; its int 13h reads of the 13
//! MiB kernel), Linux's real-mode setup, to the kernel's 32-bit entry, and
//! the report's explanation (the reads matched to /boot's files, the menus
//! module's prediction). Skipped with a message when
//! the Debian files or the image tools are absent
//! (`bash scripts/interop-setup.sh`).

use std::hint::black_box;
use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, run};
use boot_sim::grub_legacy_image::debian_kernel_image;
use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::{MemImage, ReadAt};

const MENU: &[u8] = b"default 0\ntimeout 5\ntitle Debian\nroot (hd0,0)\n\
    kernel /vmlinuz root=/dev/xvda1 ro console=ttyS0\ninitrd /initrd.img\n";

fn debian_kernel(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("boot-sim-bench-hvm-debian-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let built = debian_kernel_image(&dir, Some(MENU));
    let Some(path) = built else {
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
