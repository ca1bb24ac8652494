//! An LV's bytes: its segments mapped onto the PVs as device-mapper maps
//! them. A one-stripe `striped` segment is dm-linear (`drivers/md/dm-linear.c`:
//! PV offset + (sector − segment start)); a multi-stripe one is dm-stripe
//! (`drivers/md/dm-stripe.c` `stripe_map_sector`: chunk = offset / chunk
//! size, stripe = chunk mod stripes, row = chunk / stripes, PV offset =
//! area start + row × chunk size + offset mod chunk size). LVM2 builds
//! those tables from the metadata in `lib/activate/dev_manager.c`, with each
//! stripe's area starting at `pe_start + start_extent × extent_size`.

use std::collections::HashMap;
use std::sync::Arc;

use super::vg::{LogicalVolume, VolumeGroup};
use crate::error::{DiskError, Result};
use crate::read::ReadAt;
use crate::units::ByteOffset;

/// One stripe's area: which device and where on it.
#[derive(Clone)]
pub struct Area {
    pub dev: Arc<dyn ReadAt>,
    /// Byte offset of the area on `dev`.
    pub offset: u64,
    /// Byte length of the area.
    pub len: u64,
}

/// One segment, in LV bytes.
#[derive(Clone)]
pub struct MappedSegment {
    pub start: u64,
    pub len: u64,
    /// Bytes per chunk; unused (0) with one stripe.
    pub chunk: u64,
    pub areas: Vec<Area>,
}

impl MappedSegment {
    /// Where byte `o` of the segment lies: (area index, byte within the
    /// area, bytes readable there before the next chunk or the segment end).
    pub fn locate(&self, o: u64) -> (usize, u64, u64) {
        let left = self.len - o;
        let n = self.areas.len() as u64;
        if n == 1 {
            return (0, o, left);
        }
        let chunk_no = o / self.chunk;
        let within = o % self.chunk;
        let stripe = chunk_no % n;
        let row = chunk_no / n;
        (stripe as usize, row * self.chunk + within, (self.chunk - within).min(left))
    }
}

/// A logical volume as a [`ReadAt`]: reads are split at segment and chunk
/// boundaries and passed to the PVs' readers (partition windows), which
/// bound-check them again.
pub struct LvReader {
    name: String,
    size: u64,
    segments: Vec<MappedSegment>,
}

impl std::fmt::Debug for LvReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LvReader").field("name", &self.name).field("size", &self.size).finish()
    }
}

/// The PV (by its metadata key) is in the metadata but not on this disk.
fn missing_pv(vg: &VolumeGroup, lv: &LogicalVolume, key: &str) -> DiskError {
    let pv = vg.pvs.iter().find(|p| p.key == key);
    let seen = pv.and_then(|p| p.device.as_deref()).map(|d| format!(", last seen as {d}")).unwrap_or_default();
    let id = pv.map(|p| p.id.as_str()).unwrap_or("?");
    DiskError::Unsupported {
        what: format!(
            "LV {}/{}: its PV {key} (uuid {id}{seen}) is not on this disk; reading an LV across several disks",
            vg.name, lv.name
        ),
    }
}

