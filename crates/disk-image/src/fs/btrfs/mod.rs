//! Read-only btrfs on a single device: the superblock (and its mirrors),
//! the chunk tree for logical → physical addresses (SINGLE and DUP), the
//! root tree, subvolumes, and the files of their FS trees, inline, regular,
//! sparse, preallocated and zlib/lzo/zstd-compressed.
//!
//! # Paths
//!
//! A [`BtrfsFs`] opened with [`BtrfsFs::open`] names paths as GRUB 2 does:
//! from the top-level subvolume (FS_TREE, id 5), whatever the default
//! subvolume is, so a root in subvolume `@` is `/@/boot/vmlinuz`. GRUB 2.06
//! and 2.12 `grub-core/fs/btrfs.c` `find_path` start every lookup with
//! `get_root`, which searches the root tree for the `ROOT_ITEM` of
//! `GRUB_BTRFS_ROOT_VOL_OBJECTID` (5) and starts at its directory 256; the
//! "default" dir item is never read (upstream commit 82591fa, "Make / in
//! btrfs refer to real root, not the default volume"). Entries whose
//! location is a `ROOT_ITEM` cross into that subvolume, as `find_path`'s
//! `GRUB_BTRFS_ITEM_TYPE_ROOT_ITEM` case does.
//!
//! Linux mounts the default subvolume unless told otherwise, and
//! `subvol=PATH` / `subvolid=ID` name one from the top level:
//! [`BtrfsFs::open_subvolume`] gives those views.

mod chunk;
mod compress;
mod extent;
mod format;
mod tree;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use self::chunk::{ChunkError, ChunkMap};
use self::extent::{ExtentError, FileExtent};
use self::format::*;
use self::tree::{Node, TreeRoot};
use super::{DirEntry, FileSink, Filesystem, NodeKind};
use crate::error::{DiskError, PathErrorKind, Result};
use crate::read::{ReadAt, Window};
use crate::units::ByteOffset;

pub use self::chunk::Chunk;
pub use self::format::{Key, name_hash};

/// Tree blocks visited by one search before it is refused: a DAG of
/// corrupt pointers could otherwise make a search exponential. 2^16 blocks
/// of 16 KiB is 1 GiB of metadata, far beyond any boot file's needs.
const MAX_SEARCH_BLOCKS: usize = 1 << 16;
/// Items one search hands out (a directory's entries, a file's extents).
const MAX_SEARCH_ITEMS: usize = 1 << 21;
/// Tree blocks kept in memory.
const CACHE_BLOCKS: usize = 256;
/// Longest symlink target read (PATH_MAX).
const MAX_SYMLINK_TARGET: u64 = 4096;
/// `BTRFS_NAME_LEN`.
const NAME_LEN: usize = 255;
/// Directory levels walked up from an inode to its subvolume's top, and
/// subvolumes walked up to the top level.
const MAX_PATH_DEPTH: usize = 4096;

/// How to pick the subvolume a view starts from, as Linux's mount options
/// name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubvolSpec {
    /// `subvol=PATH`: a path from the top-level subvolume.
    Path(String),
    /// `subvolid=ID` (5 is the top level).
    Id(u64),
    /// No option: the default subvolume (`btrfs subvolume set-default`).
    Default,
}

/// A subvolume as `btrfs subvolume list` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subvolume {
    pub id: u64,
    /// The subvolume holding it ("top level").
    pub parent: u64,
    /// From the top-level subvolume, without a leading `/` ("@", "@/.snapshots/1/snapshot").
    pub path: String,
    /// `btrfs_root_item.generation`.
    pub generation: u64,
}

/// What `inspect` shows of a btrfs filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BtrfsSummary {
    pub label: Option<String>,
    pub uuid: String,
    pub generation: u64,
    pub default_subvolume: u64,
    pub subvolumes: Vec<Subvolume>,
}

/// What a tree search calls with each item: its key, its data and the
/// data's byte offset on the device; `false` stops the search.
type Visit<'a> = dyn FnMut(Key, &[u8], u64) -> Result<bool> + 'a;

/// A tree block as read: its bytes and where on the device the copy was.
struct Block {
    data: Vec<u8>,
    phys: u64,
}

/// The filesystem, shared by every view of it.
struct Volume {
    win: Window,
    base: u64,
    what: String,
    sectorsize: u32,
    nodesize: u32,
    fsid: [u8; 16],
    /// The fsid tree headers carry (`metadata_uuid` with that feature).
    meta_fsid: [u8; 16],
    label: Option<String>,
    generation: u64,
    superblock_at: u64,
    root_dir_objectid: u64,
    chunks: ChunkMap,
    root_tree: TreeRoot,
    roots: Mutex<HashMap<u64, (TreeRoot, u64, u64)>>,
    cache: Mutex<HashMap<u64, Arc<Block>>>,
}

/// A directory or file: an inode in one tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    tree: u64,
    ino: u64,
}

/// One entry of a directory item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DirItem {
    location: Key,
    ty: u8,
    name: Vec<u8>,
}

