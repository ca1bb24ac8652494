//! `boot-sim inspect IMAGE [--json]`.

use std::io::Write;
use std::path::Path;

use boot_config::inspect::{self, CoreImgReport, DiskReport, VolumeReport};
use disk_image::bootcode::NextStage;
use disk_image::partition::{PartitionType, Scheme};
use disk_image::{Disk, Severity};
use serde_json::{Value, json};

use crate::output::{Exit, Out, human_size};

pub fn run(out: &mut Out, image: &Path, as_json: bool) -> Result<(), Exit> {
    let disk = Disk::open(image)?;
    let report = inspect::inspect(&disk)?;
    if as_json {
        render_json(out, &report)?;
    } else {
        render_text(out, &report)?;
    }
    // Diagnostics also go to stderr so that scripts reading stdout see them.
    for d in &report.diagnostics {
        eprintln!("boot-sim: {d}");
    }
    if report.diagnostics.iter().any(|d| d.severity == Severity::Error) { Err(Exit::Failed) } else { Ok(()) }
}

/// Where an ESP's grub.cfg stub leads.
fn esp_stub_text(s: &boot_config::esp::EspStub) -> String {
    let mut parts = Vec::new();
    if let Some(q) = &s.search {
        parts.push(format!("search {q} finds {}", s.finds.as_deref().unwrap_or("nothing on this disk")));
    }
    if let Some(p) = &s.prefix {
        parts.push(format!("prefix {p}"));
    }
    if let Some(c) = &s.configfile {
        let state = match s.target_exists {
            Some(true) => "",
            Some(false) => " (missing)",
            None => " (device not found)",
        };
        parts.push(format!("configfile {c}{state}"));
    }
    if parts.is_empty() { "no search, prefix or configfile".into() } else { parts.join(", ") }
}

/// What a core.img says: its size, prefix, embedded config and modules.
fn core_img_text(c: &CoreImgReport) -> String {
    let mut parts = vec![format!("{} sectors", c.sectors)];
    if let Some(p) = &c.prefix {
        parts.push(format!("prefix {p}"));
    }
    if let Some(cfg) = &c.config {
        parts.push(format!("embedded config {:?}", cfg.trim()));
    }
    if let Some(d) = &c.search_finds {
        parts.push(format!("its search finds {d}"));
    }
    if !c.modules.is_empty() {
        parts.push(format!("modules {}", c.modules.join(" ")));
    }
    if let Some(e) = &c.error {
        parts.push(format!("cannot parse: {e}"));
    }
    parts.join(", ")
}

fn scheme_name(s: Scheme) -> &'static str {
    match s {
        Scheme::Mbr => "mbr",
        Scheme::Gpt => "gpt",
        Scheme::None => "none",
    }
}

fn type_code(v: &VolumeReport) -> Option<String> {
    v.volume.partition.as_ref().map(|p| p.ptype.code())
}

