//! The Linux/x86 boot protocol setup header (`Documentation/arch/x86/boot.rst`,
//! `arch/x86/include/uapi/asm/bootparam.h` `struct setup_header`).
//!
//! [`RawSetupHeader`] is the on-disk layout; [`SetupHeader::parse`] is the one
//! boundary that checks it and applies the protocol-version gates, so code
//! past it never re-checks: a field the kernel's protocol version does not
//! define is `None`.

use bytemuck::{Pod, Zeroable};
use serde::Serialize;

use super::error::KernelError;

/// boot.rst: the setup header starts at 0x1F1 in the file (and in boot_params).
pub const SETUP_HEADER_OFFSET: usize = 0x1F1;
/// boot.rst: 0x202 header, "HdrS".
pub const HDRS_MAGIC: u32 = 0x5372_6448;
/// boot.rst: 0x1FE boot_flag.
pub const BOOT_FLAG: u16 = 0xAA55;
/// boot.rst: "If this field is 0, the real value is 4."
pub const DEFAULT_SETUP_SECTS: u8 = 4;
/// GRUB 0.97 `stage2/shared.h` LINUX_MAX_SETUP_SECTS: GRUB legacy takes its
/// Linux branch only when `setup_sects <= 64`.
pub const GRUB_LEGACY_MAX_SETUP_SECTS: u8 = 64;
/// boot.rst 0x211 loadflags bit 0: protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// boot.rst 0x211 loadflags bit 1 (kernel internal: KASLR used).
pub const KASLR_FLAG: u8 = 1 << 1;
/// boot.rst 0x211 loadflags bit 5: suppress early messages.
pub const QUIET_FLAG: u8 = 1 << 5;
/// boot.rst 0x211 loadflags bit 6 (obsolete).
pub const KEEP_SEGMENTS: u8 = 1 << 6;
/// boot.rst 0x211 loadflags bit 7: heap_end_ptr is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// bootparam.h xloadflags bit 0: 64-bit entry point at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// bootparam.h xloadflags bit 1.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// bootparam.h xloadflags bit 2.
pub const XLF_EFI_HANDOVER_32: u16 = 1 << 2;
/// bootparam.h xloadflags bit 3.
pub const XLF_EFI_HANDOVER_64: u16 = 1 << 3;
/// bootparam.h xloadflags bit 4.
pub const XLF_EFI_KEXEC: u16 = 1 << 4;
/// bootparam.h xloadflags bit 5.
pub const XLF_5LEVEL: u16 = 1 << 5;
/// bootparam.h xloadflags bit 6.
pub const XLF_5LEVEL_ENABLED: u16 = 1 << 6;
/// boot.rst: the default load address of a bzImage's protected-mode code.
pub const BZIMAGE_LOAD_ADDR: u32 = 0x10_0000;
/// boot.rst: the load address of a zImage's protected-mode code.
pub const ZIMAGE_LOAD_ADDR: u32 = 0x1_0000;
/// boot.rst 0x22C: initrd_addr_max default for protocol <= 2.02.
pub const DEFAULT_INITRD_ADDR_MAX: u32 = 0x37FF_FFFF;
/// boot.rst 0x238: the command line limit before protocol 2.06.
pub const DEFAULT_CMDLINE_SIZE: u32 = 255;
/// boot.rst 0x20E: the kernel version string is at most this long here (the
/// string lives in the setup code, which is at most 127 sectors).
const MAX_KERNEL_VERSION_LEN: usize = 256;

