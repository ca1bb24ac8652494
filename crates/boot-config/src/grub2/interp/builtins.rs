//! The GRUB 2 commands the evaluator runs (`grub-core/commands/*.c`):
//! `set`/`export`/`menuentry` and the rest of the dispatch, `test`/`[`,
//! `source`/`configfile`, `load_env`, `search`, `blscfg` and the loaders
//! (`linux`, `initrd`, `chainloader`, `multiboot`, `module`).

use std::rc::Rc;

use crate::bls::{self, BlsEntry};
use crate::grub2::interp::*;
use crate::grub2::script::Cmd;
use crate::grub2::*;
use crate::grubenv;
use crate::{BootPath, EntryKind, LineDiag, MAX_CONFIG_BYTES};

impl<'c> Interp<'c> {
    pub(super) fn builtin(&mut self, argv: &[String], block: Option<Rc<Vec<Cmd>>>, line: usize) -> (Status, Flow) {
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
    pub(super) fn add_bls_item(&mut self, e: &BlsEntry, line: usize) {
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
