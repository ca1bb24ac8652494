//! Xen ELF notes (`xen/include/public/elfnote.h`) decoded into typed values,
//! and the acceptance checks of Xen's ELF loader reproduced with its words:
//! `xen/common/libelf/libelf-dominfo.c` (`elf_xen_parse`,
//! `elf_xen_parse_note`, `elf_xen_parse_guest_info`, `elf_xen_note_check`,
//! `elf_xen_addr_calc_check`, `elf_xen_parse_features`) and
//! `tools/libs/guest/xg_dom_elfloader.c` (`xc_dom_parse_elf_kernel`,
//! `xc_dom_guest_type`).

use serde::Serialize;

use super::elf::{EM_386, EM_ARM, EM_X86_64, ParsedElf, RawNote};
use super::error::KernelError;

/// The note owner name Xen looks for.
pub const XEN_NOTE_NAME: &str = "Xen";

/// elfnote.h note types.
pub mod note_type {
    pub const INFO: u32 = 0;
    pub const ENTRY: u32 = 1;
    pub const HYPERCALL_PAGE: u32 = 2;
    pub const VIRT_BASE: u32 = 3;
    pub const PADDR_OFFSET: u32 = 4;
    pub const XEN_VERSION: u32 = 5;
    pub const GUEST_OS: u32 = 6;
    pub const GUEST_VERSION: u32 = 7;
    pub const LOADER: u32 = 8;
    pub const PAE_MODE: u32 = 9;
    pub const FEATURES: u32 = 10;
    pub const BSD_SYMTAB: u32 = 11;
    pub const HV_START_LOW: u32 = 12;
    pub const L1_MFN_VALID: u32 = 13;
    pub const SUSPEND_CANCEL: u32 = 14;
    pub const INIT_P2M: u32 = 15;
    pub const MOD_START_PFN: u32 = 16;
    pub const SUPPORTED_FEATURES: u32 = 17;
    pub const PHYS32_ENTRY: u32 = 18;
    pub const PHYS32_RELOC: u32 = 19;
}

/// elfnote.h name of a note type (libelf's `note_desc[].name`).
pub fn note_name(t: u32) -> Option<&'static str> {
    use note_type::*;
    Some(match t {
        INFO => "INFO",
        ENTRY => "ENTRY",
        HYPERCALL_PAGE => "HYPERCALL_PAGE",
        VIRT_BASE => "VIRT_BASE",
        PADDR_OFFSET => "PADDR_OFFSET",
        XEN_VERSION => "XEN_VERSION",
        GUEST_OS => "GUEST_OS",
        GUEST_VERSION => "GUEST_VERSION",
        LOADER => "LOADER",
        PAE_MODE => "PAE_MODE",
        FEATURES => "FEATURES",
        BSD_SYMTAB => "BSD_SYMTAB",
        HV_START_LOW => "HV_START_LOW",
        L1_MFN_VALID => "L1_MFN_VALID",
        SUSPEND_CANCEL => "SUSPEND_CANCEL",
        INIT_P2M => "INIT_P2M",
        MOD_START_PFN => "MOD_START_PFN",
        SUPPORTED_FEATURES => "SUPPORTED_FEATURES",
        PHYS32_ENTRY => "PHYS32_ENTRY",
        PHYS32_RELOC => "PHYS32_RELOC",
        _ => return None,
    })
}

/// features.h names libelf knows (`elf_xen_feature_names`); any other name
/// marked required ('!') makes `elf_xen_parse_features` fail.
const FEATURE_NAMES: [(u32, &str); 7] = [
    (0, "writable_page_tables"),
    (1, "writable_descriptor_tables"),
    (2, "auto_translated_physmap"),
    (3, "supervisor_mode_kernel"),
    (4, "pae_pgdir_above_4gb"),
    (8, "hvm_callback_vector"),
    (11, "dom0"),
];
/// features.h XENFEAT_dom0.
pub const XENFEAT_DOM0: u32 = 11;