/// `struct setup_header` as stored from file offset 0x1F1 (bootparam.h),
/// little-endian, packed. Read the multi-byte fields with `from_le`.
#[repr(C, packed)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawSetupHeader {
    /// 0x1F1/1 ALL
    pub setup_sects: u8,
    /// 0x1F2/2 ALL
    pub root_flags: u16,
    /// 0x1F4/4 2.04+
    pub syssize: u32,
    /// 0x1F8/2 obsolete
    pub ram_size: u16,
    /// 0x1FA/2 ALL
    pub vid_mode: u16,
    /// 0x1FC/2 ALL (deprecated)
    pub root_dev: u16,
    /// 0x1FE/2 ALL: 0xAA55
    pub boot_flag: u16,
    /// 0x200/2 2.00+: 0xEB jump
    pub jump: u16,
    /// 0x202/4 2.00+: "HdrS"
    pub header: u32,
    /// 0x206/2 2.00+
    pub version: u16,
    /// 0x208/4 2.00+
    pub realmode_swtch: u32,
    /// 0x20C/2 2.00+ (obsolete)
    pub start_sys_seg: u16,
    /// 0x20E/2 2.00+: pointer to the version string, minus 0x200
    pub kernel_version: u16,
    /// 0x210/1 2.00+
    pub type_of_loader: u8,
    /// 0x211/1 2.00+
    pub loadflags: u8,
    /// 0x212/2 2.00+
    pub setup_move_size: u16,
    /// 0x214/4 2.00+
    pub code32_start: u32,
    /// 0x218/4 2.00+
    pub ramdisk_image: u32,
    /// 0x21C/4 2.00+
    pub ramdisk_size: u32,
    /// 0x220/4 2.00+ (obsolete)
    pub bootsect_kludge: u32,
    /// 0x224/2 2.01+
    pub heap_end_ptr: u16,
    /// 0x226/1 2.02+
    pub ext_loader_ver: u8,
    /// 0x227/1 2.02+
    pub ext_loader_type: u8,
    /// 0x228/4 2.02+
    pub cmd_line_ptr: u32,
    /// 0x22C/4 2.03+
    pub initrd_addr_max: u32,
    /// 0x230/4 2.05+
    pub kernel_alignment: u32,
    /// 0x234/1 2.05+
    pub relocatable_kernel: u8,
    /// 0x235/1 2.10+
    pub min_alignment: u8,
    /// 0x236/2 2.12+
    pub xloadflags: u16,
    /// 0x238/4 2.06+
    pub cmdline_size: u32,
    /// 0x23C/4 2.07+
    pub hardware_subarch: u32,
    /// 0x240/8 2.07+
    pub hardware_subarch_data: u64,
    /// 0x248/4 2.08+
    pub payload_offset: u32,
    /// 0x24C/4 2.08+
    pub payload_length: u32,
    /// 0x250/8 2.09+
    pub setup_data: u64,
    /// 0x258/8 2.10+
    pub pref_address: u64,
    /// 0x260/4 2.10+
    pub init_size: u32,
    /// 0x264/4 2.11+
    pub handover_offset: u32,
    /// 0x268/4 2.15+
    pub kernel_info_offset: u32,
}

/// 0x1F1 + 123 = 0x26C, the end of kernel_info_offset.
pub const RAW_SETUP_HEADER_LEN: usize = 0x26C - SETUP_HEADER_OFFSET;
const _: () = assert!(std::mem::size_of::<RawSetupHeader>() == RAW_SETUP_HEADER_LEN);
const _: () = assert!(std::mem::offset_of!(RawSetupHeader, header) == 0x202 - SETUP_HEADER_OFFSET);
const _: () = assert!(std::mem::offset_of!(RawSetupHeader, payload_offset) == 0x248 - SETUP_HEADER_OFFSET);
const _: () = assert!(std::mem::offset_of!(RawSetupHeader, init_size) == 0x260 - SETUP_HEADER_OFFSET);

/// A boot protocol version, `(major << 8) | minor` as at 0x206.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    pub const fn new(major: u8, minor: u8) -> Self {
        Self(((major as u16) << 8) | minor as u16)
    }
    pub fn major(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub fn minor(self) -> u8 {
        (self.0 & 0xFF) as u8
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.major(), self.minor())
    }
}

