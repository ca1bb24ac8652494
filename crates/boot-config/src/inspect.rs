//! `inspect`: everything boot-sim can say about an image without booting
//! it, as plain data for the CLI to render.

use serde::Serialize;

use crate::configs::{self, ConfigFormat, FoundConfig};
use crate::select::{self, EntryRequest};
use crate::{Menu, MenuFormat, discover};
use disk_image::bootcode::{self, BootSector, NextStage};
use disk_image::diag::Diagnostic;
use disk_image::disk::{Disk, Volume};
use disk_image::error::Result;
use disk_image::fs::Filesystem;
use disk_image::fs::btrfs::{BtrfsFs, BtrfsSummary};
use disk_image::fs::probe::FsKind;
use disk_image::fs::probe::FsProbe;
use disk_image::guid::Guid;
use disk_image::lvm::LvmScan;
use disk_image::partition::{Role, Scheme};
use disk_image::read::ReadAt;
use disk_image::units::{Lba, SECTOR_SIZE};

#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    pub image: String,
    pub size_bytes: u64,
    pub sectors: u64,
    pub scheme: Scheme,
    pub disk_signature: Option<u32>,
    pub disk_guid: Option<Guid>,
    pub gpt_header_lba: Option<Lba>,
    /// Sector 0.
    pub boot_sector: BootSector,
    /// The sector sector 0's GRUB code loads next, when it names one.
    pub next_stage: Option<NextStageReport>,
    pub volumes: Vec<VolumeReport>,
    /// LVM2: the PVs found, the VGs and their LVs (readable or not).
    pub lvm: LvmScan,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NextStageReport {
    pub lba: u64,
    /// "gap before the first partition", "partition 1 (xvda1)", "past the end".
    pub location: String,
    pub found: NextStage,
    /// When it is GRUB 2's diskboot.img: the core.img it loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_img: Option<CoreImgReport>,
}

/// GRUB 2's core.img as diskboot.img's block list loads it.
#[derive(Debug, Clone, Serialize)]
pub struct CoreImgReport {
    /// LBA of diskboot.img (core.img's first sector).
    pub diskboot_lba: u64,
    /// diskboot.img's block list: where the rest of core.img lies.
    pub blocks: Vec<disk_image::grub2_core::Block>,
    /// Sectors of core.img, diskboot.img included.
    pub sectors: u64,
    /// The prefix module: where GRUB looks for normal.mod and grub.cfg.
    pub prefix: Option<String>,
    /// The embedded config (`grub-mkimage -c`), when there is one.
    pub config: Option<String>,
    /// Embedded modules, by `.modname`.
    pub modules: Vec<String>,
    /// The device the embedded config's `search.fs_uuid UUID root` /
    /// `search --fs-uuid --set=root UUID` finds on this disk (GRUB 2 name).
    pub search_finds: Option<String>,
    /// Why core.img could not be read or parsed.
    pub error: Option<String>,
}

/// The UUID an embedded config searches for: `search.fs_uuid UUID …`
/// (what grub-install writes) or `search … --fs-uuid … UUID`.
fn searched_uuid(config: &str) -> Option<String> {
    for line in config.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"search.fs_uuid") => return words.get(1).map(|u| u.to_string()),
            Some(&"search") if words.iter().any(|w| *w == "--fs-uuid" || *w == "-u") => {
                return words.iter().skip(1).find(|w| !w.starts_with('-')).map(|u| u.to_string());
            }
            _ => {}
        }
    }
    None
}

