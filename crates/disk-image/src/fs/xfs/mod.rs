//! XFS, read-only, V4 and V5 (Linux `fs/xfs/libxfs`; the on-disk format
//! as `xfs_format.h` and `xfs_da_format.h` define it).
//!
//! What is read: the primary superblock and AG geometry, inode cores v1/v2
//! (V4) and v3 (V5), data forks in local, extents and btree format,
//! short-form, block, leaf, node and btree directories (the data blocks
//! below `XFS_DIR2_LEAF_OFFSET` are walked through the fork's extents; the
//! leaf and free indexes are not needed to list or find a name), local and
//! remote symlinks, holes and unwritten extents (zeros, as Linux reads
//! them). V5 CRC32C is checked on the superblock, every inode core read,
//! bmbt, directory and remote symlink blocks; a mismatch is an error naming
//! the structure and its byte offset on the disk. The log is not replayed
//! (GRUB does not either).
//!
//! Written here rather than adopted: `xfs-core` 0.1.6 refuses leaf, node
//! and btree directories; `lamxfs` 0.1.3 reads them but reports errors as
//! static tokens without disk byte offsets and needs `&mut self` for every
//! read (details in the commit message).

mod format;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;

use format::{Extent, FileType, ForkFormat, Inode, RawDirEntry, Superblock};

use super::{DirEntry, FileSink, Filesystem, Node, NodeKind};
use crate::error::{DiskError, PathErrorKind, Result};
use crate::read::{ReadAt, Window};
use crate::units::ByteOffset;

/// Depth of a bmap btree boot-sim follows. `XFS_BM_MAXLEVELS` is 9 for
/// 64-bit extent counts (`xfs_bmbt_maxlevels_ondisk`); real files of a
/// boot partition need 1 or 2.
const MAX_BTREE_DEPTH: u16 = 9;
/// bmbt blocks read for one fork.
const MAX_BMBT_BLOCKS: usize = 1 << 16;
/// Extents of one fork kept in memory (24 bytes each: 6 MiB at most).
const MAX_EXTENTS: usize = 1 << 18;
/// Directory blocks scanned for one lookup or listing (4 GiB of 4 KiB
/// directory blocks, some 10^8 entries).
const MAX_DIR_BLOCKS: u64 = 1 << 20;
/// Entries one listing returns; a bigger directory is an error, not an
/// unbounded allocation (10^6 entries would need ~50 MB of names).
pub const MAX_LIST_ENTRIES: usize = 1 << 18;
/// Names the one-directory lookup cache holds (some 5 MiB); a bigger
/// directory is scanned per lookup instead.
const MAX_CACHED_ENTRIES: usize = 1 << 16;

/// A directory's inode number and its names → inode numbers.
type DirIndex = (u64, HashMap<Vec<u8>, u64>);

/// An XFS filesystem, read-only.
pub struct XfsFs {
    vol: Window,
    sb: Superblock,
    /// Names → inode numbers of the last multi-block directory looked up
    /// in, so that resolving every entry of a big directory (a walk, a
    /// listing without ftype) scans it once, not once per entry.
    dir_cache: RefCell<Option<DirIndex>>,
    /// Where the filesystem starts on the disk, for error offsets.
    base: u64,
    what: String,
}

impl std::fmt::Debug for XfsFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfsFs").field("base", &self.base).field("version", &self.sb.version).finish()
    }
}

/// Bytes boot-sim reads of the primary superblock before it knows the
/// sector size (`XFS_MIN_SECTORSIZE`).
const SB_READ: usize = 512;

