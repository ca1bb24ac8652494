//! Boot Loader Specification Type #1 snippets (`/loader/entries/*.conf`)
//! as rhboot's GRUB 2 reads them with `blscfg` (RHEL 8+, Fedora 30+,
//! Amazon Linux 2023).
//!
//! Source: `grub-core/commands/blscfg.c` in `rhboot/grub2`:
//! - `read_entry`: only names not starting with `.`, longer than 5 bytes
//!   and ending in `.conf`; the id is the name without `.conf`. Each line
//!   (`grub_file_getline`: `\r` dropped) has leading blanks skipped, `#`
//!   lines are skipped, the key ends at the first space (or tab, when
//!   there is no space) and the value starts after the following blanks.
//!   A line with no separator or an empty value — an empty line too —
//!   *ends the file*: the lines after it are not read.
//! - `bls_add_entry`/`bls_cmp`/`split_cmp`/`vercmp`: entries are kept
//!   newest first, comparing the ids as `name-version-release` (split at
//!   the last two `-`) with rpm's version comparison; an id comparing
//!   equal to one already read is dropped.
//! - `create_entry`: no `linux` key, no entry. The title is `title` or the
//!   `linux` path; only the *first* `options` is used (expanded by
//!   `expand_val`, falling back to `$default_kernelopts`); every `initrd`
//!   line is used; `grub_users`, `grub_class`, `grub_arg`, `grub_hotkey`
//!   become menuentry options. The entry's body is a generated script
//!   (`load_video`, `set gfxpayload=keep`, `insmod gzio`, `linux
//!   ($root)PATH OPTIONS`, `initrd ($root)PATH…`) that GRUB runs like any
//!   other entry — so `$tuned_initrd` in an `initrd` line is expanded by
//!   the script, not by blscfg.
//! - `is_default_entry`, `bls_create_entries`: `blscfg default` /
//!   `non-default` / `ID` select entries.
//!
//! The BLS spec lets `options` repeat and concatenates them; GRUB does
//! not — the others are reported as ignored. pygrub does not read BLS
//! snippets at all.

use std::cmp::Ordering;

use nom::Parser;
use nom::bytes::complete::{take_till, take_while};

use crate::LineDiag;

/// Largest snippet read (real ones are a few hundred bytes).
pub const MAX_SNIPPET_BYTES: u64 = 64 * 1024;
/// Most keys kept from one snippet.
pub const MAX_KEYS: usize = 256;

/// One snippet as `read_entry` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlsEntry {
    /// The file name without `.conf` (blscfg's `filename`, the entry id).
    pub stem: String,
    /// `(key, value, line)` in file order.
    pub keys: Vec<(String, String, usize)>,
    pub diagnostics: Vec<LineDiag>,
}

impl BlsEntry {
    /// The first value of `key` (`bls_get_val (entry, key, NULL)`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| v.as_str())
    }

    /// Every value of `key` in file order (`bls_make_list`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.keys.iter().filter(|(k, _, _)| k == key).map(|(_, v, _)| v.as_str()).collect()
    }

    pub fn title(&self) -> Option<&str> {
        self.get("title")
    }
    pub fn version(&self) -> Option<&str> {
        self.get("version")
    }
    pub fn machine_id(&self) -> Option<&str> {
        self.get("machine-id")
    }
    pub fn linux(&self) -> Option<&str> {
        self.get("linux")
    }
    pub fn initrds(&self) -> Vec<&str> {
        self.all("initrd")
    }
    /// The `options` GRUB uses: the first one.
    pub fn options(&self) -> Option<&str> {
        self.get("options")
    }
}

