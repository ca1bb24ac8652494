//! What the boot code in a sector is: identified by structure — jump
//! instruction, field offsets and message strings that every build of a
//! loader shares — never by hashing one build.
//!
//! Layouts (see `shared/reference/boot-paths.md` §2):
//! - GRUB 0.97 `stage1/stage1.h`: `EB 48 90`, version 3.2 at 0x3E,
//!   boot_drive 0x40, force_lba 0x41, stage2_address 0x42 (u16),
//!   stage2_sector 0x44 (u32), stage2_segment 0x48 (u16).
//! - GRUB 2 `include/grub/i386/pc/boot.h`: `EB 63 90`, kernel_address 0x5A
//!   (u16), kernel_sector 0x5C (u64), boot_drive 0x64.
//! - syslinux `mbr/mbr.S`: relocating MBR whose messages are
//!   "Missing operating system.", "Multiple active partitions.",
//!   "Operating system load error.".
//! - simboot, boot-sim's own loader (`fixtures/bootcode/simboot-mbr.asm`):
//!   "SIMB" at 0x1A0, format (u16, 1) at 0x1A4, stage 2 sector count (u16)
//!   at 0x1A6 and first LBA (u64) at 0x1A8, written by its installer; stage
//!   2 (`simboot-stage2.asm`) has "SIMB" at 4 and the format at 8.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BootCode {
    /// The code area is all zero: nothing to execute.
    Empty,
    /// GRUB legacy stage1 (0.9x). It loads one sector from `stage2_sector`
    /// (stage1.5 or stage2's start sector) to `stage2_segment:0` and jumps
    /// to `stage2_address`.
    GrubLegacyStage1 {
        version: String,
        boot_drive: u8,
        force_lba: bool,
        stage2_address: u16,
        stage2_sector: u32,
        stage2_segment: u16,
    },
    /// GRUB 2 boot.img. It loads the first sector of core.img (diskboot.img)
    /// from `kernel_sector` to 0x8000.
    Grub2BootImg { kernel_address: u16, kernel_sector: u64, boot_drive: u8 },
    /// syslinux's MBR family (mbr.bin, altmbr.bin, gptmbr.bin): chain-loads
    /// the active partition's (or GPT legacy-bootable partition's) first sector.
    SyslinuxMbr { variant: String },
    /// simboot's MBR (boot-sim's own LILO-style loader): it loads
    /// `stage2_sectors` sectors of stage 2 from `stage2_lba` to 0000:8000.
    /// Both fields are zero until simboot's installer has run.
    Simboot { stage2_lba: u64, stage2_sectors: u16 },
    /// A syslinux/extlinux volume boot record (OEM name at byte 3).
    SyslinuxVbr { oem: String },
    /// The classic DOS/Windows MBR (chain-loads the active partition).
    DosMbr,
    /// A FAT or NTFS volume boot record (BPB with an OEM name).
    FilesystemVbr { oem: String },
    /// Code boot-sim does not recognise.
    Unknown { first_bytes: String },
}

/// A boot sector: what its code is and whether the BIOS would run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootSector {
    /// The 0x55 0xAA signature at 510 that SeaBIOS requires ("Boot failed:
    /// not a bootable disk" without it).
    pub signature: bool,
    pub code: BootCode,
}

/// simboot-mbr.asm: the marker and its fields (see the module comment).
const SIMBOOT_MARKER: &[u8; 4] = b"SIMB";
const SIMBOOT_FORMAT: u16 = 1;
const SIMBOOT_MBR_MARKER: usize = 0x1A0;
const SIMBOOT_MBR_COUNT: usize = 0x1A6;
const SIMBOOT_MBR_LBA: usize = 0x1A8;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn u16_at(s: &[u8; 512], off: usize) -> u16 {
    u16::from_le_bytes([s[off], s[off + 1]])
}

fn u32_at(s: &[u8; 512], off: usize) -> u32 {
    u32::from_le_bytes([s[off], s[off + 1], s[off + 2], s[off + 3]])
}

