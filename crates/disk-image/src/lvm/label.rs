//! The on-disk parts of an LVM2 physical volume before the text: the label
//! (`lib/label/label.h` `struct label_header`), the PV header
//! (`lib/format_text/layout.h` `struct pv_header` with its two
//! NUL-terminated `disk_locn` lists) and the metadata area header
//! (`struct mda_header` with its `raw_locn` list), and the text metadata
//! read out of the area's circular buffer as `format-text.c`
//! `_vg_read_raw_area` does.

use bytemuck::{Pod, Zeroable};

use crate::error::{DiskError, Result};
use crate::le::{Le32, Le64};
use crate::read::ReadAt;
use crate::units::ByteOffset;

/// `label.h` LABEL_SCAN_SECTORS: the label is in one of sectors 0–3.
pub const LABEL_SCAN_SECTORS: u64 = 4;
pub const LABEL_ID: &[u8; 8] = b"LABELONE";
/// `layout.h` LVM2_LABEL.
pub const LVM2_LABEL: &[u8; 8] = b"LVM2 001";
/// `layout.h` FMTT_MAGIC.
pub const FMTT_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
pub const FMTT_VERSION: u32 = 1;
/// `layout.h` MDA_HEADER_SIZE.
pub const MDA_HEADER_SIZE: u64 = 512;
/// `crc.h` INITIAL_CRC.
pub const INITIAL_CRC: u32 = 0xf597_a6cf;
/// `id.h` ID_LEN: a PV/VG/LV uuid is 32 characters from `_c`, stored
/// without the dashes `id_write_format` adds.
pub const ID_LEN: usize = 32;
/// Entries read from one `disk_locn`/`raw_locn` list. LVM writes at most
/// one data area and two metadata areas; more is corruption.
const MAX_LOCNS: usize = 8;
/// Largest text metadata boot-sim reads (LVM's default area is 1 MiB and
/// the text is at most half of it, `format-text.c` `max_size`).
pub const MAX_METADATA_BYTES: u64 = 16 << 20;
/// `layout.h` RAW_LOCN_IGNORED.
const RAW_LOCN_IGNORED: u32 = 1;

/// `label.h` struct label_header (32 bytes at the start of the label sector).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawLabelHeader {
    /// "LABELONE".
    pub id: [u8; 8],
    /// The sector number of this label.
    pub sector: Le64,
    /// `calc_crc(INITIAL_CRC)` from `offset` (byte 20) to the end of the sector.
    pub crc: Le32,
    /// Offset of the pv_header from the start of this struct.
    pub offset: Le32,
    /// "LVM2 001".
    pub label_type: [u8; 8],
}
const _: () = assert!(size_of::<RawLabelHeader>() == 32);

/// `layout.h` struct disk_locn.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawDiskLocn {
    pub offset: Le64,
    pub size: Le64,
}
const _: () = assert!(size_of::<RawDiskLocn>() == 16);

/// `layout.h` struct mda_header without its raw_locn list.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawMdaHeader {
    /// `calc_crc(INITIAL_CRC)` of the rest of the 512-byte header.
    pub checksum: Le32,
    pub magic: [u8; 16],
    pub version: Le32,
    /// Absolute start byte of this header on the device.
    pub start: Le64,
    /// Size of the metadata area, header included.
    pub size: Le64,
}
const _: () = assert!(size_of::<RawMdaHeader>() == 40);

/// `layout.h` struct raw_locn.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct RawLocn {
    /// Offset of the text from the mda_header.
    pub offset: Le64,
    pub size: Le64,
    /// `calc_crc(INITIAL_CRC)` of the text (both pieces when it wraps).
    pub checksum: Le32,
    pub flags: Le32,
}
const _: () = assert!(size_of::<RawLocn>() == 24);

