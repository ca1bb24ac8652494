//! Who owns a sector: which file, filesystem, partition or boot area of the
//! disk each sector a boot loader read belongs to.
//!
//! A loader that runs (boot-sim's HVM path executes real GRUB and SYSLINUX)
//! asks the BIOS for sectors, not files. To say "GRUB read
//! /boot/vmlinuz-6.1.0-28-cloud-amd64 in 870 reads", [`attribute`] matches
//! the sectors the loader read with the boot files' contents: it reads each
//! candidate file through boot-sim's own filesystem readers and gives a
//! read sector to the file one of whose 512-byte pieces it equals, inside
//! the file's volume. No per-filesystem block-map API is needed, so it is
//! right for every filesystem boot-sim reads (ext2/3/4, XFS, btrfs, FAT)
//! and through LVM; block caches and read-ahead in the readers cannot
//! mislead it, because only the bytes count. (A recording of the readers'
//! disk accesses cannot tell data from read-ahead: ext4-view's block cache
//! reads up to 32 KiB from the block it needs, `block_cache.rs`
//! `CacheOpts::new`, and serves later files from that cache.)
//!
//! A sector of one repeated byte (zeros, a full bitmap's 0xFF) matches
//! nothing by content: a stretch of them read between two sectors of the
//! same file is that file's (a kernel's zero padding), up to seven after a
//! file's sector are its last block's tail, others go to the area around
//! them. A compressed btrfs extent holds other bytes
//! than the file: its sectors are counted as the filesystem's.
//!
//! Sectors in no candidate file go to the area around them: the MBR, the
//! GPT, the gap before the first partition (where GRUB embeds core.img or
//! stage1.5), a partition without a filesystem boot-sim reads (a BIOS boot
//! partition, an LVM PV's metadata), a filesystem's metadata.
//!
//! Bounded: at most [`Limits::max_sectors`] distinct sectors are matched,
//! at most [`Limits::max_files`] files of at most [`Limits::max_file_bytes`]
//! each and [`Limits::max_total_bytes`] in all are read, and the walk goes
//! [`Limits::max_depth`] directories deep. Candidates are the boot files:
//! everything under `/boot` and the regular files at the top of every
//! filesystem; one without `/boot` (a separate `/boot` partition, an ESP)
//! is walked from its root.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::fs::{Filesystem, NodeKind};
use crate::partition::Scheme;
use crate::read::ReadAt;
use crate::{Disk, SECTOR_SIZE};

/// Bounds of [`attribute`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sectors: usize,
    pub max_files: usize,
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_sectors: 1 << 22,
            max_files: 4096,
            max_file_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_depth: 8,
        }
    }
}

/// What a sector belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    /// LBA 0: boot code, disk signature and (MBR or protective MBR) table.
    MasterBootRecord,
    /// The GPT header and entry array (primary or backup).
    GptTables,
    /// Data of a file: `(hd0,msdos1)/boot/vmlinuz`.
    File { device: String, path: String, size: u64, fs: String },
    /// Inside a volume with a filesystem, in no candidate file: superblock,
    /// inodes, directories, allocation structures.
    FsMetadata { device: String, fs: String },
    /// Inside a partition boot-sim found no filesystem on (a BIOS boot
    /// partition holding GRUB 2's core.img, an LVM PV's metadata area).
    Partition { device: String, what: String },
    /// Before the first partition, after the table (the "post-MBR gap"
    /// GRUB embeds core.img or stage1.5 in).
    PostMbrGap,
    /// Anywhere else outside every partition.
    Unpartitioned,
}

impl Owner {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Owner::MasterBootRecord => "the MBR (LBA 0)".into(),
            Owner::GptTables => "the GPT header and entries".into(),
            Owner::File { device, path, fs, .. } => format!("{device}{path} ({fs})"),
            Owner::FsMetadata { device, fs } => {
                format!("{device} {fs} metadata (superblock, inodes, directories, or a file boot-sim did not look at)")
            }
            Owner::Partition { device, what } => format!("{device} ({what})"),
            Owner::PostMbrGap => "the gap between the MBR and the first partition".into(),
            Owner::Unpartitioned => "sectors outside every partition".into(),
        }
    }
}