/// The pieces of `read_entry`'s line loop: key, blanks, value.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let sep = if line.contains(' ') { ' ' } else { '\t' };
    let parsed: nom::IResult<&str, &str> = take_till(|c| c == sep).parse(line);
    let (rest, key) = parsed.ok()?;
    // `!separator || separator[1] == '\0'`: no separator, or nothing after it.
    if rest.len() <= 1 {
        return None;
    }
    let blanks: nom::IResult<&str, &str> = take_while(|c| c == ' ' || c == '\t').parse(&rest[1..]);
    let (value, _) = blanks.ok()?;
    Some((key, value))
}

/// Reads one snippet (see the module docs). `stem` is the file name
/// without `.conf`.
pub fn parse_entry(stem: &str, data: &[u8]) -> BlsEntry {
    let mut e =
        BlsEntry { stem: stem.split('\0').next().unwrap_or("").to_string(), keys: Vec::new(), diagnostics: Vec::new() };
    let data = &data[..data.len().min(MAX_SNIPPET_BYTES as usize)];
    let text = String::from_utf8_lossy(data).replace('\r', "");
    let mut lines: Vec<&str> = text.split('\n').collect();
    // grub_file_getline returns no line for the empty tail after the last
    // newline.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        let l = raw.trim_start_matches([' ', '\t']);
        if l.starts_with('#') {
            continue;
        }
        let Some((key, value)) = key_value(l) else {
            if lines[i + 1..].iter().any(|r| !r.trim().is_empty()) {
                e.diagnostics.push(LineDiag {
                    line,
                    message: format!(
                        "{}: GRUB's blscfg stops reading the file here",
                        if l.is_empty() { "empty line".to_string() } else { format!("`{l}` has no value") }
                    ),
                });
            }
            break;
        };
        if e.keys.len() == MAX_KEYS {
            e.diagnostics.push(LineDiag { line, message: format!("more than {MAX_KEYS} keys") });
            break;
        }
        e.keys.push((key.to_string(), value.to_string(), line));
    }
    let options = e.keys.iter().filter(|(k, _, _)| k == "options").skip(1).map(|(_, _, l)| *l).collect::<Vec<_>>();
    for l in options {
        e.diagnostics.push(LineDiag {
            line: l,
            message: "a second `options` line: GRUB's blscfg uses only the first (the BLS spec would append it)".into(),
        });
    }
    e
}