/// LVM's checksum check (`label.c` `_text_read`, `format-text.c`
/// `_raw_read_mda_header`, `_vg_read_raw_area`): `calc_crc(INITIAL_CRC,
/// data)` against the `stored` field; the error names the structure, the
/// field, what it covers (`names` = (field, covers)) and both values.
fn check_crc(what: &str, at: ByteOffset, names: (&str, &str), stored: u32, data: &[u8]) -> Result<()> {
    let crc = calc_crc(INITIAL_CRC, data);
    if crc != stored {
        let (field, covers) = names;
        return Err(DiskError::corrupt(
            what,
            at,
            format!("{field} {stored:#010x} does not match {covers} ({crc:#010x})"),
        ));
    }
    Ok(())
}

/// `lib/misc/crc.c` calc_crc: CRC-32 (reflected 0xEDB88320) with a caller's
/// initial value and no final inversion. crc32fast computes the inverted
/// form, so invert in and out.
pub fn calc_crc(initial: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!initial);
    h.update(data);
    !h.finalize()
}

/// A byte range on the PV (`struct disk_locn`): `size` 0 for a data area
/// means "to the end of the device".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Area {
    pub offset: u64,
    pub size: u64,
}

/// A physical volume's label and header, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLabel {
    /// Sector (0–3) holding the label.
    pub sector: u64,
    /// The PV uuid as LVM prints it (`id_write_format`: 6-4-4-4-4-4-6).
    pub uuid: String,
    pub device_size: u64,
    pub data_areas: Vec<Area>,
    pub metadata_areas: Vec<Area>,
}

/// `id.c` id_write_format: the 32 characters in groups of 6-4-4-4-4-4-6.
pub fn format_id(raw: &[u8]) -> String {
    let groups = [6, 4, 4, 4, 4, 4, 6];
    let mut out = String::new();
    let mut at = 0;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        let end = (at + g).min(raw.len());
        out.push_str(&String::from_utf8_lossy(&raw[at..end]));
        at = end;
    }
    out
}

fn read_locns(sector: &[u8], mut at: usize, what: &str, base: u64) -> Result<(Vec<Area>, usize)> {
    let mut out = Vec::new();
    loop {
        let Some(bytes) = sector.get(at..at + 16) else {
            return Err(DiskError::corrupt(what, ByteOffset(base + at as u64), "area list runs off the label sector"));
        };
        let l: RawDiskLocn = bytemuck::pod_read_unaligned(bytes);
        at += 16;
        // text_label.c _text_read: `while ((offset = xlate64(dlocn_xl->offset)))`.
        if l.offset.get() == 0 {
            return Ok((out, at));
        }
        if out.len() == MAX_LOCNS {
            return Err(DiskError::corrupt(what, ByteOffset(base + at as u64), "more than 8 areas listed"));
        }
        out.push(Area { offset: l.offset.get(), size: l.size.get() });
    }
}

/// Looks for the LVM2 label in sectors 0–3 of `dev` (`label.c`
/// `_find_lvm_header`). `Ok(None)`: no "LABELONE" there. A label that is
/// there but broken (crc, type, header) is an error naming the sector.
pub fn find_label(dev: &dyn ReadAt, what: &str) -> Result<Option<PvLabel>> {
    for sector in 0..LABEL_SCAN_SECTORS {
        let base = sector * 512;
        if base + 512 > dev.size() {
            break;
        }
        let mut buf = [0u8; 512];
        dev.read_exact_at(base, &mut buf)?;
        if &buf[..8] != LABEL_ID {
            continue;
        }
        let lh: RawLabelHeader = bytemuck::pod_read_unaligned(&buf[..32]);
        let name = format!("LVM2 label of {what}");
        let at = |o: u64| ByteOffset(base + o);
        if lh.sector.get() != sector {
            return Err(DiskError::corrupt(
                name,
                at(8),
                format!("label says it is in sector {}, found in sector {sector}", lh.sector.get()),
            ));
        }
        check_crc(&name, at(16), ("label crc", "its contents"), lh.crc.get(), &buf[20..])?;
        if &lh.label_type != LVM2_LABEL {
            return Err(DiskError::Unsupported {
                what: format!(
                    "{what}: LVM label type {:?} (only \"LVM2 001\")",
                    String::from_utf8_lossy(&lh.label_type)
                ),
            });
        }
        let off = lh.offset.get() as usize;
        if !(32..=512 - ID_LEN - 8).contains(&off) {
            return Err(DiskError::corrupt(name, at(20), format!("pv_header offset {off} outside the sector")));
        }
        let uuid = format_id(&buf[off..off + ID_LEN]);
        let device_size = u64::from_le_bytes(buf[off + ID_LEN..off + ID_LEN + 8].try_into().expect("8 bytes"));
        let (data_areas, next) = read_locns(&buf, off + ID_LEN + 8, &name, base)?;
        let (metadata_areas, _) = read_locns(&buf, next, &name, base)?;
        return Ok(Some(PvLabel { sector, uuid, device_size, data_areas, metadata_areas }));
    }
    Ok(None)
}

