//! ELF32/ELF64 kernel images through `goblin`: the header, the PT_LOAD
//! segments a loader copies, and the raw notes Xen reads (PT_NOTE segments,
//! then SHT_NOTE sections, as `xen/common/libelf/libelf-dominfo.c`
//! `elf_xen_parse` walks them) and the legacy `__xen_guest` section.

use goblin::elf::{Elf, program_header, section_header};
use serde::Serialize;

use super::error::KernelError;

/// libelf.h ELF_MAX_TOTAL_NOTE_COUNT: "too many ELF notes".
pub const MAX_TOTAL_NOTES: usize = 65_536;
/// libelf ELF_MAX_STRING_LENGTH (the `__xen_guest` string is read up to it).
pub const MAX_STRING_LENGTH: usize = 4096;
/// A kernel image whose loadable segments span more than this is absurd:
/// Xen's decompression limit XC_DOM_DECOMPRESS_MAX is 1 GiB.
pub const MAX_LOAD_SPAN: u64 = 1 << 30;

/// e_machine values the verdicts name.
pub const EM_386: u16 = 3;
pub const EM_X86_64: u16 = 62;
pub const EM_ARM: u16 = 40;

/// ELF class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ElfClass {
    Elf32,
    Elf64,
}

/// One PT_LOAD program header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadSegment {
    /// Index in the program header table.
    pub index: usize,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// PF_R = 4, PF_W = 2, PF_X = 1.
    pub flags: u32,
    pub align: u64,
}

/// Where a note came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteSource {
    /// A PT_NOTE program header (index).
    Segment(usize),
    /// An SHT_NOTE section (index).
    Section(usize),
}

/// A note as stored: `Elf{32,64}_Nhdr` + name + desc, 4-byte aligned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawNote {
    /// File offset of the note header.
    pub offset: u64,
    pub source: NoteSource,
    /// The name without its NUL ("Xen", "GNU", "Linux").
    pub name: String,
    pub note_type: u32,
    /// File offset of the descriptor.
    pub desc_offset: u64,
    #[serde(serialize_with = "super::hex_bytes")]
    pub desc: Vec<u8>,
    /// The descriptor read as libelf's `elf_strval` reads it: from the desc
    /// start up to a NUL, which may lie past descsz (Linux's FEATURES note
    /// is 41 bytes of text whose NUL is in the padding); `None` if no NUL
    /// follows within 4096 bytes or the end of the file.
    #[serde(skip)]
    pub c_string: Option<String>,
}

/// What a loader needs from the ELF header and program headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElfSummary {
    pub class: ElfClass,
    pub little_endian: bool,
    /// e_type (2 = EXEC).
    pub elf_type: u16,
    pub machine: u16,
    /// goblin's name for e_machine ("X86_64").
    pub machine_name: String,
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u16,
    pub shoff: u64,
    pub shnum: u16,
    pub load_segments: Vec<LoadSegment>,
    /// libelf `elf_parse_binary`: lowest p_paddr of loadable segments.
    pub pstart: Option<u64>,
    /// libelf: highest p_paddr + p_memsz of loadable segments.
    pub pend: Option<u64>,
    /// Bytes past the end of the ELF proper (section headers or last
    /// segment): a bzImage payload carries the relocation table there.
    pub trailing_bytes: u64,
}

/// A parsed ELF image with the note data the Xen checks need.
#[derive(Debug, Clone)]
pub struct ParsedElf {
    pub summary: ElfSummary,
    /// Notes from PT_NOTE segments with p_offset != 0 (libelf skips 0).
    pub segment_notes: Vec<RawNote>,
    /// Whether any PT_NOTE segment was walked (libelf's elf_note_start).
    pub had_note_segment: bool,
    /// Notes from SHT_NOTE sections.
    pub section_notes: Vec<RawNote>,
    pub had_note_section: bool,
    /// The `__xen_guest` section's string, if the section exists.
    pub xen_guest: Option<XenGuestSection>,
}

/// The legacy `__xen_guest` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XenGuestSection {
    pub offset: u64,
    pub text: String,
}

