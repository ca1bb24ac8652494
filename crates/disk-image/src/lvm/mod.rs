//! LVM2 physical volumes on a disk and the logical volumes they carry, as
//! devices: `(lvm/VG-LV)` as GRUB 2 names them (`grub-core/disk/lvm.c`:
//! `lvm/` + VG + `-` + LV with every `-` in either name doubled), and
//! `/dev/mapper/VG-LV` (device-mapper's name, same doubling,
//! `libdm/libdm-common.c` `dm_build_dm_name`) and `/dev/VG/LV` as Linux
//! names them.
//!
//! Reading: the label and PV header ([`label`]), the metadata area and its
//! text ([`label::read_metadata`], [`config`]), the VG ([`vg`]), and the LV
//! mapping ([`mapper`]). Only PVs on this one disk are seen; an LV needing
//! another is listed with the reason it cannot be read.

pub mod config;
pub mod label;
pub mod mapper;
pub mod vg;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::error::Result;
use crate::read::ReadAt;
use crate::units::ByteOffset;

pub use mapper::LvReader;
pub use vg::{LogicalVolume, Segment, VolumeGroup};

/// Most PVs examined on one disk.
const MAX_PV_DEVICES: usize = 256;

/// A device that may hold a PV: a partition (or the whole disk).
pub struct Candidate {
    /// Linux name, `xvda2`.
    pub name: String,
    pub reader: Arc<dyn ReadAt>,
    /// Byte offset of the device on the disk, for diagnostics.
    pub disk_offset: u64,
    /// The partition type says LVM (0x8E, the Linux LVM GUID).
    pub typed_lvm: bool,
}

/// A PV found on this disk.
#[derive(Debug, Clone, Serialize)]
pub struct FoundPv {
    /// The device holding it, `xvda2`.
    pub device: String,
    pub uuid: String,
    pub label_sector: u64,
    pub device_size: u64,
    /// The VG its metadata names, if it has metadata.
    pub vg: Option<String>,
}

/// `-` doubled, as GRUB's lvm.c and device-mapper escape names.
pub fn escape_dash(s: &str) -> String {
    s.replace('-', "--")
}