/// The text metadata of one metadata area, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataText {
    pub text: Vec<u8>,
    /// Byte offset of the text's first piece on the PV.
    pub offset: u64,
    /// Bytes that wrapped around to the start of the buffer.
    pub wrap: u64,
}

/// Reads the current metadata text of the metadata area `area` (`format-text.c`
/// `raw_read_mda_header` + `_vg_read_raw_area`): the header's checksum, magic
/// and version, its first raw_locn, the bounds LVM checks, the wrap at the
/// end of the circular buffer, and the text's checksum. `Ok(None)`: the area
/// holds no metadata (a PV not in any VG, or an ignored area).
pub fn read_metadata(dev: &dyn ReadAt, area: Area, what: &str) -> Result<Option<MetadataText>> {
    let name = format!("LVM2 metadata area header of {what}");
    let mut buf = [0u8; 512];
    dev.read_exact_at(area.offset, &mut buf)?;
    let at = |o: u64| ByteOffset(area.offset.saturating_add(o));
    let h: RawMdaHeader = bytemuck::pod_read_unaligned(&buf[..40]);
    check_crc(&name, at(0), ("mda_header checksum", "its contents"), h.checksum.get(), &buf[4..])?;
    if &h.magic != FMTT_MAGIC {
        return Err(DiskError::corrupt(name, at(4), "wrong magic (not \" LVM2 x[5A%r0N*>\")"));
    }
    if h.version.get() != FMTT_VERSION {
        return Err(DiskError::Unsupported {
            what: format!("{what}: LVM metadata format version {}", h.version.get()),
        });
    }
    if h.start.get() != area.offset {
        return Err(DiskError::corrupt(
            name,
            at(24),
            format!("header says it starts at byte {}, the PV header says {}", h.start.get(), area.offset),
        ));
    }
    let mda_size = h.size.get();
    if mda_size < MDA_HEADER_SIZE || area.offset.checked_add(mda_size).is_none_or(|e| e > dev.size()) {
        return Err(DiskError::corrupt(name, at(32), format!("area size {mda_size} does not fit the device")));
    }
    let rl: RawLocn = bytemuck::pod_read_unaligned(&buf[40..64]);
    let (offset, size) = (rl.offset.get(), rl.size.get());
    if offset == 0 || rl.flags.get() & RAW_LOCN_IGNORED != 0 {
        return Ok(None);
    }
    // _vg_read_raw_area's bounds.
    if offset >= mda_size || size > mda_size - MDA_HEADER_SIZE || size > MAX_METADATA_BYTES {
        return Err(DiskError::corrupt(
            name,
            at(40),
            format!("metadata location out of bounds (offset {offset} size {size} mda {mda_size})"),
        ));
    }
    if offset < MDA_HEADER_SIZE {
        return Err(DiskError::corrupt(name, at(40), format!("metadata at offset {offset}, inside the header")));
    }
    let wrap = (offset + size).saturating_sub(mda_size);
    let first = size - wrap;
    let start = area.offset + offset;
    let mut text = vec![0u8; size as usize];
    dev.read_exact_at(start, &mut text[..first as usize])?;
    if wrap > 0 {
        dev.read_exact_at(area.offset + MDA_HEADER_SIZE, &mut text[first as usize..])?;
    }
    check_crc(
        &format!("LVM2 metadata text of {what}"),
        ByteOffset(start),
        ("checksum", "the text"),
        rl.checksum.get(),
        &text,
    )?;
    Ok(Some(MetadataText { text, offset: start, wrap }))
}

