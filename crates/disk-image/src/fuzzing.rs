//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpus under `cargo test`. Each takes arbitrary bytes as a
//! disk image and runs the whole read path; it must return (with any
//! result) for every input — never panic, hang or allocate without bound.

use std::sync::Arc;

use crate::fs::xfs::XfsFs;
use crate::fs::{self, Filesystem, NodeKind};
use crate::{Disk, MemImage, ReadAt, Window, inspect};

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

/// The bytes as an XFS volume at offset 0, opened by [`XfsFs`] directly
/// (no probe in front, so images whose magic the fuzzer broke still reach
/// the superblock checks), then walked as [`fs_walk`] walks.
pub fn xfs_walk(data: &[u8]) {
    let image: Arc<dyn ReadAt> = Arc::new(MemImage::new(data.to_vec(), "fuzz"));
    let size = image.size();
    if let Ok(fs) = XfsFs::open(Window::new(image, 0, size, "xvda")) {
        let _ = (fs.version(), fs.label(), fs.uuid());
        walk(&fs);
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
