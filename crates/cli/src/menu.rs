//! `boot-sim menu IMAGE [--loader L] [--entry N|TITLE] [--json]`.

use std::io::Write;
use std::path::Path;

use boot_config::discover::{self, Discovery, FileHit, Loader, ProbeOutcome};
use boot_config::fs_support;
use boot_config::select::{self, BootChoice, EntryRequest};
use boot_config::{DefaultSpec, MenuFormat};
use disk_image::Disk;
use serde_json::json;

use crate::output::{Exit, Out, human_size};

pub fn run(
    out: &mut Out,
    image: &Path,
    loaders: &[Loader],
    entry: Option<&str>,
    offset: Option<u64>,
    as_json: bool,
) -> Result<(), Exit> {
    // Each volume opened once for all the lookups below (pygrub's config
    // search, then its and GRUB's look at the chosen entry's files).
    let disk = Disk::open_memoized(image)?;
    let request = entry.map_or(EntryRequest::Default, EntryRequest::parse);
    if offset.is_some() && loaders != [Loader::Pygrub] {
        return Err(Exit::Error("--offset is pygrub's option: use it with --loader pygrub".into()));
    }
    let mut any_ok = false;
    for (i, &loader) in loaders.iter().enumerate() {
        let d = match offset {
            Some(off) => discover::discover_pygrub_at(&disk, off).map_err(|e| Exit::Error(e.to_string()))?,
            None => discover::discover(&disk, loader),
        };
        let choice = select::choose(&disk, &d, &request);
        any_ok |= choice.is_ok();
        if as_json {
            render_json(out, &d, &choice)?;
        } else {
            if i > 0 {
                writeln!(out)?;
            }
            render_text(out, &d, &choice, no_menu_hint(&disk, &d))?;
        }
    }
    if any_ok { Ok(()) } else { Err(Exit::NotBootable) }
}

fn format_name(f: MenuFormat) -> &'static str {
    match f {
        MenuFormat::GrubLegacy => "GRUB legacy",
        MenuFormat::Grub2 => "GRUB 2",
        MenuFormat::Bls => "BLS",
        MenuFormat::Extlinux => "extlinux",
    }
}

fn hit(h: &FileHit) -> String {
    let link = if h.resolved_path != h.path { format!(" -> {}", h.resolved_path) } else { String::new() };
    format!("{}{}{link} ({}, {})", h.device, h.path, h.linux, human_size(h.size))
}

/// When a loader finds no menu, which other loader would.
fn no_menu_hint(disk: &Disk, d: &Discovery) -> Option<String> {
    if d.config.is_some() {
        return None;
    }
    let others: Vec<String> = Loader::ALL
        .into_iter()
        .filter(|&l| l != d.loader)
        .filter_map(|l| {
            let o = discover::discover(disk, l);
            o.config.map(|c| format!("--loader {} finds {}{}", l.name(), c.file.device, c.file.path))
        })
        .collect();
    if !others.is_empty() {
        return Some(others.join("; "));
    }
    // Nobody finds a menu: the menu is on an LV no PV loader reads, or on
    // a filesystem this loader cannot read (and who can).
    Some(
        boot_config::configs::lvm_hint(disk)
            .or_else(|| fs_support::unreadable_hint(disk, d.loader.fs_reader(), d.loader.name()))
            .unwrap_or_else(|| "no loader boot-sim models finds a menu on this image".into()),
    )
}