impl LvReader {
    /// Maps `lv` of `vg`; `pvs` holds the PVs found on this disk by their
    /// metadata key (`pv0`). Segment types other than `striped` are refused
    /// by name (thin, RAID, mirror, cache, snapshot: not modelled).
    pub fn new(vg: &VolumeGroup, lv: &LogicalVolume, pvs: &HashMap<String, Arc<dyn ReadAt>>) -> Result<LvReader> {
        let name = format!("{}/{}", vg.name, lv.name);
        let corrupt =
            |detail: String| DiskError::corrupt(format!("LV {name} (LVM2 text metadata)"), ByteOffset(0), detail);
        if lv.segments.is_empty() {
            return Err(corrupt("no segments".into()));
        }
        let mut segments = Vec::with_capacity(lv.segments.len());
        let mut next_extent = 0u64;
        for (i, s) in lv.segments.iter().enumerate() {
            if !s.is_striped() {
                return Err(DiskError::Unsupported {
                    what: format!("LV {name}: segment{} of type {:?}", i + 1, s.segtype),
                });
            }
            // lib/metadata/merge.c check_lv_segments: segments are in order
            // and leave no gap.
            if s.start_extent != next_extent {
                return Err(corrupt(format!(
                    "segment{} starts at extent {}, expected {next_extent}",
                    i + 1,
                    s.start_extent
                )));
            }
            next_extent = next_extent
                .checked_add(s.extent_count)
                .ok_or_else(|| corrupt(format!("segment{} extent count overflows", i + 1)))?;
            let n = s.stripes.len() as u64;
            if n == 0 || s.extent_count == 0 || s.extent_count % n != 0 {
                return Err(corrupt(format!(
                    "segment{}: {} extents do not divide into {n} stripes",
                    i + 1,
                    s.extent_count
                )));
            }
            let area_extents = s.extent_count / n;
            let bytes = |extents: u64| extents.checked_mul(vg.extent_size);
            let mut areas = Vec::with_capacity(s.stripes.len());
            for (key, first) in &s.stripes {
                let pv =
                    vg.pvs.iter().find(|p| &p.key == key).ok_or_else(|| {
                        corrupt(format!("segment{} names PV {key}, which the VG does not list", i + 1))
                    })?;
                if first.checked_add(area_extents).is_none_or(|end| end > pv.pe_count) {
                    return Err(corrupt(format!(
                        "segment{}: extents {first}+{area_extents} of {key} are past its pe_count {}",
                        i + 1,
                        pv.pe_count
                    )));
                }
                let dev = pvs.get(key).ok_or_else(|| missing_pv(vg, lv, key))?;
                let offset = bytes(*first)
                    .and_then(|b| b.checked_add(pv.pe_start))
                    .ok_or_else(|| corrupt(format!("segment{}: offset on {key} overflows", i + 1)))?;
                let len = bytes(area_extents).ok_or_else(|| corrupt(format!("segment{}: size overflows", i + 1)))?;
                areas.push(Area { dev: dev.clone(), offset, len });
            }
            // dm-stripe.c stripe_ctr: "Target length not divisible by chunk size".
            if n > 1 && areas.first().is_some_and(|a| s.stripe_size == 0 || a.len % s.stripe_size != 0) {
                return Err(corrupt(format!(
                    "segment{}: stripe length is not a multiple of stripe_size {} bytes (device-mapper refuses it)",
                    i + 1,
                    s.stripe_size
                )));
            }
            let start = bytes(s.start_extent).ok_or_else(|| corrupt(format!("segment{}: start overflows", i + 1)))?;
            let len = bytes(s.extent_count).ok_or_else(|| corrupt(format!("segment{}: size overflows", i + 1)))?;
            segments.push(MappedSegment { start, len, chunk: s.stripe_size, areas });
        }
        let size = bytes_total(&segments).ok_or_else(|| corrupt("size overflows".into()))?;
        Ok(LvReader { name, size, segments })
    }

    /// The mapping, for reports and tests.
    pub fn segments(&self) -> &[MappedSegment] {
        &self.segments
    }
}

fn bytes_total(segs: &[MappedSegment]) -> Option<u64> {
    segs.iter().try_fold(0u64, |acc, s| acc.checked_add(s.len))
}

