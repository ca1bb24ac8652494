//! Logical → physical address mapping from the chunk items
//! (`btrfs_chunk`): the superblock's `sys_chunk_array` first, then the
//! chunk tree (Linux `fs/btrfs/volumes.c`: `btrfs_read_sys_array`,
//! `btrfs_read_chunk_tree`). Single device only: SINGLE and DUP profiles.

use std::collections::BTreeMap;

use super::format::{
    BLOCK_GROUP_DUP, BLOCK_GROUP_PROFILES, CHUNK_ITEM_KEY, CHUNK_SIZE, Key, RawChunk, RawKey, RawStripe, STRIPE_SIZE,
};

/// Most chunks boot-sim keeps: a 1 GiB data chunk each, this is 1 PiB.
pub const MAX_CHUNKS: usize = 1 << 20;

/// One chunk: `length` logical bytes from `logical`, stored at each of
/// `copies` (physical byte offsets on the single device; two for DUP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub logical: u64,
    pub length: u64,
    pub copies: Vec<u64>,
}

/// Why a chunk item was refused; the caller adds where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    Corrupt(String),
    Unsupported(String),
}

/// Parses one `btrfs_chunk` with its stripes from the start of `data`, for
/// the chunk at logical address `logical`, on the device `devid`. Returns
/// the chunk and the bytes it used.
pub fn parse_chunk(logical: u64, data: &[u8], devid: u64) -> Result<(Chunk, usize), ChunkError> {
    let head = data
        .get(..CHUNK_SIZE)
        .ok_or_else(|| ChunkError::Corrupt(format!("chunk item of {} bytes, shorter than 48", data.len())))?;
    let c: RawChunk = bytemuck::pod_read_unaligned(head);
    let num_stripes = usize::from(c.num_stripes.get());
    let length = c.length.get();
    let ty = c.ty.get();
    if num_stripes == 0 {
        return Err(ChunkError::Corrupt(format!("chunk at logical {logical:#x} has no stripes")));
    }
    if length == 0 || logical.checked_add(length).is_none() {
        return Err(ChunkError::Corrupt(format!("chunk at logical {logical:#x} has length {length:#x}")));
    }
    let used = CHUNK_SIZE + num_stripes * STRIPE_SIZE;
    let stripes = data.get(CHUNK_SIZE..used).ok_or_else(|| {
        ChunkError::Corrupt(format!("chunk at logical {logical:#x}: {num_stripes} stripes do not fit its item"))
    })?;
    if let Some((_, name)) = BLOCK_GROUP_PROFILES.iter().find(|(bit, _)| ty & bit != 0 && *bit != BLOCK_GROUP_DUP) {
        return Err(ChunkError::Unsupported(format!("btrfs {name} profile (chunk at logical {logical:#x})")));
    }
    let want = if ty & BLOCK_GROUP_DUP != 0 { 2 } else { 1 };
    if num_stripes != want {
        return Err(ChunkError::Corrupt(format!(
            "chunk at logical {logical:#x} has {num_stripes} stripes, its profile has {want}"
        )));
    }
    let mut copies = Vec::with_capacity(want);
    for s in stripes.chunks_exact(STRIPE_SIZE) {
        let s: RawStripe = bytemuck::pod_read_unaligned(s);
        if s.devid.get() != devid {
            return Err(ChunkError::Unsupported(format!(
                "multi-device btrfs (chunk at logical {logical:#x} is on device {}, this is device {devid})",
                s.devid.get()
            )));
        }
        let phys = s.offset.get();
        if phys.checked_add(length).is_none() {
            return Err(ChunkError::Corrupt(format!(
                "chunk at logical {logical:#x}: stripe offset {phys:#x} overflows"
            )));
        }
        copies.push(phys);
    }
    Ok((Chunk { logical, length, copies }, used))
}

/// Chunks by logical start, non-overlapping.
#[derive(Debug, Clone, Default)]
pub struct ChunkMap {
    chunks: BTreeMap<u64, Chunk>,
}

impl ChunkMap {
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Adds a chunk; the same chunk twice (sys array and chunk tree) is
    /// fine, overlapping different ones is corrupt.
    pub fn insert(&mut self, chunk: Chunk) -> Result<(), ChunkError> {
        if self.chunks.get(&chunk.logical) == Some(&chunk) {
            return Ok(());
        }
        if self.chunks.len() >= MAX_CHUNKS {
            return Err(ChunkError::Corrupt(format!("more than {MAX_CHUNKS} chunks")));
        }
        let end = chunk.logical + chunk.length;
        let before = self.chunks.range(..end).next_back();
        if let Some((_, prev)) = before
            && prev.logical + prev.length > chunk.logical
        {
            return Err(ChunkError::Corrupt(format!(
                "chunk at logical {:#x}+{:#x} overlaps chunk at {:#x}+{:#x}",
                chunk.logical, chunk.length, prev.logical, prev.length
            )));
        }
        self.chunks.insert(chunk.logical, chunk);
        Ok(())
    }

    /// The chunk holding `logical`, and how many bytes of it remain from there.
    pub fn lookup(&self, logical: u64) -> Option<(&Chunk, u64)> {
        let (_, c) = self.chunks.range(..=logical).next_back()?;
        let into = logical - c.logical;
        (into < c.length).then(|| (c, c.length - into))
    }

    /// Physical offsets of every copy of `logical`, and the contiguous run
    /// length from there.
    pub fn map(&self, logical: u64) -> Option<(Vec<u64>, u64)> {
        let (c, run) = self.lookup(logical)?;
        let into = logical - c.logical;
        Some((c.copies.iter().map(|p| p + into).collect(), run))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Chunk> {
        self.chunks.values()
    }
}

/// Parses the superblock's `sys_chunk_array`: `size` bytes of (disk key,
/// chunk with stripes) pairs.
pub fn parse_sys_array(array: &[u8], size: usize, devid: u64) -> Result<ChunkMap, ChunkError> {
    let array = array
        .get(..size)
        .ok_or_else(|| ChunkError::Corrupt(format!("sys_chunk_array_size {size} is more than {}", array.len())))?;
    let mut map = ChunkMap::default();
    let mut at = 0;
    // Each pair uses at least 17 + 48 + 32 bytes, so this loop is bounded
    // by the array's 2048 bytes.
    while at < array.len() {
        let key_bytes = array
            .get(at..at + 17)
            .ok_or_else(|| ChunkError::Corrupt(format!("sys_chunk_array: truncated key at byte {at}")))?;
        let key: Key = bytemuck::pod_read_unaligned::<RawKey>(key_bytes).into();
        if key.ty != CHUNK_ITEM_KEY {
            return Err(ChunkError::Corrupt(format!(
                "sys_chunk_array: item of type {} at byte {at}, expected a chunk item ({CHUNK_ITEM_KEY})",
                key.ty
            )));
        }
        at += 17;
        let (chunk, used) = parse_chunk(key.offset, &array[at..], devid)?;
        map.insert(chunk)?;
        at += used;
    }
    if map.is_empty() {
        return Err(ChunkError::Corrupt("sys_chunk_array holds no chunk".into()));
    }
    Ok(map)
}
