//! Where a loader finds its menu, and how it finds files named by it.
//!
//! Four loaders, each recording every place it looked and why it moved on:
//! - `pygrub` (`tools/pygrub/src/pygrub`, Xen 4.17): partition offsets from
//!   `get_partition_offsets` — no 0x55AA: the whole disk; MBR: the four
//!   slots in order, skipping start 0 and Solaris types (0xBF, and 0x82,
//!   which is also Linux swap); GPT (0xEE): every entry of the primary
//!   header, CRC unchecked; extended partitions are tried as filesystems
//!   (and fail), logical partitions never. On each, the first file of its
//!   `cfg_list` that exists is the config.
//! - `pvgrub-hd0` / `pvgrub-hd00`: PV-GRUB built with
//!   `(hd0)/boot/grub/menu.lst` or `(hd0,0)/boot/grub/menu.lst`.
//! - `pvgrub-aws`: the PV-GRUB builds that search nine places:
//!   `(hd0)/boot/grub`, then `(hd0,N)/boot/grub` and `(hd0,N)/grub` for
//!   N = 0..=3, each for `menu.lst`.
//!
//! PV-GRUB resolves files the GRUB 0.97 way (`root` device, device prefixes,
//! at most 5 symlink hops, `stage2/fsys_ext2fs.c` MAX_LINK_COUNT); when an
//! entry has no `root`, the device the menu was found on is the root (the
//! device PV-GRUB was started with).

use serde::Serialize;

use crate::disk_context::DiskContext;
use crate::fs_support::{FsReader, Support};
use crate::grub_error::GrubError;
use crate::grub2::{self, Grub2Context};
use crate::{BootPath, Menu, MenuFormat, bls, extlinux, grub_legacy, pygrub_grub2};
use disk_image::disk::{Disk, Volume};
use disk_image::error::{DiskError, PathErrorKind};
use disk_image::fs::{self, Filesystem, NodeKind};
use disk_image::partition::Role;

/// Symlink hops GRUB 0.97's ext2 driver follows (`MAX_LINK_COUNT`).
pub const GRUB_LEGACY_MAX_HOPS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loader {
    Pygrub,
    PvgrubHd0,
    PvgrubHd00,
    PvgrubAws,
}

impl Loader {
    pub const ALL: [Loader; 4] = [Loader::Pygrub, Loader::PvgrubHd0, Loader::PvgrubHd00, Loader::PvgrubAws];

    pub fn name(self) -> &'static str {
        match self {
            Loader::Pygrub => "pygrub",
            Loader::PvgrubHd0 => "pvgrub-hd0",
            Loader::PvgrubHd00 => "pvgrub-hd00",
            Loader::PvgrubAws => "pvgrub-aws",
        }
    }

    /// Whose filesystem readers this loader has ([`crate::fs_support`]).
    pub fn fs_reader(self) -> FsReader {
        match self {
            Loader::Pygrub => FsReader::Pygrub,
            Loader::PvgrubHd0 | Loader::PvgrubHd00 | Loader::PvgrubAws => FsReader::Grub097,
        }
    }

    pub fn from_name(name: &str) -> Option<Loader> {
        Loader::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// pygrub's `cfg_list`, in order, with the parser it uses for each.
pub const PYGRUB_CONFIGS: &[(&str, MenuFormat)] = &[
    ("/boot/grub/grub.cfg", MenuFormat::Grub2),
    ("/grub/grub.cfg", MenuFormat::Grub2),
    ("/boot/grub2/grub.cfg", MenuFormat::Grub2),
    ("/grub2/grub.cfg", MenuFormat::Grub2),
    ("/boot/isolinux/isolinux.cfg", MenuFormat::Extlinux),
    ("/boot/extlinux/extlinux.conf", MenuFormat::Extlinux),
    ("/boot/extlinux.conf", MenuFormat::Extlinux),
    ("/extlinux/extlinux.conf", MenuFormat::Extlinux),
    ("/extlinux.conf", MenuFormat::Extlinux),
    ("/boot/grub/menu.lst", MenuFormat::GrubLegacy),
    ("/boot/grub/grub.conf", MenuFormat::GrubLegacy),
    ("/grub/menu.lst", MenuFormat::GrubLegacy),
    ("/grub/grub.conf", MenuFormat::GrubLegacy),
];

/// One place a loader looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// `(hd0,0)` for PV-GRUB; for pygrub, the byte offset it opened.
    pub device: String,
    pub path: String,
    pub outcome: ProbeOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ProbeOutcome {
    Found,
    /// The file is not there.
    Missing,
    /// The device, filesystem or file failed, with GRUB's error when it has one.
    Failed {
        error: Option<GrubError>,
        detail: String,
    },
}

/// A file found through a loader's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileHit {
    /// The device the file was read from (GRUB legacy name, `(hd0)` for the whole disk).
    pub device: String,
    /// Linux name of that device.
    pub linux: String,
    /// The path as the menu names it.
    pub path: String,
    /// After symlinks.
    pub resolved_path: String,
    pub hops: Vec<(String, String)>,
    pub size: u64,
}

