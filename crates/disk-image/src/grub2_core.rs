//! GRUB 2's core.img for i386-pc, parsed from its bytes: the header of
//! `lzma_decompress.img` (`grub-core/boot/i386/pc/startup_raw.S`), the raw
//! LZMA payload `util/mkimage.c` writes, and the module area at its end
//! (`include/grub/kernel.h` `struct grub_module_info32` and
//! `grub_module_header` items: ELF modules with `.modname`/`.moddeps`,
//! memdisk, embedded config, prefix). Used by `inspect` (what the BIOS boot
//! partition or the post-MBR gap holds) and by the `boot` crate's GRUB 2
//! model, which runs it. Moved here from `boot::hvm::grub2` so that both
//! share one parser.
//!
//! Before core.img's startup_raw comes diskboot.img (its first sector,
//! `grub-core/boot/i386/pc/diskboot.S`), whose block list ([`blocklist`])
//! says where the rest of core.img lies on the disk.

use std::io::Read;

use le_bytes::{cstr_lossy, u32_at};

/// `GRUB_BOOT_MACHINE_KERNEL_ADDR + 0x200`: where startup_raw runs.
pub const STARTUP_ADDR: u32 = 0x8200;
/// `GRUB_DECOMPRESSOR_I386_PC_MAX_DECOMPRESSOR_SIZE` (include/grub/offsets.h).
pub const MAX_DECOMPRESSOR: u32 = 0x9000 - 0x8200;
/// `GRUB_MEMORY_MACHINE_DECOMPRESSION_ADDR`.
pub const DECOMPRESSION_ADDR: u32 = 0x100000;
/// core.img must end below 0x80000 (`util/mkimage.c`: "core image is too
/// big", 0x78000 bytes from 0x8000).
pub const CORE_END: u32 = 0x80000;
/// Largest decompressed kernel.img + modules the model accepts.
pub const MAX_UNCOMPRESSED: u32 = 16 << 20;
/// `GRUB_MODULE_MAGIC` ("mimg" little-endian).
pub const MODULE_MAGIC: u32 = 0x676d_696d;
/// `include/grub/kernel.h` object types.
pub const OBJ_TYPE_ELF: u32 = 0;
pub const OBJ_TYPE_MEMDISK: u32 = 1;
pub const OBJ_TYPE_CONFIG: u32 = 2;
pub const OBJ_TYPE_PREFIX: u32 = 3;
/// Most module headers walked.
const MAX_MODULES: usize = 1024;

/// One object of the module area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoreObject {
    /// An ELF module: `.modname` and `.moddeps` (None when unreadable).
    Module {
        name: Option<String>,
        deps: Vec<String>,
        size: usize,
    },
    Memdisk {
        size: usize,
    },
    Config(String),
    Prefix(String),
    Other {
        kind: u32,
        size: usize,
    },
}

/// What core.img holds, parsed from the bytes at 0x8200.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreImage {
    pub compressed_size: u32,
    pub uncompressed_size: u32,
    pub reed_solomon_redundancy: u32,
    /// Linear address of the compressed payload (`decompressor_end`).
    pub decompressor_end: u32,
    /// `boot_dev` bytes (+0x18..+0x1A): bsd_part at +0x19, dos_part +0x1A.
    pub boot_dev: [u8; 3],
    /// kernel.img + module area, as decompressed.
    pub payload: Vec<u8>,
    /// Offset of `grub_module_info32` in `payload`.
    pub modinfo_offset: usize,
    pub objects: Vec<CoreObject>,
}

