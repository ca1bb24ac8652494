//! EFI System Partitions: the `EFI/<distro>/grub.cfg` stubs `grub-install
//! --target=x86_64-efi` writes next to grubx64.efi (`util/grub-install.c`:
//! `search.fs_uuid UUID root`, `set prefix=($root)'/boot/grub'`,
//! `configfile $prefix/grub.cfg`), and where they lead: the `search` run
//! over this disk's volumes and the `configfile` path checked on the
//! volume it finds. Only these three commands (and `search` in its
//! `--fs-uuid`/`--label`/`--file` forms with `--set`) are followed: the
//! stub's job; the full evaluator reads the real grub.cfg.

use serde::Serialize;

use disk_image::disk::Disk;
use disk_image::fs::{self, Filesystem, NodeKind};

/// Largest stub read.
const MAX_STUB: u64 = 64 << 10;
/// Distribution directories under /EFI looked at.
const MAX_DIRS: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct EspStub {
    /// `/EFI/debian/grub.cfg`, as the directory spells it.
    pub path: String,
    /// What its `search` looks for: `fs-uuid 1234…`, `label root`, `file /x`.
    pub search: Option<String>,
    /// The volume that `search` finds here (GRUB 2 name and Linux name).
    pub finds: Option<String>,
    /// `$prefix` after the stub's `set prefix=`.
    pub prefix: Option<String>,
    /// The `configfile` argument, variables expanded: the real grub.cfg.
    pub configfile: Option<String>,
    /// Whether that file exists on the volume it names.
    pub target_exists: Option<bool>,
}

fn unquote(s: &str) -> String {
    s.chars().filter(|&c| c != '\'' && c != '"').collect()
}

fn expand(s: &str, vars: &[(String, String)]) -> String {
    let mut out = unquote(s);
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
    }
    out
}

fn set_var(vars: &mut Vec<(String, String)>, k: &str, v: String) {
    vars.retain(|(x, _)| x != k);
    vars.push((k.to_string(), v));
}

/// The GRUB 2 device (`hd0,gpt3`, `lvm/vg-root`) whose filesystem matches.
fn search(disk: &Disk, kind: &str, value: &str) -> Option<(String, String)> {
    disk.volumes().iter().find_map(|v| {
        let hit = match kind {
            "fs-uuid" => {
                disk.probe(v).ok().flatten().and_then(|p| p.uuid).is_some_and(|u| u.eq_ignore_ascii_case(value))
            }
            "label" => disk.probe(v).ok().flatten().and_then(|p| p.label).as_deref() == Some(value),
            _ => disk.open_fs(v).ok().is_some_and(|fs| fs::resolve(&*fs, value, 8).is_ok()),
        };
        hit.then(|| (v.names.grub2.trim_matches(['(', ')']).to_string(), v.names.linux.clone()))
    })
}

/// Reads one stub and follows it.
fn follow(disk: &Disk, path: &str, text: &str) -> EspStub {
    let mut stub =
        EspStub { path: path.into(), search: None, finds: None, prefix: None, configfile: None, target_exists: None };
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in text.lines().take(1000) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(cmd) = words.first() else { continue };
        if cmd.starts_with('#') {
            continue;
        }
        let args: Vec<String> = words[1..].iter().map(|w| expand(w, &vars)).collect();
        match *cmd {
            "search.fs_uuid" | "search.fs_label" | "search.file" if !args.is_empty() => {
                let kind = match *cmd {
                    "search.fs_uuid" => "fs-uuid",
                    "search.fs_label" => "label",
                    _ => "file",
                };
                let var = args.get(1).cloned().unwrap_or_else(|| "root".into());
                stub.search = Some(format!("{kind} {}", args[0]));
                if let Some((dev, linux)) = search(disk, kind, &args[0]) {
                    stub.finds = Some(format!("({dev}) {linux}"));
                    set_var(&mut vars, &var, dev);
                }
            }
            "search" => {
                let mut kind = "file";
                let mut var = "root".to_string();
                let mut value = None;
                for a in &args {
                    match a.as_str() {
                        "--fs-uuid" | "-u" => kind = "fs-uuid",
                        "--label" | "-l" => kind = "label",
                        "--file" | "-f" => kind = "file",
                        s if s.starts_with("--set=") => var = s["--set=".len()..].to_string(),
                        s if s.starts_with('-') => {}
                        s => value = value.or(Some(s.to_string())),
                    }
                }
                if let Some(value) = value {
                    stub.search = Some(format!("{kind} {value}"));
                    if let Some((dev, linux)) = search(disk, kind, &value) {
                        stub.finds = Some(format!("({dev}) {linux}"));
                        set_var(&mut vars, &var, dev);
                    }
                }
            }
            "set" => {
                if let Some((k, v)) = words.get(1..).map(|w| w.join(" ")).as_deref().and_then(|a| a.split_once('=')) {
                    let v = expand(v, &vars);
                    if k == "prefix" {
                        stub.prefix = Some(v.clone());
                    }
                    set_var(&mut vars, k, v);
                }
            }
            "configfile" | "source" if !args.is_empty() => {
                let target = args[0].clone();
                stub.target_exists = target_exists(disk, &target, &vars);
                stub.configfile = Some(target);
            }
            _ => {}
        }
    }
    stub
}

/// `(dev)/path` or `/path` (on `$root`) exists as a file.
fn target_exists(disk: &Disk, target: &str, vars: &[(String, String)]) -> Option<bool> {
    let (dev, path) = match target.strip_prefix('(').and_then(|r| r.split_once(')')) {
        Some((d, p)) => (d.to_string(), p.to_string()),
        None => (vars.iter().find(|(k, _)| k == "root")?.1.clone(), target.to_string()),
    };
    let v = disk.volume(&format!("({dev})"))?;
    let fs = disk.open_fs(&v).ok()?;
    Some(fs::resolve(&*fs, &path, 8).is_ok_and(|r| r.node.kind == NodeKind::File))
}

/// The `EFI/*/grub.cfg` stubs of a FAT volume (names matched
/// case-insensitively, as FAT and GRUB do).
pub fn find_stubs(disk: &Disk, fs: &dyn Filesystem) -> Vec<EspStub> {
    let mut out = Vec::new();
    let Ok(top) = fs.list_dir("/") else { return out };
    let Some(efi) = top.iter().find(|e| e.kind == NodeKind::Directory && e.name.eq_ignore_ascii_case("EFI")) else {
        return out;
    };
    let Ok(dirs) = fs.list_dir(&format!("/{}", efi.name)) else { return out };
    for d in dirs.iter().filter(|d| d.kind == NodeKind::Directory).take(MAX_DIRS) {
        let dir = format!("/{}/{}", efi.name, d.name);
        let Ok(files) = fs.list_dir(&dir) else { continue };
        for f in files.iter().filter(|f| f.kind == NodeKind::File && f.name.eq_ignore_ascii_case("grub.cfg")) {
            let path = format!("{dir}/{}", f.name);
            if let Ok(data) = fs.read_file(&path, MAX_STUB) {
                out.push(follow(disk, &path, &String::from_utf8_lossy(&data)));
            }
        }
    }
    out
}
