//! XFS on-disk structures (Linux `fs/xfs/libxfs/xfs_format.h`,
//! `xfs_da_format.h`): parsed from big-endian bytes into validated values.
//! Nothing here reads the disk; `super` does, with these as the boundary.

/// `xfs_format.h: XFS_SB_MAGIC` "XFSB".
pub const SB_MAGIC: &[u8; 4] = b"XFSB";
/// `XFS_DINODE_MAGIC` "IN".
pub const DINODE_MAGIC: u16 = 0x494e;
/// `XFS_BMAP_MAGIC` "BMAP" (V4) and `XFS_BMAP_CRC_MAGIC` "BMA3" (V5).
pub const BMAP_MAGIC: u32 = 0x424d_4150;
pub const BMAP_CRC_MAGIC: u32 = 0x424d_4133;
/// `xfs_da_format.h`: single-block directory "XD2B" / "XDB3".
pub const DIR2_BLOCK_MAGIC: u32 = 0x5844_3242;
pub const DIR3_BLOCK_MAGIC: u32 = 0x5844_4233;
/// Multi-block directory data blocks "XD2D" / "XDD3".
pub const DIR2_DATA_MAGIC: u32 = 0x5844_3244;
pub const DIR3_DATA_MAGIC: u32 = 0x5844_4433;
/// `xfs_format.h: XFS_SYMLINK_MAGIC` "XSLM" (V5 remote symlink header).
pub const SYMLINK_MAGIC: u32 = 0x5853_4c4d;

/// `XFS_SB_CRC_OFF`: offsetof(struct xfs_dsb, sb_crc).
pub const SB_CRC_OFF: usize = 224;
/// `XFS_DINODE_CRC_OFF`: offsetof(struct xfs_dinode, di_crc).
pub const DINODE_CRC_OFF: usize = 100;
/// `XFS_BTREE_LBLOCK_CRC_OFF`: offsetof(struct xfs_btree_block, bb_u.l.bb_crc).
pub const BTREE_LBLOCK_CRC_OFF: usize = 64;
/// `XFS_DIR3_DATA_CRC_OFF`: offsetof(struct xfs_dir3_data_hdr, hdr.crc).
pub const DIR3_DATA_CRC_OFF: usize = 4;
/// `XFS_SYMLINK_CRC_OFF`: offsetof(struct xfs_dsymlink_hdr, sl_crc).
pub const SYMLINK_CRC_OFF: usize = 12;

/// `sizeof(struct xfs_btree_block)` without and with the CRC fields
/// (`XFS_BTREE_LBLOCK_LEN`, `XFS_BTREE_LBLOCK_CRC_LEN`).
pub const BTREE_LBLOCK_LEN: usize = 24;
pub const BTREE_LBLOCK_CRC_LEN: usize = 72;
/// `sizeof(struct xfs_dir2_data_hdr)` / `struct xfs_dir3_data_hdr`.
pub const DIR2_DATA_HDR_LEN: usize = 16;
pub const DIR3_DATA_HDR_LEN: usize = 64;
/// `sizeof(struct xfs_dsymlink_hdr)`.
pub const SYMLINK_HDR_LEN: usize = 56;
/// `xfs_da_format.h: XFS_DIR2_LEAF_OFFSET`: directory data lives below 32 GiB
/// of the directory's logical space; leaf and free blocks live above.
pub const DIR2_LEAF_OFFSET: u64 = 1 << 35;
/// `XFS_DIR2_DATA_FREE_TAG`: first two bytes of an unused data region.
pub const DIR2_DATA_FREE_TAG: u16 = 0xffff;
/// `xfs_format.h: XFS_SYMLINK_MAXLEN`.
pub const SYMLINK_MAXLEN: u64 = 1024;

