//! The GUID partition table (UEFI 2.10 §5.3): a header at LBA 1 and a backup
//! at the last LBA, each with a CRC32 over itself and one over the entry
//! array it points at.

use bytemuck::{Pod, Zeroable};

use crate::error::{DiskError, Result};
use crate::guid::Guid;
use crate::le::{Le32, Le64};
use crate::read::ReadAt;
use crate::units::{ByteOffset, Lba, SECTOR_SIZE};

/// UEFI 2.10 table 5-5, GPT header (92 bytes of a 512-byte sector).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RawGptHeader {
    /// 0x00: "EFI PART".
    pub signature: [u8; 8],
    /// 0x08: 0x00010000 for every GPT written so far.
    pub revision: Le32,
    /// 0x0C: bytes covered by `header_crc32`; 92 ≤ size ≤ block size.
    pub header_size: Le32,
    /// 0x10: CRC32 of the header with this field zeroed.
    pub header_crc32: Le32,
    pub reserved: Le32,
    /// 0x18: the LBA this header lives at.
    pub my_lba: Le64,
    /// 0x20: the LBA of the other header.
    pub alternate_lba: Le64,
    pub first_usable_lba: Le64,
    pub last_usable_lba: Le64,
    /// 0x38.
    pub disk_guid: [u8; 16],
    /// 0x48: first LBA of the entry array.
    pub partition_entry_lba: Le64,
    /// 0x50.
    pub num_partition_entries: Le32,
    /// 0x54: 128 × 2^n.
    pub size_of_partition_entry: Le32,
    /// 0x58: CRC32 of num_partition_entries × size_of_partition_entry bytes.
    pub partition_entry_array_crc32: Le32,
}

/// UEFI 2.10 table 5-6, GPT partition entry (the first 128 bytes of each).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RawGptEntry {
    pub type_guid: [u8; 16],
    pub unique_guid: [u8; 16],
    pub first_lba: Le64,
    /// Inclusive.
    pub last_lba: Le64,
    /// Bit 0 required, bit 1 no block I/O protocol, bit 2 legacy BIOS bootable.
    pub attributes: Le64,
    /// UTF-16LE, NUL-padded.
    pub name: [u8; 72],
}

const _: () = assert!(size_of::<RawGptHeader>() == 92);
const _: () = assert!(size_of::<RawGptEntry>() == 128);

pub const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Cap on the entry array we read: real tables are 16 KiB (128 × 128); the
/// cap keeps a header claiming 2^32 entries from becoming a huge allocation.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;
/// Attribute bit 2: "Legacy BIOS bootable" (UEFI 2.10 table 5-8).
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

/// A header and its entry array that passed every check.
#[derive(Debug, Clone)]
pub struct ValidGpt {
    pub header_lba: Lba,
    pub header: RawGptHeader,
    pub entries: Vec<RawGptEntry>,
}

fn corrupt(lba: Lba, detail: String) -> DiskError {
    DiskError::corrupt(format!("GPT header at {lba}"), ByteOffset(lba.0 * SECTOR_SIZE), detail)
}

/// Reads and checks the header at `lba` and its entry array. `expect_lba`
/// is the header's own my_lba check (UEFI 2.10 §5.3.2 "Check that MyLBA
/// entry points to the LBA that contains the GUID Partition Table").
pub fn read_header(disk: &dyn ReadAt, lba: Lba) -> Result<ValidGpt> {
    let disk_sectors = disk.size() / SECTOR_SIZE;
    let offset = lba.to_bytes().ok_or_else(|| corrupt(lba, "LBA overflows".into()))?;
    let sector = disk.read_vec(offset.0, SECTOR_SIZE as usize)?;
    let header: RawGptHeader = bytemuck::pod_read_unaligned(&sector[..92]);
    if &header.signature != GPT_SIGNATURE {
        return Err(corrupt(lba, "no \"EFI PART\" signature".into()));
    }
    let header_size = header.header_size.get();
    if !(92..=SECTOR_SIZE as u32).contains(&header_size) {
        return Err(corrupt(lba, format!("header size {header_size} is outside 92..=512")));
    }
    let mut covered = sector[..header_size as usize].to_vec();
    covered[0x10..0x14].fill(0);
    let computed = crc32fast::hash(&covered);
    let stored = header.header_crc32.get();
    if computed != stored {
        return Err(corrupt(lba, format!("header CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}")));
    }
    if header.my_lba.get() != lba.0 {
        return Err(corrupt(lba, format!("MyLBA is {} but the header is at LBA {}", header.my_lba.get(), lba.0)));
    }
    let first = header.first_usable_lba.get();
    let last = header.last_usable_lba.get();
    if first > last {
        return Err(corrupt(lba, format!("first usable LBA {first} is after last usable LBA {last}")));
    }
    let count = u64::from(header.num_partition_entries.get());
    let entry_size = u64::from(header.size_of_partition_entry.get());
    if entry_size < 128 || !entry_size.is_power_of_two() {
        return Err(corrupt(lba, format!("partition entry size {entry_size} is not 128 × 2^n")));
    }
    let array_bytes = count * entry_size; // both < 2^32: cannot overflow u64
    if array_bytes > MAX_ENTRY_ARRAY_BYTES {
        return Err(corrupt(
            lba,
            format!(
                "{count} entries of {entry_size} bytes ({array_bytes} bytes) exceed the {MAX_ENTRY_ARRAY_BYTES}-byte limit"
            ),
        ));
    }
    let entries_lba = header.partition_entry_lba.get();
    let entries_end =
        entries_lba.checked_mul(SECTOR_SIZE).and_then(|b| b.checked_add(array_bytes)).filter(|&end| end <= disk.size());
    let Some(_) = entries_end else {
        return Err(corrupt(
            lba,
            format!(
                "entry array at LBA {entries_lba} ({array_bytes} bytes) lies past the end of the disk ({disk_sectors} sectors)"
            ),
        ));
    };
    let array = disk.read_vec(entries_lba * SECTOR_SIZE, array_bytes as usize)?;
    let computed = crc32fast::hash(&array);
    let stored = header.partition_entry_array_crc32.get();
    if computed != stored {
        return Err(corrupt(
            lba,
            format!("entry array CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    let entries = array
        .chunks_exact(entry_size as usize)
        .map(|chunk| bytemuck::pod_read_unaligned::<RawGptEntry>(&chunk[..128]))
        .collect();
    Ok(ValidGpt { header_lba: lba, header, entries })
}

impl RawGptEntry {
    pub fn is_used(&self) -> bool {
        self.type_guid != [0; 16]
    }

    pub fn type_guid(&self) -> Guid {
        Guid(self.type_guid)
    }

    pub fn unique_guid(&self) -> Guid {
        Guid(self.unique_guid)
    }

    /// The name, decoded from UTF-16LE up to the first NUL.
    pub fn name(&self) -> String {
        let units: Vec<u16> =
            self.name.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
        String::from_utf16_lossy(&units)
    }
}