fn u64_at(s: &[u8; 512], off: usize) -> u64 {
    u64::from(u32_at(s, off)) | (u64::from(u32_at(s, off + 4)) << 32)
}

fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Identifies the code in a 512-byte sector. `is_mbr` says whether the
/// sector is sector 0 of a disk (the partition table area 0x1B8..0x1FE is
/// then data, not code).
pub fn identify(sector: &[u8; 512], is_mbr: bool) -> BootSector {
    let signature = sector[510..512] == [0x55, 0xAA];
    let code_end = if is_mbr { 440 } else { 510 };
    let code = &sector[..code_end];
    BootSector { signature, code: classify(sector, code) }
}

fn classify(s: &[u8; 512], code: &[u8]) -> BootCode {
    if code.iter().all(|&b| b == 0) {
        return BootCode::Empty;
    }
    let grub_strings = contains(code, b"GRUB \0") && contains(code, b"Geom\0") && contains(code, b"Read\0");
    if s[0] == 0xEB && s[1] == 0x48 && s[0x3E] == 3 && grub_strings {
        return BootCode::GrubLegacyStage1 {
            version: format!("{}.{}", s[0x3E], s[0x3F]),
            boot_drive: s[0x40],
            force_lba: s[0x41] != 0,
            stage2_address: u16_at(s, 0x42),
            stage2_sector: u32_at(s, 0x44),
            stage2_segment: u16_at(s, 0x48),
        };
    }
    if s[0] == 0xEB && s[1] == 0x63 && grub_strings {
        return BootCode::Grub2BootImg {
            kernel_address: u16_at(s, 0x5A),
            kernel_sector: u64_at(s, 0x5C),
            boot_drive: s[0x64],
        };
    }
    if code.len() >= SIMBOOT_MBR_LBA + 8
        && code[SIMBOOT_MBR_MARKER..SIMBOOT_MBR_MARKER + 4] == *SIMBOOT_MARKER
        && u16_at(s, SIMBOOT_MBR_MARKER + 4) == SIMBOOT_FORMAT
    {
        return BootCode::Simboot {
            stage2_lba: u64_at(s, SIMBOOT_MBR_LBA),
            stage2_sectors: u16_at(s, SIMBOOT_MBR_COUNT),
        };
    }
    let missing_os = contains(code, b"Missing OS") || contains(code, b"Missing operating system");
    let multiple = contains(code, b"Multiple active partitions");
    if missing_os && (multiple || contains(code, b"Operating system load error")) {
        let variant = if contains(code, b"EFI PART") || contains(code, b"GPT") {
            "gptmbr"
        } else if multiple {
            "mbr"
        } else {
            "altmbr"
        };
        return BootCode::SyslinuxMbr { variant: variant.to_string() };
    }
    if contains(code, b"Invalid partition table") && contains(code, b"Error loading operating system") {
        return BootCode::DosMbr;
    }
    // A jump over a BPB with an OEM name: a volume boot record.
    if (s[0] == 0xEB && s[2] == 0x90) || s[0] == 0xE9 {
        let oem = printable(&s[3..11]);
        if oem == "SYSLINUX" || oem == "EXTLINUX" || oem == "ISOLINUX" {
            return BootCode::SyslinuxVbr { oem };
        }
        if !oem.is_empty() && s[3..11].iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return BootCode::FilesystemVbr { oem };
        }
    }
    BootCode::Unknown { first_bytes: s[..8].iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ") }
}