/// `XFS_SB_VERSION_*` bits of `sb_versionnum` and `sb_features2`.
const SB_VERSION_NUMBITS: u16 = 0x000f;
const SB_VERSION_DIRV2BIT: u16 = 0x2000;
const SB_VERSION_MOREBITSBIT: u16 = 0x8000;
const SB_VERSION2_FTYPE: u32 = 0x0000_0200;
/// `XFS_SB_FEAT_INCOMPAT_*` (V5).
const SB_FEAT_INCOMPAT_FTYPE: u32 = 1 << 0;
const SB_FEAT_INCOMPAT_SPINODES: u32 = 1 << 1;
const SB_FEAT_INCOMPAT_META_UUID: u32 = 1 << 2;
const SB_FEAT_INCOMPAT_BIGTIME: u32 = 1 << 3;
const SB_FEAT_INCOMPAT_NEEDSREPAIR: u32 = 1 << 4;
const SB_FEAT_INCOMPAT_NREXT64: u32 = 1 << 5;
const SB_FEAT_INCOMPAT_EXCHRANGE: u32 = 1 << 6;
const SB_FEAT_INCOMPAT_PARENT: u32 = 1 << 7;
/// Incompat features that change nothing this reader looks at (inode
/// allocation, timestamps, log items, parent-pointer xattrs) or that it
/// handles (ftype, nrext64).
const SB_FEAT_INCOMPAT_KNOWN: u32 = SB_FEAT_INCOMPAT_FTYPE
    | SB_FEAT_INCOMPAT_SPINODES
    | SB_FEAT_INCOMPAT_META_UUID
    | SB_FEAT_INCOMPAT_BIGTIME
    | SB_FEAT_INCOMPAT_NEEDSREPAIR
    | SB_FEAT_INCOMPAT_NREXT64
    | SB_FEAT_INCOMPAT_EXCHRANGE
    | SB_FEAT_INCOMPAT_PARENT;

/// `XFS_DIFLAG_REALTIME`: the file's data is on the realtime device.
pub const DIFLAG_REALTIME: u16 = 0x1;
/// `XFS_DIFLAG2_NREXT64`: 64-bit data-fork extent count in `di_big_nextents`.
const DIFLAG2_NREXT64: u64 = 1 << 4;

pub fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}
pub fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
pub fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// `xfs_cksum.h: xfs_start_cksum_safe` + `xfs_end_cksum`: CRC32C of `buf`
/// with the 4 bytes at `crc_off` taken as zero. XFS stores the result
/// little-endian (`__le32`), the one little-endian field of its metadata.
pub fn cksum(buf: &[u8], crc_off: usize) -> u32 {
    let mut d = CRC32C.digest();
    d.update(&buf[..crc_off]);
    d.update(&[0; 4]);
    d.update(&buf[crc_off + 4..]);
    d.finalize()
}

/// `Ok` when the stored CRC (LE at `crc_off`) matches; `Err((stored, computed))`.
pub fn verify_cksum(buf: &[u8], crc_off: usize) -> Result<(), (u32, u32)> {
    let stored = u32::from_le_bytes([buf[crc_off], buf[crc_off + 1], buf[crc_off + 2], buf[crc_off + 3]]);
    let computed = cksum(buf, crc_off);
    if stored == computed { Ok(()) } else { Err((stored, computed)) }
}

/// The superblock fields this reader uses, checked for consistency the
/// way `xfs_sb.c: xfs_validate_sb_common` checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// 4 or 5.
    pub version: u8,
    pub blocklog: u8,
    pub sectsize: u32,
    pub agblocks: u32,
    pub agblklog: u8,
    pub agcount: u32,
    pub dblocks: u64,
    pub inodelog: u8,
    pub inopblog: u8,
    pub dirblklog: u8,
    pub rootino: u64,
    pub ftype: bool,
    pub nrext64: bool,
    pub uuid: [u8; 16],
    pub label: Option<String>,
}

impl Superblock {
    pub fn blocksize(&self) -> u64 {
        1 << self.blocklog
    }
    pub fn inodesize(&self) -> u64 {
        1 << self.inodelog
    }
    pub fn dirblksize(&self) -> u64 {
        1 << (self.blocklog + self.dirblklog)
    }
    pub fn v5(&self) -> bool {
        self.version == 5
    }