/// Who owns the sectors of each read, in the reads' order.
#[derive(Debug, Default)]
pub struct ReadOwners {
    pub owners: Vec<Owner>,
    /// For each read: `(index into owners, sectors)`, in disk order,
    /// neighbours with the same owner merged.
    pub pieces: Vec<Vec<(usize, u64)>>,
    /// Distinct sectors past [`Limits::max_sectors`], left to their areas.
    pub sectors_not_matched: u64,
    /// Candidate files not read because a limit was reached.
    pub files_skipped: u64,
}

/// A range of sectors `[start, end)` and who owns it.
#[derive(Clone, Debug)]
struct Area {
    start: u64,
    end: u64,
    owner: usize,
}

/// The disk's areas: the owner of a sector no file holds.
struct Areas {
    /// Volumes with a filesystem and partitions, smallest first (a logical
    /// partition before the extended one holding it).
    spans: Vec<Area>,
    mbr: usize,
    gpt: Option<usize>,
    gap: usize,
    unpartitioned: usize,
    first_partition: u64,
    disk_sectors: u64,
}

/// Uniform sectors after a file's sector that still count as the file's:
/// the rest of a 4 KiB block.
const MAX_UNIFORM_TAIL: u64 = 7;

/// GPT: LBA 1 (header) and the 32 sectors of entries after it.
const GPT_PRIMARY_END: u64 = 34;

impl Areas {
    fn owner(&self, lba: u64) -> usize {
        if lba == 0 {
            return self.mbr;
        }
        if let Some(a) = self.spans.iter().find(|a| a.start <= lba && lba < a.end) {
            return a.owner;
        }
        match self.gpt {
            Some(g) if lba < GPT_PRIMARY_END || lba >= self.disk_sectors.saturating_sub(33) => g,
            _ if lba < self.first_partition => self.gap,
            _ => self.unpartitioned,
        }
    }
}

/// The walk's running totals.
struct Budget {
    limits: Limits,
    files: usize,
    bytes: u64,
    skipped: u64,
}

/// A 64-bit digest of a 512-byte sector (not cryptographic: it only tells
/// a file's sectors from other sectors; a match is confirmed byte by byte).
fn sector_key(s: &[u8]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for w in s.chunks_exact(8) {
        let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h ^ v).wrapping_mul(0x0100_0000_01B3).rotate_left(29);
    }
    h
}

/// Sectors read at once to check candidate matches (64 KiB).
const VERIFY_RUN: u64 = 128;

/// A file's 512-byte piece, the last one padded with zeros as its sector
/// on disk is.
fn padded_piece(piece: &[u8]) -> [u8; 512] {
    let mut padded = [0u8; 512];
    padded[..piece.len()].copy_from_slice(piece);
    padded
}

/// Whether every byte of the sector is the same (zeros, a full bitmap's
/// 0xFF): such a sector says nothing about whose it is.
fn uniform(s: &[u8]) -> bool {
    s.iter().all(|&b| b == s[0])
}

/// Splits each read `(lba, sectors)` of the disk `reader` holds among the
/// files, filesystems and areas it touched. Never fails: what cannot be
/// read goes to the area around it.
pub fn attribute(reader: Arc<dyn ReadAt>, reads: &[(u64, u64)], limits: Limits) -> ReadOwners {
    let disk = Disk::from_reader(reader.clone()).ok();
    attribute_in(&reader, disk.as_ref(), reads, limits)
}