/// Why a file could not be loaded, in GRUB's words where GRUB has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileFailure {
    pub error: Option<GrubError>,
    pub detail: String,
}

impl std::fmt::Display for FileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.error {
            Some(e) => write!(f, "{e} ({})", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

fn fail(error: GrubError, detail: impl Into<String>) -> FileFailure {
    FileFailure { error: Some(error), detail: detail.into() }
}

/// A volume opened for file access, named as GRUB names it.
pub struct OpenVolume {
    pub volume: Volume,
    pub fs: Box<dyn Filesystem>,
}

/// Opens a GRUB device (`(hd0)`, `(hd0,0)`, `(hd0,msdos1)`, `(hd0,gpt2)`):
/// disks other than hd0 are `Error 21`, missing partitions `Error 22`, a
/// partition without a filesystem boot-sim can read `Error 17`.
pub fn open_grub_device(disk: &Disk, device: &str) -> Result<OpenVolume, FileFailure> {
    let (disk_no, _) = grub_legacy::parse_device(device)
        .or_else(|| {
            // GRUB 2 names: (hd0,msdos1), (hd0,gpt1).
            let inner = device.strip_prefix("(hd")?.strip_suffix(')')?;
            let (d, _) = inner.split_once(',').unwrap_or((inner, ""));
            Some((d.parse().ok()?, None))
        })
        .ok_or_else(|| fail(GrubError::DevFormat, format!("{device} is not a device name")))?;
    if disk_no != 0 {
        return Err(fail(GrubError::NoDisk, format!("{device}: the guest has one disk, hd0")));
    }
    let volume = disk
        .volume(device)
        .ok_or_else(|| fail(GrubError::NoPart, format!("{device}: no such partition on this disk")))?;
    if volume.partition.as_ref().is_some_and(|p| p.role == Role::Extended) {
        return Err(fail(GrubError::FsysMount, format!("{device} is an extended partition (a container)")));
    }
    // GRUB 0.97 tries its fsys_*.c in turn; none mounting is Error 17.
    let probed = disk.probe(&volume).map_err(|e| fail(GrubError::FsysMount, format!("{device}: {e}")))?;
    match probed.as_ref().map(|p| FsReader::Grub097.support(p)) {
        Some(Support::CannotMount(why)) => return Err(fail(GrubError::FsysMount, format!("{device}: {why}"))),
        Some(Support::CannotFindFiles(why)) => {
            return Err(fail(GrubError::FileNotFound, format!("{device}: {why}")));
        }
        _ => {}
    }
    match disk.open_probed(&volume, probed) {
        Ok(fs) => Ok(OpenVolume { volume, fs }),
        Err(e) => Err(fail(GrubError::FsysMount, format!("{device}: {e}"))),
    }
}

/// Maps a path lookup error to GRUB's.
fn path_failure(device: &str, e: &DiskError) -> FileFailure {
    let error = match e {
        DiskError::Path { kind, .. } => match kind {
            PathErrorKind::NotFound | PathErrorKind::NotADirectory => GrubError::FileNotFound,
            PathErrorKind::TooManySymlinks => GrubError::SymlinkLoop,
            PathErrorKind::IsADirectory => GrubError::BadFiletype,
            PathErrorKind::NotAbsolute => GrubError::BadFilename,
            PathErrorKind::TooLarge => GrubError::WontFit,
            PathErrorKind::Corrupt => GrubError::FsysCorrupt,
            PathErrorKind::Io => GrubError::Read,
            PathErrorKind::Other => GrubError::BadFiletype,
        },
        DiskError::Io { .. } => GrubError::Read,
        DiskError::Corrupt { .. } => GrubError::FsysCorrupt,
        DiskError::Unsupported { .. } => GrubError::FsysMount,
    };
    FileFailure { error: Some(error), detail: format!("{device}{e}") }
}

/// Finds a regular file on an open volume, following at most `max_hops`
/// symlinks.
pub fn find_file(ov: &OpenVolume, path: &str, max_hops: usize) -> Result<FileHit, FileFailure> {
    let device = &ov.volume.names.grub;
    if !path.starts_with('/') {
        return Err(fail(GrubError::BadFilename, format!("{path:?} does not start with /")));
    }
    let r = fs::resolve(&*ov.fs, path, max_hops).map_err(|e| path_failure(device, &e))?;
    if r.node.kind != NodeKind::File {
        return Err(fail(GrubError::BadFiletype, format!("{device}{path} is not a regular file")));
    }
    Ok(FileHit {
        device: device.clone(),
        linux: ov.volume.names.linux.clone(),
        path: path.to_string(),
        resolved_path: r.path,
        hops: r.hops,
        size: r.node.size,
    })
}

/// Finds a file named by a GRUB menu: its own device prefix, else the
/// entry's `root`, else `default_root`.
pub fn find_grub_file(
    disk: &Disk,
    file: &BootPath,
    root: Option<&str>,
    default_root: &str,
    max_hops: usize,
) -> Result<FileHit, FileFailure> {
    let device = file.device.as_deref().or(root).unwrap_or(default_root);
    let ov = open_grub_device(disk, device)?;
    find_file(&ov, &file.path, max_hops)
}

/// The config a loader settled on.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedConfig {
    pub volume: Volume,
    pub file: FileHit,
    pub format: MenuFormat,
    pub menu: Menu,
    /// GRUB legacy's `default` file next to the menu (`default saved`).
    pub saved_default: Option<usize>,
    /// The config's bytes as the loader read them (what the menu was
    /// parsed from), for whoever needs the file's own lines.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Everything a loader did to find its menu.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    pub loader: Loader,
    pub probes: Vec<Probe>,
    pub config: Option<LoadedConfig>,
}

/// Parses a config as its own loader reads it. GRUB 2 configs are
/// evaluated against `ctx` (the disks, for `search`, `load_env`, `source`,
/// `blscfg`); without one, as a lone file.
pub fn parse_config(format: MenuFormat, data: &[u8], config_path: &str, ctx: Option<&dyn Grub2Context>) -> Menu {
    match format {
        MenuFormat::GrubLegacy => grub_legacy::parse(data),
        MenuFormat::Extlinux => {
            let dir = config_path.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
            extlinux::parse(data, dir)
        }
        MenuFormat::Grub2 => grub2::evaluate(data, config_path, ctx.unwrap_or(&grub2::NoContext)).menu,
        MenuFormat::Bls => {
            let stem = config_path.rsplit('/').next().unwrap_or(config_path).trim_end_matches(".conf");
            grub2::bls_menu(vec![bls::parse_entry(stem, data)], &[])
        }
    }
}

/// Parses a config as pygrub reads it (`Err`: the exception it raises).
pub fn parse_config_pygrub(
    format: MenuFormat,
    data: &[u8],
    config_path: &str,
) -> Result<Menu, pygrub_grub2::PygrubException> {
    match format {
        MenuFormat::GrubLegacy => Ok(grub_legacy::parse_dialect(data, crate::Dialect::Pygrub)),
        MenuFormat::Extlinux => {
            let dir = config_path.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
            Ok(extlinux::parse_dialect(data, dir, crate::Dialect::Pygrub))
        }
        MenuFormat::Grub2 => pygrub_grub2::parse(data),
        MenuFormat::Bls => Err(pygrub_grub2::PygrubException::Bls),
    }
}

fn load(disk: &Disk, ov: &OpenVolume, hit: FileHit, format: MenuFormat) -> Result<LoadedConfig, FileFailure> {
    let data = ov
        .fs
        .read_file(&hit.resolved_path, crate::MAX_CONFIG_BYTES)
        .map_err(|e| path_failure(&ov.volume.names.grub, &e))?;
    let ctx = DiskContext::new(disk, &ov.volume, &hit.resolved_path);
    let menu = parse_config(format, &data, &hit.resolved_path, Some(&ctx));
    // stage2.c: the `default` file sits in the directory of the menu as named.
    let saved_default = (format == MenuFormat::GrubLegacy)
        .then(|| {
            let dir = hit.path.rsplit_once('/').map_or("", |(d, _)| d);
            let default_path = format!("{dir}/default");
            find_file(ov, &default_path, GRUB_LEGACY_MAX_HOPS)
                .ok()
                .and_then(|h| ov.fs.read_file(&h.resolved_path, 4096).ok())
                .map(|d| grub_legacy::parse_default_file(&d))
        })
        .flatten();
    Ok(LoadedConfig { volume: ov.volume.clone(), file: hit, format, menu, saved_default, data })
}

/// `pygrub --offset=BYTES` named an offset where no volume starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoVolumeAt {
    pub offset: u64,
    /// Every volume's Linux name and first byte, for the message.
    pub starts: Vec<(String, u64)>,
}

