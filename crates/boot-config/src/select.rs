//! Which entry a loader boots, and why — GRUB's rules and pygrub's, side by
//! side where they differ.
//!
//! GRUB 0.97 (`stage2/stage2.c` `cmain`/`run_menu`): `default N` past the
//! last entry becomes the first fallback entry, else 0; `default saved`
//! reads the `default` file; when booting an entry fails (a file is missing,
//! a partition does not exist, …) GRUB prints the error and boots the next
//! `fallback` entry; choosing an entry by hand (a key press, `--entry`)
//! cancels the fallback list.
//!
//! pygrub (`tools/pygrub/src/pygrub` `image_index`/`run_grub`,
//! `grub/GrubConf.py`): `default saved` is 0; a default past the end is 0;
//! there is no fallback; files are read from the filesystem the menu came
//! from, ignoring `root` and device prefixes; extlinux `INITRD` lines are
//! ignored.

use serde::Serialize;

use crate::discover::{self, Discovery, FileFailure, FileHit, GRUB_LEGACY_MAX_HOPS, LoadedConfig, Loader};
use crate::{BootPath, DefaultSpec, Menu, MenuEntry, MenuFormat, grub2};
use disk_image::disk::Disk;
use disk_image::fs;

/// Which entry the user asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum EntryRequest {
    Default,
    Index(usize),
    Title(String),
}

impl EntryRequest {
    /// `--entry N|TITLE`: a number is an index (as pygrub's `get_entry_idx`).
    pub fn parse(text: &str) -> EntryRequest {
        match text.parse::<usize>() {
            Ok(n) => EntryRequest::Index(n),
            Err(_) => EntryRequest::Title(text.to_string()),
        }
    }
}

/// Why an entry was picked, as a code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Explicit,
    Default,
    Saved,
    /// The default points past the last entry.
    DefaultOutOfRange,
    /// An earlier entry failed to load.
    Fallback,
    FirstEntry,
}

/// An entry that was tried and failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub index: usize,
    pub title: String,
    pub failure: FileFailure,
}

#[derive(Debug, Clone, Serialize)]
pub struct BootChoice {
    pub loader: Loader,
    pub config: FileHit,
    pub format: MenuFormat,
    pub entry: MenuEntry,
    pub reason: Reason,
    pub why: String,
    pub kernel: FileHit,
    pub initrd: Vec<FileHit>,
    /// The kernel command line the loader passes.
    pub cmdline: String,
    /// Entries tried before this one.
    pub attempts: Vec<Attempt>,
    /// Where pygrub and GRUB would not boot the same thing (pygrub loader only).
    pub differences: Vec<String>,
}

impl BootChoice {
    /// `e` of `cfg` booted with its own command line, first try, nothing
    /// compared yet: what both loaders' rules start from.
    fn chosen(
        loader: Loader,
        cfg: &LoadedConfig,
        e: &MenuEntry,
        reason: Reason,
        why: String,
        kernel: FileHit,
        initrd: Vec<FileHit>,
    ) -> BootChoice {
        BootChoice {
            loader,
            config: cfg.file.clone(),
            format: cfg.format,
            entry: e.clone(),
            reason,
            why,
            kernel,
            initrd,
            cmdline: e.args.clone(),
            attempts: Vec::new(),
            differences: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SelectError {
    NoConfig,
    NoEntries,
    NoSuchEntry { request: EntryRequest, entries: usize },
    AllFailed { attempts: Vec<Attempt>, note: String },
}

impl std::fmt::Display for SelectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectError::NoConfig => f.write_str("no boot menu found"),
            SelectError::NoEntries => f.write_str("the menu has no bootable entries"),
            SelectError::NoSuchEntry { request, entries } => match request {
                EntryRequest::Index(n) => write!(f, "no entry {n} (the menu has {entries}, numbered from 0)"),
                EntryRequest::Title(t) => write!(f, "no entry titled {t:?}"),
                EntryRequest::Default => write!(f, "no default entry"),
            },
            SelectError::AllFailed { attempts, note } => {
                let last = attempts.last().map(|a| a.failure.to_string()).unwrap_or_default();
                write!(f, "{last}; {note}")
            }
        }
    }
}

fn find_request(menu: &Menu, request: &EntryRequest) -> Option<usize> {
    match request {
        EntryRequest::Default => None,
        EntryRequest::Index(n) => (*n < menu.entries.len()).then_some(*n),
        EntryRequest::Title(t) => menu.entries.iter().position(|e| &e.title == t || e.id.as_deref() == Some(t)),
    }
}