impl BootCode {
    /// A one-line description for people.
    pub fn describe(&self) -> String {
        match self {
            BootCode::Empty => "none (code area is all zero)".into(),
            BootCode::GrubLegacyStage1 {
                version,
                stage2_sector,
                stage2_address,
                stage2_segment,
                boot_drive,
                force_lba,
            } => format!(
                "GRUB legacy stage1 (version {version}): loads LBA {stage2_sector} to {stage2_segment:#06x}:0000, jumps to {stage2_address:#06x}; boot drive {}{}",
                if *boot_drive == 0xFF { "from DL".to_string() } else { format!("{boot_drive:#04x}") },
                if *force_lba { ", LBA forced" } else { "" }
            ),
            BootCode::Grub2BootImg { kernel_sector, kernel_address, boot_drive } => format!(
                "GRUB 2 boot.img: loads core.img sector at LBA {kernel_sector} to {kernel_address:#06x}; boot drive {}",
                if *boot_drive == 0xFF { "from DL".to_string() } else { format!("{boot_drive:#04x}") }
            ),
            BootCode::SyslinuxMbr { variant } => {
                format!("syslinux {variant}.bin: chain-loads the active partition's boot sector")
            }
            BootCode::Simboot { stage2_lba: 0, .. } | BootCode::Simboot { stage2_sectors: 0, .. } => {
                "simboot MBR (boot-sim's own loader), not installed: no stage 2 location".into()
            }
            BootCode::Simboot { stage2_lba, stage2_sectors } => format!(
                "simboot MBR (boot-sim's own loader): loads {stage2_sectors} sectors of stage 2 from LBA {stage2_lba} to 0x0000:8000"
            ),
            BootCode::SyslinuxVbr { oem } => format!("{oem} volume boot record"),
            BootCode::DosMbr => "DOS/Windows-style MBR: chain-loads the active partition's boot sector".into(),
            BootCode::FilesystemVbr { oem } => format!("volume boot record (OEM name {oem:?})"),
            BootCode::Unknown { first_bytes } => format!("unrecognised code (first bytes {first_bytes})"),
        }
    }

    /// The LBA of the next stage this code loads, when it names one.
    pub fn next_stage_lba(&self) -> Option<u64> {
        match self {
            BootCode::GrubLegacyStage1 { stage2_sector, .. } => Some(u64::from(*stage2_sector)),
            BootCode::Grub2BootImg { kernel_sector, .. } => Some(*kernel_sector),
            BootCode::Simboot { stage2_lba, stage2_sectors } if *stage2_lba != 0 && *stage2_sectors != 0 => {
                Some(*stage2_lba)
            }
            _ => None,
        }
    }
}

/// What the sector a GRUB boot sector points at contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextStage {
    /// GRUB 0.97 `stage2/start.S` ("Loading stage1.5" / "Loading stage2").
    GrubLegacyStart {
        loads: String,
    },
    /// GRUB 2 `diskboot.S` ("loading").
    Grub2Diskboot,
    /// The first sector of syslinux's `ldlinux.sys` (syslinux
    /// `core/diskstart.inc`: `early_banner` "\r\n" MY_NAME ' ' VERSION ' '
    /// NUL, aligned to 8, then `ldlinux_magic` = LDLINUX_MAGIC and the patch
    /// area), as ldlinux.bss's `Sect1Load` reads it. `magic_offset` is the
    /// offset of LDLINUX_MAGIC in the sector.
    SyslinuxLdlinux {
        magic_offset: usize,
    },
    /// simboot's stage 2 (`simboot-stage2.asm`: "SIMB" at 4, format 1 at 8).
    SimbootStage2,
    /// All zero: the stage the boot sector needs is missing.
    Empty,
    Unrecognised,
    /// The LBA lies beyond the end of the image.
    PastEnd,
}

/// syslinux `core/diskstart.inc` LDLINUX_MAGIC (`ldlinux_magic`).
pub const LDLINUX_MAGIC: u32 = 0x3EB2_02FE;

/// Where LDLINUX_MAGIC sits in a first sector of ldlinux.sys: right after
/// the NUL-terminated `early_banner` (which starts with CR LF) and its
/// `CR LF 1Ah` tail, at the next multiple of 8 (`alignz 8`).
pub fn ldlinux_magic_offset(sector: &[u8; 512]) -> Option<usize> {
    if sector[..2] != *b"\r\n" {
        return None;
    }
    let nul = sector[..64].iter().position(|&b| b == 0)?;
    let at = (nul + 4).div_ceil(8) * 8;
    (at + 4 <= 64 && u32_at(sector, at) == LDLINUX_MAGIC && sector[nul + 1..nul + 4] == *b"\r\n\x1a").then_some(at)
}

