//! The executed boot explained from what executed.
//!
//! When the loader's own code runs, boot-sim does not know its stages,
//! files or menu in advance: it sees int 13h reads and key polls. This
//! module turns those into the report's explanation:
//!
//! - every int 13h read is split among the files, filesystem metadata and
//!   boot areas it touched ([`disk_image::owners::SectorMap`]), so the
//!   report says "GRUB read (hd0,msdos1)/boot/vmlinuz-… (13.5 MiB) in 53
//!   reads" instead of a list of LBAs;
//! - phases come from what ran: the first read of the config, of the
//!   loader's modules, of the kernel and the initrd the kernel entry found
//!   in memory, and the waits for a key (a menu countdown);
//! - boot-sim's menus module predicts the entry, kernel, initrd and command
//!   line from the configs it knows; the report says whether prediction and
//!   execution agree. The execution is the result.

use std::sync::Arc;

use boot_config::discover;
use boot_config::select::{self, EntryRequest};
use disk_image::owners::{self, Limits, Owner};
use disk_image::{Disk, ReadAt};
use serde::Serialize;

use super::EndState;

/// The run's exact counters at one moment (a phase boundary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Moment {
    pub time_ns: u64,
    pub exits: u64,
    pub sectors: u64,
}

/// One int 13h read the guest asked for, with the moment it was asked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoaderRead {
    pub lba: u64,
    pub sectors: u64,
    pub at: Moment,
}

/// Consecutive empty key polls: a loader waiting for a key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyWait {
    pub start: Moment,
    pub end_ns: u64,
    pub polls: u64,
}

/// Reads kept at most (a real GRUB 2 boot makes a few thousand).
const MAX_READS: usize = 1 << 20;
/// Empty polls less than this apart belong to the same wait.
const SAME_WAIT_NS: u64 = 1_000_000_000;

/// What the executing guest did that the explanation needs.
#[derive(Debug, Default)]
pub(crate) struct ExecLog {
    pub reads: Vec<LoaderRead>,
    pub reads_dropped: u64,
    pub waits: Vec<KeyWait>,
}

impl ExecLog {
    pub(crate) fn read(&mut self, lba: u64, sectors: u64, at: Moment) {
        if self.reads.len() < MAX_READS {
            self.reads.push(LoaderRead { lba, sectors, at });
        } else {
            self.reads_dropped += 1;
        }
    }

    /// An empty key poll at `at` that moved the clock to `end_ns`.
    pub(crate) fn empty_poll(&mut self, at: Moment, end_ns: u64) {
        match self.waits.last_mut() {
            Some(w) if at.time_ns.saturating_sub(w.end_ns) < SAME_WAIT_NS => {
                w.end_ns = end_ns;
                w.polls += 1;
            }
            _ => self.waits.push(KeyWait { start: at, end_ns, polls: 1 }),
        }
    }
}

/// What the loader read from one owner (a file, a filesystem's metadata, a
/// boot area), in the order of the first read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiskReads {
    #[serde(flatten)]
    pub owner: Owner,
    /// [`Owner::describe`].
    pub what: String,
    /// What the file is to the boot: "kernel", "initrd", "config",
    /// "module", "loader", "other" (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// int 13h calls that read at least one of its sectors.
    pub reads: u64,
    /// Its sectors read, repeats counted.
    pub sectors: u64,
    /// Simulated time of the first read.
    pub first_ns: u64,
}

/// The menus module's prediction of the boot, against the execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// Whose reading of the config predicted it.
    pub by: String,
    pub config: String,
    pub entry_title: String,
    pub kernel: String,
    pub initrd: Option<String>,
    pub cmdline: String,
    /// Whether the execution booted the same entry, kernel, initrd and
    /// command line (`None`: the execution did not reach the kernel).
    pub agrees: Option<bool>,
    /// Where they differ, one line each.
    pub differences: Vec<String>,
}

/// A mark derived after the run: where a phase starts and its name.
pub(crate) type DerivedMark = (Moment, String);

/// The role of `path` in the boot: `kernel`/`initrd` when the kernel entry
/// found that file in memory, else from its name.
fn role(device: &str, path: &str, kernel: Option<&str>, initrd: Option<&str>) -> &'static str {
    let full = format!("{device}{path}");
    if kernel == Some(full.as_str()) {
        return "kernel";
    }
    if initrd == Some(full.as_str()) {
        return "initrd";
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e);
    match name {
        "grub.cfg" | "menu.lst" | "grub.conf" | "grubenv" | "load.cfg" | "extlinux.conf" | "syslinux.cfg"
        | "device.map" => "config",
        "stage1" | "stage2" | "core.img" | "ldlinux.sys" | "boot.img" => "loader",
        n if n.ends_with("_stage1_5") => "loader",
        _ if matches!(ext, Some("mod" | "lst" | "c32" | "pf2" | "cfg")) => "module",
        _ if name.starts_with("vmlinuz") || name.starts_with("vmlinux") || name.starts_with("bzImage") => "kernel",
        _ if name.starts_with("initrd") || name.starts_with("initramfs") => "initrd",
        _ => "other",
    }
}