/// One LV and whether it can be read.
#[derive(Debug, Clone, Serialize)]
pub struct LvReport {
    pub name: String,
    /// `(lvm/VG-LV)`.
    pub grub2: String,
    /// `mapper/VG-LV` (under /dev).
    pub mapper: String,
    /// `VG/LV` (under /dev).
    pub dev_path: String,
    pub size_bytes: u64,
    pub visible: bool,
    pub segments: Vec<Segment>,
    /// `linear`, `striped`, `thin-pool`, … per segment, deduplicated.
    pub types: Vec<String>,
    /// Why it cannot be read, when it cannot.
    pub error: Option<String>,
    #[serde(skip)]
    pub reader: Option<Arc<LvReader>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VgReport {
    pub vg: VolumeGroup,
    /// Which device holds each of the VG's PVs (by metadata key), `None`
    /// when it is not on this disk.
    pub pv_devices: Vec<(String, Option<String>)>,
    pub lvs: Vec<LvReport>,
    /// Where the metadata used was read (device, byte on the device).
    pub metadata_from: (String, u64),
}

/// Everything LVM on one disk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LvmScan {
    pub pvs: Vec<FoundPv>,
    pub groups: Vec<VgReport>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Finds PVs among `candidates`, reads their metadata (the highest seqno of
/// each VG wins, as LVM picks), and maps each visible LV.
pub fn scan(candidates: &[Candidate]) -> LvmScan {
    let mut out = LvmScan::default();
    // VG id → (vg, where its metadata came from).
    let mut vgs: Vec<(VolumeGroup, (String, u64))> = Vec::new();
    let mut by_uuid: HashMap<String, Arc<dyn ReadAt>> = HashMap::new();
    let mut device_of: HashMap<String, String> = HashMap::new();
    for c in candidates.iter().take(MAX_PV_DEVICES) {
        let label = match label::find_label(&*c.reader, &c.name) {
            Ok(Some(l)) => l,
            Ok(None) => {
                if c.typed_lvm {
                    out.diagnostics.push(Diagnostic::warning(
                        Some(ByteOffset(c.disk_offset)),
                        format!("{}: partition type is Linux LVM but sectors 0-3 hold no LVM2 label", c.name),
                    ));
                }
                continue;
            }
            Err(e) => {
                out.diagnostics.push(Diagnostic::error(Some(ByteOffset(c.disk_offset)), e.to_string()));
                continue;
            }
        };
        if label.device_size > c.reader.size() {
            out.diagnostics.push(Diagnostic::warning(
                Some(ByteOffset(c.disk_offset)),
                format!(
                    "{}: the PV header says the device has {} bytes, the partition has {}",
                    c.name,
                    label.device_size,
                    c.reader.size()
                ),
            ));
        }
        let mut vg_name = None;
        let mut last_err = None;
        for area in &label.metadata_areas {
            match read_vg(&*c.reader, *area, &c.name) {
                Ok(Some((vg, at))) => {
                    vg_name = Some(vg.name.clone());
                    match vgs.iter_mut().find(|(v, _)| v.id == vg.id && v.name == vg.name) {
                        Some(slot) if slot.0.seqno >= vg.seqno => {}
                        Some(slot) => *slot = (vg, (c.name.clone(), at)),
                        None => vgs.push((vg, (c.name.clone(), at))),
                    }
                    last_err = None;
                    break;
                }
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
        }
        if let Some(e) = last_err {
            out.diagnostics.push(Diagnostic::error(Some(ByteOffset(c.disk_offset)), e.to_string()));
        }
        by_uuid.insert(label.uuid.clone(), c.reader.clone());
        device_of.insert(label.uuid.clone(), c.name.clone());
        out.pvs.push(FoundPv {
            device: c.name.clone(),
            uuid: label.uuid,
            label_sector: label.sector,
            device_size: label.device_size,
            vg: vg_name,
        });
    }
    for (vg, from) in vgs {
        let mut devs: HashMap<String, Arc<dyn ReadAt>> = HashMap::new();
        let mut pv_devices = Vec::new();
        for pv in &vg.pvs {
            if let Some(r) = by_uuid.get(&pv.id) {
                devs.insert(pv.key.clone(), r.clone());
            }
            pv_devices.push((pv.key.clone(), device_of.get(&pv.id).cloned()));
        }
        let lvs = vg
            .lvs
            .iter()
            .map(|lv| {
                let mapped = LvReader::new(&vg, lv, &devs);
                let dm = format!("{}-{}", escape_dash(&vg.name), escape_dash(&lv.name));
                let (reader, error) = match mapped {
                    Ok(r) => (Some(Arc::new(r)), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                LvReport {
                    name: lv.name.clone(),
                    grub2: format!("(lvm/{dm})"),
                    mapper: format!("mapper/{dm}"),
                    dev_path: format!("{}/{}", vg.name, lv.name),
                    size_bytes: lv.extents().saturating_mul(vg.extent_size),
                    visible: lv.visible(),
                    segments: lv.segments.clone(),
                    types: lv.segment_types(),
                    error,
                    reader,
                }
            })
            .collect();
        out.groups.push(VgReport { vg, pv_devices, lvs, metadata_from: from });
    }
    out
}

/// The VG in one metadata area, and where its text starts on the device.
pub fn read_vg(dev: &dyn ReadAt, area: label::Area, what: &str) -> Result<Option<(VolumeGroup, u64)>> {
    let Some(m) = label::read_metadata(dev, area, what)? else { return Ok(None) };
    let root = config::parse(&m.text, m.offset, what)?;
    let vg = vg::from_config(&root, what, m.offset)?;
    Ok(Some((vg, m.offset)))
}

impl LvmScan {
    /// Why the LV called `name` (in any of Linux's or GRUB 2's spellings)
    /// is not a readable device, when it is an LV that cannot be read.
    pub fn lv_problem(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix("/dev/").unwrap_or(name);
        self.groups
            .iter()
            .flat_map(|g| &g.lvs)
            .filter(|lv| lv.grub2 == name || lv.mapper == name || lv.dev_path == name)
            .find_map(|lv| lv.error.clone())
    }
}

/// Builders of PVs in memory, for tests, fuzz seeds and benches: the label
/// in sector 1, one metadata area from byte 4096 to 1 MiB and the first
/// extent at 1 MiB, as `pvcreate` lays a PV out by default.
#[doc(hidden)]
pub mod build {
    use super::label::{self, Area};

    /// Byte offset of the first extent (`pe_start` = 2048 sectors).
    pub const PE_START: u64 = 1 << 20;
    const MDA: Area = Area { offset: 4096, size: PE_START - 4096 };

    /// A PV of `size` bytes (zeroed data area) whose metadata area holds
    /// `text` at `text_offset` from the area start (512: the first write).
    pub fn pv_device(uuid: &[u8; 32], size: u64, text: &[u8], text_offset: u64) -> Vec<u8> {
        pv_device_sized(uuid, size, MDA, text, text_offset)
    }

    /// [`pv_device`] with the metadata area at `mda` (data from its end).
    pub fn pv_device_sized(uuid: &[u8; 32], size: u64, mda: Area, text: &[u8], text_offset: u64) -> Vec<u8> {
        let mut dev = vec![0u8; size as usize];
        let data = Area { offset: mda.offset + mda.size, size: 0 };
        let l = label::build::label(1, uuid, size, &[data], &[mda]);
        dev[512..1024].copy_from_slice(&l);
        let area = label::build::metadata_area(mda, text, text_offset);
        dev[mda.offset as usize..(mda.offset + mda.size) as usize].copy_from_slice(&area);
        dev
    }

    /// `id_write_format` of a 32-character id.
    pub fn id(raw: &[u8; 32]) -> String {
        label::format_id(raw)
    }

    const MIB: u64 = 1 << 20;

    pub const PV0: &[u8; 32] = b"pv0pv0pv0pv0pv0pv0pv0pv0pv0pv0AA";
    pub const PV1: &[u8; 32] = b"pv1pv1pv1pv1pv1pv1pv1pv1pv1pv1BB";

    /// VG `vg-sys`, extent 1 MiB, two PVs of 8 MiB each (7 extents).
    /// `root`: 2 extents, segment1 on pv1 extent 3, segment2 on pv0 extent 0.
    /// `data-01`: 4 extents striped over pv0 (1..3) and pv1 (0..2), 64 KiB chunks.
    /// `pool`: a thin pool. `hidden`: not VISIBLE.
    pub fn sample_metadata(with_pv1: bool) -> String {
        let pv1 = if with_pv1 {
            format!(
                "pv1 {{\nid = \"{}\"\ndevice = \"/dev/sdb\"\nstatus = [\"ALLOCATABLE\"]\ndev_size = 16384\npe_start = 2048\npe_count = 7\n}}\n",
                id(PV1)
            )
        } else {
            String::new()
        };
        format!(
            r#"vg-sys {{
    id = "vgidvgidvgidvgidvgidvgidvgidvgid"
    seqno = 5
    format = "lvm2" # informational
    status = ["RESIZEABLE", "READ", "WRITE"]
    extent_size = 2048
    physical_volumes {{
    pv0 {{
    id = "{pv0}"
    device = "/dev/sda"
    status = ["ALLOCATABLE"]
    dev_size = 16384
    pe_start = 2048
    pe_count = 7
    }}
    {pv1}}}
    logical_volumes {{
    root {{
    id = "lvroot"
    status = ["READ", "WRITE", "VISIBLE"]
    segment_count = 2
    segment1 {{
    start_extent = 0
    extent_count = 1
    type = "striped"
    stripe_count = 1 # linear
    stripes = [
    "pv1", 3
    ]
    }}
    segment2 {{
    start_extent = 1
    extent_count = 1
    type = "striped"
    stripe_count = 1
    stripes = [
    "pv0", 0
    ]
    }}
    }}
    data-01 {{
    id = "lvdata"
    status = ["READ", "WRITE", "VISIBLE"]
    segment_count = 1
    segment1 {{
    start_extent = 0
    extent_count = 4
    type = "striped"
    stripe_count = 2
    stripe_size = 128
    stripes = [
    "pv0", 1,
    "pv1", 0
    ]
    }}
    }}
    pool {{
    id = "lvpool"
    status = ["READ", "WRITE", "VISIBLE"]
    segment_count = 1
    segment1 {{
    start_extent = 0
    extent_count = 1
    type = "thin-pool"
    metadata = "pool_tmeta"
    pool = "pool_tdata"
    }}
    }}
    hidden {{
    id = "lvhidden"
    status = ["READ", "WRITE"]
    segment_count = 1
    segment1 {{
    start_extent = 0
    extent_count = 1
    type = "striped"
    stripe_count = 1
    stripes = [
    "pv0", 6
    ]
    }}
    }}
    }}
    }}
    contents = "Text Format Volume Group"
    version = 1
    "#,
            pv0 = id(PV0),
        )
    }

    /// An MBR disk of 17 MiB (`ext` must be 2 MiB): partition 1 (0x8E) = PV0 at 1 MiB, partition 2 (0x8E) =
    /// PV1 at 9 MiB, 8 MiB each; the ext image split over them as `root` says,
    /// and the striped LV filled with a pattern.
    pub fn sample_disk(ext: &[u8], with_pv1: bool) -> Vec<u8> {
        let text = sample_metadata(with_pv1);
        let mut pv0 = pv_device(PV0, 8 * MIB, text.as_bytes(), 512);
        let mut pv1 = pv_device(PV1, 8 * MIB, text.as_bytes(), 8192);
        assert_eq!(ext.len() as u64, 2 * MIB, "the sample LV root is 2 MiB");
        let ext_at = |pv: &mut Vec<u8>, extent: u64, part: &[u8]| {
            let at = (PE_START + extent * MIB) as usize;
            pv[at..at + part.len()].copy_from_slice(part);
        };
        ext_at(&mut pv1, 3, &ext[..MIB as usize]);
        ext_at(&mut pv0, 0, &ext[MIB as usize..]);
        // data-01: 64 KiB chunks alternating pv0 (from extent 1) and pv1 (from 0).
        for chunk in 0..64u64 {
            let (pv, first) = if chunk % 2 == 0 { (&mut pv0, 1) } else { (&mut pv1, 0) };
            let at = (PE_START + first * MIB + (chunk / 2) * 65536) as usize;
            pv[at..at + 65536].fill(chunk as u8);
        }
        let mut disk = vec![0u8; (17 * MIB) as usize];
        for (slot, (start, pv)) in [(2048u32, &pv0), (18432u32, &pv1)].into_iter().enumerate() {
            let e = 446 + 16 * slot;
            disk[e + 4] = 0x8E;
            disk[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
            disk[e + 12..e + 16].copy_from_slice(&16384u32.to_le_bytes());
            let at = start as usize * 512;
            disk[at..at + pv.len()].copy_from_slice(pv);
        }
        disk[510] = 0x55;
        disk[511] = 0xAA;
        disk
    }
}