    /// Parses `struct xfs_dsb` (the first `sectsize` bytes of the volume,
    /// at least 512). `Err` says what is wrong, for a `Corrupt` at byte 0;
    /// `Ok(Err)` is a valid superblock with a feature boot-sim cannot read.
    pub fn parse(b: &[u8]) -> Result<Result<Superblock, String>, String> {
        if b.len() < 512 || &b[0..4] != SB_MAGIC {
            return Err("no XFSB magic".into());
        }
        let blocksize = be32(b, 4);
        let dblocks = be64(b, 8);
        let rootino = be64(b, 56);
        let agblocks = be32(b, 84);
        let agcount = be32(b, 88);
        let versionnum = be16(b, 100);
        let sectsize = u32::from(be16(b, 102));
        let inodesize = u32::from(be16(b, 104));
        let inopblock = u32::from(be16(b, 106));
        let (blocklog, sectlog, inodelog, inopblog, agblklog) = (b[120], b[121], b[122], b[123], b[124]);
        let dirblklog = b[192];
        let features2 = be32(b, 200);
        let incompat = be32(b, 216);
        let version = (versionnum & SB_VERSION_NUMBITS) as u8;
        if version != 4 && version != 5 {
            return Err(format!("sb_versionnum {versionnum:#06x}: version {version}, not 4 or 5"));
        }
        // xfs_validate_sb_common's geometry checks, in its order.
        if !(9..=16).contains(&blocklog) || blocksize != 1 << blocklog {
            return Err(format!("sb_blocksize {blocksize} does not match sb_blocklog {blocklog} (512..65536)"));
        }
        if !(9..=15).contains(&sectlog) || sectsize != 1 << sectlog {
            return Err(format!("sb_sectsize {sectsize} does not match sb_sectlog {sectlog}"));
        }
        if !(8..=11).contains(&inodelog) || inodesize != 1 << inodelog || inodelog > blocklog {
            return Err(format!("sb_inodesize {inodesize} does not match sb_inodelog {inodelog}"));
        }
        if u32::from(inopblog) != u32::from(blocklog - inodelog) || inopblock != 1 << inopblog {
            return Err(format!(
                "sb_inopblock {inopblock} / sb_inopblog {inopblog} disagree with block and inode sizes"
            ));
        }
        if agblocks < 1
            || agblklog > 31
            || (1u64 << agblklog) < u64::from(agblocks)
            || (agblklog > 0 && (1u64 << (agblklog - 1)) >= u64::from(agblocks))
        {
            return Err(format!("sb_agblocks {agblocks} does not match sb_agblklog {agblklog}"));
        }
        if agcount == 0 || dblocks == 0 || dblocks > u64::from(agcount) * u64::from(agblocks) {
            return Err(format!("sb_dblocks {dblocks} does not fit {agcount} AGs of {agblocks} blocks"));
        }
        if u32::from(blocklog) + u32::from(dirblklog) > 16 {
            return Err(format!("directory block size 2^({blocklog}+{dirblklog}) is over 64 KiB"));
        }
        if version == 5 && sectsize as usize > b.len() {
            return Err(format!("sector size {sectsize} larger than the bytes read"));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[32..48]);
        let end = b[108..120].iter().position(|&c| c == 0).unwrap_or(12);
        let label = Some(String::from_utf8_lossy(&b[108..108 + end]).into_owned()).filter(|s| !s.is_empty());
        let sb = Superblock {
            version,
            blocklog,
            sectsize,
            agblocks,
            agblklog,
            agcount,
            dblocks,
            inodelog,
            inopblog,
            dirblklog,
            rootino,
            ftype: if version == 5 {
                incompat & SB_FEAT_INCOMPAT_FTYPE != 0
            } else {
                versionnum & SB_VERSION_MOREBITSBIT != 0 && features2 & SB_VERSION2_FTYPE != 0
            },
            nrext64: version == 5 && incompat & SB_FEAT_INCOMPAT_NREXT64 != 0,
            uuid,
            label,
        };
        if version == 4 && versionnum & SB_VERSION_DIRV2BIT == 0 {
            return Ok(Err("XFS V4 with version 1 directories (no DIRV2 bit)".into()));
        }
        if version == 5 && incompat & !SB_FEAT_INCOMPAT_KNOWN != 0 {
            return Ok(Err(format!("XFS V5 incompat features {:#x}", incompat & !SB_FEAT_INCOMPAT_KNOWN)));
        }
        if be64(b, 16) != 0 || be64(b, 24) != 0 {
            // sb_rblocks / sb_rextents: a realtime device boot-sim does not have.
            return Ok(Err("XFS with a realtime section".into()));
        }
        Ok(Ok(sb))
    }

