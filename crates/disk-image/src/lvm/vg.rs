//! A volume group as LVM2's text metadata describes it
//! (`lib/format_text/import_vsn1.c`: `_read_vg`, `_read_pv`, `_read_lv`,
//! `_read_segment`; `lib/metadata/segtype.h` for segment types;
//! `lib/striped/striped.c` `_striped_text_import` for `stripes`), validated
//! into plain data with sizes in bytes.

use serde::Serialize;

use super::config::{Section, Value};
use crate::error::{DiskError, Result};
use crate::units::{ByteOffset, SECTOR_SIZE};

/// Caps on what one VG may list (LVM has no hard limit; these are far above
/// any real VG and keep hostile metadata bounded).
pub const MAX_PVS: usize = 1024;
pub const MAX_LVS: usize = 4096;
pub const MAX_SEGMENTS: usize = 4096;
pub const MAX_STRIPES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeGroup {
    pub name: String,
    pub id: String,
    pub seqno: u64,
    /// Bytes (`extent_size` is stored in 512-byte sectors).
    pub extent_size: u64,
    pub pvs: Vec<PhysicalVolume>,
    pub lvs: Vec<LogicalVolume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhysicalVolume {
    /// The metadata's key for it: `pv0`, `pv1`, …
    pub key: String,
    pub id: String,
    /// The device path LVM last saw it on (a hint only).
    pub device: Option<String>,
    /// Bytes (`dev_size` in sectors).
    pub dev_size: u64,
    /// Byte offset of the first extent on the PV (`pe_start` in sectors).
    pub pe_start: u64,
    pub pe_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogicalVolume {
    pub name: String,
    pub id: String,
    pub status: Vec<String>,
    pub segments: Vec<Segment>,
}

impl LogicalVolume {
    /// Extents covered by all segments.
    pub fn extents(&self) -> u64 {
        self.segments.iter().map(|s| s.extent_count).sum()
    }

    pub fn visible(&self) -> bool {
        self.status.iter().any(|s| s == "VISIBLE")
    }

    /// The segment types, `striped` for linear ones (as `lvs -o segtype`
    /// says `linear` for a one-stripe `striped` segment).
    pub fn segment_types(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.segments {
            let t = s.type_name();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub start_extent: u64,
    pub extent_count: u64,
    /// `type` as stored: `striped`, `thin-pool`, `raid1`, `mirror`, …
    pub segtype: String,
    /// Bytes per stripe chunk (`stripe_size` in sectors); 0 for one stripe.
    pub stripe_size: u64,
    /// (PV key, first extent on that PV) per stripe; empty for segment
    /// types boot-sim does not map.
    pub stripes: Vec<(String, u64)>,
}

impl Segment {
    /// `lvs -o segtype`'s name: `linear` for one stripe.
    pub fn type_name(&self) -> String {
        if self.segtype == "striped" && self.stripes.len() == 1 { "linear".into() } else { self.segtype.clone() }
    }

    pub fn is_striped(&self) -> bool {
        self.segtype == "striped"
    }
}

struct Ctx<'a> {
    what: &'a str,
    offset: u64,
}

impl Ctx<'_> {
    fn err(&self, detail: impl Into<String>) -> DiskError {
        DiskError::corrupt(format!("{} (LVM2 text metadata)", self.what), ByteOffset(self.offset), detail)
    }

    fn uint(&self, s: &Section, key: &str, of: &str) -> Result<u64> {
        match s.int(key) {
            Some(i) if i >= 0 => Ok(i as u64),
            Some(i) => Err(self.err(format!("{of}: {key} = {i} is negative"))),
            None => Err(self.err(format!("{of}: no integer {key}"))),
        }
    }

    fn sectors(&self, s: &Section, key: &str, of: &str) -> Result<u64> {
        self.uint(s, key, of)?
            .checked_mul(SECTOR_SIZE)
            .ok_or_else(|| self.err(format!("{of}: {key} overflows as bytes")))
    }
}

/// Reads the VG out of a parsed metadata text: the one top-level section
/// (the others are `contents`, `version`, `description`, … values).
/// `offset` is where the text sits on the PV, for errors.
pub fn from_config(root: &Section, what: &str, offset: u64) -> Result<VolumeGroup> {
    let cx = Ctx { what, offset };
    let mut sections = root.sections();
    let (name, vg) = sections.next().ok_or_else(|| cx.err("no volume group section"))?;
    if root.str("contents").is_some_and(|c| c != "Text Format Volume Group") {
        return Err(cx.err(format!("contents = {:?}, not a VG", root.str("contents"))));
    }
    let of = format!("VG {name}");
    let extent_size = cx.sectors(vg, "extent_size", &of)?;
    if extent_size == 0 {
        return Err(cx.err(format!("{of}: extent_size is 0")));
    }
    let mut pvs = Vec::new();
    if let Some(list) = vg.section("physical_volumes") {
        for (key, pv) in list.sections() {
            if pvs.len() == MAX_PVS {
                return Err(cx.err(format!("{of}: more than {MAX_PVS} PVs")));
            }
            let of = format!("{of} PV {key}");
            pvs.push(PhysicalVolume {
                key: key.to_string(),
                id: pv.str("id").unwrap_or_default().to_string(),
                device: pv.str("device").map(str::to_string),
                dev_size: cx.sectors(pv, "dev_size", &of).unwrap_or(0),
                pe_start: cx.sectors(pv, "pe_start", &of)?,
                pe_count: cx.uint(pv, "pe_count", &of)?,
            });
        }
    }
    let mut lvs = Vec::new();
    if let Some(list) = vg.section("logical_volumes") {
        for (lv_name, lv) in list.sections() {
            if lvs.len() == MAX_LVS {
                return Err(cx.err(format!("{of}: more than {MAX_LVS} LVs")));
            }
            lvs.push(read_lv(&cx, name, lv_name, lv)?);
        }
    }
    Ok(VolumeGroup {
        name: name.to_string(),
        id: vg.str("id").unwrap_or_default().to_string(),
        seqno: cx.uint(vg, "seqno", &of).unwrap_or(0),
        extent_size,
        pvs,
        lvs,
    })
}

fn read_lv(cx: &Ctx, vg: &str, name: &str, lv: &Section) -> Result<LogicalVolume> {
    let of = format!("LV {vg}/{name}");
    let count = cx.uint(lv, "segment_count", &of)?;
    if count as usize > MAX_SEGMENTS {
        return Err(cx.err(format!("{of}: segment_count {count} is more than {MAX_SEGMENTS}")));
    }
    let mut segments = Vec::new();
    // import_vsn1.c _read_segments: segment1 … segmentN, by name.
    for i in 1..=count {
        let key = format!("segment{i}");
        let seg = lv.section(&key).ok_or_else(|| cx.err(format!("{of}: no {key} (segment_count is {count})")))?;
        let of = format!("{of} {key}");
        let segtype = seg.str("type").ok_or_else(|| cx.err(format!("{of}: no type")))?.to_string();
        let mut s = Segment {
            start_extent: cx.uint(seg, "start_extent", &of)?,
            extent_count: cx.uint(seg, "extent_count", &of)?,
            segtype,
            stripe_size: 0,
            stripes: Vec::new(),
        };
        if s.is_striped() {
            let n = cx.uint(seg, "stripe_count", &of)?;
            if n == 0 || n as usize > MAX_STRIPES {
                return Err(cx.err(format!("{of}: stripe_count {n}")));
            }
            if n > 1 {
                s.stripe_size = cx.sectors(seg, "stripe_size", &of)?;
                if s.stripe_size == 0 {
                    return Err(cx.err(format!("{of}: stripe_size 0 with {n} stripes")));
                }
            }
            let Some(Value::Array(list)) = seg.value("stripes") else {
                return Err(cx.err(format!("{of}: no stripes = [ … ] list")));
            };
            // striped.c _striped_text_import → text_import_areas: pairs of
            // (PV name, starting extent).
            if list.len() as u64 != 2 * n {
                return Err(cx.err(format!("{of}: stripes lists {} values for {n} stripes", list.len())));
            }
            for pair in list.chunks(2) {
                match pair {
                    [Value::Str(pv), Value::Int(e)] if *e >= 0 => s.stripes.push((pv.clone(), *e as u64)),
                    _ => return Err(cx.err(format!("{of}: stripes entry {pair:?} is not \"pvN\", extent"))),
                }
            }
        }
        segments.push(s);
    }
    Ok(LogicalVolume {
        name: name.to_string(),
        id: lv.str("id").unwrap_or_default().to_string(),
        status: lv.strings("status").into_iter().map(str::to_string).collect(),
        segments,
    })
}