/// Is this an ELF file (libelf `elf_is_elfbinary`: at least an Elf32_Ehdr
/// and the magic)?
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.len() >= 52 && bytes.starts_with(b"\x7fELF")
}

/// Parses an ELF image. Errors carry offsets inside `bytes`.
pub fn parse(bytes: &[u8]) -> Result<ParsedElf, KernelError> {
    let class = match bytes.get(4) {
        Some(1) => ElfClass::Elf32,
        Some(2) => ElfClass::Elf64,
        Some(c) => return Err(KernelError::unsupported("ELF header", 4, format!("unknown ELF class {c}"))),
        None => return Err(KernelError::corrupt("ELF header", bytes.len() as u64, "file ends inside e_ident")),
    };
    check_tables(bytes, class)?;
    let elf = Elf::parse(bytes).map_err(|e| goblin_error(bytes, &e))?;
    let phent = if elf.is_64 { 56u64 } else { 32 };
    let shent = if elf.is_64 { 64u64 } else { 40 };
    let len = bytes.len() as u64;

    let mut load_segments = Vec::new();
    let mut end_of_elf = elf.header.e_phoff + phent * elf.program_headers.len() as u64;
    let mut pstart: Option<u64> = None;
    let mut pend: Option<u64> = None;
    for (index, ph) in elf.program_headers.iter().enumerate() {
        let ph_off = elf.header.e_phoff + phent * index as u64;
        let file_end = ph.p_offset.checked_add(ph.p_filesz).filter(|&e| e <= len).ok_or_else(|| {
            KernelError::corrupt(
                "ELF program header",
                ph_off,
                format!(
                    "segment {index} file range {:#x}+{:#x} is past the end of the {len:#x}-byte file",
                    ph.p_offset, ph.p_filesz
                ),
            )
        })?;
        if ph.p_type != program_header::PT_LOAD {
            continue;
        }
        end_of_elf = end_of_elf.max(file_end);
        if ph.p_memsz < ph.p_filesz {
            return Err(KernelError::corrupt(
                "ELF program header",
                ph_off,
                format!("segment {index}: p_memsz {:#x} is smaller than p_filesz {:#x}", ph.p_memsz, ph.p_filesz),
            ));
        }
        let pseg_end = ph.p_paddr.checked_add(ph.p_memsz);
        let vseg_end = ph.p_vaddr.checked_add(ph.p_memsz);
        let (Some(pseg_end), Some(_)) = (pseg_end, vseg_end) else {
            return Err(KernelError::corrupt(
                "ELF program header",
                ph_off,
                format!("segment {index}: address + p_memsz {:#x} overflows", ph.p_memsz),
            ));
        };
        // libelf elf_phdr_is_loadable: PT_LOAD with any of R/W/X.
        if ph.p_flags & 7 != 0 {
            pstart = Some(pstart.map_or(ph.p_paddr, |s| s.min(ph.p_paddr)));
            pend = Some(pend.map_or(pseg_end, |e| e.max(pseg_end)));
        }
        load_segments.push(LoadSegment {
            index,
            offset: ph.p_offset,
            vaddr: ph.p_vaddr,
            paddr: ph.p_paddr,
            filesz: ph.p_filesz,
            memsz: ph.p_memsz,
            flags: ph.p_flags,
            align: ph.p_align,
        });
    }
    check_overlaps(&elf, phent, &load_segments)?;
    if let (Some(s), Some(e)) = (pstart, pend)
        && e - s > MAX_LOAD_SPAN
    {
        return Err(KernelError::corrupt(
            "ELF program headers",
            elf.header.e_phoff,
            format!("loadable segments span {s:#x}..{e:#x}, more than 1 GiB"),
        ));
    }
    if elf.header.e_shnum > 0 {
        end_of_elf = end_of_elf.max(elf.header.e_shoff + shent * u64::from(elf.header.e_shnum));
    }
    for sh in &elf.section_headers {
        if sh.sh_type != section_header::SHT_NOBITS {
            end_of_elf = end_of_elf.max(sh.sh_offset.saturating_add(sh.sh_size).min(len));
        }
    }

    let mut total = 0usize;
    let mut segment_notes = Vec::new();
    let mut had_note_segment = false;
    for (index, ph) in elf.program_headers.iter().enumerate() {
        // libelf-dominfo.c: "Some versions of binutils do not correctly set
        // p_offset for note segments" — PT_NOTE at offset 0 is skipped.
        if ph.p_type != program_header::PT_NOTE || ph.p_offset == 0 {
            continue;
        }
        had_note_segment = true;
        walk_notes(
            bytes,
            ph.p_offset,
            ph.p_filesz,
            NoteSource::Segment(index),
            elf.little_endian,
            &mut total,
            &mut segment_notes,
        )?;
    }
    let mut section_notes = Vec::new();
    let mut had_note_section = false;
    let mut xen_guest = None;
    for (index, sh) in elf.section_headers.iter().enumerate().skip(1) {
        let sh_off = elf.header.e_shoff + shent * index as u64;
        if sh.sh_type == section_header::SHT_NOTE {
            had_note_section = true;
            if sh.sh_offset.checked_add(sh.sh_size).is_none_or(|e| e > len) {
                return Err(KernelError::corrupt(
                    "ELF section header",
                    sh_off,
                    format!(
                        "note section {index} range {:#x}+{:#x} is past the end of the file",
                        sh.sh_offset, sh.sh_size
                    ),
                ));
            }
            walk_notes(
                bytes,
                sh.sh_offset,
                sh.sh_size,
                NoteSource::Section(index),
                elf.little_endian,
                &mut total,
                &mut section_notes,
            )?;
        }
        if xen_guest.is_none() && elf.shdr_strtab.get_at(sh.sh_name) == Some("__xen_guest") {
            // libelf reads the string from the section start up to a NUL
            // (elf_strval, at most ELF_MAX_STRING_LENGTH).
            let start = usize::try_from(sh.sh_offset).ok().filter(|&s| s < bytes.len()).ok_or_else(|| {
                KernelError::corrupt(
                    "__xen_guest section",
                    sh_off,
                    format!("offset {:#x} is past the end of the file", sh.sh_offset),
                )
            })?;
            let tail = &bytes[start..];
            let window = &tail[..tail.len().min(MAX_STRING_LENGTH + 1)];
            let n = window.iter().position(|&b| b == 0).ok_or_else(|| {
                KernelError::corrupt(
                    "__xen_guest section",
                    start as u64,
                    "string has no NUL terminator (or is longer than 4096 bytes)",
                )
            })?;
            xen_guest = Some(XenGuestSection {
                offset: start as u64,
                text: String::from_utf8_lossy(&window[..n]).into_owned(),
            });
        }
    }

    let summary = ElfSummary {
        class,
        little_endian: elf.little_endian,
        elf_type: elf.header.e_type,
        machine: elf.header.e_machine,
        machine_name: goblin::elf::header::machine_to_str(elf.header.e_machine).to_string(),
        entry: elf.header.e_entry,
        phoff: elf.header.e_phoff,
        phnum: elf.header.e_phnum,
        shoff: elf.header.e_shoff,
        shnum: elf.header.e_shnum,
        load_segments,
        pstart,
        pend,
        trailing_bytes: len.saturating_sub(end_of_elf),
    };
    Ok(ParsedElf { summary, segment_notes, had_note_segment, section_notes, had_note_section, xen_guest })
}

