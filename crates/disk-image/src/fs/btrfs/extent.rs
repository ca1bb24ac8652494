//! `EXTENT_DATA` items (`struct btrfs_file_extent_item`): what part of a
//! file one item gives and where its bytes are.

use super::format::{
    COMPRESS_NONE, FILE_EXTENT_INLINE, FILE_EXTENT_INLINE_DATA_START, FILE_EXTENT_PREALLOC, FILE_EXTENT_REG,
    FILE_EXTENT_REG_SIZE, RawFileExtentHead, RawFileExtentReg,
};

/// One file extent item, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileExtent {
    /// The bytes are in the item, from `data_start` to its end; compressed
    /// ones decompress to `ram_bytes`.
    Inline { compression: u8, ram_bytes: u64, data_start: usize },
    /// `num_bytes` of the file taken from `offset` into the (decompressed)
    /// extent at logical `disk_bytenr`, `disk_num_bytes` long on disk.
    Regular { compression: u8, ram_bytes: u64, disk_bytenr: u64, disk_num_bytes: u64, offset: u64, num_bytes: u64 },
    /// A hole (`disk_bytenr` 0) or preallocated space: zeros.
    Zeros { num_bytes: u64 },
}

/// Why an item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtentError {
    Corrupt(String),
    /// Encrypted or otherwise encoded (`encryption`, `other_encoding`).
    Unsupported(String),
}

pub fn parse(item: &[u8]) -> Result<FileExtent, ExtentError> {
    let head = item.get(..FILE_EXTENT_INLINE_DATA_START).ok_or_else(|| {
        ExtentError::Corrupt(format!("{} bytes, shorter than {FILE_EXTENT_INLINE_DATA_START}", item.len()))
    })?;
    let head: RawFileExtentHead = bytemuck::pod_read_unaligned(head);
    if head.encryption != 0 || head.other_encoding.get() != 0 {
        return Err(ExtentError::Unsupported(format!(
            "encryption {} / other_encoding {}",
            head.encryption,
            head.other_encoding.get()
        )));
    }
    let (compression, ram_bytes) = (head.compression, head.ram_bytes.get());
    match head.ty {
        FILE_EXTENT_INLINE => {
            Ok(FileExtent::Inline { compression, ram_bytes, data_start: FILE_EXTENT_INLINE_DATA_START })
        }
        FILE_EXTENT_REG | FILE_EXTENT_PREALLOC => {
            let raw = item.get(FILE_EXTENT_INLINE_DATA_START..FILE_EXTENT_REG_SIZE).ok_or_else(|| {
                ExtentError::Corrupt(format!("{} bytes, shorter than {FILE_EXTENT_REG_SIZE}", item.len()))
            })?;
            let r: RawFileExtentReg = bytemuck::pod_read_unaligned(raw);
            let (disk_bytenr, num_bytes) = (r.disk_bytenr.get(), r.num_bytes.get());
            if head.ty == FILE_EXTENT_PREALLOC || disk_bytenr == 0 {
                return Ok(FileExtent::Zeros { num_bytes });
            }
            let offset = r.offset.get();
            if compression == COMPRESS_NONE && disk_bytenr.checked_add(offset).is_none() {
                return Err(ExtentError::Corrupt(format!(
                    "disk_bytenr {disk_bytenr:#x} + offset {offset:#x} overflows"
                )));
            }
            Ok(FileExtent::Regular {
                compression,
                ram_bytes,
                disk_bytenr,
                disk_num_bytes: r.disk_num_bytes.get(),
                offset,
                num_bytes,
            })
        }
        t => Err(ExtentError::Corrupt(format!("extent type {t}"))),
    }
}