/// Builders of PV labels and metadata areas, for tests and fuzz seeds: what
/// `pvcreate`/`vgcreate` write, from the structures above (the interop test
/// checks them against LVM's own tools).
pub mod build {
    use super::*;

    /// A label in `sector` with the PV header: `uuid` (32 characters),
    /// device size, data areas and metadata areas.
    pub fn label(sector: u64, uuid: &[u8; 32], device_size: u64, data: &[Area], mdas: &[Area]) -> [u8; 512] {
        let mut buf = [0u8; 512];
        buf[..8].copy_from_slice(LABEL_ID);
        buf[8..16].copy_from_slice(&sector.to_le_bytes());
        buf[20..24].copy_from_slice(&32u32.to_le_bytes());
        buf[24..32].copy_from_slice(LVM2_LABEL);
        buf[32..64].copy_from_slice(uuid);
        buf[64..72].copy_from_slice(&device_size.to_le_bytes());
        let mut at = 72;
        for list in [data, mdas] {
            for a in list.iter().take(MAX_LOCNS) {
                buf[at..at + 8].copy_from_slice(&a.offset.to_le_bytes());
                buf[at + 8..at + 16].copy_from_slice(&a.size.to_le_bytes());
                at += 16;
            }
            at += 16;
        }
        let crc = calc_crc(INITIAL_CRC, &buf[20..]);
        buf[16..20].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    /// A metadata area of `area.size` bytes starting at `area.offset`
    /// holding `text` at `text_offset` (from the area start), wrapped
    /// round the circular buffer when it runs past the end.
    pub fn metadata_area(area: Area, text: &[u8], text_offset: u64) -> Vec<u8> {
        let mut out = vec![0u8; area.size as usize];
        out[..4].fill(0);
        out[4..20].copy_from_slice(FMTT_MAGIC);
        out[20..24].copy_from_slice(&FMTT_VERSION.to_le_bytes());
        out[24..32].copy_from_slice(&area.offset.to_le_bytes());
        out[32..40].copy_from_slice(&area.size.to_le_bytes());
        out[40..48].copy_from_slice(&text_offset.to_le_bytes());
        out[48..56].copy_from_slice(&(text.len() as u64).to_le_bytes());
        out[56..60].copy_from_slice(&calc_crc(INITIAL_CRC, text).to_le_bytes());
        let mut pos = text_offset as usize;
        for &b in text {
            if pos >= out.len() {
                pos = MDA_HEADER_SIZE as usize;
            }
            out[pos] = b;
            pos += 1;
        }
        let crc = calc_crc(INITIAL_CRC, &out[4..512]);
        out[..4].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::MemImage;
    use proptest::prelude::*;

    const UUID: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyzABCDEF";

    #[test]
    fn crc_matches_lvm_calc_crc() {
        // calc_crc with the table-less loop of lib/misc/crc.c, as a reference.
        fn reference(mut crc: u32, data: &[u8]) -> u32 {
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = (crc >> 1) ^ if crc & 1 != 0 { 0xEDB8_8320 } else { 0 };
                }
            }
            crc
        }
        for data in [&b""[..], b"a", b"LVM2 metadata text"] {
            assert_eq!(calc_crc(INITIAL_CRC, data), reference(INITIAL_CRC, data));
        }
    }

