//! `boot-sim lab check 4 IMAGE`: is a PV image migrated to HVM?
//!
//! Each condition is one thing the HVM path needs that the PV path did not,
//! checked with the library code of `inspect`, `menu` and `run --mode hvm`:
//! a partition table (a BIOS boots sectors, not file systems), the file
//! system at the partition, boot code that loads a boot loader stage (the
//! lab installs simboot, boot-sim's own LILO-style loader, with its
//! installer; GRUB's stages pass too), a menu on `(hd0,0)` whose entry
//! reads its kernel from there, a kernel command line for the HVM devices
//! (`console=ttyS0`/`tty0`, the root file system as `xvda1` or by
//! UUID/LABEL), the same root in `/etc/fstab`, and finally the HVM boot
//! itself reaching the kernel entry.
//!
//! The command line is the one the executed boot put into boot_params
//! when the HVM run reached the kernel, else the menu's: a LILO-style
//! loader boots the command line its installer copied into the map, so a
//! menu edited after the installer ran changes nothing until it runs
//! again (LILO's "run /sbin/lilo after every change").

use std::path::Path;
use std::sync::Arc;

use boot::hvm::{self, EndState, HvmReport};
use boot_config::discover::{self, Loader};
use boot_config::inspect::{self, DiskReport, VolumeReport};
use boot_config::select::{self, EntryRequest};
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
    let name = "the menu is on (hd0,0) and its default entry's kernel is on (hd0,0)";
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
    let menu = choice.as_ref().or(any.as_ref()).map(|m| m.cmdline.as_str());
    let cmdline = Cmdline::of(&hvm, menu);
    c.push(console(cmdline.as_ref()));
    c.push(root_device(cmdline.as_ref(), first));
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

/// Sector 0's code loads a boot loader stage: as `inspect` reads its
/// fields (simboot's, GRUB's), or, for code `inspect` does not recognise,
/// as the HVM run saw it happen.
fn boot_code(report: &DiskReport, hvm: &HvmReport) -> Condition {
    let name = "the boot code in sector 0 loads a boot loader stage";
    let code = report.boot_sector.code.describe();
    let ran = hvm.stages.first().map(|s| format!("the HVM run loaded a {} from LBA {}", s.stage, s.lba));
    let Some(next) = &report.next_stage else {
        return match ran {
            Some(r) => condition(name, true, format!("{code}; {r}")),
            None => condition(name, false, format!("{code}; it names no next stage")),
        };
    };
    let ok =
        matches!(next.found, NextStage::GrubLegacyStart { .. } | NextStage::Grub2Diskboot | NextStage::SimbootStage2);
    let found = match &next.found {
        NextStage::GrubLegacyStart { loads } => format!("GRUB legacy start sector (Loading {loads})"),
        NextStage::Grub2Diskboot => "GRUB 2 diskboot.img".into(),
        NextStage::SimbootStage2 => "simboot stage 2".into(),
        NextStage::SyslinuxLdlinux { .. } => "syslinux ldlinux.sys (first sector, LDLINUX_MAGIC)".into(),
        NextStage::Empty => "all zero: the next stage is missing".into(),
        NextStage::Unrecognised => "unrecognised bytes".into(),
        NextStage::PastEnd => "past the end of the disk".into(),
    };
    condition(name, ok, format!("{code}; at LBA {}: {found}", next.lba))
}

/// The kernel command line the conditions read, and where it came from.
struct Cmdline {
    text: String,
    /// The menu's command line, when the text is the executed boot's and
    /// the menu now says something else.
    stale: Option<String>,
    executed: bool,
}

impl Cmdline {
    /// The executed boot's command line (read back from boot_params) when
    /// the HVM run reached the kernel, else the menu's.
    fn of(hvm: &HvmReport, menu: Option<&str>) -> Option<Cmdline> {
        match &hvm.end {
            EndState::KernelEntry { info, .. } => {
                let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
                let stale = menu.filter(|m| words(m) != words(&info.cmdline)).map(str::to_string);
                Some(Cmdline { text: info.cmdline.clone(), stale, executed: true })
            }
            _ => menu.map(|m| Cmdline { text: m.to_string(), stale: None, executed: false }),
        }
    }

    /// The `key=` arguments, in order.
    fn args(&self, key: &str) -> Vec<&str> {
        self.text.split_whitespace().filter_map(|a| a.strip_prefix(key)).collect()
    }

    /// Where the command line came from, for the condition's detail.
    fn source(&self) -> String {
        match (&self.stale, self.executed) {
            (Some(menu), _) => format!(
                " (the command line the HVM boot passed to the kernel; the menu now says {menu:?}: the loader boots \
                 what its installer wrote into the map, so re-run the installer after changing the menu)"
            ),
            (None, true) => " (the command line the HVM boot passed to the kernel)".into(),
            (None, false) => " (the menu's: the HVM boot did not reach the kernel)".into(),
        }
    }
}

fn console(cmdline: Option<&Cmdline>) -> Condition {
    let name = "the kernel command line has console=ttyS0 or console=tty0";
    let Some(cmdline) = cmdline else {
        return condition(name, false, "no entry to read a command line from");
    };
    let consoles = cmdline.args("console=");
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
    condition(name, hvm, format!("{detail}{}", cmdline.source()))
}

fn root_device(cmdline: Option<&Cmdline>, first: Option<&VolumeReport>) -> Condition {
    let name = "root= names the first partition (/dev/xvda1, or its UUID= or LABEL=)";
    let Some(cmdline) = cmdline else {
        return condition(name, false, "no entry to read a command line from");
    };
    let Some(root) = cmdline.args("root=").last().copied() else {
        return condition(name, false, format!("no root= argument{}", cmdline.source()));
    };
    let (ok, why) = names_first_partition(root, first);
    condition(name, ok, format!("root={root}: {why}{}", cmdline.source()))
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
            format!("{} entry {:?} loads {}, cmdline {:?}", info.loader, info.entry_title, info.kernel, info.cmdline),
        ),
        _ => condition(name, false, r.reason.clone()),
    }
}
