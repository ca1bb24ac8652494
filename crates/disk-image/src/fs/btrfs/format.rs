//! btrfs on-disk structures, as plain data with the offsets of Linux's
//! `include/uapi/linux/btrfs_tree.h` and btrfs-progs `kernel-shared/ctree.h`.
//! Everything is little-endian and packed.

use bytemuck::{Pod, Zeroable};

use crate::le::{Le16, Le32, Le64};

/// Primary superblock at 64 KiB, mirrors at 64 MiB and 256 GiB
/// (`btrfs_sb_offset`: 16 KiB << (12 * mirror), mirror 0 fixed at 64 KiB).
pub const SUPERBLOCK_OFFSETS: [u64; 3] = [0x1_0000, 0x400_0000, 0x40_0000_0000];
pub const SUPERBLOCK_SIZE: usize = 4096;
/// `BTRFS_MAGIC`, "_BHRfS_M".
pub const MAGIC: [u8; 8] = *b"_BHRfS_M";
/// `BTRFS_CSUM_SIZE`: every checksum field is 32 bytes, crc32c uses 4.
pub const CSUM_SIZE: usize = 32;
/// `BTRFS_CSUM_TYPE_CRC32`.
pub const CSUM_TYPE_CRC32C: u16 = 0;

/// Object ids (btrfs_tree.h).
pub const FS_TREE_OBJECTID: u64 = 5;
pub const FIRST_FREE_OBJECTID: u64 = 256;
/// `BTRFS_LAST_FREE_OBJECTID` (-256): subvolume ids are below it.
pub const LAST_FREE_OBJECTID: u64 = (-256i64) as u64;
pub const FIRST_CHUNK_TREE_OBJECTID: u64 = 256;

/// Item types (btrfs_tree.h `BTRFS_*_KEY`).
pub const INODE_ITEM_KEY: u8 = 1;
pub const INODE_REF_KEY: u8 = 12;
pub const DIR_ITEM_KEY: u8 = 84;
pub const DIR_INDEX_KEY: u8 = 96;
pub const EXTENT_DATA_KEY: u8 = 108;
pub const ROOT_ITEM_KEY: u8 = 132;
pub const ROOT_BACKREF_KEY: u8 = 144;
pub const CHUNK_ITEM_KEY: u8 = 228;

/// Block group profile bits of `btrfs_chunk.type` (`BTRFS_BLOCK_GROUP_*`).
pub const BLOCK_GROUP_PROFILES: [(u64, &str); 8] = [
    (1 << 3, "RAID0"),
    (1 << 4, "RAID1"),
    (1 << 5, "DUP"),
    (1 << 6, "RAID10"),
    (1 << 7, "RAID5"),
    (1 << 8, "RAID6"),
    (1 << 9, "RAID1C3"),
    (1 << 10, "RAID1C4"),
];
pub const BLOCK_GROUP_DUP: u64 = 1 << 5;

/// `btrfs_file_extent_item.type`.
pub const FILE_EXTENT_INLINE: u8 = 0;
pub const FILE_EXTENT_REG: u8 = 1;
pub const FILE_EXTENT_PREALLOC: u8 = 2;

/// `btrfs_compression_type`.
pub const COMPRESS_NONE: u8 = 0;
pub const COMPRESS_ZLIB: u8 = 1;
pub const COMPRESS_LZO: u8 = 2;
pub const COMPRESS_ZSTD: u8 = 3;

/// `BTRFS_FT_*`, the type byte of a dir item.
pub const FT_REG_FILE: u8 = 1;
pub const FT_DIR: u8 = 2;
pub const FT_SYMLINK: u8 = 7;

/// Incompat feature bit: tree headers carry `metadata_uuid`, not `fsid`.
pub const INCOMPAT_METADATA_UUID: u64 = 1 << 10;

/// `struct btrfs_disk_key`: objectid, type, offset (17 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RawKey {
    pub objectid: Le64,
    pub ty: u8,
    pub offset: Le64,
}
const _: () = assert!(size_of::<RawKey>() == 17);

