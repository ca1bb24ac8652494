//! extlinux / syslinux / isolinux configuration (`doc/syslinux.txt`,
//! `com32/menu/readconfig.c` in syslinux 6): case-insensitive keywords,
//! `LABEL` entries with `KERNEL`/`LINUX`, `APPEND`, `INITRD`, `MENU LABEL`,
//! `MENU DEFAULT`; globals `DEFAULT`, `TIMEOUT` (tenths of a second),
//! `ONTIMEOUT`, `PROMPT`, and a global `APPEND` inherited by labels without
//! their own. Relative file names are relative to the config file's
//! directory (syslinux 5+ makes that directory the working directory).
//!
//! pygrub (`grub/ExtLinuxConf.py`) differs: it ignores `INITRD` lines (only
//! `initrd=` inside `APPEND` counts), ignores `MENU LABEL`/`MENU DEFAULT`
//! and `ONTIMEOUT`, and uses the `LABEL` as the title.

use crate::{BootPath, DefaultSpec, Dialect, EntryKind, LineDiag, Menu, MenuEntry, MenuFormat};

/// Keywords syslinux knows that do not change what boots.
const IGNORED: &[&str] = &[
    "prompt",
    "display",
    "serial",
    "console",
    "font",
    "kbdmap",
    "say",
    "noescape",
    "nocomplete",
    "allowoptions",
    "implicit",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "f6",
    "f7",
    "f8",
    "f9",
    "f10",
    "f11",
    "f12",
    "ui",
    "totaltimeout",
    "ipappend",
    "sysappend",
    "localboot",
    "path",
    "include",
    "menu",
];

struct Pending {
    entry: MenuEntry,
    has_append: bool,
    menu_default: bool,
}

/// Parses an extlinux config. `config_dir` is the directory holding the
/// file (for relative kernel and initrd names).
pub fn parse(data: &[u8], config_dir: &str) -> Menu {
    parse_dialect(data, config_dir, Dialect::Native)
}

/// Parses a config as `dialect` reads it. pygrub's `ExtLinuxConfigFile`:
/// only `KERNEL` (not `LINUX`) names the kernel, `INITRD` and `MENU` lines
/// and a global `APPEND` are ignored, names are kept as written, the title
/// is the label, and the default is the `DEFAULT` label.
pub fn parse_dialect(data: &[u8], config_dir: &str, dialect: Dialect) -> Menu {
    let pygrub = dialect == Dialect::Pygrub;
    let config_dir = if pygrub { "" } else { config_dir };
    let mut menu = Menu::new(MenuFormat::Extlinux);
    let text = String::from_utf8_lossy(data);
    let mut global_append: Option<String> = None;
    let mut default_label: Option<String> = None;
    let mut ontimeout: Option<String> = None;
    let mut menu_default: Option<usize> = None;
    let mut cur: Option<Pending> = None;
    let mut done: Vec<Pending> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (kw, arg) = match l.split_once(char::is_whitespace) {
            Some((k, a)) => (k.to_ascii_lowercase(), a.trim()),
            None => (l.to_ascii_lowercase(), ""),
        };
        match (kw.as_str(), cur.as_mut()) {
            ("label", _) => {
                done.extend(cur.take());
                cur = Some(Pending { entry: new_entry(arg, line), has_append: false, menu_default: false });
            }
            ("linux" | "boot" | "bss" | "pxe" | "fdimage" | "comboot" | "com32" | "config", Some(_)) if pygrub => {}
            ("initrd" | "menu", Some(_)) if pygrub => {}
            ("append", None) if pygrub => {}
            ("kernel" | "linux" | "boot" | "bss" | "pxe" | "fdimage" | "comboot" | "com32" | "config", Some(p)) => {
                let (file, args) = match arg.split_once(char::is_whitespace) {
                    Some((f, a)) => (f, a.trim()),
                    None => (arg, ""),
                };
                p.entry.kernel = Some(relative(file, config_dir));
                if !args.is_empty() {
                    p.entry.args = args.to_string();
                }
                p.entry.kind = if kw == "kernel" || kw == "linux" { EntryKind::Linux } else { EntryKind::Chainloader };
            }
            ("append", Some(p)) => {
                p.has_append = true;
                if arg != "-" {
                    p.entry.args = arg.to_string();
                }
            }
            ("append", None) => global_append = Some(arg.to_string()),
            ("initrd", Some(p)) => {
                p.entry.initrd =
                    arg.split(',').filter(|s| !s.is_empty()).map(|f| relative(f.trim(), config_dir)).collect();
            }
            ("menu", Some(p)) => {
                let (sub, rest) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
                match sub.to_ascii_lowercase().as_str() {
                    "label" => p.entry.title = rest.trim().replace('^', ""),
                    "default" => p.menu_default = true,
                    _ => {}
                }
            }
            ("default", None) => default_label = Some(arg.to_string()),
            ("ontimeout", None) => ontimeout = Some(arg.to_string()),
            ("timeout", None) => match arg.parse::<u64>() {
                // TIMEOUT 0 means wait forever; otherwise tenths, rounded up.
                Ok(0) => menu.timeout = None,
                Ok(t) => menu.timeout = Some(t.div_ceil(10)),
                Err(_) => menu.diagnostics.push(LineDiag { line, message: format!("TIMEOUT {arg:?} is not a number") }),
            },
            (k, _) if IGNORED.contains(&k) => {}
            (k, Some(_)) if matches!(k, "default" | "timeout" | "ontimeout") => {
                menu.diagnostics.push(LineDiag { line, message: format!("{k} inside LABEL {:?} applies globally", k) })
            }
            (k, _) => menu.diagnostics.push(LineDiag { line, message: format!("unknown keyword `{k}`") }),
        }
    }
    done.extend(cur.take());
    for (i, mut p) in done.into_iter().enumerate() {
        if !p.has_append
            && let Some(g) = &global_append
        {
            p.entry.args = g.clone();
        }
        // `initrd=` inside APPEND is how syslinux passes initrds, too.
        let mut kept = Vec::new();
        for word in p.entry.args.split_whitespace() {
            match word.strip_prefix("initrd=") {
                Some(list) if p.entry.initrd.is_empty() => {
                    p.entry.initrd =
                        list.split(',').filter(|s| !s.is_empty()).map(|f| relative(f, config_dir)).collect()
                }
                _ => kept.push(word),
            }
        }
        p.entry.args = kept.join(" ");
        if p.menu_default {
            menu_default = Some(i);
        }
        p.entry.index = i;
        p.entry.position = vec![i];
        menu.entries.push(p.entry);
    }
    if pygrub {
        ontimeout = None;
        menu_default = None;
    }
    menu.default = if let Some(label) =
        ontimeout.or_else(|| menu_default.and_then(|i| menu.entries[i].id.clone()).or(default_label))
    {
        DefaultSpec::Name(label)
    } else {
        DefaultSpec::Unset
    };
    menu
}

