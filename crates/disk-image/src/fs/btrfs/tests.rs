//! Unit and property tests of the btrfs parsers: key order and tree-node
//! search ranges, chunk items and the chunk map, the lzo framing, file
//! extent items, and the checksums. Whole images made by mkfs.btrfs are
//! checked against the kernel in `tests/interop_btrfs.rs`.

use proptest::prelude::*;

use super::chunk::{self, Chunk, ChunkError, ChunkMap};
use super::compress;
use super::extent::{self, ExtentError, FileExtent};
use super::format::*;
use super::tree::{self, Node};
use crate::le::{Le16, Le32, Le64};

fn raw_key(k: Key) -> RawKey {
    RawKey { objectid: Le64::new(k.objectid), ty: k.ty, offset: Le64::new(k.offset) }
}

fn key_strategy() -> impl Strategy<Value = Key> {
    (0u64..6, 0u8..4, prop_oneof![0u64..4, Just(u64::MAX), any::<u64>()])
        .prop_map(|(o, t, off)| Key::new(o, [0, 1, 84, 255][t as usize], off))
}

/// A leaf block of `nodesize` bytes holding `items` (sorted keys, data).
fn leaf(items: &[(Key, Vec<u8>)], nodesize: usize) -> Vec<u8> {
    let mut b = vec![0u8; nodesize];
    let mut h: RawHeader = bytemuck::Zeroable::zeroed();
    h.nritems = Le32::new(items.len() as u32);
    b[..HEADER_SIZE].copy_from_slice(bytemuck::bytes_of(&h));
    let mut end = nodesize - HEADER_SIZE;
    for (i, (k, data)) in items.iter().enumerate() {
        end -= data.len();
        let it = RawItem { key: raw_key(*k), offset: Le32::new(end as u32), size: Le32::new(data.len() as u32) };
        let at = HEADER_SIZE + i * ITEM_SIZE;
        b[at..at + ITEM_SIZE].copy_from_slice(bytemuck::bytes_of(&it));
        b[HEADER_SIZE + end..HEADER_SIZE + end + data.len()].copy_from_slice(data);
    }
    b
}

/// The bytes of a chunk item with `stripes` (devid, offset).
fn chunk_item(length: u64, ty: u64, stripes: &[(u64, u64)]) -> Vec<u8> {
    let c = RawChunk {
        length: Le64::new(length),
        owner: Le64::new(2),
        stripe_len: Le64::new(65536),
        ty: Le64::new(ty),
        io_align: Le32::new(65536),
        io_width: Le32::new(65536),
        sector_size: Le32::new(4096),
        num_stripes: Le16::new(stripes.len() as u16),
        sub_stripes: Le16::new(1),
    };
    let mut out = bytemuck::bytes_of(&c).to_vec();
    for &(devid, offset) in stripes {
        out.extend_from_slice(bytemuck::bytes_of(&RawStripe {
            devid: Le64::new(devid),
            offset: Le64::new(offset),
            dev_uuid: [0; 16],
        }));
    }
    out
}

/// An lzo1x stream of literals only: a first byte of 17 + n copies n
/// literals (n ≥ 4), then the end-of-stream marker (M4 with distance 0).
fn lzo1x_literals(lit: &[u8]) -> Vec<u8> {
    assert!((4..=238).contains(&lit.len()));
    let mut out = vec![17 + lit.len() as u8];
    out.extend_from_slice(lit);
    out.extend_from_slice(&[0x11, 0, 0]);
    out
}

/// btrfs's lzo framing of `segments` for a sector of `sectorsize`
/// (fs/btrfs/lzo.c: total length, then length-prefixed segments, a header
/// that would straddle a sector moved to the next one).
fn lzo_frame(segments: &[Vec<u8>], sectorsize: usize) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    for s in segments {
        let left = sectorsize - out.len() % sectorsize;
        if left < 4 {
            out.resize(out.len() + left, 0);
        }
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    }
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out
}

#[test]
fn name_hash_is_btrfs_name_hash() {
    // `dump-tree -t root` of every mkfs.btrfs image: the root tree
    // directory's "default" entry is `key (ROOT_TREE_DIR DIR_ITEM 2378154706)`.
    assert_eq!(name_hash(b"default"), 2_378_154_706);
}