/// Two PT_LOAD segments whose physical ranges overlap would be loaded over
/// each other: refuse them (the segment count is bounded by goblin, which
/// parsed every header from the file).
fn check_overlaps(elf: &Elf<'_>, phent: u64, segs: &[LoadSegment]) -> Result<(), KernelError> {
    let mut sorted: Vec<&LoadSegment> = segs.iter().filter(|s| s.memsz > 0).collect();
    sorted.sort_by_key(|s| s.paddr);
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.paddr + a.memsz > b.paddr {
            return Err(KernelError::corrupt(
                "ELF program header",
                elf.header.e_phoff + phent * b.index as u64,
                format!(
                    "segment {} (paddr {:#x}+{:#x}) overlaps segment {} (paddr {:#x}+{:#x})",
                    b.index, b.paddr, b.memsz, a.index, a.paddr, a.memsz
                ),
            ));
        }
    }
    Ok(())
}

fn read_u32(bytes: &[u8], at: usize, le: bool) -> u32 {
    let a = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
}

/// Walks the notes in `[start, start+size)` like libelf's `elf_note_next`
/// (12-byte header, name and desc padded to 4 bytes), but strictly: a note
/// that does not fit its container is an error with its offset.
fn walk_notes(
    bytes: &[u8],
    start: u64,
    size: u64,
    source: NoteSource,
    le: bool,
    total: &mut usize,
    out: &mut Vec<RawNote>,
) -> Result<(), KernelError> {
    let end = start.checked_add(size).filter(|&e| e <= bytes.len() as u64).ok_or_else(|| {
        KernelError::corrupt("ELF notes", start, format!("note area {start:#x}+{size:#x} is past the end of the file"))
    })?;
    let (mut p, end) = (start as usize, end as usize);
    // Each note advances p by at least 12 bytes, and the total is capped.
    while p < end {
        if end - p < 12 {
            // Padding at the end of a note area is common; only a partial
            // header with non-zero bytes is corrupt.
            if bytes[p..end].iter().all(|&b| b == 0) {
                break;
            }
            return Err(KernelError::corrupt(
                "ELF note",
                p as u64,
                format!("{} bytes left, too few for a note header", end - p),
            ));
        }
        if *total >= MAX_TOTAL_NOTES {
            return Err(KernelError::corrupt("ELF notes", p as u64, "too many ELF notes"));
        }
        *total += 1;
        let namesz = read_u32(bytes, p, le) as usize;
        let descsz = read_u32(bytes, p + 4, le) as usize;
        let note_type = read_u32(bytes, p + 8, le);
        let name_at = p + 12;
        let desc_at = name_at.checked_add(namesz.next_multiple_of(4));
        let next = desc_at.and_then(|d| d.checked_add(descsz.next_multiple_of(4)));
        let (Some(desc_at), Some(next)) = (desc_at, next) else {
            return Err(KernelError::corrupt("ELF note", p as u64, "note sizes overflow"));
        };
        if name_at + namesz > end || desc_at + descsz > end {
            return Err(KernelError::corrupt(
                "ELF note",
                p as u64,
                format!(
                    "note with namesz {namesz:#x} and descsz {descsz:#x} runs past the end of its area at {end:#x}"
                ),
            ));
        }
        let raw_name = &bytes[name_at..name_at + namesz];
        let name_bytes = raw_name.split(|&b| b == 0).next().unwrap_or(&[]);
        out.push(RawNote {
            offset: p as u64,
            source,
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            note_type,
            desc_offset: desc_at as u64,
            desc: bytes[desc_at..desc_at + descsz].to_vec(),
            c_string: c_string_at(bytes, desc_at),
        });
        p = next.min(end);
    }
    Ok(())
}