    /// `XFS_INO_TO_AGNO` / `XFS_INO_TO_AGBNO` / `XFS_INO_TO_OFFSET`, then
    /// `XFS_AGB_TO_DADDR`: the inode's byte offset in the volume. `None`
    /// for an inode number outside the geometry (`xfs_verify_ino`).
    pub fn inode_offset(&self, ino: u64) -> Option<u64> {
        let agino_bits = u32::from(self.agblklog) + u32::from(self.inopblog);
        let agno = ino.checked_shr(agino_bits).unwrap_or(0);
        let agbno = (ino >> self.inopblog) & ((1u64 << self.agblklog) - 1);
        let offset = ino & ((1u64 << self.inopblog) - 1);
        if agino_bits >= 64 || agno >= u64::from(self.agcount) || agbno >= u64::from(self.agblocks) {
            return None;
        }
        let block = agno.checked_mul(u64::from(self.agblocks))?.checked_add(agbno)?;
        if block >= self.dblocks {
            return None;
        }
        block.checked_mul(self.blocksize())?.checked_add(offset << self.inodelog)
    }

    /// `XFS_FSB_TO_DADDR` in bytes: a filesystem block number (AG number in
    /// the bits above `sb_agblklog`) → byte offset in the volume. `None`
    /// when the AG or AG block is out of range (`xfs_verify_fsbno`).
    pub fn fsb_offset(&self, fsb: u64) -> Option<u64> {
        let agno = fsb >> self.agblklog;
        let agbno = fsb & ((1u64 << self.agblklog) - 1);
        if agno >= u64::from(self.agcount) || agbno >= u64::from(self.agblocks) {
            return None;
        }
        let block = agno.checked_mul(u64::from(self.agblocks))?.checked_add(agbno)?;
        if block >= self.dblocks {
            return None;
        }
        block.checked_mul(self.blocksize())
    }

    /// Whether `count` blocks from `fsb` stay inside one AG and the volume.
    pub fn fsb_range_ok(&self, fsb: u64, count: u64) -> bool {
        let agbno = fsb & ((1u64 << self.agblklog) - 1);
        count > 0
            && self.fsb_offset(fsb).is_some()
            && agbno.checked_add(count).is_some_and(|end| end <= u64::from(self.agblocks))
    }
}

/// `xfs_format.h: xfs_dinode_fmt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkFormat {
    Dev,
    Local,
    Extents,
    Btree,
}

/// File type from `di_mode & S_IFMT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

/// A validated inode core (`struct xfs_dinode`) with its data fork bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    pub ino: u64,
    pub ftype: FileType,
    pub format: ForkFormat,
    pub size: u64,
    pub nextents: u64,
    pub flags: u16,
    /// The data fork's literal area (`XFS_DFORK_DPTR`, `XFS_DFORK_DSIZE` bytes).
    pub fork: Vec<u8>,
}

