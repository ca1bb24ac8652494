//! A whole `boot-sim run --mode pv` of the Debian-kernel image (issue 11:
//! at least twice as fast as `pygrub -q -n IMAGE` + `lz4 -dc` of the
//! kernel's payload): an ext4 filesystem on the whole disk with Debian's
//! cloud kernel (LZ4 bzImage, 13.5 MiB), a 100 kB initrd and
//! `menu.lst -> ./grub.conf`, built as tests/interop_pv.rs builds it. From
//! the xenstore handshake through PV-GRUB's reads over the blkif ring, the
//! LZ4 payload decompressed into guest memory and the domain build, to the
//! kernel entry. Skipped with a message when the Debian kernel
//! (`bash scripts/interop-setup.sh`) or `mke2fs` is absent.
//!
//!     cargo bench --bench pv_debian

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use boot::pv::{self, PvOptions, PvOutcome};
use boot_sim::{find_tool, interop_dir};
use criterion::{Criterion, criterion_group, criterion_main};
use disk_image::{MemImage, ReadAt};

fn debian_kernel() -> Option<PathBuf> {
    let dir = interop_dir().join("root/boot");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
}

/// The image of tests/interop_pv.rs, in memory.
fn build_image(vmlinuz: &PathBuf) -> Option<Vec<u8>> {
    let mke2fs = find_tool("mke2fs")?;
    let name = vmlinuz.file_name()?.to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("boot-sim-bench-pv-debian-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("boot/grub")).ok()?;
    std::fs::copy(vmlinuz, root.join("boot").join(&name)).ok()?;
    std::fs::write(root.join("boot/initrd.img"), vec![0x5a; 100_000]).ok()?;
    let menu = format!(
        "default=0\ntimeout=1\nhiddenmenu\ntitle Debian 12\nroot (hd0)\n\
         kernel /boot/{name} root=/dev/xvda ro console=hvc0\ninitrd /boot/initrd.img\n"
    );
    std::fs::write(root.join("boot/grub/grub.conf"), menu).ok()?;
    std::os::unix::fs::symlink("./grub.conf", root.join("boot/grub/menu.lst")).ok()?;
    let img = dir.join("debian.img");
    std::fs::File::create(&img).ok()?.set_len(48 << 20).ok()?;
    let ok = Command::new(mke2fs).args(["-q", "-F", "-t", "ext4", "-d"]).arg(&root).arg(&img).status().ok()?;
    let bytes = if ok.success() { std::fs::read(&img).ok() } else { None };
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

fn pv_debian(c: &mut Criterion) {
    let Some(bytes) = debian_kernel().and_then(|k| build_image(&k)) else {
        eprintln!("pv_debian: skipped (no Debian kernel under {}, or no mke2fs)", interop_dir().display());
        return;
    };
    // In memory, so the bench measures the simulator, not the page cache.
    let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(bytes, "debian.img"));
    // `run --mode pv`'s defaults: PV-GRUB (pvgrub-aws), 1 GiB.
    let opts = PvOptions::default();
    let (r, _) = pv::run(img.clone(), &opts).expect("pv run");
    assert!(matches!(r.outcome, PvOutcome::Booted(_)), "the Debian kernel did not boot PV");
    eprintln!("pv_debian: {} ring requests, {} ns simulated", r.sim.ring.requests_pushed, r.sim.sim_ns);
    let mut g = c.benchmark_group("pv_debian");
    g.sample_size(20);
    g.bench_function("run --mode pv, Debian kernel image to the kernel entry", |b| {
        b.iter(|| black_box(pv::run(img.clone(), &opts).expect("pv run")))
    });
    g.finish();
}

criterion_group!(benches, pv_debian);
criterion_main!(benches);
