//! GRUB 2 `grub.cfg`: lexed, parsed and *evaluated* the way GRUB's normal
//! mode runs it, producing the menu GRUB would show and what each entry
//! would boot.
//!
//! Sources (`rhboot/grub2`, which keeps upstream's script engine; where
//! rhboot differs from upstream it is said):
//! - `grub-core/script/yylex.l`, `parser.y`, `lexer.c`: words, quoting,
//!   blocks (see the `script` submodule, `grub2/script.rs`).
//! - `grub-core/script/execute.c` `grub_script_arglist_to_argv`: unquoted
//!   `$var` values are split at blanks, quoted ones are not; a word that
//!   expands to nothing is no argument, `""` is an empty one.
//!   `grub_script_execute_cmdline`: a builtin command, else a `function`,
//!   else `name=value` is an assignment; the status goes to `$?`, which
//!   `if` tests. `grub_env_special`: `$1`…, `$#`, `$*`, `$@` read the
//!   arguments of the function or menu entry.
//! - `grub-core/normal/main.c` `read_config_file`: `config_file` and
//!   `config_directory` are set (and exported) while a file is read;
//!   `features[]` are set to `y` and exported, as are `grub_cpu` and
//!   `grub_platform`; `kern/main.c` exports `root` and `prefix`.
//! - `grub-core/commands/menuentry.c`: `menuentry`/`submenu` options
//!   `--class`, `--users`, `--hotkey`, `--source`, `--id`,
//!   `--unrestricted`; the id is the title when no `--id` is given; the
//!   title and further arguments become `$1`, `$2`… of the body.
//! - `grub-core/normal/menu.c` `grub_menu_execute_entry`: an entry's body
//!   runs when the entry is booted, in the environment the whole config
//!   left (so a `set root` after the entry still counts); a submenu opens
//!   a new environment context (only exported variables carry over,
//!   `normal/context.c`) and a new menu, and receives the part of
//!   `default` after the first `>`. `get_entry_number`/`menuentry_eq`:
//!   see [`resolve_default`]. `grub_menu_get_timeout`, `get_timeout_style`.
//! - `grub-core/commands/configfile.c`: `source` reads a file into the
//!   current context and menu; `configfile` opens a new context and a new
//!   menu and shows it (the rest of the outer file runs only when that
//!   menu is left).
//! - `grub-core/commands/search_wrap.c`, `search.c`: `search` options,
//!   `--set` without a name sets `root`, hints by platform.
//! - `grub-core/commands/loadenv.c`: `load_env [-f FILE] [--skip-sig]
//!   [NAME…]` reads `$prefix/grubenv` by default.
//! - `grub-core/commands/test.c` `test_parse`: the `[`/`test` grammar.
//! - `grub-core/commands/blscfg.c` (rhboot): see [`crate::bls`].
//! - `grub-core/loader/i386/linux.c` + `lib/cmdline.c`: the command line
//!   passed to Linux is `BOOT_IMAGE=` followed by the `linux` arguments,
//!   kernel path included ([`boot_cmdline`]).
//! - `util/grub.d/00_header.in`, `10_linux.in`: the generated configs this
//!   evaluator is tested with.
//!
//! What is evaluated: variables and all expansions, `set`/`unset`/
//! `export`/assignments, `if`/`elif`/`else` with `[`/`test`/`true`/
//! `false`/`!`, `for`, bounded `while`/`until`, functions (defined ones
//! run: `load_video`, `savedefault`, Ubuntu's `recordfail`/`gfxmode`),
//! `setparams`/`shift`/`return`/`break`/`continue`/`eval`, `menuentry`,
//! `submenu`, `source`, `configfile`, `load_env`, `search`, `blscfg`,
//! `loadfont` (as a file test), and in entries `linux*`/`initrd*`/
//! `chainloader`/`multiboot*`/`module*`. File and device questions go to a
//! [`Grub2Context`]. What cannot be answered (no disk behind the context,
//! commands whose result depends on hardware such as `cpuid`, `smbios`,
//! `probe`) is a diagnostic with the line, and the condition counts as
//! false — GRUB's answer when it cannot read a file. `save_env` writes
//! nothing (boot-sim never writes an image); the names are recorded in
//! [`Evaluation::saved_env`]. Every loop and recursion is capped.

mod script;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use nom::Parser;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::combinator::opt;

use crate::bls::{self, BlsEntry};
use crate::grubenv;
use crate::{BootPath, DefaultSpec, EntryKind, LineDiag, MAX_CONFIG_BYTES, Menu, MenuEntry, MenuFormat, Submenu};
use script::{Cmd, Part, Word};

pub use script::{MAX_NESTING, MAX_TOKENS, MAX_WORD};

/// Deepest `submenu` nesting evaluated.
pub const MAX_SUBMENU_DEPTH: usize = 16;
/// Deepest `source`/`configfile` nesting (GRUB itself recurses until its
/// heap runs out).
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// Deepest function/`eval` call nesting (`MAX_RECURSION_DEPTH` in
/// `execute.c`).
pub const MAX_CALL_DEPTH: usize = 64;
/// Most commands executed for one config, entries included.
pub const MAX_STEPS: usize = 200_000;
/// Most menu items kept per menu.
pub const MAX_ITEMS: usize = 4096;
/// Most arguments of one command after expansion.
pub const MAX_ARGS: usize = 4096;
/// Longest variable value kept.
pub const MAX_VALUE: usize = 64 * 1024;
/// Most iterations of one `for`/`while`/`until` loop.
pub const MAX_LOOP: usize = 1024;
/// Most BLS snippets read by one `blscfg`.
pub const MAX_BLS_FILES: usize = 1024;
/// Most bytes produced by expansion over one evaluation (a loop doubling
/// a variable would otherwise copy gigabytes within [`MAX_STEPS`]).
pub const MAX_EXPANDED_BYTES: usize = 32 << 20;
/// Deepest nesting of command lists while executing (blocks inside
/// functions inside submenus…), so the evaluator's own stack is bounded.
pub const MAX_EXEC_DEPTH: usize = 256;

/// `features[]` in `normal/main.c`: set to `y` and exported.
const FEATURES: &[&str] = &[
    "feature_chainloader_bpb",
    "feature_ntldr",
    "feature_platform_search_hint",
    "feature_default_font_path",
    "feature_all_video_module",
    "feature_menuentry_id",
    "feature_menuentry_options",
    "feature_200_final",
    "feature_nativedisk_cmd",
    "feature_timeout_style",
    "feature_search_cryptodisk_only",
];

/// Commands that change nothing a boot choice depends on.
const NO_EFFECT: &[&str] = &[
    "insmod",
    "rmmod",
    "echo",
    "terminal_output",
    "terminal_input",
    "terminal",
    "serial",
    "terminfo",
    "background_image",
    "background_color",
    "clear",
    "play",
    "sleep",
    "lsmod",
    "ls",
    "cat",
    "help",
    "videoinfo",
    "vbeinfo",
    "lspci",
    "date",
    "password",
    "password_pbkdf2",
    "boot",
    "devicetree",
    "set_gfxpayload",
    "cutmem",
    "badram",
    "font",
];

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

/// Everything an evaluation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub menu: Menu,
    /// The variables after the config ran (before any entry), by name.
    pub env: Vec<(String, String)>,
    /// Names given to `save_env`, in order (GRUB would write them to
    /// grubenv; boot-sim does not).
    pub saved_env: Vec<String>,
    /// Functions defined by the config.
    pub functions: Vec<String>,
    /// Every simple command the config ran while it was read (entries'
    /// bodies excluded), expanded, in order (at most [`MAX_ITEMS`]): what
    /// a boot loader model replays for its side effects (`insmod`, `echo`).
    pub config_commands: Vec<Vec<String>>,
    /// Per entry of `menu.entries` (same index): the simple commands its
    /// body ran when booted, expanded, in order (at most [`MAX_ITEMS`]).
    pub entry_commands: Vec<Vec<Vec<String>>>,
}

/// Parses and evaluates a lone `grub.cfg` with no disks behind it
/// ([`NoContext`]): what pygrub has, and less than GRUB has.
pub fn parse(data: &[u8]) -> Menu {
    evaluate(data, "/boot/grub/grub.cfg", &NoContext).menu
}

/// Evaluates `data`, read from `config_path` on the device in the
/// context's `root`, the way GRUB's normal mode does, then runs each
/// entry's body the way booting it would.
pub fn evaluate(data: &[u8], config_path: &str, ctx: &dyn Grub2Context) -> Evaluation {
    let mut it = Interp::new(ctx);
    if data.len() as u64 > MAX_CONFIG_BYTES {
        it.diag(1, format!("config is {} bytes; only the first {MAX_CONFIG_BYTES} are read", data.len()));
    }
    let data = &data[..data.len().min(MAX_CONFIG_BYTES as usize)];
    let text = String::from_utf8_lossy(data);
    it.run_file(&text, config_path, None);
    it.finish()
}