/// Parses an inode core of `sb`'s inode size. `Err` is the corruption.
/// The caller checks the V5 CRC first (it needs the byte offset).
pub fn parse_inode(sb: &Superblock, ino: u64, b: &[u8]) -> Result<Inode, String> {
    if b.len() < 100 {
        return Err("inode shorter than its core".into());
    }
    let magic = be16(b, 0);
    if magic != DINODE_MAGIC {
        return Err(format!("di_magic {magic:#06x}, not \"IN\""));
    }
    let mode = be16(b, 2);
    let version = b[4];
    let core_len = match (sb.version, version) {
        (5, 3) => 176,
        (4, 1 | 2) => 100,
        _ => return Err(format!("di_version {version} on an XFS V{}", sb.version)),
    };
    if b.len() < core_len {
        return Err("inode shorter than its core".into());
    }
    if version == 3 && be64(b, 152) != ino {
        return Err(format!("di_ino {} is not the inode number {ino}", be64(b, 152)));
    }
    let format = match b[5] {
        0 => ForkFormat::Dev,
        1 => ForkFormat::Local,
        2 => ForkFormat::Extents,
        3 => ForkFormat::Btree,
        f => return Err(format!("di_format {f} is not a data fork format")),
    };
    let size = be64(b, 56);
    if size > i64::MAX as u64 {
        return Err(format!("di_size {size:#x} is negative"));
    }
    let flags = be16(b, 90);
    let flags2 = if version == 3 { be64(b, 120) } else { 0 };
    let nextents = if flags2 & DIFLAG2_NREXT64 != 0 { be64(b, 24) } else { u64::from(be32(b, 76)) };
    let forkoff = usize::from(b[82]) * 8;
    let literal = b.len() - core_len;
    let fork_len = if forkoff == 0 { literal } else { forkoff };
    if fork_len > literal {
        return Err(format!("di_forkoff {} puts the attribute fork past the inode", b[82]));
    }
    let ftype = match mode & 0o170000 {
        0o100000 => FileType::File,
        0o040000 => FileType::Dir,
        0o120000 => FileType::Symlink,
        _ => FileType::Other,
    };
    // xfs_dinode_verify_fork: which formats each type may use.
    let ok = match (ftype, format) {
        (FileType::Other, _) => true,
        (_, ForkFormat::Dev) => false,
        (FileType::File, ForkFormat::Local) => false,
        _ => true,
    };
    if !ok {
        return Err(format!("data fork format {format:?} is not valid for a {ftype:?} (mode {mode:#o})"));
    }
    if format == ForkFormat::Local && size > fork_len as u64 {
        return Err(format!("local fork of {size} bytes does not fit the {fork_len}-byte data fork"));
    }
    if format == ForkFormat::Extents && nextents.checked_mul(16).is_none_or(|n| n > fork_len as u64) {
        return Err(format!("{nextents} extents do not fit the {fork_len}-byte data fork"));
    }
    Ok(Inode { ino, ftype, format, size, nextents, flags, fork: b[core_len..core_len + fork_len].to_vec() })
}

/// One `xfs_bmbt_irec`: `count` blocks of the file from block `startoff`
/// at filesystem block `startblock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub startoff: u64,
    pub startblock: u64,
    pub count: u64,
    /// Preallocated, never written: reads as zeros.
    pub unwritten: bool,
}

/// `xfs_bmbt_disk_get_all`: a packed 128-bit `xfs_bmbt_rec` (two big-endian
/// u64) → flag:1, startoff:54, startblock:52, blockcount:21.
pub fn unpack_bmbt_rec(rec: &[u8]) -> Extent {
    let l0 = be64(rec, 0);
    let l1 = be64(rec, 8);
    Extent {
        unwritten: l0 >> 63 != 0,
        startoff: (l0 & ((1 << 63) - 1)) >> 9,
        startblock: ((l0 & 0x1ff) << 43) | (l1 >> 21),
        count: l1 & ((1 << 21) - 1),
    }
}

/// The inverse of [`unpack_bmbt_rec`] (`xfs_bmbt_disk_set_all`), for tests.
#[cfg(test)]
pub fn pack_bmbt_rec(e: &Extent) -> [u8; 16] {
    let l0 = (u64::from(e.unwritten) << 63) | (e.startoff << 9) | (e.startblock >> 43);
    let l1 = (e.startblock << 21) | e.count;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&l0.to_be_bytes());
    out[8..].copy_from_slice(&l1.to_be_bytes());
    out
}

/// `XFS_DIR3_FT_*` → what the listing reports; `None` when the entry does
/// not say (no ftype feature, or `XFS_DIR3_FT_UNKNOWN`).
pub fn dir_ftype(ft: u8) -> Option<FileType> {
    match ft {
        1 => Some(FileType::File),
        2 => Some(FileType::Dir),
        7 => Some(FileType::Symlink),
        3..=6 | 8 => Some(FileType::Other),
        _ => None,
    }
}

/// One directory entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDirEntry<'a> {
    pub name: &'a [u8],
    pub ino: u64,
    pub ftype: Option<FileType>,
}