/// A key in the order btrfs sorts them: objectid, then type, then offset
/// (`btrfs_comp_cpu_keys`); the derived `Ord` compares fields in that order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub objectid: u64,
    pub ty: u8,
    pub offset: u64,
}

impl Key {
    pub const MIN: Key = Key { objectid: 0, ty: 0, offset: 0 };
    pub const MAX: Key = Key { objectid: u64::MAX, ty: u8::MAX, offset: u64::MAX };

    pub const fn new(objectid: u64, ty: u8, offset: u64) -> Key {
        Key { objectid, ty, offset }
    }

    /// The next key in btrfs order, `None` after [`Key::MAX`].
    pub fn successor(self) -> Option<Key> {
        if let Some(offset) = self.offset.checked_add(1) {
            return Some(Key { offset, ..self });
        }
        if let Some(ty) = self.ty.checked_add(1) {
            return Some(Key { ty, offset: 0, ..self });
        }
        self.objectid.checked_add(1).map(|objectid| Key { objectid, ty: 0, offset: 0 })
    }

    /// The previous key, `None` before [`Key::MIN`].
    pub fn predecessor(self) -> Option<Key> {
        if let Some(offset) = self.offset.checked_sub(1) {
            return Some(Key { offset, ..self });
        }
        if let Some(ty) = self.ty.checked_sub(1) {
            return Some(Key { ty, offset: u64::MAX, ..self });
        }
        self.objectid.checked_sub(1).map(|objectid| Key { objectid, ty: u8::MAX, offset: u64::MAX })
    }
}

impl From<RawKey> for Key {
    fn from(k: RawKey) -> Key {
        Key { objectid: k.objectid.get(), ty: k.ty, offset: k.offset.get() }
    }
}

/// `struct btrfs_dev_item` (98 bytes), embedded in the superblock.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawDevItem {
    pub devid: Le64,
    pub total_bytes: Le64,
    pub bytes_used: Le64,
    pub io_align: Le32,
    pub io_width: Le32,
    pub sector_size: Le32,
    pub ty: Le64,
    pub generation: Le64,
    pub start_offset: Le64,
    pub dev_group: Le32,
    pub seek_speed: u8,
    pub bandwidth: u8,
    pub uuid: [u8; 16],
    pub fsid: [u8; 16],
}
const _: () = assert!(size_of::<RawDevItem>() == 98);

/// `struct btrfs_super_block` (4096 bytes).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawSuperblock {
    /// 0x00: crc32c of bytes 0x20..0x1000, in the first 4 bytes.
    pub csum: [u8; CSUM_SIZE],
    /// 0x20.
    pub fsid: [u8; 16],
    /// 0x30: the byte offset this copy was written at.
    pub bytenr: Le64,
    pub flags: Le64,
    /// 0x40.
    pub magic: [u8; 8],
    /// 0x48.
    pub generation: Le64,
    /// 0x50: logical address of the root tree.
    pub root: Le64,
    /// 0x58: logical address of the chunk tree.
    pub chunk_root: Le64,
    pub log_root: Le64,
    pub unused_log_root_transid: Le64,
    pub total_bytes: Le64,
    pub bytes_used: Le64,
    /// 0x80: 6, the root tree's directory holding "default".
    pub root_dir_objectid: Le64,
    /// 0x88.
    pub num_devices: Le64,
    /// 0x90.
    pub sectorsize: Le32,
    pub nodesize: Le32,
    pub unused_leafsize: Le32,
    pub stripesize: Le32,
    /// 0xA0.
    pub sys_chunk_array_size: Le32,
    pub chunk_root_generation: Le64,
    pub compat_flags: Le64,
    pub compat_ro_flags: Le64,
    /// 0xBC.
    pub incompat_flags: Le64,
    /// 0xC4.
    pub csum_type: Le16,
    pub root_level: u8,
    pub chunk_root_level: u8,
    pub log_root_level: u8,
    /// 0xC9.
    pub dev_item: RawDevItem,
    /// 0x12B.
    pub label: [u8; 256],
    pub cache_generation: Le64,
    pub uuid_tree_generation: Le64,
    /// 0x23B.
    pub metadata_uuid: [u8; 16],
    pub nr_global_roots: Le64,
    pub reserved: [u8; 0x32B - 0x253],
    /// 0x32B: (disk key, chunk) pairs of the SYSTEM chunks.
    pub sys_chunk_array: [u8; 2048],
    pub rest: [u8; 4096 - 0xB2B],
}
const _: () = assert!(size_of::<RawSuperblock>() == SUPERBLOCK_SIZE);