    fn pv_image(label_sector: u64, text: &[u8], text_offset: u64, mda_size: u64) -> Vec<u8> {
        let mda = Area { offset: 4096, size: mda_size };
        let mut img = vec![0u8; 4096 + mda_size as usize + 4096];
        let len = img.len() as u64;
        let l = build::label(label_sector, UUID, len, &[Area { offset: 4096 + mda_size, size: 0 }], &[mda]);
        img[label_sector as usize * 512..][..512].copy_from_slice(&l);
        img[4096..4096 + mda_size as usize].copy_from_slice(&build::metadata_area(mda, text, text_offset));
        img
    }

    #[test]
    fn label_and_metadata_read_back() {
        let img = MemImage::new(pv_image(1, b"vg { }\n", 512, 8192), "pv");
        let l = find_label(&img, "pv").unwrap().unwrap();
        assert_eq!(l.sector, 1);
        assert_eq!(l.uuid, "abcdef-ghij-klmn-opqr-stuv-wxyz-ABCDEF");
        assert_eq!(l.metadata_areas, [Area { offset: 4096, size: 8192 }]);
        let m = read_metadata(&img, l.metadata_areas[0], "pv").unwrap().unwrap();
        assert_eq!(m.text, b"vg { }\n");
        assert_eq!((m.offset, m.wrap), (4096 + 512, 0));
    }

    #[test]
    fn corrupt_label_and_header_name_the_offset() {
        let mut raw = pv_image(1, b"vg { }\n", 512, 8192);
        raw[512 + 100] ^= 1;
        let e = find_label(&MemImage::new(raw, "pv"), "xvda2").unwrap_err().to_string();
        assert!(e.contains("xvda2") && e.contains("0x210") && e.contains("crc"), "{e}");
        let mut raw = pv_image(0, b"vg { }\n", 512, 8192);
        raw[4096 + 512 + 2] ^= 1;
        let img = MemImage::new(raw, "pv");
        let l = find_label(&img, "pv").unwrap().unwrap();
        let e = read_metadata(&img, l.metadata_areas[0], "xvda2").unwrap_err().to_string();
        assert!(e.contains("checksum") && e.contains("0x1200") && e.contains("xvda2"), "{e}");
    }

    proptest! {
        /// Text anywhere in the circular buffer, wrapped or not, reads back
        /// whole with its checksum checked.
        #[test]
        fn wrapped_metadata_reads_back(text in prop::collection::vec(any::<u8>(), 1..3000),
                                       off in 512u64..8192, sector in 0u64..4) {
            prop_assume!(text.len() as u64 <= 8192 - 512);
            let img = MemImage::new(pv_image(sector, &text, off, 8192), "pv");
            let l = find_label(&img, "pv").unwrap().unwrap();
            let m = read_metadata(&img, l.metadata_areas[0], "pv").unwrap().unwrap();
            prop_assert_eq!(m.wrap, (off + text.len() as u64).saturating_sub(8192));
            prop_assert_eq!(m.text, text);
        }

        /// Any single corrupted byte in the label sector or mda header is
        /// caught (or lands in a byte LVM does not check), never a panic.
        #[test]
        fn flipped_bytes_never_panic(at in 0usize..8192 + 4096, x in 1u8..=255) {
            let mut raw = pv_image(1, b"vg {\n}\n", 700, 4096);
            if at < raw.len() { raw[at] ^= x; }
            let img = MemImage::new(raw, "pv");
            if let Ok(Some(l)) = find_label(&img, "pv") {
                for a in l.metadata_areas {
                    let _ = read_metadata(&img, a, "pv");
                }
            }
        }

        #[test]
        fn arbitrary_sectors_never_panic(b in prop::collection::vec(any::<u8>(), 0..2048)) {
            let img = MemImage::new(b, "pv");
            if let Ok(Some(l)) = find_label(&img, "pv") {
                for a in l.metadata_areas {
                    let _ = read_metadata(&img, a, "pv");
                }
            }
        }
    }
}