/// `xfs_da_format.h: struct xfs_dir2_sf_hdr` and its entries: count,
/// i8count (entries use 8-byte inode numbers when non-zero), parent, then
/// namelen, offset[2], name, [ftype], inumber[4 or 8]. `.` and `..` are
/// implicit. Calls `f` for each entry; `Err` names the corruption.
pub fn parse_shortform<'a>(
    fork: &'a [u8],
    has_ftype: bool,
    mut f: impl FnMut(RawDirEntry<'a>) -> bool,
) -> Result<(), String> {
    if fork.len() < 2 {
        return Err("short-form directory header truncated".into());
    }
    let count = usize::from(fork[0]);
    let i8count = fork[1];
    let ino_len = if i8count == 0 { 4 } else { 8 };
    let mut at = 2 + ino_len;
    if at > fork.len() {
        return Err("short-form directory parent truncated".into());
    }
    // count (all entries; i8count only says whether inode numbers take 8
    // bytes) is a u8, so the loop is bounded by 255.
    for i in 0..count {
        let namelen = usize::from(*fork.get(at).ok_or_else(|| format!("entry {i} past the end of the fork"))?);
        if namelen == 0 {
            return Err(format!("entry {i} has an empty name"));
        }
        let name_at = at + 3;
        let ino_at = name_at + namelen + usize::from(has_ftype);
        let end = ino_at + ino_len;
        if end > fork.len() {
            return Err(format!("entry {i} ({namelen}-byte name) runs past the {}-byte fork", fork.len()));
        }
        let ino = if ino_len == 4 { u64::from(be32(fork, ino_at)) } else { be64(fork, ino_at) & ((1 << 56) - 1) };
        let ftype = if has_ftype { dir_ftype(fork[name_at + namelen]) } else { None };
        if !f(RawDirEntry { name: &fork[name_at..name_at + namelen], ino, ftype }) {
            return Ok(());
        }
        at = end;
    }
    Ok(())
}