/// Builds the menu `blscfg` would add for these snippets (already sorted
/// with [`bls::sort_entries`]) in an environment holding `vars` (grubenv's
/// `kernelopts`, and `root` for the `($root)` prefix blscfg writes). The
/// menu's format is [`MenuFormat::Bls`].
pub fn bls_menu(entries: &[BlsEntry], vars: &[(String, String)]) -> Menu {
    let mut it = Interp::new(&NoContext);
    for (k, v) in vars {
        it.set(k, v);
    }
    for e in entries.iter().take(MAX_BLS_FILES) {
        it.add_bls_item(e, 0);
    }
    let mut eval = it.finish();
    eval.menu.format = MenuFormat::Bls;
    eval.menu
}

/// Resolves a default (`default`, `saved_entry`, `next_entry` value)
/// against a GRUB 2 menu the way GRUB does, level by level
/// (`get_entry_number` + `menuentry_eq` in upstream `normal/menu.c`):
///
/// - a number (`grub_strtoul` base 0: `0x` hex, leading `0` octal; text
///   after the digits is ignored, so `1>2` reads 1 at the top level) is
///   the position among the items of the level, submenus included;
/// - otherwise the first item whose title or id (the title when there is
///   no `--id`) equals the text up to the first single `>` (`>>` stands
///   for a literal `>`);
/// - when the chosen item is a submenu, the text after that first `>` is
///   resolved inside it (`grub_menu_execute_entry` sets it as the
///   submenu's `default`).
///
/// Returns the flattened entry index, or `None` when some level has no
/// match, a number is out of range, or the path ends on a submenu — in
/// all those cases GRUB boots the first item of that level instead (see
/// [`default_entry`]). rhboot's GRUB (RHEL, Fedora) matches ids before
/// titles and rejects text after a number, so `1>2` does not resolve there.
pub fn resolve_default(menu: &Menu, spec: &str) -> Option<usize> {
    walk(menu, spec, true)
}

/// The entry GRUB boots when the timeout expires: [`resolve_default`] of
/// the menu's default, where every failed level falls back to its first
/// item (`run_menu`: "If DEFAULT_ENTRY is not within the menu entries,
/// fall back to the first entry"). `None` only for an empty menu or an
/// empty submenu on the way.
pub fn default_entry(menu: &Menu) -> Option<usize> {
    let spec = match &menu.default {
        DefaultSpec::Unset | DefaultSpec::Saved => String::new(),
        DefaultSpec::Index(n) => n.to_string(),
        DefaultSpec::Name(s) => s.clone(),
    };
    walk(menu, &spec, false)
}

/// An item of one menu level.
enum LevelItem<'m> {
    Entry(usize, &'m MenuEntry),
    Submenu(&'m Submenu),
}

fn level_items<'m>(menu: &'m Menu, prefix: &[usize]) -> Vec<LevelItem<'m>> {
    let depth = prefix.len() + 1;
    let mut items: Vec<(usize, LevelItem<'m>)> = Vec::new();
    for (i, e) in menu.entries.iter().enumerate() {
        if e.position.len() == depth && e.position.starts_with(prefix) {
            items.push((e.position[depth - 1], LevelItem::Entry(i, e)));
        }
    }
    for s in &menu.submenus {
        if s.position.len() == depth && s.position.starts_with(prefix) {
            items.push((s.position[depth - 1], LevelItem::Submenu(s)));
        }
    }
    items.sort_by_key(|(p, _)| *p);
    items.into_iter().map(|(_, i)| i).collect()
}

/// Upstream `menuentry_eq`: `id` equals `spec` up to its first single `>`.
fn menuentry_eq(id: &str, spec: &str) -> bool {
    let (a, b) = (id.as_bytes(), spec.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    // Each pass advances both indices; both are bounded by their lengths.
    loop {
        let c2 = b.get(j).copied().unwrap_or(0);
        let c1 = a.get(i).copied().unwrap_or(0);
        let next = b.get(j + 1).copied().unwrap_or(0);
        if c2 == b'>' && next != b'>' {
            return c1 == 0;
        }
        let c2 = if c2 == b'>' {
            j += 1;
            b.get(j).copied().unwrap_or(0)
        } else {
            c2
        };
        if c1 != c2 {
            return false;
        }
        if c1 == 0 {
            return true;
        }
        i += 1;
        j += 1;
    }
}

/// The text after the first single `>` of a default, as
/// `grub_menu_execute_entry` hands it to a submenu (only when non-empty).
fn rest_after_gt(spec: &str) -> Option<&str> {
    let b = spec.as_bytes();
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'>' && b.get(k + 1) == Some(&b'>') {
            k += 2;
            continue;
        }
        if b[k] == b'>' {
            break;
        }
        k += 1;
    }
    if k + 1 < b.len() { Some(&spec[k + 1..]) } else { None }
}

/// Upstream `get_entry_number` over one level: the item's position or
/// `None` (-1 in GRUB).
fn entry_number(items: &[LevelItem<'_>], val: &str) -> Option<usize> {
    match strtoul(val) {
        Some((n, _)) => {
            // `(int) grub_strtoul (…)`: the value is truncated to int.
            let n = n as u32 as i32;
            usize::try_from(n).ok().filter(|&n| n < items.len())
        }
        None if strtoul_overflows(val) => None,
        None => items.iter().position(|it| {
            let (title, id) = match it {
                LevelItem::Entry(_, e) => (e.title.as_str(), e.id.as_deref().unwrap_or(&e.title)),
                LevelItem::Submenu(s) => (s.title.as_str(), s.id.as_deref().unwrap_or(&s.title)),
            };
            menuentry_eq(title, val) || menuentry_eq(id, val)
        }),
    }
}

fn walk(menu: &Menu, spec: &str, strict: bool) -> Option<usize> {
    let mut prefix: Vec<usize> = Vec::new();
    let mut val: Option<&str> = Some(spec);
    for _ in 0..=MAX_SUBMENU_DEPTH {
        let items = level_items(menu, &prefix);
        if items.is_empty() {
            return None;
        }
        let chosen = match val.and_then(|v| entry_number(&items, v)) {
            Some(n) => n,
            None if strict => return None,
            None => 0,
        };
        match &items[chosen] {
            LevelItem::Entry(i, _) => return Some(*i),
            LevelItem::Submenu(s) => {
                prefix = s.position.clone();
                val = val.and_then(rest_after_gt);
                if val.is_none() && strict {
                    return None;
                }
            }
        }
    }
    None
}

/// `grub_strtoul (s, &end, 0)` (`kern/misc.c` `grub_strtoull`): blanks
/// skipped, `0x` hex, a leading `0` before an octal digit octal, decimal
/// otherwise; reading stops at the first non-digit. `None` when no digit
/// is found (`GRUB_ERR_BAD_NUMBER`) or the value overflows 64 bits
/// (`GRUB_ERR_OUT_OF_RANGE`).
pub fn strtoul(s: &str) -> Option<(u64, &str)> {
    let (rest, (radix, d)) = number_prefix(s).ok()?;
    let v = u64::from_str_radix(d, radix).ok()?;
    Some((v, rest))
}

/// `grub_strtoull`'s digit run: radix and digits.
fn number_prefix(i: &str) -> nom::IResult<&str, (u32, &str)> {
    let (i, _) = take_while(|c: char| c.is_ascii_whitespace()).parse(i)?;
    let (i, hex) = opt(tag("0x")).parse(i)?;
    if hex.is_some() {
        let (i, d) = take_while1(|c: char| c.is_ascii_hexdigit()).parse(i)?;
        return Ok((i, (16, d)));
    }
    if i.starts_with('0') && i[1..].starts_with(|c: char| ('0'..='7').contains(&c)) {
        let (i, d) = take_while1(|c: char| ('0'..='7').contains(&c)).parse(i)?;
        return Ok((i, (8, d)));
    }
    let (i, d) = take_while1(|c: char| c.is_ascii_digit()).parse(i)?;
    Ok((i, (10, d)))
}

/// A number too large for 64 bits (`GRUB_ERR_OUT_OF_RANGE`, which skips
/// the title search in `get_entry_number`).
fn strtoul_overflows(s: &str) -> bool {
    number_prefix(s).is_ok_and(|(_, (radix, d))| u64::from_str_radix(d, radix).is_err())
}

/// `grub_create_loader_cmdline` (`lib/cmdline.c`): arguments joined by
/// spaces; one with a space is put in double quotes; `\`, `'` and `"` get
/// a `\` (a `\xHH` sequence is kept as is).
pub fn loader_cmdline<S: AsRef<str>>(args: &[S]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let a = a.as_ref();
        if i > 0 {
            out.push(' ');
        }
        let space = a.contains(' ');
        if space {
            out.push('"');
        }
        let b = a.as_bytes();
        let mut k = 0;
        while k < b.len() {
            if b[k] == b'\\'
                && b.get(k + 1) == Some(&b'x')
                && b.get(k + 2).is_some_and(u8::is_ascii_hexdigit)
                && b.get(k + 3).is_some_and(u8::is_ascii_hexdigit)
            {
                out.push_str(&a[k..k + 4]);
                k += 4;
                continue;
            }
            let ch = a[k..].chars().next().unwrap_or('\0');
            if matches!(ch, '\\' | '\'' | '"') {
                out.push('\\');
            }
            out.push(ch);
            k += ch.len_utf8().max(1);
        }
        if space {
            out.push('"');
        }
    }
    out
}

