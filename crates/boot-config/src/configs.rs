//! Boot-loader configuration files that may be present on a filesystem.
//!
//! The paths are the union of what the loaders boot-sim models look at:
//! pygrub (`tools/pygrub/src/pygrub`, `read_config`: GRUB 2 cfgs, then
//! extlinux/isolinux, then GRUB legacy menus), PV-GRUB (`/boot/grub/menu.lst`
//! and `/grub/menu.lst`), GRUB 2's grubenv and BLS snippets, and GRUB
//! legacy's `default` file (`default saved`).

use serde::Serialize;

use disk_image::fs::{self, Filesystem, NodeKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigFormat {
    /// GRUB 0.97 menu (`menu.lst`, `grub.conf`).
    GrubLegacy,
    /// GRUB legacy's `default` file for `default saved`.
    GrubLegacyDefault,
    /// GRUB 2 `grub.cfg`.
    Grub2,
    /// GRUB 2 environment block.
    Grubenv,
    /// Boot Loader Specification entry (`/boot/loader/entries/*.conf`).
    Bls,
    /// extlinux / isolinux / syslinux.
    Extlinux,
}

/// Well-known config paths, in pygrub's search order first.
pub const KNOWN_CONFIGS: &[(&str, ConfigFormat)] = &[
    ("/boot/grub/grub.cfg", ConfigFormat::Grub2),
    ("/grub/grub.cfg", ConfigFormat::Grub2),
    ("/boot/grub2/grub.cfg", ConfigFormat::Grub2),
    ("/grub2/grub.cfg", ConfigFormat::Grub2),
    ("/boot/isolinux/isolinux.cfg", ConfigFormat::Extlinux),
    ("/boot/extlinux/extlinux.conf", ConfigFormat::Extlinux),
    ("/boot/extlinux.conf", ConfigFormat::Extlinux),
    ("/extlinux/extlinux.conf", ConfigFormat::Extlinux),
    ("/extlinux.conf", ConfigFormat::Extlinux),
    ("/boot/syslinux/syslinux.cfg", ConfigFormat::Extlinux),
    ("/syslinux/syslinux.cfg", ConfigFormat::Extlinux),
    ("/boot/grub/menu.lst", ConfigFormat::GrubLegacy),
    ("/boot/grub/grub.conf", ConfigFormat::GrubLegacy),
    ("/grub/menu.lst", ConfigFormat::GrubLegacy),
    ("/grub/grub.conf", ConfigFormat::GrubLegacy),
    ("/boot/grub/default", ConfigFormat::GrubLegacyDefault),
    ("/grub/default", ConfigFormat::GrubLegacyDefault),
    ("/boot/grub/grubenv", ConfigFormat::Grubenv),
    ("/grub/grubenv", ConfigFormat::Grubenv),
    ("/boot/grub2/grubenv", ConfigFormat::Grubenv),
    ("/grub2/grubenv", ConfigFormat::Grubenv),
];

/// Directories holding BLS entries.
pub const BLS_DIRS: &[&str] = &["/boot/loader/entries", "/loader/entries"];

/// Cap on BLS snippets listed per directory.
const MAX_BLS_ENTRIES: usize = 256;

/// A config file found (or a known path that exists but cannot be used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundConfig {
    pub path: String,
    pub format: ConfigFormat,
    /// The symlink-free path, when the path resolves.
    pub resolved_path: Option<String>,
    /// Symlinks followed: (link, target as stored).
    pub hops: Vec<(String, String)>,
    pub size: Option<u64>,
    /// Why the path exists but cannot be read as a file (symlink loop,
    /// dangling link, directory, …).
    pub error: Option<String>,
}

/// Looks for every known config path on `fs`. A path that does not exist
/// is simply not listed; one that exists as a broken symlink is listed
/// with its error, because that is exactly what a user needs to see.
pub fn find_configs(fs: &dyn Filesystem) -> Vec<FoundConfig> {
    find_configs_under(fs, "")
}

