//! Which filesystems each boot loader reads, from each loader's source, as
//! data: one table per reader keyed by [`FsKind`] and, where readers differ
//! on it, the format version (XFS V4 / V5). A kind missing from a table is
//! refused; a new filesystem reader in boot-sim (btrfs, …) is then read by
//! exactly the loaders whose table names it.
//!
//! - **GRUB 0.97**, which PV-GRUB is: Xen 4.17 `stubdom/grub/Makefile`
//!   builds `fsys_ext2fs.c` (ext4 through `grub.patches/60ext4.diff`),
//!   `fsys_fat.c`, `fsys_ffs.c`, `fsys_iso9660.c`, `fsys_jfs.c`,
//!   `fsys_minix.c`, `fsys_reiserfs.c`, `fsys_ufs2.c`, `fsys_vstafs.c` and
//!   `fsys_xfs.c`. `grub.patches/61btrfs.diff` adds `fsys_btrfs.c` to the
//!   tree but that Makefile neither compiles it nor defines `FSYS_BTRFS`:
//!   no btrfs. `fsys_xfs.c: xfs_mount` returns 0 unless
//!   `(sb_versionnum & XFS_SB_VERSION_NUMBITS) == XFS_SB_VERSION_4`: no
//!   V5, and no filesystem mounting is GRUB's `Error 17: Cannot mount
//!   selected partition` (`stage2/disk_io.c: open_partition`).
//! - **pygrub**, Xen 4.17 as Debian builds it: `tools/libfsimage/Makefile`
//!   builds the plugins ufs, reiserfs, iso9660, fat, zfs, xfs (x86) and
//!   ext2fs-lib (libext2fs, so ext4 too); Debian's xen-utils-4.17 ships
//!   exactly these under `xenfsimage/`. No btrfs. The xfs plugin
//!   (`tools/libfsimage/xfs/fsys_xfs.c: xfs_sb_is_invalid`) refuses any
//!   `sb_versionnum` but 4. When no plugin mounts an offset, pygrub's
//!   `xenfsimage.open` raises, the loop moves on, and with no offset left
//!   pygrub ends with `RuntimeError: Unable to find partition containing
//!   kernel` (`tools/pygrub/src/pygrub`).
//! - **GRUB 2**: `grub-core/fs/ext2.c`, `fat.c`, `iso9660.c`, `xfs.c`
//!   (V4 and V5: `grub_xfs_sb_valid` accepts `XFS_SB_VERSION_5` with its
//!   supported incompat features), `btrfs.c`, `squash4.c`.

use serde::Serialize;

use disk_image::disk::Disk;
use disk_image::fs::probe::{FsKind, FsProbe};

/// Who reads filesystems in boot-sim's models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsReader {
    /// GRUB 0.97's `stage2/fsys_*.c`: PV-GRUB, and GRUB legacy in an HVM guest.
    Grub097,
    /// pygrub through Xen 4.17's libfsimage plugins.
    Pygrub,
    /// GRUB 2's `grub-core/fs` modules.
    Grub2,
}

/// What a reader does with a filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "why", rename_all = "kebab-case")]
pub enum Support {
    Reads,
    /// No reader of its mounts it: GRUB `Error 17`, pygrub's plugin loop
    /// ends without one.
    CannotMount(String),
    /// It mounts, but reads the directories wrongly, so no file is found:
    /// GRUB `Error 15`, pygrub's "couldn't find bootloader config file".
    CannotFindFiles(String),
}

/// One row of a reader's table: a kind, the format versions it mounts
/// (empty: any), and whether it understands XFS's ftype directory byte.
struct Row {
    kind: FsKind,
    versions: &'static [u32],
    ftype: bool,
}

const fn any(kind: FsKind) -> Row {
    Row { kind, versions: &[], ftype: true }
}

const GRUB097: &[Row] = &[
    any(FsKind::Ext2),
    any(FsKind::Ext3),
    any(FsKind::Ext4),
    any(FsKind::Vfat),
    any(FsKind::Iso9660),
    // fsys_xfs.c: xfs_mount wants version 4; its short-form walk
    // (`next_dentry`: `namelen + 3` to the inode number) has no ftype byte.
    Row { kind: FsKind::Xfs, versions: &[4], ftype: false },
];

/// tools/libfsimage/xfs/fsys_xfs.c and the other plugins are GRUB 0.97's
/// readers (`xfs_sb_is_invalid`, `sf_ino`: `sfe + namelen + 3`): the same
/// table as PV-GRUB's.
const PYGRUB: &[Row] = GRUB097;

const GRUB2: &[Row] = &[
    any(FsKind::Ext2),
    any(FsKind::Ext3),
    any(FsKind::Ext4),
    any(FsKind::Vfat),
    any(FsKind::Iso9660),
    Row { kind: FsKind::Xfs, versions: &[4, 5], ftype: true },
    any(FsKind::Btrfs),
    any(FsKind::Squashfs),
];

impl FsReader {
    pub const ALL: [FsReader; 3] = [FsReader::Grub097, FsReader::Pygrub, FsReader::Grub2];