impl std::fmt::Display for NoVolumeAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let starts: Vec<String> = self.starts.iter().map(|(name, at)| format!("{name} {at}")).collect();
        write!(f, "no partition starts at byte offset {} (partition starts: {})", self.offset, starts.join(", "))
    }
}

impl std::error::Error for NoVolumeAt {}

/// pygrub with `--offset=BYTES`: only the filesystem at that byte offset
/// (pygrub's `part_offs = [int(a)]`), e.g. a logical partition, which
/// `get_partition_offsets` never lists. `Err` when no volume boot-sim knows
/// starts there.
pub fn discover_pygrub_at(disk: &Disk, offset: u64) -> Result<Discovery, NoVolumeAt> {
    let volume = if offset == 0 {
        disk.whole_disk()
    } else {
        disk.volumes().iter().find(|v| v.start_bytes == offset).cloned().ok_or_else(|| NoVolumeAt {
            offset,
            starts: disk.volumes().iter().map(|v| (v.names.linux.clone(), v.start_bytes)).collect(),
        })?
    };
    let mut d = Discovery { loader: Loader::Pygrub, probes: Vec::new(), config: None };
    pygrub_try(disk, &mut d, offset, Some(volume), true);
    Ok(d)
}

/// Runs a loader's config search.
pub fn discover(disk: &Disk, loader: Loader) -> Discovery {
    let mut d = Discovery { loader, probes: Vec::new(), config: None };
    match loader {
        Loader::Pygrub => discover_pygrub(disk, &mut d),
        Loader::PvgrubHd0 => pvgrub_places(disk, &mut d, &[("(hd0)", "/boot/grub/menu.lst")]),
        Loader::PvgrubHd00 => pvgrub_places(disk, &mut d, &[("(hd0,0)", "/boot/grub/menu.lst")]),
        Loader::PvgrubAws => {
            let mut places = vec![("(hd0)".to_string(), "/boot/grub/menu.lst")];
            for n in 0..4 {
                places.push((format!("(hd0,{n})"), "/boot/grub/menu.lst"));
                places.push((format!("(hd0,{n})"), "/grub/menu.lst"));
            }
            let places: Vec<(&str, &str)> = places.iter().map(|(d, p)| (d.as_str(), *p)).collect();
            pvgrub_places(disk, &mut d, &places)
        }
    }
    d
}