#[test]
fn block_checksum_is_crc32c_of_everything_after_the_csum_field() {
    let mut block = vec![0u8; 4096];
    block[100] = 7;
    let c = CRC32C.checksum(&block[CSUM_SIZE..]);
    block[..4].copy_from_slice(&c.to_le_bytes());
    assert!(block_csum_ok(&block));
    block[4000] ^= 1;
    assert!(!block_csum_ok(&block));
    // crc32c's check value (crc-catalog CRC-32/ISCSI).
    assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
}

#[test]
fn uuids_print_in_stored_byte_order() {
    let b: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
    assert_eq!(uuid_string(&b), "00112233-4455-6677-8899-aabbccddeeff");
}

#[test]
fn raid_profiles_and_other_devices_are_not_supported() {
    for (bit, name) in BLOCK_GROUP_PROFILES.iter().filter(|(b, _)| *b != BLOCK_GROUP_DUP) {
        let item = chunk_item(1 << 20, 4 | bit, &[(1, 0), (1, 1 << 20)]);
        match chunk::parse_chunk(1 << 30, &item, 1) {
            Err(ChunkError::Unsupported(m)) => assert!(m.contains(name), "{m}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let item = chunk_item(1 << 20, 4, &[(2, 0)]);
    assert!(matches!(chunk::parse_chunk(0, &item, 1), Err(ChunkError::Unsupported(m)) if m.contains("multi-device")));
}

#[test]
fn lzo_refuses_truncated_and_oversized_frames() {
    assert!(compress::lzo(&[], 100, 4096).is_err());
    assert!(compress::lzo(&100u32.to_le_bytes(), 100, 4096).is_err());
    let mut f = lzo_frame(&[lzo1x_literals(b"abcdefgh")], 4096);
    f[4] = 200; // segment length past the frame
    assert!(compress::lzo(&f, 100, 4096).is_err());
    assert!(compress::decompress(COMPRESS_ZLIB, b"junk", compress::MAX_RAM_BYTES + 1, 4096).is_err());
}

#[test]
fn zlib_and_zstd_output_stops_at_ram_bytes() {
    use std::io::Write;
    let data = vec![b'a'; 1 << 20];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&data).unwrap();
    let z = z.finish().unwrap();
    assert_eq!(compress::decompress(COMPRESS_ZLIB, &z, 4096, 4096).unwrap().len(), 4096);
    let zs = ruzstd::encoding::compress_to_vec(data.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
    assert_eq!(compress::decompress(COMPRESS_ZSTD, &zs, 8192, 4096).unwrap(), vec![b'a'; 8192]);
}

proptest! {
    /// Key order is (objectid, type, offset), and successor/predecessor
    /// step to the adjacent key.
    #[test]
    fn key_order_and_neighbours(a in key_strategy(), b in key_strategy()) {
        prop_assert_eq!(a.cmp(&b), (a.objectid, a.ty, a.offset).cmp(&(b.objectid, b.ty, b.offset)));
        if let Some(s) = a.successor() {
            prop_assert!(s > a);
            prop_assert_eq!(s.predecessor(), Some(a));
            prop_assert!(!(a < b && b < s));
        }
    }

    /// The child ranges of an internal node partition the key space: every
    /// key falls in exactly the child the last key ≤ it points to (the
    /// first child from the start).
    #[test]
    fn child_ranges_partition_keys(mut keys in prop::collection::btree_set(key_strategy(), 1..12), probe in key_strategy()) {
        let ptrs: Vec<(Key, u64)> = std::mem::take(&mut keys).into_iter().enumerate().map(|(i, k)| (k, i as u64)).collect();
        let hits: Vec<usize> = (0..ptrs.len()).filter(|&i| tree::child_range(&ptrs, i, probe, probe).is_some()).collect();
        let want = ptrs.iter().rposition(|(k, _)| *k <= probe).unwrap_or(0);
        prop_assert_eq!(hits, vec![want]);
    }

    /// A leaf built from sorted items parses back to the same keys and
    /// data; unsorted keys are refused.
    #[test]
    fn leaf_round_trips(items in prop::collection::btree_map(key_strategy(), prop::collection::vec(any::<u8>(), 0..40), 0..40)) {
        let items: Vec<(Key, Vec<u8>)> = items.into_iter().collect();
        let block = leaf(&items, 4096);
        let (level, node) = tree::parse_node(&block).unwrap();
        prop_assert_eq!(level, 0);
        let Node::Leaf(got) = node else { panic!("not a leaf") };
        prop_assert_eq!(got.len(), items.len());
        for ((k, r), (wk, wd)) in got.iter().zip(&items) {
            prop_assert_eq!(k, wk);
            prop_assert_eq!(&block[r.clone()], wd.as_slice());
        }
        if items.len() >= 2 {
            let mut swapped = items.clone();
            swapped.swap(0, 1);
            prop_assert!(tree::parse_node(&leaf(&swapped, 4096)).is_err());
        }
    }

    /// Any bytes as a tree block: parsed or refused, every item range
    /// inside the block.
    #[test]
    fn arbitrary_blocks_never_panic(mut block in prop::collection::vec(any::<u8>(), 101..1024), n in 0u32..64, level in 0u8..10) {
        block[0x60..0x64].copy_from_slice(&n.to_le_bytes());
        block[0x64] = level;
        if let Ok((_, Node::Leaf(items))) = tree::parse_node(&block) {
            for (_, r) in items {
                prop_assert!(r.end <= block.len());
            }
        }
    }

    /// Chunk items round-trip; the map gives each copy's physical offset of
    /// any logical address inside a chunk and nothing outside.
    #[test]
    fn chunk_map_maps_inside_and_only_inside(
        spans in prop::collection::vec((1u64..64, 1u64..64, any::<bool>(), 0u64..1000), 1..10),
        probe in 0u64..(1 << 16),
    ) {
        let mut map = ChunkMap::default();
        let mut logical = 0u64;
        let mut placed = Vec::new();
        for (gap, len, dup, phys) in spans {
            logical += gap * 256;
            let length = len * 256;
            let (ty, stripes) = if dup {
                (4 | BLOCK_GROUP_DUP, vec![(1, phys * 4096), (1, phys * 4096 + length)])
            } else {
                (4, vec![(1, phys * 4096)])
            };
            let item = chunk_item(length, ty, &stripes);
            let (c, used) = chunk::parse_chunk(logical, &item, 1).unwrap();
            prop_assert_eq!(used, item.len());
            prop_assert_eq!(&c, &Chunk { logical, length, copies: stripes.iter().map(|s| s.1).collect() });
            map.insert(c.clone()).unwrap();
            let overlapping = Chunk { logical: logical + length - 1, length: 10, copies: vec![0] };
            prop_assert!(map.insert(overlapping).is_err());
            placed.push(c);
            logical += length;
        }
        let want = placed.iter().find(|c| probe >= c.logical && probe < c.logical + c.length);
        match (map.map(probe), want) {
            (Some((copies, run)), Some(c)) => {
                prop_assert_eq!(copies, c.copies.iter().map(|p| p + probe - c.logical).collect::<Vec<_>>());
                prop_assert_eq!(run, c.logical + c.length - probe);
            }
            (None, None) => {}
            (got, want) => prop_assert!(false, "map({probe:#x}) = {got:?}, chunk {want:?}"),
        }
    }

    /// The sys_chunk_array is (key, chunk) pairs; a key of another type or
    /// a truncated pair is refused.
    #[test]
    fn sys_chunk_array_parses(n in 1usize..5, cut in 0usize..200) {
        let mut array = Vec::new();
        for i in 0..n as u64 {
            array.extend_from_slice(bytemuck::bytes_of(&raw_key(Key::new(256, CHUNK_ITEM_KEY, i << 22))));
            array.extend_from_slice(&chunk_item(1 << 22, 2, &[(1, i << 22)]));
        }
        let map = chunk::parse_sys_array(&array, array.len(), 1).unwrap();
        prop_assert_eq!(map.iter().count(), n);
        let cut = cut.min(array.len() - 1);
        if cut > 0 {
            prop_assert!(chunk::parse_sys_array(&array, cut, 1).is_err() || cut % 97 == 0);
        }
        prop_assert!(chunk::parse_sys_array(&array, 4096, 1).is_err());
        array[8] = DIR_ITEM_KEY; // the first key's type
        prop_assert!(chunk::parse_sys_array(&array, array.len(), 1).is_err());
    }

    /// The lzo framing: segments come back concatenated whatever the
    /// sector padding, cut at the extent's ram_bytes.
    #[test]
    fn lzo_framing_round_trips(
        segs in prop::collection::vec(prop::collection::vec(any::<u8>(), 4..200), 1..12),
        sectorsize in prop_oneof![Just(256usize), Just(512), Just(4096)],
        cut in any::<prop::sample::Index>(),
    ) {
        let frame = lzo_frame(&segs.iter().map(|s| lzo1x_literals(s)).collect::<Vec<_>>(), sectorsize);
        let all: Vec<u8> = segs.concat();
        prop_assert_eq!(compress::lzo(&frame, all.len(), sectorsize).unwrap(), all.clone());
        let limit = cut.index(all.len() + 1);
        prop_assert_eq!(compress::lzo(&frame, limit, sectorsize).unwrap(), all[..limit].to_vec());
    }

    /// Arbitrary bytes through every decompressor: an error or at most
    /// ram_bytes of output, never a panic.
    #[test]
    fn decompressors_are_bounded(data in prop::collection::vec(any::<u8>(), 0..600), algo in 1u8..4, ram in 0u64..10_000) {
        if let Ok(out) = compress::decompress(algo, &data, ram, 4096) {
            prop_assert!(out.len() as u64 <= ram);
        }
    }

    /// File extent items: inline, regular, hole and prealloc parse to what
    /// was written; short items and encrypted ones are refused.
    #[test]
    fn file_extents_parse(
        ty in 0u8..4, compression in 0u8..4, ram in any::<u64>(), disk in any::<u64>(),
        disk_len in any::<u64>(), offset in 0u64..(1 << 40), num in any::<u64>(),
        inline_len in 0usize..64, encryption in prop_oneof![Just(0u8), 1u8..3],
    ) {
        let mut item = Vec::new();
        item.extend_from_slice(&7u64.to_le_bytes());
        item.extend_from_slice(&ram.to_le_bytes());
        item.extend_from_slice(&[compression, encryption, 0, 0, ty]);
        if ty == FILE_EXTENT_INLINE {
            item.extend(std::iter::repeat_n(0xAB, inline_len));
        } else {
            for v in [disk, disk_len, offset, num] {
                item.extend_from_slice(&v.to_le_bytes());
            }
        }
        let got = extent::parse(&item);
        if encryption != 0 {
            prop_assert!(matches!(got, Err(ExtentError::Unsupported(_))));
            return Ok(());
        }
        match ty {
            FILE_EXTENT_INLINE => prop_assert_eq!(got.unwrap(), FileExtent::Inline { compression, ram_bytes: ram, data_start: 21 }),
            FILE_EXTENT_PREALLOC => prop_assert_eq!(got.unwrap(), FileExtent::Zeros { num_bytes: num }),
            FILE_EXTENT_REG if disk == 0 => prop_assert_eq!(got.unwrap(), FileExtent::Zeros { num_bytes: num }),
            FILE_EXTENT_REG if compression == 0 && disk.checked_add(offset).is_none() => prop_assert!(got.is_err()),
            FILE_EXTENT_REG => prop_assert_eq!(got.unwrap(), FileExtent::Regular {
                compression, ram_bytes: ram, disk_bytenr: disk, disk_num_bytes: disk_len, offset, num_bytes: num,
            }),
            _ => prop_assert!(matches!(got, Err(ExtentError::Corrupt(_)))),
        }
        if ty != FILE_EXTENT_INLINE {
            prop_assert!(extent::parse(&item[..52]).is_err());
        }
        prop_assert!(extent::parse(&item[..20]).is_err());
    }
}