/// The entries of one directory data block (`XD2B`/`XDB3` block-format or
/// `XD2D`/`XDD3` data block): `struct xfs_dir2_data_entry` (inumber,
/// namelen, name, [ftype], tag, 8-byte aligned) and
/// `xfs_dir2_data_unused` (0xffff, length, …, tag) from the header to
/// `end`. `.` and `..` are included as stored. `Err` is (relative offset,
/// what).
pub fn parse_data_entries<'a>(
    block: &'a [u8],
    start: usize,
    end: usize,
    has_ftype: bool,
    mut f: impl FnMut(RawDirEntry<'a>) -> bool,
) -> Result<(), (usize, String)> {
    let mut at = start;
    // Each step advances at least 8 bytes: bounded by the block size.
    while at < end {
        if at + 8 > end {
            return Err((at, "entry header runs past the data area".into()));
        }
        if be16(block, at) == DIR2_DATA_FREE_TAG {
            let len = usize::from(be16(block, at + 2));
            if len < 8 || len % 8 != 0 || at + len > end {
                return Err((at, format!("unused region of {len} bytes")));
            }
            at += len;
            continue;
        }
        // The smallest entry is 16 bytes (8 + 1 + 1-byte name + 2, aligned).
        if at + 16 > end {
            return Err((at, "entry runs past the data area".into()));
        }
        let namelen = usize::from(block[at + 8]);
        let len = (8 + 1 + namelen + usize::from(has_ftype) + 2).next_multiple_of(8);
        if namelen == 0 || at + len > end {
            return Err((at, format!("entry with a {namelen}-byte name runs past the data area")));
        }
        let ino = be64(block, at);
        let name = &block[at + 9..at + 9 + namelen];
        let ftype = if has_ftype { dir_ftype(block[at + 9 + namelen]) } else { None };
        if !f(RawDirEntry { name, ino, ftype }) {
            return Ok(());
        }
        at += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sb4k() -> Superblock {
        Superblock {
            version: 5,
            blocklog: 12,
            sectsize: 512,
            agblocks: 16384,
            agblklog: 14,
            agcount: 4,
            dblocks: 65536,
            inodelog: 9,
            inopblog: 3,
            dirblklog: 0,
            rootino: 128,
            ftype: true,
            nrext64: false,
            uuid: [0; 16],
            label: None,
        }
    }

    #[test]
    fn crc32c_matches_the_iscsi_check_value() {
        // CRC-32C check value for "123456789" (RFC 3720 appendix B.4).
        let mut buf = b"1234\x00\x00\x00\x0056789".to_vec();
        // With the 4 "crc" bytes taken as zero the input is "1234" 0000 "56789".
        let c = cksum(&buf, 4);
        assert_eq!(c, CRC32C.checksum(b"1234\x00\x00\x00\x0056789"));
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
        buf[4..8].copy_from_slice(&c.to_le_bytes());
        assert!(verify_cksum(&buf, 4).is_ok());
        buf[0] ^= 1;
        assert!(verify_cksum(&buf, 4).is_err());
    }

    #[test]
    fn inode_numbers_map_to_ag_block_and_slot() {
        let sb = sb4k();
        assert_eq!(sb.inode_offset(128), Some(16 * 4096));
        assert_eq!(sb.inode_offset(129), Some(16 * 4096 + 512));
        // AG 1: agino bits = 14 + 3.
        let ino = (1u64 << 17) | (5 << 3) | 2;
        assert_eq!(sb.inode_offset(ino), Some((16384 + 5) * 4096 + 1024));
        assert_eq!(sb.inode_offset(4 << 17), None, "AG 4 of 4");
        let short = Superblock { agblocks: 10000, dblocks: 40000, ..sb4k() };
        assert_eq!(short.inode_offset(12000 << 3), None, "agbno past sb_agblocks");
        assert_eq!(short.inode_offset(9999 << 3), Some(9999 * 4096));
    }

    #[test]
    fn shortform_with_and_without_ftype_and_i8count() {
        // count 2, i8count 0, parent 128; "a" ftype 1 ino 131; "bc" ftype 2 ino 132.
        let fork = [2, 0, 0, 0, 0, 128, 1, 0, 0x60, b'a', 1, 0, 0, 0, 131, 2, 0, 0x70, b'b', b'c', 2, 0, 0, 0, 132];
        let mut got = Vec::new();
        parse_shortform(&fork, true, |e| {
            got.push((e.name.to_vec(), e.ino, e.ftype));
            true
        })
        .unwrap();
        assert_eq!(got, vec![(b"a".to_vec(), 131, Some(FileType::File)), (b"bc".to_vec(), 132, Some(FileType::Dir))]);
        // No ftype, 8-byte inode numbers.
        let fork = [1, 1, 0, 0, 0, 0, 0, 0, 0, 128, 1, 0, 0x60, b'z', 0, 0, 0, 1, 0, 0, 0, 7];
        let mut got = Vec::new();
        parse_shortform(&fork, false, |e| {
            got.push((e.name.to_vec(), e.ino, e.ftype));
            true
        })
        .unwrap();
        assert_eq!(got, vec![(b"z".to_vec(), (1 << 32) | 7, None)]);
        assert!(parse_shortform(&fork[..20], false, |_| true).is_err());
    }

    proptest! {
        #[test]
        fn bmbt_records_round_trip(unwritten: bool, startoff in 0u64..(1 << 54), startblock in 0u64..(1 << 52), count in 0u64..(1 << 21)) {
            let e = Extent { startoff, startblock, count, unwritten };
            prop_assert_eq!(unpack_bmbt_rec(&pack_bmbt_rec(&e)), e);
        }

        #[test]
        fn inode_offsets_stay_in_the_volume(ino: u64) {
            let sb = sb4k();
            if let Some(off) = sb.inode_offset(ino) {
                prop_assert!(off + sb.inodesize() <= sb.dblocks * sb.blocksize());
            }
        }

        #[test]
        fn shortform_never_panics(fork in proptest::collection::vec(any::<u8>(), 0..300), ftype: bool) {
            let mut n = 0;
            let _ = parse_shortform(&fork, ftype, |e| { n += 1; assert!(!e.name.is_empty()); true });
            prop_assert!(n <= 255);
        }

        #[test]
        fn data_entries_never_panic(block in proptest::collection::vec(any::<u8>(), 16..600), ftype: bool) {
            let end = block.len();
            let _ = parse_data_entries(&block, 16, end, ftype, |_| true);
        }

        #[test]
        fn superblock_parse_never_panics(mut b in proptest::collection::vec(any::<u8>(), 512..1024)) {
            b[0..4].copy_from_slice(SB_MAGIC);
            let _ = Superblock::parse(&b);
        }

        #[test]
        fn inode_parse_never_panics(mut b in proptest::collection::vec(any::<u8>(), 512..=512), fmt in 0u8..4, v in 1u8..4) {
            b[0] = 0x49; b[1] = 0x4e; b[4] = v; b[5] = fmt;
            for sbv in [4, 5] {
                let sb = Superblock { version: sbv, ..sb4k() };
                let _ = parse_inode(&sb, 128, &b);
            }
        }
    }
}