/// A btrfs filesystem, read-only, seen from one subvolume.
#[derive(Clone)]
pub struct BtrfsFs {
    vol: Arc<Volume>,
    top: Loc,
}

impl std::fmt::Debug for BtrfsFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtrfsFs").field("base", &self.vol.base).field("subvolume", &self.top.tree).finish()
    }
}

fn text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).to_string();
    (!s.is_empty()).then_some(s)
}

/// Picks the superblock: every copy that fits the device and has the magic
/// is checked (crc32c, `bytenr`); the valid one with the highest
/// generation wins, as GRUB 2's `read_sblock` keeps the newest of the
/// copies it finds. Returns the superblock and its offset.
fn read_superblock(win: &Window) -> Result<(RawSuperblock, u64)> {
    let base = win.start();
    let what = win.describe();
    let mut best: Option<(RawSuperblock, u64)> = None;
    let mut first_error: Option<DiskError> = None;
    for &at in &SUPERBLOCK_OFFSETS {
        if at + SUPERBLOCK_SIZE as u64 > win.size() {
            break;
        }
        let bytes = win.read_vec(at, SUPERBLOCK_SIZE)?;
        let sb: RawSuperblock = bytemuck::pod_read_unaligned(&bytes);
        if sb.magic != MAGIC {
            continue;
        }
        let bad =
            |detail: String| DiskError::corrupt(format!("btrfs superblock of {what}"), ByteOffset(base + at), detail);
        let err = if sb.csum_type.get() != CSUM_TYPE_CRC32C {
            Some(DiskError::Unsupported {
                what: format!(
                    "btrfs checksum type {} (only crc32c) on {what} at byte {:#x}",
                    sb.csum_type.get(),
                    base + at
                ),
            })
        } else if !block_csum_ok(&bytes) {
            let stored = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
            Some(bad(format!(
                "checksum mismatch (stored {stored:#010x}, crc32c {:#010x})",
                CRC32C.checksum(&bytes[CSUM_SIZE..])
            )))
        } else if sb.bytenr.get() != at {
            Some(bad(format!("superblock copy says it is at byte {:#x}", sb.bytenr.get())))
        } else {
            None
        };
        match err {
            Some(e) => {
                first_error.get_or_insert(e);
            }
            None => {
                if best.as_ref().is_none_or(|(b, _)| sb.generation.get() > b.generation.get()) {
                    best = Some((sb, at));
                }
            }
        }
    }
    match (best, first_error) {
        (Some(b), _) => Ok(b),
        (None, Some(e)) => Err(e),
        (None, None) => Err(DiskError::corrupt(
            format!("btrfs superblock of {what}"),
            ByteOffset(base + SUPERBLOCK_OFFSETS[0]),
            "no copy has the _BHRfS_M magic",
        )),
    }
}

impl Volume {
    fn corrupt(&self, what: impl Into<String>, phys: u64, detail: impl Into<String>) -> DiskError {
        DiskError::corrupt(format!("btrfs {} of {}", what.into(), self.what), ByteOffset(self.base + phys), detail)
    }

    fn chunk_error(&self, e: ChunkError, what: &str, phys: u64) -> DiskError {
        match e {
            ChunkError::Corrupt(d) => self.corrupt(what, phys, d),
            ChunkError::Unsupported(d) => DiskError::Unsupported { what: format!("{d} on {}", self.what) },
        }
    }

    /// Reads the tree block at `logical`, trying each copy (DUP has two)
    /// until one has a good checksum, its own address and our fsid. With
    /// none good, the first copy's problem is the error.
    fn block(&self, logical: u64, tree: &TreeRoot) -> Result<Arc<Block>> {
        if let Some(b) = self.cache.lock().expect("cache lock").get(&logical) {
            return Ok(b.clone());
        }
        let what = format!("{} block at logical {logical:#x}", tree.name());
        let Some((copies, run)) = self.chunks.map(logical) else {
            return Err(self.corrupt(what, self.superblock_at, "no chunk maps this logical address"));
        };
        let size = self.nodesize as usize;
        if run < size as u64 {
            return Err(self.corrupt(what, copies[0], "the block crosses the end of its chunk"));
        }
        let mut first_err = None;
        for phys in copies {
            let data = match self.win.read_vec(phys, size) {
                Ok(d) => d,
                Err(e) => {
                    first_err.get_or_insert(e);
                    continue;
                }
            };
            let header: RawHeader = bytemuck::pod_read_unaligned(&data[..HEADER_SIZE]);
            let problem = if !block_csum_ok(&data) {
                let stored = u32::from_le_bytes(data[..4].try_into().expect("4 bytes"));
                Some(format!(
                    "checksum mismatch (stored {stored:#010x}, crc32c {:#010x})",
                    CRC32C.checksum(&data[CSUM_SIZE..])
                ))
            } else if header.bytenr.get() != logical {
                Some(format!("header says logical {:#x}", header.bytenr.get()))
            } else if header.fsid != self.meta_fsid {
                Some(format!("header fsid {} is not the filesystem's", uuid_string(&header.fsid)))
            } else {
                None
            };
            match problem {
                Some(p) => {
                    first_err.get_or_insert(self.corrupt(what.clone(), phys, p));
                }
                None => {
                    let b = Arc::new(Block { data, phys });
                    let mut cache = self.cache.lock().expect("cache lock");
                    if cache.len() >= CACHE_BLOCKS {
                        cache.clear();
                    }
                    cache.insert(logical, b.clone());
                    return Ok(b);
                }
            }
        }
        Err(first_err.expect("a chunk has at least one copy"))
    }