impl CoreImage {
    pub fn prefix(&self) -> Option<&str> {
        self.objects.iter().rev().find_map(|o| match o {
            CoreObject::Prefix(p) => Some(p.as_str()),
            _ => None,
        })
    }
    pub fn config(&self) -> Option<&str> {
        self.objects.iter().find_map(|o| match o {
            CoreObject::Config(c) => Some(c.as_str()),
            _ => None,
        })
    }
    pub fn module_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                CoreObject::Module { name: Some(n), .. } => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Why core.img did not parse. Offsets in `startup_raw` count from 0x8200
/// (where it runs), offsets in the payload from its first decompressed
/// byte; `inspect` shows the message as it is.
#[derive(Debug, thiserror::Error)]
pub enum CoreImageError {
    /// A header field lies past the end of the bytes read.
    #[error("startup_raw +{offset:#x} ({field}) is missing")]
    Missing { offset: usize, field: &'static str },
    /// `post_reed_solomon`'s two `movl`s are not where mkimage puts them.
    #[error(
        "no `movl $0x100000, %edi; movl $decompressor_end, %esi` in the first 0xE00 bytes of startup_raw: not an \
         LZMA i386-pc core.img"
    )]
    NotLzmaCore,
    /// `decompressor_end` (the imm32 at `offset`) points outside the
    /// decompressor's room.
    #[error("decompressor_end {value:#x} (+{offset:#x}) is outside 0x8220..=0x9000")]
    DecompressorEnd { value: u32, offset: usize },
    /// `compressed_size` (+0x8) runs past the bytes core.img may occupy.
    #[error(
        "compressed_size {compressed_size:#x} (+0x8) runs past {CORE_END:#x} from decompressor_end \
                 {decompressor_end:#x}"
    )]
    CompressedSize { compressed_size: u32, decompressor_end: u32 },
    /// `uncompressed_size` (+0xc) is below a module-info header or above
    /// what the model decompresses.
    #[error("uncompressed_size {uncompressed_size:#x} (+0xc) is outside 12..={MAX_UNCOMPRESSED:#x}")]
    UncompressedSize { uncompressed_size: u32 },
    /// The LZMA decoder rejected the stream's parameters.
    #[error("LZMA stream: {0}")]
    LzmaStream(#[source] std::io::Error),
    /// The LZMA data is corrupt.
    #[error("LZMA payload: {0}")]
    LzmaPayload(#[source] std::io::Error),
    /// The LZMA data ends before `uncompressed_size` bytes.
    #[error("LZMA payload gives {got:#x} bytes, uncompressed_size says {want:#x}")]
    LzmaShort { got: usize, want: u32 },
    /// No `grub_module_info32` ends the payload.
    #[error("no grub_module_info (\"mimg\") ends the decompressed image")]
    NoModuleInfo,
    /// `grub_module_info32.offset` at payload `info` + 4 overflows.
    #[error("module offset overflows")]
    ModuleOffset { info: usize },
    /// More than 1024 objects (a loop cap, not GRUB's).
    #[error("more than {MAX_MODULES} objects in the module area")]
    TooManyObjects,
    /// A `grub_module_header` whose size is below its own header or runs
    /// past the payload.
    #[error("module header at payload +{at:#x}: size {size:#x} is outside 8..={room:#x}")]
    ModuleSize { at: usize, size: usize, room: usize },
}

/// Parses core.img from `startup`, the bytes loaded at 0x8200 (up to
/// [`CORE_END`]). Errors name the offset (from 0x8200) and the field.
pub fn parse_core(startup: &[u8]) -> Result<CoreImage, CoreImageError> {
    let field =
        |offset: usize, field: &'static str| u32_at(startup, offset).ok_or(CoreImageError::Missing { offset, field });
    let compressed_size = field(0x08, "compressed_size")?;
    let uncompressed_size = field(0x0C, "uncompressed_size")?;
    let reed_solomon_redundancy = field(0x10, "reed_solomon_redundancy")?;
    let boot_dev: [u8; 3] = startup
        .get(0x18..0x1B)
        .and_then(|b| b.try_into().ok())
        .ok_or(CoreImageError::Missing { offset: 0x18, field: "boot_dev" })?;
    // post_reed_solomon: BF 00 00 10 00 (movl $0x100000, %edi) then
    // BE imm32 (movl $decompressor_end, %esi).
    let window = &startup[..startup.len().min(MAX_DECOMPRESSOR as usize)];
    let sig = [0xBF, 0x00, 0x00, 0x10, 0x00, 0xBE];
    let at = window.windows(sig.len() + 4).position(|w| w[..6] == sig).ok_or(CoreImageError::NotLzmaCore)?;
    let decompressor_end = field(at + 6, "decompressor_end")?;
    if !(STARTUP_ADDR + 0x20..=STARTUP_ADDR + MAX_DECOMPRESSOR).contains(&decompressor_end) {
        return Err(CoreImageError::DecompressorEnd { value: decompressor_end, offset: at + 7 });
    }
    let start = (decompressor_end - STARTUP_ADDR) as usize;
    let end = start
        .checked_add(compressed_size as usize)
        .filter(|&e| e <= startup.len())
        .ok_or(CoreImageError::CompressedSize { compressed_size, decompressor_end })?;
    if !(12..=MAX_UNCOMPRESSED).contains(&uncompressed_size) {
        return Err(CoreImageError::UncompressedSize { uncompressed_size });
    }
    let payload = decompress(&startup[start..end], uncompressed_size)?;
    let modinfo_offset = (0..=payload.len() - 12)
        .rev()
        .find(|&p| {
            u32_at(&payload, p) == Some(MODULE_MAGIC)
                && u32_at(&payload, p + 8).is_some_and(|s| p.checked_add(s as usize) == Some(payload.len()))
        })
        .ok_or(CoreImageError::NoModuleInfo)?;
    let objects = parse_modules(&payload, modinfo_offset)?;
    Ok(CoreImage {
        compressed_size,
        uncompressed_size,
        reed_solomon_redundancy,
        decompressor_end,
        boot_dev,
        payload,
        modinfo_offset,
        objects,
    })
}

/// `_LzmaDecodeA` over mkimage's raw stream; the output is exactly
/// `size` bytes or an error.
fn decompress(data: &[u8], size: u32) -> Result<Vec<u8>, CoreImageError> {
    let r = lzma_rust2::LzmaReader::new(data, u64::from(size), 3, 0, 2, 1 << 16, None)
        .map_err(CoreImageError::LzmaStream)?;
    let mut out = Vec::with_capacity(size as usize);
    r.take(u64::from(size)).read_to_end(&mut out).map_err(CoreImageError::LzmaPayload)?;
    if out.len() != size as usize {
        return Err(CoreImageError::LzmaShort { got: out.len(), want: size });
    }
    Ok(out)
}

/// `FOR_MODULES` over the module area at `info`.
fn parse_modules(payload: &[u8], info: usize) -> Result<Vec<CoreObject>, CoreImageError> {
    let offset = u32_at(payload, info + 4).unwrap_or(0) as usize;
    let end = payload.len();
    let mut at = info.checked_add(offset).ok_or(CoreImageError::ModuleOffset { info })?;
    let mut out = Vec::new();
    while at + 8 <= end {
        if out.len() >= MAX_MODULES {
            return Err(CoreImageError::TooManyObjects);
        }
        let kind = u32_at(payload, at).unwrap_or(0);
        let size = u32_at(payload, at + 4).unwrap_or(0) as usize;
        if size < 8 || at + size > end {
            return Err(CoreImageError::ModuleSize { at, size, room: end - at });
        }
        let body = &payload[at + 8..at + size];
        out.push(match kind {
            OBJ_TYPE_ELF => {
                let (name, deps) = module_info(body).unwrap_or((None, Vec::new()));
                CoreObject::Module { name, deps, size: body.len() }
            }
            OBJ_TYPE_MEMDISK => CoreObject::Memdisk { size: body.len() },
            OBJ_TYPE_CONFIG => CoreObject::Config(cstr_lossy(body)),
            OBJ_TYPE_PREFIX => CoreObject::Prefix(cstr_lossy(body)),
            k => CoreObject::Other { kind: k, size: body.len() },
        });
        at += size.div_ceil(4) * 4;
    }
    Ok(out)
}

/// `.modname` and `.moddeps` of a module ELF (`kern/dl.c`); `None` when
/// the bytes are not an ELF object GRUB would load.
pub fn module_info(elf: &[u8]) -> Option<(Option<String>, Vec<String>)> {
    let e = goblin::elf::Elf::parse(elf).ok()?;
    let mut name = None;
    let mut deps = Vec::new();
    for sh in &e.section_headers {
        let Some(n) = e.shdr_strtab.get_at(sh.sh_name) else { continue };
        let Some(range) = sh.file_range() else { continue };
        let Some(bytes) = elf.get(range) else { continue };
        match n {
            ".modname" => name = Some(cstr_lossy(bytes)),
            ".moddeps" => {
                deps = bytes
                    .split(|&b| b == 0)
                    .filter(|s| !s.is_empty())
                    .take(MAX_MODULES)
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect()
            }
            _ => {}
        }
    }
    Some((name, deps))
}

/// `diskboot.S`: the first block-list entry sits at the end of the
/// sector, `GRUB_BOOT_MACHINE_LIST_SIZE` (12) bytes before 0x200, and
/// further entries precede it; each is `start` (u64 LBA), `len` (u16
/// sectors), `segment` (u16), and a zero `len` ends the list.
pub const LIST_SIZE: usize = 12;
/// Entries followed at most (a sector holds fewer than 42).
const MAX_LIST_ENTRIES: usize = 40;

/// One block-list entry of diskboot.img.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    pub start: u64,
    pub len: u16,
    pub segment: u16,
}

/// The block list of a diskboot.img sector, in load order.
pub fn blocklist(sector: &[u8; 512]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut at = 0x200 - LIST_SIZE;
    while out.len() < MAX_LIST_ENTRIES {
        let start = u64::from_le_bytes(sector[at..at + 8].try_into().expect("8 bytes"));
        let len = u16::from_le_bytes([sector[at + 8], sector[at + 9]]);
        let segment = u16::from_le_bytes([sector[at + 10], sector[at + 11]]);
        if len == 0 {
            break;
        }
        out.push(Block { start, len, segment });
        match at.checked_sub(LIST_SIZE) {
            Some(a) if a >= 0x20 => at = a,
            _ => break,
        }
    }
    out
}