/// A decoded Xen note value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum XenNoteValue {
    /// ENTRY, HYPERCALL_PAGE, VIRT_BASE, PADDR_OFFSET, HV_START_LOW,
    /// SUSPEND_CANCEL, INIT_P2M, MOD_START_PFN, PHYS32_ENTRY (1, 2, 4 or 8
    /// bytes, the ELF's byte order).
    Number(u64),
    /// XEN_VERSION, GUEST_OS, GUEST_VERSION, LOADER, PAE_MODE, BSD_SYMTAB.
    String(String),
    /// FEATURES: the string and what libelf makes of it.
    Features(FeatureSet),
    /// SUPPORTED_FEATURES: a bitmap of XENFEAT_* numbers (one 32-bit submap).
    FeatureBitmap(u32),
    /// L1_MFN_VALID: mask/value pairs of maddr_t (8 bytes on x86-64).
    MaskValuePairs(Vec<(u64, u64)>),
    /// PHYS32_RELOC: alignment, min and max (each present if descsz allows).
    Phys32Reloc { align: Option<u32>, min: Option<u32>, max: Option<u32> },
    /// INFO or an unknown type: libelf logs "ELF: note: unknown" and skips it.
    Unknown,
}

/// The FEATURES string split the way `elf_xen_parse_features` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureSet {
    pub text: String,
    /// Names libelf recognised as supported (including required ones).
    pub supported: Vec<String>,
    /// Names marked '!' that libelf recognised.
    pub required: Vec<String>,
    /// Names libelf does not know (ignored unless required).
    pub unknown: Vec<String>,
    /// Unknown names marked '!': libelf fails the whole parse on these.
    pub unknown_required: Vec<String>,
    /// Bitmap of supported XENFEAT_* numbers.
    pub supported_bits: u32,
    /// Bitmap of required XENFEAT_* numbers.
    pub required_bits: u32,
}

/// One decoded Xen note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XenNote {
    pub note_type: u32,
    /// elfnote.h name, or None for types libelf does not know.
    pub name: Option<&'static str>,
    /// File offset of the note header (in the ELF).
    pub offset: u64,
    pub desc_size: u32,
    #[serde(serialize_with = "super::hex_bytes")]
    pub desc: Vec<u8>,
    pub value: XenNoteValue,
}

/// Parses a FEATURES string like `elf_xen_parse_features`: '|'-separated
/// names of at most 63 bytes, '!' marks a required feature.
pub fn parse_features(text: &str) -> FeatureSet {
    let mut set = FeatureSet {
        text: text.to_string(),
        supported: Vec::new(),
        required: Vec::new(),
        unknown: Vec::new(),
        unknown_required: Vec::new(),
        supported_bits: 0,
        required_bits: 0,
    };
    let bytes = text.as_bytes();
    let mut pos = 0;
    // Each token consumes at least one byte.
    while pos < bytes.len() {
        let mut len = 0;
        let mut token = Vec::new();
        loop {
            if len >= 63 || pos + len >= bytes.len() {
                break;
            }
            if bytes[pos + len] == b'|' {
                len += 1;
                break;
            }
            token.push(bytes[pos + len]);
            len += 1;
        }
        pos += len.max(1);
        let token = String::from_utf8_lossy(&token).into_owned();
        let (required, name) = match token.strip_prefix('!') {
            Some(n) => (true, n.to_string()),
            None => (false, token.clone()),
        };
        if name.is_empty() && !required {
            continue;
        }
        match FEATURE_NAMES.iter().find(|(_, n)| *n == name) {
            Some(&(bit, n)) => {
                set.supported.push(n.to_string());
                set.supported_bits |= 1 << bit;
                if required {
                    set.required.push(n.to_string());
                    set.required_bits |= 1 << bit;
                }
            }
            None if required => set.unknown_required.push(name),
            None => set.unknown.push(name),
        }
    }
    set
}