/// The validated setup header: values are little-endian-decoded, and a field
/// is `Some` only from the protocol version that defines it (boot.rst field
/// table, "Protocol:" lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupHeader {
    /// 0x1F1 as stored (0 means 4; see [`Self::setup_sects`]).
    pub setup_sects_raw: u8,
    /// 0x1F1 with the "0 means 4" rule applied.
    pub setup_sects: u8,
    pub root_flags: u16,
    /// 0x1F4, 16-byte paragraphs (32-bit from 2.04).
    pub syssize: u32,
    pub vid_mode: u16,
    pub root_dev: u16,
    pub boot_flag: u16,
    /// 0x200 raw jump instruction (present from 2.00).
    pub jump: Option<u16>,
    /// 0x206.
    pub version: ProtocolVersion,
    pub realmode_swtch: Option<u32>,
    pub start_sys_seg: Option<u16>,
    /// 0x20E raw pointer; the string it points to is [`Self::kernel_version`].
    pub kernel_version_ptr: Option<u16>,
    /// The NUL-terminated string at `kernel_version_ptr + 0x200`.
    pub kernel_version: Option<String>,
    pub type_of_loader: Option<u8>,
    pub loadflags: Option<u8>,
    pub setup_move_size: Option<u16>,
    pub code32_start: Option<u32>,
    pub ramdisk_image: Option<u32>,
    pub ramdisk_size: Option<u32>,
    pub heap_end_ptr: Option<u16>,
    pub ext_loader_ver: Option<u8>,
    pub ext_loader_type: Option<u8>,
    pub cmd_line_ptr: Option<u32>,
    pub initrd_addr_max: Option<u32>,
    pub kernel_alignment: Option<u32>,
    pub relocatable_kernel: Option<bool>,
    pub min_alignment: Option<u8>,
    pub xloadflags: Option<u16>,
    pub cmdline_size: Option<u32>,
    pub hardware_subarch: Option<u32>,
    pub hardware_subarch_data: Option<u64>,
    pub payload_offset: Option<u32>,
    pub payload_length: Option<u32>,
    pub setup_data: Option<u64>,
    pub pref_address: Option<u64>,
    pub init_size: Option<u32>,
    pub handover_offset: Option<u32>,
    pub kernel_info_offset: Option<u32>,
}

/// Where the protected-mode code and the compressed payload are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PayloadLocation {
    /// (setup_sects + 1) * 512: the start of the protected-mode code.
    pub protected_mode_offset: u64,
    /// protected_mode_offset + payload_offset.
    pub offset: u64,
    /// payload_length.
    pub length: u64,
}

impl SetupHeader {
    /// Does `bytes` carry a Linux boot-protocol header ("HdrS" at 0x202)?
    pub fn probe(bytes: &[u8]) -> bool {
        bytes.get(0x202..0x206) == Some(&HDRS_MAGIC.to_le_bytes()[..])
    }