impl XfsFs {
    /// Reads and checks the primary superblock of the XFS in `vol`. A
    /// malformed one (or a bad V5 CRC) is `Corrupt` at its byte offset; a
    /// valid one with a feature boot-sim does not read (V4 directory v1,
    /// a realtime section, unknown incompat features) is `Unsupported`.
    pub fn open(vol: Window) -> Result<XfsFs> {
        let base = vol.start();
        let what = vol.describe();
        let sb_what = format!("XFS superblock of {what}");
        let mut bytes = vol.read_vec(0, SB_READ)?;
        let sectsize = usize::from(format::be16(&bytes, 102));
        if sectsize > SB_READ && sectsize <= 32768 && sectsize.is_power_of_two() {
            bytes = vol.read_vec(0, sectsize)?;
        }
        let sb = match Superblock::parse(&bytes) {
            Err(detail) => return Err(DiskError::corrupt(sb_what, ByteOffset(base), detail)),
            Ok(Err(feature)) => return Err(DiskError::Unsupported { what: format!("{feature} on {what}") }),
            Ok(Ok(sb)) => sb,
        };
        if sb.v5() {
            // xfs_sb_read_verify: the CRC covers one sector.
            format::verify_cksum(&bytes[..sb.sectsize as usize], format::SB_CRC_OFF).map_err(
                |(stored, computed)| {
                    DiskError::corrupt(
                        sb_what,
                        ByteOffset(base),
                        format!("CRC32C mismatch (sb_crc {stored:#010x}, computed {computed:#010x})"),
                    )
                },
            )?;
        }
        Ok(XfsFs { vol, sb, dir_cache: RefCell::new(None), base, what })
    }

    /// 4 or 5 (`sb_versionnum & XFS_SB_VERSION_NUMBITS`).
    pub fn version(&self) -> u8 {
        self.sb.version
    }

    /// `sb_fname`, as blkid prints LABEL.
    pub fn label(&self) -> Option<String> {
        self.sb.label.clone()
    }

    /// `sb_uuid` (blkid's UUID; not `sb_meta_uuid`).
    pub fn uuid(&self) -> [u8; 16] {
        self.sb.uuid
    }

    /// Whether directory entries carry their file type (`ftype=1`).
    pub fn has_ftype(&self) -> bool {
        self.sb.ftype
    }

    fn corrupt(&self, what: impl Into<String>, rel: u64, detail: impl Into<String>) -> DiskError {
        DiskError::corrupt(
            format!("{} on {}", what.into(), self.what),
            ByteOffset(self.base.saturating_add(rel)),
            detail,
        )
    }

    fn read(&self, rel: u64, buf: &mut [u8]) -> Result<()> {
        self.vol.read_exact_at(rel, buf)
    }

    fn check_crc(&self, buf: &[u8], crc_off: usize, what: &str, rel: u64) -> Result<()> {
        format::verify_cksum(buf, crc_off).map_err(|(stored, computed)| {
            self.corrupt(what, rel, format!("CRC32C mismatch (stored {stored:#010x}, computed {computed:#010x})"))
        })
    }

    /// Reads, checks (`xfs_dinode_verify`: magic, version, V5 CRC and
    /// `di_ino`) and parses inode `ino`.
    fn inode(&self, ino: u64) -> Result<Inode> {
        let what = format!("XFS inode {ino}");
        let rel = self.sb.inode_offset(ino).ok_or_else(|| {
            self.corrupt(&what, 0, format!("inode number {ino} is outside the filesystem's AG geometry"))
        })?;
        let mut b = vec![0u8; self.sb.inodesize() as usize];
        self.read(rel, &mut b)?;
        if self.sb.v5() && format::be16(&b, 0) == format::DINODE_MAGIC {
            self.check_crc(&b, format::DINODE_CRC_OFF, &what, rel)?;
        }
        format::parse_inode(&self.sb, ino, &b).map_err(|d| self.corrupt(what, rel, d))
    }