fn pvgrub_places(disk: &Disk, d: &mut Discovery, places: &[(&str, &str)]) {
    for &(device, path) in places {
        let probe = |outcome| Probe { device: device.to_string(), path: path.to_string(), outcome };
        let ov = match open_grub_device(disk, device) {
            Ok(ov) => ov,
            Err(f) => {
                d.probes.push(probe(ProbeOutcome::Failed { error: f.error, detail: f.detail }));
                continue;
            }
        };
        match find_file(&ov, path, GRUB_LEGACY_MAX_HOPS) {
            Ok(hit) => match load(disk, &ov, hit, MenuFormat::GrubLegacy) {
                Ok(cfg) => {
                    d.probes.push(probe(ProbeOutcome::Found));
                    d.config = Some(cfg);
                    return;
                }
                Err(f) => d.probes.push(probe(ProbeOutcome::Failed { error: f.error, detail: f.detail })),
            },
            Err(f) if f.error == Some(GrubError::FileNotFound) => d.probes.push(probe(ProbeOutcome::Missing)),
            Err(f) => d.probes.push(probe(ProbeOutcome::Failed { error: f.error, detail: f.detail })),
        }
    }
}

/// The byte offsets pygrub's `get_partition_offsets` returns, each with
/// the volume boot-sim has there (if any).
pub fn pygrub_offsets(disk: &Disk) -> Vec<(u64, Option<Volume>)> {
    let mut sector = [0u8; 512];
    if disk.reader().read_exact_at(0, &mut sector).is_err() || sector[510..512] != [0x55, 0xAA] {
        return vec![(0, Some(disk.whole_disk()))];
    }
    let mut offs = Vec::new();
    for slot in 0..4 {
        let e = &sector[446 + 16 * slot..462 + 16 * slot];
        let start = u64::from(u32::from_le_bytes([e[8], e[9], e[10], e[11]]));
        let ptype = e[4];
        if start == 0 || ptype == 0xBF || ptype == 0x82 {
            continue;
        }
        if ptype == 0xEE {
            // Every entry of the primary header, used or not (offset 0 for
            // unused ones), as get_fs_offset_gpt reads them.
            let mut hdr = [0u8; 512];
            if disk.reader().read_exact_at(512, &mut hdr).is_ok() {
                let count = u32::from_le_bytes([hdr[80], hdr[81], hdr[82], hdr[83]]).min(1024);
                let size = u64::from(u32::from_le_bytes([hdr[84], hdr[85], hdr[86], hdr[87]])).max(128);
                let base = u64::from_le_bytes(hdr[72..80].try_into().unwrap_or([0; 8])).saturating_mul(512);
                for i in 0..u64::from(count) {
                    let mut ent = [0u8; 40];
                    let Some(at) = base.checked_add(i * size) else { break };
                    if disk.reader().read_exact_at(at, &mut ent).is_err() {
                        break;
                    }
                    offs.push(u64::from_le_bytes(ent[32..40].try_into().unwrap_or([0; 8])).saturating_mul(512));
                }
            }
            break;
        }
        offs.push(start * 512);
    }
    if offs.is_empty() {
        offs.push(0);
    }
    let volume_at = |off: u64| -> Option<Volume> {
        if off == 0 {
            return Some(disk.whole_disk());
        }
        disk.volumes().iter().find(|v| v.start_bytes == off).cloned()
    };
    offs.into_iter().map(|o| (o, volume_at(o))).collect()
}