    /// Parses and validates the setup header of a whole bzImage/zImage file.
    /// Requires "HdrS" (protocol 2.00+) and the 0xAA55 boot flag, and that
    /// the real-mode part (boot sector + setup_sects sectors) is inside the
    /// file.
    pub fn parse(bytes: &[u8]) -> Result<Self, KernelError> {
        let end = SETUP_HEADER_OFFSET + RAW_SETUP_HEADER_LEN;
        // A protocol 2.00 header ends at 0x202 + jump reach; old kernels have
        // shorter headers, so read what exists and zero-fill the rest: the
        // version gates below hide every field past the kernel's version.
        if bytes.len() < 0x208 {
            return Err(KernelError::corrupt(
                "setup header",
                bytes.len() as u64,
                format!("file is {} bytes, shorter than the setup header through 'version' (0x208 bytes)", bytes.len()),
            ));
        }
        let mut buf = [0u8; RAW_SETUP_HEADER_LEN];
        let avail = &bytes[SETUP_HEADER_OFFSET..end.min(bytes.len())];
        buf[..avail.len()].copy_from_slice(avail);
        let raw: RawSetupHeader = bytemuck::pod_read_unaligned(&buf);

        let header = u32::from_le(raw.header);
        if header != HDRS_MAGIC {
            return Err(KernelError::unsupported(
                "setup header",
                0x202,
                format!("no \"HdrS\" signature (found {header:#010x}): pre-2.00 boot protocol or not a Linux kernel"),
            ));
        }
        let boot_flag = u16::from_le(raw.boot_flag);
        if boot_flag != BOOT_FLAG {
            return Err(KernelError::corrupt(
                "setup header",
                0x1FE,
                format!("boot_flag is {boot_flag:#06x}, expected 0xaa55"),
            ));
        }
        let version = ProtocolVersion(u16::from_le(raw.version));
        // The header is as long as the jump at 0x200 says (0x202 + offset);
        // a file cut inside the fields its version defines is truncated.
        let needed = header_len_for(version);
        if bytes.len() < needed {
            return Err(KernelError::corrupt(
                "setup header",
                bytes.len() as u64,
                format!("file is {} bytes but a protocol {version} setup header ends at {needed:#x}", bytes.len()),
            ));
        }
        let gate = |v: (u8, u8)| version >= ProtocolVersion::new(v.0, v.1);
        let setup_sects = if raw.setup_sects == 0 { DEFAULT_SETUP_SECTS } else { raw.setup_sects };
        let real_mode_end = (u64::from(setup_sects) + 1) * 512;
        if real_mode_end > bytes.len() as u64 {
            return Err(KernelError::corrupt(
                "setup header",
                0x1F1,
                format!(
                    "setup_sects {setup_sects} puts the protected-mode code at {real_mode_end:#x}, past the end of the {}-byte file",
                    bytes.len()
                ),
            ));
        }
        let kernel_version_ptr = u16::from_le(raw.kernel_version);
        let kernel_version = if kernel_version_ptr != 0 {
            Some(read_version_string(bytes, usize::from(kernel_version_ptr) + 0x200)?)
        } else {
            None
        };
        Ok(Self {
            setup_sects_raw: raw.setup_sects,
            setup_sects,
            root_flags: u16::from_le(raw.root_flags),
            syssize: if gate((2, 4)) {
                u32::from_le(raw.syssize)
            } else {
                // boot.rst: before 2.04 the upper two bytes are unreliable.
                u32::from_le(raw.syssize) & 0xFFFF
            },
            vid_mode: u16::from_le(raw.vid_mode),
            root_dev: u16::from_le(raw.root_dev),
            boot_flag,
            jump: Some(u16::from_le(raw.jump)),
            version,
            realmode_swtch: Some(u32::from_le(raw.realmode_swtch)),
            start_sys_seg: Some(u16::from_le(raw.start_sys_seg)),
            kernel_version_ptr: opt(kernel_version_ptr != 0, kernel_version_ptr),
            kernel_version,
            type_of_loader: Some(raw.type_of_loader),
            loadflags: Some(raw.loadflags),
            setup_move_size: Some(u16::from_le(raw.setup_move_size)),
            code32_start: Some(u32::from_le(raw.code32_start)),
            ramdisk_image: Some(u32::from_le(raw.ramdisk_image)),
            ramdisk_size: Some(u32::from_le(raw.ramdisk_size)),
            heap_end_ptr: opt(gate((2, 1)), u16::from_le(raw.heap_end_ptr)),
            ext_loader_ver: opt(gate((2, 2)), raw.ext_loader_ver),
            ext_loader_type: opt(gate((2, 2)), raw.ext_loader_type),
            cmd_line_ptr: opt(gate((2, 2)), u32::from_le(raw.cmd_line_ptr)),
            initrd_addr_max: opt(gate((2, 3)), u32::from_le(raw.initrd_addr_max)),
            kernel_alignment: opt(gate((2, 5)), u32::from_le(raw.kernel_alignment)),
            relocatable_kernel: opt(gate((2, 5)), raw.relocatable_kernel != 0),
            min_alignment: opt(gate((2, 10)), raw.min_alignment),
            xloadflags: opt(gate((2, 12)), u16::from_le(raw.xloadflags)),
            cmdline_size: opt(gate((2, 6)), u32::from_le(raw.cmdline_size)),
            hardware_subarch: opt(gate((2, 7)), u32::from_le(raw.hardware_subarch)),
            hardware_subarch_data: opt(gate((2, 7)), u64::from_le(raw.hardware_subarch_data)),
            payload_offset: opt(gate((2, 8)), u32::from_le(raw.payload_offset)),
            payload_length: opt(gate((2, 8)), u32::from_le(raw.payload_length)),
            setup_data: opt(gate((2, 9)), u64::from_le(raw.setup_data)),
            pref_address: opt(gate((2, 10)), u64::from_le(raw.pref_address)),
            init_size: opt(gate((2, 10)), u32::from_le(raw.init_size)),
            handover_offset: opt(gate((2, 11)), u32::from_le(raw.handover_offset)),
            kernel_info_offset: opt(gate((2, 15)), u32::from_le(raw.kernel_info_offset)),
        })
    }

