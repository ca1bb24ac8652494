//! `boot-sim lab check 4 IMAGE`: is a PV image migrated to HVM?
//!
//! Each condition is one thing the HVM path needs that the PV path did not,
//! checked with the library code of `inspect`, `menu` and `run --mode hvm`:
//! a partition table (a BIOS boots sectors, not file systems), the file
//! system at the partition, boot code that loads a GRUB stage, a menu that
//! GRUB finds on `(hd0,0)` and whose entry reads its kernel from there, a
//! kernel command line for the HVM devices (`console=ttyS0`/`tty0`, the
//! root file system as `xvda1` or by UUID/LABEL), the same root in
//! `/etc/fstab`, and finally the HVM boot itself reaching the kernel entry.

use std::path::Path;
use std::sync::Arc;

use boot::hvm::{self, EndState, HvmReport};
use boot_config::discover::{self, Loader};
use boot_config::inspect::{self, DiskReport, VolumeReport};
use boot_config::select::{self, BootChoice, EntryRequest};
use disk_image::bootcode::NextStage;
use disk_image::partition::Scheme;
use disk_image::{Disk, RawImage, ReadAt};

use super::{Condition, condition};
use crate::output::Exit;

/// The conditions of a finished migration, in the order the lab does the
/// steps.
pub fn check(image: &Path) -> Result<Vec<Condition>, Exit> {
    let disk = Disk::open(image)?;
    let report = inspect::inspect(&disk)?;
    let first = report.volumes.iter().find(|v| v.volume.partition.is_some() && v.volume.names.grub == "(hd0,0)");
    let reader: Arc<dyn ReadAt> = Arc::new(RawImage::open(image)?);
    let hvm = hvm::run(reader, &crate::run_hvm::default_options());
    let mut c = vec![table(&report, first), filesystem(first), boot_code(&report, &hvm)];
    let d = discover::discover(&disk, Loader::PvgrubHd00);
    let choice = d.config.as_ref().map(|_| select::choose(&disk, &d, &EntryRequest::Default));
    let name = "GRUB finds the menu on (hd0,0) and its default entry's kernel on (hd0,0)";
    let choice = match choice {
        None => {
            let why: Vec<String> = d.probes.iter().map(|p| format!("{}{}: {}", p.device, p.path, probe(p))).collect();
            c.push(condition(name, false, format!("no menu: {}", why.join("; "))));
            None
        }
        Some(Err(e)) => {
            c.push(condition(name, false, e.to_string()));
            None
        }
        Some(Ok(choice)) => {
            let on_first = choice.config.device == "(hd0,0)" && choice.kernel.device == "(hd0,0)";
            let root = choice.entry.root.as_deref().unwrap_or("(none: the menu's device)");
            c.push(condition(
                name,
                on_first,
                format!(
                    "menu {}{}; entry {} has root {root} and loads {}{}",
                    choice.config.device,
                    choice.config.path,
                    choice.entry.index,
                    choice.kernel.device,
                    choice.kernel.resolved_path
                ),
            ));
            Some(choice)
        }
    };
    // Without a menu on (hd0,0), the command line is still worth reading
    // where PV-GRUB finds it, to show what the HVM kernel would get.
    let any = match &choice {
        Some(_) => None,
        None => {
            let pv = discover::discover(&disk, Loader::PvgrubAws);
            pv.config.as_ref().and_then(|_| select::choose(&disk, &pv, &EntryRequest::Default).ok())
        }
    };
    let cmdline = choice.as_ref().or(any.as_ref());
    c.push(console(cmdline));
    c.push(root_device(cmdline, first));
    c.push(fstab(image, first));
    c.push(hvm_boot(&hvm));
    Ok(c)
}

fn probe(p: &discover::Probe) -> String {
    match &p.outcome {
        discover::ProbeOutcome::Found => "found".into(),
        discover::ProbeOutcome::Missing => "not there".into(),
        discover::ProbeOutcome::Failed { error: Some(e), detail } => format!("{e} ({detail})"),
        discover::ProbeOutcome::Failed { error: None, detail } => detail.clone(),
    }
}

