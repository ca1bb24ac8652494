//! GRUB 2's view of a real disk: the [`Grub2Context`] the evaluator asks
//! about files, directories and `search`, answered from a [`Disk`].
//!
//! GRUB 2 device names count partitions from 1 (`hd0,1`, `hd0,msdos1`,
//! `hd0,gpt1`; GRUB legacy's `(hd0,0)` is the same partition); `hd0` is the
//! whole disk. `search` walks devices in GRUB's order: the hints first,
//! then the disk and its partitions (`grub-core/commands/search.c`).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::grub2::{Grub2Context, Lookup, NodeType, SearchKind};
use disk_image::disk::{Disk, Volume};
use disk_image::fs::{self, Filesystem, NodeKind};
use disk_image::partition::Role;

pub struct DiskContext<'d> {
    disk: &'d Disk,
    /// Where grub.cfg was found, as GRUB names it (`hd0,gpt3`).
    boot_device: String,
    /// The directory of grub.cfg (`/boot/grub`).
    prefix_dir: String,
    open: RefCell<HashMap<String, Option<Box<dyn Filesystem>>>>,
}

impl<'d> DiskContext<'d> {
    pub fn new(disk: &'d Disk, boot_volume: &Volume, config_path: &str) -> DiskContext<'d> {
        let dir = config_path.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
        DiskContext {
            disk,
            boot_device: grub2_device(boot_volume),
            prefix_dir: dir.to_string(),
            open: RefCell::new(HashMap::new()),
        }
    }

    fn volume(&self, device: &str) -> Option<Volume> {
        if device.starts_with("lvm/") {
            // GRUB 2's lvm module: (lvm/VG-LV).
            return self.disk.volume(&format!("({device})"));
        }
        let (disk_part, part) = match device.split_once(',') {
            Some((d, p)) => (d, Some(p)),
            None => (device, None),
        };
        if disk_part != "hd0" {
            return None;
        }
        let Some(part) = part else { return Some(self.disk.whole_disk()) };
        let digits = part.trim_start_matches("msdos").trim_start_matches("gpt");
        let n: u32 = digits.parse().ok()?;
        self.disk.volumes().iter().find(|v| v.partition.as_ref().is_some_and(|p| p.number == n)).cloned()
    }

    fn with_fs<T>(&self, device: &str, f: impl FnOnce(&dyn Filesystem) -> Lookup<T>) -> Lookup<T> {
        let mut open = self.open.borrow_mut();
        let entry = open.entry(device.to_string()).or_insert_with(|| {
            let v = self.volume(device)?;
            if v.partition.as_ref().is_some_and(|p| p.role == Role::Extended) {
                return None;
            }
            self.disk.open_fs(&v).ok()
        });
        match entry {
            Some(fs) => f(&**fs),
            None => Lookup::Missing,
        }
    }

    /// Devices in the order `search` tries them.
    fn devices(&self, hints: &[String]) -> Vec<String> {
        let mut out: Vec<String> = hints.iter().map(|h| h.trim_matches(['(', ')']).to_string()).collect();
        out.push("hd0".into());
        // GRUB 2's device iteration: disks and their partitions, then the
        // disk-filter devices (LVs) the lvm module found.
        out.extend(self.disk.volumes().iter().filter(|v| v.partition.is_some() || v.lvm.is_some()).map(grub2_device));
        let mut seen = std::collections::HashSet::new();
        out.retain(|d| seen.insert(d.clone()));
        out
    }
}

/// GRUB 2's name for a volume, without parentheses.
pub fn grub2_device(v: &Volume) -> String {
    v.names.grub2.trim_matches(['(', ')']).to_string()
}

impl Grub2Context for DiskContext<'_> {
    fn read_file(&self, device: &str, path: &str, limit: u64) -> Lookup<Vec<u8>> {
        self.with_fs(device, |fs| match fs::resolve(fs, path, fs::DEFAULT_MAX_SYMLINK_HOPS) {
            Ok(r) if r.node.kind == NodeKind::File => {
                let len = r.node.size.min(limit);
                match fs.read_file(&r.path, r.node.size) {
                    Ok(mut d) => {
                        d.truncate(len as usize);
                        Lookup::Found(d)
                    }
                    Err(_) => Lookup::Missing,
                }
            }
            _ => Lookup::Missing,
        })
    }

    fn list_dir(&self, device: &str, path: &str) -> Lookup<Vec<String>> {
        self.with_fs(device, |fs| match fs::resolve(fs, path, fs::DEFAULT_MAX_SYMLINK_HOPS) {
            Ok(r) if r.node.kind == NodeKind::Directory => match fs.list_dir(&r.path) {
                Ok(entries) => Lookup::Found(entries.into_iter().map(|e| e.name).collect()),
                Err(_) => Lookup::Missing,
            },
            _ => Lookup::Missing,
        })
    }

    fn stat(&self, device: &str, path: &str) -> Lookup<NodeType> {
        if path == "/" || path.is_empty() {
            return if self.volume(device).is_some() { Lookup::Found(NodeType::Dir) } else { Lookup::Missing };
        }
        self.with_fs(device, |fs| match fs::resolve(fs, path, fs::DEFAULT_MAX_SYMLINK_HOPS) {
            Ok(r) if r.node.kind == NodeKind::File => Lookup::Found(NodeType::File { size: r.node.size }),
            Ok(r) if r.node.kind == NodeKind::Directory => Lookup::Found(NodeType::Dir),
            _ => Lookup::Missing,
        })
    }

    fn search(&self, kind: SearchKind, value: &str, hints: &[String]) -> Lookup<String> {
        for device in self.devices(hints) {
            let Some(v) = self.volume(&device) else { continue };
            let hit = match kind {
                SearchKind::FsUuid | SearchKind::Label => match self.disk.probe(&v) {
                    Ok(Some(p)) => match kind {
                        SearchKind::FsUuid => p.uuid.is_some_and(|u| u.eq_ignore_ascii_case(value)),
                        _ => p.label.as_deref() == Some(value),
                    },
                    _ => false,
                },
                SearchKind::File => matches!(self.stat(&device, value), Lookup::Found(NodeType::File { .. })),
            };
            if hit {
                return Lookup::Found(device);
            }
        }
        Lookup::Missing
    }

    fn initial_env(&self) -> Vec<(String, String)> {
        vec![
            ("root".into(), self.boot_device.clone()),
            ("prefix".into(), format!("({}){}", self.boot_device, self.prefix_dir)),
            ("grub_platform".into(), "pc".into()),
            ("cmdpath".into(), "(hd0)".into()),
        ]
    }
}