/// The command line GRUB 2 hands a Linux kernel for `entry`:
/// `BOOT_IMAGE=<kernel path as written>` and then the arguments
/// (`LINUX_IMAGE` in `include/grub/lib/cmdline.h`, prepended by
/// `grub_cmd_linux` in `loader/i386/linux.c`). The kernel's own
/// `cmdline_size` may cut it further. pygrub and PV-GRUB legacy do not add
/// `BOOT_IMAGE`; GRUB 2 (and PV-GRUB 2) do. `None` for entries that load
/// no Linux kernel.
pub fn boot_cmdline(entry: &MenuEntry) -> Option<String> {
    if entry.kind != EntryKind::Linux {
        return None;
    }
    let kernel = entry.kernel.as_ref()?.to_string();
    let mut s = format!("BOOT_IMAGE={}", loader_cmdline(&[kernel]));
    if !entry.args.is_empty() {
        s.push(' ');
        s.push_str(&entry.args);
    }
    Some(s)
}

// ---------------------------------------------------------------------
// The evaluator.

#[derive(Debug, Clone)]
struct Var {
    value: String,
    exported: bool,
}

/// One environment context plus the (global) functions.
#[derive(Debug, Clone, Default)]
struct State {
    vars: BTreeMap<String, Var>,
    functions: BTreeMap<String, Rc<Vec<Cmd>>>,
}

/// Where commands come from, for diagnostics.
#[derive(Debug, Clone, Default)]
struct Origin {
    /// `None` for the main config.
    file: Option<Rc<str>>,
    /// Generated scripts (BLS) report the line of the `blscfg` command.
    fixed_line: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    /// Could not be evaluated; counts as a failure.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Break,
    Continue,
    Return,
    /// Stop everything: the step budget is spent, or a `configfile` menu
    /// took over.
    Halt,
}

/// A `menuentry`/`submenu` as defined, before its body runs.
#[derive(Debug, Clone)]
struct Item {
    title: String,
    id: Option<String>,
    /// `$1`, `$2`… of the body: the title and the extra arguments.
    args: Vec<String>,
    body: Rc<Vec<Cmd>>,
    submenu: bool,
    line: usize,
    origin: Origin,
}

/// What an entry's body loaded.
#[derive(Debug, Clone)]
struct Loaded {
    root: Option<String>,
    kernel: Option<BootPath>,
    args: String,
    initrd: Vec<BootPath>,
    modules: Vec<BootPath>,
    kind: EntryKind,
    savedefault: bool,
    /// The commands the body ran ([`Evaluation::entry_commands`]).
    commands: Vec<Vec<String>>,
}

struct Interp<'c> {
    ctx: &'c dyn Grub2Context,
    st: State,
    positional: Option<Vec<String>>,
    diags: Vec<LineDiag>,
    origin: Origin,
    include_depth: usize,
    call_depth: usize,
    loop_depth: usize,
    steps: usize,
    exhausted: bool,
    expanded: usize,
    exec_depth: usize,
    menu: Vec<Item>,
    replaced: bool,
    entry: Option<Loaded>,
    saved_env: Vec<String>,
    bls_seen: BTreeSet<String>,
    /// [`Evaluation::config_commands`].
    config_commands: Vec<Vec<String>>,
    entry_commands: Vec<Vec<Vec<String>>>,
    /// Entries are being run (a submenu's body is not the config's).
    expanding: bool,
}

/// An option a command accepts (`struct grub_arg_option`).
struct Opt {
    long: &'static str,
    short: Option<char>,
    arg: ArgKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    Required,
    /// Only as `--name=value` (`GRUB_ARG_OPTION_OPTIONAL`).
    Optional,
}

