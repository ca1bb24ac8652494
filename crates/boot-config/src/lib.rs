//! Boot configs: what a boot loader reads from a disk to decide what to
//! boot — GRUB legacy (`menu.lst`/`grub.conf`), GRUB 2 (`grub.cfg`, with
//! `grubenv` and BLS snippets, evaluated by a script interpreter),
//! extlinux/syslinux, EFI `grub.cfg` stubs — and, per loader flavour
//! (PV-GRUB, pygrub, GRUB 2, ...), where it looks for them ([`discover`]) and
//! which entry it picks ([`select`]). [`inspect`] joins a disk's layout with
//! its configs and menus into the report the CLI prints.
//!
//! It owns the loaders' reading of configs and must not know the machine:
//! no memory, clock, cost model, devices or kernel formats (those are the
//! `boot` crate's, above it). Disks, partitions and filesystems come from
//! `disk-image`, below it. Parsers are faithful to the loader that owns the
//! format (line rules, separators, what is ignored); where pygrub reads a
//! file differently the selection code says so. Parsers take bytes,
//! [`discover`] takes filesystems.
#![forbid(unsafe_code)]

pub mod bls;
pub mod configs;
pub mod discover;
pub mod disk_context;
pub mod esp;
pub mod extlinux;
pub mod fs_support;
#[doc(hidden)]
pub mod fuzzing;
pub mod grub2;
pub mod grub_error;
pub mod grub_legacy;
mod grub_num;
pub mod grubenv;
pub mod inspect;
pub mod pygrub_grub2;
pub mod select;

use serde::Serialize;

/// Largest config file boot-sim parses. pygrub reads at most
/// `FS_READ_MAX` = 1 MiB (`tools/pygrub/src/pygrub`); real menus are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Whose reading of a config file to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The loader that owns the format: GRUB 0.97 (and PV-GRUB, which is
    /// GRUB 0.97), GRUB 2, syslinux.
    Native,
    /// pygrub's parsers (`grub/GrubConf.py`, `grub/ExtLinuxConf.py`).
    Pygrub,
}

/// Which format a menu came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MenuFormat {
    GrubLegacy,
    Grub2,
    Bls,
    Extlinux,
}

/// A file named by a menu line: an optional device prefix and a path
/// (`(hd0,0)/boot/vmlinuz` → device `(hd0,0)`, path `/boot/vmlinuz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootPath {
    /// The device as written (`(hd0,0)`, `(hd0,msdos1)`, `($root)` expanded), if any.
    pub device: Option<String>,
    pub path: String,
}

impl BootPath {
    /// Splits a GRUB path with an optional `(device)` prefix. A blocklist
    /// (`(hd0)0+1`) keeps its text as the path.
    pub fn parse(text: &str) -> BootPath {
        if let Some(rest) = text.strip_prefix('(')
            && let Some(close) = rest.find(')')
        {
            return BootPath { device: Some(text[..close + 2].to_string()), path: rest[close + 1..].to_string() };
        }
        BootPath { device: None, path: text.to_string() }
    }
}

impl std::fmt::Display for BootPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.device {
            Some(d) => write!(f, "{d}{}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// How an entry boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// `kernel`/`linux` (+ `initrd`).
    Linux,
    /// `chainloader`: hands over to another boot sector.
    Chainloader,
    /// `kernel` of a Multiboot image with `module`s (e.g. Xen itself).
    Multiboot,
    /// No boot command at all: what an entry is until its body loads something.
    #[default]
    Empty,
}

/// One menu entry, with everything a loader needs to boot it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MenuEntry {
    /// Position in the flattened menu (0-based), as `default N` counts.
    pub index: usize,
    pub title: String,
    /// GRUB 2 `--id`, BLS file stem, extlinux LABEL.
    pub id: Option<String>,
    /// Titles of the enclosing GRUB 2 submenus, outermost first.
    pub submenus: Vec<String>,
    /// Position in the menu tree, as GRUB 2 counts for `default=1>2`: the
    /// index among the items (entries and submenus) of each level. A
    /// top-level entry has one element; GRUB legacy entries `[index]`.
    pub position: Vec<usize>,
    /// `root`/`rootnoverify` (GRUB legacy), `set root=` (GRUB 2).
    pub root: Option<String>,
    pub kernel: Option<BootPath>,
    /// Kernel command line (everything after the kernel path).
    pub args: String,
    pub initrd: Vec<BootPath>,
    /// Multiboot modules (`module` lines).
    pub modules: Vec<BootPath>,
    pub kind: EntryKind,
    /// `savedefault` present in the entry (GRUB legacy).
    pub savedefault: bool,
    /// 1-based line where the entry starts.
    pub line: usize,
}

impl MenuEntry {
    /// An entry with a title and nothing else yet; parsers fill it in.
    pub fn new(title: impl Into<String>, line: usize) -> MenuEntry {
        MenuEntry { title: title.into(), line, ..MenuEntry::default() }
    }
}

/// The default entry as the config states it, before it is resolved
/// against the entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum DefaultSpec {
    /// No `default` line: the first entry.
    Unset,
    Index(usize),
    /// GRUB legacy `default saved`: the number in the `default` file.
    Saved,
    /// GRUB 2 by title, id or `N>M` path; extlinux by label.
    Name(String),
}

/// A diagnostic tied to a line of a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineDiag {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// A parsed menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Menu {
    pub format: MenuFormat,
    pub entries: Vec<MenuEntry>,
    pub default: DefaultSpec,
    /// Seconds; `None` waits for a key forever.
    pub timeout: Option<u64>,
    /// GRUB legacy `fallback` list (≤ 8 entries, duplicates removed).
    pub fallback: Vec<usize>,
    pub hidden_menu: bool,
    /// A `password` line (GRUB legacy) or `superusers` (GRUB 2) guards editing.
    pub password: bool,
    /// Unknown commands, malformed lines, things evaluated partly.
    pub diagnostics: Vec<LineDiag>,
    /// GRUB 2 `submenu`s in menu order (empty for the other formats). A
    /// `default=` path such as `gnulinux-advanced-ID>gnulinux-6.1-ID` names
    /// submenus by title or `--id`, which [`MenuEntry::submenus`] alone
    /// cannot answer; an empty submenu still takes a position.
    pub submenus: Vec<Submenu>,
}

/// A GRUB 2 `submenu` header: the items inside it are the entries whose
/// [`MenuEntry::position`] starts with this `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Submenu {
    pub title: String,
    /// `--id` as given; GRUB uses the title when there is none.
    pub id: Option<String>,
    /// Index path of the submenu itself (`[1]` for the second top-level item).
    pub position: Vec<usize>,
    /// 1-based line of the `submenu` command.
    pub line: usize,
}

impl Menu {
    pub(crate) fn new(format: MenuFormat) -> Menu {
        Menu {
            format,
            entries: Vec::new(),
            default: DefaultSpec::Unset,
            timeout: None,
            fallback: Vec::new(),
            hidden_menu: false,
            password: false,
            diagnostics: Vec::new(),
            submenus: Vec::new(),
        }
    }
}