fn discover_pygrub(disk: &Disk, d: &mut Discovery) {
    discover_configs(disk, d, true);
}

/// pygrub's search for the config (its `cfg_list` paths) on every volume
/// (logical partitions and LVs too, in disk order), through boot-sim's own
/// filesystem readers, whatever pygrub's libfsimage could mount: the
/// configs a loader that reads every filesystem (GRUB 2 with its `xfs` and
/// `btrfs` modules) finds. The HVM path predicts an executed boot from it.
pub fn discover_any_fs(disk: &Disk) -> Discovery {
    let mut d = Discovery { loader: Loader::Pygrub, probes: Vec::new(), config: None };
    discover_configs(disk, &mut d, false);
    d
}

fn discover_configs(disk: &Disk, d: &mut Discovery, pygrub_fs_only: bool) {
    // pygrub looks at the primary partitions (and a GPT's entries) only;
    // a loader installed on a logical partition or an LV reads its config
    // there, so the search for any loader goes through every volume.
    let places = if pygrub_fs_only {
        pygrub_offsets(disk)
    } else {
        disk.volumes().iter().map(|v| (v.start_bytes, Some(v.clone()))).collect()
    };
    for (offset, volume) in places {
        pygrub_try(disk, d, offset, volume, pygrub_fs_only);
        if d.config.is_some() {
            return;
        }
    }
}