fn render_text(
    out: &mut Out,
    d: &Discovery,
    choice: &Result<BootChoice, select::SelectError>,
    hint: Option<String>,
) -> Result<(), Exit> {
    writeln!(out, "Loader {}:", d.loader.name())?;
    for p in &d.probes {
        let what = match &p.outcome {
            ProbeOutcome::Found => "found".to_string(),
            ProbeOutcome::Missing => "not there".to_string(),
            ProbeOutcome::Failed { error: Some(e), detail } => format!("{e} — {detail}"),
            ProbeOutcome::Failed { error: None, detail } => detail.clone(),
        };
        writeln!(out, "  looked at {}{}: {what}", p.device, p.path)?;
    }
    let Some(cfg) = &d.config else {
        writeln!(out, "No menu found.")?;
        if let Some(h) = hint {
            writeln!(out, "hint: {h}")?;
        }
        return Ok(());
    };
    let m = &cfg.menu;
    writeln!(out, "Menu {} ({}):", hit(&cfg.file), format_name(cfg.format))?;
    let default = match &m.default {
        DefaultSpec::Unset => "none (first entry)".to_string(),
        DefaultSpec::Index(i) => i.to_string(),
        DefaultSpec::Saved => format!(
            "saved ({})",
            cfg.saved_default.map_or("no default file".into(), |v| format!("default file says {v}"))
        ),
        DefaultSpec::Name(n) => format!("{n:?}"),
    };
    let timeout = m.timeout.map_or("none (waits for a key)".to_string(), |t| format!("{t} s"));
    let mut flags = Vec::new();
    if m.hidden_menu {
        flags.push("hidden menu".to_string());
    }
    if !m.fallback.is_empty() {
        flags.push(format!("fallback {:?}", m.fallback));
    }
    if m.password {
        flags.push("password-protected".into());
    }
    let flags = if flags.is_empty() { String::new() } else { format!(", {}", flags.join(", ")) };
    writeln!(out, "  default {default}, timeout {timeout}{flags}")?;
    let chosen = choice.as_ref().ok().map(|c| c.entry.index);
    for e in &m.entries {
        let mark = if Some(e.index) == chosen { "*" } else { " " };
        let path = if e.submenus.is_empty() { String::new() } else { format!("{} > ", e.submenus.join(" > ")) };
        writeln!(out, "  {mark} {:>2}  {path}{}", e.index, e.title)?;
        if let Some(k) = &e.kernel {
            let root = e.root.as_ref().map(|r| format!("root {r}, ")).unwrap_or_default();
            writeln!(out, "         {root}kernel {k} {}", e.args)?;
        }
        for i in &e.initrd {
            writeln!(out, "         initrd {i}")?;
        }
    }
    for diag in &m.diagnostics {
        writeln!(out, "  note: line {}: {}", diag.line, diag.message)?;
    }
    match choice {
        Ok(c) => {
            for a in &c.attempts {
                writeln!(out, "Entry {} {:?} failed: {}", a.index, a.title, a.failure)?;
            }
            writeln!(out, "Boots entry {} {:?}: {}", c.entry.index, c.entry.title, c.why)?;
            writeln!(out, "  kernel  {}", hit(&c.kernel))?;
            for i in &c.initrd {
                writeln!(out, "  initrd  {}", hit(i))?;
            }
            writeln!(out, "  cmdline {}", c.cmdline)?;
            for diff in &c.differences {
                writeln!(out, "  differs from GRUB: {diff}")?;
            }
        }
        Err(e) => {
            if let select::SelectError::AllFailed { attempts, .. } = e {
                for a in attempts {
                    writeln!(out, "Entry {} {:?} failed: {}", a.index, a.title, a.failure)?;
                }
            }
            writeln!(out, "Cannot boot: {e}")?;
        }
    }
    Ok(())
}

fn render_json(out: &mut Out, d: &Discovery, choice: &Result<BootChoice, select::SelectError>) -> Result<(), Exit> {
    let loader = d.loader.name();
    for p in &d.probes {
        out.json(
            &json!({"type": "probe", "loader": loader, "device": p.device, "path": p.path, "outcome": p.outcome}),
        )?;
    }
    if let Some(cfg) = &d.config {
        out.json(&json!({
            "type": "menu",
            "loader": loader,
            "device": cfg.file.device,
            "linux": cfg.file.linux,
            "path": cfg.file.path,
            "resolved_path": cfg.file.resolved_path,
            "format": cfg.format,
            "default": cfg.menu.default,
            "saved_default": cfg.saved_default,
            "timeout": cfg.menu.timeout,
            "fallback": cfg.menu.fallback,
            "hidden_menu": cfg.menu.hidden_menu,
        }))?;
        let chosen = choice.as_ref().ok().map(|c| c.entry.index);
        for e in &cfg.menu.entries {
            out.json(&crate::output::entry_json(
                &[("loader", json!(loader))],
                e,
                &[("chosen", json!(chosen == Some(e.index)))],
            ))?;
        }
        for diag in &cfg.menu.diagnostics {
            out.json(&json!({"type": "diagnostic", "loader": loader, "line": diag.line, "message": diag.message}))?;
        }
    }
    match choice {
        Ok(c) => out.json(&json!({
            "type": "choice",
            "loader": loader,
            "index": c.entry.index,
            "title": c.entry.title,
            "reason": c.reason,
            "why": c.why,
            "kernel": c.kernel,
            "initrd": c.initrd,
            "cmdline": c.cmdline,
            "attempts": c.attempts,
            "differences": c.differences,
        }))?,
        Err(e) => out.json(&json!({"type": "error", "loader": loader, "error": e, "message": e.to_string()}))?,
    }
    Ok(())
}