fn render_json(out: &mut Out, r: &DiskReport) -> Result<(), Exit> {
    out.json(&json!({
        "type": "disk",
        "image": r.image,
        "size_bytes": r.size_bytes,
        "sectors": r.sectors,
        "table": scheme_name(r.scheme),
        "disk_signature": r.disk_signature.map(|s| format!("{s:#010x}")),
        "disk_guid": r.disk_guid,
        "gpt_header_lba": r.gpt_header_lba,
        "signature": r.boot_sector.signature,
        "boot_code": r.boot_sector.code,
        "next_stage": r.next_stage,
    }))?;
    for v in &r.volumes {
        let p = v.volume.partition.as_ref();
        let mut line = json!({
            "type": "partition",
            "number": p.map(|p| p.number),
            "grub": v.volume.names.grub,
            "grub2": v.volume.names.grub2,
            "linux": v.volume.names.linux,
            "role": match (p, &v.volume.lvm) {
                (Some(p), _) => json!(p.role),
                (None, Some(_)) => json!("lv"),
                (None, None) => json!("whole-disk"),
            },
            "start_lba": v.volume.start_bytes / 512,
            "sectors": v.volume.len_bytes / 512,
            "type_code": type_code(v),
            "type_name": p.and_then(|p| p.ptype.name()),
            "bootable": p.is_some_and(|p| p.bootable),
            "gpt_name": p.and_then(|p| p.gpt.as_ref()).map(|g| g.name.clone()),
            "partuuid": p.and_then(|p| p.gpt.as_ref()).map(|g| g.unique_guid),
            "fs": v.fs.as_ref().map(|f| f.kind.name()),
            "label": v.fs.as_ref().and_then(|f| f.label.clone()),
            "uuid": v.fs.as_ref().and_then(|f| f.uuid.clone()),
            "fs_version": v.fs.as_ref().and_then(|f| f.version),
            "fs_error": v.fs_error,
            "boot_code": v.boot_sector.as_ref().map(|b| &b.code),
        });
        // Fields of LVs, core.img and ESPs only where they apply, so that
        // other volumes' lines stay as they were.
        if let Value::Object(m) = &mut line {
            if let Some(l) = &v.volume.lvm {
                m.insert("lvm".into(), json!(l));
                m.insert("aliases".into(), json!(v.volume.names.aliases));
            }
            if let Some(c) = &v.core_img {
                m.insert("core_img".into(), json!(c));
            }
            // Only btrfs volumes carry the key: default subvolume, subvolumes.
            if let Some(b) = &v.btrfs {
                m.insert("btrfs".into(), json!(b));
            }
            if !v.esp_stubs.is_empty() {
                m.insert("esp_stubs".into(), json!(v.esp_stubs));
            }
        }
        out.json(&line)?;
    }
    for g in &r.lvm.groups {
        out.json(&json!({
            "type": "volume_group",
            "name": g.vg.name,
            "id": g.vg.id,
            "seqno": g.vg.seqno,
            "extent_size": g.vg.extent_size,
            "metadata_from": {"device": g.metadata_from.0, "offset": g.metadata_from.1},
            "pvs": g.vg.pvs.iter().zip(&g.pv_devices).map(|(pv, (_, dev))| json!({
                "key": pv.key, "uuid": pv.id, "device": dev, "pe_start": pv.pe_start, "pe_count": pv.pe_count,
                "last_seen_as": pv.device,
            })).collect::<Vec<Value>>(),
        }))?;
        for lv in &g.lvs {
            let fs = r.volumes.iter().find(|v| v.volume.names.grub2 == lv.grub2).and_then(|v| v.fs.as_ref());
            out.json(&json!({
                "type": "logical_volume",
                "vg": g.vg.name,
                "name": lv.name,
                "grub2": lv.grub2,
                "linux": format!("/dev/{}", lv.mapper),
                "dev_path": format!("/dev/{}", lv.dev_path),
                "size_bytes": lv.size_bytes,
                "visible": lv.visible,
                "segment_types": lv.types,
                "segments": lv.segments,
                "fs": fs.map(|f| f.kind.name()),
                "uuid": fs.and_then(|f| f.uuid.clone()),
                "error": lv.error,
            }))?;
        }
    }
    for v in &r.volumes {
        for c in &v.configs {
            out.json(&json!({
                "type": "config",
                "device": v.volume.names.grub,
                "linux": v.volume.names.linux,
                "path": c.path,
                "resolved_path": c.resolved_path,
                "format": c.format,
                "size": c.size,
                "symlinks": c.hops.iter().map(|(l, t)| json!({"link": l, "target": t})).collect::<Vec<Value>>(),
                "error": c.error,
            }))?;
        }
    }
    for v in &r.volumes {
        for m in &v.menus {
            for e in &m.menu.entries {
                out.json(&crate::output::entry_json(
                    &[
                        ("device", json!(v.volume.names.grub)),
                        ("linux", json!(v.volume.names.linux)),
                        ("config", json!(m.path)),
                    ],
                    e,
                    &[("default", json!(m.default_index == Some(e.index)))],
                ))?;
            }
        }
    }
    for d in &r.diagnostics {
        out.json(&json!({
            "type": "diagnostic",
            "severity": d.severity,
            "offset": d.offset,
            "message": d.message,
        }))?;
    }
    Ok(())
}