fn new_entry(label: &str, line: usize) -> MenuEntry {
    MenuEntry { id: Some(label.to_string()), ..MenuEntry::new(label, line) }
}

fn relative(file: &str, dir: &str) -> BootPath {
    if file.starts_with('/') || dir.is_empty() {
        BootPath { device: None, path: file.to_string() }
    } else {
        let dir = dir.trim_end_matches('/');
        BootPath { device: None, path: format!("{dir}/{file}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpine_style_config() {
        let cfg = b"DEFAULT lts\nPROMPT 0\nTIMEOUT 30\nMENU TITLE Alpine\nLABEL lts\n  MENU LABEL Linux lts\n  LINUX vmlinuz-lts\n  INITRD initramfs-lts\n  APPEND root=UUID=x modules=ext4 quiet\nlabel rescue\n kernel /boot/vmlinuz-lts\n append initrd=/boot/initramfs-lts single\n";
        let m = parse(cfg, "/boot/extlinux");
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].title, "Linux lts");
        assert_eq!(m.entries[0].kernel.as_ref().unwrap().path, "/boot/extlinux/vmlinuz-lts");
        assert_eq!(m.entries[0].initrd[0].path, "/boot/extlinux/initramfs-lts");
        assert_eq!(m.entries[1].initrd[0].path, "/boot/initramfs-lts");
        assert_eq!(m.entries[1].args, "single");
        assert_eq!(m.default, DefaultSpec::Name("lts".into()));
        assert_eq!(m.timeout, Some(3));
    }

    #[test]
    fn global_append_and_menu_default() {
        let m = parse(b"APPEND console=ttyS0\nLABEL a\nKERNEL /a\nLABEL b\nKERNEL /b\nAPPEND -\nMENU DEFAULT\n", "/");
        assert_eq!(m.entries[0].args, "console=ttyS0");
        assert_eq!(m.entries[1].args, "");
        assert_eq!(m.default, DefaultSpec::Name("b".into()));
    }
}