fn numeric(note: &RawNote, little_endian: bool) -> Result<u64, KernelError> {
    let d = &note.desc;
    let v = match d.len() {
        1 => u64::from(d[0]),
        2 => {
            let a = [d[0], d[1]];
            u64::from(if little_endian { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) })
        }
        4 => {
            let a = [d[0], d[1], d[2], d[3]];
            u64::from(if little_endian { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
        }
        8 => {
            let a: [u8; 8] = d[..8].try_into().unwrap_or([0; 8]);
            if little_endian { u64::from_le_bytes(a) } else { u64::from_be_bytes(a) }
        }
        n => {
            return Err(KernelError::corrupt(
                "Xen ELF note",
                note.offset,
                format!(
                    "{} has a {n}-byte value; numeric notes are 1, 2, 4 or 8 bytes (libelf would read 0)",
                    note_name(note.note_type).unwrap_or("note")
                ),
            ));
        }
    };
    Ok(v)
}

/// A string note as libelf's `elf_strval` reads it (see [`RawNote::c_string`]).
fn string(note: &RawNote) -> Result<String, KernelError> {
    note.c_string.clone().ok_or_else(|| {
        KernelError::corrupt(
            "Xen ELF note",
            note.offset,
            format!(
                "{} string has no NUL terminator within 4096 bytes of its start",
                note_name(note.note_type).unwrap_or("note")
            ),
        )
    })
}

fn u32_at(d: &[u8], at: usize, le: bool) -> u32 {
    let a = [d[at], d[at + 1], d[at + 2], d[at + 3]];
    if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
}

/// Decodes one note named "Xen" (elfnote.h types; libelf `note_desc` table
/// says which are numbers, strings or bare names).
pub fn decode_note(note: &RawNote, little_endian: bool) -> Result<XenNote, KernelError> {
    use note_type::*;
    let value = match note.note_type {
        ENTRY | HYPERCALL_PAGE | VIRT_BASE | PADDR_OFFSET | HV_START_LOW | SUSPEND_CANCEL | INIT_P2M
        | MOD_START_PFN | PHYS32_ENTRY => XenNoteValue::Number(numeric(note, little_endian)?),
        XEN_VERSION | GUEST_OS | GUEST_VERSION | LOADER | PAE_MODE | BSD_SYMTAB => XenNoteValue::String(string(note)?),
        FEATURES => XenNoteValue::Features(parse_features(&string(note)?)),
        SUPPORTED_FEATURES => {
            // libelf elf_note_numeric_array(note, 4, i) for each submap:
            // a size that is not a multiple of 4 reads as 0.
            let d = &note.desc;
            let v = if d.len() >= 4 && d.len().is_multiple_of(4) { u32_at(d, 0, little_endian) } else { 0 };
            XenNoteValue::FeatureBitmap(v)
        }
        L1_MFN_VALID => {
            let d = &note.desc;
            let mut pairs = Vec::new();
            // At most desc/16 iterations.
            for c in d.chunks_exact(16) {
                let m: [u8; 8] = c[..8].try_into().unwrap_or([0; 8]);
                let v: [u8; 8] = c[8..].try_into().unwrap_or([0; 8]);
                let (m, v) = if little_endian {
                    (u64::from_le_bytes(m), u64::from_le_bytes(v))
                } else {
                    (u64::from_be_bytes(m), u64::from_be_bytes(v))
                };
                pairs.push((m, v));
            }
            XenNoteValue::MaskValuePairs(pairs)
        }
        PHYS32_RELOC => {
            let d = &note.desc;
            let get = |i: usize| (d.len() >= 4 * (i + 1)).then(|| u32_at(d, 4 * i, little_endian));
            XenNoteValue::Phys32Reloc { align: get(0), min: get(1), max: get(2) }
        }
        _ => XenNoteValue::Unknown,
    };
    Ok(XenNote {
        note_type: note.note_type,
        name: note_name(note.note_type),
        offset: note.offset,
        desc_size: note.desc.len() as u32,
        desc: note.desc.clone(),
        value,
    })
}

/// libelf.h `enum xen_pae_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaeMode {
    No,
    Yes,
    ExtendedCr3,
    Bimodal,
}

/// What libelf extracts into `struct elf_dom_parms` (the fields a PV
/// loader uses), before the address checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XenParams {
    /// Where the values came from.
    pub source: XenParamSource,
    pub loader: String,
    pub guest_os: String,
    pub guest_ver: String,
    pub xen_ver: String,
    pub pae: PaeMode,
    pub bsd_symtab: bool,
    pub virt_base: Option<u64>,
    pub virt_entry: Option<u64>,
    pub virt_hypercall: Option<u64>,
    pub virt_hv_start_low: Option<u64>,
    pub p2m_base: Option<u64>,
    pub elf_paddr_offset: Option<u64>,
    pub phys_entry: Option<u32>,
    pub unmapped_initrd: bool,
    pub features_supported: u32,
    pub features_required: u32,
    /// Required feature names libelf does not know (the parse fails).
    pub unknown_required_features: Vec<String>,
}

/// Which of libelf's three sources gave the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XenParamSource {
    /// "Xen" notes in PT_NOTE segments.
    NoteSegments,
    /// "Xen" notes in SHT_NOTE sections ("ELF: using notes from SHT_NOTE section").
    NoteSections,
    /// The legacy `__xen_guest` string.
    XenGuestSection,
    /// Nothing Xen-specific was found.
    None,
}