/// Splits the reads among their owners and derives the phase marks.
pub(crate) fn explain_reads(
    image: &Arc<dyn ReadAt>,
    disk: Option<&Disk>,
    log: &ExecLog,
    end: &EndState,
) -> (Vec<DiskReads>, Vec<DerivedMark>) {
    let mut marks: Vec<DerivedMark> = Vec::new();
    for w in &log.waits {
        let secs = w.end_ns.saturating_sub(w.start.time_ns) as f64 / 1e9;
        marks.push((
            w.start,
            format!("the loader waits for a key ({} empty polls, {secs:.1} s: a menu countdown or a prompt)", w.polls),
        ));
    }
    if log.reads.is_empty() {
        return (Vec::new(), marks);
    }
    let spans: Vec<(u64, u64)> = log.reads.iter().map(|r| (r.lba, r.sectors)).collect();
    let map = owners::attribute_in(image, disk, &spans, Limits::default());
    let (kernel, initrd) = match end {
        EndState::KernelEntry { info, .. } => {
            let ok = |what: &str| info.checks.iter().find(|c| c.what == what && c.ok).map(|c| c.detail.clone());
            (ok("kernel"), ok("initrd"))
        }
        _ => (None, None),
    };
    let owners = &map.owners;
    // Each file's role, once.
    let roles: Vec<Option<&'static str>> = owners
        .iter()
        .map(|o| match o {
            Owner::File { device, path, .. } => Some(role(device, path, kernel.as_deref(), initrd.as_deref())),
            _ => None,
        })
        .collect();
    let mut per: Vec<Option<DiskReads>> = vec![None; owners.len()];
    let mut order = Vec::new();
    let mut last_role: Option<&'static str> = None;
    let mut principal = std::collections::HashSet::new();
    for (r, touched) in log.reads.iter().zip(&map.pieces) {
        for (i, &(owner, n)) in touched.iter().enumerate() {
            let again = touched[..i].iter().any(|&(o, _)| o == owner);
            let slot = &mut per[owner];
            let entry = slot.get_or_insert_with(|| {
                order.push(owner);
                let o = &owners[owner];
                let role = roles[owner].map(str::to_string);
                DiskReads { owner: o.clone(), what: o.describe(), role, reads: 0, sectors: 0, first_ns: r.at.time_ns }
            });
            entry.reads += u64::from(!again);
            entry.sectors += n;
        }
        // A phase starts at the first read of the config, of each kernel
        // and initrd, of a loader file, and of the modules after other
        // work; a read counts for the file most of its file sectors belong
        // to (GRUB 0.97 reads whole tracks, GRUB 2 whole cache blocks,
        // neighbours included; metadata read alongside does not count).
        let files = touched.iter().filter(|(o, _)| roles[*o].is_some());
        let Some(&(owner, _)) = files.max_by_key(|&&(o, n)| (n, std::cmp::Reverse(o))) else { continue };
        let (Owner::File { device, path, size, .. }, Some(role)) = (&owners[owner], roles[owner]) else { continue };
        let first = principal.insert(owner);
        let name = match role {
            "config" | "kernel" | "initrd" | "loader" if first => {
                let verb = match role {
                    "config" => "read the config".to_string(),
                    "loader" => "read the loader's file".to_string(),
                    _ => format!("load the {role}"),
                };
                Some(format!("{verb} {device}{path} ({})", disk_image::units::human_size(*size)))
            }
            "module" if last_role != Some("module") => {
                let dir = path.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
                Some(format!("load modules from {device}{dir}"))
            }
            _ => None,
        };
        if let Some(n) = name {
            marks.push((r.at, n));
        }
        last_role = Some(role);
    }
    let reads = order.into_iter().filter_map(|o| per[o].take()).collect();
    marks.sort_by_key(|(m, _)| m.time_ns);
    // Modules loaded on and off by the same work are one phase.
    marks.dedup_by(|b, a| a.1 == b.1);
    (reads, marks)
}