/// Identifies the sector a stage1/boot.img would load next.
pub fn identify_next_stage(sector: &[u8; 512]) -> NextStage {
    if sector.iter().all(|&b| b == 0) {
        NextStage::Empty
    } else if sector[4..8] == *SIMBOOT_MARKER && u16_at(sector, 8) == SIMBOOT_FORMAT {
        NextStage::SimbootStage2
    } else if let Some(magic_offset) = ldlinux_magic_offset(sector) {
        NextStage::SyslinuxLdlinux { magic_offset }
    } else if contains(sector, b"Loading stage1.5") {
        NextStage::GrubLegacyStart { loads: "stage1.5".into() }
    } else if contains(sector, b"Loading stage2") {
        NextStage::GrubLegacyStart { loads: "stage2".into() }
    } else if contains(sector, b"loading\0") {
        NextStage::Grub2Diskboot
    } else {
        NextStage::Unrecognised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sector_is_empty_without_signature() {
        let s = [0u8; 512];
        let b = identify(&s, true);
        assert!(!b.signature);
        assert_eq!(b.code, BootCode::Empty);
    }

    #[test]
    fn ldlinux_first_sector_is_found_by_its_magic() {
        let mut s = [0u8; 512];
        let banner = b"\r\nEXTLINUX 6.04 \0\r\n\x1a";
        s[..banner.len()].copy_from_slice(banner);
        s[0x18..0x1C].copy_from_slice(&LDLINUX_MAGIC.to_le_bytes());
        assert_eq!(identify_next_stage(&s), NextStage::SyslinuxLdlinux { magic_offset: 0x18 });
        s[0x18] ^= 1;
        assert_eq!(identify_next_stage(&s), NextStage::Unrecognised);
    }

    #[test]
    fn simboot_is_known_by_its_marker_and_names_stage_2() {
        let mut s = [0u8; 512];
        s[0] = 0xFA;
        s[0x1A0..0x1A4].copy_from_slice(b"SIMB");
        s[0x1A4] = 1;
        let code = identify(&s, true).code;
        assert_eq!(code, BootCode::Simboot { stage2_lba: 0, stage2_sectors: 0 });
        assert_eq!(code.next_stage_lba(), None, "not installed");
        assert!(code.describe().contains("not installed"), "{}", code.describe());
        s[0x1A6] = 8;
        s[0x1A8] = 1;
        let code = identify(&s, true).code;
        assert_eq!(code, BootCode::Simboot { stage2_lba: 1, stage2_sectors: 8 });
        assert_eq!(code.next_stage_lba(), Some(1));
        assert_eq!(
            code.describe(),
            "simboot MBR (boot-sim's own loader): loads 8 sectors of stage 2 from LBA 1 to 0x0000:8000"
        );
        // Another format is not ours to read.
        s[0x1A4] = 2;
        assert!(matches!(identify(&s, true).code, BootCode::Unknown { .. }));
        // Stage 2's header.
        let mut s2 = [0u8; 512];
        s2[0] = 0xE9;
        s2[4..8].copy_from_slice(b"SIMB");
        s2[8] = 1;
        assert_eq!(identify_next_stage(&s2), NextStage::SimbootStage2);
        s2[8] = 0;
        assert_eq!(identify_next_stage(&s2), NextStage::Unrecognised);
    }

    #[test]
    fn table_bytes_are_not_code_in_an_mbr() {
        let mut s = [0u8; 512];
        s[0x1BE] = 0x80;
        s[510] = 0x55;
        s[511] = 0xAA;
        assert_eq!(identify(&s, true).code, BootCode::Empty);
        assert!(identify(&s, true).signature);
    }
}
