//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpus under `cargo test`. Each takes arbitrary bytes as a
//! disk image and runs the whole read path; it must return (with any
//! result) for every input — never panic, hang or allocate without bound.

use std::sync::Arc;

use crate::fs::{self, Filesystem, NodeKind};
use crate::{Disk, MemImage, ReadAt, inspect};

/// Directories visited and files read per filesystem in [`fs_walk`].
const MAX_WALK_NODES: usize = 512;
/// Largest file [`fs_walk`] reads.
const MAX_WALK_FILE: u64 = 1 << 20;

/// Partition table, boot code, filesystem probes and config discovery.
pub fn partition_table(data: &[u8]) {
    let Ok(disk) = Disk::from_reader(Arc::new(MemImage::new(data.to_vec(), "fuzz"))) else { return };
    let _ = inspect::inspect(&disk);
    for v in disk.volumes() {
        let _ = disk.volume(&v.names.grub);
    }
}

/// The bytes as a filesystem at offset 0: every directory walked, every
/// file and symlink read, every path resolved the way loaders resolve it.
pub fn fs_walk(data: &[u8]) {
    let Ok(disk) = Disk::from_reader(Arc::new(MemImage::new(data.to_vec(), "fuzz"))) else { return };
    for v in disk.volumes().iter().chain(std::iter::once(&disk.whole_disk())) {
        if let Ok(fs) = disk.open_fs(v) {
            walk(&*fs);
        }
    }
}

fn walk(fs: &dyn Filesystem) {
    let mut queue = vec!["/".to_string()];
    let mut seen = 0;
    while let Some(dir) = queue.pop() {
        let Ok(entries) = fs.list_dir(&dir) else { continue };
        for e in entries {
            seen += 1;
            if seen > MAX_WALK_NODES {
                return;
            }
            let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
            match e.kind {
                NodeKind::Directory => queue.push(path),
                NodeKind::Symlink | NodeKind::File => {
                    let _ = fs::read_resolved(fs, &path, MAX_WALK_FILE);
                }
                NodeKind::Other => {}
            }
        }
    }
}

/// Arbitrary bytes as a GRUB legacy menu (both dialects) and as an
/// extlinux config, then entry selection.
pub fn menu_legacy(data: &[u8]) {
    use crate::menu::select::{self, EntryRequest};
    use crate::menu::{Dialect, extlinux, grub_legacy};
    for m in [
        grub_legacy::parse(data),
        grub_legacy::parse_dialect(data, Dialect::Pygrub),
        extlinux::parse(data, "/boot/extlinux"),
    ] {
        let _ = select::grub_pick(&m, Some(usize::MAX), &EntryRequest::Default);
        let _ = select::pygrub_pick(&m, &EntryRequest::Title("x".into()));
    }
}

/// Arbitrary bytes as LVM2 text metadata: parsed, read as a VG, and written
/// into the metadata areas of two small PVs on MBR partitions, so that the
/// whole path runs: label, mda header, text, VG, LV mapping, the LVs as
/// volumes, a filesystem walk on each.
pub fn lvm_metadata(data: &[u8]) {
    use crate::lvm::build::{PV0, PV1, pv_device_sized};
    use crate::lvm::label::Area;
    if let Ok(root) = crate::lvm::config::parse(data, 0, "fuzz") {
        let _ = crate::lvm::vg::from_config(&root, "fuzz", 0);
    }
    const PV_SIZE: u64 = 256 << 10;
    let mda = Area { offset: 4096, size: 64 << 10 };
    let text = &data[..data.len().min((mda.size - 512) as usize)];
    let mut disk = vec![0u8; (2 * PV_SIZE + 4096) as usize];
    for (slot, uuid) in [PV0, PV1].into_iter().enumerate() {
        let start = 8 + slot as u64 * (PV_SIZE / 512);
        let pv = pv_device_sized(uuid, PV_SIZE, mda, text, 512 + slot as u64 * 1000);
        let e = 446 + 16 * slot;
        disk[e + 4] = 0x8E;
        disk[e + 8..e + 12].copy_from_slice(&(start as u32).to_le_bytes());
        disk[e + 12..e + 16].copy_from_slice(&((PV_SIZE / 512) as u32).to_le_bytes());
        disk[start as usize * 512..][..pv.len()].copy_from_slice(&pv);
    }
    disk[510] = 0x55;
    disk[511] = 0xAA;
    let Ok(disk) = Disk::from_reader(Arc::new(MemImage::new(disk, "fuzz"))) else { return };
    let _ = inspect::inspect(&disk);
    for v in disk.volumes().iter().filter(|v| v.lvm.is_some()) {
        let w = disk.window(v);
        let mut buf = [0u8; 4096];
        for at in [0, w.size().saturating_sub(4096) / 2, w.size().saturating_sub(4096)] {
            let n = (w.size() - at).min(4096) as usize;
            let _ = w.read_exact_at(at, &mut buf[..n]);
        }
        if let Ok(fs) = disk.open_fs(v) {
            walk(&*fs);
        }
    }
}
