//! Host speed of one whole boot per mode on the bundled fixtures, with the
//! options `boot-sim compare` uses (1 GiB guest, default cost model):
//!
//! - hvm: `boot::hvm::run` on hvm-simboot.img, SeaBIOS + simboot
//!   (executed) to the Linux entry; throughput in port exits (VM exits to QEMU).
//! - pv: `boot::pv::run` on pv-kernel.img, PV-GRUB's default entry to the
//!   kernel entry; throughput in blkif ring requests.
//! - pvhvm: `boot::hvm::pvhvm::run` on hvm-simboot.img, the HVM boot,
//!   the PV-on-HVM switch and the root-filesystem reads over the ring
//!   (16 MiB at most); throughput in port exits + ring requests.
//! - hvm + reads: `boot::hvm::pvhvm::run_hvm_then_read`, the HVM boot and
//!   the same root-filesystem reads over emulated IDE on that machine.

use std::hint::black_box;
use std::sync::Arc;

use boot::hvm::pvhvm::{self, PvhvmOptions};
use boot::hvm::{EndState, HvmOptions};
use boot::pv::{self, PvOptions, PvOutcome};
use boot_sim::fixture;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use disk_image::{RawImage, ReadAt};

fn open(name: &str) -> Arc<dyn ReadAt> {
    Arc::new(RawImage::open(fixture(&format!("images/{name}"))).unwrap())
}

fn boot_modes(c: &mut Criterion) {
    let hvm_img = open("hvm-simboot.img");
    let pv_img = open("pv-kernel.img");
    let hvm_opts = HvmOptions::default();
    let pv_opts = PvOptions::default();
    let pvhvm_opts = PvhvmOptions::default();

    let h = boot::hvm::run(hvm_img.clone(), &hvm_opts);
    assert!(matches!(h.end, EndState::KernelEntry { .. }), "hvm: {}", h.reason);
    let (p, _) = pv::run(pv_img.clone(), &pv_opts).unwrap();
    assert!(matches!(p.outcome, PvOutcome::Booted(_)), "pv: not booted");
    let x = pvhvm::run(hvm_img.clone(), &pvhvm_opts);
    let sw = x.pv.as_ref().expect("pvhvm: switched");

    let mut g = c.benchmark_group("boot_modes");
    g.sample_size(10);
    g.throughput(Throughput::Elements(h.counters.port_exits));
    g.bench_function("hvm hvm-simboot.img to the kernel entry (port exits)", |b| {
        b.iter(|| black_box(boot::hvm::run(hvm_img.clone(), &hvm_opts)))
    });
    g.throughput(Throughput::Elements(p.sim.ring.requests_pushed));
    g.bench_function("pv pv-kernel.img to the kernel entry (ring requests)", |b| {
        b.iter(|| black_box(pv::run(pv_img.clone(), &pv_opts).unwrap()))
    });
    g.throughput(Throughput::Elements(x.hvm.counters.port_exits + sw.switch.port_exits + sw.io.ring_requests));
    g.bench_function("pvhvm hvm-simboot.img boot, switch, root fs reads (exits + ring requests)", |b| {
        b.iter(|| black_box(pvhvm::run(hvm_img.clone(), &pvhvm_opts)))
    });
    let (_, reads) = pvhvm::run_hvm_then_read(hvm_img.clone(), &pvhvm_opts);
    let reads = reads.expect("hvm: root fs reads over IDE");
    g.throughput(Throughput::Elements(h.counters.port_exits + reads.exits));
    g.bench_function("hvm hvm-simboot.img boot, root fs reads over IDE DMA (port exits)", |b| {
        b.iter(|| black_box(pvhvm::run_hvm_then_read(hvm_img.clone(), &pvhvm_opts)))
    });
    g.finish();
}

criterion_group!(benches, boot_modes);
criterion_main!(benches);
