//! A disk: an image, its partition table and the volumes on it, addressed
//! by GRUB legacy, GRUB 2 or Linux names.

use std::sync::Arc;

use serde::Serialize;

use crate::error::{DiskError, Result};
use crate::fs::btrfs::BtrfsFs;
use crate::fs::ext::ExtFs;
use crate::fs::fat::FatFs;
use crate::fs::probe::{self, FsKind, FsProbe};
use crate::fs::xfs::XfsFs;
use crate::fs::{self, Filesystem};
use crate::lvm::{self, LvmScan};
use crate::partition::{self, DeviceNames, Partition, PartitionTable, Role, Scheme};
use crate::read::{RawImage, ReadAt, Window};
use crate::units::ByteOffset;

/// One addressable volume: the whole disk (no partition table), a
/// partition, or an LVM logical volume.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub names: DeviceNames,
    /// `None` for the whole disk and for LVs.
    pub partition: Option<Partition>,
    /// For an LV, where its first byte lies on the disk (its bytes come
    /// from `source`, segment by segment).
    pub start_bytes: u64,
    pub len_bytes: u64,
    /// For an LV: its VG and name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lvm: Option<LvRef>,
    /// Where the volume's bytes come from when they are not the disk's
    /// `[start_bytes, start_bytes + len_bytes)`: an LV's mapper.
    #[serde(skip)]
    pub source: Option<VolumeSource>,
}

/// An LV a volume is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvRef {
    pub vg: String,
    pub lv: String,
}

/// A volume's own byte source (an LV mapper over the PVs' partitions).
#[derive(Clone)]
pub struct VolumeSource(pub Arc<dyn ReadAt>);

impl std::fmt::Debug for VolumeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.describe())
    }
}

pub struct Disk {
    reader: Arc<dyn ReadAt>,
    table: PartitionTable,
    volumes: Vec<Volume>,
    lvm: LvmScan,
    /// Probes and open filesystems kept per volume ([`Disk::open_memoized`]).
    memo: Option<VolumeMemo>,
}

/// What [`Disk::open_memoized`] keeps: each volume's probe and its one
/// open filesystem, keyed by where the volume's bytes are.
#[derive(Default)]
struct VolumeMemo {
    probes: std::cell::RefCell<Vec<(VolumeKey, Option<FsProbe>)>>,
    opened: std::cell::RefCell<Vec<(VolumeKey, std::rc::Rc<fs::Memo>)>>,
}

/// A volume's identity: its bytes' place on the disk, or its LV.
#[derive(Clone, PartialEq, Eq)]
struct VolumeKey {
    start: u64,
    len: u64,
    lv: Option<LvRef>,
}

impl VolumeKey {
    fn of(v: &Volume) -> VolumeKey {
        VolumeKey { start: v.start_bytes, len: v.len_bytes, lv: v.lvm.clone() }
    }
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").field("image", &self.reader.describe()).field("scheme", &self.table.scheme).finish()
    }
}

