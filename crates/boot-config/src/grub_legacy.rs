//! GRUB legacy (0.97) `menu.lst` / `grub.conf`, read the way GRUB reads it.
//!
//! Sources, GRUB 0.97 (`crististm/grub-legacy`, tag grub-0.97):
//! - `stage2/stage2.c` `get_line_from_config`: `\r` dropped, tabs become
//!   spaces, backslash-newline joins lines, leading blanks skipped, `#`
//!   starts a comment only as the first character of a line, lines are cut
//!   at `NEW_HEAPSIZE` (1500) bytes.
//! - `stage2/cmdline.c` `find_command`/`skip_to`: the command name ends at
//!   a blank or `=`; the arguments start after blanks and `=` signs, so
//!   `default=0` and `default 0` are the same.
//! - `stage2/stage2.c` `cmain`: before the first `title` only BUILTIN_MENU
//!   commands run; a `title` followed by no command is dropped; unknown
//!   commands are skipped; a `default` past the last entry falls back to
//!   the first fallback entry, else to 0; fallback entries past the end are
//!   removed. The `default` file next to the menu supplies `default saved`.
//! - `stage2/builtins.c` `fallback_func`: at most `MAX_FALLBACK_ENTRIES` (8),
//!   duplicates dropped; `safe_parse_maxint` reads decimal or `0x` hex.

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::combinator::{map_res, opt, recognize};
use nom::sequence::preceded;

use crate::grub_error::GrubError;
use crate::{BootPath, DefaultSpec, Dialect, EntryKind, LineDiag, Menu, MenuEntry, MenuFormat};

/// `NEW_HEAPSIZE` in `stage2/shared.h`: the longest config line GRUB keeps.
pub const MAX_LINE: usize = 1500;
/// `MAX_FALLBACK_ENTRIES` in `stage2/shared.h`.
pub const MAX_FALLBACK: usize = 8;

/// GRUB 0.97's builtins that may appear before the first `title`
/// (flag BUILTIN_MENU in `stage2/builtins.c`), plus the distribution
/// patches' `splashimage`/`gfxmenu`, which pygrub knows too.
const MENU_COMMANDS: &[&str] = &[
    "bootp",
    "color",
    "default",
    "device",
    "dhcp",
    "fallback",
    "hiddenmenu",
    "hide",
    "ifconfig",
    "pager",
    "partnew",
    "parttype",
    "password",
    "rarp",
    "serial",
    "setkey",
    "terminal",
    "terminfo",
    "tftpserver",
    "timeout",
    "unhide",
    "splashimage",
    "gfxmenu",
];

/// Builtins that run inside an entry (BUILTIN_CMDLINE).
pub const ENTRY_COMMANDS: &[&str] = &[
    "blocklist",
    "boot",
    "bootp",
    "cat",
    "chainloader",
    "cmp",
    "color",
    "configfile",
    "debug",
    "device",
    "dhcp",
    "displayapm",
    "displaymem",
    "dump",
    "embed",
    "find",
    "fstest",
    "geometry",
    "halt",
    "help",
    "hide",
    "ifconfig",
    "impsprobe",
    "initrd",
    "install",
    "ioprobe",
    "kernel",
    "lock",
    "makeactive",
    "map",
    "md5crypt",
    "module",
    "modulenounzip",
    "pager",
    "partnew",
    "parttype",
    "password",
    "pause",
    "quit",
    "rarp",
    "read",
    "reboot",
    "root",
    "rootnoverify",
    "savedefault",
    "serial",
    "setkey",
    "setup",
    "terminal",
    "terminfo",
    "testload",
    "testvbe",
    "tftpserver",
    "unhide",
    "uppermem",
    "vbeprobe",
];

/// One logical line after GRUB's line rules, with the number of the
/// physical line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLine {
    pub line: usize,
    pub text: String,
}

