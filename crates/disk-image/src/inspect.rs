//! `inspect`: everything boot-sim can say about an image without booting
//! it, as plain data for the CLI to render.

use serde::Serialize;

use crate::bootcode::{self, BootSector, NextStage};
use crate::configs::{self, ConfigFormat, FoundConfig};
use crate::diag::Diagnostic;
use crate::disk::{Disk, Volume};
use crate::error::Result;
use crate::fs::Filesystem;
use crate::fs::probe::FsProbe;
use crate::guid::Guid;
use crate::menu::select::{self, EntryRequest};
use crate::menu::{Menu, MenuFormat, discover};
use crate::partition::{Role, Scheme};
use crate::read::ReadAt;
use crate::units::{Lba, SECTOR_SIZE};

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
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NextStageReport {
    pub lba: u64,
    /// "gap before the first partition", "partition 1 (xvda1)", "past the end".
    pub location: String,
    pub found: NextStage,
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
    /// The boot menus among the configs, parsed as their own loader reads them.
    pub menus: Vec<ConfigMenu>,
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
    volume: &crate::disk::Volume,
    fs: &dyn Filesystem,
    configs: &[FoundConfig],
) -> Vec<ConfigMenu> {
    let mut out = Vec::new();
    for c in configs {
        let (Some(format), Some(resolved)) = (menu_format(c.format), c.resolved_path.as_ref()) else { continue };
        let Ok(data) = fs.read_file(resolved, crate::menu::MAX_CONFIG_BYTES) else { continue };
        let ctx = crate::menu::disk_context::DiskContext::new(disk, volume, resolved);
        if let Ok(menu) = discover::parse_config(format, &data, resolved, Some(&ctx)) {
            let saved = (format == MenuFormat::GrubLegacy)
                .then(|| {
                    let dir = c.path.rsplit_once('/').map_or("", |(d, _)| d);
                    crate::fs::read_resolved(fs, &format!("{dir}/default"), 4096).ok()
                })
                .flatten()
                .map(|(_, d)| crate::menu::grub_legacy::parse_default_file(&d));
            let default_index = select::grub_pick(&menu, saved, &EntryRequest::Default).ok().map(|p| p.0);
            out.push(ConfigMenu { path: c.path.clone(), menu, default_index });
        }
    }
    out
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
    // A whole-disk filesystem with an empty boot area (a PV image) is not
    // meant to be BIOS-booted; boot code without the signature is a mistake.
    let meant_for_bios = table.scheme != Scheme::None || boot_sector.code != bootcode::BootCode::Empty;
    if !boot_sector.signature && meant_for_bios {
        diagnostics.push(Diagnostic::warning(
            Some(crate::units::ByteOffset(510)),
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
        };
        if is_container {
            volumes.push(report);
            continue;
        }
        if v.partition.is_some() && v.len_bytes >= 512 {
            let mut s = [0u8; 512];
            disk.window(v).read_exact_at(0, &mut s)?;
            let bs = bootcode::identify(&s, false);
            if bs.code != bootcode::BootCode::Empty {
                report.boot_sector = Some(bs);
            }
        }
        match disk.probe(v) {
            Ok(p) => report.fs = p,
            Err(e) => {
                diagnostics.push(Diagnostic::warning(
                    Some(crate::units::ByteOffset(v.start_bytes)),
                    format!("{} {}: {e}", v.names.grub, v.names.linux),
                ));
                report.fs_error = Some(e.to_string());
            }
        }
        if report.fs.as_ref().is_some_and(|p| p.kind.is_ext()) {
            match disk.open_fs(v) {
                Ok(fs) => {
                    report.configs = configs::find_configs(&*fs);
                    report.menus = read_menus(disk, v, &*fs, &report.configs);
                }
                Err(e) => {
                    diagnostics.push(Diagnostic::warning(
                        Some(crate::units::ByteOffset(v.start_bytes + 1024)),
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
    NextStageReport { lba, location, found }
}
