//! Read-only FAT12/16/32 with VFAT long names, for EFI System Partitions.
//!
//! Layout from Microsoft's "FAT: General Overview of On-Disk Format"
//! (fatgen103): the BPB (`BPB_BytsPerSec` at 11 … `BPB_TotSec32` at 32,
//! FAT32's `BPB_FATSz32` at 36 and `BPB_RootClus` at 44), the FAT type from
//! the count of data clusters (< 4085 FAT12, < 65525 FAT16, else FAT32),
//! 32-byte directory entries, and long-name entries (attribute 0x0F, order
//! byte, 13 UTF-16 units in three runs, checksum of the 8.3 name). Linux
//! `fs/fat` and GRUB's `grub-core/fs/fat.c` read the same way; names are
//! matched case-insensitively as both do.
//!
//! `fatfs` (rust-fatfs 0.3) was considered: it needs Read + Write + Seek
//! even to read, writes on unmount, and has `unsafe` in its core_io
//! support; this reader is small, never writes, and bounds every chain.

use bytemuck::{Pod, Zeroable};

use super::{DirEntry, Filesystem, Node, NodeKind};
use crate::error::{DiskError, PathErrorKind, Result};
use crate::le::{Le16, Le32};
use crate::read::{ReadAt, Window};
use crate::units::ByteOffset;

/// fatgen103: "a FAT directory can hold at most 65,536 entries".
const MAX_DIR_ENTRIES: usize = 65_536;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_LONG_NAME: u8 = 0x0F;

/// The BIOS parameter block (fatgen103 "Boot Sector and BPB Structure"),
/// through FAT32's extended fields.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawBpb {
    pub jump: [u8; 3],
    pub oem: [u8; 8],
    /// 11: BPB_BytsPerSec.
    pub bytes_per_sector: Le16,
    /// 13: BPB_SecPerClus.
    pub sectors_per_cluster: u8,
    /// 14: BPB_RsvdSecCnt.
    pub reserved_sectors: Le16,
    /// 16: BPB_NumFATs.
    pub num_fats: u8,
    /// 17: BPB_RootEntCnt (0 on FAT32).
    pub root_entries: Le16,
    /// 19: BPB_TotSec16.
    pub total_sectors16: Le16,
    pub media: u8,
    /// 22: BPB_FATSz16 (0 on FAT32).
    pub fat_size16: Le16,
    pub sectors_per_track: Le16,
    pub heads: Le16,
    pub hidden_sectors: Le32,
    /// 32: BPB_TotSec32.
    pub total_sectors32: Le32,
    /// 36: BPB_FATSz32.
    pub fat_size32: Le32,
    pub ext_flags: Le16,
    pub fs_version: Le16,
    /// 44: BPB_RootClus.
    pub root_cluster: Le32,
}
const _: () = assert!(size_of::<RawBpb>() == 48);

/// One 32-byte directory entry (fatgen103 "FAT 32 Byte Directory Entry Structure").
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RawDirent {
    name: [u8; 11],
    attr: u8,
    /// Windows NT's case bits: 0x08 base name lower case, 0x10 extension.
    nt_case: u8,
    ctime_tenth: u8,
    ctime: Le16,
    cdate: Le16,
    adate: Le16,
    cluster_hi: Le16,
    wtime: Le16,
    wdate: Le16,
    cluster_lo: Le16,
    size: Le32,
}
const _: () = assert!(size_of::<RawDirent>() == 32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    Fat12,
    Fat16,
    Fat32,
}

/// A directory's place: FAT12/16's fixed root region, or a cluster chain.
#[derive(Debug, Clone, Copy)]
enum DirLoc {
    FixedRoot,
    Chain(u32),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    is_dir: bool,
    cluster: u32,
    size: u32,
}

pub struct FatFs {
    vol: Window,
    pub fat_type: FatType,
    cluster_bytes: u64,
    fat_offset: u64,
    root_offset: u64,
    root_entries: u64,
    data_offset: u64,
    /// Data clusters; valid cluster numbers are 2..clusters + 2.
    clusters: u32,
    root_cluster: u32,
}