/// The Xen-facing content of an ELF: the decoded notes and libelf's params.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XenInfo {
    /// Decoded "Xen" notes, in file order, from the source libelf used.
    pub notes: Vec<XenNote>,
    /// The `__xen_guest` string when the section exists.
    pub xen_guest: Option<String>,
    /// libelf's elf_note_start != NULL: some PT_NOTE/SHT_NOTE area was
    /// walked (even if it held no Xen note).
    pub note_area_seen: bool,
    pub params: XenParams,
}

fn empty_params() -> XenParams {
    XenParams {
        source: XenParamSource::None,
        loader: String::new(),
        guest_os: String::new(),
        guest_ver: String::new(),
        xen_ver: String::new(),
        pae: PaeMode::No,
        bsd_symtab: false,
        virt_base: None,
        virt_entry: None,
        virt_hypercall: None,
        virt_hv_start_low: None,
        p2m_base: None,
        elf_paddr_offset: None,
        phys_entry: None,
        unmapped_initrd: false,
        features_supported: 0,
        features_required: 0,
        unknown_required_features: Vec::new(),
    }
}

/// `elf_xen_parse` without the checks: PT_NOTE notes, else SHT_NOTE notes,
/// else (PV only; we always report it) the `__xen_guest` string.
pub fn collect(elf: &ParsedElf) -> Result<XenInfo, KernelError> {
    let le = elf.summary.little_endian;
    let xen = |v: &[RawNote]| -> Vec<RawNote> { v.iter().filter(|n| n.name == XEN_NOTE_NAME).cloned().collect() };
    let seg = xen(&elf.segment_notes);
    let (raw, source) = if !seg.is_empty() {
        (seg, XenParamSource::NoteSegments)
    } else {
        let sec = xen(&elf.section_notes);
        if sec.is_empty() { (Vec::new(), XenParamSource::None) } else { (sec, XenParamSource::NoteSections) }
    };
    let notes = raw.iter().map(|n| decode_note(n, le)).collect::<Result<Vec<_>, _>>()?;
    let mut p = empty_params();
    p.source = source;
    for n in &notes {
        apply_note(&mut p, n);
    }
    let xen_guest = elf.xen_guest.as_ref().map(|g| g.text.clone());
    if notes.is_empty()
        && let Some(text) = &xen_guest
    {
        p.source = XenParamSource::XenGuestSection;
        apply_guest_info(&mut p, text);
    }
    Ok(XenInfo {
        notes,
        xen_guest,
        note_area_seen: (elf.had_note_segment || elf.had_note_section) && p.source != XenParamSource::XenGuestSection,
        params: p,
    })
}

/// `elf_xen_parse_note`'s switch: store the value into the params.
fn apply_note(p: &mut XenParams, n: &XenNote) {
    use note_type::*;
    let num = match &n.value {
        XenNoteValue::Number(v) => Some(*v),
        _ => None,
    };
    let s = match &n.value {
        XenNoteValue::String(s) => Some(s.as_str()),
        _ => None,
    };
    match n.note_type {
        LOADER => p.loader = s.unwrap_or_default().to_string(),
        GUEST_OS => p.guest_os = s.unwrap_or_default().to_string(),
        GUEST_VERSION => p.guest_ver = s.unwrap_or_default().to_string(),
        XEN_VERSION => p.xen_ver = s.unwrap_or_default().to_string(),
        PAE_MODE => {
            let s = s.unwrap_or_default();
            if s == "yes" {
                p.pae = PaeMode::ExtendedCr3;
            }
            if s.contains("bimodal") {
                p.pae = PaeMode::Bimodal;
            }
        }
        BSD_SYMTAB if s == Some("yes") => p.bsd_symtab = true,
        VIRT_BASE => p.virt_base = num,
        ENTRY => p.virt_entry = num,
        INIT_P2M => p.p2m_base = num,
        MOD_START_PFN => p.unmapped_initrd = num.is_some_and(|v| v != 0),
        PADDR_OFFSET => p.elf_paddr_offset = num,
        HYPERCALL_PAGE => p.virt_hypercall = num,
        HV_START_LOW => p.virt_hv_start_low = num,
        FEATURES => {
            if let XenNoteValue::Features(f) = &n.value {
                p.features_supported |= f.supported_bits;
                p.features_required |= f.required_bits;
                p.unknown_required_features.extend(f.unknown_required.iter().cloned());
            }
        }
        SUPPORTED_FEATURES => {
            if let XenNoteValue::FeatureBitmap(b) = n.value {
                p.features_supported |= b;
            }
        }
        // libelf stores phys_entry as uint32_t.
        PHYS32_ENTRY => p.phys_entry = num.map(|v| v as u32),
        _ => {}
    }
}