/// `grub_arg_parse`, reduced: options anywhere, `--` ends them, long
/// options take `=value` or the next argument. Returns the options seen
/// (in order) and the other arguments.
#[allow(clippy::type_complexity)]
fn parse_opts(args: &[String], opts: &[Opt]) -> Result<(Vec<(&'static str, Option<String>)>, Vec<String>), String> {
    let mut seen = Vec::new();
    let mut rest = Vec::new();
    let mut k = 0;
    let mut only_args = false;
    while k < args.len() {
        let a = &args[k];
        k += 1;
        if only_args || !a.starts_with('-') || a.len() == 1 {
            rest.push(a.clone());
            continue;
        }
        if a == "--" {
            only_args = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(o) = opts.iter().find(|o| o.long == name) else {
                return Err(format!("unknown argument `{a}'"));
            };
            let value = match (o.arg, value) {
                (ArgKind::None, Some(_)) => return Err(format!("option `--{name}' takes no argument")),
                (ArgKind::None, None) | (ArgKind::Optional, None) => None,
                (_, Some(v)) => Some(v),
                (ArgKind::Required, None) => {
                    let Some(v) = args.get(k) else {
                        return Err(format!("missing mandatory option for `--{name}'"));
                    };
                    k += 1;
                    Some(v.clone())
                }
            };
            seen.push((o.long, value));
            continue;
        }
        // A cluster of short options.
        let chars: Vec<char> = a[1..].chars().collect();
        let mut c = 0;
        while c < chars.len() {
            let Some(o) = opts.iter().find(|o| o.short == Some(chars[c])) else {
                return Err(format!("unknown argument `-{}'", chars[c]));
            };
            c += 1;
            if o.arg == ArgKind::Required {
                let v: String = chars[c..].iter().collect();
                let v = if v.is_empty() {
                    let Some(v) = args.get(k) else {
                        return Err(format!("missing mandatory option for `-{}'", o.short.unwrap_or('?')));
                    };
                    k += 1;
                    v.clone()
                } else {
                    v
                };
                seen.push((o.long, Some(v)));
                break;
            }
            seen.push((o.long, None));
        }
    }
    Ok((seen, rest))
}

const MENUENTRY_OPTS: &[Opt] = &[
    Opt { long: "class", short: None, arg: ArgKind::Required },
    Opt { long: "users", short: None, arg: ArgKind::Optional },
    Opt { long: "hotkey", short: None, arg: ArgKind::Required },
    Opt { long: "source", short: None, arg: ArgKind::Required },
    Opt { long: "id", short: None, arg: ArgKind::Required },
    Opt { long: "unrestricted", short: None, arg: ArgKind::None },
];

const SEARCH_OPTS: &[Opt] = &[
    Opt { long: "file", short: Some('f'), arg: ArgKind::None },
    Opt { long: "label", short: Some('l'), arg: ArgKind::None },
    Opt { long: "fs-uuid", short: Some('u'), arg: ArgKind::None },
    Opt { long: "set", short: Some('s'), arg: ArgKind::Optional },
    Opt { long: "no-floppy", short: Some('n'), arg: ArgKind::None },
    Opt { long: "efidisk-only", short: None, arg: ArgKind::None },
    Opt { long: "cryptodisk-only", short: None, arg: ArgKind::None },
    Opt { long: "root-dev-only", short: Some('r'), arg: ArgKind::None },
    Opt { long: "hint", short: Some('h'), arg: ArgKind::Required },
    Opt { long: "hint-ieee1275", short: None, arg: ArgKind::Required },
    Opt { long: "hint-bios", short: None, arg: ArgKind::Required },
    Opt { long: "hint-baremetal", short: None, arg: ArgKind::Required },
    Opt { long: "hint-efi", short: None, arg: ArgKind::Required },
    Opt { long: "hint-arc", short: None, arg: ArgKind::Required },
];

const LOAD_ENV_OPTS: &[Opt] = &[
    Opt { long: "file", short: Some('f'), arg: ArgKind::Required },
    Opt { long: "skip-sig", short: Some('s'), arg: ArgKind::None },
];

/// Formats a `$root` value as a device prefix: `hd0,gpt2` → `(hd0,gpt2)`.
fn device_prefix(root: &str) -> String {
    format!("({root})")
}

impl<'c> Interp<'c> {
    fn new(ctx: &'c dyn Grub2Context) -> Interp<'c> {
        let mut it = Interp {
            ctx,
            st: State::default(),
            positional: None,
            diags: Vec::new(),
            origin: Origin::default(),
            include_depth: 0,
            call_depth: 0,
            loop_depth: 0,
            steps: 0,
            exhausted: false,
            expanded: 0,
            exec_depth: 0,
            menu: Vec::new(),
            replaced: false,
            entry: None,
            saved_env: Vec::new(),
            bls_seen: BTreeSet::new(),
            config_commands: Vec::new(),
            entry_commands: Vec::new(),
            expanding: false,
        };
        for f in FEATURES {
            it.set_exported(f, "y");
        }
        it.set_exported("grub_cpu", "i386");
        it.set_exported("grub_platform", "pc");
        it.set_exported("color_normal", "light-gray/black");
        it.set_exported("color_highlight", "black/light-gray");
        for (k, v) in ctx.initial_env() {
            it.set_exported(&k, &v);
        }
        it
    }

    // ----- environment

    fn get(&self, name: &str) -> Option<String> {
        self.st.vars.get(name).map(|v| v.value.clone())
    }

    /// `grub_env_set`, with the `root` write hook (`kern/main.c`
    /// `grub_env_write_root`: `(dev)` is stored as `dev`).
    fn set(&mut self, name: &str, value: &str) {
        let mut value = value.to_string();
        if name == "root" && value.len() >= 2 && value.starts_with('(') && value.ends_with(')') {
            value = value[1..value.len() - 1].to_string();
        }
        if value.len() > MAX_VALUE {
            let mut cut = MAX_VALUE;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
            self.diag(0, format!("value of `{name}` cut at {MAX_VALUE} bytes"));
        }
        match self.st.vars.get_mut(name) {
            Some(v) => v.value = value,
            None => {
                self.st.vars.insert(name.to_string(), Var { value, exported: false });
            }
        }
    }

    fn set_exported(&mut self, name: &str, value: &str) {
        self.set(name, value);
        if let Some(v) = self.st.vars.get_mut(name) {
            v.exported = true;
        }
    }

    fn diag(&mut self, line: usize, message: String) {
        let (line, message) = match (&self.origin.file, self.origin.fixed_line) {
            (Some(f), Some(fixed)) => (fixed, format!("{f} (generated line {line}): {message}")),
            (Some(f), None) => (line, format!("{f}: {message}")),
            (None, _) => (line, message),
        };
        if self.diags.len() < 10_000 {
            self.diags.push(LineDiag { line, message });
        }
    }

    // ----- files

    /// Splits `(dev)/path` or resolves `/path` against `$root`.
    fn resolve_path(&self, text: &str) -> Result<(String, String), String> {
        if let Some(rest) = text.strip_prefix('(') {
            let Some(close) = rest.find(')') else {
                return Err(format!("missing `)' in `{text}'"));
            };
            let dev = &rest[..close];
            if dev.is_empty() {
                return Err(format!("no device in `{text}'"));
            }
            let path = &rest[close + 1..];
            return Ok((dev.to_string(), if path.is_empty() { "/".into() } else { path.to_string() }));
        }
        match self.get("root") {
            Some(r) if !r.is_empty() => Ok((r, text.to_string())),
            _ => Err(format!("variable `root' isn't set (for `{text}')")),
        }
    }

    /// Reads and runs a script file (`read_config_file`): `config_file`
    /// and `config_directory` are set while it runs.
    fn run_file(&mut self, text: &str, path: &str, label: Option<Rc<str>>) -> Flow {
        let full = match self.get("root") {
            Some(r) if !path.starts_with('(') && !r.is_empty() => format!("({r}){path}"),
            _ => path.to_string(),
        };
        let dir = match full.rfind('/') {
            Some(i) => full[..i].to_string(),
            None => full.clone(),
        };
        let old_file = self.get("config_file");
        let old_dir = self.get("config_directory");
        self.set_exported("config_file", &full);
        self.set_exported("config_directory", &dir);
        let old_origin = std::mem::replace(&mut self.origin, Origin { file: label, fixed_line: None });
        let (cmds, errors) = script::parse(text);
        for e in errors {
            self.diag(e.line, format!("{} (GRUB drops this command)", e.message));
        }
        let flow = self.exec_list(&cmds);
        self.origin = old_origin;
        if flow != Flow::Halt {
            for (name, old) in [("config_file", old_file), ("config_directory", old_dir)] {
                match old {
                    Some(v) => self.set(name, &v),
                    None => {
                        self.st.vars.remove(name);
                    }
                }
            }
        }
        flow
    }

    // ----- execution

    /// One pass of a loop body: `None` to go on with the loop, `Some(flow)`
    /// to leave it with `flow` (`break` leaves it normally).
    fn loop_pass(&mut self, body: &[Cmd]) -> Option<Flow> {
        match self.exec_list(body) {
            Flow::Break => Some(Flow::Next),
            Flow::Next | Flow::Continue => None,
            f => Some(f),
        }
    }

    fn exec_list(&mut self, cmds: &[Cmd]) -> Flow {
        if self.exec_depth >= MAX_EXEC_DEPTH {
            if !self.exhausted {
                self.exhausted = true;
                let line = cmds.first().map_or(0, Cmd::line);
                self.diag(line, format!("commands nested deeper than {MAX_EXEC_DEPTH}: evaluation stops here"));
            }
            return Flow::Halt;
        }
        self.exec_depth += 1;
        let mut flow = Flow::Next;
        for c in cmds {
            flow = self.exec(c);
            if flow != Flow::Next {
                break;
            }
        }
        self.exec_depth -= 1;
        flow
    }

    fn set_status(&mut self, s: Status) {
        let v = if s == Status::Ok { "0" } else { "1" };
        self.set("?", v);
    }

    fn status(&self) -> Status {
        if self.get("?").as_deref() == Some("0") { Status::Ok } else { Status::Fail }
    }

    fn exec(&mut self, cmd: &Cmd) -> Flow {
        if self.exhausted {
            return Flow::Halt;
        }
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.exhausted = true;
            self.diag(cmd.line(), format!("more than {MAX_STEPS} commands executed: evaluation stops here"));
            return Flow::Halt;
        }
        match cmd {
            Cmd::Simple { words, block, line } => {
                let argv = match self.expand(words) {
                    Ok(a) => a,
                    Err(m) => {
                        self.diag(*line, m);
                        self.set_status(Status::Fail);
                        return Flow::Next;
                    }
                };
                self.expanded += argv.iter().map(String::len).sum::<usize>();
                if self.expanded > MAX_EXPANDED_BYTES {
                    self.exhausted = true;
                    self.diag(*line, format!("more than {MAX_EXPANDED_BYTES} bytes expanded: evaluation stops here"));
                    return Flow::Halt;
                }
                if argv.is_empty() {
                    return Flow::Next;
                }
                self.command(argv, block.clone(), *line)
            }
            Cmd::If { clauses, otherwise, .. } => {
                for (cond, body) in clauses {
                    let f = self.exec_list(cond);
                    if f != Flow::Next {
                        return f;
                    }
                    if self.status() == Status::Ok {
                        return self.exec_list(body);
                    }
                }
                match otherwise {
                    Some(body) => self.exec_list(body),
                    None => Flow::Next,
                }
            }
            Cmd::For { var, words, body, line } => {
                let values = match self.expand(words) {
                    Ok(a) => a,
                    Err(m) => {
                        self.diag(*line, m);
                        return Flow::Next;
                    }
                };
                if values.len() > MAX_LOOP {
                    self.diag(*line, format!("`for` over {} words: only the first {MAX_LOOP} run", values.len()));
                }
                self.loop_depth += 1;
                let mut flow = Flow::Next;
                for v in values.iter().take(MAX_LOOP) {
                    self.set(var, v);
                    if let Some(f) = self.loop_pass(body) {
                        flow = f;
                        break;
                    }
                }
                self.loop_depth -= 1;
                flow
            }
            Cmd::While { cond, body, until, line } => {
                self.loop_depth += 1;
                let mut flow = Flow::Next;
                let mut n = 0;
                loop {
                    if n == MAX_LOOP {
                        self.diag(*line, format!("loop ran {MAX_LOOP} times: boot-sim stops it here"));
                        break;
                    }
                    n += 1;
                    let f = self.exec_list(cond);
                    if f != Flow::Next {
                        flow = f;
                        break;
                    }
                    if (self.status() == Status::Ok) == *until {
                        break;
                    }
                    if let Some(f) = self.loop_pass(body) {
                        flow = f;
                        break;
                    }
                }
                self.loop_depth -= 1;
                flow
            }
            Cmd::Function { name, body, .. } => {
                self.st.functions.insert(name.clone(), body.clone());
                self.set_status(Status::Ok);
                Flow::Next
            }
        }
    }

    /// The values of `$name` as `grub_script_env_get` gives them.
    fn var_values(&self, name: &str, quoted: bool) -> Vec<String> {
        let split = |v: &str| -> Vec<String> {
            if quoted { vec![v.to_string()] } else { v.split_ascii_whitespace().map(str::to_string).collect() }
        };
        let special = name.starts_with(|c: char| c.is_ascii_digit()) || matches!(name, "#" | "*" | "@");
        if !special {
            return match self.get(name) {
                Some(v) if !v.is_empty() => split(&v),
                _ => Vec::new(),
            };
        }
        let Some(args) = &self.positional else { return Vec::new() };
        match name {
            "#" => vec![args.len().to_string()],
            "*" if quoted => vec![args.join(" ")],
            "*" | "@" => args.iter().flat_map(|a| split(a)).collect(),
            _ => match name.parse::<usize>() {
                Ok(n) if n >= 1 && n <= args.len() => split(&args[n - 1]),
                _ => Vec::new(),
            },
        }
    }

    /// `grub_script_arglist_to_argv`.
    fn expand(&self, words: &[Word]) -> Result<Vec<String>, String> {
        let mut out: Vec<Option<String>> = Vec::new();
        let mut total = 0usize;
        fn append(out: &mut [Option<String>], s: &str, total: &mut usize) -> Result<(), String> {
            *total += s.len();
            if *total > MAX_WORD * 16 {
                return Err(format!("arguments longer than {} bytes after expansion", MAX_WORD * 16));
            }
            if let Some(last) = out.last_mut() {
                match last {
                    Some(t) => t.push_str(s),
                    None => *last = Some(s.to_string()),
                }
            }
            Ok(())
        }
        fn next(out: &mut Vec<Option<String>>) -> Result<(), String> {
            if !matches!(out.last(), Some(None)) {
                if out.len() >= MAX_ARGS {
                    return Err(format!("more than {MAX_ARGS} arguments"));
                }
                out.push(None);
            }
            Ok(())
        }
        for w in words {
            next(&mut out)?;
            for p in &w.parts {
                match p {
                    Part::Lit(t) => {
                        if !t.is_empty() {
                            append(&mut out, t, &mut total)?;
                        }
                    }
                    Part::Quoted(t) => append(&mut out, t, &mut total)?,
                    Part::Var { name, quoted } => {
                        for (i, v) in self.var_values(name, *quoted).iter().enumerate() {
                            if i > 0 {
                                next(&mut out)?;
                            }
                            append(&mut out, v, &mut total)?;
                        }
                    }
                }
            }
        }
        if matches!(out.last(), Some(None)) {
            out.pop();
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// `grub_script_execute_cmdline` after expansion.
    fn command(&mut self, argv: Vec<String>, block: Option<Rc<Vec<Cmd>>>, line: usize) -> Flow {
        match self.entry.as_mut() {
            Some(e) if e.commands.len() < MAX_ITEMS => e.commands.push(argv.clone()),
            None if !self.expanding && self.config_commands.len() < MAX_ITEMS => {
                self.config_commands.push(argv.clone())
            }
            _ => {}
        }
        let (invert, argv) = if argv[0] == "!" {
            if argv.len() < 2 {
                self.diag(line, "`!`: no command is specified".into());
                self.set_status(Status::Fail);
                return Flow::Next;
            }
            (true, argv[1..].to_vec())
        } else {
            (false, argv)
        };
        let (status, flow) = self.builtin(&argv, block, line);
        let status = match (invert, status) {
            (false, s) => s,
            (true, Status::Ok) => Status::Fail,
            (true, Status::Fail) => Status::Ok,
            (true, Status::Unknown) => Status::Unknown,
        };
        self.set_status(status);
        flow
    }

    fn unknown(&mut self, line: usize, message: String) -> (Status, Flow) {
        self.diag(line, format!("{message}; taken as false"));
        (Status::Unknown, Flow::Next)
    }

    fn fail(&mut self, line: usize, message: String) -> (Status, Flow) {
        self.diag(line, message);
        (Status::Fail, Flow::Next)
    }

    fn builtin(&mut self, argv: &[String], block: Option<Rc<Vec<Cmd>>>, line: usize) -> (Status, Flow) {
        let name = argv[0].as_str();
        let args = &argv[1..];
        let ok = (Status::Ok, Flow::Next);
        match name {
            "menuentry" | "submenu" => self.define_item(args, block, name == "submenu", line),
            _ if block.is_some() => self.fail(line, format!("`{name}` does not take a block (GRUB: unknown argument)")),
            "set" => match args.first() {
                None => ok,
                Some(a) => match a.split_once('=') {
                    Some((n, v)) => {
                        self.assign(n, v, line);
                        ok
                    }
                    None => self.fail(line, format!("set {a}: not an assignment")),
                },
            },
            "unset" => {
                for a in args {
                    self.st.vars.remove(a);
                }
                ok
            }
            "export" => {
                for a in args {
                    match self.st.vars.get_mut(a) {
                        Some(v) => v.exported = true,
                        None => {
                            self.st.vars.insert(a.clone(), Var { value: String::new(), exported: true });
                        }
                    }
                }
                ok
            }
            "[" | "test" => (self.test(args, name == "[", line), Flow::Next),
            "true" => ok,
            "false" => (Status::Fail, Flow::Next),
            "source" | "." => self.include(args, false, line),
            "configfile" => self.include(args, true, line),
            "extract_entries_source"
            | "extract_entries_configfile"
            | "extract_legacy_entries_source"
            | "extract_legacy_entries_configfile" => self.unknown(line, format!("`{name}` is not evaluated")),
            "load_env" => self.load_env(args, line),
            "save_env" => {
                self.saved_env.extend(args.iter().cloned());
                ok
            }
            "search" => self.search(args, line),
            "search.fs_uuid" | "search.fs_label" | "search.file" => {
                let kind = match name {
                    "search.fs_uuid" => SearchKind::FsUuid,
                    "search.fs_label" => SearchKind::Label,
                    _ => SearchKind::File,
                };
                let Some(value) = args.first() else {
                    return self.fail(line, format!("{name}: one argument expected"));
                };
                let var = args.get(1).cloned();
                let hints = args.get(2..).map(<[String]>::to_vec).unwrap_or_default();
                self.do_search(kind, value, var.as_deref(), &hints, line)
            }
            "blscfg" | "bls_import" => self.blscfg(args, line),
            "linux" | "linux16" | "linuxefi" | "initrd" | "initrd16" | "initrdefi" | "chainloader" | "multiboot"
            | "multiboot2" | "module" | "module2" => self.loader(name, args, line),
            "setparams" => {
                self.positional = Some(args.to_vec());
                ok
            }
            "shift" => {
                if let Some(p) = self.positional.as_mut()
                    && !p.is_empty()
                {
                    p.remove(0);
                }
                ok
            }
            "return" => {
                if self.call_depth == 0 {
                    return self.fail(line, "`return` outside a function".into());
                }
                let s = match args.first().and_then(|a| a.parse::<i64>().ok()) {
                    Some(0) | None => Status::Ok,
                    Some(_) => Status::Fail,
                };
                (s, Flow::Return)
            }
            "break" | "continue" if self.loop_depth > 0 => {
                (Status::Ok, if name == "break" { Flow::Break } else { Flow::Continue })
            }
            "eval" => {
                if self.call_depth >= MAX_CALL_DEPTH {
                    return self.fail(line, format!("eval nested deeper than {MAX_CALL_DEPTH}"));
                }
                let text = args.join(" ");
                let (cmds, errors) = script::parse(&text);
                for e in errors {
                    self.diag(line, format!("eval: {}", e.message));
                }
                self.call_depth += 1;
                let f = self.exec_list(&cmds);
                self.call_depth -= 1;
                let s = self.status();
                (s, if f == Flow::Halt { Flow::Halt } else { Flow::Next })
            }
            "keystatus" => {
                if args.is_empty() {
                    ok
                } else {
                    self.diag(line, "keystatus: no key is held during an unattended boot (false)".into());
                    (Status::Fail, Flow::Next)
                }
            }
            "loadfont" => self.loadfont(args, line),
            _ if NO_EFFECT.contains(&name) => ok,
            _ => {
                if let Some(body) = self.st.functions.get(name).cloned() {
                    return self.call(name, body, args, line);
                }
                if let Some((n, v)) = name.split_once('=') {
                    self.assign(n, v, line);
                    return ok;
                }
                if matches!(name, "cpuid" | "smbios" | "probe" | "regexp" | "tr" | "hwmatch" | "read" | "getenv") {
                    return self.unknown(line, format!("`{name}` depends on the machine or the user"));
                }
                self.fail(line, format!("can't find command `{name}'"))
            }
        }
    }

    fn assign(&mut self, name: &str, value: &str, line: usize) {
        if name.is_empty() {
            self.diag(line, "assignment to an empty name".into());
            return;
        }
        self.set(name, value);
    }

    fn call(&mut self, name: &str, body: Rc<Vec<Cmd>>, args: &[String], line: usize) -> (Status, Flow) {
        if self.call_depth >= MAX_CALL_DEPTH {
            return self.fail(line, format!("{name}: functions nested deeper than {MAX_CALL_DEPTH}"));
        }
        if name == "savedefault"
            && let Some(e) = self.entry.as_mut()
        {
            e.savedefault = true;
        }
        self.call_depth += 1;
        let saved = self.positional.replace(args.to_vec());
        let saved_loop = std::mem::replace(&mut self.loop_depth, 0);
        let f = self.exec_list(&body);
        self.loop_depth = saved_loop;
        self.positional = saved;
        self.call_depth -= 1;
        (self.status(), if f == Flow::Halt { Flow::Halt } else { Flow::Next })
    }

    // ----- menus

    fn define_item(
        &mut self,
        args: &[String],
        block: Option<Rc<Vec<Cmd>>>,
        submenu: bool,
        line: usize,
    ) -> (Status, Flow) {
        let what = if submenu { "submenu" } else { "menuentry" };
        let (opts, pos) = match parse_opts(args, MENUENTRY_OPTS) {
            Ok(v) => v,
            Err(m) => return self.fail(line, format!("{what}: {m}")),
        };
        let source = opts.iter().any(|(n, _)| *n == "source");
        let body = match (block, source) {
            (Some(_), true) => return self.fail(line, format!("{what}: multiple menuentry definitions")),
            (None, true) => return self.unknown(line, format!("{what} --source is not evaluated")),
            (None, false) => return self.fail(line, format!("{what}: no menuentry definition")),
            (Some(b), false) => b,
        };
        let Some(title) = pos.first().cloned() else {
            return self.fail(line, format!("{what}: missing arguments"));
        };
        if self.menu.len() >= MAX_ITEMS {
            return self.fail(line, format!("more than {MAX_ITEMS} menu items: `{title}` is dropped"));
        }
        let id = opts.iter().rev().find(|(n, _)| *n == "id").and_then(|(_, v)| v.clone());
        self.menu.push(Item { title, id, args: pos, body, submenu, line, origin: self.origin.clone() });
        (Status::Ok, Flow::Next)
    }

    /// Runs every item of a menu as GRUB would on choosing it.
    #[allow(clippy::too_many_arguments)]
    fn expand_items(
        &mut self,
        items: Vec<Item>,
        prefix: &[usize],
        titles: &[String],
        chosen: Option<&str>,
        default: Option<String>,
        out: &mut Vec<MenuEntry>,
        subs: &mut Vec<Submenu>,
        depth: usize,
    ) {
        let base = self.st.clone();
        for (i, item) in items.into_iter().enumerate() {
            if self.exhausted {
                break;
            }
            let mut position = prefix.to_vec();
            position.push(i);
            let own_id = item.id.clone().unwrap_or_else(|| item.title.clone());
            let chosen_here = match chosen {
                Some(c) => format!("{c}>{}", own_id.replace('>', ">>")),
                None => own_id.replace('>', ">>"),
            };
            self.st = base.clone();
            let old_origin = std::mem::replace(&mut self.origin, item.origin.clone());
            if item.submenu {
                subs.push(Submenu {
                    title: item.title.clone(),
                    id: item.id.clone(),
                    position: position.clone(),
                    line: item.line,
                });
                if depth >= MAX_SUBMENU_DEPTH {
                    self.diag(
                        item.line,
                        format!("submenus nested deeper than {MAX_SUBMENU_DEPTH}: `{}` is not opened", item.title),
                    );
                    self.origin = old_origin;
                    continue;
                }
                // grub_menu_execute_entry: a new context with the exported
                // variables, `timeout=0` when booting automatically, and the
                // rest of the default path.
                self.st.vars.retain(|_, v| v.exported);
                self.set("timeout", "0");
                let sub_default = default.as_deref().and_then(rest_after_gt).map(str::to_string);
                if let Some(d) = &sub_default {
                    self.set("default", d);
                }
                self.set_exported("chosen", &chosen_here);
                let saved_menu = std::mem::take(&mut self.menu);
                let saved_pos = self.positional.replace(item.args.clone());
                self.exec_list(&item.body);
                self.positional = saved_pos;
                let sub_items = std::mem::replace(&mut self.menu, saved_menu);
                let mut t = titles.to_vec();
                t.push(item.title.clone());
                self.origin = old_origin;
                let inner_default = self.get("default");
                self.expand_items(sub_items, &position, &t, Some(&chosen_here), inner_default, out, subs, depth + 1);
                continue;
            }
            self.set_exported("chosen", &chosen_here);
            self.entry = Some(Loaded {
                root: None,
                kernel: None,
                args: String::new(),
                initrd: Vec::new(),
                modules: Vec::new(),
                kind: EntryKind::Empty,
                savedefault: false,
                commands: Vec::new(),
            });
            let saved_menu = std::mem::take(&mut self.menu);
            let saved_pos = self.positional.replace(item.args.clone());
            self.exec_list(&item.body);
            self.positional = saved_pos;
            let stray = std::mem::replace(&mut self.menu, saved_menu);
            if !stray.is_empty() {
                self.diag(
                    item.line,
                    format!("entry `{}` defines menu entries when booted; they are not shown", item.title),
                );
            }
            let loaded = self.entry.take();
            self.origin = old_origin;
            let Some(l) = loaded else { continue };
            let root = match l.root {
                Some(r) => Some(r),
                None => self.get("root").filter(|r| !r.is_empty()).map(|r| device_prefix(&r)),
            };
            self.entry_commands.push(l.commands);
            out.push(MenuEntry {
                index: out.len(),
                title: item.title,
                id: item.id,
                submenus: titles.to_vec(),
                position,
                root,
                kernel: l.kernel,
                args: l.args,
                initrd: l.initrd,
                modules: l.modules,
                kind: l.kind,
                savedefault: l.savedefault,
                line: item.line,
            });
        }
        self.st = base;
    }

    fn finish(mut self) -> Evaluation {
        let mut menu = Menu::new(MenuFormat::Grub2);
        let items = std::mem::take(&mut self.menu);
        let default = self.get("default");
        menu.default = match &default {
            None => DefaultSpec::Unset,
            Some(v) => match strtoul(v) {
                Some((n, rest)) if rest.trim().is_empty() && n <= i32::MAX as u64 => DefaultSpec::Index(n as usize),
                _ => DefaultSpec::Name(v.clone()),
            },
        };
        // grub_menu_get_timeout: strtoul base 0, an invalid value is -1.
        // `(int) grub_strtoul (…)`; a negative timeout waits forever.
        menu.timeout = self
            .get("timeout")
            .and_then(|v| strtoul(&v).map(|(n, _)| n))
            .and_then(|n| u64::try_from(n as u32 as i32).ok());
        // run_menu: without a timeout the style is reset to `menu`.
        let style = self.get("timeout_style").unwrap_or_default();
        menu.hidden_menu = menu.timeout.is_some() && (style == "hidden" || style == "countdown");
        menu.password = self.get("superusers").is_some_and(|s| !s.is_empty());
        let fallback = self.get("fallback");
        let env: Vec<(String, String)> = self.st.vars.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
        let mut entries = Vec::new();
        let mut submenus = Vec::new();
        self.expanding = true;
        self.expand_items(items, &[], &[], None, default, &mut entries, &mut submenus, 0);
        self.expanding = false;
        let functions: Vec<String> = self.st.functions.keys().cloned().collect();
        menu.entries = entries;
        menu.submenus = submenus;
        if let Some(fb) = fallback {
            for word in fb.split_whitespace().take(MAX_ITEMS) {
                match walk(&menu, word, true) {
                    Some(i) if !menu.fallback.contains(&i) => menu.fallback.push(i),
                    Some(_) => {}
                    None => self.diag(0, format!("fallback {word:?} names no entry")),
                }
            }
        }
        menu.diagnostics = self.diags;
        Evaluation {
            menu,
            env,
            saved_env: self.saved_env,
            functions,
            config_commands: self.config_commands,
            entry_commands: self.entry_commands,
        }
    }

    // ----- test / [

    /// `grub_cmd_test`: `[ … ]` needs the closing `]`.
    fn test(&mut self, args: &[String], bracket: bool, line: usize) -> Status {
        let args = if bracket {
            match args.last() {
                Some(l) if l == "]" => &args[..args.len() - 1],
                _ => {
                    self.diag(line, "[: `]' expected".into());
                    return Status::Fail;
                }
            }
        } else {
            args
        };
        let mut argn = 0;
        let mut unknown = false;
        let r = self.test_parse(args, &mut argn, 0, line, &mut unknown);
        if unknown {
            Status::Unknown
        } else if r {
            Status::Ok
        } else {
            Status::Fail
        }
    }

    fn file_info(&mut self, op: &str, path: &str, line: usize, unknown: &mut bool) -> Option<NodeType> {
        let (dev, p) = match self.resolve_path(path) {
            Ok(v) => v,
            Err(m) => {
                self.diag(line, format!("{op} {path}: {m}; taken as false"));
                *unknown = true;
                return None;
            }
        };
        match self.ctx.stat(&dev, &p) {
            Lookup::Found(n) => Some(n),
            Lookup::Missing => None,
            Lookup::Unknown => {
                self.diag(line, format!("{op} {path}: no disk to look at; taken as false"));
                *unknown = true;
                None
            }
        }
    }

    /// `test_parse` of `commands/test.c`, with the file tests asked of
    /// the context. `unknown` is set when an answer was not available.
    fn test_parse(&mut self, a: &[String], argn: &mut usize, depth: usize, line: usize, unknown: &mut bool) -> bool {
        let (mut and, mut or, mut invert) = (true, false, false);
        let update = |v: bool, and: &mut bool, invert: &mut bool| {
            *and = *and && (v ^ *invert);
            *invert = false;
        };
        let num = |s: &str| -> i64 {
            let (neg, t) = match s.trim_start().strip_prefix('-') {
                Some(t) => (true, t),
                None => (false, s),
            };
            let v = strtoul(t).map_or(0, |(n, _)| n as i64);
            if neg { v.wrapping_neg() } else { v }
        };
        // Each pass consumes at least one argument.
        while *argn < a.len() {
            let n = *argn;
            if n + 2 < a.len() {
                let (x, op, y) = (a[n].as_str(), a[n + 1].as_str(), a[n + 2].as_str());
                let three = match op {
                    "=" | "==" => Some(x == y),
                    "!=" => Some(x != y),
                    "<" => Some(x < y),
                    "<=" => Some(x <= y),
                    ">" => Some(x > y),
                    ">=" => Some(x >= y),
                    "-eq" => Some(num(x) == num(y)),
                    "-ne" => Some(num(x) != num(y)),
                    "-lt" => Some(num(x) < num(y)),
                    "-le" => Some(num(x) <= num(y)),
                    "-gt" => Some(num(x) > num(y)),
                    "-ge" => Some(num(x) >= num(y)),
                    "-pgt" | "-plt" => {
                        // Skip the common prefix, then back over digits.
                        let (xb, yb) = (x.as_bytes(), y.as_bytes());
                        let mut i = xb.iter().zip(yb).take_while(|(p, q)| p == q).count() as isize - 1;
                        while i > 0 && xb.get(i as usize).is_some_and(u8::is_ascii_digit) {
                            i -= 1;
                        }
                        let i = (i + 1).max(0) as usize;
                        let xv = x.get(i..).and_then(strtoul).map_or(0, |v| v.0);
                        let yv = y.get(i..).and_then(strtoul).map_or(0, |v| v.0);
                        Some(if op == "-pgt" { xv > yv } else { xv < yv })
                    }
                    _ if op.starts_with("-nt") || op.starts_with("-ot") => {
                        self.diag(line, format!("test {op}: file times are not modelled; taken as false"));
                        *unknown = true;
                        Some(false)
                    }
                    _ => None,
                };
                if let Some(v) = three {
                    update(v, &mut and, &mut invert);
                    *argn += 3;
                    continue;
                }
            }
            if n + 1 < a.len() {
                let (op, x) = (a[n].as_str(), a[n + 1].as_str());
                let two = match op {
                    "-d" => Some(matches!(self.file_info("test -d", x, line, unknown), Some(NodeType::Dir))),
                    "-e" => Some(self.file_info("test -e", x, line, unknown).is_some()),
                    "-f" => Some(matches!(self.file_info("test -f", x, line, unknown), Some(NodeType::File { .. }))),
                    "-s" => Some(
                        matches!(self.file_info("test -s", x, line, unknown), Some(NodeType::File { size }) if size != 0),
                    ),
                    "-n" => Some(!x.is_empty()),
                    "-z" => Some(x.is_empty()),
                    _ => None,
                };
                if let Some(v) = two {
                    update(v, &mut and, &mut invert);
                    *argn += 2;
                    continue;
                }
            }
            match a[n].as_str() {
                ")" => {
                    *argn += 1;
                    return or || and;
                }
                "(" => {
                    *argn += 1;
                    if depth >= MAX_NESTING {
                        self.diag(line, "test: max recursion depth exceeded".into());
                        return or || and;
                    }
                    let v = self.test_parse(a, argn, depth + 1, line, unknown);
                    update(v, &mut and, &mut invert);
                }
                "!" => {
                    invert = !invert;
                    *argn += 1;
                }
                "-a" => *argn += 1,
                "-o" => {
                    or = or || and;
                    and = true;
                    *argn += 1;
                }
                s => {
                    let v = !s.is_empty();
                    update(v, &mut and, &mut invert);
                    *argn += 1;
                }
            }
        }
        or || and
    }

    fn loadfont(&mut self, args: &[String], line: usize) -> (Status, Flow) {
        let Some(name) = args.first() else {
            return self.fail(line, "loadfont: filename expected".into());
        };
        let path = if name.contains('/') || name.starts_with('(') {
            name.clone()
        } else {
            match self.get("prefix") {
                Some(p) => format!("{p}/fonts/{name}.pf2"),
                None => return self.fail(line, "loadfont: variable `prefix' isn't set".into()),
            }
        };
        let mut unknown = false;
        match self.file_info("loadfont", &path, line, &mut unknown) {
            Some(NodeType::File { .. }) => (Status::Ok, Flow::Next),
            _ if unknown => (Status::Unknown, Flow::Next),
            _ => (Status::Fail, Flow::Next),
        }
    }

    // ----- files and devices

    fn include(&mut self, args: &[String], new_env: bool, line: usize) -> (Status, Flow) {
        let what = if new_env { "configfile" } else { "source" };
        if args.len() != 1 {
            return self.fail(line, format!("{what}: filename expected"));
        }
        if new_env && self.entry.is_some() {
            return self.unknown(line, format!("{what} {} inside an entry opens another menu; not followed", args[0]));
        }
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return self.fail(line, format!("{what} {}: nested deeper than {MAX_INCLUDE_DEPTH}", args[0]));
        }
        let (dev, path) = match self.resolve_path(&args[0]) {
            Ok(v) => v,
            Err(m) => return self.unknown(line, format!("{what}: {m}")),
        };
        let data = match self.ctx.read_file(&dev, &path, MAX_CONFIG_BYTES + 1) {
            Lookup::Found(d) => d,
            Lookup::Missing => return self.fail(line, format!("{what}: file `({dev}){path}' not found")),
            Lookup::Unknown => return self.unknown(line, format!("{what} {}: no disk to read it from", args[0])),
        };
        if data.len() as u64 > MAX_CONFIG_BYTES {
            self.diag(line, format!("{what} {}: only the first {MAX_CONFIG_BYTES} bytes are read", args[0]));
        }
        let text = String::from_utf8_lossy(&data[..data.len().min(MAX_CONFIG_BYTES as usize)]).into_owned();
        let full = format!("({dev}){path}");
        let label: Rc<str> = Rc::from(full.as_str());
        self.include_depth += 1;
        let flow = if new_env {
            let saved_st = self.st.clone();
            let saved_menu = std::mem::take(&mut self.menu);
            self.st.vars.retain(|_, v| v.exported);
            let f = self.run_file(&text, &full, Some(label));
            if f == Flow::Halt {
                Flow::Halt
            } else if !self.menu.is_empty() {
                self.replaced = true;
                self.diag(
                    line,
                    format!(
                        "configfile {full}: GRUB shows its menu now; the rest of this file runs only if the user leaves that menu"
                    ),
                );
                Flow::Halt
            } else {
                self.st = saved_st;
                self.menu = saved_menu;
                Flow::Next
            }
        } else {
            match self.run_file(&text, &full, Some(label)) {
                Flow::Halt => Flow::Halt,
                _ => Flow::Next,
            }
        };
        self.include_depth -= 1;
        (Status::Ok, flow)
    }

    fn load_env(&mut self, args: &[String], line: usize) -> (Status, Flow) {
        let (opts, names) = match parse_opts(args, LOAD_ENV_OPTS) {
            Ok(v) => v,
            Err(m) => return self.fail(line, format!("load_env: {m}")),
        };
        let file = opts.iter().rev().find(|(n, _)| *n == "file").and_then(|(_, v)| v.clone());
        let path = match file {
            Some(f) => f,
            None => match self.get("prefix") {
                Some(p) => format!("{p}/grubenv"),
                None => return self.unknown(line, "load_env: variable `prefix' isn't set".into()),
            },
        };
        let (dev, p) = match self.resolve_path(&path) {
            Ok(v) => v,
            Err(m) => return self.unknown(line, format!("load_env: {m}")),
        };
        let data = match self.ctx.read_file(&dev, &p, grubenv::MAX_BLOCK_SIZE as u64 + 1) {
            Lookup::Found(d) => d,
            Lookup::Missing => return self.fail(line, format!("load_env: file `({dev}){p}' not found")),
            Lookup::Unknown => return self.unknown(line, format!("load_env {path}: no disk to read it from")),
        };
        match grubenv::parse(&data) {
            Ok(env) => {
                for d in &env.diagnostics {
                    self.diag(line, format!("load_env ({dev}){p}: byte {}: {}", d.offset, d.message));
                }
                for (n, v) in &env.vars {
                    if names.is_empty() || names.contains(n) {
                        self.set(n, v);
                    }
                }
                (Status::Ok, Flow::Next)
            }
            Err(e) => self.fail(line, format!("load_env ({dev}){p}: {e}")),
        }
    }

    fn search(&mut self, args: &[String], line: usize) -> (Status, Flow) {
        let (opts, pos) = match parse_opts(args, SEARCH_OPTS) {
            Ok(v) => v,
            Err(m) => return self.fail(line, format!("search: {m}")),
        };
        let has = |n: &str| opts.iter().any(|(o, _)| *o == n);
        let platform = self.get("grub_platform").unwrap_or_default();
        let platform_hint = match platform.as_str() {
            "pc" => "hint-bios",
            "efi" => "hint-efi",
            "ieee1275" => "hint-ieee1275",
            "arc" => "hint-arc",
            _ => "",
        };
        let mut hints = Vec::new();
        for want in ["hint", platform_hint, "hint-baremetal"] {
            for (o, v) in &opts {
                if *o == want
                    && let Some(v) = v
                {
                    hints.push(v.clone());
                }
            }
        }
        let set = opts.iter().find(|(o, _)| *o == "set").map(|(_, v)| v.clone());
        let (id, var) = match (pos.first(), &set) {
            (Some(id), Some(v)) => (id.clone(), Some(v.clone().unwrap_or_else(|| "root".into()))),
            (Some(id), None) => (id.clone(), None),
            (None, Some(Some(v))) => (v.clone(), Some("root".to_string())),
            (None, _) => return self.fail(line, "search: one argument expected".into()),
        };
        let kind = if has("label") {
            SearchKind::Label
        } else if has("fs-uuid") {
            SearchKind::FsUuid
        } else if has("file") {
            SearchKind::File
        } else {
            return self.fail(line, "search: unspecified search type".into());
        };
        self.do_search(kind, &id, var.as_deref(), &hints, line)
    }

    fn do_search(
        &mut self,
        kind: SearchKind,
        id: &str,
        var: Option<&str>,
        hints: &[String],
        line: usize,
    ) -> (Status, Flow) {
        match self.ctx.search(kind, id, hints) {
            Lookup::Found(dev) => {
                let dev = dev.trim_start_matches('(').trim_end_matches(')').to_string();
                if let Some(v) = var {
                    self.set(v, &dev);
                }
                (Status::Ok, Flow::Next)
            }
            Lookup::Missing => self.fail(line, format!("search: no such device: {id}")),
            Lookup::Unknown => {
                let what = match kind {
                    SearchKind::FsUuid => "--fs-uuid",
                    SearchKind::Label => "--label",
                    SearchKind::File => "--file",
                };
                let keep = match var.and_then(|v| self.get(v)) {
                    Some(old) => format!("`{}` keeps {old:?}", var.unwrap_or("root")),
                    None => format!("`{}` stays unset", var.unwrap_or("root")),
                };
                self.unknown(line, format!("search {what} {id}: no disks to search ({keep})"))
            }
        }
    }

    /// `grub_cmd_blscfg` (rhboot `commands/blscfg.c`).
    fn blscfg(&mut self, args: &[String], line: usize) -> (Status, Flow) {
        let (mut show_default, mut show_non_default) = (true, true);
        let mut path: Option<&str> = None;
        let mut entry_id: Option<&str> = None;
        if args.len() == 1 {
            match args[0].as_str() {
                "default" => show_non_default = false,
                "non-default" => show_default = false,
                a if a.starts_with('(') => path = Some(a),
                a => {
                    entry_id = Some(a);
                    show_default = false;
                    show_non_default = false;
                }
            }
        }
        let (dev, dirs): (String, Vec<String>) = match path {
            Some(p) => {
                let (d, rest) = match self.resolve_path(p) {
                    Ok(v) => v,
                    Err(m) => return self.fail(line, format!("blscfg: {m}")),
                };
                if rest.ends_with(".conf") {
                    return self.blscfg_file(&d, &rest, line);
                }
                (d, vec![rest])
            }
            None => match self.get("root") {
                Some(r) if !r.is_empty() => {
                    let first = self.get("blsdir").unwrap_or_else(|| "/loader/entries/".into());
                    (r, vec![first, "/boot/loader/entries/".into()])
                }
                _ => return self.unknown(line, "blscfg: variable `root' isn't set".into()),
            },
        };
        let mut listing = None;
        for d in &dirs {
            match self.ctx.list_dir(&dev, d) {
                Lookup::Found(names) => {
                    listing = Some((d.clone(), names));
                    break;
                }
                Lookup::Missing => continue,
                Lookup::Unknown => {
                    return self.unknown(line, format!("blscfg: no disk to read ({dev}){d} from"));
                }
            }
        }
        let Some((dir, names)) = listing else {
            self.diag(line, format!("blscfg: ({dev}){} does not exist: no BLS entries", dirs.join(" or ")));
            return (Status::Ok, Flow::Next);
        };
        let mut entries = Vec::new();
        for name in names.iter().filter(|n| !n.starts_with('.') && n.len() > 5 && n.ends_with(".conf")) {
            if entries.len() == MAX_BLS_FILES {
                self.diag(line, format!("blscfg: more than {MAX_BLS_FILES} snippets; the rest are not read"));
                break;
            }
            let file = format!("{}/{name}", dir.trim_end_matches('/'));
            match self.ctx.read_file(&dev, &file, bls::MAX_SNIPPET_BYTES) {
                Lookup::Found(data) => entries.push(bls::parse_entry(&name[..name.len() - 5], &data)),
                _ => self.diag(line, format!("blscfg: cannot read ({dev}){file}")),
            }
        }
        let (sorted, dropped) = bls::sort_entries(entries);
        for d in dropped {
            self.diag(
                line,
                format!("blscfg: {d}.conf has the same name-version-release as another snippet; GRUB drops it"),
            );
        }
        let def = self.get("default");
        for (idx, e) in sorted.iter().enumerate() {
            if self.bls_seen.contains(&e.stem) {
                continue;
            }
            let is_def = bls::is_default_entry(def.as_deref(), e, idx);
            if (show_default && is_def) || (show_non_default && !is_def) || entry_id == Some(e.stem.as_str()) {
                self.add_bls_item(e, line);
            }
        }
        (Status::Ok, Flow::Next)
    }

    fn blscfg_file(&mut self, dev: &str, path: &str, line: usize) -> (Status, Flow) {
        let data = match self.ctx.read_file(dev, path, bls::MAX_SNIPPET_BYTES) {
            Lookup::Found(d) => d,
            Lookup::Missing => return self.fail(line, format!("blscfg: file `({dev}){path}' not found")),
            Lookup::Unknown => return self.unknown(line, format!("blscfg ({dev}){path}: no disk to read it from")),
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        let e = bls::parse_entry(name.strip_suffix(".conf").unwrap_or(name), &data);
        if !self.bls_seen.contains(&e.stem) {
            self.add_bls_item(&e, line);
        }
        (Status::Ok, Flow::Next)
    }

    /// `create_entry`: the snippet becomes a menu entry whose body is the
    /// script blscfg generates.
    fn add_bls_item(&mut self, e: &BlsEntry, line: usize) {
        let label: Rc<str> = Rc::from(format!("BLS entry {}.conf", e.stem).as_str());
        for d in &e.diagnostics {
            self.diags.push(LineDiag { line, message: format!("{label} line {}: {}", d.line, d.message) });
        }
        self.bls_seen.insert(e.stem.clone());
        let generated = {
            let vars = &self.st.vars;
            bls::generate(e, &|n: &str| vars.get(n).map(|v| v.value.clone()))
        };
        let g = match generated {
            Ok(g) => g,
            Err(m) => {
                self.diags.push(LineDiag { line, message: format!("{label}: {m}") });
                return;
            }
        };
        if self.menu.len() >= MAX_ITEMS {
            self.diag(line, format!("more than {MAX_ITEMS} menu items: BLS entry {} is dropped", g.id));
            return;
        }
        let (cmds, errors) = script::parse(&g.source);
        let origin = Origin { file: Some(label), fixed_line: Some(line) };
        let old = std::mem::replace(&mut self.origin, origin.clone());
        for err in errors {
            self.diag(err.line, format!("{} (GRUB drops this command)", err.message));
        }
        self.origin = old;
        self.menu.push(Item {
            title: g.title,
            id: Some(g.id),
            args: g.argv,
            body: Rc::new(cmds),
            submenu: false,
            line,
            origin,
        });
    }

    // ----- loaders

    fn loader(&mut self, name: &str, args: &[String], line: usize) -> (Status, Flow) {
        let root = self.get("root").filter(|r| !r.is_empty()).map(|r| device_prefix(&r));
        let Some(e) = self.entry.as_mut() else {
            self.diag(line, format!("`{name}` outside a menu entry runs while GRUB reads the config; not modelled"));
            return (Status::Ok, Flow::Next);
        };
        let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
        let mut problem = None;
        match name {
            "linux" | "linux16" | "linuxefi" | "multiboot" | "multiboot2" | "chainloader" => {
                let Some(first) = args.iter().position(|a| !a.starts_with("--")) else {
                    return self.fail(line, format!("{name}: filename expected"));
                };
                let kernel = BootPath::parse(&args[first]);
                if kernel.device.is_none() && !kernel.path.starts_with('/') {
                    problem = Some(format!("{name} {}: GRUB needs an absolute path (invalid file name)", kernel.path));
                }
                e.kernel = Some(kernel);
                e.args = loader_cmdline(&args[first + 1..]);
                e.root = root;
                e.initrd.clear();
                e.modules.clear();
                e.kind = match name {
                    "chainloader" => EntryKind::Chainloader,
                    "multiboot" | "multiboot2" => EntryKind::Multiboot,
                    _ => EntryKind::Linux,
                };
            }
            "initrd" | "initrd16" | "initrdefi" => {
                if e.kind != EntryKind::Linux {
                    return self.fail(line, format!("{name}: you need to load the kernel first"));
                }
                if files.is_empty() {
                    return self.fail(line, format!("{name}: filename expected"));
                }
                e.initrd = files.iter().map(|f| BootPath::parse(f)).collect();
            }
            _ => {
                // module, module2
                if e.kind != EntryKind::Multiboot {
                    return self.fail(line, format!("{name}: you need to load the multiboot kernel first"));
                }
                let Some(f) = files.first() else {
                    return self.fail(line, format!("{name}: filename expected"));
                };
                e.modules.push(BootPath::parse(f));
            }
        }
        if let Some(p) = problem {
            self.diag(line, p);
        }
        (Status::Ok, Flow::Next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a boot loader model replays: the config's own commands and each
    /// entry's, expanded, in order, functions' bodies included.
    #[test]
    fn records_config_and_entry_commands() {
        let cfg = b"insmod ext2\nset v=6.1\nfunction f { echo in-f; }\n\
                    menuentry A { echo 'Loading Linux' $v ...; f; linux /vmlinuz-$v ro; initrd /i }\n\
                    submenu S { menuentry B { echo b; } }\n";
        let ev = evaluate(cfg, "/boot/grub/grub.cfg", &MemContext::new().var("root", "hd0,msdos1"));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(ev.config_commands[0], s(&["insmod", "ext2"]));
        assert!(!ev.config_commands.iter().any(|c| c[0] == "echo"), "{:?}", ev.config_commands);
        assert_eq!(ev.entry_commands.len(), ev.menu.entries.len());
        assert_eq!(
            ev.entry_commands[0],
            vec![
                s(&["echo", "Loading Linux", "6.1", "..."]),
                s(&["f"]),
                s(&["echo", "in-f"]),
                s(&["linux", "/vmlinuz-6.1", "ro"]),
                s(&["initrd", "/i"]),
            ]
        );
        assert_eq!(ev.entry_commands[1], vec![s(&["echo", "b"])]);
    }
}