impl ReadAt for LvReader {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.size) {
            return Err(DiskError::Io {
                what: self.describe(),
                offset: ByteOffset(offset),
                len: buf.len(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("past the end ({} bytes)", self.size),
                ),
            });
        }
        let mut done = 0usize;
        let mut at = offset;
        // Each pass reads at least one byte, so the loop ends within
        // buf.len() passes.
        while done < buf.len() {
            let seg_idx = self.segments.partition_point(|s| s.start + s.len <= at);
            let seg = &self.segments[seg_idx];
            let (area, within, run) = seg.locate(at - seg.start);
            let n = (run.min((buf.len() - done) as u64)) as usize;
            let a = &seg.areas[area];
            a.dev.read_exact_at(a.offset + within, &mut buf[done..done + n])?;
            done += n;
            at += n as u64;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("LV {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lvm::vg::{PhysicalVolume, Segment};
    use crate::read::MemImage;
    use proptest::prelude::*;

    const EXTENT: u64 = 4096;

    fn pv(key: &str, pe_start: u64, pe_count: u64) -> PhysicalVolume {
        PhysicalVolume { key: key.into(), id: format!("id-{key}"), device: None, dev_size: 0, pe_start, pe_count }
    }

    /// A device whose every byte says where it is: (device number, offset).
    fn dev(n: u8, len: usize) -> Arc<dyn ReadAt> {
        Arc::new(MemImage::new((0..len).map(|i| (i as u8).wrapping_mul(31) ^ n).collect::<Vec<_>>(), format!("pv{n}")))
    }

    /// The LV's bytes built the other way round: row by row, stripe by
    /// stripe, appending whole chunks, as the LVM documentation draws a
    /// striped LV.
    fn reference(vg: &VolumeGroup, lv: &LogicalVolume, devs: &HashMap<String, Arc<dyn ReadAt>>) -> Vec<u8> {
        let mut out = Vec::new();
        for s in &lv.segments {
            let n = s.stripes.len() as u64;
            let area_len = s.extent_count / n * vg.extent_size;
            let chunk = if n == 1 { area_len } else { s.stripe_size };
            let mut row = 0;
            while row * chunk < area_len {
                for (key, first) in &s.stripes {
                    let p = vg.pvs.iter().find(|p| &p.key == key).unwrap();
                    let base = p.pe_start + first * vg.extent_size + row * chunk;
                    let take = chunk.min(area_len - row * chunk);
                    out.extend(devs[key].read_vec(base, take as usize).unwrap());
                }
                row += 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn striped_mapping_equals_reference(
            segs in prop::collection::vec((1u64..4, 1u64..4, 0u32..4), 1..4),
            reads in prop::collection::vec((any::<u64>(), 1usize..5000), 1..8),
        ) {
            // Segments: (stripes, extents per stripe, log2 of chunk in 512-byte units).
            let mut pvs = vec![pv("pv0", 2048, 64), pv("pv1", 4096, 64), pv("pv2", 512, 64)];
            pvs[2].device = Some("/dev/sdc".into());
            let mut next_on = [0u64; 3];
            let mut segments = Vec::new();
            let mut start = 0;
            for (n, per, lg) in segs {
                let stripes: Vec<(String, u64)> = (0..n as usize).map(|k| {
                    let e = next_on[k];
                    next_on[k] += per;
                    (format!("pv{k}"), e)
                }).collect();
                segments.push(Segment {
                    start_extent: start,
                    extent_count: n * per,
                    segtype: "striped".into(),
                    stripe_size: if n > 1 { 512 << lg } else { 0 },
                    stripes,
                });
                start += n * per;
            }
            let vg = VolumeGroup { name: "vg".into(), id: String::new(), seqno: 1, extent_size: EXTENT, pvs, lvs: vec![] };
            let lv = LogicalVolume { name: "lv".into(), id: String::new(), status: vec![], segments };
            let devs: HashMap<String, Arc<dyn ReadAt>> =
                (0..3u8).map(|k| (format!("pv{k}"), dev(k, 4096 + 64 * EXTENT as usize))).collect();
            let r = LvReader::new(&vg, &lv, &devs).unwrap();
            let want = reference(&vg, &lv, &devs);
            prop_assert_eq!(r.size(), want.len() as u64);
            for (off, len) in reads {
                let off = off % r.size();
                let len = len.min((r.size() - off) as usize);
                let got = r.read_vec(off, len).unwrap();
                prop_assert_eq!(&got[..], &want[off as usize..off as usize + len]);
            }
            prop_assert!(r.read_vec(r.size() - 1, 2).is_err());
        }
    }

    #[test]
    fn unsupported_and_missing_pvs_are_named() {
        let vg = VolumeGroup {
            name: "vg".into(),
            id: String::new(),
            seqno: 1,
            extent_size: EXTENT,
            pvs: vec![pv("pv0", 2048, 8), PhysicalVolume { device: Some("/dev/sdb".into()), ..pv("pv1", 2048, 8) }],
            lvs: vec![],
        };
        let seg = |t: &str, stripes: Vec<(String, u64)>| Segment {
            start_extent: 0,
            extent_count: 2,
            segtype: t.into(),
            stripe_size: 512,
            stripes,
        };
        let devs: HashMap<String, Arc<dyn ReadAt>> = [("pv0".to_string(), dev(0, 16384))].into();
        let lv = |name: &str, segment: Segment| LogicalVolume {
            name: name.into(),
            id: String::new(),
            status: vec![],
            segments: vec![segment],
        };
        let thin = lv("pool", seg("thin-pool", vec![]));
        let e = LvReader::new(&vg, &thin, &devs).unwrap_err().to_string();
        assert!(e.contains("LV vg/pool") && e.contains("thin-pool") && e.contains("not supported"), "{e}");
        let two = lv("data", seg("striped", vec![("pv0".into(), 0), ("pv1".into(), 0)]));
        let e = LvReader::new(&vg, &two, &devs).unwrap_err().to_string();
        assert!(e.contains("PV pv1") && e.contains("id-pv1") && e.contains("/dev/sdb"), "{e}");
        let past = lv("big", Segment { extent_count: 9, ..seg("striped", vec![("pv0".into(), 0)]) });
        assert!(LvReader::new(&vg, &past, &devs).unwrap_err().to_string().contains("pe_count"));
    }
}
