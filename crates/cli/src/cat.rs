//! `boot-sim cat IMAGE [DEVICE]PATH`.

use std::path::Path;

use disk_image::disk::split_device_path;
use disk_image::fs::{self, Filesystem};
use disk_image::{Disk, Volume};

use crate::output::{Exit, Out};

/// Largest file `cat` prints (kernels and initrds fit; whole filesystems do not).
const MAX_CAT_BYTES: u64 = 1 << 30;

fn split_spec(spec: &str) -> Result<(Option<&str>, &str), Exit> {
    if spec.starts_with('(') {
        return split_device_path(spec).map_err(Exit::from);
    }
    // Linux style: xvda1:/boot/grub/menu.lst
    if let Some((dev, _)) = spec.split_once(":/") {
        return Ok((Some(dev), &spec[dev.len() + 1..]));
    }
    Ok((None, spec))
}

pub fn run(out: &mut Out, image: &Path, spec: &str) -> Result<(), Exit> {
    let data = read_from_image(image, spec, MAX_CAT_BYTES)?;
    out.bytes(&data)
}

/// Reads `[DEVICE]PATH` from a disk image, following symlinks; without a
/// device, the first volume holding the file.
pub fn read_from_image(image: &Path, spec: &str, max_len: u64) -> Result<Vec<u8>, Exit> {
    let disk = Disk::open(image)?;
    let (device, path) = split_spec(spec)?;
    if !path.starts_with('/') {
        return Err(Exit::Error(format!("{spec}: the path must be absolute (start with /)")));
    }
    let candidates: Vec<Volume> = match device {
        Some(d) => vec![disk.volume(d).ok_or_else(|| {
            if let Some(why) = disk.lvm().lv_problem(d) {
                return Exit::Error(format!("{d}: {why}"));
            }
            let known: Vec<String> = disk
                .volumes()
                .iter()
                .map(|v| format!("{} {} {}", v.names.grub, v.names.grub2, v.names.linux))
                .collect();
            Exit::Error(format!("{d}: no such device in {} (it has: {})", image.display(), known.join("; ")))
        })?],
        None => disk.volumes().to_vec(),
    };
    // Every failure, named by image and device: a path error alone
    // ("/: not a directory") does not say where it was looked up.
    let mut errors = Vec::new();
    for v in &candidates {
        // Errors about the volume name it already; path errors do not.
        let said = |e: &disk_image::DiskError| {
            let e = e.to_string();
            if e.contains(&v.names.linux) { e } else { format!("{} {}: {e}", v.names.grub, v.names.linux) }
        };
        let fs: Box<dyn Filesystem> = match disk.open_fs(v) {
            Ok(fs) => fs,
            Err(e) => {
                errors.push(said(&e));
                continue;
            }
        };
        match fs::read_resolved(&*fs, path, max_len) {
            Ok((_, data)) => return Ok(data),
            Err(e) => errors.push(said(&e)),
        }
    }
    let image = image.display().to_string();
    Err(Exit::Error(match errors.len() {
        0 => format!("{image}: no volumes"),
        1 if errors[0].contains(&image) => errors.remove(0),
        1 => format!("{image}: {}", errors.remove(0)),
        n => format!("{image}: {path} is on none of its {n} volumes: {}", errors.join("; ")),
    }))
}