fn table(report: &DiskReport, first: Option<&VolumeReport>) -> Condition {
    let name = "sector 0 holds an MBR partition table with a bootable first partition";
    let Some(v) = first else {
        let what = match report.scheme {
            Scheme::None => "no partition table: the disk is one volume, (hd0)".to_string(),
            Scheme::Mbr => "an MBR without a first partition (hd0,0)".to_string(),
            Scheme::Gpt => "a GPT: GRUB legacy has no GPT support".to_string(),
        };
        return condition(name, false, what);
    };
    let p = v.volume.partition.as_ref().map(|p| (p.start.0, p.sectors, p.bootable));
    let (start, sectors, bootable) = p.unwrap_or_default();
    let ok = report.scheme == Scheme::Mbr && bootable;
    let detail = format!(
        "{} {}: LBA {start}, {sectors} sectors{}",
        v.volume.names.grub,
        v.volume.names.linux,
        if bootable { ", bootable" } else { ", not marked bootable (sfdisk: bootable; fdisk: a)" }
    );
    condition(name, ok, detail)
}

fn filesystem(first: Option<&VolumeReport>) -> Condition {
    let name = "(hd0,0) holds the root file system";
    let Some(v) = first else {
        return condition(name, false, "there is no (hd0,0)");
    };
    match (&v.fs, &v.fs_error) {
        (_, Some(e)) => condition(name, false, e.clone()),
        (Some(fs), None) => {
            let label = fs.label.as_deref().map(|l| format!(", label {l:?}")).unwrap_or_default();
            condition(name, true, format!("{}{label}", fs.kind.name()))
        }
        (None, None) => condition(
            name,
            false,
            format!("no file system at LBA {} (byte {})", v.volume.start_bytes / 512, v.volume.start_bytes),
        ),
    }
}

/// Sector 0's code loads a GRUB stage: as `inspect` reads its fields, or,
/// for code `inspect` does not recognise, as the HVM run saw it happen.
fn boot_code(report: &DiskReport, hvm: &HvmReport) -> Condition {
    let name = "the boot code in sector 0 loads a GRUB stage";
    let code = report.boot_sector.code.describe();
    let ran = hvm.stages.first().map(|s| format!("the HVM run loaded a {} from LBA {}", s.stage, s.lba));
    let Some(next) = &report.next_stage else {
        return match ran {
            Some(r) => condition(name, true, format!("{code}; {r}")),
            None => condition(name, false, format!("{code}; it names no next stage")),
        };
    };
    let ok = matches!(next.found, NextStage::GrubLegacyStart { .. } | NextStage::Grub2Diskboot);
    let found = match &next.found {
        NextStage::GrubLegacyStart { loads } => format!("GRUB legacy start sector (Loading {loads})"),
        NextStage::Grub2Diskboot => "GRUB 2 diskboot.img".into(),
        NextStage::SyslinuxLdlinux { .. } => "syslinux ldlinux.sys (first sector, LDLINUX_MAGIC)".into(),
        NextStage::Empty => "all zero: the next stage is missing".into(),
        NextStage::Unrecognised => "unrecognised bytes".into(),
        NextStage::PastEnd => "past the end of the disk".into(),
    };
    condition(name, ok, format!("{code}; at LBA {}: {found}", next.lba))
}

/// The `key=` arguments of a command line, in order.
fn args<'a>(choice: &'a BootChoice, key: &str) -> Vec<&'a str> {
    choice.cmdline.split_whitespace().filter_map(|a| a.strip_prefix(key)).collect()
}

fn console(choice: Option<&BootChoice>) -> Condition {
    let name = "the kernel command line has console=ttyS0 or console=tty0";
    let Some(choice) = choice else {
        return condition(name, false, "no entry to read a command line from");
    };
    let consoles = args(choice, "console=");
    let hvm = consoles.iter().any(|c| c.split(',').next().is_some_and(|d| d == "ttyS0" || d == "tty0"));
    let detail = if consoles.is_empty() {
        "no console= argument".to_string()
    } else if hvm {
        format!("console={}", consoles.join(" console="))
    } else {
        format!(
            "console={}: hvc0 is Xen's PV console; an HVM guest's console is the emulated serial port ttyS0 or the VGA tty0",
            consoles.join(" console=")
        )
    };
    condition(name, hvm, detail)
}

