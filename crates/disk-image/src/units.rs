//! Units that must not be mixed: sectors (`Lba`) and bytes (`ByteOffset`).

use serde::Serialize;

/// Bytes per logical sector. boot-sim models 512-byte-sector disks, as Xen's
/// emulated IDE and blkif (`blkif.h`: sector numbers are always 512 bytes)
/// present them.
pub const SECTOR_SIZE: u64 = 512;

/// A logical block address: a 512-byte sector number on the whole disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Lba(pub u64);

/// A byte offset on the whole disk (or inside a `Window`, where stated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ByteOffset(pub u64);

impl Lba {
    /// The byte offset of this sector, or `None` if it does not fit in u64.
    pub fn to_bytes(self) -> Option<ByteOffset> {
        self.0.checked_mul(SECTOR_SIZE).map(ByteOffset)
    }

    pub fn checked_add(self, sectors: u64) -> Option<Lba> {
        self.0.checked_add(sectors).map(Lba)
    }
}

impl ByteOffset {
    pub fn checked_add(self, bytes: u64) -> Option<ByteOffset> {
        self.0.checked_add(bytes).map(ByteOffset)
    }
}

impl std::fmt::Display for Lba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LBA {}", self.0)
    }
}

impl std::fmt::Display for ByteOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {:#x}", self.0)
    }
}

/// 512 bytes, 15.0 MiB, 1.0 TiB: binary units, one decimal.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes == 1 {
        return "1 byte".into();
    }
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}
