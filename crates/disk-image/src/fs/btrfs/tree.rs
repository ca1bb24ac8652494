//! Tree blocks: reading one (checksum, address and fsid checked, DUP copies
//! tried in turn), parsing it into keys, and searching a tree for the items
//! in a key range (Linux `fs/btrfs/ctree.c` `btrfs_search_slot`, GRUB 2
//! `grub-core/fs/btrfs.c` `lower_bound`).

use super::format::{HEADER_SIZE, ITEM_SIZE, KEY_PTR_SIZE, Key, RawHeader, RawItem, RawKeyPtr};

/// Deepest tree accepted: `BTRFS_MAX_LEVEL` is 8 (levels 0..=7).
pub const MAX_LEVEL: u8 = 7;

/// A tree's root block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRoot {
    /// The tree's object id (1 root tree, 3 chunk tree, 5 FS tree, 256+
    /// subvolumes), for messages.
    pub id: u64,
    pub bytenr: u64,
    pub level: u8,
}

impl TreeRoot {
    pub fn name(&self) -> String {
        match self.id {
            1 => "root tree".into(),
            3 => "chunk tree".into(),
            5 => "FS tree".into(),
            id => format!("tree {id}"),
        }
    }
}

/// A parsed tree block: its level and either leaf items (key, data range
/// within the block) or child pointers (key, logical address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Leaf(Vec<(Key, std::ops::Range<usize>)>),
    Internal(Vec<(Key, u64)>),
}

/// Parses a tree block whose header was checked. Every item lies inside
/// the block and keys strictly increase.
pub fn parse_node(block: &[u8]) -> Result<(u8, Node), String> {
    let header: RawHeader =
        bytemuck::pod_read_unaligned(block.get(..HEADER_SIZE).ok_or("block shorter than its header")?);
    let level = header.level;
    if level > MAX_LEVEL {
        return Err(format!("level {level}, more than {MAX_LEVEL}"));
    }
    let n = header.nritems.get() as usize;
    let entry = if level == 0 { ITEM_SIZE } else { KEY_PTR_SIZE };
    let body = block.len() - HEADER_SIZE;
    if n.checked_mul(entry).is_none_or(|b| b > body) {
        return Err(format!("{n} items do not fit a {}-byte block", block.len()));
    }
    let mut last: Option<Key> = None;
    let mut check_order = |k: Key, i: usize| {
        if last.is_some_and(|l| l >= k) {
            return Err(format!("item {i} key {k:?} is not after the previous key"));
        }
        last = Some(k);
        Ok(())
    };
    if level == 0 {
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            let at = HEADER_SIZE + i * ITEM_SIZE;
            let it: RawItem = bytemuck::pod_read_unaligned(&block[at..at + ITEM_SIZE]);
            let key: Key = it.key.into();
            check_order(key, i)?;
            let start = HEADER_SIZE as u64 + u64::from(it.offset.get());
            let end = start + u64::from(it.size.get());
            let table_end = (HEADER_SIZE + n * ITEM_SIZE) as u64;
            if end > block.len() as u64 || start < table_end {
                return Err(format!(
                    "item {i} data at {start}..{end} is outside the block's data area ({table_end}..{})",
                    block.len()
                ));
            }
            items.push((key, start as usize..end as usize));
        }
        Ok((level, Node::Leaf(items)))
    } else {
        let mut ptrs = Vec::with_capacity(n);
        for i in 0..n {
            let at = HEADER_SIZE + i * KEY_PTR_SIZE;
            let p: RawKeyPtr = bytemuck::pod_read_unaligned(&block[at..at + KEY_PTR_SIZE]);
            let key: Key = p.key.into();
            check_order(key, i)?;
            ptrs.push((key, p.blockptr.get()));
        }
        if ptrs.is_empty() {
            return Err("internal node with no children".into());
        }
        Ok((level, Node::Internal(ptrs)))
    }
}

/// The key range child `i` of an internal node covers, clipped to
/// `[lo, hi]`: from its key (the first child from the start) to just
/// before the next child's key. `None` when the ranges do not meet.
pub fn child_range(ptrs: &[(Key, u64)], i: usize, lo: Key, hi: Key) -> Option<(Key, Key)> {
    let start = if i == 0 { Key::MIN } else { ptrs[i].0 };
    let end = match ptrs.get(i + 1) {
        Some((next, _)) => next.predecessor()?,
        None => Key::MAX,
    };
    let (a, b) = (start.max(lo), end.min(hi));
    (a <= b).then_some((a, b))
}