/// C `strtoull(value, NULL, 0)`: 0x-prefixed hex, 0-prefixed octal, else
/// decimal; stops at the first invalid digit; saturates on overflow.
fn strtoull(s: &str) -> u64 {
    let s = s.trim_start();
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let mut v: u64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        v = match v.checked_mul(u64::from(radix)).and_then(|v| v.checked_add(u64::from(d))) {
            Some(v) => v,
            None => return u64::MAX,
        };
    }
    v
}

/// `elf_xen_parse_guest_info`: "NAME=VALUE,NAME=VALUE"; names are cut at
/// 31 bytes and values at 127, as libelf's buffers do.
pub fn apply_guest_info(p: &mut XenParams, text: &str) {
    for item in split_guest_info(text) {
        let (name, value) = (item.0.as_str(), item.1.as_str());
        match name {
            "LOADER" => p.loader = value.to_string(),
            "GUEST_OS" => p.guest_os = value.to_string(),
            "GUEST_VER" => p.guest_ver = value.to_string(),
            "XEN_VER" => p.xen_ver = value.to_string(),
            "PAE" => {
                if value == "yes[extended-cr3]" {
                    p.pae = PaeMode::ExtendedCr3;
                } else if value.starts_with("yes") {
                    p.pae = PaeMode::Yes;
                }
            }
            "BSD_SYMTAB" => p.bsd_symtab = true,
            "VIRT_BASE" => p.virt_base = Some(strtoull(value)),
            "VIRT_ENTRY" => p.virt_entry = Some(strtoull(value)),
            "ELF_PADDR_OFFSET" => p.elf_paddr_offset = Some(strtoull(value)),
            // In the legacy string HYPERCALL_PAGE is a page number.
            "HYPERCALL_PAGE" => p.virt_hypercall = Some(strtoull(value).wrapping_shl(12)),
            "FEATURES" => {
                let f = parse_features(value);
                p.features_supported |= f.supported_bits;
                p.features_required |= f.required_bits;
                p.unknown_required_features.extend(f.unknown_required);
            }
            _ => {}
        }
    }
    if let (Some(base), Some(hc)) = (p.virt_base, p.virt_hypercall) {
        p.virt_hypercall = Some(hc.wrapping_add(base));
    }
}

/// The NAME=VALUE pairs of a `__xen_guest` string, split like libelf does.
pub fn split_guest_info(text: &str) -> Vec<(String, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut h = 0;
    // Each item consumes at least one byte (or ends the loop).
    while h < b.len() && b[h] != 0 {
        let start = h;
        let mut name = Vec::new();
        let mut value = Vec::new();
        let mut len = 0;
        loop {
            if len >= 31 || h >= b.len() {
                break;
            }
            if b[h] == b',' {
                h += 1;
                break;
            }
            if b[h] == b'=' {
                h += 1;
                let mut vlen = 0;
                loop {
                    if vlen >= 127 || h >= b.len() {
                        break;
                    }
                    if b[h] == b',' {
                        h += 1;
                        break;
                    }
                    value.push(b[h]);
                    vlen += 1;
                    h += 1;
                }
                break;
            }
            name.push(b[h]);
            len += 1;
            h += 1;
        }
        if h == start {
            h += 1;
        }
        out.push((String::from_utf8_lossy(&name).into_owned(), String::from_utf8_lossy(&value).into_owned()));
    }
    out
}

/// The addresses `elf_xen_addr_calc_check` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PvLayout {
    pub virt_base: u64,
    pub elf_paddr_offset: u64,
    pub virt_offset: u64,
    pub virt_kstart: u64,
    pub virt_kend: u64,
    pub virt_entry: u64,
    pub p2m_base: Option<u64>,
    pub virt_hypercall: Option<u64>,
}