/// GRUB's default entry and the reason (`cmain` range rule included).
fn grub_default(menu: &Menu, saved: Option<usize>) -> (usize, Reason, String) {
    let n = menu.entries.len();
    let (wanted, reason, source) = match &menu.default {
        DefaultSpec::Unset => (0, Reason::FirstEntry, "no `default` line: the first entry".to_string()),
        DefaultSpec::Index(i) => (*i, Reason::Default, format!("`default {i}`")),
        DefaultSpec::Saved => {
            let v = saved.unwrap_or(0);
            let src = match saved {
                Some(_) => format!("`default saved`: the `default` file next to the menu says {v}"),
                None => "`default saved` with no `default` file: GRUB uses 0".to_string(),
            };
            (v, Reason::Saved, src)
        }
        DefaultSpec::Name(name) => {
            match menu.entries.iter().position(|e| e.id.as_deref() == Some(name) || &e.title == name) {
                Some(i) => (i, Reason::Default, format!("default {name:?}")),
                None => (usize::MAX, Reason::Default, format!("default {name:?} names no entry")),
            }
        }
    };
    if wanted < n {
        return (wanted, reason, source);
    }
    match menu.fallback.first() {
        Some(&f) => (
            f,
            Reason::DefaultOutOfRange,
            format!("{source} is past the last entry; GRUB uses the first fallback entry, {f}"),
        ),
        None => (0, Reason::DefaultOutOfRange, format!("{source} is past the last entry; GRUB uses entry 0")),
    }
}

/// Loads an entry's kernel and initrds the GRUB way.
fn grub_load(disk: &Disk, cfg: &LoadedConfig, e: &MenuEntry) -> Result<(FileHit, Vec<FileHit>), FileFailure> {
    let default_root = cfg.volume.names.grub.clone();
    let root = e.root.as_deref();
    let kernel_path = e.kernel.as_ref().ok_or_else(|| FileFailure {
        error: Some(crate::grub_error::GrubError::BootCommand),
        detail: format!("entry {:?} loads no kernel", e.title),
    })?;
    let max_hops =
        if cfg.format == MenuFormat::GrubLegacy { GRUB_LEGACY_MAX_HOPS } else { fs::DEFAULT_MAX_SYMLINK_HOPS };
    let grub2 = matches!(cfg.format, MenuFormat::Grub2 | MenuFormat::Bls);
    let dev = |d: Option<&str>| d.map(|d| if grub2 { grub2_device_name(disk, d) } else { d.to_string() });
    let root = dev(root);
    let find = |p: &BootPath| {
        let p = BootPath { device: dev(p.device.as_deref()), path: p.path.clone() };
        discover::find_grub_file(disk, &p, root.as_deref(), &default_root, max_hops)
    };
    let kernel = find(kernel_path)?;
    let initrd = e.initrd.iter().map(find).collect::<Result<Vec<_>, _>>()?;
    Ok((kernel, initrd))
}

/// The entry GRUB starts with (before any fallback): the default by GRUB's
/// rules, or the requested one.
pub fn grub_pick(
    menu: &Menu,
    saved: Option<usize>,
    request: &EntryRequest,
) -> Result<(usize, Reason, String), SelectError> {
    if menu.entries.is_empty() {
        return Err(SelectError::NoEntries);
    }
    if *request == EntryRequest::Default {
        if matches!(menu.format, MenuFormat::Grub2 | MenuFormat::Bls) {
            // grub-core/normal/menu.c: the default by index, title, id or
            // `a>b` path, each failed level falling back to its first item.
            let i = grub2::default_entry(menu).ok_or(SelectError::NoEntries)?;
            let why = match &menu.default {
                DefaultSpec::Unset => "no `set default`: the first entry".to_string(),
                DefaultSpec::Index(n) => format!("`set default={n}`"),
                DefaultSpec::Name(n) if grub2::resolve_default(menu, n) == Some(i) => {
                    format!("`set default` names {n:?}")
                }
                DefaultSpec::Name(n) => {
                    format!("`set default` names {n:?}, which GRUB cannot find: it falls back to the first item")
                }
                DefaultSpec::Saved => "saved entry".to_string(),
            };
            return Ok((i, Reason::Default, why));
        }
        return Ok(grub_default(menu, saved));
    }
    let i = find_request(menu, request)
        .ok_or_else(|| SelectError::NoSuchEntry { request: request.clone(), entries: menu.entries.len() })?;
    Ok((i, Reason::Explicit, format!("chosen with --entry ({})", describe_request(request))))
}