impl FatFs {
    pub fn open(vol: Window) -> Result<FatFs> {
        let what = || format!("FAT boot sector of {}", vol.describe());
        let corrupt = |at: u64, d: String| DiskError::corrupt(what(), ByteOffset(vol.start() + at), d);
        let b: RawBpb = bytemuck::pod_read_unaligned(&vol.read_vec(0, 48)?);
        let sector = u64::from(b.bytes_per_sector.get());
        if ![512, 1024, 2048, 4096].contains(&sector) {
            return Err(corrupt(11, format!("bytes per sector {sector}")));
        }
        let spc = u64::from(b.sectors_per_cluster);
        if spc == 0 || !spc.is_power_of_two() {
            return Err(corrupt(13, format!("sectors per cluster {spc}")));
        }
        let reserved = u64::from(b.reserved_sectors.get());
        if reserved == 0 || b.num_fats == 0 {
            return Err(corrupt(14, "no reserved sectors or no FAT".into()));
        }
        let fat_size =
            if b.fat_size16.get() != 0 { u64::from(b.fat_size16.get()) } else { u64::from(b.fat_size32.get()) };
        let total = if b.total_sectors16.get() != 0 {
            u64::from(b.total_sectors16.get())
        } else {
            u64::from(b.total_sectors32.get())
        };
        let root_entries = u64::from(b.root_entries.get());
        let root_sectors = (root_entries * 32).div_ceil(sector);
        let meta = reserved + u64::from(b.num_fats) * fat_size + root_sectors;
        if fat_size == 0 || total <= meta || total.saturating_mul(sector) > vol.size() {
            return Err(corrupt(
                19,
                format!("{total} sectors ({meta} of them reserved, FATs and root) do not fit the {} bytes", vol.size()),
            ));
        }
        let clusters = (total - meta) / spc;
        let fat_type = if clusters < 4085 {
            FatType::Fat12
        } else if clusters < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        let entry_bits = match fat_type {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        };
        if (clusters + 2) * entry_bits / 8 > fat_size * sector {
            return Err(corrupt(22, format!("the FAT ({fat_size} sectors) is too small for {clusters} clusters")));
        }
        if fat_type == FatType::Fat32 && root_entries != 0 {
            return Err(corrupt(17, "FAT32 with a fixed root directory".into()));
        }
        let root_cluster = b.root_cluster.get();
        Ok(FatFs {
            fat_type,
            cluster_bytes: spc * sector,
            fat_offset: reserved * sector,
            root_offset: (reserved + u64::from(b.num_fats) * fat_size) * sector,
            root_entries,
            data_offset: meta * sector,
            clusters: clusters as u32,
            root_cluster,
            vol,
        })
    }

    fn err(&self, at: u64, detail: String) -> DiskError {
        DiskError::corrupt(
            format!("FAT filesystem on {}", self.vol.describe()),
            ByteOffset(self.vol.start() + at),
            detail,
        )
    }

    fn valid(&self, c: u32) -> bool {
        c >= 2 && c - 2 < self.clusters
    }

    /// The FAT entry of cluster `c`: `None` at the end of a chain.
    fn next(&self, c: u32) -> Result<Option<u32>> {
        let (off, v, eoc) = match self.fat_type {
            FatType::Fat12 => {
                let off = u64::from(c) * 3 / 2;
                let b = self.vol.read_vec(self.fat_offset + off, 2)?;
                let raw = u32::from(u16::from_le_bytes([b[0], b[1]]));
                (off, if c & 1 == 1 { raw >> 4 } else { raw & 0xFFF }, 0xFF8)
            }
            FatType::Fat16 => {
                let off = u64::from(c) * 2;
                let b = self.vol.read_vec(self.fat_offset + off, 2)?;
                (off, u32::from(u16::from_le_bytes([b[0], b[1]])), 0xFFF8)
            }
            FatType::Fat32 => {
                let off = u64::from(c) * 4;
                let b = self.vol.read_vec(self.fat_offset + off, 4)?;
                (off, u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x0FFF_FFFF, 0x0FFF_FFF8)
            }
        };
        if v >= eoc {
            return Ok(None);
        }
        if !self.valid(v) {
            return Err(self.err(self.fat_offset + off, format!("cluster {c} links to {v:#x}, not a data cluster")));
        }
        Ok(Some(v))
    }