/// The command line without the `BOOT_IMAGE=…` word GRUB 2's `linux` puts
/// in front (grub-core/loader/i386/linux.c `grub_create_loader_cmdline`
/// after "BOOT_IMAGE=" and the kernel's path) and SYSLINUX adds likewise.
fn without_boot_image(cmdline: &str) -> String {
    cmdline.split_whitespace().filter(|w| !w.starts_with("BOOT_IMAGE=")).collect::<Vec<_>>().join(" ")
}

/// The path part of `(dev)/path`.
fn path_of(s: &str) -> &str {
    match s.strip_prefix('(').and_then(|r| r.split_once(')')) {
        Some((_, p)) => p,
        None => s,
    }
}

/// The menus module's prediction for the disk (its config found where
/// pygrub looks, on any filesystem boot-sim reads, GRUB 2 evaluated), and
/// where the execution differs. `None` when no config it knows is found.
pub(crate) fn predict(disk: &Disk, end: &EndState) -> Option<Prediction> {
    let d = discover::discover_any_fs(disk);
    let choice = select::choose(disk, &d, &EntryRequest::Default).ok()?;
    let mut p = Prediction {
        by: "boot-sim's menus module (the config found where pygrub looks, read as pygrub reads it)".into(),
        config: format!("{}{}", choice.config.device, choice.config.path),
        entry_title: choice.entry.title.clone(),
        kernel: format!("{}{}", choice.kernel.device, choice.kernel.resolved_path),
        initrd: choice.initrd.first().map(|i| format!("{}{}", i.device, i.resolved_path)),
        cmdline: choice.cmdline.clone(),
        agrees: None,
        differences: Vec::new(),
    };
    let EndState::KernelEntry { info, .. } = end else { return Some(p) };
    let mut diff = Vec::new();
    if !info.entry_title.is_empty() && info.entry_title != p.entry_title {
        diff.push(format!("entry: predicted '{}', the loader booted '{}'", p.entry_title, info.entry_title));
    }
    let ran = without_boot_image(&info.cmdline);
    if ran != without_boot_image(&p.cmdline) {
        diff.push(format!("command line: predicted {:?}, the kernel got {:?}", p.cmdline, info.cmdline));
    }
    let file_ok = |what: &str| info.checks.iter().find(|c| c.what == what && c.ok).map(|c| c.detail.clone());
    if let Some(k) = file_ok("kernel")
        && path_of(&k) != path_of(&p.kernel)
    {
        diff.push(format!("kernel: predicted {}, the loader loaded {k}", p.kernel));
    }
    match (file_ok("initrd"), &p.initrd) {
        (Some(i), Some(pi)) if path_of(&i) != path_of(pi) => {
            diff.push(format!("initrd: predicted {pi}, the loader loaded {i}"));
        }
        (None, Some(pi)) if info.initrd.is_none() => diff.push(format!("initrd: predicted {pi}, none was loaded")),
        (Some(i), None) => diff.push(format!("initrd: none predicted, the loader loaded {i}")),
        _ => {}
    }
    p.agrees = Some(diff.is_empty());
    p.differences = diff;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_name_and_by_what_was_loaded() {
        let k = Some("(hd0,msdos1)/boot/vmlinuz-6.1");
        assert_eq!(role("(hd0,msdos1)", "/boot/vmlinuz-6.1", k, None), "kernel");
        assert_eq!(role("(hd0,msdos1)", "/boot/vmlinuz-5.10", k, None), "kernel");
        assert_eq!(role("(hd0,msdos1)", "/boot/grub/grub.cfg", k, None), "config");
        assert_eq!(role("(hd0,msdos1)", "/boot/grub/i386-pc/normal.mod", k, None), "module");
        assert_eq!(role("(hd0,msdos1)", "/boot/grub/e2fs_stage1_5", k, None), "loader");
        assert_eq!(role("(hd0,msdos1)", "/boot/config-6.1", k, None), "other");
    }

    #[test]
    fn waits_group_polls_close_together() {
        let mut log = ExecLog::default();
        let m = |t| Moment { time_ns: t, ..Moment::default() };
        log.empty_poll(m(0), 50);
        log.empty_poll(m(60), 110);
        log.empty_poll(m(5_000_000_000), 5_000_000_050);
        assert_eq!(log.waits.len(), 2);
        assert_eq!((log.waits[0].polls, log.waits[0].end_ns), (2, 110));
    }

    #[test]
    fn boot_image_words_do_not_count_as_differences() {
        assert_eq!(without_boot_image("BOOT_IMAGE=/boot/vmlinuz root=/dev/sda1 ro"), "root=/dev/sda1 ro");
        assert_eq!(path_of("(hd0,msdos1)/boot/vmlinuz"), "/boot/vmlinuz");
        assert_eq!(path_of("/boot/vmlinuz"), "/boot/vmlinuz");
    }
}
