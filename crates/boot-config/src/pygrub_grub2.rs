//! pygrub's reading of a `grub.cfg` (`grub/GrubConf.py` `Grub2ConfigFile`
//! and `Grub2Image`, Xen 4.17): line by line, no evaluation. Function
//! bodies are skipped, `submenu` levels are flattened, `menuentry` titles
//! come from a regular expression, `set` goes through `grub_split(arg, 2)`
//! (a value containing `=` makes pygrub raise "too many values to unpack"),
//! `${saved_entry}`/`${next_entry}` defaults become 0, `if` blocks are
//! ignored but their bodies are read as if unconditional.

use crate::grub_legacy::pygrub_split;
use crate::{BootPath, DefaultSpec, EntryKind, LineDiag, Menu, MenuEntry, MenuFormat};

/// The exception pygrub raises on a grub.cfg (it then tries the next
/// partition), with Python's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PygrubException {
    /// `grub_split(arg, 2)` gave three pieces to unpack into two names.
    TooManyValues,
    /// A `menuentry` line inside a `menuentry`.
    NestedMenuentry,
    /// A `}` outside any `menuentry`.
    BraceWithoutMenuentry,
    /// `set default=` a negative number (`_set_default`).
    NegativeDefault,
    /// The file ends inside a `menuentry`.
    OpenMenuentry,
    /// `GrubDiskPart` cannot read the `(device)` of a kernel or initrd path.
    BadDevice { device: String },
    /// pygrub has no reader for BLS snippets.
    Bls,
}

impl std::fmt::Display for PygrubException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PygrubException::TooManyValues => f.write_str("too many values to unpack (expected 2)"),
            PygrubException::NestedMenuentry => f.write_str("syntax error: cannot nest menuentry"),
            PygrubException::BraceWithoutMenuentry => f.write_str("syntax error: closing brace without menuentry"),
            PygrubException::NegativeDefault => f.write_str("default must be non-negative number"),
            PygrubException::OpenMenuentry => f.write_str("syntax error: end of file with open menuentry"),
            PygrubException::BadDevice { device } => write!(f, "invalid literal for int() in device {device}"),
            PygrubException::Bls => f.write_str("pygrub does not read BLS entries"),
        }
    }
}

impl std::error::Error for PygrubException {}

/// pygrub's `grub_split(s, 2)` then tuple-unpacking into two names: more
/// than two pieces is Python's ValueError.
fn split2(s: &str) -> Result<(&str, &str), PygrubException> {
    let eq = s.find('=');
    let blank = s.find([' ', '\t']);
    let parts: Vec<&str> = match (eq, blank) {
        (Some(e), b) if b.is_none_or(|b| e < b) => s.splitn(3, '=').collect(),
        _ => s.split_whitespace().take(3).collect(),
    };
    match parts.len() {
        0 => Ok(("", "")),
        1 => Ok((parts[0], "")),
        2 => Ok((parts[0], parts[1])),
        _ if eq.is_none_or(|e| blank.is_some_and(|b| b < e)) => {
            // split(None, 2) keeps the remainder in the last piece; only the
            // '=' split can yield three pieces that break the unpacking.
            let (a, b) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
            Ok((a, b.trim_start()))
        }
        _ => Err(PygrubException::TooManyValues),
    }
}

/// `grub2_handle_set`: `set NAME=VALUE` → ("set:NAME", VALUE without one
/// pair of matching quotes).
fn handle_set(arg: &str) -> Result<(String, String), PygrubException> {
    let (name, value) = split2(arg)?;
    let v = value.trim();
    let unquoted = match v.chars().next() {
        Some(q @ ('"' | '\'')) if v.len() >= 2 && v[1..].contains(q) => {
            // re.match("([\"'])(.*)\1", arg): greedy up to the last matching quote.
            let last = v.rfind(q).unwrap_or(0);
            if last > 0 { v[1..last].to_string() } else { v.to_string() }
        }
        _ => value.to_string(),
    };
    Ok((format!("set:{name}"), unquoted))
}

/// Parses a grub.cfg as pygrub does. `Err` is the exception pygrub raises
/// (it then tries the next partition).
pub fn parse(data: &[u8]) -> Result<Menu, PygrubException> {
    let mut menu = Menu::new(MenuFormat::Grub2);
    let text = String::from_utf8_lossy(data);
    let mut in_function = false;
    let mut img: Option<(MenuEntry, usize)> = None;
    let mut menu_level = 0usize;
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with("function") {
            in_function = true;
            continue;
        }
        if in_function {
            if l.starts_with('}') {
                in_function = false;
            }
            continue;
        }
        if let Some(title) = menuentry_title(l) {
            if img.is_some() {
                return Err(PygrubException::NestedMenuentry);
            }
            img = Some((new_entry(&title, line), 0));
            continue;
        }
        if l.starts_with("submenu") {
            menu_level += 1;
            continue;
        }
        if l.starts_with('}') {
            match img.take() {
                None if menu_level > 0 => menu_level -= 1,
                None => return Err(PygrubException::BraceWithoutMenuentry),
                Some((mut e, _)) => {
                    e.index = menu.entries.len();
                    e.position = vec![e.index];
                    menu.entries.push(e);
                }
            }
            continue;
        }
        if let Some((e, n)) = img.as_mut() {
            *n += 1;
            image_line(e, l)?;
            continue;
        }
        let (mut com, mut arg) = {
            let (c, a) = pygrub_split(l);
            (c.to_string(), a.to_string())
        };
        if com == "set" {
            (com, arg) = handle_set(&arg)?;
        }
        let arg = arg.trim().to_string();
        let arg = if arg == "${saved_entry}" || arg == "${next_entry}" {
            menu.diagnostics
                .push(LineDiag { line, message: "pygrub: saved_entry/next_entry not supported, uses 0".into() });
            "0".to_string()
        } else {
            arg
        };
        match com.as_str() {
            // setattr(self, "default", arg) goes through GrubConfigFile's
            // `_set_default`: "saved" is 0, else int(val), and a title, an
            // id or a `1>2` path is a ValueError it logs and turns into 0.
            // image_index's title search never sees a string.
            "set:default" => {
                menu.default = match python_int(&arg) {
                    _ if arg == "saved" => DefaultSpec::Index(0),
                    Some(v) if v < 0 => return Err(PygrubException::NegativeDefault),
                    Some(v) => DefaultSpec::Index(usize::try_from(v).unwrap_or(usize::MAX)),
                    None => {
                        menu.diagnostics
                            .push(LineDiag { line, message: format!("Invalid value {arg}, setting default to 0") });
                        DefaultSpec::Index(0)
                    }
                }
            }
            "set:timeout" => menu.timeout = arg.parse().ok(),
            _ => {}
        }
    }
    if img.is_some() {
        return Err(PygrubException::OpenMenuentry);
    }
    Ok(menu)
}