/// Why Xen's ELF loader rejects a kernel: libelf's `elf_xen_parse` /
/// `elf_xen_note_check` / `elf_xen_addr_calc_check`
/// (xen/common/libelf/libelf-dominfo.c) or libxc's `xc_dom_guest_type`
/// (tools/libs/guest/xg_dom_x86.c). The message is Xen's own line, without
/// the trailing newline, as `xl create` prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XenElfError {
    /// `elf_xen_parse_features` returns -1 on a required feature it does
    /// not know.
    #[error("elf_xen_parse_features: unknown required feature(s) {}", .features.join(", "))]
    UnknownRequiredFeatures { features: Vec<String> },
    /// An x86 image with neither an ELF note area nor `__xen_guest`.
    #[error("ERROR: Not a Xen-ELF image: No ELF notes or '__xen_guest' section found")]
    NotXenElf,
    /// LOADER is not `generic*` and GUEST_OS not `linux*`.
    #[error(
        "ERROR: Will only load images built for the generic loader or Linux images (Not '{loader}' and '{guest_os}') or with PHYS32_ENTRY set"
    )]
    LoaderOrGuestOs { loader: String, guest_os: String },
    /// XEN_VERSION does not start with `xen-3.0`.
    #[error("ERROR: Xen will only load images built for Xen v3.0 (Not '{xen_ver}')")]
    XenVersion { xen_ver: String },
    /// PADDR_OFFSET without VIRT_BASE (PV).
    #[error("ERROR: ELF_PADDR_OFFSET set, VIRT_BASE unset")]
    PaddrOffsetWithoutVirtBase,
    /// The kernel's virtual range, its entry or VIRT_BASE do not fit.
    #[error("ERROR: ELF start or entries are out of bounds")]
    AddressesOutOfBounds { virt_base: u64, virt_kstart: u64, virt_kend: u64, virt_entry: u64 },
    /// INIT_P2M lies inside the kernel's virtual range.
    #[error("ERROR: P->M table base is out of bounds")]
    P2mOutOfBounds { p2m_base: u64 },
    /// `xc_dom_guest_type`: an ELF machine other than EM_386/EM_X86_64.
    #[error("xc_dom_guest_type: unknown image type {machine}")]
    UnknownImageType { machine: u16 },
}

/// The outcome of libelf's checks for one container type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibelfOutcome {
    /// The layout, or why libelf rejects the image.
    pub result: Result<PvLayout, XenElfError>,
    /// "ELF: Found PVH image" and similar informational lines.
    pub messages: Vec<String>,
}