/// Reads core.img from its diskboot.img sector at `lba`: the block list's
/// sectors (bounded by `CORE_END`, as `util/mkimage.c` bounds core.img),
/// then startup_raw and its payload parsed by [`disk_image::grub2_core::parse_core`].
pub fn read_core_img(reader: &dyn ReadAt, lba: u64) -> CoreImgReport {
    use disk_image::grub2_core::{CORE_END, STARTUP_ADDR, blocklist, parse_core};
    let mut r = CoreImgReport {
        diskboot_lba: lba,
        blocks: Vec::new(),
        sectors: 1,
        prefix: None,
        config: None,
        modules: Vec::new(),
        search_finds: None,
        error: None,
    };
    let mut sector = [0u8; 512];
    if let Err(e) = lba.checked_mul(SECTOR_SIZE).map_or(Err(format!("LBA {lba} overflows")), |o| {
        reader.read_exact_at(o, &mut sector).map_err(|e| e.to_string())
    }) {
        r.error = Some(e);
        return r;
    }
    r.blocks = blocklist(&sector);
    let max = u64::from(CORE_END - STARTUP_ADDR);
    let mut body = Vec::new();
    for b in &r.blocks {
        let len = u64::from(b.len) * SECTOR_SIZE;
        if body.len() as u64 + len > max {
            r.error =
                Some(format!("the block list loads more than {max:#x} bytes (core.img must end below {CORE_END:#x})"));
            return r;
        }
        let Some(off) = b.start.checked_mul(SECTOR_SIZE) else {
            r.error = Some(format!("block list entry at LBA {} overflows", b.start));
            return r;
        };
        let at = body.len();
        body.resize(at + len as usize, 0);
        if let Err(e) = reader.read_exact_at(off, &mut body[at..]) {
            r.error = Some(format!("core.img block at LBA {} ({} sectors): {e}", b.start, b.len));
            return r;
        }
        r.sectors += u64::from(b.len);
    }
    match parse_core(&body) {
        Ok(core) => {
            r.prefix = core.prefix().map(str::to_string);
            r.config = core.config().map(str::to_string);
            r.modules = core.module_names();
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumeReport {
    #[serde(flatten)]
    pub volume: Volume,
    pub fs: Option<FsProbe>,
    /// The first sector of a partition, when it holds code.
    pub boot_sector: Option<BootSector>,
    pub configs: Vec<FoundConfig>,
    /// Why the filesystem could not be read, when it could not.
    pub fs_error: Option<String>,
    /// A partition holding GRUB 2's core.img (a GPT BIOS boot partition):
    /// what it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub core_img: Option<CoreImgReport>,
    /// An EFI System Partition's `EFI/*/grub.cfg` stubs and where they lead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub esp_stubs: Vec<crate::esp::EspStub>,
    /// The boot menus among the configs, parsed as their own loader reads them.
    pub menus: Vec<ConfigMenu>,
    /// btrfs: default subvolume and the subvolume list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btrfs: Option<BtrfsSummary>,
}

/// A config file's menu, with the entry its loader boots by default.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigMenu {
    pub path: String,
    pub menu: Menu,
    /// By the loader's default rules (GRUB legacy: `default`, `default
    /// saved` with the `default` file, the fallback rule for a default past
    /// the end).
    pub default_index: Option<usize>,
}

fn menu_format(f: ConfigFormat) -> Option<MenuFormat> {
    match f {
        ConfigFormat::GrubLegacy => Some(MenuFormat::GrubLegacy),
        ConfigFormat::Grub2 => Some(MenuFormat::Grub2),
        ConfigFormat::Extlinux => Some(MenuFormat::Extlinux),
        ConfigFormat::Bls => Some(MenuFormat::Bls),
        ConfigFormat::GrubLegacyDefault | ConfigFormat::Grubenv => None,
    }
}

/// Parses the menus among `configs`. A format boot-sim does not parse yet
/// gets no entries (the config itself is still listed).
fn read_menus(
    disk: &Disk,
    volume: &disk_image::disk::Volume,
    fs: &dyn Filesystem,
    configs: &[FoundConfig],
) -> Vec<ConfigMenu> {
    let mut out = Vec::new();
    for c in configs {
        let (Some(format), Some(resolved)) = (menu_format(c.format), c.resolved_path.as_ref()) else { continue };
        let Ok(data) = fs.read_file(resolved, crate::MAX_CONFIG_BYTES) else { continue };
        let ctx = crate::disk_context::DiskContext::new(disk, volume, resolved);
        let menu = discover::parse_config(format, &data, resolved, Some(&ctx));
        let saved = (format == MenuFormat::GrubLegacy)
            .then(|| {
                let dir = c.path.rsplit_once('/').map_or("", |(d, _)| d);
                disk_image::fs::read_resolved(fs, &format!("{dir}/default"), 4096).ok()
            })
            .flatten()
            .map(|(_, d)| crate::grub_legacy::parse_default_file(&d));
        let default_index = select::grub_pick(&menu, saved, &EntryRequest::Default).ok().map(|p| p.0);
        out.push(ConfigMenu { path: c.path.clone(), menu, default_index });
    }
    out
}

/// The configs of a btrfs volume, named as GRUB 2 names them (from the
/// top-level subvolume). With none at the top level, the default
/// subvolume's, under its path: a Fedora-style root in `@` has its config
/// at `/@/boot/grub2/grub.cfg`, which is what GRUB 2's prefix points at.
fn btrfs_configs(fs: &BtrfsFs, summary: &BtrfsSummary) -> Vec<FoundConfig> {
    let top = configs::find_configs(fs);
    if !top.is_empty() {
        return top;
    }
    match summary.subvolumes.iter().find(|s| s.id == summary.default_subvolume) {
        Some(sv) => configs::find_configs_under(fs, &format!("/{}", sv.path)),
        None => top,
    }
}

/// Inspects an opened disk.
pub fn inspect(disk: &Disk) -> Result<DiskReport> {
    let reader = disk.reader();
    let size = reader.size();
    let mut sector0 = [0u8; 512];
    reader.read_exact_at(0, &mut sector0)?;
    let table = disk.table();
    let boot_sector = bootcode::identify(&sector0, table.scheme != Scheme::None);
    let mut diagnostics = table.diagnostics.clone();
    diagnostics.extend(disk.lvm().diagnostics.iter().cloned());
    // A whole-disk filesystem with an empty boot area (a PV image) is not
    // meant to be BIOS-booted; boot code without the signature is a mistake.
    let meant_for_bios = table.scheme != Scheme::None || boot_sector.code != bootcode::BootCode::Empty;
    if !boot_sector.signature && meant_for_bios {
        diagnostics.push(Diagnostic::warning(
            Some(disk_image::units::ByteOffset(510)),
            "sector 0 has no 0x55AA signature: a BIOS will not boot this disk (SeaBIOS: \"Boot failed: not a bootable disk\")",
        ));
    }
    let next_stage = boot_sector.code.next_stage_lba().map(|lba| next_stage(disk, lba));

    let mut volumes = Vec::new();
    for v in disk.volumes() {
        let is_container = v.partition.as_ref().is_some_and(|p| p.role == Role::Extended);
        let mut report = VolumeReport {
            volume: v.clone(),
            fs: None,
            boot_sector: None,
            configs: Vec::new(),
            fs_error: None,
            menus: Vec::new(),
            btrfs: None,
            core_img: None,
            esp_stubs: Vec::new(),
        };
        if is_container {
            volumes.push(report);
            continue;
        }
        if v.partition.is_some() && v.len_bytes >= 512 {
            let mut s = [0u8; 512];
            disk.window(v).read_exact_at(0, &mut s)?;
            let bs = bootcode::identify(&s, false);
            if bootcode::identify_next_stage(&s) == NextStage::Grub2Diskboot {
                // grub-install embeds core.img at the start of a BIOS boot
                // partition: its first sector is diskboot.img, not a VBR.
                report.core_img = Some(read_core_img(&**reader, v.start_bytes / SECTOR_SIZE));
            } else if bs.code != bootcode::BootCode::Empty {
                report.boot_sector = Some(bs);
            }
        }
        match disk.probe(v) {
            Ok(p) => report.fs = p,
            Err(e) => {
                diagnostics.push(Diagnostic::warning(
                    Some(disk_image::units::ByteOffset(v.start_bytes)),
                    format!("{} {}: {e}", v.names.grub, v.names.linux),
                ));
                report.fs_error = Some(e.to_string());
            }
        }
        let kind = report.fs.as_ref().map(|p| p.kind);
        if kind == Some(FsKind::Btrfs) {
            // GRUB 2's view (from the top-level subvolume) for the configs,
            // and the subvolumes for the report.
            let opened = BtrfsFs::open(disk.window(v)).and_then(|fs| fs.summary().map(|s| (fs, s)));
            match opened {
                Ok((fs, summary)) => {
                    report.configs = btrfs_configs(&fs, &summary);
                    report.menus = read_menus(disk, v, &fs, &report.configs);
                    report.btrfs = Some(summary);
                }
                Err(e) => {
                    diagnostics.push(Diagnostic::warning(
                        Some(disk_image::units::ByteOffset(v.start_bytes + 0x10000)),
                        format!("{} {}: {e}", v.names.grub, v.names.linux),
                    ));
                    report.fs_error = Some(e.to_string());
                }
            }
        } else if kind.is_some_and(|k| k.is_ext() || k == FsKind::Xfs || k == FsKind::Vfat) {
            let fat = kind == Some(FsKind::Vfat);

            match disk.open_fs(v) {
                Ok(fs) => {
                    if fat {
                        report.esp_stubs = crate::esp::find_stubs(disk, &*fs);
                    }
                    report.configs = configs::find_configs(&*fs);
                    report.menus = read_menus(disk, v, &*fs, &report.configs);
                }
                Err(e) => {
                    diagnostics.push(Diagnostic::warning(
                        Some(disk_image::units::ByteOffset(v.start_bytes + 1024)),
                        format!("{} {}: {e}", v.names.grub, v.names.linux),
                    ));
                    report.fs_error = Some(e.to_string());
                }
            }
        }
        for c in &report.configs {
            if let Some(err) = &c.error {
                diagnostics.push(Diagnostic::warning(None, format!("{}{}: {err}", v.names.grub, c.path)));
            }
        }
        volumes.push(report);
    }
    // What core.img's embedded `search` would find, among the volumes.
    let find = |c: &mut CoreImgReport| {
        let Some(uuid) = c.config.as_deref().and_then(searched_uuid) else { return };
        c.search_finds = volumes
            .iter()
            .find(|v: &&VolumeReport| {
                v.fs.as_ref().and_then(|f| f.uuid.as_deref()).is_some_and(|u| u.eq_ignore_ascii_case(&uuid))
            })
            .map(|v| format!("{} {}", v.volume.names.grub2, v.volume.names.linux));
    };
    let mut next_stage = next_stage;
    if let Some(c) = next_stage.as_mut().and_then(|n| n.core_img.as_mut()) {
        find(c);
    }
    let cores: Vec<Option<CoreImgReport>> = volumes
        .iter()
        .map(|v| {
            v.core_img.clone().map(|mut c| {
                find(&mut c);
                c
            })
        })
        .collect();
    for (v, c) in volumes.iter_mut().zip(cores) {
        v.core_img = c;
    }
    Ok(DiskReport {
        image: reader.describe(),
        size_bytes: size,
        sectors: size / SECTOR_SIZE,
        scheme: table.scheme,
        disk_signature: table.disk_signature,
        disk_guid: table.disk_guid,
        gpt_header_lba: table.gpt_header_lba,
        boot_sector,
        next_stage,
        volumes,
        lvm: disk.lvm().clone(),
        diagnostics,
    })
}

fn next_stage(disk: &Disk, lba: u64) -> NextStageReport {
    let reader = disk.reader();
    let in_image =
        lba.checked_mul(SECTOR_SIZE).filter(|o| o.checked_add(SECTOR_SIZE).is_some_and(|e| e <= reader.size()));
    let parts = &disk.table().partitions;
    let location = if in_image.is_none() {
        "past the end of the image".to_string()
    } else if let Some(p) = parts.iter().find(|p| p.role != Role::Extended && lba >= p.start.0 && lba < p.end()) {
        let name = p.ptype.name().map(|n| format!(", {n}")).unwrap_or_default();
        format!("inside partition {} (xvda{}{name})", p.number, p.number)
    } else if parts.iter().all(|p| lba < p.start.0) && !parts.is_empty() {
        "gap before the first partition".to_string()
    } else {
        "outside any partition".to_string()
    };
    let found = match in_image {
        None => NextStage::PastEnd,
        Some(offset) => {
            let mut s = [0u8; 512];
            match reader.read_exact_at(offset, &mut s) {
                Ok(()) => bootcode::identify_next_stage(&s),
                Err(_) => NextStage::PastEnd,
            }
        }
    };
    let core_img = (found == NextStage::Grub2Diskboot).then(|| read_core_img(&**reader, lba));
    NextStageReport { lba, location, found, core_img }
}