/// [`attribute`] for a caller that has the disk open already (`None`: its
/// table could not be read, so only the areas around the reads count).
pub fn attribute_in(reader: &Arc<dyn ReadAt>, disk: Option<&Disk>, reads: &[(u64, u64)], limits: Limits) -> ReadOwners {
    let sector = SECTOR_SIZE as usize;
    let disk_sectors = reader.size() / SECTOR_SIZE;
    // The distinct sectors read, their contents' keys (zero sectors apart).
    let mut runs: Vec<(u64, u64)> =
        reads.iter().map(|&(l, n)| (l.min(disk_sectors), l.saturating_add(n).min(disk_sectors))).collect();
    runs.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in runs {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ if s < e => merged.push((s, e)),
            _ => {}
        }
    }
    let mut by_key: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut zero: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut not_matched = 0u64;
    let mut seen = 0usize;
    let mut buf = vec![0u8; 128 * sector];
    for &(s, e) in &merged {
        let mut lba = s;
        while lba < e {
            let n = (e - lba).min(128) as usize;
            if seen + n > limits.max_sectors {
                not_matched += e - lba;
                break;
            }
            let chunk = &mut buf[..n * sector];
            if reader.read_exact_at(lba * SECTOR_SIZE, chunk).is_err() {
                break;
            }
            for (i, piece) in chunk.chunks_exact(sector).enumerate() {
                if uniform(piece) {
                    zero.insert(lba + i as u64);
                } else {
                    by_key.entry(sector_key(piece)).or_default().push(lba + i as u64);
                }
            }
            seen += n;
            lba += n as u64;
        }
    }

    let mut owners = vec![Owner::MasterBootRecord, Owner::PostMbrGap, Owner::Unpartitioned];
    let mut areas = Areas {
        spans: Vec::new(),
        mbr: 0,
        gpt: None,
        gap: 1,
        unpartitioned: 2,
        first_partition: disk_sectors,
        disk_sectors,
    };
    // Every file whose bytes a read sector equals; resolved below.
    let mut claims: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut budget = Budget { limits, files: 0, bytes: 0, skipped: 0 };
    if let Some(disk) = disk {
        if disk.table().scheme == Scheme::Gpt {
            owners.push(Owner::GptTables);
            areas.gpt = Some(owners.len() - 1);
        }
        for v in disk.volumes() {
            let device = v.names.grub2.clone();
            let range = v.partition.as_ref().map(|p| (p.start.0, p.start.0 + p.sectors));
            if let Some((start, _)) = range {
                areas.first_partition = areas.first_partition.min(start);
            }
            let fs_name = disk.probe(v).ok().flatten().map(|p| p.kind.name().to_string());
            let opened = fs_name.as_ref().and_then(|_| disk.open_fs(v).ok());
            let (Some(fs), Some(fs_name)) = (opened, fs_name) else {
                let what = match v.partition.as_ref().and_then(|p| p.ptype.name()) {
                    Some(name) => format!("{name} partition, no filesystem boot-sim reads"),
                    None => "no filesystem boot-sim reads".into(),
                };
                owners.push(Owner::Partition { device, what });
                if let Some((start, end)) = range {
                    areas.spans.push(Area { start, end, owner: owners.len() - 1 });
                }
                continue;
            };
            owners.push(Owner::FsMetadata { device: device.clone(), fs: fs_name.clone() });
            // An LV is not one range of the disk: its files are matched
            // anywhere, its metadata is left to the partition of its PV.
            if let Some((start, end)) = range {
                areas.spans.push(Area { start, end, owner: owners.len() - 1 });
            }
            if by_key.is_empty() {
                continue;
            }
            let mut paths = Vec::new();
            let has_boot = fs.stat("/boot").is_ok_and(|n| n.kind == NodeKind::Directory);
            walk(fs.as_ref(), "/", !has_boot, 0, &mut paths, &mut budget);
            if has_boot {
                walk(fs.as_ref(), "/boot", true, 1, &mut paths, &mut budget);
            }
            for (path, size) in paths {
                let Ok(content) = fs.read_file(&path, budget.limits.max_file_bytes) else { continue };
                // The read sectors (inside the volume) whose key equals one
                // of the file's 512-byte pieces: (LBA, piece number). A
                // piece equal to an earlier one adds nothing (its sectors
                // are that one's), which keeps the list within the sectors
                // read however often a file repeats itself.
                let mut candidates: Vec<(u64, usize)> = Vec::new();
                let mut first_with_key: HashMap<u64, &[u8]> = HashMap::new();
                for (i, piece) in content.chunks(sector).enumerate() {
                    let key = sector_key(&padded_piece(piece));
                    let Some(lbas) = by_key.get(&key) else { continue };
                    let first = *first_with_key.entry(key).or_insert(piece);
                    if !std::ptr::eq(first, piece) && first == piece {
                        continue;
                    }
                    candidates.extend(
                        lbas.iter()
                            .filter(|&&lba| !range.is_some_and(|(s, e)| lba < s || lba >= e))
                            .map(|&lba| (lba, i)),
                    );
                }
                // Equal keys are checked byte for byte, reading the disk in
                // runs of consecutive sectors (a file's sectors mostly are:
                // one read per run, not one per sector).
                candidates.sort_unstable();
                let mut owner = None;
                let mut run = Vec::new();
                let mut at = 0;
                while at < candidates.len() {
                    let first = candidates[at].0;
                    let mut end = at + 1;
                    while end < candidates.len()
                        && candidates[end].0 - first < VERIFY_RUN
                        && candidates[end].0 <= candidates[end - 1].0 + 1
                    {
                        end += 1;
                    }
                    let sectors = candidates[end - 1].0 - first + 1;
                    run.resize(sectors as usize * sector, 0);
                    let whole = reader.read_exact_at(first * SECTOR_SIZE, &mut run).is_ok();
                    for &(lba, i) in &candidates[at..end] {
                        let padded = padded_piece(&content[i * sector..((i + 1) * sector).min(content.len())]);
                        let k = (lba - first) as usize * sector;
                        let equal = if whole {
                            run[k..k + sector] == padded
                        } else {
                            let mut on_disk = [0u8; 512];
                            reader.read_exact_at(lba * SECTOR_SIZE, &mut on_disk).is_ok() && on_disk == padded
                        };
                        if !equal {
                            continue;
                        }
                        let o = *owner.get_or_insert_with(|| {
                            owners.push(Owner::File {
                                device: device.clone(),
                                path: path.clone(),
                                size,
                                fs: fs_name.clone(),
                            });
                            owners.len() - 1
                        });
                        let c = claims.entry(lba).or_default();
                        if c.last() != Some(&o) {
                            c.push(o);
                        }
                    }
                    at = end;
                }
            }
        }
    }
    areas.spans.sort_by_key(|a| (a.end - a.start, a.start));

    let mut owned = resolve_claims(claims);
    fill_uniform(&merged, &zero, &owners, &mut owned);

    let pieces = reads
        .iter()
        .map(|&(lba, n)| {
            let mut out: Vec<(usize, u64)> = Vec::new();
            for s in lba..lba.saturating_add(n).min(disk_sectors) {
                let o = owned.get(&s).copied().unwrap_or_else(|| areas.owner(s));
                match out.last_mut() {
                    Some(last) if last.0 == o => last.1 += 1,
                    _ => out.push((o, 1)),
                }
            }
            out
        })
        .collect();
    ReadOwners { owners, pieces, sectors_not_matched: not_matched, files_skipped: budget.skipped }
}