    fn table(self) -> &'static [Row] {
        match self {
            FsReader::Grub097 => GRUB097,
            FsReader::Pygrub => PYGRUB,
            FsReader::Grub2 => GRUB2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FsReader::Grub097 => "PV-GRUB (GRUB 0.97)",
            FsReader::Pygrub => "pygrub",
            FsReader::Grub2 => "GRUB 2",
        }
    }

    /// The table's answer, without words.
    fn verdict(self, p: &FsProbe) -> Verdict {
        let Some(row) = self.table().iter().find(|r| r.kind == p.kind) else { return Verdict::NoReader };
        if !row.versions.is_empty() && !p.version.is_some_and(|v| row.versions.contains(&v)) {
            Verdict::Version
        } else if !row.ftype && p.ftype == Some(true) {
            Verdict::Ftype
        } else {
            Verdict::Reads
        }
    }

    /// Whether this reader reads `p` fully.
    pub fn reads(self, p: &FsProbe) -> bool {
        self.verdict(p) == Verdict::Reads
    }

    /// What this reader does with the filesystem `p` names, and why,
    /// citing its source and naming who reads it instead.
    pub fn support(self, p: &FsProbe) -> Support {
        let what = describe(p);
        match self.verdict(p) {
            Verdict::Reads => Support::Reads,
            Verdict::NoReader => {
                let kind = p.kind.name();
                let why = match self {
                    FsReader::Grub097 => {
                        format!("PV-GRUB's stage2 is built without a {kind} reader (stubdom/grub/Makefile)")
                    }
                    FsReader::Pygrub => format!("Xen 4.17's libfsimage has no {kind} plugin"),
                    FsReader::Grub2 => format!("GRUB 2 has no {kind} module"),
                };
                Support::CannotMount(format!("{why}. {}", who_reads(p)))
            }
            Verdict::Version => {
                let why = match self {
                    FsReader::Grub097 => "GRUB 0.97's stage2/fsys_xfs.c mounts only XFS V4 (sb_versionnum 4)",
                    FsReader::Pygrub => {
                        "Xen 4.17's libfsimage xfs plugin (tools/libfsimage/xfs/fsys_xfs.c) mounts only XFS V4"
                    }
                    FsReader::Grub2 => "GRUB 2's xfs module mounts only XFS V4 and V5",
                };
                Support::CannotMount(format!("{why}; this is {what}. {}", who_reads(p)))
            }
            Verdict::Ftype => {
                let why = match self {
                    FsReader::Pygrub => {
                        "Xen 4.17's libfsimage xfs plugin mounts it but predates the ftype directory byte"
                    }
                    _ => "GRUB 0.97's stage2/fsys_xfs.c mounts it but predates the ftype directory byte",
                };
                Support::CannotFindFiles(format!(
                    "{why} (mkfs.xfs -n ftype=1): it reads short-form directory entries one byte off and finds no file. {}",
                    who_reads(p)
                ))
            }
        }
    }
}

/// For a disk on which a loader with `reader` found no menu: the
/// filesystems on it that `reader` cannot read and another loader can,
/// with who reads them ("pvgrub-hd0 cannot read this filesystem: GRUB 2
/// reads xfs V5"). `None` when there is none.
pub fn unreadable_hint(disk: &Disk, reader: FsReader, loader_name: &str) -> Option<String> {
    let readers: Vec<String> = disk
        .volumes()
        .iter()
        .filter_map(|v| disk.probe(v).ok().flatten())
        .filter(|p| !reader.reads(p) && FsReader::ALL.iter().any(|r| r.reads(p)))
        .map(|p| who_reads(&p))
        .collect();
    (!readers.is_empty()).then(|| format!("{loader_name} cannot read this filesystem: {}", readers.join("; ")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Reads,
    NoReader,
    Version,
    Ftype,
}

/// `xfs V5`, `xfs V4 (ftype)`, `btrfs`.
pub fn describe(p: &FsProbe) -> String {
    let mut s = p.kind.name().to_string();
    if let Some(v) = p.version {
        s += &format!(" V{v}");
    }
    if p.ftype == Some(true) && p.version == Some(4) {
        s += " with ftype";
    }
    s
}

/// The hint: which loaders do read `p`.
pub fn who_reads(p: &FsProbe) -> String {
    let names: Vec<&str> = FsReader::ALL.into_iter().filter(|r| r.reads(p)).map(FsReader::name).collect();
    if names.is_empty() {
        format!("No boot loader boot-sim models reads {}", describe(p))
    } else {
        format!("{} reads {}", names.join(" and "), describe(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(kind: FsKind, version: Option<u32>, ftype: Option<bool>) -> FsProbe {
        FsProbe { kind, label: None, uuid: None, version, ftype }
    }

    #[test]
    fn xfs_v4_without_ftype_everywhere_v5_only_in_grub2() {
        let v4 = probe(FsKind::Xfs, Some(4), Some(false));
        let v4f = probe(FsKind::Xfs, Some(4), Some(true));
        let v5 = probe(FsKind::Xfs, Some(5), Some(true));
        for r in FsReader::ALL {
            assert!(r.reads(&v4), "{r:?} reads XFS V4");
            assert!(r.reads(&probe(FsKind::Ext4, None, None)));
        }
        assert!(FsReader::Grub2.reads(&v5) && FsReader::Grub2.reads(&v4f));
        for r in [FsReader::Pygrub, FsReader::Grub097] {
            let Support::CannotMount(why) = r.support(&v5) else { panic!("{r:?} mounts V5") };
            assert!(why.contains("mounts only XFS V4") && why.ends_with("GRUB 2 reads xfs V5"), "{why}");
            let Support::CannotFindFiles(why) = r.support(&v4f) else { panic!("{r:?} reads V4 ftype") };
            assert!(why.contains("ftype") && why.ends_with("GRUB 2 reads xfs V4 with ftype"), "{why}");
        }
    }

    #[test]
    fn btrfs_only_in_grub2() {
        let p = probe(FsKind::Btrfs, None, None);
        assert!(FsReader::Grub2.reads(&p));
        for r in [FsReader::Pygrub, FsReader::Grub097] {
            let Support::CannotMount(why) = r.support(&p) else { panic!("{r:?} reads btrfs") };
            assert!(why.ends_with("GRUB 2 reads btrfs"), "{why}");
        }
    }
}
