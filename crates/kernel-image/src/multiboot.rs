//! Multiboot (0x1BADB002) and Multiboot2 (0xE85250D6) header detection, for
//! boot-sim's own tiny fixture kernels (Multiboot spec 0.6.96 §3.1.1;
//! Multiboot2 spec §3.1.1).

use le_bytes::u32_at;
use serde::Serialize;

pub const MULTIBOOT_MAGIC: u32 = 0x1BAD_B002;
/// Multiboot 1: the header is within the first 8192 bytes, 4-byte aligned.
pub const MULTIBOOT_SEARCH: usize = 8192;
pub const MULTIBOOT2_MAGIC: u32 = 0xE852_50D6;
/// Multiboot 2: within the first 32768 bytes, 8-byte aligned.
pub const MULTIBOOT2_SEARCH: usize = 32768;

/// A Multiboot header whose checksum is right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MultibootHeader {
    /// 1 or 2.
    pub version: u8,
    /// File offset of the magic.
    pub offset: u64,
    /// Multiboot 1: flags. Multiboot 2: architecture (0 = i386).
    pub flags_or_arch: u32,
    /// Multiboot 2 header_length; None for Multiboot 1.
    pub header_length: Option<u32>,
}

/// Finds the first valid Multiboot 1 header, then Multiboot 2.
pub fn detect(bytes: &[u8]) -> Option<MultibootHeader> {
    let lim1 = bytes.len().min(MULTIBOOT_SEARCH);
    for off in (0..lim1).step_by(4) {
        if u32_at(bytes, off) != Some(MULTIBOOT_MAGIC) {
            continue;
        }
        let (Some(flags), Some(sum)) = (u32_at(bytes, off + 4), u32_at(bytes, off + 8)) else { continue };
        if MULTIBOOT_MAGIC.wrapping_add(flags).wrapping_add(sum) == 0 {
            return Some(MultibootHeader { version: 1, offset: off as u64, flags_or_arch: flags, header_length: None });
        }
    }
    let lim2 = bytes.len().min(MULTIBOOT2_SEARCH);
    for off in (0..lim2).step_by(8) {
        if u32_at(bytes, off) != Some(MULTIBOOT2_MAGIC) {
            continue;
        }
        let (Some(arch), Some(len), Some(sum)) =
            (u32_at(bytes, off + 4), u32_at(bytes, off + 8), u32_at(bytes, off + 12))
        else {
            continue;
        };
        if MULTIBOOT2_MAGIC.wrapping_add(arch).wrapping_add(len).wrapping_add(sum) == 0 {
            return Some(MultibootHeader {
                version: 2,
                offset: off as u64,
                flags_or_arch: arch,
                header_length: Some(len),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_both_versions_and_checks_the_sum() {
        let mut b = vec![0u8; 64];
        b[16..20].copy_from_slice(&MULTIBOOT_MAGIC.to_le_bytes());
        b[20..24].copy_from_slice(&3u32.to_le_bytes());
        b[24..28].copy_from_slice(&(0u32.wrapping_sub(MULTIBOOT_MAGIC).wrapping_sub(3)).to_le_bytes());
        assert_eq!(detect(&b).map(|h| (h.version, h.offset)), Some((1, 16)));
        b[24] ^= 1;
        assert_eq!(detect(&b), None);
        let mut b = vec![0u8; 64];
        b[8..12].copy_from_slice(&MULTIBOOT2_MAGIC.to_le_bytes());
        b[16..20].copy_from_slice(&24u32.to_le_bytes());
        b[20..24].copy_from_slice(&(0u32.wrapping_sub(MULTIBOOT2_MAGIC).wrapping_sub(24)).to_le_bytes());
        assert_eq!(detect(&b).map(|h| (h.version, h.header_length)), Some((2, Some(24))));
    }
}