/// rpm-style version comparison, as `vercmp` in `blscfg.c`.
pub fn vercmp(a: &str, b: &str) -> Ordering {
    let a = a.split('\0').next().unwrap_or("").as_bytes();
    let b = b.split('\0').next().unwrap_or("").as_bytes();
    if a == b {
        return Ordering::Equal;
    }
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let sep = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && c != b'+';
    let (mut one, mut two) = (0usize, 0usize);
    // Each pass moves `one` and `two` forward or returns.
    while at(a, one) != 0 || at(b, two) != 0 {
        while sep(at(a, one)) {
            one += 1;
        }
        while sep(at(b, two)) {
            two += 1;
        }
        let (c1, c2) = (at(a, one), at(b, two));
        if c1 == b'~' || c2 == b'~' {
            if c1 != b'~' {
                return Ordering::Greater;
            }
            if c2 != b'~' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if c1 == b'+' || c2 == b'+' {
            if c1 == 0 {
                return Ordering::Less;
            }
            if c2 == 0 {
                return Ordering::Greater;
            }
            if c1 != b'+' {
                return Ordering::Greater;
            }
            if c2 != b'+' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if c1 == 0 || c2 == 0 {
            break;
        }
        let isnum = c1.is_ascii_digit();
        let class = |c: u8| if isnum { c.is_ascii_digit() } else { c.is_ascii_alphabetic() };
        let mut e1 = one;
        while class(at(a, e1)) {
            e1 += 1;
        }
        let mut e2 = two;
        while class(at(b, e2)) {
            e2 += 1;
        }
        if one == e1 {
            return Ordering::Less;
        }
        if two == e2 {
            return if isnum { Ordering::Greater } else { Ordering::Less };
        }
        let (mut s1, mut s2) = (&a[one..e1], &b[two..e2]);
        if isnum {
            while s1.first() == Some(&b'0') {
                s1 = &s1[1..];
            }
            while s2.first() == Some(&b'0') {
                s2 = &s2[1..];
            }
            match s1.len().cmp(&s2.len()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match s1.cmp(s2) {
            Ordering::Equal => {}
            o => return o,
        }
        one = e1;
        two = e2;
    }
    match (at(a, one) == 0, at(b, two) == 0) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// `split_package_string` with a name: `name-version-release`, split at
/// the last two `-`; missing parts move up (`a-b` is name `a`, version `b`).
fn split_nvr(s: &str) -> (&str, &str, &str) {
    let (rest, release) = match s.rfind('-') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (name, version) = match rest.rfind('-') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    match version {
        Some(v) => (name, v, release.unwrap_or("")),
        None => (name, release.unwrap_or(""), ""),
    }
}

/// `bls_cmp`: `Greater` when `a` is newer than `b`.
pub fn bls_cmp(a: &str, b: &str) -> Ordering {
    let (n0, v0, r0) = split_nvr(a);
    let (n1, v1, r1) = split_nvr(b);
    vercmp(n0, n1).then_with(|| vercmp(v0, v1)).then_with(|| vercmp(r0, r1))
}

/// Orders snippets as `bls_add_entry` does while the directory is read
/// (newest first); returns the kept entries and the stems of the dropped
/// ones (equal to an earlier entry).
pub fn sort_entries(entries: Vec<BlsEntry>) -> (Vec<BlsEntry>, Vec<String>) {
    let mut list: Vec<BlsEntry> = Vec::new();
    let mut dropped = Vec::new();
    for e in entries {
        if list.is_empty() {
            list.push(e);
            continue;
        }
        let mut at = None;
        let mut dup = false;
        for (i, old) in list.iter().enumerate() {
            match bls_cmp(&e.stem, &old.stem) {
                Ordering::Equal => {
                    dup = true;
                    break;
                }
                Ordering::Greater => {
                    at = Some(i);
                    break;
                }
                Ordering::Less => {}
            }
        }
        if dup {
            dropped.push(e.stem);
        } else {
            let i = at.unwrap_or(list.len());
            list.insert(i, e);
        }
    }
    (list, dropped)
}

/// `is_default_entry`: `default` names the entry by id, by title or by
/// its index among the sorted snippets.
pub fn is_default_entry(default: Option<&str>, e: &BlsEntry, idx: usize) -> bool {
    let Some(d) = default else { return false };
    if d == e.stem || e.title() == Some(d) {
        return true;
    }
    // grub_strtol (…, 0): a leading `-` is allowed.
    let (neg, t) = match d.trim_start().strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, d),
    };
    match crate::grub_num::strtoul(t) {
        Some((n, _)) => !neg && usize::try_from(n).is_ok_and(|n| n == idx),
        None => false,
    }
}

/// `expand_val`, bug for bug: `$name` (letters, digits, `_`) is replaced
/// by the variable's value followed by a space; a blank after a variable
/// is dropped; an unset variable vanishes; a `$` after `\` is kept.
/// Quirks kept from the pointer arithmetic: a one-character run at the
/// end (`$x`, or a single letter after a variable) is lost, and two
/// variables back to back (`$a$b`) lose the first. `None` when nothing
/// was produced (GRUB's NULL buffer).
pub fn expand_val(value: Option<&str>, get: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let v = value?.as_bytes();
    let mut buffer: Option<String> = None;
    let (mut start, mut end) = (0usize, 0usize);
    let mut is_var = false;
    let field = |buffer: Option<String>, is_var: bool, start: usize, end: usize| -> Option<String> {
        let len = (end + 1).saturating_sub(start);
        let text = String::from_utf8_lossy(v.get(start..start + len).unwrap_or(&[])).into_owned();
        if is_var {
            let Some(val) = get(&text) else { return buffer };
            let mut b = buffer.unwrap_or_default();
            b.push_str(&val);
            b.push(' ');
            Some(b)
        } else {
            let mut b = buffer.unwrap_or_default();
            b.push_str(&text);
            Some(b)
        }
    };
    for i in 0..v.len() {
        if v[i] == b'$' && v[end] != b'\\' {
            if start != end {
                buffer = field(buffer, is_var, start, end);
            }
            is_var = true;
            start = i + 1;
        } else if is_var && !v[i].is_ascii_alphanumeric() && v[i] != b'_' {
            buffer = field(buffer, is_var, start, end);
            is_var = false;
            start = i;
            if v[start] == b' ' {
                start += 1;
            }
        }
        end = i;
    }
    if start != end {
        buffer = field(buffer, is_var, start, end);
    }
    buffer
}

/// What `create_entry` hands to `grub_normal_add_menu_entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEntry {
    pub id: String,
    pub title: String,
    /// The menuentry arguments: the title, then every `grub_arg`.
    pub argv: Vec<String>,
    pub classes: Vec<String>,
    /// `grub_users` expanded; `Some` makes the entry restricted.
    pub users: Option<String>,
    pub hotkey: Option<String>,
    /// The entry's body.
    pub source: String,
}

/// Why blscfg makes no menu entry of a snippet (GRUB's
/// `grub-core/commands/blscfg.c` `create_entry`, Fedora's patch set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlsSkip {
    /// `create_entry` returns early without a `linux` key.
    NoLinux,
    /// The id (the file name) has `.conf` before its end.
    ConfInsideId { id: String },
}

impl std::fmt::Display for BlsSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlsSkip::NoLinux => f.write_str("no `linux` key: GRUB skips the snippet"),
            BlsSkip::ConfInsideId { id } => {
                write!(f, "id {id:?} contains `.conf` before its end: blscfg's create_entry loops forever on it")
            }
        }
    }
}

