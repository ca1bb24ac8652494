//! What the GRUB 2 evaluator asks about disks ([`Grub2Context`]: read a
//! file, list a directory, `search`), and two answers without a disk:
//! [`NoContext`] (a lone config, as pygrub has it) and [`MemContext`]
//! (files and devices in memory, for tests). The disk-backed one is
//! `crate::disk_context`.

use std::collections::{BTreeMap, BTreeSet};

/// The answer to a question about the disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Found(T),
    /// The device or file does not exist: GRUB gets an error.
    Missing,
    /// No disk to ask (a lone config file): boot-sim cannot tell.
    Unknown,
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    File { size: u64 },
    Dir,
}

/// What `search` looks for (`--fs-uuid`, `--label`, `--file`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// Compared case-insensitively by GRUB (`search_fs_uuid`).
    FsUuid,
    Label,
    /// A file that exists on the device.
    File,
}

/// The disks as GRUB sees them. Devices are GRUB names *without*
/// parentheses, as GRUB keeps them in `$root` (`hd0,msdos1`, `hd0,gpt2`,
/// `hd0`); paths are absolute within the device.
pub trait Grub2Context {
    /// The whole file, or at most `limit` bytes of it.
    fn read_file(&self, device: &str, path: &str, limit: u64) -> Lookup<Vec<u8>>;
    /// Names in a directory (no `.`/`..`), in the filesystem's order.
    fn list_dir(&self, device: &str, path: &str) -> Lookup<Vec<String>>;
    /// What `path` is; `/` asks whether the device exists.
    fn stat(&self, device: &str, path: &str) -> Lookup<NodeType>;
    /// The first device (GRUB's iteration order, `hints` first) whose
    /// filesystem has the UUID or label, or that holds the file.
    fn search(&self, kind: SearchKind, value: &str, hints: &[String]) -> Lookup<String>;
    /// Variables GRUB's core image and normal mode set before `grub.cfg`
    /// runs: `root` and `prefix` (the boot device, e.g. `hd0,msdos1` and
    /// `(hd0,msdos1)/boot/grub`), `grub_platform` (`pc` is assumed when
    /// absent; `xen` for PV-GRUB 2), `cmdpath`. All are exported.
    fn initial_env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// No disks at all: for a config file read on its own. Every question is
/// [`Lookup::Unknown`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContext;

impl Grub2Context for NoContext {
    fn read_file(&self, _: &str, _: &str, _: u64) -> Lookup<Vec<u8>> {
        Lookup::Unknown
    }
    fn list_dir(&self, _: &str, _: &str) -> Lookup<Vec<String>> {
        Lookup::Unknown
    }
    fn stat(&self, _: &str, _: &str) -> Lookup<NodeType> {
        Lookup::Unknown
    }
    fn search(&self, _: SearchKind, _: &str, _: &[String]) -> Lookup<String> {
        Lookup::Unknown
    }
}

/// Disks in memory, for tests and for callers that already hold the files.
#[derive(Debug, Clone, Default)]
pub struct MemContext {
    files: BTreeMap<(String, String), Vec<u8>>,
    devices: BTreeMap<String, (Option<String>, Option<String>)>,
    env: Vec<(String, String)>,
}

impl MemContext {
    pub fn new() -> MemContext {
        MemContext::default()
    }

    /// Adds a device with an optional filesystem UUID and label.
    pub fn device(mut self, name: &str, uuid: Option<&str>, label: Option<&str>) -> Self {
        self.devices.insert(name.to_string(), (uuid.map(str::to_string), label.map(str::to_string)));
        self
    }

    /// Adds a file (and its device, when new).
    pub fn file(mut self, device: &str, path: &str, data: impl Into<Vec<u8>>) -> Self {
        self.devices.entry(device.to_string()).or_default();
        self.files.insert((device.to_string(), path.to_string()), data.into());
        self
    }

    /// Adds an initial variable (see [`Grub2Context::initial_env`]).
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    fn order<'a>(&'a self, hints: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        hints
            .iter()
            .map(|h| h.trim_start_matches('(').trim_end_matches(')'))
            .filter(|h| self.devices.contains_key(*h))
            .chain(self.devices.keys().map(String::as_str))
    }
}

fn normalize_dir(path: &str) -> String {
    let t = path.trim_end_matches('/');
    if t.is_empty() { "/".to_string() } else { t.to_string() }
}

impl Grub2Context for MemContext {
    fn read_file(&self, device: &str, path: &str, limit: u64) -> Lookup<Vec<u8>> {
        match self.files.get(&(device.to_string(), path.to_string())) {
            Some(d) => Lookup::Found(d[..d.len().min(usize::try_from(limit).unwrap_or(usize::MAX))].to_vec()),
            None => Lookup::Missing,
        }
    }

    fn list_dir(&self, device: &str, path: &str) -> Lookup<Vec<String>> {
        let dir = normalize_dir(path);
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        let mut names = BTreeSet::new();
        for (d, p) in self.files.keys() {
            if d == device
                && let Some(rest) = p.strip_prefix(&prefix)
                && let Some(first) = rest.split('/').next()
                && !first.is_empty()
            {
                names.insert(first.to_string());
            }
        }
        if names.is_empty() { Lookup::Missing } else { Lookup::Found(names.into_iter().collect()) }
    }

    fn stat(&self, device: &str, path: &str) -> Lookup<NodeType> {
        if !self.devices.contains_key(device) {
            return Lookup::Missing;
        }
        if let Some(d) = self.files.get(&(device.to_string(), path.to_string())) {
            return Lookup::Found(NodeType::File { size: d.len() as u64 });
        }
        if normalize_dir(path) == "/" {
            return Lookup::Found(NodeType::Dir);
        }
        match self.list_dir(device, path) {
            Lookup::Found(_) => Lookup::Found(NodeType::Dir),
            _ => Lookup::Missing,
        }
    }

    fn search(&self, kind: SearchKind, value: &str, hints: &[String]) -> Lookup<String> {
        for dev in self.order(hints) {
            let (uuid, label) = &self.devices[dev];
            let hit = match kind {
                SearchKind::FsUuid => uuid.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(value)),
                SearchKind::Label => label.as_deref() == Some(value),
                SearchKind::File => self.files.contains_key(&(dev.to_string(), value.to_string())),
            };
            if hit {
                return Lookup::Found(dev.to_string());
            }
        }
        Lookup::Missing
    }

    fn initial_env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }
}