/// `struct btrfs_header` (101 bytes), at the start of every tree block.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawHeader {
    pub csum: [u8; CSUM_SIZE],
    pub fsid: [u8; 16],
    /// 0x30: the block's own logical address.
    pub bytenr: Le64,
    pub flags: Le64,
    pub chunk_tree_uuid: [u8; 16],
    pub generation: Le64,
    pub owner: Le64,
    /// 0x60.
    pub nritems: Le32,
    /// 0x64: 0 for leaves.
    pub level: u8,
}
pub const HEADER_SIZE: usize = 101;
const _: () = assert!(size_of::<RawHeader>() == HEADER_SIZE);

/// `struct btrfs_item`: a leaf item's key and where its data is, relative
/// to the end of the header.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawItem {
    pub key: RawKey,
    pub offset: Le32,
    pub size: Le32,
}
pub const ITEM_SIZE: usize = 25;
const _: () = assert!(size_of::<RawItem>() == ITEM_SIZE);

/// `struct btrfs_key_ptr`: a node's pointer to a child block.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawKeyPtr {
    pub key: RawKey,
    pub blockptr: Le64,
    pub generation: Le64,
}
pub const KEY_PTR_SIZE: usize = 33;
const _: () = assert!(size_of::<RawKeyPtr>() == KEY_PTR_SIZE);

/// `struct btrfs_chunk` without its stripes (48 bytes); `num_stripes`
/// `btrfs_stripe`s follow.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawChunk {
    pub length: Le64,
    pub owner: Le64,
    pub stripe_len: Le64,
    pub ty: Le64,
    pub io_align: Le32,
    pub io_width: Le32,
    pub sector_size: Le32,
    pub num_stripes: Le16,
    pub sub_stripes: Le16,
}
pub const CHUNK_SIZE: usize = 48;
const _: () = assert!(size_of::<RawChunk>() == CHUNK_SIZE);

/// `struct btrfs_stripe` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawStripe {
    pub devid: Le64,
    pub offset: Le64,
    pub dev_uuid: [u8; 16],
}
pub const STRIPE_SIZE: usize = 32;
const _: () = assert!(size_of::<RawStripe>() == STRIPE_SIZE);

/// `struct btrfs_timespec`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawTimespec {
    pub sec: Le64,
    pub nsec: Le32,
}

/// `struct btrfs_inode_item` (160 bytes).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawInodeItem {
    pub generation: Le64,
    pub transid: Le64,
    /// 0x10: i_size.
    pub size: Le64,
    pub nbytes: Le64,
    pub block_group: Le64,
    pub nlink: Le32,
    pub uid: Le32,
    pub gid: Le32,
    /// 0x34: POSIX mode, S_IFMT in the top bits.
    pub mode: Le32,
    pub rdev: Le64,
    pub flags: Le64,
    pub sequence: Le64,
    pub reserved: [Le64; 4],
    pub atime: RawTimespec,
    pub ctime: RawTimespec,
    pub mtime: RawTimespec,
    pub otime: RawTimespec,
}
pub const INODE_ITEM_SIZE: usize = 160;
const _: () = assert!(size_of::<RawInodeItem>() == INODE_ITEM_SIZE);