    /// The data fork's extent map, sorted and checked: no overlap, every
    /// block inside its AG and the volume.
    fn extents(&self, ip: &Inode) -> Result<Vec<Extent>> {
        let mut out = Vec::new();
        match ip.format {
            ForkFormat::Extents => {
                // parse_inode checked nextents * 16 fits the fork.
                for i in 0..ip.nextents as usize {
                    out.push(format::unpack_bmbt_rec(&ip.fork[i * 16..i * 16 + 16]));
                }
            }
            ForkFormat::Btree => self.btree_extents(ip, &mut out)?,
            ForkFormat::Local | ForkFormat::Dev => return Ok(out),
        }
        let at = self.sb.inode_offset(ip.ino).unwrap_or(0);
        let what = format!("XFS inode {} data fork", ip.ino);
        let mut end = 0u64;
        for (i, e) in out.iter().enumerate() {
            if e.startoff < end {
                return Err(self.corrupt(
                    &what,
                    at,
                    format!("extent {i} at file block {} overlaps the previous one", e.startoff),
                ));
            }
            end = e.startoff + e.count;
            if !self.sb.fsb_range_ok(e.startblock, e.count) {
                return Err(self.corrupt(
                    &what,
                    at,
                    format!(
                        "extent {i} ({} blocks at block {:#x}) is outside its AG or the volume",
                        e.count, e.startblock
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// `xfs_bmdr_block` root in the inode, then `XFS_BMAP_MAGIC` /
    /// `XFS_BMAP_CRC_MAGIC` blocks down to the leaves.
    fn btree_extents(&self, ip: &Inode, out: &mut Vec<Extent>) -> Result<()> {
        let at = self.sb.inode_offset(ip.ino).unwrap_or(0);
        let what = format!("XFS inode {} bmap btree root", ip.ino);
        let f = &ip.fork;
        if f.len() < 4 + 16 {
            return Err(self.corrupt(what, at, "data fork too small for a btree root"));
        }
        let level = format::be16(f, 0);
        let numrecs = usize::from(format::be16(f, 2));
        // xfs_bmdr_maxrecs(forksize, 0): keys then pointers fill the fork.
        let maxrecs = (f.len() - 4) / 16;
        if level == 0 || level > MAX_BTREE_DEPTH || numrecs == 0 || numrecs > maxrecs {
            return Err(self.corrupt(what, at, format!("level {level}, {numrecs} records (at most {maxrecs})")));
        }
        let mut budget = MAX_BMBT_BLOCKS;
        for i in 0..numrecs {
            let ptr = format::be64(f, 4 + maxrecs * 8 + i * 8);
            self.bmbt_block(ip, ptr, level - 1, out, &mut budget)?;
        }
        Ok(())
    }

    fn bmbt_block(&self, ip: &Inode, fsb: u64, level: u16, out: &mut Vec<Extent>, budget: &mut usize) -> Result<()> {
        let what = format!("XFS inode {} bmap btree block {fsb:#x}", ip.ino);
        let at_inode = self.sb.inode_offset(ip.ino).unwrap_or(0);
        if *budget == 0 {
            return Err(self.corrupt(what, at_inode, format!("more than {MAX_BMBT_BLOCKS} btree blocks")));
        }
        *budget -= 1;
        let rel = self
            .sb
            .fsb_offset(fsb)
            .ok_or_else(|| self.corrupt(&what, at_inode, "block pointer outside the filesystem"))?;
        let bs = self.sb.blocksize() as usize;
        let mut b = vec![0u8; bs];
        self.read(rel, &mut b)?;
        let (magic, hdr) = if self.sb.v5() {
            (format::BMAP_CRC_MAGIC, format::BTREE_LBLOCK_CRC_LEN)
        } else {
            (format::BMAP_MAGIC, format::BTREE_LBLOCK_LEN)
        };
        let got = format::be32(&b, 0);
        if got != magic {
            return Err(self.corrupt(what, rel, format!("magic {got:#010x}, expected {magic:#010x}")));
        }
        if self.sb.v5() {
            self.check_crc(&b, format::BTREE_LBLOCK_CRC_OFF, &what, rel)?;
            let (blkno, owner) = (format::be64(&b, 24), format::be64(&b, 56));
            if blkno != rel / 512 || owner != ip.ino {
                return Err(self.corrupt(what, rel, format!("bb_blkno {blkno} / bb_owner {owner} do not match")));
            }
        }
        let blevel = format::be16(&b, 4);
        let numrecs = usize::from(format::be16(&b, 6));
        let maxrecs = (bs - hdr) / 16;
        if blevel != level || numrecs > maxrecs {
            return Err(self.corrupt(
                what,
                rel,
                format!("level {blevel} (expected {level}), {numrecs} records (at most {maxrecs})"),
            ));
        }
        if level == 0 {
            for i in 0..numrecs {
                if out.len() >= MAX_EXTENTS {
                    return Err(self.corrupt(what, rel, format!("more than {MAX_EXTENTS} extents in one file")));
                }
                out.push(format::unpack_bmbt_rec(&b[hdr + i * 16..hdr + i * 16 + 16]));
            }
            return Ok(());
        }
        for i in 0..numrecs {
            let ptr = format::be64(&b, hdr + maxrecs * 8 + i * 8);
            self.bmbt_block(ip, ptr, level - 1, out, budget)?;
        }
        Ok(())
    }

    /// Copies the file bytes `[off, off + buf.len())` that `exts` map and
    /// that are written; holes and unwritten extents leave `buf` as it is
    /// (zeros). Returns the bytes mapped (written or unwritten).
    fn read_mapped(&self, exts: &[Extent], off: u64, buf: &mut [u8]) -> Result<u64> {
        let bl = self.sb.blocklog;
        let end = off + buf.len() as u64;
        // Extents are sorted and disjoint: skip to the first that ends after off.
        let first = exts.partition_point(|e| (e.startoff + e.count) << bl <= off);
        let mut mapped = 0;
        for e in &exts[first..] {
            let e_start = e.startoff << bl;
            if e_start >= end {
                break;
            }
            let e_end = (e.startoff + e.count) << bl;
            let (from, to) = (e_start.max(off), e_end.min(end));
            mapped += to - from;
            if e.unwritten {
                continue;
            }
            // fsb_range_ok checked the extent fits its AG and the volume.
            let disk = self.sb.fsb_offset(e.startblock).unwrap_or(0) + (from - e_start);
            self.read(disk, &mut buf[(from - off) as usize..(to - off) as usize])?;
        }
        Ok(mapped)
    }

    /// Finds the inode at `path` (absolute, `/`-separated; `.` and `..`
    /// applied lexically as [`super::resolve`] does).
    fn lookup(&self, path: &str) -> Result<Inode> {
        super::walk_lexical(path, self.inode(self.sb.rootino)?, |dir, comp| {
            if dir.ftype != FileType::Dir {
                return Err(DiskError::path(path, PathErrorKind::NotADirectory, "not a directory"));
            }
            let found = self.find_entry(dir, comp.as_bytes())?;
            let ino =
                found.ok_or_else(|| DiskError::path(path, PathErrorKind::NotFound, "no such file or directory"))?;
            self.inode(ino)
        })
    }

    /// The inode number `name` has in `dir`. Short-form directories are
    /// scanned; a block-format one is read whole into the one-directory
    /// cache (unless it has more than [`MAX_CACHED_ENTRIES`] names, then
    /// it is scanned up to the name).
    fn find_entry(&self, dir: &Inode, name: &[u8]) -> Result<Option<u64>> {
        if let Some((ino, map)) = &*self.dir_cache.borrow()
            && *ino == dir.ino
        {
            return Ok(map.get(name).copied());
        }
        let mut found = None;
        if dir.format == ForkFormat::Local {
            self.for_each_entry(dir, &mut |e| {
                if e.name == name {
                    found = Some(e.ino);
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
            return Ok(found);
        }
        let mut map = HashMap::new();
        let mut complete = true;
        self.for_each_entry(dir, &mut |e| {
            if e.name == name {
                found = Some(e.ino);
            }
            if !complete || map.len() >= MAX_CACHED_ENTRIES {
                complete = false;
                map = HashMap::new();
                return if found.is_some() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
            }
            map.insert(e.name.to_vec(), e.ino);
            ControlFlow::Continue(())
        })?;
        if complete {
            *self.dir_cache.borrow_mut() = Some((dir.ino, map));
        }
        Ok(found)
    }

    /// Every entry of a directory, `.`/`..` of block and data blocks
    /// included, until `f` breaks.
    fn for_each_entry(&self, dir: &Inode, f: &mut dyn FnMut(RawDirEntry<'_>) -> ControlFlow<()>) -> Result<()> {
        match dir.format {
            ForkFormat::Local => {
                let at = self.sb.inode_offset(dir.ino).unwrap_or(0);
                format::parse_shortform(&dir.fork[..dir.size as usize], self.sb.ftype, |e| f(e).is_continue())
                    .map_err(|d| self.corrupt(format!("XFS inode {} short-form directory", dir.ino), at, d))
            }
            ForkFormat::Extents | ForkFormat::Btree => self.for_each_block_entry(dir, f),
            ForkFormat::Dev => Ok(()),
        }
    }

    /// Block, leaf, node and btree directories: each directory block of
    /// the data space (below `XFS_DIR2_LEAF_OFFSET`) that the fork maps.
    fn for_each_block_entry(&self, dir: &Inode, f: &mut dyn FnMut(RawDirEntry<'_>) -> ControlFlow<()>) -> Result<()> {
        let exts = self.extents(dir)?;
        let per_db = 1u64 << self.sb.dirblklog;
        let leaf_fsb = format::DIR2_LEAF_OFFSET >> self.sb.blocklog;
        let dbs = self.sb.dirblksize() as usize;
        let mut buf = vec![0u8; dbs];
        let mut next = 0u64;
        let mut blocks = 0u64;
        for e in &exts {
            let mut lfsb = e.startoff.max(next).next_multiple_of(per_db);
            while lfsb < e.startoff + e.count && lfsb < leaf_fsb {
                blocks += 1;
                if blocks > MAX_DIR_BLOCKS {
                    return Err(self.corrupt(
                        format!("XFS directory inode {}", dir.ino),
                        self.sb.inode_offset(dir.ino).unwrap_or(0),
                        format!("more than {MAX_DIR_BLOCKS} directory blocks"),
                    ));
                }
                // The block's first fs block is in `e` (lfsb ≥ e.startoff).
                let rel = self.sb.fsb_offset(e.startblock + (lfsb - e.startoff)).unwrap_or(0);
                let what = format!("XFS directory inode {} block {lfsb}", dir.ino);
                buf.fill(0);
                if self.read_mapped(&exts, lfsb << self.sb.blocklog, &mut buf)? != dbs as u64 || e.unwritten {
                    return Err(self.corrupt(what, rel, "directory block is partly a hole or unwritten"));
                }
                if self.dir_block(dir, &buf, &what, rel, f)?.is_break() {
                    return Ok(());
                }
                lfsb += per_db;
            }
            next = next.max(lfsb);
        }
        Ok(())
    }

    /// One directory data block: header checks (magic, V5 CRC, owner,
    /// blkno), then its entries.
    fn dir_block(
        &self,
        dir: &Inode,
        b: &[u8],
        what: &str,
        rel: u64,
        f: &mut dyn FnMut(RawDirEntry<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let magic = format::be32(b, 0);
        let v5 = self.sb.v5();
        let (block_magic, data_magic, hdr) = if v5 {
            (format::DIR3_BLOCK_MAGIC, format::DIR3_DATA_MAGIC, format::DIR3_DATA_HDR_LEN)
        } else {
            (format::DIR2_BLOCK_MAGIC, format::DIR2_DATA_MAGIC, format::DIR2_DATA_HDR_LEN)
        };
        let end = if magic == block_magic {
            // xfs_dir2_block_tail (count, stale) at the end, the leaf
            // entries (8 bytes each) before it, data entries before those.
            let count = format::be32(b, b.len() - 8) as usize;
            b.len()
                .checked_sub(8 + count.saturating_mul(8))
                .filter(|&e| e >= hdr)
                .ok_or_else(|| self.corrupt(what, rel, format!("block tail counts {count} leaf entries")))?
        } else if magic == data_magic {
            b.len()
        } else {
            return Err(self.corrupt(
                what,
                rel,
                format!("magic {magic:#010x}, expected {block_magic:#010x} or {data_magic:#010x}"),
            ));
        };
        if v5 {
            self.check_crc(b, format::DIR3_DATA_CRC_OFF, what, rel)?;
            let (blkno, owner) = (format::be64(b, 8), format::be64(b, 40));
            if blkno != rel / 512 || owner != dir.ino {
                return Err(self.corrupt(what, rel, format!("blkno {blkno} / owner {owner} do not match")));
            }
        }
        let mut flow = ControlFlow::Continue(());
        format::parse_data_entries(b, hdr, end, self.sb.ftype, |e| {
            flow = f(e);
            flow.is_continue()
        })
        .map_err(|(at, d)| self.corrupt(what, rel + at as u64, d))?;
        Ok(flow)
    }

    /// The target of a symlink inode, as stored (`xfs_symlink.c:
    /// xfs_readlink`, `xfs_symlink_remote.c: xfs_symlink_remote_read`).
    fn link_target(&self, ip: &Inode, path: &str) -> Result<Vec<u8>> {
        let at = self.sb.inode_offset(ip.ino).unwrap_or(0);
        let what = format!("XFS symlink inode {}", ip.ino);
        if ip.size == 0 || ip.size > format::SYMLINK_MAXLEN {
            return Err(self.corrupt(what, at, format!("target length {} (1..={})", ip.size, format::SYMLINK_MAXLEN)));
        }
        let len = ip.size as usize;
        if ip.format == ForkFormat::Local {
            return Ok(ip.fork[..len].to_vec());
        }
        let exts = self.extents(ip)?;
        if !self.sb.v5() {
            let mut buf = vec![0u8; len];
            if self.read_mapped(&exts, 0, &mut buf)? < len as u64 {
                return Err(DiskError::path(path, PathErrorKind::Corrupt, format!("{what}: target has a hole")));
            }
            return Ok(buf);
        }
        // V5: one xfs_dsymlink_hdr per mapping, the CRC over the mapping.
        let mut target = vec![0u8; len];
        let mut offset = 0usize;
        for e in &exts {
            if offset >= len {
                break;
            }
            let rel = self.sb.fsb_offset(e.startblock).unwrap_or(0);
            let bytes = e.count << self.sb.blocklog;
            if bytes > 4 * format::SYMLINK_MAXLEN.max(self.sb.blocksize()) {
                return Err(self.corrupt(&what, rel, format!("remote target mapping of {bytes} bytes")));
            }
            let mut b = vec![0u8; bytes as usize];
            self.read(rel, &mut b)?;
            let magic = format::be32(&b, 0);
            if magic != format::SYMLINK_MAGIC {
                return Err(self.corrupt(&what, rel, format!("magic {magic:#010x}, not \"XSLM\"")));
            }
            self.check_crc(&b, format::SYMLINK_CRC_OFF, &what, rel)?;
            let (sl_offset, sl_bytes, owner) =
                (format::be32(&b, 4) as usize, format::be32(&b, 8) as usize, format::be64(&b, 32));
            let room = b.len() - format::SYMLINK_HDR_LEN;
            let want = (len - offset).min(room);
            if sl_offset != offset || sl_bytes != want || owner != ip.ino {
                return Err(self.corrupt(
                    &what,
                    rel,
                    format!(
                        "header says {sl_bytes} bytes at {sl_offset} of inode {owner}, expected {want} at {offset}"
                    ),
                ));
            }
            target[offset..offset + want].copy_from_slice(&b[format::SYMLINK_HDR_LEN..format::SYMLINK_HDR_LEN + want]);
            offset += want;
        }
        if offset < len {
            return Err(self.corrupt(what, at, format!("remote target maps {offset} of {len} bytes")));
        }
        Ok(target)
    }

    fn node_kind(t: FileType) -> NodeKind {
        match t {
            FileType::File => NodeKind::File,
            FileType::Dir => NodeKind::Directory,
            FileType::Symlink => NodeKind::Symlink,
            FileType::Other => NodeKind::Other,
        }
    }

    /// The regular file at `path`, refused when over `max_len`.
    fn file_inode(&self, path: &str, max_len: u64) -> Result<(Inode, usize)> {
        let ip = self.lookup(path)?;
        let len = super::readable_len(path, Self::node_kind(ip.ftype), ip.size, max_len)?;
        if ip.flags & format::DIFLAG_REALTIME != 0 {
            return Err(DiskError::Unsupported { what: format!("{path}: a file on the XFS realtime device") });
        }
        Ok((ip, len))
    }
}

impl Filesystem for XfsFs {
    fn stat(&self, path: &str) -> Result<Node> {
        let ip = self.lookup(path)?;
        Ok(Node { kind: Self::node_kind(ip.ftype), size: ip.size })
    }

    fn read_link(&self, path: &str) -> Result<String> {
        let ip = self.lookup(path)?;
        if ip.ftype != FileType::Symlink {
            return Err(DiskError::path(path, PathErrorKind::Other, "not a symbolic link"));
        }
        let target = self.link_target(&ip, path)?;
        String::from_utf8(target)
            .map_err(|_| DiskError::path(path, PathErrorKind::Other, "symlink target is not UTF-8"))
    }

    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        let (ip, len) = self.file_inode(path, max_len)?;
        let mut buf = vec![0u8; len];
        self.read_mapped(&self.extents(&ip)?, 0, &mut buf)?;
        Ok(buf)
    }

    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> Result<usize> {
        let (ip, len) = self.file_inode(path, max_len)?;
        let exts = self.extents(&ip)?;
        let buf = super::sink_buffer(sink, path, len)?;
        self.read_mapped(&exts, 0, buf)?;
        Ok(len)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let dir = self.lookup(path)?;
        if dir.ftype != FileType::Dir {
            return Err(DiskError::path(path, PathErrorKind::NotADirectory, "not a directory"));
        }
        let mut raw: Vec<(String, u64, Option<FileType>)> = Vec::new();
        let mut too_many = false;
        self.for_each_entry(&dir, &mut |e| {
            if e.name == b"." || e.name == b".." {
                return ControlFlow::Continue(());
            }
            if raw.len() >= MAX_LIST_ENTRIES {
                too_many = true;
                return ControlFlow::Break(());
            }
            raw.push((String::from_utf8_lossy(e.name).into_owned(), e.ino, e.ftype));
            ControlFlow::Continue(())
        })?;
        if too_many {
            return Err(DiskError::path(
                path,
                PathErrorKind::TooLarge,
                format!("directory has more than {MAX_LIST_ENTRIES} entries, more than boot-sim lists"),
            ));
        }
        raw.into_iter()
            .map(|(name, ino, ft)| {
                // Without ftype the entry does not say: the inode does.
                let t = match ft {
                    Some(t) => t,
                    None => self.inode(ino)?.ftype,
                };
                Ok(DirEntry { name, kind: Self::node_kind(t) })
            })
            .collect()
    }
}