    /// boot.rst: "is_bzImage = protocol >= 2.00 && (loadflags & 0x01)".
    pub fn is_bzimage(&self) -> bool {
        self.loadflags.is_some_and(|f| f & LOADED_HIGH != 0)
    }

    /// Where the protected-mode code is loaded: 0x100000 for a bzImage.
    pub fn load_address(&self) -> u32 {
        if self.is_bzimage() { BZIMAGE_LOAD_ADDR } else { ZIMAGE_LOAD_ADDR }
    }

    /// (setup_sects + 1) * 512: file offset of the protected-mode code.
    pub fn protected_mode_offset(&self) -> u64 {
        (u64::from(self.setup_sects) + 1) * 512
    }

    /// initrd_addr_max, or the boot.rst default for protocols before 2.03.
    pub fn effective_initrd_addr_max(&self) -> u32 {
        self.initrd_addr_max.unwrap_or(DEFAULT_INITRD_ADDR_MAX)
    }

    /// cmdline_size, or 255 before protocol 2.06.
    pub fn effective_cmdline_size(&self) -> u32 {
        self.cmdline_size.unwrap_or(DEFAULT_CMDLINE_SIZE)
    }

    pub fn has_xloadflag(&self, flag: u16) -> bool {
        self.xloadflags.is_some_and(|x| x & flag != 0)
    }

    /// The payload's place in a file of `file_len` bytes, checked the way
    /// Xen's `xc_dom_probe_bzimage_kernel` checks it; `None` before
    /// protocol 2.08 (no payload fields).
    pub fn payload_location(&self, file_len: u64) -> Result<Option<PayloadLocation>, KernelError> {
        let (Some(off), Some(len)) = (self.payload_offset, self.payload_length) else {
            return Ok(None);
        };
        let pm = self.protected_mode_offset();
        let offset = pm + u64::from(off);
        if offset >= file_len {
            return Err(KernelError::corrupt(
                "bzImage payload",
                0x248,
                format!(
                    "payload offset overflow: payload_offset {off:#x} puts the payload at {offset:#x}, past the end of the {file_len:#x}-byte file"
                ),
            ));
        }
        let end = offset + u64::from(len);
        if end > file_len {
            return Err(KernelError::corrupt(
                "bzImage payload",
                0x24C,
                format!(
                    "payload length overflow: payload_length {len:#x} at {offset:#x} ends at {end:#x}, past the end of the {file_len:#x}-byte file"
                ),
            ));
        }
        Ok(Some(PayloadLocation { protected_mode_offset: pm, offset, length: u64::from(len) }))
    }
}

/// The setup header's end for a protocol version: bootparam.h field ends,
/// so a file cut inside a field its version defines is reported.
fn header_len_for(v: ProtocolVersion) -> usize {
    // (version, the end of the last field it added), newest first.
    const ENDS: [((u8, u8), usize); 11] = [
        ((2, 15), 0x26C),
        ((2, 11), 0x268),
        ((2, 10), 0x264),
        ((2, 9), 0x258),
        ((2, 8), 0x250),
        ((2, 7), 0x248),
        ((2, 6), 0x23C),
        ((2, 5), 0x235),
        ((2, 3), 0x230),
        ((2, 2), 0x22C),
        ((2, 1), 0x226),
    ];
    ENDS.iter().find(|&&((maj, min), _)| v >= ProtocolVersion::new(maj, min)).map_or(0x224, |&(_, end)| end)
}