    /// Up to `max` clusters of the chain from `first` (a chain longer than
    /// the filesystem's cluster count loops, and is refused).
    fn chain(&self, first: u32, max: u64) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut c = first;
        if !self.valid(c) {
            return Err(self.err(0, format!("chain starts at cluster {c:#x}, not a data cluster")));
        }
        loop {
            out.push(c);
            if out.len() as u64 >= max {
                return Ok(out);
            }
            if out.len() as u64 > u64::from(self.clusters) {
                return Err(self.err(self.fat_offset, format!("the chain from cluster {first} loops")));
            }
            match self.next(c)? {
                Some(n) => c = n,
                None => return Ok(out),
            }
        }
    }

    fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset + u64::from(c - 2) * self.cluster_bytes
    }

    fn dir_bytes(&self, loc: DirLoc) -> Result<Vec<u8>> {
        match loc {
            DirLoc::FixedRoot => self.vol.read_vec(self.root_offset, (self.root_entries * 32) as usize),
            DirLoc::Chain(first) => {
                let max = (MAX_DIR_ENTRIES as u64 * 32).div_ceil(self.cluster_bytes);
                let mut out = Vec::new();
                for c in self.chain(first, max)? {
                    let at = out.len();
                    out.resize(at + self.cluster_bytes as usize, 0);
                    self.vol.read_exact_at(self.cluster_offset(c), &mut out[at..])?;
                }
                Ok(out)
            }
        }
    }

    fn entries(&self, loc: DirLoc) -> Result<Vec<Entry>> {
        let bytes = self.dir_bytes(loc)?;
        let mut out = Vec::new();
        let mut lfn: Vec<u16> = Vec::new();
        let mut lfn_sum = None;
        for raw in bytes.chunks_exact(32).take(MAX_DIR_ENTRIES) {
            let d: RawDirent = bytemuck::pod_read_unaligned(raw);
            match d.name[0] {
                0 => break,
                0xE5 => {
                    lfn.clear();
                    continue;
                }
                _ => {}
            }
            if d.attr & 0x3F == ATTR_LONG_NAME {
                // Order byte: 0x40 marks the last (first stored) piece.
                if raw[0] & 0x40 != 0 {
                    lfn.clear();
                }
                let units: Vec<u16> = [1..11, 14..26, 28..32]
                    .into_iter()
                    .flat_map(|r| raw[r].chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect::<Vec<_>>())
                    .collect();
                // Stored last piece first: prepend.
                lfn.splice(0..0, units);
                lfn_sum = Some(raw[13]);
                continue;
            }
            if d.attr & ATTR_VOLUME_ID != 0 {
                lfn.clear();
                continue;
            }
            let short = short_name(&d);
            let name = if !lfn.is_empty() && lfn_sum == Some(lfn_checksum(&d.name)) {
                let end = lfn.iter().position(|&u| u == 0 || u == 0xFFFF).unwrap_or(lfn.len());
                String::from_utf16_lossy(&lfn[..end])
            } else {
                short
            };
            lfn.clear();
            if name == "." || name == ".." {
                continue;
            }
            let cluster = (u32::from(d.cluster_hi.get()) << 16) | u32::from(d.cluster_lo.get());
            out.push(Entry { name, is_dir: d.attr & ATTR_DIRECTORY != 0, cluster, size: d.size.get() });
        }
        Ok(out)
    }

    fn root(&self) -> DirLoc {
        if self.fat_type == FatType::Fat32 { DirLoc::Chain(self.root_cluster) } else { DirLoc::FixedRoot }
    }

    /// The entry at `path` (`None` for the root).
    fn lookup(&self, path: &str) -> Result<Option<Entry>> {
        let mut loc = self.root();
        let mut found = None;
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for (i, comp) in comps.iter().enumerate() {
            let e = self
                .entries(loc)?
                .into_iter()
                .find(|e| e.name.eq_ignore_ascii_case(comp))
                .ok_or_else(|| DiskError::path(path, PathErrorKind::NotFound, "file not found"))?;
            if i + 1 < comps.len() {
                if !e.is_dir {
                    return Err(DiskError::path(path, PathErrorKind::NotADirectory, "not a directory"));
                }
                // A directory entry with cluster 0 is the root (fatgen103, "..").
                loc = if e.cluster == 0 { self.root() } else { DirLoc::Chain(e.cluster) };
            }
            found = Some(e);
        }
        Ok(found)
    }
}

fn short_name(d: &RawDirent) -> String {
    let mut base: Vec<u8> = d.name[..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xE5;
    }
    let lower = |b: &[u8], yes: bool| -> String {
        let s: String = b.iter().map(|&c| c as char).collect::<String>().trim_end().to_string();
        if yes { s.to_ascii_lowercase() } else { s }
    };
    let base = lower(&base, d.nt_case & 0x08 != 0);
    let ext = lower(&d.name[8..], d.nt_case & 0x10 != 0);
    if ext.is_empty() { base } else { format!("{base}.{ext}") }
}

/// fatgen103 "ChkSum": rotate right and add over the 11 name bytes.
fn lfn_checksum(name: &[u8; 11]) -> u8 {
    name.iter().fold(0u8, |s, &c| s.rotate_right(1).wrapping_add(c))
}

