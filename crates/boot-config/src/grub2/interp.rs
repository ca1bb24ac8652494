//! The GRUB 2 script evaluator: environment contexts, functions, control
//! flow, menus and submenus, run the way `script/execute.c` and
//! `normal/menu.c` run them. The commands themselves are in [`builtins`].

mod builtins;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::default::{rest_after_gt, walk};
use super::script::{Cmd, Part, Word};
use super::*;
use crate::bls::{self, BlsEntry};
use crate::{BootPath, DefaultSpec, EntryKind, LineDiag, MAX_CONFIG_BYTES, Menu, MenuEntry, MenuFormat, Submenu};

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

/// The menu `blscfg` would add for these snippets alone, sorted as GRUB
/// sorts them ([`bls::sort_entries`]; a snippet repeating another's
/// version is dropped with a diagnostic), in an environment holding `vars`
/// (grubenv's `kernelopts`, and `root` for the `($root)` prefix blscfg
/// writes). The menu's format is [`MenuFormat::Bls`]. Here and not in
/// [`crate::bls`], which knows the snippet format but not the evaluator.
pub fn bls_menu(entries: Vec<BlsEntry>, vars: &[(String, String)]) -> Menu {
    let (sorted, dropped) = bls::sort_entries(entries);
    let mut it = Interp::new(&NoContext);
    for (k, v) in vars {
        it.set(k, v);
    }
    for e in sorted.iter().take(MAX_BLS_FILES) {
        it.add_bls_item(e, 0);
    }
    let mut eval = it.finish();
    eval.menu.format = MenuFormat::Bls;
    for d in dropped {
        eval.menu.diagnostics.push(LineDiag {
            line: 0,
            message: format!("{d}.conf duplicates another snippet's version; GRUB drops it"),
        });
    }
    eval.menu
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
#[derive(Debug, Clone, Default)]
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
            self.entry = Some(Loaded::default());
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
}