impl std::error::Error for BlsSkip {}

/// `create_entry`, with `get` reading GRUB's environment (for
/// `options`/`grub_users` expansion, `default_kernelopts`, `early_initrd`,
/// `devicetree`, `save_default`).
pub fn generate(e: &BlsEntry, get: &dyn Fn(&str) -> Option<String>) -> Result<GeneratedEntry, BlsSkip> {
    const BOOT: &str = "($root)";
    let Some(clinux) = e.linux() else {
        return Err(BlsSkip::NoLinux);
    };
    // The `.conf` strip loop: strstr from the same place again never
    // moves on, so a `.conf` that is not at the end hangs GRUB.
    let mut id = e.stem.clone();
    if let Some(i) = id.find(".conf") {
        if i + 5 != id.len() {
            return Err(BlsSkip::ConfInsideId { id });
        }
        id.truncate(i);
    }
    let title = e.title().unwrap_or(clinux).to_string();
    let options = expand_val(e.options(), get).or_else(|| expand_val(get("default_kernelopts").as_deref(), get));
    let initrds = e.initrds();
    let devicetree_own = expand_val(e.get("devicetree"), get);
    let (devicetree, dt_prefix) = match devicetree_own {
        Some(d) => (Some(d), false),
        None => (expand_val(get("devicetree").as_deref(), get), true),
    };
    let users = expand_val(e.get("grub_users"), get);
    let classes = e.all("grub_class").into_iter().map(str::to_string).collect();
    let mut argv = vec![title.clone()];
    argv.extend(e.all("grub_arg").into_iter().map(str::to_string));
    let dir_of = |p: &str| -> String { p.rfind('/').map_or(String::new(), |i| p[..=i].to_string()) };
    let early = get("early_initrd");
    let mut initrd_line = None;
    if early.is_some() || !initrds.is_empty() {
        let mut l = String::from("initrd");
        if let Some(early) = &early {
            let prefix = dir_of(initrds.first().copied().unwrap_or(clinux));
            for piece in early.split(' ') {
                l.push(' ');
                l.push_str(BOOT);
                l.push_str(&prefix);
                l.push_str(piece);
            }
        }
        for i in &initrds {
            l.push(' ');
            l.push_str(BOOT);
            l.push_str(i);
        }
        l.push('\n');
        initrd_line = Some(l);
    }
    let dt_line = devicetree.map(|dt| {
        let prefix = if dt_prefix { dir_of(clinux) } else { String::new() };
        format!("devicetree {BOOT}{prefix}{dt}\n")
    });
    let savedefault = get("save_default").as_deref() == Some("true");
    let source = format!(
        "{}load_video\nset gfxpayload=keep\ninsmod gzio\nlinux {BOOT}{clinux}{}{}\n{}{}",
        if savedefault { "savedefault\n" } else { "" },
        if options.is_some() { " " } else { "" },
        options.as_deref().unwrap_or(""),
        initrd_line.as_deref().unwrap_or(""),
        dt_line.as_deref().unwrap_or(""),
    );
    Ok(GeneratedEntry { id, title, argv, classes, users, hotkey: e.get("grub_hotkey").map(str::to_string), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vercmp_is_rpms() {
        use Ordering::*;
        assert_eq!(vercmp("1.0", "1.0"), Equal);
        assert_eq!(vercmp("1.10", "1.9"), Greater);
        assert_eq!(vercmp("1.0~rc1", "1.0"), Less);
        assert_eq!(vercmp("1.0+git", "1.0"), Greater);
        assert_eq!(vercmp("1.0a", "1.0"), Greater);
        assert_eq!(vercmp("1.01", "1.1"), Equal);
        assert_eq!(vercmp("2", "10a"), Less);
        assert_eq!(vercmp("a", "1"), Less);
        assert_eq!(vercmp("1.0.", "1.0"), Equal);
    }

    #[test]
    fn entries_sort_newest_first_and_drop_duplicates() {
        let mk = |s: &str| parse_entry(s, b"linux /v\n");
        let (list, dropped) = sort_entries(vec![
            mk("abc-4.18.0-80.el8.x86_64"),
            mk("abc-4.18.0-147.el8.x86_64"),
            mk("abc-0-rescue"),
            mk("abc-4.18.0-80.el8.x86_64"),
        ]);
        let stems: Vec<_> = list.iter().map(|e| e.stem.as_str()).collect();
        assert_eq!(stems, ["abc-4.18.0-147.el8.x86_64", "abc-4.18.0-80.el8.x86_64", "abc-0-rescue"]);
        assert_eq!(dropped, ["abc-4.18.0-80.el8.x86_64"]);
    }

    #[test]
    fn read_entry_stops_at_a_line_without_value() {
        let e = parse_entry("x", b"  # c\ntitle  T  x\r\nlinux\t/vmlinuz\n\noptions a\n");
        assert_eq!(
            e.keys.iter().map(|k| (k.0.as_str(), k.1.as_str())).collect::<Vec<_>>(),
            [("title", "T  x"), ("linux", "/vmlinuz")]
        );
        assert_eq!(e.diagnostics[0].line, 4);
    }

    #[test]
    fn expand_val_matches_blscfg() {
        let get = |n: &str| match n {
            "kernelopts" => Some("root=/dev/xvda1 ro".to_string()),
            "tuned_params" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand_val(Some("$kernelopts"), &get).as_deref(), Some("root=/dev/xvda1 ro "));
        assert_eq!(
            expand_val(Some("$kernelopts $tuned_params quiet"), &get).as_deref(),
            Some("root=/dev/xvda1 ro  quiet")
        );
        assert_eq!(expand_val(Some("a $nothere b"), &get).as_deref(), Some("a "));
        assert_eq!(expand_val(Some("x"), &get), None);
        assert_eq!(expand_val(None, &get), None);
    }
}