fn render_text(out: &mut Out, r: &DiskReport) -> Result<(), Exit> {
    writeln!(out, "Disk {}: {}, {} sectors of 512 bytes", r.image, human_size(r.size_bytes), r.sectors)?;
    let table = match r.scheme {
        Scheme::Mbr => format!("MBR, disk signature {:#010x}", r.disk_signature.unwrap_or(0)),
        Scheme::Gpt => format!(
            "GPT, disk GUID {} (header at LBA {}), protective MBR",
            r.disk_guid.map(|g| g.to_string()).unwrap_or_else(|| "?".into()),
            r.gpt_header_lba.map(|l| l.0.to_string()).unwrap_or_else(|| "?".into())
        ),
        Scheme::None => "none (the disk is one volume, (hd0))".into(),
    };
    writeln!(out, "Partition table: {table}")?;
    writeln!(
        out,
        "Boot code (sector 0): {}{}",
        r.boot_sector.code.describe(),
        if r.boot_sector.signature { "" } else { " [no 0x55AA signature]" }
    )?;
    if let Some(n) = &r.next_stage {
        let found = match &n.found {
            NextStage::GrubLegacyStart { loads } => format!("GRUB legacy start sector (Loading {loads})"),
            NextStage::Grub2Diskboot => "GRUB 2 diskboot.img (start of core.img)".into(),
            NextStage::SyslinuxLdlinux { .. } => "syslinux ldlinux.sys (first sector, LDLINUX_MAGIC)".into(),
            NextStage::SimbootStage2 => "simboot stage 2".into(),
            NextStage::Empty => "all zero: the next stage is missing".into(),
            NextStage::Unrecognised => "unrecognised bytes".into(),
            NextStage::PastEnd => "beyond the end of the image".into(),
        };
        writeln!(out, "  next stage at LBA {} ({}): {found}", n.lba, n.location)?;
        if let Some(c) = &n.core_img {
            writeln!(out, "  core.img: {}", core_img_text(c))?;
        }
    }
    writeln!(out)?;
    let rows: Vec<[String; 10]> = r
        .volumes
        .iter()
        .map(|v| {
            let p = v.volume.partition.as_ref();
            let ty = match p.map(|p| &p.ptype) {
                Some(PartitionType::Mbr(t)) => format!("{t:#04x} {}", p.and_then(|p| p.ptype.name()).unwrap_or("")),
                Some(PartitionType::Gpt(g)) => g.type_name().map(str::to_string).unwrap_or_else(|| g.to_string()),
                None if v.volume.lvm.is_some() => "LVM2 logical volume".into(),
                None => "-".into(),
            };
            let fs = match (&v.fs, &v.fs_error) {
                (Some(f), None) => fs_name(f),
                (Some(f), Some(_)) => format!("{} (unreadable)", fs_name(f)),
                (None, Some(_)) => "unreadable".into(),
                (None, None) => "-".into(),
            };
            [
                v.volume.names.grub.clone(),
                v.volume.names.grub2.clone(),
                v.volume.names.linux.clone(),
                if p.is_some_and(|p| p.bootable) { "*".into() } else { String::new() },
                (v.volume.start_bytes / 512).to_string(),
                (v.volume.len_bytes / 512).to_string(),
                human_size(v.volume.len_bytes),
                ty.trim().to_string(),
                fs,
                v.fs.as_ref().and_then(|f| f.label.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["GRUB", "GRUB 2", "Linux", "Boot", "Start", "Sectors", "Size", "Type", "FS", "Label"];
    writeln!(out, "{}:", if r.scheme == Scheme::None { "Volume" } else { "Partitions" })?;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    writeln!(out, "  {}", line(header.to_vec()))?;
    for row in &rows {
        writeln!(out, "  {}", line(row.iter().map(String::as_str).collect()))?;
    }
    for v in &r.volumes {
        let mut extra = Vec::new();
        if let Some(uuid) = v.fs.as_ref().and_then(|f| f.uuid.as_ref()) {
            extra.push(format!("UUID={uuid}"));
        }
        if let Some(g) = v.volume.partition.as_ref().and_then(|p| p.gpt.as_ref()) {
            extra.push(format!("PARTUUID={}", g.unique_guid));
            if !g.name.is_empty() {
                extra.push(format!("name {:?}", g.name));
            }
        }
        if let Some(b) = &v.boot_sector {
            extra.push(format!("boot sector: {}", b.code.describe()));
        }
        if let Some(c) = &v.core_img {
            extra.push(format!("GRUB 2 core.img (diskboot.img at LBA {}): {}", c.diskboot_lba, core_img_text(c)));
        }
        for st in &v.esp_stubs {
            extra.push(format!("EFI stub {}: {}", st.path, esp_stub_text(st)));
        }
        if let Some(e) = &v.fs_error {
            extra.push(format!("cannot read: {e}"));
        }
        if !extra.is_empty() {
            writeln!(out, "  {}: {}", v.volume.names.linux, extra.join(", "))?;
        }
        if let Some(b) = &v.btrfs {
            let name =
                |id: u64| b.subvolumes.iter().find(|s| s.id == id).map_or("<FS_TREE>".to_string(), |s| s.path.clone());
            writeln!(
                out,
                "  {}: btrfs generation {}, default subvolume {} ({}); GRUB 2 paths start at the top level (FS_TREE 5)",
                v.volume.names.linux,
                b.generation,
                b.default_subvolume,
                name(b.default_subvolume)
            )?;
            for s in &b.subvolumes {
                writeln!(out, "    subvolume ID {} gen {} top level {} path {}", s.id, s.generation, s.parent, s.path)?;
            }
        }
    }
    render_lvm(out, r)?;
    writeln!(out)?;
    let configs: Vec<(&VolumeReport, _)> =
        r.volumes.iter().flat_map(|v| v.configs.iter().map(move |c| (v, c))).collect();
    // Volumes not searched: a config there would be missed, so say so.
    let unread: Vec<&str> =
        r.volumes.iter().filter(|v| v.fs_error.is_some()).map(|v| v.volume.names.linux.as_str()).collect();
    let unread = match unread.len() {
        0 => String::new(),
        1 => format!(" (not searched: the filesystem of {} cannot be read; see the warning)", unread[0]),
        _ => format!(" (not searched: the filesystems of {} cannot be read; see the warnings)", unread.join(", ")),
    };
    if configs.is_empty() {
        writeln!(out, "Boot loader configs: none found{unread}")?;
    } else {
        writeln!(out, "Boot loader configs:{unread}")?;
        for (v, c) in configs {
            let target = match (&c.resolved_path, &c.error) {
                (_, Some(e)) => format!("  [{e}]"),
                (Some(rp), None) if *rp != c.path => format!(" -> {rp}"),
                _ => String::new(),
            };
            let size = c.size.map(|s| format!(", {}", human_size(s))).unwrap_or_default();
            let fmt =
                serde_json::to_value(c.format).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            writeln!(out, "  {}{}{target}  ({fmt}{size})", v.volume.names.grub, c.path)?;
            if let Some(m) = v.menus.iter().find(|m| m.path == c.path) {
                for e in &m.menu.entries {
                    let mark = if m.default_index == Some(e.index) { "*" } else { " " };
                    let kernel = e.kernel.as_ref().map(|k| format!("  [{k}]")).unwrap_or_default();
                    writeln!(out, "    {mark} {:>2}  {}{kernel}", e.index, e.title)?;
                }
            }
        }
    }
    Ok(())
}

/// The filesystem as the table shows it: blkid's TYPE, and the format
/// version where loaders differ on it ("xfs (V5)").
fn fs_name(f: &disk_image::fs::probe::FsProbe) -> String {
    match f.version {
        Some(v) => format!("{} (V{v})", f.kind.name()),
        None => f.kind.name().to_string(),
    }
}

/// The VGs: their PVs and where they are, each LV with its size, segments
/// and filesystem, or why it cannot be read.
fn render_lvm(out: &mut Out, r: &DiskReport) -> Result<(), Exit> {
    for pv in r.lvm.pvs.iter().filter(|p| p.vg.is_none()) {
        writeln!(out, "  {}: LVM2 PV {} (label in sector {}), in no VG", pv.device, pv.uuid, pv.label_sector)?;
    }
    for g in &r.lvm.groups {
        writeln!(out)?;
        let pvs: Vec<String> = g
            .pv_devices
            .iter()
            .map(|(key, dev)| format!("{key} on {}", dev.as_deref().unwrap_or("another disk (missing)")))
            .collect();
        writeln!(
            out,
            "LVM2 volume group {} (seqno {}, extent size {}, metadata from {} byte {}): {}",
            g.vg.name,
            g.vg.seqno,
            human_size(g.vg.extent_size),
            g.metadata_from.0,
            g.metadata_from.1,
            pvs.join(", ")
        )?;
        for lv in &g.lvs {
            let fs = r.volumes.iter().find(|v| v.volume.names.grub2 == lv.grub2);
            let fs_text = match fs.and_then(|v| v.fs.as_ref()) {
                Some(f) => {
                    let mut t = f.kind.name().to_string();
                    if let Some(l) = &f.label {
                        t.push_str(&format!(" LABEL={l}"));
                    }
                    if let Some(u) = &f.uuid {
                        t.push_str(&format!(" UUID={u}"));
                    }
                    t
                }
                None => "-".into(),
            };
            let hidden = if lv.visible { "" } else { " (hidden)" };
            writeln!(
                out,
                "  LV {}{hidden}: {}, {} segment{} ({}), {} /dev/{} /dev/{}, fs {fs_text}",
                lv.name,
                human_size(lv.size_bytes),
                lv.segments.len(),
                if lv.segments.len() == 1 { "" } else { "s" },
                lv.types.join(", "),
                lv.grub2,
                lv.mapper,
                lv.dev_path,
            )?;
            for (i, s) in lv.segments.iter().enumerate() {
                let stripes: Vec<String> = s.stripes.iter().map(|(pv, e)| format!("{pv} from extent {e}")).collect();
                let chunk = if s.stripes.len() > 1 {
                    format!(", stripe size {}", human_size(s.stripe_size))
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "    segment{}: extents {}..{} {}{chunk}{}{}",
                    i + 1,
                    s.start_extent,
                    s.start_extent.saturating_add(s.extent_count),
                    s.type_name(),
                    if stripes.is_empty() { "" } else { ": " },
                    stripes.join(", ")
                )?;
            }
            if let Some(e) = &lv.error {
                writeln!(out, "    cannot read: {e}")?;
            }
        }
    }
    Ok(())
}