/// The entry pygrub boots: `image_index` for the default (an index, or the
/// leaf title of `a>b`, anything else 0; past the end 0), `get_entry_idx`
/// for `--entry`.
pub fn pygrub_pick(menu: &Menu, request: &EntryRequest) -> Result<(usize, Reason, String), SelectError> {
    let n = menu.entries.len();
    if n == 0 {
        return Err(SelectError::NoEntries);
    }
    if *request != EntryRequest::Default {
        let i = find_request(menu, request)
            .ok_or_else(|| SelectError::NoSuchEntry { request: request.clone(), entries: n })?;
        return Ok((i, Reason::Explicit, format!("chosen with --entry ({})", describe_request(request))));
    }
    let (wanted, why) = match &menu.default {
        DefaultSpec::Unset => return Ok((0, Reason::FirstEntry, "no default: entry 0".to_string())),
        DefaultSpec::Index(i) => (*i, format!("`default {i}`")),
        DefaultSpec::Saved => return Ok((0, Reason::Saved, "`default saved`: pygrub always uses 0".to_string())),
        DefaultSpec::Name(name) => {
            let leaf = name.rsplit('>').next().unwrap_or(name);
            match menu.entries.iter().position(|e| e.title == leaf || e.id.as_deref() == Some(leaf)) {
                Some(i) => (i, format!("default {name:?}")),
                None => return Ok((0, Reason::Default, format!("default {name:?} matches no title: pygrub uses 0"))),
            }
        }
    };
    if wanted < n {
        Ok((wanted, Reason::Default, why))
    } else {
        Ok((0, Reason::DefaultOutOfRange, format!("{why} is past the last entry: pygrub uses 0")))
    }
}

/// The entry GRUB (PV-GRUB) boots, trying fallbacks as GRUB does.
pub fn choose_grub(
    disk: &Disk,
    cfg: &LoadedConfig,
    loader: Loader,
    request: &EntryRequest,
) -> Result<BootChoice, SelectError> {
    let menu = &cfg.menu;
    if menu.entries.is_empty() {
        return Err(SelectError::NoEntries);
    }
    let (mut index, mut reason, mut why) = grub_pick(menu, cfg.saved_default, request)?;
    // A hand-picked entry cancels the fallback list (run_menu clears
    // fallback_entryno on a key press).
    let fallback: Vec<usize> = if *request == EntryRequest::Default {
        menu.fallback.iter().copied().filter(|&f| f != index).collect()
    } else {
        Vec::new()
    };
    let mut attempts = Vec::new();
    let mut fallbacks = fallback.into_iter();
    loop {
        let e = &menu.entries[index];
        match grub_load(disk, cfg, e) {
            Ok((kernel, initrd)) => {
                let mut choice = BootChoice::chosen(loader, cfg, e, reason, why, kernel, initrd);
                if matches!(cfg.format, MenuFormat::Grub2 | MenuFormat::Bls)
                    && let Some(cmdline) = grub2::boot_cmdline(e)
                {
                    choice.cmdline = cmdline;
                }
                choice.attempts = attempts;
                return Ok(choice);
            }
            Err(failure) => {
                attempts.push(Attempt { index, title: e.title.clone(), failure });
                match fallbacks.next() {
                    Some(next) => {
                        why = format!("entry {index} failed; `fallback` lists entry {next}");
                        reason = Reason::Fallback;
                        index = next;
                    }
                    None => {
                        let note = if *request == EntryRequest::Default {
                            "no fallback entry is left".to_string()
                        } else {
                            "an entry chosen by hand has no fallback".to_string()
                        };
                        return Err(SelectError::AllFailed { attempts, note });
                    }
                }
            }
        }
    }
}