/// One offset of pygrub's loop: open the filesystem, find the first
/// `cfg_list` file, parse it as pygrub does.
fn pygrub_try(disk: &Disk, d: &mut Discovery, offset: u64, volume: Option<Volume>, pygrub_fs_only: bool) {
    let device = match &volume {
        Some(v) => format!("{} (offset {offset})", v.names.linux),
        None => format!("offset {offset}"),
    };
    let probe = |path: &str, outcome| Probe { device: device.clone(), path: path.to_string(), outcome };
    // xenfsimage.open: no libfsimage plugin mounts it. pygrub's loop
    // swallows the exception and tries the next offset.
    let probed = volume.as_ref().map(|v| disk.probe(v));
    let support = probed
        .as_ref()
        .filter(|_| pygrub_fs_only)
        .and_then(|r| r.as_ref().ok())
        .and_then(Option::as_ref)
        .map(|p| FsReader::Pygrub.support(p));
    let refused = match support {
        Some(Support::CannotMount(why)) => Some(format!("xenfsimage.open fails: {why}")),
        Some(Support::CannotFindFiles(why)) => {
            Some(format!("couldn't find bootloader config file in the image provided. ({why})"))
        }
        _ => None,
    };
    if let Some(detail) = refused {
        let detail =
            format!("{detail}. With no other partition: \"RuntimeError: Unable to find partition containing kernel\"");
        d.probes.push(probe("", ProbeOutcome::Failed { error: None, detail }));
        return;
    }
    let ov = match volume.as_ref().zip(probed).map(|(v, p)| (v, p.and_then(|p| disk.open_probed(v, p)))) {
        Some((v, Ok(fs))) if !v.partition.as_ref().is_some_and(|p| p.role == Role::Extended) => {
            OpenVolume { volume: v.clone(), fs }
        }
        Some((_, Err(e))) => {
            d.probes.push(probe("", ProbeOutcome::Failed { error: None, detail: format!("no filesystem: {e}") }));
            return;
        }
        _ => {
            d.probes.push(probe("", ProbeOutcome::Failed { error: None, detail: "no filesystem here".into() }));
            return;
        }
    };
    // The first cfg_list file that exists wins, even if parsing fails.
    let mut chosen = None;
    for &(path, format) in PYGRUB_CONFIGS {
        match find_file(&ov, path, fs::DEFAULT_MAX_SYMLINK_HOPS) {
            Ok(hit) => {
                chosen = Some((hit, format));
                break;
            }
            Err(_) => continue,
        }
    }
    let Some((hit, format)) = chosen else {
        d.probes.push(probe(
            "",
            ProbeOutcome::Failed {
                error: None,
                detail: "couldn't find bootloader config file in the image provided.".into(),
            },
        ));
        return;
    };
    let path = hit.path.clone();
    match load(disk, &ov, hit, format) {
        Ok(cfg) => {
            // pygrub's own parser decides whether this partition wins:
            // an exception, or no entry with a kernel, moves it on.
            let data = ov.fs.read_file(&cfg.file.resolved_path, crate::MAX_CONFIG_BYTES).unwrap_or_default();
            match parse_config_pygrub(format, &data, &cfg.file.resolved_path) {
                Ok(m) if m.entries.iter().any(|e| e.kernel.is_some()) => {
                    d.probes.push(probe(&path, ProbeOutcome::Found));
                    d.config = Some(cfg);
                }
                Ok(_) => d
                    .probes
                    .push(probe(&path, ProbeOutcome::Failed { error: None, detail: "no entry with a kernel".into() })),
                Err(e) => {
                    d.probes.push(probe(&path, ProbeOutcome::Failed { error: None, detail: format!("pygrub: {e}") }))
                }
            }
        }
        Err(f) => d.probes.push(probe(&path, ProbeOutcome::Failed { error: f.error, detail: f.detail })),
    }
}