/// [`find_configs`] for a root tree that sits at `prefix` of `fs`: a btrfs
/// subvolume as GRUB 2 names its files (`/@/boot/grub/grub.cfg`).
pub fn find_configs_under(fs: &dyn Filesystem, prefix: &str) -> Vec<FoundConfig> {
    let mut found = Vec::new();
    for &(path, format) in KNOWN_CONFIGS {
        if let Some(c) = examine(fs, &format!("{prefix}{path}"), format) {
            found.push(c);
        }
    }
    for dir in BLS_DIRS {
        let dir = &format!("{prefix}{dir}");
        let Ok(r) = fs::resolve(fs, dir, fs::DEFAULT_MAX_SYMLINK_HOPS) else { continue };
        let Ok(entries) = fs.list_dir(&r.path) else { continue };
        let mut names: Vec<String> = entries
            .into_iter()
            .filter(|e| e.name.ends_with(".conf") && e.kind != NodeKind::Directory)
            .map(|e| e.name)
            .collect();
        names.sort();
        for name in names.into_iter().take(MAX_BLS_ENTRIES) {
            if let Some(c) = examine(fs, &format!("{dir}/{name}"), ConfigFormat::Bls) {
                found.push(c);
            }
        }
    }
    found
}

fn examine(fs: &dyn Filesystem, path: &str, format: ConfigFormat) -> Option<FoundConfig> {
    // Only list paths whose last component exists (possibly as a symlink).
    let parent_ok = match path.rsplit_once('/') {
        Some((parent, name)) => {
            let parent = if parent.is_empty() { "/" } else { parent };
            match fs::resolve(fs, parent, fs::DEFAULT_MAX_SYMLINK_HOPS) {
                Ok(r) if r.node.kind == NodeKind::Directory => {
                    let joined = if r.path == "/" { format!("/{name}") } else { format!("{}/{name}", r.path) };
                    fs.stat(&joined).is_ok()
                }
                _ => false,
            }
        }
        None => false,
    };
    if !parent_ok {
        return None;
    }
    let mut c =
        FoundConfig { path: path.to_string(), format, resolved_path: None, hops: Vec::new(), size: None, error: None };
    match fs::resolve(fs, path, fs::DEFAULT_MAX_SYMLINK_HOPS) {
        Ok(r) => {
            c.resolved_path = Some(r.path.clone());
            c.hops = r.hops;
            match r.node.kind {
                NodeKind::File => c.size = Some(r.node.size),
                NodeKind::Directory => c.error = Some("is a directory".into()),
                _ => c.error = Some("not a regular file".into()),
            }
        }
        Err(e) => c.error = Some(e.to_string()),
    }
    Some(c)
}

/// For a PV loader that found no menu: which LVs hold boot-loader configs,
/// and who can read them. GRUB 0.97 (PV-GRUB) reads filesystems straight
/// off partitions (`stage2/disk_io.c` `fsys_table`: ext2fs, fat, ffs,
/// iso9660, jfs, minix, reiserfs, ufs2, vstafs, xfs; no volume manager) and
/// Xen's pygrub opens filesystems at partition offsets through libfsimage
/// (`tools/pygrub/src/pygrub` `get_partition_offsets`, plugins ext2fs, fat,
/// iso9660, reiserfs, ufs, xfs, zfs; no LVM), so neither sees an LV.
pub fn lvm_hint(disk: &disk_image::Disk) -> Option<String> {
    let mut found = Vec::new();
    for v in disk.volumes().iter().filter(|v| v.lvm.is_some()) {
        let Ok(fs) = disk.open_fs(v) else { continue };
        if let Some(c) = find_configs(&*fs).into_iter().find(|c| c.error.is_none()) {
            found.push(format!("{}{}", v.names.grub2, c.path));
        }
    }
    (!found.is_empty()).then(|| {
        format!(
            "the boot menu is on an LVM2 logical volume ({}): PV-GRUB (GRUB 0.97) and pygrub read only \
             filesystems on partitions and have no LVM support; GRUB 2 reads LVs with its lvm module \
             (boot this image as HVM), or put /boot on a plain partition for PV",
            found.join(", ")
        )
    })
}