fn c_string_at(bytes: &[u8], at: usize) -> Option<String> {
    let tail = bytes.get(at..)?;
    let window = &tail[..tail.len().min(MAX_STRING_LENGTH + 1)];
    let n = window.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&window[..n]).into_owned())
}

/// The ELF header, program header table, section header table and the
/// section-name string table fit in the file (what libelf's
/// `elf_init` checks before it trusts them): checked here, in our words
/// with the offsets and the file size, before the parser sees the bytes.
fn check_tables(bytes: &[u8], class: ElfClass) -> Result<(), KernelError> {
    let len = bytes.len() as u64;
    let is64 = class == ElfClass::Elf64;
    let ehsize: u64 = if is64 { 64 } else { 52 };
    if len < ehsize {
        return Err(KernelError::corrupt(
            "ELF header",
            0,
            format!("the {ehsize}-byte ELF header does not fit in the file ({len} bytes)"),
        ));
    }
    let big = bytes[5] == 2;
    let u16_at = |at: usize| {
        let b = [bytes[at], bytes[at + 1]];
        u64::from(if big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        u64::from(if big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        if big { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) }
    };
    // elf.h: Elf32_Ehdr / Elf64_Ehdr field offsets.
    let (phoff, shoff, phentsize, phnum, shentsize, shnum, shstrndx) = if is64 {
        (u64_at(32), u64_at(40), u16_at(54), u16_at(56), u16_at(58), u16_at(60), u16_at(62))
    } else {
        (u32_at(28), u32_at(32), u16_at(42), u16_at(44), u16_at(46), u16_at(48), u16_at(50))
    };
    let (want_ph, want_sh) = if is64 { (56, 64) } else { (32, 40) };
    // `field`: where e_*entsize is; `at`: where e_*off is (the error's
    // offset stays inside the file, at the field that points outside it).
    let table = |what: &'static str, field: u64, at: u64, off: u64, num: u64, entsize: u64, want: u64| {
        if num == 0 {
            return Ok(());
        }
        if entsize != want {
            return Err(KernelError::corrupt(
                what,
                field,
                format!(
                    "entries of {entsize} bytes; an ELF{} file has {want}-byte entries",
                    if is64 { 64 } else { 32 }
                ),
            ));
        }
        match off.checked_add(num * entsize) {
            Some(end) if end <= len => Ok(()),
            _ => Err(KernelError::corrupt(
                what,
                at,
                format!(
                    "{num} entries of {entsize} bytes from byte {off:#x} run past the end of the file ({len} bytes)"
                ),
            )),
        }
    };
    table(
        "ELF program header table",
        if is64 { 54 } else { 42 },
        if is64 { 32 } else { 28 },
        phoff,
        phnum,
        phentsize,
        want_ph,
    )?;
    table(
        "ELF section header table",
        if is64 { 58 } else { 46 },
        if is64 { 40 } else { 32 },
        shoff,
        shnum,
        shentsize,
        want_sh,
    )?;
    if shnum > 0 && shstrndx != 0 && shstrndx < shnum {
        // The section-name string table's own header: sh_type, sh_offset, sh_size.
        let at = (shoff + shstrndx * shentsize) as usize;
        let (ty, off, size) = if is64 {
            (u32_at(at + 4), u64_at(at + 24), u64_at(at + 32))
        } else {
            (u32_at(at + 4), u32_at(at + 16), u32_at(at + 20))
        };
        // SHT_NOBITS (8) occupies no file bytes.
        if ty != 8 && off.checked_add(size).is_none_or(|end| end > len) {
            return Err(KernelError::corrupt(
                "ELF section-name string table",
                at as u64,
                format!(
                    "section {shstrndx} claims {size} bytes at byte {off:#x}, past the end of the file ({len} bytes)"
                ),
            ));
        }
    }
    Ok(())
}

/// What the parser found wrong after [`check_tables`], in our words: the
/// structure, where, and the file's size (not the parser's own phrasing,
/// e.g. "type is too big (2) for 0").
fn goblin_error(bytes: &[u8], e: &goblin::error::Error) -> KernelError {
    use goblin::error::Error as G;
    let len = bytes.len();
    match e {
        G::BadMagic(m) => KernelError::unsupported("ELF header", 0, format!("bad magic {m:#x}")),
        G::BufferTooShort(n, what) => KernelError::corrupt(
            "ELF",
            len as u64,
            format!("the file ({len} bytes) ends before {n} {what} that its headers declare"),
        ),
        G::Scroll(_) => KernelError::corrupt(
            "ELF",
            0,
            format!("a table or section the headers point at runs past the end of the file ({len} bytes)"),
        ),
        G::Malformed(_) | G::IO(_) => KernelError::corrupt(
            "ELF",
            0,
            format!("a section or segment the headers declare is malformed ({len}-byte file)"),
        ),
        _ => KernelError::corrupt("ELF", 0, format!("malformed ELF file ({len} bytes)")),
    }
}
