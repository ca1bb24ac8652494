//! Entry points for the fuzz targets in `fuzz/` and for the test that
//! replays their corpus under `cargo test`. Each takes arbitrary bytes as a
//! disk image and runs the whole read path; it must return (with any
//! result) for every input — never panic, hang or allocate without bound.

use std::sync::Arc;

use crate::error::{DiskError, Result};
use crate::fs::btrfs::{self, BtrfsFs, SubvolSpec};
use crate::fs::xfs::XfsFs;
use crate::fs::{self, Filesystem, NodeKind};
use crate::read::{ReadAt, Window};
use crate::units::ByteOffset;
use crate::{Disk, MemImage};

/// Directories visited and files read per filesystem in [`fs_walk`].
const MAX_WALK_NODES: usize = 512;
/// Largest file [`fs_walk`] reads.
const MAX_WALK_FILE: u64 = 1 << 20;

/// The bytes as a disk a loader read in overlapping reads (every fifth
/// sector on, seven at a time): each read split among files, filesystems
/// and areas ([`crate::owners::attribute`]); the pieces of every read add
/// up to its sectors on the disk, every piece names a known owner.
pub fn sector_owners(data: &[u8]) {
    use crate::owners::{self, Limits};
    let image: Arc<dyn ReadAt> = Arc::new(MemImage::new(data.to_vec(), "fuzz"));
    let sectors = image.size() / 512;
    let reads: Vec<(u64, u64)> = (0..sectors).step_by(5).take(1024).map(|l| (l, 7)).collect();
    let limits = Limits {
        max_sectors: 1 << 16,
        max_files: 256,
        max_file_bytes: 1 << 20,
        max_total_bytes: 8 << 20,
        max_depth: 4,
    };
    let r = owners::attribute(image, &reads, limits);
    assert_eq!(r.pieces.len(), reads.len());
    for (pieces, &(lba, n)) in r.pieces.iter().zip(&reads) {
        assert_eq!(pieces.iter().map(|p| p.1).sum::<u64>(), (lba + n).min(sectors) - lba);
        assert!(pieces.iter().all(|p| p.0 < r.owners.len()));
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

/// Size of the image [`btrfs_walk`] builds: room for the superblock at
/// 64 KiB and its first mirror at 64 MiB, not the one at 256 GiB.
const BTRFS_FUZZ_IMAGE: u64 = 1 << 30;

/// An image of zeros with byte runs patched in, so that a few KB of fuzz
/// input can describe a btrfs spread over megabytes.
struct Patched {
    patches: Vec<(u64, Vec<u8>)>,
}

impl Patched {
    /// Input: records of a little-endian u64 offset, a u32 length and
    /// that many bytes (clipped to the input and the image); later records
    /// win where they overlap.
    fn parse(mut data: &[u8]) -> Patched {
        let mut patches = Vec::new();
        while data.len() >= 12 {
            let off = u64::from_le_bytes(data[..8].try_into().expect("8 bytes")) % BTRFS_FUZZ_IMAGE;
            let len = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")) as usize;
            let len = len.min(data.len() - 12).min((BTRFS_FUZZ_IMAGE - off) as usize);
            patches.push((off, data[12..12 + len].to_vec()));
            data = &data[12 + len..];
        }
        Patched { patches }
    }
}

impl ReadAt for Patched {
    fn size(&self) -> u64 {
        BTRFS_FUZZ_IMAGE
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end =
            offset.checked_add(buf.len() as u64).filter(|&e| e <= BTRFS_FUZZ_IMAGE).ok_or_else(|| DiskError::Io {
                what: self.describe(),
                offset: ByteOffset(offset),
                len: buf.len(),
                source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "past the end"),
            })?;
        buf.fill(0);
        for (at, bytes) in &self.patches {
            let (a, b) = ((*at).max(offset), (at + bytes.len() as u64).min(end));
            if a < b {
                buf[(a - offset) as usize..(b - offset) as usize]
                    .copy_from_slice(&bytes[(a - at) as usize..(b - at) as usize]);
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "fuzz".into()
    }
}

/// The btrfs in `data` read as [`btrfs_walk`] reads it (patch records
/// over a zeroed 1 GiB image), for tests that check a seed is a real
/// filesystem.
pub fn btrfs_open(data: &[u8]) -> Result<BtrfsFs> {
    let img: Arc<dyn ReadAt> = Arc::new(Patched::parse(data));
    BtrfsFs::open(Window::new(img, 0, BTRFS_FUZZ_IMAGE, "xvda"))
}

/// The input as patches over a zeroed image opened as btrfs: every
/// directory walked and file read, from the top level (GRUB 2's view) and
/// from the default subvolume (Linux's), the subvolume list built; and the
/// raw bytes through the btrfs parsers directly.
pub fn btrfs_walk(data: &[u8]) {
    btrfs::fuzz_parsers(data);
    let Ok(fs) = btrfs_open(data) else { return };
    walk(&fs);
    let _ = fs.summary();
    if let Ok(linux) = fs.open_subvolume(&SubvolSpec::Default) {
        walk(&linux);
    }
}

/// Every directory listed and every file read (bounded by
/// `MAX_WALK_NODES` and `MAX_WALK_FILE`), as a loader would resolve them.
pub fn walk(fs: &dyn Filesystem) {
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

/// Arbitrary bytes as LVM2 text metadata: parsed, read as a VG, and written
/// into the metadata areas of two small PVs on MBR partitions. The disk is
/// `None` when the bytes do not make one; `boot_config::fuzzing::lvm_metadata`
/// inspects it and walks its LVs with [`lvm_volumes_walk`].
pub fn lvm_metadata_disk(data: &[u8]) -> Option<Disk> {
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
    Disk::from_reader(Arc::new(MemImage::new(disk, "fuzz"))).ok()
}

/// Every LV of `disk`: read at its start, middle and end, and its
/// filesystem walked.
pub fn lvm_volumes_walk(disk: &Disk) {
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