impl Filesystem for FatFs {
    fn stat(&self, path: &str) -> Result<Node> {
        Ok(match self.lookup(path)? {
            None => Node { kind: NodeKind::Directory, size: 0 },
            Some(e) if e.is_dir => Node { kind: NodeKind::Directory, size: 0 },
            Some(e) => Node { kind: NodeKind::File, size: u64::from(e.size) },
        })
    }

    fn read_link(&self, path: &str) -> Result<String> {
        Err(DiskError::path(path, PathErrorKind::Other, "FAT has no symbolic links"))
    }

    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        let e = match self.lookup(path)? {
            Some(e) if !e.is_dir => e,
            _ => return Err(DiskError::path(path, PathErrorKind::IsADirectory, "is a directory")),
        };
        let size = u64::from(e.size);
        if size > max_len {
            return Err(DiskError::path(path, PathErrorKind::TooLarge, format!("{size} bytes, more than {max_len}")));
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let need = size.div_ceil(self.cluster_bytes);
        let chain = self.chain(e.cluster, need)?;
        if (chain.len() as u64) < need {
            return Err(DiskError::path(
                path,
                PathErrorKind::Corrupt,
                format!("{size} bytes but only {} clusters in its chain", chain.len()),
            ));
        }
        let mut out = vec![0u8; size as usize];
        for (i, c) in chain.iter().enumerate() {
            let at = i * self.cluster_bytes as usize;
            let n = (out.len() - at).min(self.cluster_bytes as usize);
            self.vol.read_exact_at(self.cluster_offset(*c), &mut out[at..at + n])?;
        }
        Ok(out)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let loc = match self.lookup(path)? {
            None => self.root(),
            Some(e) if e.is_dir => {
                if e.cluster == 0 {
                    self.root()
                } else {
                    DirLoc::Chain(e.cluster)
                }
            }
            Some(_) => return Err(DiskError::path(path, PathErrorKind::NotADirectory, "not a directory")),
        };
        Ok(self
            .entries(loc)?
            .into_iter()
            .map(|e| DirEntry { name: e.name, kind: if e.is_dir { NodeKind::Directory } else { NodeKind::File } })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::MemImage;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// A FAT12 volume of 1024 sectors (512 bytes, 1 per cluster, 1 FAT of 3
    /// sectors, 64 root entries) holding `files` in the root, each with a
    /// long name and a short name `F<n>.TXT`, contiguous clusters.
    fn fat12(files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut img = vec![0u8; 1024 * 512];
        img[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        img[3..11].copy_from_slice(b"mkfs.fat");
        img[11..13].copy_from_slice(&512u16.to_le_bytes());
        img[13] = 1;
        img[14..16].copy_from_slice(&1u16.to_le_bytes());
        img[16] = 1;
        img[17..19].copy_from_slice(&64u16.to_le_bytes());
        img[19..21].copy_from_slice(&1024u16.to_le_bytes());
        img[21] = 0xF8;
        img[22..24].copy_from_slice(&3u16.to_le_bytes());
        img[510] = 0x55;
        img[511] = 0xAA;
        let fat = 512;
        let root = 512 * 4;
        let data = root + 64 * 32;
        let set = |img: &mut Vec<u8>, c: u32, v: u32| {
            let off = fat + (c as usize * 3 / 2);
            let mut raw = u16::from_le_bytes([img[off], img[off + 1]]);
            if c & 1 == 1 {
                raw = (raw & 0x000F) | ((v as u16) << 4);
            } else {
                raw = (raw & 0xF000) | (v as u16 & 0xFFF);
            }
            img[off..off + 2].copy_from_slice(&raw.to_le_bytes());
        };
        set(&mut img, 0, 0xFF8);
        set(&mut img, 1, 0xFFF);
        let mut next_cluster = 2u32;
        let mut slot = 0usize;
        for (n, (name, content)) in files.iter().enumerate() {
            let short: [u8; 11] = format!("F{n:<7}TXT").as_bytes().try_into().unwrap();
            let units: Vec<u16> = name.encode_utf16().chain([0]).collect();
            let pieces = units.len().div_ceil(13);
            for p in (0..pieces).rev() {
                let mut e = [0xFFu8; 32];
                e[0] = (p as u8 + 1) | if p + 1 == pieces { 0x40 } else { 0 };
                e[11] = ATTR_LONG_NAME;
                e[12] = 0;
                e[13] = lfn_checksum(&short);
                e[26] = 0;
                e[27] = 0;
                let chunk: Vec<u16> = (0..13).map(|i| *units.get(p * 13 + i).unwrap_or(&0xFFFF)).collect();
                let mut k = 0;
                for r in [1..11, 14..26, 28..32] {
                    for at in r.step_by(2) {
                        e[at..at + 2].copy_from_slice(&chunk[k].to_le_bytes());
                        k += 1;
                    }
                }
                img[root + slot * 32..][..32].copy_from_slice(&e);
                slot += 1;
            }
            let clusters = content.len().div_ceil(512) as u32;
            let first = if clusters == 0 { 0 } else { next_cluster };
            for i in 0..clusters {
                let c = next_cluster + i;
                set(&mut img, c, if i + 1 == clusters { 0xFFF } else { c + 1 });
                let at = data + (c as usize - 2) * 512;
                let piece = &content[i as usize * 512..content.len().min((i as usize + 1) * 512)];
                img[at..at + piece.len()].copy_from_slice(piece);
            }
            next_cluster += clusters;
            let mut e = [0u8; 32];
            e[..11].copy_from_slice(&short);
            e[26..28].copy_from_slice(&(first as u16).to_le_bytes());
            e[28..32].copy_from_slice(&(content.len() as u32).to_le_bytes());
            img[root + slot * 32..][..32].copy_from_slice(&e);
            slot += 1;
        }
        img
    }

    fn open(img: Vec<u8>) -> Result<FatFs> {
        let r: Arc<dyn ReadAt> = Arc::new(MemImage::new(img, "fat"));
        let len = r.size();
        FatFs::open(Window::new(r, 0, len, "esp"))
    }

    proptest! {
        /// Long names and contents read back as written.
        #[test]
        fn files_read_back(files in prop::collection::vec(("[A-Za-z0-9 ._-]{1,30}", prop::collection::vec(any::<u8>(), 0..1500)), 1..4)) {
            let mut names = std::collections::HashSet::new();
            prop_assume!(files.iter().all(|(n, _)| names.insert(n.to_ascii_lowercase()) && n.trim() == n && !n.ends_with('.') && n != "." && n != ".."));
            let fs = open(fat12(&files)).unwrap();
            prop_assert_eq!(fs.fat_type, FatType::Fat12);
            let listed: Vec<String> = fs.list_dir("/").unwrap().into_iter().map(|e| e.name).collect();
            let want: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
            prop_assert_eq!(listed, want);
            for (n, c) in &files {
                let upper = format!("/{}", n.to_ascii_uppercase());
                prop_assert_eq!(&fs.read_file(&upper, 1 << 20).unwrap(), c);
            }
        }

        /// Any byte of the boot sector, FAT or root changed: an error or a
        /// result, never a panic or a hang.
        #[test]
        fn corrupted_volumes_never_panic(at in 0usize..(4 * 512 + 64 * 32 + 2048), x in 1u8..=255) {
            let mut img = fat12(&[("EFI".into(), vec![1; 700]), ("a long file name.cfg".into(), vec![2; 1200])]);
            img[at] ^= x;
            if let Ok(fs) = open(img)
                && let Ok(es) = fs.list_dir("/")
            {
                for e in es {
                    let _ = fs.read_file(&format!("/{}", e.name), 1 << 20);
                    let _ = fs.list_dir(&format!("/{}", e.name));
                }
            }
        }
    }

    #[test]
    fn a_looping_chain_is_refused() {
        let mut img = fat12(&[("loop".into(), vec![7; 2000])]);
        // Cluster 3 (second of the file) points back to 2.
        let off = 512 + 3 * 3 / 2;
        let raw = u16::from_le_bytes([img[off], img[off + 1]]);
        img[off..off + 2].copy_from_slice(&((raw & 0x000F) | (2 << 4)).to_le_bytes());
        let fs = open(img).unwrap();
        // The file wants 4 clusters; the chain 2→3→2… is cut by the cap at
        // the cluster count, never followed forever.
        let e = fs.chain(2, u64::MAX).unwrap_err().to_string();
        assert!(e.contains("loops"), "{e}");
    }

    #[test]
    fn checksum_matches_fatgen103() {
        // "FOO     BAR": the reference ChkSum loop.
        let n = *b"FOO     BAR";
        let mut sum: u8 = 0;
        for &c in &n {
            sum = (if sum & 1 != 0 { 0x80u8 } else { 0 }).wrapping_add(sum >> 1).wrapping_add(c);
        }
        assert_eq!(lfn_checksum(&n), sum);
    }
}