    /// Calls `visit` with each item of `tree` whose key is in `[lo, hi]`,
    /// in key order, with its data and the data's byte offset on the
    /// device, until `visit` returns `false`.
    fn search(&self, tree: &TreeRoot, lo: Key, hi: Key, visit: &mut Visit<'_>) -> Result<()> {
        let mut budget = (MAX_SEARCH_BLOCKS, MAX_SEARCH_ITEMS);
        self.walk(tree, tree.bytenr, tree.level, lo, hi, &mut budget, visit).map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        tree: &TreeRoot,
        logical: u64,
        level: u8,
        lo: Key,
        hi: Key,
        budget: &mut (usize, usize),
        visit: &mut Visit<'_>,
    ) -> Result<bool> {
        // A search that runs past its caps: corrupt (a loop in the tree)
        // or hostile, either way named at the block where it stopped.
        let too_long = |at, detail: String| self.corrupt(format!("{} search", tree.name()), at, detail);
        if budget.0 == 0 {
            return Err(too_long(
                self.superblock_at,
                format!("more than {MAX_SEARCH_BLOCKS} tree blocks visited (a loop in the tree?)"),
            ));
        }
        budget.0 -= 1;
        let block = self.block(logical, tree)?;
        let what = || format!("{} block at logical {logical:#x}", tree.name());
        let (got, node) = tree::parse_node(&block.data).map_err(|d| self.corrupt(what(), block.phys, d))?;
        if got != level {
            return Err(self.corrupt(what(), block.phys, format!("level {got}, its parent expects {level}")));
        }
        match node {
            Node::Leaf(items) => {
                for (key, range) in items {
                    if key < lo {
                        continue;
                    }
                    if key > hi {
                        break;
                    }
                    if budget.1 == 0 {
                        return Err(too_long(block.phys, format!("more than {MAX_SEARCH_ITEMS} items in one search")));
                    }
                    budget.1 -= 1;
                    let at = block.phys + range.start as u64;
                    if !visit(key, &block.data[range], at)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Node::Internal(ptrs) => {
                for i in 0..ptrs.len() {
                    if ptrs[i].0 > hi {
                        break;
                    }
                    let Some((a, b)) = tree::child_range(&ptrs, i, lo, hi) else { continue };
                    if !self.walk(tree, ptrs[i].1, level - 1, a, b, budget, visit)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// The item with exactly `key`, with its device offset.
    fn get(&self, tree: &TreeRoot, key: Key) -> Result<Option<(Vec<u8>, u64)>> {
        let mut out = None;
        self.search(tree, key, key, &mut |_, data, at| {
            out = Some((data.to_vec(), at));
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first item in `[lo, hi]`.
    fn first(&self, tree: &TreeRoot, lo: Key, hi: Key) -> Result<Option<(Key, Vec<u8>, u64)>> {
        let mut out = None;
        self.search(tree, lo, hi, &mut |k, data, at| {
            out = Some((k, data.to_vec(), at));
            Ok(false)
        })?;
        Ok(out)
    }

    /// The root of tree `id` (its `ROOT_ITEM` in the root tree; a snapshot's
    /// key offset is its creation transid, so any offset matches), with the
    /// tree's top directory and generation.
    fn tree(&self, id: u64) -> Result<Option<(TreeRoot, u64, u64)>> {
        if let Some(r) = self.roots.lock().expect("roots lock").get(&id) {
            return Ok(Some(*r));
        }
        let lo = Key::new(id, ROOT_ITEM_KEY, 0);
        let hi = Key::new(id, ROOT_ITEM_KEY, u64::MAX);
        let Some((_, data, at)) = self.first(&self.root_tree, lo, hi)? else { return Ok(None) };
        let raw = data.get(..ROOT_ITEM_MIN_SIZE).ok_or_else(|| {
            self.corrupt(format!("root item of tree {id}"), at, format!("{} bytes, shorter than 239", data.len()))
        })?;
        let ri: RawRootItem = bytemuck::pod_read_unaligned(raw);
        if ri.level > tree::MAX_LEVEL {
            return Err(self.corrupt(format!("root item of tree {id}"), at, format!("level {}", ri.level)));
        }
        let dirid = match ri.root_dirid.get() {
            0 => FIRST_FREE_OBJECTID,
            d => d,
        };
        let r = (TreeRoot { id, bytenr: ri.bytenr.get(), level: ri.level }, dirid, ri.generation.get());
        self.roots.lock().expect("roots lock").insert(id, r);
        Ok(Some(r))
    }

    fn fs_tree(&self, id: u64, path: &str) -> Result<(TreeRoot, u64)> {
        match self.tree(id)? {
            Some((t, dirid, _)) => Ok((t, dirid)),
            None => Err(DiskError::path(path, PathErrorKind::NotFound, format!("subvolume {id} has no root item"))),
        }
    }

    fn subvol_top(&self, id: u64, path: &str) -> Result<Loc> {
        let (_, dirid) = self.fs_tree(id, path)?;
        Ok(Loc { tree: id, ino: dirid })
    }

    fn parse_dir_items(&self, data: &[u8], at: u64) -> Result<Vec<DirItem>> {
        let mut out = Vec::new();
        let mut off = 0;
        // Each entry uses at least DIR_ITEM_SIZE bytes of the item.
        while off < data.len() {
            let bad = |d: String| self.corrupt("directory item", at + off as u64, d);
            let head = data.get(off..off + DIR_ITEM_SIZE).ok_or_else(|| bad("truncated entry".into()))?;
            let d: RawDirItem = bytemuck::pod_read_unaligned(head);
            let name_len = usize::from(d.name_len.get());
            let data_len = usize::from(d.data_len.get());
            let name_at = off + DIR_ITEM_SIZE;
            let end = name_at + name_len + data_len;
            if end > data.len() {
                return Err(bad(format!("name of {name_len} and data of {data_len} bytes run past the item")));
            }
            if name_len == 0 || name_len > NAME_LEN {
                return Err(bad(format!("name of {name_len} bytes")));
            }
            out.push(DirItem {
                location: d.location.into(),
                ty: d.ty,
                name: data[name_at..name_at + name_len].to_vec(),
            });
            off = end;
        }
        Ok(out)
    }

    /// Where a directory entry leads: into another subvolume's top
    /// directory for a `ROOT_ITEM` location, else an inode of this tree.
    fn follow(&self, from: Loc, item: &DirItem, path: &str) -> Result<Loc> {
        match item.location.ty {
            INODE_ITEM_KEY => Ok(Loc { tree: from.tree, ino: item.location.objectid }),
            ROOT_ITEM_KEY => self.subvol_top(item.location.objectid, path),
            t => Err(DiskError::path(
                path,
                PathErrorKind::Corrupt,
                format!("directory entry locates an item of type {t}"),
            )),
        }
    }

    /// The entry `name` of directory `dir`, by its `DIR_ITEM` (key offset
    /// `btrfs_name_hash(name)`; colliding names share one item).
    fn lookup(&self, dir: Loc, name: &str, path: &str) -> Result<Option<DirItem>> {
        let (tree, _) = self.fs_tree(dir.tree, path)?;
        let key = Key::new(dir.ino, DIR_ITEM_KEY, name_hash(name.as_bytes()));
        let Some((data, at)) = self.get(&tree, key)? else { return Ok(None) };
        Ok(self.parse_dir_items(&data, at)?.into_iter().find(|d| d.name == name.as_bytes()))
    }

    fn inode(&self, loc: Loc, path: &str) -> Result<(RawInodeItem, u64)> {
        let (tree, _) = self.fs_tree(loc.tree, path)?;
        let Some((data, at)) = self.get(&tree, Key::new(loc.ino, INODE_ITEM_KEY, 0))? else {
            return Err(DiskError::path(
                path,
                PathErrorKind::Corrupt,
                format!("inode {} of {} has no inode item", loc.ino, tree.name()),
            ));
        };
        let raw = data.get(..INODE_ITEM_SIZE).ok_or_else(|| {
            self.corrupt(format!("inode item {}", loc.ino), at, format!("{} bytes, shorter than 160", data.len()))
        })?;
        Ok((bytemuck::pod_read_unaligned(raw), at))
    }

    /// Reads `buf.len()` bytes at `logical`, across chunks if need be.
    fn read_logical(&self, mut logical: u64, buf: &mut [u8], what: &str) -> Result<()> {
        let mut done = 0;
        // Each turn reads at least one byte; chunks are capped in number.
        while done < buf.len() {
            let Some((copies, run)) = self.chunks.map(logical) else {
                return Err(self.corrupt(
                    what,
                    self.superblock_at,
                    format!("logical address {logical:#x} is in no chunk"),
                ));
            };
            let n = run.min((buf.len() - done) as u64) as usize;
            self.win.read_exact_at(copies[0], &mut buf[done..done + n])?;
            done += n;
            logical += n as u64;
        }
        Ok(())
    }

    /// Fills `buf` (the file's first `buf.len()` bytes, zeroed) from the
    /// `EXTENT_DATA` items of inode `loc`. Holes and preallocated ranges
    /// stay zero.
    fn read_data(&self, loc: Loc, buf: &mut [u8], path: &str) -> Result<()> {
        let (tree, _) = self.fs_tree(loc.tree, path)?;
        let size = buf.len() as u64;
        let lo = Key::new(loc.ino, EXTENT_DATA_KEY, 0);
        let hi = Key::new(loc.ino, EXTENT_DATA_KEY, size.saturating_sub(1));
        if size == 0 {
            return Ok(());
        }
        let sectorsize = self.sectorsize as usize;
        // Extents of a sane file do not overlap, so copying costs about the
        // file's size; decompressing can cost more (each partial reference
        // to a 128 KiB extent decompresses all of it), up to a bound.
        let mut copy_budget = size.saturating_mul(2).saturating_add(1 << 20);
        let mut inflate_budget = size.saturating_mul(64).saturating_add(16 << 20);
        // The extent decompressed last: consecutive references to one
        // extent decompress it once.
        let mut last: Option<(u64, Vec<u8>)> = None;
        let charge = |budget: &mut u64, n: u64, what: &str, at: u64, kind: &str| {
            *budget = budget.checked_sub(n).ok_or_else(|| {
                self.corrupt(
                    what,
                    at,
                    format!("the file's extents {kind} more than its {size} bytes allow (overlapping extents?)"),
                )
            })?;
            Ok::<(), DiskError>(())
        };
        self.search(&tree, lo, hi, &mut |key, item, at| {
            let file_off = key.offset;
            let what = format!("file extent at {file_off:#x} of {path}");
            let extent = extent::parse(item).map_err(|e| match e {
                ExtentError::Corrupt(d) => self.corrupt(&what, at, d),
                ExtentError::Unsupported(d) => {
                    DiskError::Unsupported { what: format!("btrfs {d} ({what} on {})", self.what) }
                }
            })?;
            // The search's upper key bounds file_off below buf.len().
            let dst = &mut buf[file_off as usize..];
            match extent {
                FileExtent::Inline { compression, ram_bytes, data_start } => {
                    let data = &item[data_start..];
                    if compression == COMPRESS_NONE {
                        let n = data.len().min(dst.len());
                        charge(&mut copy_budget, n as u64, &what, at, "copy")?;
                        dst[..n].copy_from_slice(&data[..n]);
                    } else {
                        charge(&mut inflate_budget, ram_bytes, &what, at, "decompress to")?;
                        let out = compress::decompress(compression, data, ram_bytes, sectorsize)
                            .map_err(|d| self.corrupt(&what, at, d))?;
                        let n = out.len().min(dst.len());
                        charge(&mut copy_budget, n as u64, &what, at, "copy")?;
                        dst[..n].copy_from_slice(&out[..n]);
                    }
                }
                FileExtent::Zeros { .. } => {}
                FileExtent::Regular { compression, ram_bytes, disk_bytenr, disk_num_bytes, offset, num_bytes } => {
                    let n = num_bytes.min(dst.len() as u64) as usize;
                    charge(&mut copy_budget, n as u64, &what, at, "copy")?;
                    if compression == COMPRESS_NONE {
                        // parse() checked that this does not overflow.
                        self.read_logical(disk_bytenr + offset, &mut dst[..n], &what)?;
                    } else {
                        if disk_num_bytes > compress::MAX_RAM_BYTES {
                            return Err(self.corrupt(
                                &what,
                                at,
                                format!("compressed extent of {disk_num_bytes} bytes on disk"),
                            ));
                        }
                        if last.as_ref().is_none_or(|(b, _)| *b != disk_bytenr) {
                            charge(&mut inflate_budget, ram_bytes, &what, at, "decompress to")?;
                            let mut input = vec![0; disk_num_bytes as usize];
                            self.read_logical(disk_bytenr, &mut input, &what)?;
                            let out = compress::decompress(compression, &input, ram_bytes, sectorsize)
                                .map_err(|d| self.corrupt(&what, at, d))?;
                            last = Some((disk_bytenr, out));
                        }
                        let out = &last.as_ref().expect("just decompressed").1;
                        let from = offset.min(out.len() as u64) as usize;
                        let m = (out.len() - from).min(n);
                        dst[..m].copy_from_slice(&out[from..from + m]);
                    }
                }
            }
            Ok(true)
        })
    }

    /// The path of directory `ino` from its tree's top directory, through
    /// the `INODE_REF`s (each names the parent directory and the name in it).
    fn inode_path(&self, tree: &TreeRoot, top: u64, mut ino: u64) -> Result<String> {
        let mut parts = Vec::new();
        while ino != top {
            if parts.len() >= MAX_PATH_DEPTH {
                return Err(self.corrupt(
                    format!("inode refs of {}", tree.name()),
                    self.superblock_at,
                    format!("more than {MAX_PATH_DEPTH} levels up from inode {ino}"),
                ));
            }
            let lo = Key::new(ino, INODE_REF_KEY, 0);
            let hi = Key::new(ino, INODE_REF_KEY, u64::MAX);
            let Some((key, data, at)) = self.first(tree, lo, hi)? else {
                return Err(self.corrupt(
                    format!("inode {ino} of {}", tree.name()),
                    self.superblock_at,
                    "no inode ref",
                ));
            };
            let bad = || self.corrupt(format!("inode ref of {ino}"), at, "truncated");
            let r: RawInodeRef = bytemuck::pod_read_unaligned(data.get(..INODE_REF_SIZE).ok_or_else(bad)?);
            let name = data.get(INODE_REF_SIZE..INODE_REF_SIZE + usize::from(r.name_len.get())).ok_or_else(bad)?;
            parts.push(String::from_utf8_lossy(name).into_owned());
            ino = key.offset;
        }
        parts.reverse();
        Ok(parts.join("/"))
    }
}

fn node_kind(mode: u32) -> NodeKind {
    match mode & 0o170000 {
        0o040000 => NodeKind::Directory,
        0o100000 => NodeKind::File,
        0o120000 => NodeKind::Symlink,
        _ => NodeKind::Other,
    }
}

impl BtrfsFs {
    /// Opens the btrfs filesystem in `vol`: superblock, chunk map, root
    /// tree. The view is GRUB 2's: rooted at the top-level subvolume.
    pub fn open(win: Window) -> Result<BtrfsFs> {
        let base = win.start();
        let what = win.describe();
        let (sb, superblock_at) = read_superblock(&win)?;
        let bad =
            |d: String| DiskError::corrupt(format!("btrfs superblock of {what}"), ByteOffset(base + superblock_at), d);
        let devices = sb.num_devices.get();
        if devices != 1 {
            return Err(DiskError::Unsupported { what: format!("multi-device btrfs ({devices} devices) on {what}") });
        }
        let (sectorsize, nodesize) = (sb.sectorsize.get(), sb.nodesize.get());
        if !sectorsize.is_power_of_two() || !(4096..=65536).contains(&sectorsize) {
            return Err(bad(format!("sector size {sectorsize}")));
        }
        if !nodesize.is_power_of_two() || !(sectorsize..=65536).contains(&nodesize) {
            return Err(bad(format!("node size {nodesize}")));
        }
        for (level, name) in [(sb.root_level, "root"), (sb.chunk_root_level, "chunk root")] {
            if level > tree::MAX_LEVEL {
                return Err(bad(format!("{name} level {level}, more than {}", tree::MAX_LEVEL)));
            }
        }
        let meta_fsid = if sb.incompat_flags.get() & INCOMPAT_METADATA_UUID != 0 { sb.metadata_uuid } else { sb.fsid };
        let devid = sb.dev_item.devid.get();
        let sys = parse_sys_array(&sb, devid).map_err(|e| match e {
            ChunkError::Corrupt(d) => bad(d),
            ChunkError::Unsupported(d) => DiskError::Unsupported { what: format!("{d} on {what}") },
        })?;
        let mut vol = Volume {
            win,
            base,
            what,
            sectorsize,
            nodesize,
            fsid: sb.fsid,
            meta_fsid,
            label: text(&sb.label),
            generation: sb.generation.get(),
            superblock_at,
            root_dir_objectid: sb.root_dir_objectid.get(),
            chunks: sys,
            root_tree: TreeRoot { id: 1, bytenr: sb.root.get(), level: sb.root_level },
            roots: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        };
        // The chunk tree, read through the SYSTEM chunks, maps the rest.
        let chunk_tree = TreeRoot { id: 3, bytenr: sb.chunk_root.get(), level: sb.chunk_root_level };
        let mut all = vol.chunks.clone();
        let lo = Key::new(FIRST_CHUNK_TREE_OBJECTID, CHUNK_ITEM_KEY, 0);
        let hi = Key::new(FIRST_CHUNK_TREE_OBJECTID, CHUNK_ITEM_KEY, u64::MAX);
        vol.search(&chunk_tree, lo, hi, &mut |key, data, at| {
            let (c, _) =
                chunk::parse_chunk(key.offset, data, devid).map_err(|e| vol.chunk_error(e, "chunk item", at))?;
            all.insert(c).map_err(|e| vol.chunk_error(e, "chunk item", at))?;
            Ok(true)
        })?;
        vol.chunks = all;
        let vol = Arc::new(vol);
        let top = vol.subvol_top(FS_TREE_OBJECTID, "/")?;
        Ok(BtrfsFs { vol, top })
    }

    /// The same filesystem seen from another subvolume, as Linux mounts it
    /// with `subvol=PATH` (from the top level), `subvolid=ID`, or neither
    /// (the default subvolume).
    pub fn open_subvolume(&self, spec: &SubvolSpec) -> Result<BtrfsFs> {
        let top = match spec {
            SubvolSpec::Default => {
                let id = self.default_subvolume()?;
                self.vol.subvol_top(id, "/")?
            }
            SubvolSpec::Id(id) => {
                let ok = *id == FS_TREE_OBJECTID || (FIRST_FREE_OBJECTID..=LAST_FREE_OBJECTID).contains(id);
                if !ok {
                    return Err(DiskError::path(
                        format!("subvolid={id}"),
                        PathErrorKind::NotFound,
                        "not a subvolume id (5, or 256 and up)",
                    ));
                }
                self.vol.subvol_top(*id, &format!("subvolid={id}"))?
            }
            SubvolSpec::Path(p) => {
                let path = if p.starts_with('/') { p.clone() } else { format!("/{p}") };
                let top = self.at_top_level();
                let loc = top.locate(&path)?;
                let (_, dirid) = self.vol.fs_tree(loc.tree, &path)?;
                if loc.ino != dirid {
                    return Err(DiskError::path(path, PathErrorKind::Other, "not a subvolume"));
                }
                loc
            }
        };
        Ok(BtrfsFs { vol: self.vol.clone(), top })
    }

    fn at_top_level(&self) -> BtrfsFs {
        let top = self.vol.subvol_top(FS_TREE_OBJECTID, "/").unwrap_or(self.top);
        BtrfsFs { vol: self.vol.clone(), top }
    }

    /// The id of the subvolume this view starts from.
    pub fn subvolume_id(&self) -> u64 {
        self.top.tree
    }

    /// The default subvolume's id: the root tree directory's "default"
    /// entry (`btrfs subvolume set-default`), 5 when there is none, as
    /// Linux's `btrfs_get_default_root` decides.
    pub fn default_subvolume(&self) -> Result<u64> {
        let v = &self.vol;
        let dir = Loc { tree: 1, ino: v.root_dir_objectid };
        let key = Key::new(dir.ino, DIR_ITEM_KEY, name_hash(b"default"));
        let Some((data, at)) = v.get(&v.root_tree, key)? else { return Ok(FS_TREE_OBJECTID) };
        let items = v.parse_dir_items(&data, at)?;
        Ok(match items.iter().find(|d| d.name == b"default") {
            Some(d) if d.location.objectid != 0 => d.location.objectid,
            _ => FS_TREE_OBJECTID,
        })
    }

    /// Every subvolume but the top level, by id, with its path from the
    /// top level (its `ROOT_BACKREF`: parent subvolume, directory in it,
    /// name).
    pub fn subvolumes(&self) -> Result<Vec<Subvolume>> {
        let v = &self.vol;
        let mut refs: Vec<(u64, u64, u64, String)> = Vec::new();
        let lo = Key::new(FIRST_FREE_OBJECTID, 0, 0);
        let hi = Key::new(LAST_FREE_OBJECTID, u8::MAX, u64::MAX);
        v.search(&v.root_tree, lo, hi, &mut |key, data, at| {
            if key.ty != ROOT_BACKREF_KEY {
                return Ok(true);
            }
            let bad = || v.corrupt(format!("root backref of subvolume {}", key.objectid), at, "truncated");
            let r: RawRootRef = bytemuck::pod_read_unaligned(data.get(..ROOT_REF_SIZE).ok_or_else(bad)?);
            let name = data.get(ROOT_REF_SIZE..ROOT_REF_SIZE + usize::from(r.name_len.get())).ok_or_else(bad)?;
            refs.push((key.objectid, key.offset, r.dirid.get(), String::from_utf8_lossy(name).into_owned()));
            Ok(true)
        })?;
        let by_id: HashMap<u64, (u64, u64, String)> =
            refs.iter().map(|(id, parent, dirid, name)| (*id, (*parent, *dirid, name.clone()))).collect();
        let mut out = Vec::new();
        for (id, parent, _, _) in &refs {
            let mut parts = Vec::new();
            let mut cur = *id;
            while cur != FS_TREE_OBJECTID {
                if parts.len() >= MAX_PATH_DEPTH {
                    return Err(v.corrupt("root backrefs", v.superblock_at, format!("subvolume {id} nests too deep")));
                }
                let Some((p, dirid, name)) = by_id.get(&cur) else {
                    return Err(v.corrupt(
                        "root backrefs",
                        v.superblock_at,
                        format!("subvolume {cur} (holding {id}) has no backref"),
                    ));
                };
                parts.push(name.clone());
                let (ptree, ptop) = v.fs_tree(*p, "/")?;
                let dir = v.inode_path(&ptree, ptop, *dirid)?;
                if !dir.is_empty() {
                    parts.push(dir);
                }
                cur = *p;
            }
            parts.reverse();
            let generation = v.tree(*id)?.map_or(0, |t| t.2);
            out.push(Subvolume { id: *id, parent: *parent, path: parts.join("/"), generation });
        }
        Ok(out)
    }

    pub fn label(&self) -> Option<String> {
        self.vol.label.clone()
    }

    /// The fsid as blkid and `btrfs filesystem show` print it.
    pub fn uuid(&self) -> String {
        uuid_string(&self.vol.fsid)
    }

    pub fn generation(&self) -> u64 {
        self.vol.generation
    }

    /// The chunk map (logical → physical), for tests and `inspect`.
    pub fn chunks(&self) -> Vec<Chunk> {
        self.vol.chunks.iter().cloned().collect()
    }

    pub fn summary(&self) -> Result<BtrfsSummary> {
        Ok(BtrfsSummary {
            label: self.label(),
            uuid: self.uuid(),
            generation: self.generation(),
            default_subvolume: self.default_subvolume()?,
            subvolumes: self.subvolumes()?,
        })
    }

    /// The inode at `path` (no symlinks followed), from this view's top.
    fn locate(&self, path: &str) -> Result<Loc> {
        let v = &self.vol;
        // (directory or file, whether it is a directory by its dir item's
        // type, components below the top).
        let top = (self.top, true, 1usize);
        let (loc, _, _) = super::walk_lexical(path, top, |&(dir, is_dir, depth), comp| {
            if !is_dir {
                return Err(DiskError::path(path, PathErrorKind::NotADirectory, "not a directory"));
            }
            if depth > MAX_PATH_DEPTH {
                return Err(DiskError::path(path, PathErrorKind::Other, "path too deep"));
            }
            let Some(item) = v.lookup(dir, comp, path)? else {
                return Err(DiskError::path(path, PathErrorKind::NotFound, "no such file or directory"));
            };
            let is_dir = item.ty == FT_DIR || item.location.ty == ROOT_ITEM_KEY;
            Ok((v.follow(dir, &item, path)?, is_dir, depth + 1))
        })?;
        Ok(loc)
    }

    fn stat_loc(&self, path: &str) -> Result<(Loc, super::Node)> {
        let loc = self.locate(path)?;
        let (inode, _) = self.vol.inode(loc, path)?;
        Ok((loc, super::Node { kind: node_kind(inode.mode.get()), size: inode.size.get() }))
    }

    /// A regular file's location and size, refused above `max_len`.
    fn file_within(&self, path: &str, max_len: u64) -> Result<(Loc, usize)> {
        let (loc, node) = self.stat_loc(path)?;
        Ok((loc, super::readable_len(path, node.kind, node.size, max_len)?))
    }
}

/// The raw parsers on arbitrary bytes, for the `btrfs_walk` fuzz target:
/// a tree block, a sys_chunk_array, a chunk item, a file extent item and
/// the three decompressors. Each must return, whatever the bytes.
#[doc(hidden)]
pub fn fuzz_parsers(data: &[u8]) {
    let _ = tree::parse_node(data);
    let _ = chunk::parse_sys_array(data, data.len().min(2048), 1);
    let _ = chunk::parse_chunk(0, data, 1);
    let _ = extent::parse(data);
    for algo in [COMPRESS_ZLIB, COMPRESS_LZO, COMPRESS_ZSTD] {
        let _ = compress::decompress(algo, data, 128 << 10, 4096);
    }
}

fn parse_sys_array(sb: &RawSuperblock, devid: u64) -> std::result::Result<ChunkMap, ChunkError> {
    chunk::parse_sys_array(&sb.sys_chunk_array, sb.sys_chunk_array_size.get() as usize, devid)
}

impl Filesystem for BtrfsFs {
    fn stat(&self, path: &str) -> Result<super::Node> {
        self.stat_loc(path).map(|(_, n)| n)
    }

    fn read_link(&self, path: &str) -> Result<String> {
        let (loc, node) = self.stat_loc(path)?;
        if node.kind != NodeKind::Symlink {
            return Err(DiskError::path(path, PathErrorKind::Other, "not a symbolic link"));
        }
        if node.size > MAX_SYMLINK_TARGET {
            return Err(DiskError::path(
                path,
                PathErrorKind::Corrupt,
                format!("symlink target of {} bytes is longer than {MAX_SYMLINK_TARGET}", node.size),
            ));
        }
        let mut buf = vec![0; node.size as usize];
        self.vol.read_data(loc, &mut buf, path)?;
        String::from_utf8(buf).map_err(|_| DiskError::path(path, PathErrorKind::Other, "symlink target is not UTF-8"))
    }

    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        let (loc, len) = self.file_within(path, max_len)?;
        let mut buf = vec![0; len];
        self.vol.read_data(loc, &mut buf, path)?;
        Ok(buf)
    }

    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> Result<usize> {
        let (loc, len) = self.file_within(path, max_len)?;
        let buf = super::sink_buffer(sink, path, len)?;
        self.vol.read_data(loc, buf, path)?;
        Ok(len)
    }

    /// Entries in `DIR_INDEX` order (creation order), as `readdir` gives them.
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let (loc, node) = self.stat_loc(path)?;
        if node.kind != NodeKind::Directory {
            return Err(DiskError::path(path, PathErrorKind::NotADirectory, "not a directory"));
        }
        let v = &self.vol;
        let (tree, _) = v.fs_tree(loc.tree, path)?;
        let mut out = Vec::new();
        let lo = Key::new(loc.ino, DIR_INDEX_KEY, 0);
        let hi = Key::new(loc.ino, DIR_INDEX_KEY, u64::MAX);
        v.search(&tree, lo, hi, &mut |_, data, at| {
            for d in v.parse_dir_items(data, at)? {
                let kind = if d.location.ty == ROOT_ITEM_KEY {
                    NodeKind::Directory
                } else {
                    match d.ty {
                        FT_DIR => NodeKind::Directory,
                        FT_REG_FILE => NodeKind::File,
                        FT_SYMLINK => NodeKind::Symlink,
                        _ => NodeKind::Other,
                    }
                };
                out.push(DirEntry { name: String::from_utf8_lossy(&d.name).into_owned(), kind });
            }
            Ok(true)
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
