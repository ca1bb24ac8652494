//! Filesystem identification by on-disk magic, the way libblkid and GRUB's
//! probes do it: a few fixed offsets, no full parse. ext2/3/4 (`fs::ext`)
//! and XFS (`fs::xfs`) are read further; the others are named so a report
//! can say what a partition holds.

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use crate::error::Result;
use crate::guid::Guid;
use crate::le::{Le16, Le32};
use crate::read::ReadAt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext2,
    Ext3,
    Ext4,
    Vfat,
    Xfs,
    Btrfs,
    Swap,
    #[serde(rename = "LVM2_member")]
    Lvm2,
    Iso9660,
    Squashfs,
    #[serde(rename = "crypto_LUKS")]
    Luks,
}

impl FsKind {
    /// The name `blkid -o value -s TYPE` prints.
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext2 => "ext2",
            FsKind::Ext3 => "ext3",
            FsKind::Ext4 => "ext4",
            FsKind::Vfat => "vfat",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Swap => "swap",
            FsKind::Lvm2 => "LVM2_member",
            FsKind::Iso9660 => "iso9660",
            FsKind::Squashfs => "squashfs",
            FsKind::Luks => "crypto_LUKS",
        }
    }

    pub fn is_ext(self) -> bool {
        matches!(self, FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsProbe {
    pub kind: FsKind,
    pub label: Option<String>,
    pub uuid: Option<String>,
    /// The on-disk format version where a kind has several that loaders
    /// treat differently: XFS 4 or 5 (`sb_versionnum & 0xf`; pygrub and
    /// PV-GRUB read only 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// XFS: whether directory entries carry a file-type byte (V5 always;
    /// V4 with `mkfs.xfs -n ftype=1`, `sb_features2` bit 0x200). GRUB
    /// 0.97's and libfsimage's XFS readers predate it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ftype: Option<bool>,
}

impl FsProbe {
    /// A filesystem known by its kind, label and UUID, with no version or
    /// feature a loader tells apart (everything but XFS).
    fn named(kind: FsKind, label: Option<String>, uuid: Option<String>) -> FsProbe {
        FsProbe { kind, label, uuid, version: None, ftype: None }
    }
}

/// The first 0x100 bytes of the ext2 superblock (at byte 1024), as in
/// e2fsprogs `lib/ext2fs/ext2_fs.h` `struct ext2_super_block`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawExtSuperblock {
    pub inodes_count: Le32,
    pub blocks_count_lo: Le32,
    pub r_blocks_count_lo: Le32,
    pub free_blocks_count_lo: Le32,
    pub free_inodes_count: Le32,
    pub first_data_block: Le32,
    /// 0x18: block size = 1024 << s_log_block_size.
    pub log_block_size: Le32,
    pub log_cluster_size: Le32,
    pub blocks_per_group: Le32,
    pub clusters_per_group: Le32,
    pub inodes_per_group: Le32,
    pub mtime: Le32,
    pub wtime: Le32,
    pub mnt_count: Le16,
    pub max_mnt_count: Le16,
    /// 0x38: 0xEF53.
    pub magic: Le16,
    pub state: Le16,
    pub errors: Le16,
    pub minor_rev_level: Le16,
    pub lastcheck: Le32,
    pub checkinterval: Le32,
    pub creator_os: Le32,
    pub rev_level: Le32,
    pub def_resuid: Le16,
    pub def_resgid: Le16,
    pub first_ino: Le32,
    pub inode_size: Le16,
    pub block_group_nr: Le16,
    /// 0x5C.
    pub feature_compat: Le32,
    /// 0x60.
    pub feature_incompat: Le32,
    /// 0x64.
    pub feature_ro_compat: Le32,
    /// 0x68.
    pub uuid: [u8; 16],
    /// 0x78.
    pub volume_name: [u8; 16],
    pub last_mounted: [u8; 64],
    pub rest: [u8; 0x100 - 0xC8],
}

const _: () = assert!(size_of::<RawExtSuperblock>() == 0x100);

pub const EXT_SUPERBLOCK_OFFSET: u64 = 1024;
const EXT_MAGIC: u16 = 0xEF53;
const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// Incompat features ext3 does not have (extents, 64bit, flex_bg, mmp,
/// inline data, …): their presence makes it ext4, as libblkid decides.
const INCOMPAT_EXT4_ONLY: u32 = 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000 | 0x8000 | 0x10000;
const RO_COMPAT_EXT4_ONLY: u32 = 0x8 | 0x10 | 0x20 | 0x40 | 0x400;

fn text_field(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = String::from_utf8_lossy(&bytes[..end]).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

/// A UUID printed the way blkid prints ext and btrfs UUIDs (big-endian).
/// The 16-byte UUID at `at` in `b`, as [`uuid_text`] prints it.
fn uuid_at(b: &[u8], at: usize) -> Option<String> {
    uuid_text(b.get(at..at + 16)?.try_into().ok()?)
}

fn uuid_text(b: &[u8; 16]) -> Option<String> {
    if b == &[0; 16] {
        return None;
    }
    // Guid prints mixed-endian; undo that to print bytes in stored order.
    let mut mixed = *b;
    mixed[0..4].reverse();
    mixed[4..6].reverse();
    mixed[6..8].reverse();
    Some(Guid(mixed).to_string().to_lowercase())
}

impl RawExtSuperblock {
    pub fn kind(&self) -> FsKind {
        let (compat, incompat, ro) =
            (self.feature_compat.get(), self.feature_incompat.get(), self.feature_ro_compat.get());
        if incompat & INCOMPAT_EXT4_ONLY != 0 || ro & RO_COMPAT_EXT4_ONLY != 0 {
            FsKind::Ext4
        } else if compat & COMPAT_HAS_JOURNAL != 0 {
            FsKind::Ext3
        } else {
            FsKind::Ext2
        }
    }
}

fn read_if_fits(vol: &dyn ReadAt, offset: u64, len: usize) -> Result<Option<Vec<u8>>> {
    if offset.saturating_add(len as u64) > vol.size() {
        return Ok(None);
    }
    vol.read_vec(offset, len).map(Some)
}

/// `xfs_sb_version_hasftype`: V5 always has it (`XFS_SB_FEAT_INCOMPAT_FTYPE`
/// is set by every mkfs.xfs that writes V5), V4 when `XFS_SB_VERSION_MOREBITSBIT`
/// (0x8000 of `sb_versionnum`) and `XFS_SB_VERSION2_FTYPE` (0x200 of
/// `sb_features2`, be32 at 200) are set.
fn xfs_ftype(sb: &[u8]) -> bool {
    let versionnum = u16::from_be_bytes([sb[100], sb[101]]);
    let features2 = u32::from_be_bytes([sb[200], sb[201], sb[202], sb[203]]);
    let incompat = u32::from_be_bytes([sb[216], sb[217], sb[218], sb[219]]);
    match versionnum & 0xf {
        5 => incompat & 1 != 0,
        _ => versionnum & 0x8000 != 0 && features2 & 0x200 != 0,
    }
}

/// Identifies what `vol` (a partition, or a whole disk) holds. `Ok(None)`
/// means no known signature.
pub fn probe(vol: &dyn ReadAt) -> Result<Option<FsProbe>> {
    if let Some(sb) = read_if_fits(vol, EXT_SUPERBLOCK_OFFSET, 0x100)? {
        let sb: RawExtSuperblock = bytemuck::pod_read_unaligned(&sb);
        if sb.magic.get() == EXT_MAGIC {
            return Ok(Some(FsProbe::named(sb.kind(), text_field(&sb.volume_name), uuid_text(&sb.uuid))));
        }
    }
    let Some(head) = read_if_fits(vol, 0, 512)? else { return Ok(None) };
    if &head[0..4] == b"XFSB" {
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&head[32..48]);
        // sb_versionnum (be16 at 100) & XFS_SB_VERSION_NUMBITS.
        let version = u32::from(u16::from_be_bytes([head[100], head[101]]) & 0xf);
        return Ok(Some(FsProbe {
            kind: FsKind::Xfs,
            label: text_field(&head[108..120]),
            uuid: uuid_text(&uuid),
            version: Some(version),
            ftype: Some(xfs_ftype(&head)),
        }));
    }
    if &head[0..6] == b"LUKS\xba\xbe" {
        return Ok(Some(FsProbe::named(FsKind::Luks, None, text_field(&head[168..208]))));
    }
    if &head[0..4] == b"hsqs" {
        return Ok(Some(FsProbe::named(FsKind::Squashfs, None, None)));
    }
    // FAT: a BPB with the file-system-type string (FAT12/16 at 0x36, FAT32
    // at 0x52) and the boot signature, as blkid's vfat probe requires.
    if head[510..512] == [0x55, 0xAA] {
        let (serial_at, label_at) = if &head[0x52..0x57] == b"FAT32" {
            (0x43, 0x47)
        } else if &head[0x36..0x39] == b"FAT" {
            (0x27, 0x2B)
        } else {
            (0, 0)
        };
        if serial_at != 0 {
            let s = &head[serial_at..serial_at + 4];
            let label = text_field(&head[label_at..label_at + 11]).filter(|l| l != "NO NAME");
            return Ok(Some(FsProbe::named(
                FsKind::Vfat,
                label,
                Some(format!("{:02X}{:02X}-{:02X}{:02X}", s[3], s[2], s[1], s[0])),
            )));
        }
    }
    // LVM2's label: pvcreate writes it in sector 1. (It may be in any of
    // sectors 0-3, `label.h` LABEL_SCAN_SECTORS; the Disk's LVM scan,
    // `lvm::label::find_label`, looks at all four. The probe reads only
    // sector 1, as it always has, so that the loader models' probes of a
    // whole disk cost the reads they did.) The PV uuid is printed as LVM
    // and blkid print it (6-4-4-4-4-4-6).
    if let Some(s1) = read_if_fits(vol, 512, 512)?
        && &s1[0..8] == b"LABELONE"
    {
        let off = u32::from_le_bytes([s1[20], s1[21], s1[22], s1[23]]) as usize;
        let uuid =
            (&s1[24..32] == b"LVM2 001").then(|| s1.get(off..off + 32).map(crate::lvm::label::format_id)).flatten();
        return Ok(Some(FsProbe::named(FsKind::Lvm2, None, uuid)));
    }
    if let Some(page) = read_if_fits(vol, 0, 4096)? {
        let magic = &page[4086..4096];
        if magic == b"SWAPSPACE2" || magic == b"SWAP-SPACE" {
            // mkswap's header: version u32 at 1024, last_page, nr_badpages,
            // uuid[16] at 1036, volume_name[16] at 1052.
            return Ok(Some(FsProbe::named(FsKind::Swap, text_field(&page[1052..1068]), uuid_at(&page, 1036))));
        }
    }
    if let Some(sb) = read_if_fits(vol, 0x10000, 0x22B)?
        && &sb[0x40..0x48] == b"_BHRfS_M"
    {
        return Ok(Some(FsProbe::named(FsKind::Btrfs, text_field(&sb[0x12B..0x22B]), uuid_at(&sb, 0x20))));
    }
    if let Some(pvd) = read_if_fits(vol, 0x8000, 80)?
        && &pvd[1..6] == b"CD001"
    {
        return Ok(Some(FsProbe::named(FsKind::Iso9660, text_field(&pvd[40..72]), None)));
    }
    Ok(None)
}
