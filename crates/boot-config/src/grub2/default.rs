//! From a GRUB 2 menu to what boots: the `default` path
//! (`normal/menu.c` `get_entry_number`, `menuentry_eq`), `grub_strtoul`'s
//! reading of numbers, and the Linux command line the loader passes
//! (`loader/i386/linux.c`, `lib/cmdline.c`).

use super::*;
use crate::grub_num::{strtoul, strtoul_overflows};
use crate::{DefaultSpec, EntryKind, Menu, MenuEntry, Submenu};

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
pub(super) fn rest_after_gt(spec: &str) -> Option<&str> {
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

pub(super) fn walk(menu: &Menu, spec: &str, strict: bool) -> Option<usize> {
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