/// The head of `struct btrfs_root_item` up to `level` (239 bytes; the
/// item is longer on newer filesystems, older ones stop after `level`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawRootItem {
    pub inode: RawInodeItem,
    pub generation: Le64,
    /// 168: the subvolume's top directory, 256.
    pub root_dirid: Le64,
    /// 176: logical address of the tree's root block.
    pub bytenr: Le64,
    pub byte_limit: Le64,
    pub bytes_used: Le64,
    pub last_snapshot: Le64,
    pub flags: Le64,
    pub refs: Le32,
    pub drop_progress: RawKey,
    pub drop_level: u8,
    /// 238.
    pub level: u8,
}
pub const ROOT_ITEM_MIN_SIZE: usize = 239;
const _: () = assert!(size_of::<RawRootItem>() == ROOT_ITEM_MIN_SIZE);

/// `struct btrfs_root_ref` (18 bytes), the name follows.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawRootRef {
    pub dirid: Le64,
    pub sequence: Le64,
    pub name_len: Le16,
}
pub const ROOT_REF_SIZE: usize = 18;
const _: () = assert!(size_of::<RawRootRef>() == ROOT_REF_SIZE);

/// `struct btrfs_inode_ref` (10 bytes), the name follows.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawInodeRef {
    pub index: Le64,
    pub name_len: Le16,
}
pub const INODE_REF_SIZE: usize = 10;
const _: () = assert!(size_of::<RawInodeRef>() == INODE_REF_SIZE);

/// `struct btrfs_dir_item` (30 bytes); `name_len` bytes of name and
/// `data_len` bytes of data (xattrs only) follow.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawDirItem {
    pub location: RawKey,
    pub transid: Le64,
    pub data_len: Le16,
    pub name_len: Le16,
    pub ty: u8,
}
pub const DIR_ITEM_SIZE: usize = 30;
const _: () = assert!(size_of::<RawDirItem>() == DIR_ITEM_SIZE);

/// The fields of `struct btrfs_file_extent_item` every extent has (21
/// bytes); an inline extent's data follows them.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawFileExtentHead {
    pub generation: Le64,
    /// Decompressed size of the whole extent.
    pub ram_bytes: Le64,
    pub compression: u8,
    pub encryption: u8,
    pub other_encoding: Le16,
    pub ty: u8,
}
pub const FILE_EXTENT_INLINE_DATA_START: usize = 21;
const _: () = assert!(size_of::<RawFileExtentHead>() == FILE_EXTENT_INLINE_DATA_START);

/// The rest of a regular or prealloc `btrfs_file_extent_item` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawFileExtentReg {
    /// Logical start of the extent on disk; 0 is a hole.
    pub disk_bytenr: Le64,
    /// Bytes on disk (compressed size when compressed).
    pub disk_num_bytes: Le64,
    /// Where this file range starts in the decompressed extent.
    pub offset: Le64,
    /// Bytes of the file this item covers.
    pub num_bytes: Le64,
}
pub const FILE_EXTENT_REG_SIZE: usize = FILE_EXTENT_INLINE_DATA_START + 32;
const _: () = assert!(size_of::<RawFileExtentReg>() == 32);

/// crc32c (Castagnoli) as btrfs checksums blocks with it.
pub const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// `btrfs_name_hash`: `crc32c((u32)~1, name, len)` in Linux's raw-register
/// convention (no final inversion). The crate's `init` is stated unreflected,
/// so the register value 0xFFFF_FFFE is written as its bit reversal.
const NAME_HASH_ALGO: crc::Algorithm<u32> =
    crc::Algorithm { init: 0x7FFF_FFFF, xorout: 0, check: 0, residue: 0, ..crc::CRC_32_ISCSI };
const NAME_HASH: crc::Crc<u32> = crc::Crc::<u32>::new(&NAME_HASH_ALGO);

pub fn name_hash(name: &[u8]) -> u64 {
    u64::from(NAME_HASH.checksum(name))
}

/// The checksum a block of metadata must carry: crc32c of everything
/// after the csum field, little-endian in the first 4 bytes.
pub fn block_csum_ok(block: &[u8]) -> bool {
    block.len() > CSUM_SIZE && CRC32C.checksum(&block[CSUM_SIZE..]).to_le_bytes() == block[..4]
}

/// A UUID as blkid and `btrfs filesystem show` print it: bytes in stored
/// order, 8-4-4-4-12 lowercase hex.
pub fn uuid_string(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
