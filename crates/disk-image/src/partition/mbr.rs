//! The master boot record and extended boot records.
//!
//! Layout (the de-facto IBM PC standard; Linux `block/partitions/msdos.c`,
//! GRUB 0.97 `stage2/pc_slice.h`): 440 bytes of boot code, a 4-byte disk
//! signature at 0x1B8, 2 reserved bytes, four 16-byte entries at 0x1BE and
//! the 0x55 0xAA signature at 0x1FE. An extended partition (type 0x05,
//! 0x0F or 0x85) holds a chain of EBRs: in each, entry 0 is a logical
//! partition relative to that EBR, entry 1 links to the next EBR relative to
//! the start of the extended partition.

use bytemuck::{Pod, Zeroable};

use crate::le::Le32;

/// One 16-byte partition entry (`pc_slice.h`: PC_SLICE_*).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RawMbrEntry {
    /// 0x80 = active ("bootable"), 0x00 = inactive; anything else means
    /// the sector is not a partition table (Linux `msdos_partition`).
    pub status: u8,
    pub chs_first: [u8; 3],
    pub ptype: u8,
    pub chs_last: [u8; 3],
    pub start_lba: Le32,
    pub sectors: Le32,
}

/// Sector 0 (or an EBR) as stored.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawMbr {
    pub boot_code: [u8; 440],
    /// 0x1B8: the disk signature Windows and Linux (`PARTUUID=xxxxxxxx-NN`) use.
    pub disk_signature: Le32,
    pub reserved: [u8; 2],
    /// 0x1BE: the four primary entries.
    pub entries: [RawMbrEntry; 4],
    /// 0x1FE: 0x55 0xAA.
    pub signature: [u8; 2],
}

const _: () = assert!(size_of::<RawMbrEntry>() == 16);
const _: () = assert!(size_of::<RawMbr>() == 512);

pub const ENTRIES_OFFSET: u64 = 0x1BE;
pub const SIGNATURE_OFFSET: u64 = 0x1FE;

/// Extended partition types that hold an EBR chain (Linux `is_extended_partition`).
pub fn is_extended(ptype: u8) -> bool {
    matches!(ptype, 0x05 | 0x0F | 0x85)
}

/// GPT's protective entry type.
pub const PROTECTIVE_GPT: u8 = 0xEE;

impl RawMbr {
    pub fn from_sector(sector: &[u8; 512]) -> RawMbr {
        bytemuck::pod_read_unaligned(sector)
    }

    pub fn has_signature(&self) -> bool {
        self.signature == [0x55, 0xAA]
    }

    /// Linux rejects a sector as a partition table when any status byte is
    /// neither 0x00 nor 0x80 (it is then most likely a FAT boot sector).
    pub fn statuses_valid(&self) -> bool {
        self.entries.iter().all(|e| e.status == 0 || e.status == 0x80)
    }
}

/// Common MBR partition type names (the subset `sfdisk --list-types` shows
/// for types a cloud image can carry).
pub fn type_name(ptype: u8) -> Option<&'static str> {
    Some(match ptype {
        0x01 => "FAT12",
        0x04 => "FAT16 <32M",
        0x05 => "Extended",
        0x06 => "FAT16",
        0x07 => "HPFS/NTFS/exFAT",
        0x0B => "W95 FAT32",
        0x0C => "W95 FAT32 (LBA)",
        0x0E => "W95 FAT16 (LBA)",
        0x0F => "W95 Ext'd (LBA)",
        0x82 => "Linux swap / Solaris",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8E => "Linux LVM",
        0xA5 => "FreeBSD",
        0xEE => "GPT",
        0xEF => "EFI (FAT-12/16/32)",
        0xFD => "Linux raid autodetect",
        _ => return None,
    })
}