/// `elf_xen_note_check` + `elf_xen_addr_calc_check` for `hvm` (PVH
/// container) or PV. `pstart`/`pend` are libelf's `elf_parse_binary`
/// bounds of the loadable segments.
pub fn libelf_check(info: &XenInfo, machine: u16, entry: u64, pstart: u64, pend: u64, hvm: bool) -> LibelfOutcome {
    let mut messages = Vec::new();
    let p = &info.params;
    if !p.unknown_required_features.is_empty() {
        // elf_xen_parse_features returns -1, which fails elf_xen_parse
        // before any message is printed.
        return LibelfOutcome {
            result: Err(XenElfError::UnknownRequiredFeatures { features: p.unknown_required_features.clone() }),
            messages,
        };
    }
    // elf_xen_note_check
    let guest_info_used = p.source == XenParamSource::XenGuestSection;
    if !info.note_area_seen && !guest_info_used {
        if machine == EM_386 || machine == EM_X86_64 {
            return LibelfOutcome { result: Err(XenElfError::NotXenElf), messages };
        }
        messages.push("no Xen notes on a non-x86 image: libelf does not check it".into());
    } else if machine == EM_ARM {
        messages.push("ELF: Not bothering with notes on ARM".into());
    } else if p.phys_entry.is_some() && hvm {
        messages.push("ELF: Found PVH image".into());
    } else {
        let loader_ok = p.loader.starts_with("generic");
        let os_ok = p.guest_os.starts_with("linux");
        if !loader_ok && !os_ok {
            return LibelfOutcome {
                result: Err(XenElfError::LoaderOrGuestOs { loader: p.loader.clone(), guest_os: p.guest_os.clone() }),
                messages,
            };
        }
        if !p.xen_ver.starts_with("xen-3.0") {
            return LibelfOutcome { result: Err(XenElfError::XenVersion { xen_ver: p.xen_ver.clone() }), messages };
        }
    }
    // elf_xen_addr_calc_check
    if p.elf_paddr_offset.is_some() && p.virt_base.is_none() && !hvm {
        return LibelfOutcome { result: Err(XenElfError::PaddrOffsetWithoutVirtBase), messages };
    }
    let virt_base = match p.virt_base {
        Some(v) if !hvm => v,
        _ => {
            if !hvm {
                messages.push("ELF: VIRT_BASE unset, using 0".into());
            }
            0
        }
    };
    let elf_paddr_offset = match p.elf_paddr_offset {
        Some(v) if !hvm => v,
        _ => {
            // Legacy __xen_guest: defaults to virt_base; notes: 0.
            let v = if info.note_area_seen || hvm { 0 } else { virt_base };
            if !hvm {
                messages.push(format!("ELF_PADDR_OFFSET unset, using {v:#x}"));
            }
            v
        }
    };
    let virt_offset = virt_base.wrapping_sub(elf_paddr_offset);
    let virt_kstart = pstart.wrapping_add(virt_offset);
    let virt_kend = pend.wrapping_add(virt_offset);
    let virt_entry = match p.virt_entry {
        Some(v) if !hvm => v,
        _ => match p.phys_entry {
            Some(pe) if hvm => u64::from(pe),
            _ => entry,
        },
    };
    let layout = PvLayout {
        virt_base,
        elf_paddr_offset,
        virt_offset,
        virt_kstart,
        virt_kend,
        virt_entry,
        p2m_base: p.p2m_base,
        virt_hypercall: p.virt_hypercall,
    };
    if virt_kstart > virt_kend || virt_entry < virt_kstart || virt_entry > virt_kend || virt_base > virt_kstart {
        return LibelfOutcome {
            result: Err(XenElfError::AddressesOutOfBounds { virt_base, virt_kstart, virt_kend, virt_entry }),
            messages,
        };
    }
    if let Some(p2m) = p.p2m_base
        && p2m >= virt_kstart
        && p2m < virt_kend
    {
        return LibelfOutcome { result: Err(XenElfError::P2mOutOfBounds { p2m_base: p2m }), messages };
    }
    LibelfOutcome { result: Ok(layout), messages }
}

/// `xc_dom_guest_type` for a PV container.
pub fn pv_guest_type(machine: u16, pae: PaeMode) -> Result<&'static str, XenElfError> {
    match machine {
        EM_386 => Ok(match pae {
            // Bimodal: "xen-3.0-x86_32p" when the hypervisor offers it.
            PaeMode::Bimodal | PaeMode::ExtendedCr3 | PaeMode::Yes => "xen-3.0-x86_32p",
            PaeMode::No => "xen-3.0-x86_32",
        }),
        EM_X86_64 => Ok("xen-3.0-x86_64"),
        machine => Err(XenElfError::UnknownImageType { machine }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_like_libelf() {
        let f = parse_features("!writable_page_tables|pae_pgdir_above_4gb|frobnicate");
        assert_eq!(f.required, vec!["writable_page_tables"]);
        assert_eq!(f.supported, vec!["writable_page_tables", "pae_pgdir_above_4gb"]);
        assert_eq!(f.unknown, vec!["frobnicate"]);
        assert_eq!(f.supported_bits, 0b10001);
        assert_eq!(f.required_bits, 1);
        let f = parse_features("!hvm_safe_pvclock");
        assert_eq!(f.unknown_required, vec!["hvm_safe_pvclock"]);
        let f = parse_features("!dom0");
        assert_eq!(f.required_bits, 1 << XENFEAT_DOM0);
    }

    #[test]
    fn guest_info_like_libelf() {
        let mut p = empty_params();
        apply_guest_info(
            &mut p,
            "GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xC0000000,ELF_PADDR_OFFSET=0xC0000000,HYPERCALL_PAGE=0x2,LOADER=generic,PAE=yes[extended-cr3]",
        );
        assert_eq!(p.guest_os, "linux");
        assert_eq!(p.xen_ver, "xen-3.0");
        assert_eq!(p.virt_base, Some(0xC000_0000));
        assert_eq!(p.elf_paddr_offset, Some(0xC000_0000));
        assert_eq!(p.virt_hypercall, Some(0xC000_2000));
        assert_eq!(p.pae, PaeMode::ExtendedCr3);
        assert_eq!(strtoull("017"), 15);
        assert_eq!(strtoull("12abc"), 12);
        assert_eq!(strtoull("0xffffffffffffffffff"), u64::MAX);
    }
}
