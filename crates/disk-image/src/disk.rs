//! A disk: an image, its partition table and the volumes on it, addressed
//! by GRUB legacy, GRUB 2 or Linux names.

use std::sync::Arc;

use serde::Serialize;

use crate::error::{DiskError, Result};
use crate::fs::Filesystem;
use crate::fs::ext::ExtFs;
use crate::fs::probe::{self, FsProbe};
use crate::partition::{self, DeviceNames, Partition, PartitionTable, Role, Scheme};
use crate::read::{RawImage, ReadAt, Window};
use crate::units::ByteOffset;

/// One addressable volume: the whole disk (no partition table) or a partition.
#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    pub names: DeviceNames,
    /// `None` for the whole disk.
    pub partition: Option<Partition>,
    pub start_bytes: u64,
    pub len_bytes: u64,
}

pub struct Disk {
    reader: Arc<dyn ReadAt>,
    table: PartitionTable,
    volumes: Vec<Volume>,
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

    pub fn from_reader(reader: Arc<dyn ReadAt>) -> Result<Disk> {
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
                })
                .collect()
        };
        Ok(Disk { reader, table, volumes })
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
    /// `(hd0)` is the whole disk even when it has partitions.
    pub fn volume(&self, name: &str) -> Option<Volume> {
        let name = name.strip_prefix("/dev/").unwrap_or(name);
        if name == "(hd0)" || name == "xvda" {
            return Some(self.whole_disk());
        }
        self.volumes.iter().find(|v| v.names.grub == name || v.names.grub2 == name || v.names.linux == name).cloned()
    }

    /// The whole disk as a volume, `(hd0)`.
    pub fn whole_disk(&self) -> Volume {
        Volume {
            names: DeviceNames::new(0, Scheme::None, None),
            partition: None,
            start_bytes: 0,
            len_bytes: self.reader.size(),
        }
    }

    /// A window over a volume's bytes (clamped to the image).
    pub fn window(&self, v: &Volume) -> Window {
        Window::new(self.reader.clone(), v.start_bytes, v.len_bytes, v.names.linux.clone())
    }

    /// What filesystem signature the volume carries, if any. Extended
    /// partitions are containers and carry none.
    pub fn probe(&self, v: &Volume) -> Result<Option<FsProbe>> {
        if v.partition.as_ref().is_some_and(|p| p.role == Role::Extended) {
            return Ok(None);
        }
        probe::probe(&self.window(v))
    }

    /// Opens the filesystem on a volume for reading files.
    pub fn open_fs(&self, v: &Volume) -> Result<Box<dyn Filesystem>> {
        match self.probe(v)? {
            Some(p) if p.kind.is_ext() => Ok(Box::new(ExtFs::open(self.window(v))?)),
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