impl Disk {
    /// Opens an image file read-only and reads its partition table.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Disk> {
        Disk::from_reader(Arc::new(RawImage::open(path)?))
    }

    /// [`Disk::open`] for one-shot questions (`menu`): each volume is probed
    /// and its filesystem opened once, however many lookups name it, and the
    /// filesystem's answers are remembered ([`fs::Memo`]). What is read and
    /// reported is what [`Disk::open`] gives; only repeated reads are saved.
    /// Not for a disk whose reads are simulated (a loader's I/O over a PV
    /// ring), where every read counts.
    pub fn open_memoized(path: impl AsRef<std::path::Path>) -> Result<Disk> {
        let mut disk = Disk::open(path)?;
        disk.memo = Some(VolumeMemo::default());
        Ok(disk)
    }

    /// Reads the partition table and the LVM2 volume groups on it; the
    /// LVs become volumes after the partitions.
    pub fn from_reader(reader: Arc<dyn ReadAt>) -> Result<Disk> {
        let mut disk = Disk::from_reader_without_lvm(reader)?;
        disk.add_logical_volumes();
        Ok(disk)
    }

    /// The disk as a boot loader without a volume manager sees it (GRUB
    /// 0.97 and PV-GRUB, pygrub's libfsimage): partitions only, and no
    /// read of any PV label, so that the loader models' I/O counts are the
    /// loader's own.
    pub fn from_reader_without_lvm(reader: Arc<dyn ReadAt>) -> Result<Disk> {
        if reader.size() < 512 {
            return Err(DiskError::corrupt(
                reader.describe(),
                ByteOffset(0),
                match reader.size() {
                    1 => "the image is 1 byte, shorter than one 512-byte sector".to_string(),
                    n => format!("the image is {n} bytes, shorter than one 512-byte sector"),
                },
            ));
        }
        let table = partition::read_partition_table(&*reader)?;
        let volumes = if table.scheme == Scheme::None {
            vec![Volume {
                names: DeviceNames::new(0, Scheme::None, None),
                partition: None,
                start_bytes: 0,
                len_bytes: reader.size(),
                lvm: None,
                source: None,
            }]
        } else {
            table
                .partitions
                .iter()
                .map(|p| Volume {
                    names: DeviceNames::new(0, table.scheme, Some(p.number)),
                    partition: Some(p.clone()),
                    start_bytes: p.start_bytes(),
                    len_bytes: p.len_bytes(),
                    lvm: None,
                    source: None,
                })
                .collect()
        };
        Ok(Disk { reader, table, volumes, lvm: LvmScan::default(), memo: None })
    }

    /// Scans the partitions (or the whole disk) for LVM2 PVs and appends
    /// each readable, visible LV as a volume after the partitions.
    fn add_logical_volumes(&mut self) {
        let candidates: Vec<lvm::Candidate> = self
            .volumes
            .iter()
            .filter(|v| v.partition.as_ref().is_none_or(|p| p.role != Role::Extended))
            .map(|v| lvm::Candidate {
                name: v.names.linux.clone(),
                reader: Arc::new(self.window(v)),
                disk_offset: v.start_bytes,
                typed_lvm: v.partition.as_ref().is_some_and(|p| p.ptype.name() == Some("Linux LVM")),
            })
            .collect();
        let scan = lvm::scan(&candidates);
        for g in &scan.groups {
            for lv in g.lvs.iter().filter(|lv| lv.visible) {
                let Some(reader) = &lv.reader else { continue };
                let start_bytes = reader
                    .segments()
                    .first()
                    .and_then(|s| s.areas.first())
                    .and_then(|a| {
                        let pv = candidates.iter().find(|c| Arc::ptr_eq(&c.reader, &a.dev))?;
                        pv.disk_offset.checked_add(a.offset)
                    })
                    .unwrap_or(0);
                self.volumes.push(Volume {
                    names: DeviceNames::lvm(&g.vg.name, &lv.name),
                    partition: None,
                    start_bytes,
                    len_bytes: reader.size(),
                    lvm: Some(LvRef { vg: g.vg.name.clone(), lv: lv.name.clone() }),
                    source: Some(VolumeSource(reader.clone())),
                });
            }
        }
        self.lvm = scan;
    }

    /// The LVM2 volume groups found on the disk, their LVs (readable or
    /// not, with why) and what went wrong reading PVs.
    pub fn lvm(&self) -> &LvmScan {
        &self.lvm
    }

    pub fn reader(&self) -> &Arc<dyn ReadAt> {
        &self.reader
    }

    pub fn table(&self) -> &PartitionTable {
        &self.table
    }

    pub fn volumes(&self) -> &[Volume] {
        &self.volumes
    }

    /// The volume a device name designates: `(hd0)`, `(hd0,0)`,
    /// `(hd0,msdos1)`, `(hd0,gpt2)`, `xvda`, `xvda5`, `/dev/xvda1`.
    /// `(hd0)` is the whole disk even when it has partitions. LVs:
    /// `(lvm/VG-LV)`, `/dev/mapper/VG-LV`, `/dev/VG/LV`.
    pub fn volume(&self, name: &str) -> Option<Volume> {
        let name = name.strip_prefix("/dev/").unwrap_or(name);
        if name == "(hd0)" || name == "xvda" {
            return Some(self.whole_disk());
        }
        self.volumes
            .iter()
            .find(|v| {
                v.names.grub == name
                    || v.names.grub2 == name
                    || v.names.linux == name
                    || v.names.aliases.iter().any(|a| a == name)
            })
            .cloned()
    }

    /// The whole disk as a volume, `(hd0)`.
    pub fn whole_disk(&self) -> Volume {
        Volume {
            names: DeviceNames::new(0, Scheme::None, None),
            partition: None,
            start_bytes: 0,
            len_bytes: self.reader.size(),
            lvm: None,
            source: None,
        }
    }

    /// A window over a volume's bytes (clamped to the image; an LV's
    /// bytes through its mapper).
    pub fn window(&self, v: &Volume) -> Window {
        match &v.source {
            Some(VolumeSource(src)) => Window::new(src.clone(), 0, v.len_bytes, v.names.linux.clone()),
            None => Window::new(self.reader.clone(), v.start_bytes, v.len_bytes, v.names.linux.clone()),
        }
    }

    /// What filesystem signature the volume carries, if any. Extended
    /// partitions are containers and carry none.
    pub fn probe(&self, v: &Volume) -> Result<Option<FsProbe>> {
        if v.partition.as_ref().is_some_and(|p| p.role == Role::Extended) {
            return Ok(None);
        }
        let Some(memo) = &self.memo else { return probe::probe(&self.window(v)) };
        let key = VolumeKey::of(v);
        if let Some((_, p)) = memo.probes.borrow().iter().find(|(k, _)| *k == key) {
            return Ok(p.clone());
        }
        let p = probe::probe(&self.window(v))?;
        memo.probes.borrow_mut().push((key, p.clone()));
        Ok(p)
    }

    /// Opens the filesystem on a volume for reading files.
    pub fn open_fs(&self, v: &Volume) -> Result<Box<dyn Filesystem>> {
        self.open_probed(v, self.probe(v)?)
    }

    /// [`Disk::open_fs`] with the volume's [`Disk::probe`] already made (a
    /// loader that checks what it can mount reads the signatures once).
    pub fn open_probed(&self, v: &Volume, probe: Option<FsProbe>) -> Result<Box<dyn Filesystem>> {
        let Some(memo) = &self.memo else { return self.open_probed_fresh(v, probe) };
        let key = VolumeKey::of(v);
        if let Some((_, fs)) = memo.opened.borrow().iter().find(|(k, _)| *k == key) {
            return Ok(Box::new(fs::Shared(fs.clone())));
        }
        let fs = std::rc::Rc::new(fs::Memo::new(self.open_probed_fresh(v, probe)?));
        memo.opened.borrow_mut().push((key, fs.clone()));
        Ok(Box::new(fs::Shared(fs)))
    }

    fn open_probed_fresh(&self, v: &Volume, probe: Option<FsProbe>) -> Result<Box<dyn Filesystem>> {
        match probe {
            Some(p) if p.kind.is_ext() => Ok(Box::new(ExtFs::open(self.window(v))?)),
            Some(p) if p.kind == FsKind::Xfs => Ok(Box::new(XfsFs::open(self.window(v))?)),
            // Paths as GRUB 2 names them: from the top-level subvolume.
            Some(p) if p.kind == FsKind::Btrfs => Ok(Box::new(BtrfsFs::open(self.window(v))?)),
            Some(p) if p.kind == FsKind::Vfat => Ok(Box::new(FatFs::open(self.window(v))?)),
            Some(p) => Err(DiskError::Unsupported {
                what: format!("reading files from {} ({})", v.names.linux, p.kind.name()),
            }),
            None => {
                let (end, size) = (v.start_bytes.saturating_add(v.len_bytes), self.reader.size());
                let detail = if v.start_bytes >= size {
                    format!("the partition starts past the end of the image ({size} bytes)")
                } else if end > size {
                    format!(
                        "the partition runs past the end of the image (it ends at byte {end:#x}, the image at {size:#x}; a truncated image?) and no filesystem signature is in the part that is there"
                    )
                } else {
                    "no filesystem signature found".to_string()
                };
                Err(DiskError::corrupt(
                    format!("{} {}", v.names.grub, v.names.linux),
                    ByteOffset(v.start_bytes),
                    detail,
                ))
            }
        }
    }
}

/// Splits a GRUB-style path with a device prefix, `(hd0,0)/boot/grub/menu.lst`,
/// into the device and the path. A path without a prefix returns `None` as
/// the device.
pub fn split_device_path(spec: &str) -> Result<(Option<&str>, &str)> {
    if let Some(rest) = spec.strip_prefix('(') {
        let close = rest
            .find(')')
            .ok_or_else(|| DiskError::path(spec, crate::error::PathErrorKind::Other, "unterminated device name"))?;
        let device = &spec[..close + 2];
        let path = &rest[close + 1..];
        Ok((Some(device), if path.is_empty() { "/" } else { path }))
    } else {
        Ok((None, spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_split() {
        assert_eq!(split_device_path("(hd0,0)/boot/x").unwrap(), (Some("(hd0,0)"), "/boot/x"));
        assert_eq!(split_device_path("(hd0)").unwrap(), (Some("(hd0)"), "/"));
        assert_eq!(split_device_path("/boot").unwrap(), (None, "/boot"));
        assert!(split_device_path("(hd0/boot").is_err());
    }
}