/// One owner per claimed sector. A sector only one file's bytes equal is
/// that file's. One several files' bytes equal (the same 512 bytes in two
/// files) goes to the claimant that owns a neighbouring sector (files lie
/// in runs), found over a few passes outward from the certain ones; what
/// stays open goes to the first claimant.
fn resolve_claims(claims: HashMap<u64, Vec<usize>>) -> HashMap<u64, usize> {
    let mut owned: HashMap<u64, usize> = HashMap::new();
    let mut open: Vec<(u64, Vec<usize>)> = Vec::new();
    for (lba, c) in claims {
        match c.as_slice() {
            [only] => {
                owned.insert(lba, *only);
            }
            _ => open.push((lba, c)),
        }
    }
    open.sort_unstable_by_key(|(lba, _)| *lba);
    for _ in 0..8 {
        let before = open.len();
        open.retain(|(lba, c)| {
            let near = [lba.wrapping_sub(1), lba + 1].map(|n| owned.get(&n).copied());
            match c.iter().find(|o| near.contains(&Some(**o))) {
                Some(&o) => {
                    owned.insert(*lba, o);
                    false
                }
                None => true,
            }
        });
        if open.len() == before {
            break;
        }
    }
    for (lba, c) in open {
        owned.insert(lba, c[0]);
    }
    owned
}