/// Python's `int(str)`: surrounding whitespace, an optional sign, ASCII
/// digits with single `_` between them. `None` where it raises ValueError.
fn python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    // Past i64 it is still an int in Python, and past the entries: saturate.
    let v = digits.replace('_', "").parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

/// `re.match('^menuentry ["\'](.*?)["\'] (.*){', l)`.
fn menuentry_title(l: &str) -> Option<String> {
    let rest = l.strip_prefix("menuentry ")?;
    let mut chars = rest.char_indices();
    let (_, q) = chars.next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let body = &rest[1..];
    // Lazy (.*?) then ["'] then a space, then (.*){ : the first closing
    // quote (either kind) followed by a space, with a '{' later on the line.
    for (i, c) in body.char_indices() {
        if (c == '"' || c == '\'') && body[i + 1..].starts_with(' ') && body[i + 2..].contains('{') {
            return Some(body[..i].to_string());
        }
    }
    None
}

fn new_entry(title: &str, line: usize) -> MenuEntry {
    MenuEntry::new(title.trim(), line)
}

/// `Grub2Image.set_from_line`.
fn image_line(e: &mut MenuEntry, l: &str) -> Result<(), PygrubException> {
    let (c, a) = pygrub_split(l);
    let (com, arg) = if c == "set" { handle_set(a)? } else { (c.to_string(), a.to_string()) };
    let arg = arg.trim();
    match com.as_str() {
        "set:root" => e.root = Some(arg.to_string()),
        "linux" | "linux16" => {
            let (file, args) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
            e.kernel = Some(pygrub_path(file)?);
            e.args = args.trim_start().to_string();
            e.kind = EntryKind::Linux;
        }
        "initrd" | "initrd16" => e.initrd = vec![pygrub_path(arg)?],
        _ => {}
    }
    Ok(())
}

/// `get_path`: a `(device)` prefix is parsed by `GrubDiskPart`, which
/// raises on names it cannot read as `hdN[,[msdos|gpt]M]` (e.g. `($root)`).
fn pygrub_path(s: &str) -> Result<BootPath, PygrubException> {
    let p = BootPath::parse(s);
    if let Some(dev) = &p.device {
        let inner = dev.trim_matches(['(', ')']);
        let (d, part) = inner.split_once(',').unwrap_or((inner, ""));
        let disk_ok = d.get(2..).is_some_and(|n| n.parse::<u32>().is_ok()) || d.starts_with("/dev/xvd");
        let part = part.trim_start_matches("msdos").trim_start_matches("gpt");
        if !disk_ok || (!part.is_empty() && part.parse::<u32>().is_err()) {
            return Err(PygrubException::BadDevice { device: dev.clone() });
        }
    }
    Ok(BootPath { device: None, path: p.path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_is_pythons() {
        assert_eq!(python_int(" 2 "), Some(2));
        assert_eq!(python_int("+1_0"), Some(10));
        assert_eq!(python_int("-1"), Some(-1));
        for bad in ["", "1>2", "Debian GNU/Linux", "1__0", "_1", "1_", "0x1", "1.0"] {
            assert_eq!(python_int(bad), None, "{bad:?}");
        }
    }

    /// Xen 4.17's pygrub on `set default="<title>"`: GrubConf.py logs
    /// "Invalid value …, setting default to 0" and boots entry 0, even when
    /// the title names another entry.
    #[test]
    fn title_default_is_entry_0_with_pygrubs_warning() {
        let cfg = b"set default=\"Second\"\nmenuentry 'First' {\n linux /a\n}\nmenuentry 'Second' {\n linux /b\n}\n";
        let m = parse(cfg).unwrap();
        assert_eq!(m.default, DefaultSpec::Index(0));
        assert_eq!(m.diagnostics[0].message, "Invalid value Second, setting default to 0");
        assert_eq!(m.diagnostics[0].line, 1);
        let m = parse(b"set default=saved\nmenuentry 'a' {\n}\n").unwrap();
        assert_eq!((m.default, m.diagnostics.len()), (DefaultSpec::Index(0), 0));
        assert_eq!(parse(b"set default=1\n").unwrap().default, DefaultSpec::Index(1));
        assert!(parse(b"set default=-1\n").unwrap_err().to_string().contains("non-negative"));
    }
}