/// Splits a config file into GRUB's logical lines (see the module docs).
pub fn logical_lines(data: &[u8]) -> Vec<ConfigLine> {
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let (mut literal, mut comment) = (false, false);
    let mut line_no = 1;
    let mut start_line = 1;
    for &byte in data {
        let mut c = byte;
        if c == b'\r' {
            continue;
        }
        if c == b'\t' {
            c = b' ';
        }
        if literal {
            if c == b'\n' {
                c = b' ';
                cur.pop();
                line_no += 1;
                literal = false;
                if cur.len() < MAX_LINE {
                    cur.push(c);
                }
                continue;
            }
            literal = false;
        }
        if c == b'\\' {
            literal = true;
        }
        if comment {
            if c == b'\n' {
                comment = false;
                line_no += 1;
            }
        } else if cur.is_empty() {
            if c == b'#' {
                comment = true;
            } else if c == b'\n' {
                line_no += 1;
            } else if c != b' ' {
                start_line = line_no;
                cur.push(c);
            }
        } else if c == b'\n' {
            out.push(ConfigLine { line: start_line, text: String::from_utf8_lossy(&cur).into_owned() });
            cur.clear();
            line_no += 1;
        } else if cur.len() < MAX_LINE {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(ConfigLine { line: start_line, text: String::from_utf8_lossy(&cur).into_owned() });
    }
    out
}

/// pygrub's line rules: each physical line stripped; empty lines and lines
/// starting with `#` skipped; no continuation; tabs count as blanks.
fn pygrub_lines(data: &[u8]) -> Vec<ConfigLine> {
    String::from_utf8_lossy(data)
        .split('\n')
        .enumerate()
        .map(|(i, l)| ConfigLine { line: i + 1, text: l.trim().replace('\t', " ") })
        .filter(|l| !l.text.is_empty() && !l.text.starts_with('#'))
        .collect()
}

/// pygrub's `grub_split(s, 2)`: split at the first `=` when it comes
/// before the first blank, else at the first run of blanks; the argument is
/// stripped (`GrubConf.py`).
pub fn pygrub_split(text: &str) -> (&str, &str) {
    let eq = text.find('=');
    let blank = text.find([' ', '\t']);
    match (eq, blank) {
        (Some(e), b) if b.is_none_or(|b| e < b) => (&text[..e], text[e + 1..].trim()),
        (_, Some(b)) => (&text[..b], text[b..].trim()),
        _ => (text, ""),
    }
}

fn push_entry(menu: &mut Menu, mut e: MenuEntry) {
    e.index = menu.entries.len();
    e.position = vec![e.index];
    if e.kind == EntryKind::Empty && e.kernel.is_some() {
        e.kind = EntryKind::Linux;
    }
    menu.entries.push(e);
}

/// One line as `GrubConfigFile.parse` and `GrubImage.set_from_line` read it.
fn pygrub_line(menu: &mut Menu, current: &mut Option<(MenuEntry, usize)>, text: &str, line: usize) {
    if let Some(rest) = text.strip_prefix("title") {
        // `title = l[6:]`, then stripped; every earlier image is kept, even empty.
        if let Some((e, _)) = current.take() {
            push_entry(menu, e);
        }
        let title = rest.get(1..).unwrap_or("").trim();
        *current = Some((new_entry(title, line), 0));
        return;
    }
    let (name, arg) = pygrub_split(text);
    let Some((e, n)) = current.as_mut() else {
        match name {
            "default" => {
                menu.default = match arg {
                    "saved" => DefaultSpec::Saved,
                    _ => match arg.parse::<i64>() {
                        Ok(v) if v >= 0 => DefaultSpec::Index(v as usize),
                        _ => {
                            menu.diagnostics
                                .push(LineDiag { line, message: format!("pygrub: invalid default {arg:?}, uses 0") });
                            DefaultSpec::Index(0)
                        }
                    },
                }
            }
            "timeout" => menu.timeout = arg.parse().ok(),
            "fallback" => menu.fallback = arg.split_whitespace().filter_map(|f| f.parse().ok()).collect(),
            "hiddenmenu" => menu.hidden_menu = true,
            "password" => menu.password = true,
            _ => {}
        }
        return;
    };
    *n += 1;
    match name {
        "root" | "rootnoverify" => e.root = Some(arg.to_string()),
        "kernel" => {
            // set_kernel: no blank → the path alone, args None.
            let (file, args) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
            e.kernel = Some(BootPath::parse(file));
            e.args = args.trim_start().to_string();
            e.kind = EntryKind::Linux;
        }
        // set_initrd(get_path(val)): the whole argument is the path.
        "initrd" => e.initrd = vec![BootPath::parse(arg)],
        // "chainloader" and "module" are listed as ignored directives.
        _ => {}
    }
}

/// Splits a logical line into its command name and argument string
/// (`find_command` + `skip_to(1, …)`).
pub fn split_command(text: &str) -> (&str, &str) {
    let name_end = text.find([' ', '=']).unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    (name, rest.trim_start_matches([' ', '=']))
}

/// `safe_parse_maxint`: decimal, or hex after `0x`; the rest of the input
/// is returned. `None` when no digit is found or the value overflows i32.
pub fn parse_maxint(input: &str) -> Option<(u32, &str)> {
    fn digits(i: &str) -> IResult<&str, u32> {
        let hex = map_res(preceded(tag_no_case("0x"), take_while1(|c: char| c.is_ascii_hexdigit())), |h: &str| {
            u32::from_str_radix(h, 16)
        });
        let dec = map_res(take_while1(|c: char| c.is_ascii_digit()), str::parse::<u32>);
        nom::branch::alt((hex, dec)).parse(i)
    }
    match digits(input) {
        Ok((rest, v)) if v <= i32::MAX as u32 => Some((v, rest)),
        _ => None,
    }
}

/// The options `kernel` accepts before the file name (`kernel_func`).
fn kernel_options(arg: &str) -> IResult<&str, Vec<&str>> {
    nom::multi::many0(nom::sequence::terminated(
        recognize((nom::bytes::complete::tag("--"), take_while1(|c: char| c != ' '))),
        take_while(|c| c == ' '),
    ))
    .parse(arg)
}

/// Splits `FILE ARGS…` into the file and the rest (GRUB hands the rest to
/// Linux as its command line, without the file name).
fn file_and_args(arg: &str) -> (BootPath, String) {
    let (file, args) = match arg.split_once(' ') {
        Some((f, a)) => (f, a.trim_start_matches(' ')),
        None => (arg, ""),
    };
    (BootPath::parse(file), args.to_string())
}

/// Parses a menu. `saved_default` is the number in the `default` file next
/// to the menu, when there is one (`None` reads as 0, as GRUB does).
pub fn parse(data: &[u8]) -> Menu {
    parse_dialect(data, Dialect::Native)
}

/// Parses a menu the way `dialect` reads it.
pub fn parse_dialect(data: &[u8], dialect: Dialect) -> Menu {
    let mut menu = Menu::new(MenuFormat::GrubLegacy);
    let mut current: Option<(MenuEntry, usize)> = None; // entry, commands seen
    let finish = |menu: &mut Menu, cur: Option<(MenuEntry, usize)>| {
        if let Some((mut e, commands)) = cur {
            if commands == 0 {
                menu.diagnostics.push(LineDiag {
                    line: e.line,
                    message: format!("title {:?} has no commands: GRUB drops it from the menu", e.title),
                });
            } else {
                e.index = menu.entries.len();
                e.position = vec![e.index];
                if e.kind == EntryKind::Empty && e.kernel.is_some() {
                    e.kind = EntryKind::Linux;
                }
                menu.entries.push(e);
            }
        }
    };
    let lines = match dialect {
        Dialect::Native => logical_lines(data),
        Dialect::Pygrub => pygrub_lines(data),
    };
    for ConfigLine { line, text } in lines {
        if dialect == Dialect::Pygrub {
            pygrub_line(&mut menu, &mut current, &text, line);
            continue;
        }
        let (name, arg) = split_command(&text);
        if name == "title" {
            finish(&mut menu, current.take());
            current = Some((new_entry(arg, line), 0));
            continue;
        }
        let Some((entry, commands)) = current.as_mut() else {
            global_command(&mut menu, name, arg, line);
            continue;
        };
        if !ENTRY_COMMANDS.contains(&name) {
            let message = if MENU_COMMANDS.contains(&name) {
                format!("`{name}` is a menu command; inside an entry GRUB fails with {}", GrubError::Unrecognized)
            } else {
                format!("unknown command `{name}` (GRUB skips it)")
            };
            menu.diagnostics.push(LineDiag { line, message });
            if !MENU_COMMANDS.contains(&name) {
                continue;
            }
        }
        *commands += 1;
        entry_command(&mut menu.diagnostics, entry, name, arg, line);
    }
    if dialect == Dialect::Pygrub {
        // GrubConfigFile.parse adds the last image only when it has lines.
        if let Some((e, n)) = current.take()
            && n > 0
        {
            push_entry(&mut menu, e);
        }
        return menu;
    }
    finish(&mut menu, current.take());
    // cmain: drop fallback entries past the end.
    let n = menu.entries.len();
    menu.fallback.retain(|&f| f < n);
    menu
}

fn new_entry(title: &str, line: usize) -> MenuEntry {
    MenuEntry::new(title, line)
}

fn global_command(menu: &mut Menu, name: &str, arg: &str, line: usize) {
    let diag = |menu: &mut Menu, message: String| menu.diagnostics.push(LineDiag { line, message });
    match name {
        "default" => {
            if arg.starts_with("saved") && arg[5..].trim().is_empty() {
                menu.default = DefaultSpec::Saved;
            } else {
                match parse_maxint(arg) {
                    Some((n, _)) => menu.default = DefaultSpec::Index(n as usize),
                    None => diag(menu, format!("default {arg:?}: {}", GrubError::NumberParsing)),
                }
            }
        }
        "timeout" => match parse_maxint(arg) {
            Some((n, _)) => menu.timeout = Some(u64::from(n)),
            None => diag(menu, format!("timeout {arg:?}: {}", GrubError::NumberParsing)),
        },
        "fallback" => {
            let mut list = Vec::new();
            let mut rest = arg;
            while !rest.is_empty() {
                let Some((n, after)) = parse_maxint(rest) else {
                    diag(menu, format!("fallback {arg:?}: {}", GrubError::NumberParsing));
                    break;
                };
                if !list.contains(&(n as usize)) {
                    list.push(n as usize);
                    if list.len() == MAX_FALLBACK {
                        break;
                    }
                }
                // skip_to(0, …): to the next blank, then past blanks.
                let after = after.find(' ').map_or("", |i| &after[i..]);
                rest = after.trim_start_matches(' ');
            }
            menu.fallback = list;
        }
        "hiddenmenu" => menu.hidden_menu = true,
        "password" => menu.password = true,
        _ if MENU_COMMANDS.contains(&name) => {}
        _ if ENTRY_COMMANDS.contains(&name) => {
            diag(menu, format!("`{name}` before the first title is ignored (GRUB runs only menu commands there)"))
        }
        _ => diag(menu, format!("unknown command `{name}` (GRUB skips it)")),
    }
}

fn entry_command(diags: &mut Vec<LineDiag>, e: &mut MenuEntry, name: &str, arg: &str, line: usize) {
    match name {
        "root" | "rootnoverify" => {
            // `root DEVICE [HDBIAS]`: only the device matters here.
            e.root = Some(arg.split(' ').next().unwrap_or("").to_string());
        }
        "kernel" => {
            let (rest, options) = kernel_options(arg).unwrap_or((arg, Vec::new()));
            if rest.is_empty() {
                diags.push(LineDiag { line, message: "kernel without a file name".into() });
                return;
            }
            let (file, args) = file_and_args(rest);
            e.kernel = Some(file);
            e.args = args;
            let multiboot = options.iter().any(|o| o.contains("multiboot"));
            e.kind = if multiboot { EntryKind::Multiboot } else { EntryKind::Linux };
        }
        "initrd" => {
            let (file, _) = file_and_args(arg);
            e.initrd = vec![file];
        }
        "module" | "modulenounzip" => {
            let (file, _) = file_and_args(arg);
            e.modules.push(file);
            e.kind = EntryKind::Multiboot;
        }
        "chainloader" => {
            let arg = arg.strip_prefix("--force").map_or(arg, |a| a.trim_start());
            e.kernel = Some(BootPath::parse(arg.split(' ').next().unwrap_or("")));
            e.kind = EntryKind::Chainloader;
        }
        "savedefault" => e.savedefault = true,
        _ => {}
    }
}

/// Reads GRUB legacy's `default` file (`stage2.c`: the first 10 bytes,
/// `safe_parse_maxint`); anything unparsable is 0, as in GRUB.
pub fn parse_default_file(data: &[u8]) -> usize {
    let head = &data[..data.len().min(9)];
    let text = String::from_utf8_lossy(head);
    parse_maxint(&text).map_or(0, |(n, _)| n as usize)
}

/// A device name `(hdN)`, `(hdN,M)` or `(hdN,M,a)` (BSD slice ignored).
pub fn parse_device(text: &str) -> Option<(u32, Option<u32>)> {
    fn dev(i: &str) -> IResult<&str, (u32, Option<u32>)> {
        let num = |i| map_res(take_while1(|c: char| c.is_ascii_digit()), str::parse::<u32>).parse(i);
        let (i, _) = nom::bytes::complete::tag("(hd")(i)?;
        let (i, disk) = num(i)?;
        let (i, part) = opt(preceded(nom::bytes::complete::tag(","), num)).parse(i)?;
        let (i, _) =
            opt(preceded(nom::bytes::complete::tag(","), take_while1(|c: char| c.is_ascii_lowercase()))).parse(i)?;
        let (i, _) = nom::bytes::complete::tag(")")(i)?;
        Ok((i, (disk, part)))
    }
    match dev(text) {
        Ok(("", v)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_get_line_from_config() {
        let lines = logical_lines(b"# c\n\t  default=1 # not a comment\r\nkernel /vmlinuz \\\n  ro\n\n  #x\ntitle  T");
        let texts: Vec<_> = lines.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(texts, vec![(2, "default=1 # not a comment"), (3, "kernel /vmlinuz    ro"), (7, "title  T")]);
    }

    #[test]
    fn commands_split_on_blank_or_equals() {
        assert_eq!(split_command("default=0"), ("default", "0"));
        assert_eq!(split_command("timeout = 5"), ("timeout", "5"));
        assert_eq!(split_command("title  Amazon Linux"), ("title", "Amazon Linux"));
        assert_eq!(split_command("hiddenmenu"), ("hiddenmenu", ""));
    }

    #[test]
    fn numbers_are_decimal_or_hex_like_safe_parse_maxint() {
        assert_eq!(parse_maxint("12 x"), Some((12, " x")));
        assert_eq!(parse_maxint("0x1f"), Some((31, "")));
        assert_eq!(parse_maxint("saved"), None);
        assert_eq!(parse_maxint("99999999999"), None);
    }

    #[test]
    fn titles_without_commands_vanish_and_fallbacks_are_pruned() {
        let m = parse(b"default 5\nfallback 1 1 9 0\ntitle empty\ntitle one\nroot (hd0)\nkernel /k a=b\ntitle two\nkernel (hd0,1)/k2\ninitrd /i\n");
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].title, "one");
        assert_eq!(m.entries[0].args, "a=b");
        assert_eq!(m.entries[1].kernel.as_ref().unwrap().device.as_deref(), Some("(hd0,1)"));
        assert_eq!(m.fallback, vec![1, 0]);
        assert_eq!(m.default, DefaultSpec::Index(5));
        assert!(m.diagnostics.iter().any(|d| d.line == 3 && d.message.contains("drops")));
    }

    #[test]
    fn devices_parse() {
        assert_eq!(parse_device("(hd0)"), Some((0, None)));
        assert_eq!(parse_device("(hd0,4)"), Some((0, Some(4))));
        assert_eq!(parse_device("(hd1,0,a)"), Some((1, Some(0))));
        assert_eq!(parse_device("(fd0)"), None);
    }
}