/// Gives the uniform sectors (which match nothing by content) of the read
/// runs `merged` an owner where their neighbours say whose they are: the
/// uniform sectors between two sectors of the same file are that file's (a
/// kernel's zero padding, also across an indirect block), and up to
/// [`MAX_UNIFORM_TAIL`] right after a file's sector are its last block's
/// tail.
fn fill_uniform(
    merged: &[(u64, u64)],
    uniform: &std::collections::HashSet<u64>,
    owners: &[Owner],
    owned: &mut HashMap<u64, usize>,
) {
    let is_file = |o: usize| matches!(owners[o], Owner::File { .. });
    // The tail rule: up to MAX_UNIFORM_TAIL of `pending` right after the
    // file's sector `last`.
    let tail = |owned: &mut HashMap<u64, usize>, pending: &[u64], file: usize, last: u64| {
        for (k, &u) in pending.iter().take(MAX_UNIFORM_TAIL as usize).enumerate() {
            if u != last + 1 + k as u64 {
                break;
            }
            owned.insert(u, file);
        }
    };
    for &(start, end) in merged {
        // The last file sector seen (owner, LBA), and the uniform sectors
        // right after it; sectors no file owns (an indirect block between
        // two runs of a file's data) do not end the stretch.
        let mut before: Option<(usize, u64)> = None;
        let mut pending: Vec<u64> = Vec::new();
        // After a sector no file owns, uniform sectors are that block's
        // (an indirect block's unused pointers), not the file's.
        let mut blocked = false;
        for s in start..end {
            if uniform.contains(&s) {
                if !blocked {
                    pending.push(s);
                }
                continue;
            }
            let Some(here) = owned.get(&s).copied().filter(|&h| is_file(h)) else {
                blocked = true;
                continue;
            };
            blocked = false;
            match before {
                Some((b, _)) if b == here => {
                    for &u in &pending {
                        owned.insert(u, b);
                    }
                }
                Some((b, last)) => tail(owned, &pending, b, last),
                None => {}
            }
            pending.clear();
            before = Some((here, s));
        }
        if let Some((b, last)) = before {
            tail(owned, &pending, b, last);
        }
    }
}

/// Collects the regular files under `dir` (recursively when `deep`) as
/// `(path, size)`, within the budget.
fn walk(fs: &dyn Filesystem, dir: &str, deep: bool, depth: usize, out: &mut Vec<(String, u64)>, b: &mut Budget) {
    let Ok(entries) = fs.list_dir(dir) else { return };
    for e in entries {
        let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
        match e.kind {
            NodeKind::File => {
                let Ok(node) = fs.stat(&path) else { continue };
                if b.files >= b.limits.max_files
                    || node.size > b.limits.max_file_bytes
                    || b.bytes.saturating_add(node.size) > b.limits.max_total_bytes
                {
                    b.skipped += 1;
                    continue;
                }
                b.files += 1;
                b.bytes += node.size;
                out.push((path, node.size));
            }
            NodeKind::Directory if deep && depth < b.limits.max_depth && path != "/boot" => {
                walk(fs, &path, true, depth + 1, out, b);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemImage;

    #[test]
    fn keys_differ_for_different_sectors() {
        let a = [1u8; 512];
        let mut b = a;
        b[511] = 2;
        assert_ne!(sector_key(&a), sector_key(&b));
        assert_eq!(sector_key(&a), sector_key(&[1u8; 512]));
    }

    #[test]
    fn a_disk_without_a_table_is_areas_only_and_never_fails() {
        let mut data = vec![0u8; 64 * 512];
        data[512..1024].fill(7);
        let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(data, "t.img"));
        // Reads past the end are cut, empty reads give no pieces.
        let r = attribute(img, &[(0, 2), (60, 10), (5, 0)], Limits::default());
        assert_eq!(r.pieces.len(), 3);
        assert_eq!(r.owners[r.pieces[0][0].0], Owner::MasterBootRecord);
        assert_eq!(r.pieces[0].iter().map(|p| p.1).sum::<u64>(), 2);
        assert_eq!(r.pieces[1].iter().map(|p| p.1).sum::<u64>(), 4);
        assert!(r.pieces[2].is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any bytes, any reads: every read's pieces add up to its sectors
        /// on the disk and name known owners.
        #[test]
        fn pieces_cover_every_read(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40_000),
            reads in proptest::collection::vec((0u64..100, 0u64..20), 0..40),
        ) {
            let sectors = data.len() as u64 / 512;
            let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(data, "p.img"));
            let r = attribute(img, &reads, Limits::default());
            proptest::prop_assert_eq!(r.pieces.len(), reads.len());
            for (pieces, &(lba, n)) in r.pieces.iter().zip(&reads) {
                let want = lba.saturating_add(n).min(sectors).saturating_sub(lba.min(sectors));
                proptest::prop_assert_eq!(pieces.iter().map(|p| p.1).sum::<u64>(), want);
                proptest::prop_assert!(pieces.iter().all(|p| p.0 < r.owners.len()));
            }
        }
    }
}
