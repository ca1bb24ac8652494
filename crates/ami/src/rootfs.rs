//! The root filesystem a booted kernel mounts: `root=` of the command line
//! the loader chose (`UUID=`, `LABEL=`, `/dev/xvdaN` and its `sd`/`hd`/
//! `vd`/`nvme0n1p` spellings, `/dev/mapper/VG-LV`, `/dev/VG/LV`), else the
//! volume the kernel was loaded from; on btrfs the subvolume Linux mounts
//! (`rootflags=subvol=`/`subvolid=`, else the default subvolume). Read
//! through `disk_image`, so every filesystem boot-sim reads (ext2/3/4,
//! XFS, btrfs, on partitions or LVM) works.

use std::sync::Arc;

use disk_image::fs::Filesystem;
use disk_image::fs::btrfs::{BtrfsFs, SubvolSpec};
use disk_image::fs::probe::FsKind;
use disk_image::{Disk, ReadAt, Volume};

use crate::AmiError;

/// The opened root filesystem and how it was found.
pub struct RootFs {
    pub fs: Box<dyn Filesystem>,
    /// Its Linux device name (`xvda1`, `mapper/vg-root`).
    pub device: String,
    pub kind: &'static str,
    /// How it was chosen ("root=UUID=… names xvda1").
    pub how: String,
}

fn arg<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_whitespace().filter_map(|a| a.strip_prefix(key)).next_back()
}

/// `/dev/sda2` → `xvda2` (the kernel sees the Xen disk as xvda).
fn xen_name(dev: &str) -> Option<String> {
    let d = dev.strip_prefix("/dev/").unwrap_or(dev);
    for p in ["xvda", "sda", "hda", "vda", "nvme0n1p"] {
        if let Some(n) = d.strip_prefix(p)
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            return Some(format!("xvda{n}"));
        }
    }
    None
}

/// Opens the root filesystem for `cmdline` (the chosen entry's command
/// line) on `image`; `kernel_device` is where the loader read the kernel,
/// in GRUB's naming (`(hd0,0)`, `(hd0,msdos1)`).
pub fn open(image: Arc<dyn ReadAt>, cmdline: &str, kernel_device: Option<&str>) -> crate::Result<RootFs> {
    let disk = Disk::from_reader(image)?;
    let (vol, how) = match arg(cmdline, "root=") {
        Some(spec) => {
            let by = |want: &dyn Fn(&disk_image::fs::probe::FsProbe) -> bool| {
                disk.volumes().iter().find(|v| disk.probe(v).ok().flatten().is_some_and(|p| want(&p))).cloned()
            };
            let v: Option<Volume> = if let Some(u) = spec.strip_prefix("UUID=") {
                by(&|p| p.uuid.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)))
            } else if let Some(l) = spec.strip_prefix("LABEL=") {
                by(&|p| p.label.as_deref() == Some(l))
            } else {
                disk.volume(spec).or_else(|| xen_name(spec).and_then(|n| disk.volume(&n)))
            };
            match v {
                Some(v) => {
                    let how = format!("root={spec} names {}", v.names.linux);
                    (v, how)
                }
                None => return Err(AmiError::RootNotFound { spec: spec.to_string() }),
            }
        }
        None => {
            let dev = kernel_device.ok_or(AmiError::RootUnknown)?;
            let v = disk.volume(dev).ok_or_else(|| AmiError::KernelDeviceNotVolume { device: dev.to_string() })?;
            let how = format!("no root= on the command line: the volume the kernel was read from, {}", v.names.linux);
            (v, how)
        }
    };
    let probe = disk.probe(&vol)?;
    let kind = probe.as_ref().map_or("none", |p| p.kind.name());
    let device = vol.names.linux.clone();
    if probe.as_ref().is_some_and(|p| p.kind == FsKind::Btrfs) {
        let top = BtrfsFs::open(disk.window(&vol))?;
        let flags = arg(cmdline, "rootflags=").unwrap_or("");
        let spec = flags
            .split(',')
            .find_map(|o| {
                o.strip_prefix("subvol=")
                    .map(|p| SubvolSpec::Path(p.to_string()))
                    .or_else(|| o.strip_prefix("subvolid=").and_then(|i| i.parse().ok()).map(SubvolSpec::Id))
            })
            .unwrap_or(SubvolSpec::Default);
        let fs = top.open_subvolume(&spec).map_err(|source| AmiError::RootSubvolume {
            device: device.clone(),
            subvolume: format!("{spec:?}"),
            source,
        })?;
        let how = format!("{how}, btrfs subvolume {} ({spec:?})", fs.subvolume_id());
        return Ok(RootFs { fs: Box::new(fs), device, kind, how });
    }
    let fs = disk.open_probed(&vol, probe)?;
    Ok(RootFs { fs, device, kind, how })
}