fn opt<T>(present: bool, v: T) -> Option<T> {
    present.then_some(v)
}

fn read_version_string(bytes: &[u8], at: usize) -> Result<String, KernelError> {
    let Some(tail) = bytes.get(at..) else {
        return Err(KernelError::corrupt(
            "setup header kernel_version",
            0x20E,
            format!("version string pointer {:#x} is past the end of the {}-byte file", at, bytes.len()),
        ));
    };
    let window = &tail[..tail.len().min(MAX_KERNEL_VERSION_LEN)];
    match window.iter().position(|&b| b == 0) {
        Some(n) => Ok(String::from_utf8_lossy(&window[..n]).into_owned()),
        None => Err(KernelError::corrupt(
            "setup header kernel_version",
            at as u64,
            format!("no NUL within {MAX_KERNEL_VERSION_LEN} bytes of the version string"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(version: u16) -> Vec<u8> {
        let mut b = vec![0u8; 5 * 512 + 64];
        b[0x1FE..0x200].copy_from_slice(&BOOT_FLAG.to_le_bytes());
        b[0x200] = 0xEB;
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&version.to_le_bytes());
        b[0x211] = LOADED_HIGH;
        b
    }

    #[test]
    fn setup_sects_zero_means_four() {
        let h = SetupHeader::parse(&minimal(0x020F)).unwrap();
        assert_eq!(h.setup_sects_raw, 0);
        assert_eq!(h.setup_sects, 4);
        assert_eq!(h.protected_mode_offset(), 5 * 512);
        assert!(h.is_bzimage());
    }

    #[test]
    fn fields_are_gated_by_version() {
        let mut b = minimal(0x0204);
        b[0x248..0x24C].copy_from_slice(&7u32.to_le_bytes());
        b[0x236..0x238].copy_from_slice(&1u16.to_le_bytes());
        let h = SetupHeader::parse(&b).unwrap();
        assert_eq!(h.payload_offset, None);
        assert_eq!(h.xloadflags, None);
        assert_eq!(h.initrd_addr_max, Some(0));
        assert_eq!(h.effective_cmdline_size(), 255);
        assert_eq!(h.payload_location(b.len() as u64).unwrap(), None);
    }

    #[test]
    fn kernel_version_string() {
        let mut b = minimal(0x020F);
        b[0x20E..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        b[0x300..0x306].copy_from_slice(b"6.1.0\0");
        let h = SetupHeader::parse(&b).unwrap();
        assert_eq!(h.kernel_version.as_deref(), Some("6.1.0"));
    }

    #[test]
    fn truncated_and_out_of_range() {
        let b = minimal(0x020F);
        let e = SetupHeader::parse(&b[..0x250]).unwrap_err();
        assert_eq!(e.offset(), 0x250);
        let mut b = minimal(0x020F);
        b[0x1F1] = 200;
        assert_eq!(SetupHeader::parse(&b).unwrap_err().offset(), 0x1F1);
        let mut b = minimal(0x020F);
        b[0x248..0x24C].copy_from_slice(&0x1000u32.to_le_bytes());
        let h = SetupHeader::parse(&b).unwrap();
        let e = h.payload_location(b.len() as u64).unwrap_err();
        assert!(e.to_string().contains("payload offset overflow"), "{e}");
        b[0x248..0x24C].copy_from_slice(&0u32.to_le_bytes());
        b[0x24C..0x250].copy_from_slice(&0x1000u32.to_le_bytes());
        let h = SetupHeader::parse(&b).unwrap();
        let e = h.payload_location(b.len() as u64).unwrap_err();
        assert!(e.to_string().contains("payload length overflow"), "{e}");
    }
}