/// GRUB 2 counts partitions from 1 and may omit the table type: `(hd0,1)`
/// is boot-sim's `(hd0,msdos1)` (or `gpt1`), not GRUB legacy's `(hd0,1)`.
fn grub2_device_name(disk: &Disk, dev: &str) -> String {
    let inner = dev.trim_matches(['(', ')']);
    match inner.split_once(',') {
        Some((d, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let label = if disk.table().scheme == disk_image::partition::Scheme::Gpt { "gpt" } else { "msdos" };
            format!("({d},{label}{p})")
        }
        _ => format!("({inner})"),
    }
}

fn describe_request(r: &EntryRequest) -> String {
    match r {
        EntryRequest::Default => "default".into(),
        EntryRequest::Index(n) => format!("index {n}"),
        EntryRequest::Title(t) => format!("title {t:?}"),
    }
}

/// pygrub's reading of the same config: its own parse of menu.lst, its
/// default rule, files from the config's filesystem.
pub fn choose_pygrub(disk: &Disk, cfg: &LoadedConfig, request: &EntryRequest) -> Result<BootChoice, SelectError> {
    let ov = discover::open_grub_device(disk, &cfg.volume.names.grub)
        .or_else(|_| {
            // The whole disk of a table-less image, or a partition GRUB can't name.
            disk.open_fs(&cfg.volume).map(|fs| discover::OpenVolume { volume: cfg.volume.clone(), fs })
        })
        .map_err(|_| SelectError::NoConfig)?;
    let data = ov.fs.read_file(&cfg.file.resolved_path, crate::MAX_CONFIG_BYTES).map_err(|_| SelectError::NoConfig)?;
    let menu =
        discover::parse_config_pygrub(cfg.format, &data, &cfg.file.resolved_path).map_err(|_| SelectError::NoConfig)?;
    let (index, reason, why) = pygrub_pick(&menu, request)?;
    let e = &menu.entries[index];
    let find = |p: &BootPath| discover::find_file(&ov, &p.path, fs::DEFAULT_MAX_SYMLINK_HOPS);
    let failed = |what: &str, failure: FileFailure| {
        let grub = match choose_grub(disk, cfg, Loader::Pygrub, request) {
            Ok(g) => format!("GRUB would boot entry {} {:?} ({})", g.entry.index, g.entry.title, g.why),
            Err(e) => format!("GRUB fails too: {e}"),
        };
        // copy_from_image's words, then why.
        let failure =
            FileFailure { error: None, detail: format!("The requested {what} file does not exist ({failure})") };
        SelectError::AllFailed {
            attempts: vec![Attempt { index, title: e.title.clone(), failure }],
            note: format!("pygrub has no fallback; {grub}"),
        }
    };
    let kernel_path = e
        .kernel
        .as_ref()
        .ok_or_else(|| failed("kernel", FileFailure { error: None, detail: "the entry has no kernel line".into() }))?;
    let kernel = find(kernel_path).map_err(|f| failed("kernel", f))?;
    // pygrub keeps one initrd, and none from extlinux INITRD lines.
    let initrd_paths: Vec<&BootPath> = match cfg.format {
        MenuFormat::Extlinux => Vec::new(),
        _ => e.initrd.iter().take(1).collect(),
    };
    let initrd = initrd_paths.into_iter().map(find).collect::<Result<Vec<_>, _>>().map_err(|f| failed("ramdisk", f))?;
    let mut choice = BootChoice::chosen(Loader::Pygrub, cfg, e, reason, why, kernel, initrd);
    choice.differences = differences(&choice, choose_grub(disk, cfg, Loader::Pygrub, request));
    Ok(choice)
}

/// What real GRUB would have done differently from pygrub's choice.
fn differences(py: &BootChoice, grub: Result<BootChoice, SelectError>) -> Vec<String> {
    let mut out = Vec::new();
    let grub = match grub {
        Ok(g) => g,
        Err(e) => {
            out.push(format!("GRUB itself would fail to boot this menu: {e}"));
            return out;
        }
    };
    if grub.entry.index != py.entry.index || grub.entry.title != py.entry.title {
        out.push(format!(
            "GRUB boots entry {} {:?} ({}), pygrub entry {} {:?} ({})",
            grub.entry.index, grub.entry.title, grub.why, py.entry.index, py.entry.title, py.why
        ));
    }
    let place = |h: &FileHit| format!("{}{}", h.device, h.resolved_path);
    if place(&grub.kernel) != place(&py.kernel) {
        out.push(format!(
            "GRUB loads the kernel from {} (root/device prefix honoured), pygrub from {}",
            place(&grub.kernel),
            place(&py.kernel)
        ));
    }
    let gi: Vec<String> = grub.initrd.iter().map(place).collect();
    let pi: Vec<String> = py.initrd.iter().map(place).collect();
    if gi != pi {
        out.push(format!("GRUB loads initrd {gi:?}, pygrub {pi:?}"));
    }
    if grub.cmdline != py.cmdline {
        out.push(format!("GRUB passes {:?}, pygrub {:?}", grub.cmdline, py.cmdline));
    }
    out
}

/// Discovery plus selection for one loader.
pub fn choose(disk: &Disk, discovery: &Discovery, request: &EntryRequest) -> Result<BootChoice, SelectError> {
    let cfg = discovery.config.as_ref().ok_or(SelectError::NoConfig)?;
    match discovery.loader {
        Loader::Pygrub => choose_pygrub(disk, cfg, request),
        l => choose_grub(disk, cfg, l, request),
    }
}