fn root_device(choice: Option<&BootChoice>, first: Option<&VolumeReport>) -> Condition {
    let name = "root= names the first partition (/dev/xvda1, or its UUID= or LABEL=)";
    let Some(choice) = choice else {
        return condition(name, false, "no entry to read a command line from");
    };
    let Some(root) = args(choice, "root=").last().copied() else {
        return condition(name, false, "no root= argument");
    };
    let (ok, why) = names_first_partition(root, first);
    condition(name, ok, format!("root={root}: {why}"))
}

/// Whether `spec` (a `root=` value or an fstab device) names the file
/// system of the first partition, and why.
fn names_first_partition(spec: &str, first: Option<&VolumeReport>) -> (bool, String) {
    let fs = first.and_then(|v| v.fs.as_ref());
    let has = |what: &str, v: Option<&str>| match v {
        Some(v) => format!("the file system on (hd0,0) has {what} {v:?}"),
        None => format!("the file system on (hd0,0) has no {what}"),
    };
    if let Some(label) = spec.strip_prefix("LABEL=") {
        let l = fs.and_then(|f| f.label.as_deref());
        (l == Some(label), has("label", l))
    } else if let Some(uuid) = spec.strip_prefix("UUID=") {
        let u = fs.and_then(|f| f.uuid.as_deref());
        (u.is_some_and(|h| h.eq_ignore_ascii_case(uuid)), has("UUID", u))
    } else if spec == "/dev/xvda1" {
        (true, "the first partition of the Xen disk".to_string())
    } else if spec == "/dev/xvda" {
        (false, "that is the whole disk, which now starts with the partition table".to_string())
    } else if spec == "/dev/sda1" || spec == "/dev/hda1" {
        (
            false,
            "the emulated IDE disk's name; a kernel with Xen's PV drivers unplugs that disk and sees xvda1: \
             use /dev/xvda1, UUID= or LABEL="
                .to_string(),
        )
    } else {
        (false, "expected /dev/xvda1, UUID= or LABEL=".to_string())
    }
}

/// `/etc/fstab` of the root file system (on `(hd0,0)`, or on the whole
/// disk before the migration) mounts `/` from the first partition: the
/// kernel mounts the root from `root=`, then the boot scripts remount it
/// (and fsck it) from fstab.
fn fstab(image: &Path, first: Option<&VolumeReport>) -> Condition {
    let name = "/etc/fstab mounts / from the first partition (/dev/xvda1, UUID= or LABEL=)";
    let read = |dev: &str| crate::cat::read_from_image(image, &format!("{dev}/etc/fstab"), 1 << 20).ok();
    let Some(bytes) = read("(hd0,0)").or_else(|| read("(hd0)")) else {
        return condition(name, false, "no /etc/fstab on (hd0,0)");
    };
    let text = String::from_utf8_lossy(&bytes);
    let root = text.lines().map(str::split_whitespace).find_map(|mut f| match (f.next(), f.next()) {
        (Some(dev), Some("/")) if !dev.starts_with('#') => Some(dev.to_string()),
        _ => None,
    });
    let Some(dev) = root else {
        return condition(name, false, "/etc/fstab has no line for /");
    };
    let (ok, why) = names_first_partition(&dev, first);
    condition(name, ok, format!("{dev}: {why}"))
}

fn hvm_boot(r: &HvmReport) -> Condition {
    let name = "`run --mode hvm` reaches the kernel entry";
    match &r.end {
        EndState::KernelEntry { info, .. } => condition(
            name,
            true,
            format!(
                "{} entry {} loads {}, cmdline {:?}",
                info.loader,
                info.entry_index.map_or_else(|| format!("{:?}", info.entry_title), |i| i.to_string()),
                info.kernel,
                info.cmdline
            ),
        ),
        _ => condition(name, false, r.reason.clone()),
    }
}
