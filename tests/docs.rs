//! The doc test: every ```console block in docs/guide.md and docs/labs/*.md
//! is run with the freshly built `boot-sim` and its output compared with the
//! text shown, so the guide and the labs cannot drift from the program.
//!
//! Conventions (also described at the top of docs/guide.md):
//! - In a ```console block, a line `$ boot-sim ARGS` is a command; the lines
//!   after it, up to the next `$ ` line or the end of the block, are its
//!   output (stdout and stderr together, in the order they were written).
//!   ARGS are split on blanks; '…' and "…" quote. No shell: no pipes,
//!   redirections, variables or globs. A lab may also show simboot's
//!   installer as a student runs it, `$ cargo run -q -p boot-sim-fixtures
//!   --bin simboot-install -- ARGS`: it runs the `simboot-install` binary
//!   built beside `boot-sim` (as `boot-sim` runs without cargo).
//! - A non-zero exit status is shown as a last output line `[exit status: N]`.
//! - In expected output a line `…` matches any number of lines (also none)
//!   and `[…]` inside a line matches any text.
//! - Masked on both sides before comparing: durations (`12.5 ms`, `3 s`),
//!   ISO timestamps (`2026-01-01T00:00:00Z`).
//! - A ```sh block is run with `sh -e -c` (the `cp`/`dd` steps of a lab).
//! - Each document runs in its own fresh temporary directory, in document
//!   order, with `fixtures` and `docs` symlinked to the workspace's: for the
//!   commands it is the top of the checkout, and files a lab makes (copies,
//!   registries) land in the temporary directory. `XDG_DATA_HOME` points into
//!   it, so the default AMI registry is fresh too.
//!
//! `BOOT_SIM_DOCS_BLESS=1 cargo test --test docs` rewrites the expected
//! output of every block that no longer matches with the actual output (the
//! temporary directory's path written as `[…]`); blocks that match, with
//! their hand-made `…` elisions, are kept.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const ELLIPSIS: &str = "…";
const INLINE_WILDCARD: &str = "[…]";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/boot-sim`: the test executable is
/// `target/<profile>/deps/docs-<hash>`.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = profile_dir.join(format!("boot-sim{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: the doc test runs the boot-sim binary; build it first with `cargo build -p cli` \
         (with the same profile and CARGO_TARGET_DIR), or run `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

/// simboot's installer as the labs show it being run.
const SIMBOOT_INSTALL: &[&str] = &["cargo", "run", "-q", "-p", "boot-sim-fixtures", "--bin", "simboot-install", "--"];

/// `simboot-install` beside `boot-sim` (built by `cargo test --workspace`,
/// which builds the fixtures package's binaries for its tests).
fn simboot_install(boot_sim: &Path) -> PathBuf {
    let exe = boot_sim.with_file_name(format!("simboot-install{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.is_file(),
        "{} is missing: a lab runs simboot's installer; build it first with `cargo build -p boot-sim-fixtures --bin \
         simboot-install` (with the same profile and CARGO_TARGET_DIR), or run `cargo test --workspace`",
        exe.display()
    );
    exe
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("docs/guide.md")];
    let mut labs: Vec<PathBuf> = std::fs::read_dir(root().join("docs/labs"))
        .expect("docs/labs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    labs.sort();
    docs.extend(labs);
    docs
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Console,
    Sh,
}

#[derive(Debug)]
struct Block {
    kind: Kind,
    /// 1-based line of the opening fence.
    line: usize,
    /// Index range (0-based lines of the file) of the block's body.
    body: std::ops::Range<usize>,
}

fn blocks(lines: &[&str]) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_end();
        let kind = match t {
            "```console" => Some(Kind::Console),
            "```sh" => Some(Kind::Sh),
            _ => None,
        };
        if t.starts_with("```") && t.len() > 3 && kind.is_none() {
            // another language: skip to its end
            i += 1;
            while i < lines.len() && lines[i].trim_end() != "```" {
                i += 1;
            }
            i += 1;
            continue;
        }
        if let Some(kind) = kind {
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim_end() != "```" {
                end += 1;
            }
            assert!(end < lines.len(), "unterminated ``` block at line {}", i + 1);
            out.push(Block { kind, line: i + 1, body: start..end });
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Shell-free argument splitting: blanks separate, '…' and "…" quote.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_arg = true;
                }
                ' ' | '\t' => {
                    if in_arg {
                        args.push(std::mem::take(&mut cur));
                        in_arg = false;
                    }
                }
                '|' | '>' | '<' | '$' | '`' | ';' | '&' | '*' | '?' => {
                    return Err(format!("shell syntax {c:?} in a console command (no shell runs them)"));
                }
                _ => {
                    cur.push(c);
                    in_arg = true;
                }
            },
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_arg {
        args.push(cur);
    }
    Ok(args)
}

/// Mask durations and ISO timestamps.
fn mask(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        // ISO timestamp dddd-dd-ddTdd:dd:ddZ
        if i + 20 <= chars.len() {
            let pat = "dddd-dd-ddTdd:dd:ddZ";
            if pat.chars().zip(&chars[i..i + 20]).all(|(p, &c)| if p == 'd' { c.is_ascii_digit() } else { p == c }) {
                out.push_str("<timestamp>");
                i += 20;
                continue;
            }
        }
        let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.' || chars[i - 1] == '_');
        if chars[i].is_ascii_digit() && boundary {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let mut replaced = false;
            if j < chars.len() && chars[j] == ' ' {
                let rest: String = chars[j + 1..chars.len().min(j + 4)].iter().collect();
                for unit in ["ns", "µs", "ms", "s"] {
                    let after = j + 1 + unit.chars().count();
                    if rest.starts_with(unit) && (after >= chars.len() || !chars[after].is_alphanumeric()) {
                        out.push_str("<duration>");
                        i = after;
                        replaced = true;
                        break;
                    }
                }
            }
            if !replaced {
                out.extend(&chars[i..j]);
                i = j;
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// `[…]` matches any text inside a line.
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split(INLINE_WILDCARD).collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() || !actual.ends_with(last) {
        return false;
    }
    let mut rest = &actual[first.len()..actual.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(k) => rest = &rest[k + p.len()..],
            None => return false,
        }
    }
    true
}

/// A line `…` matches any number of lines.
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e.trim() == ELLIPSIS => (0..=actual.len()).any(|k| lines_match(rest, &actual[k..])),
        Some((e, rest)) => !actual.is_empty() && line_matches(e, &actual[0]) && lines_match(rest, &actual[1..]),
    }
}

struct Workdir(PathBuf);

impl Workdir {
    fn new(doc: &Path) -> Workdir {
        let name = doc.file_stem().unwrap().to_string_lossy().to_string();
        let dir = std::env::temp_dir().join(format!("boot-sim-docs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("xdg")).expect("temp dir");
        for link in ["fixtures", "docs"] {
            std::os::unix::fs::symlink(root().join(link), dir.join(link)).expect("symlink");
        }
        Workdir(dir)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs one document; returns its failures and, when blessing, the new text.
fn run_document(doc: &Path, bin: &Path, bless: bool) -> (Vec<String>, Option<String>) {
    let text = std::fs::read_to_string(doc).expect("read doc");
    let lines: Vec<&str> = text.lines().collect();
    let rel = doc.strip_prefix(root()).unwrap_or(doc).display().to_string();
    let work = Workdir::new(doc);
    let dir_str = work.0.display().to_string();
    let mut failures = Vec::new();
    // (range of file lines to replace, new lines)
    let mut edits: Vec<(std::ops::Range<usize>, Vec<String>)> = Vec::new();

    for block in blocks(&lines) {
        let body = &lines[block.body.clone()];
        if block.kind == Kind::Sh {
            // `# needs: TOOL…` on the first line: without the tools, the rest
            // of the document is skipped (fails with BOOT_SIM_INTEROP=require).
            if let Some(tools) = body.first().and_then(|l| l.strip_prefix("# needs:")) {
                let missing: Vec<&str> = tools
                    .split_whitespace()
                    .filter(|t| {
                        !Command::new("sh")
                            .args([
                                "-c",
                                &format!("command -v {t} >/dev/null || test -x /usr/sbin/{t} || test -x /sbin/{t}"),
                            ])
                            .status()
                            .is_ok_and(|s| s.success())
                    })
                    .collect();
                if !missing.is_empty() {
                    let msg = format!(
                        "{rel}:{}: skipping the rest of this document: {} not installed (bash scripts/interop-setup.sh)",
                        block.line,
                        missing.join(", ")
                    );
                    if std::env::var("BOOT_SIM_INTEROP").is_ok_and(|v| v == "require") {
                        failures.push(msg);
                    } else {
                        eprintln!("{msg}");
                    }
                    break;
                }
            }
            let script = body.join("\n");
            let path = format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default());
            let out = Command::new("sh")
                .args(["-e", "-c", &script])
                .env("PATH", path)
                .current_dir(&work.0)
                .env("XDG_DATA_HOME", work.0.join("xdg"))
                .output()
                .expect("sh");
            if !out.status.success() {
                failures.push(format!(
                    "{rel}:{}: sh block failed ({}):\n{}{}",
                    block.line,
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            continue;
        }
        // console: commands and their expected output
        let mut k = 0;
        while k < body.len() {
            let cmd_line = body[k];
            let file_line = block.body.start + k;
            let Some(cmd) = cmd_line.strip_prefix("$ ") else {
                failures.push(format!("{rel}:{}: console line is not a `$ ` command: {cmd_line}", file_line + 1));
                k += 1;
                continue;
            };
            let mut end = k + 1;
            while end < body.len() && !body[end].starts_with("$ ") {
                end += 1;
            }
            let expected: Vec<String> = body[k + 1..end].iter().map(|l| mask(l)).collect();
            k = end;
            let args = match split_args(cmd) {
                Ok(a) => a,
                Err(e) => {
                    failures.push(format!("{rel}:{}: {e}: {cmd}", file_line + 1));
                    continue;
                }
            };
            let (exe, rest) = if args.first().map(String::as_str) == Some("boot-sim") {
                (bin.to_path_buf(), &args[1..])
            } else if args.len() >= SIMBOOT_INSTALL.len() && args[..SIMBOOT_INSTALL.len()] == *SIMBOOT_INSTALL {
                (simboot_install(bin), &args[SIMBOOT_INSTALL.len()..])
            } else {
                failures.push(format!(
                    "{rel}:{}: only boot-sim commands (and simboot's installer) may be in a console block: {cmd}",
                    file_line + 1
                ));
                continue;
            };
            let path = format!("{}:/usr/sbin:/sbin", std::env::var("PATH").unwrap_or_default());
            let out = Command::new("sh")
                .arg("-c")
                .arg("exec \"$@\" 2>&1")
                .arg("sh")
                .arg(exe)
                .args(rest)
                .env("PATH", path)
                .current_dir(&work.0)
                .env("XDG_DATA_HOME", work.0.join("xdg"))
                .env_remove("RUST_BACKTRACE")
                .output()
                .expect("run boot-sim");
            let mut actual_raw: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim_end().replace(&dir_str, INLINE_WILDCARD))
                .collect();
            match out.status.code() {
                Some(0) => {}
                Some(c) => actual_raw.push(format!("[exit status: {c}]")),
                None => actual_raw.push(format!("[killed: {}]", out.status)),
            }
            let actual: Vec<String> = actual_raw.iter().map(|l| mask(l)).collect();
            if !lines_match(&expected, &actual) {
                let mut msg = format!("{rel}:{}: output of `{cmd}` drifted\n--- expected (masked)\n", file_line + 1);
                for l in &expected {
                    let _ = writeln!(msg, "{l}");
                }
                msg.push_str("--- actual (masked)\n");
                for l in &actual {
                    let _ = writeln!(msg, "{l}");
                }
                if bless {
                    edits.push((file_line + 1..block.body.start + end, actual_raw));
                } else {
                    failures.push(msg);
                }
            }
        }
    }

    let blessed = (bless && !edits.is_empty()).then(|| {
        let mut new_lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for (range, repl) in edits.into_iter().rev() {
            new_lines.splice(range, repl);
        }
        let mut s = new_lines.join("\n");
        s.push('\n');
        s
    });
    (failures, blessed)
}

#[test]
fn documented_commands_match_the_program() {
    let bin = binary();
    let bless = std::env::var_os("BOOT_SIM_DOCS_BLESS").is_some_and(|v| v == "1");
    let docs = documents();
    assert!(docs.len() >= 2, "docs/guide.md and docs/labs/*.md");
    let results: Vec<(PathBuf, Vec<String>, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .iter()
            .map(|d| {
                let bin = &bin;
                s.spawn(move || {
                    let (f, b) = run_document(d, bin, bless);
                    (d.clone(), f, b)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("doc thread")).collect()
    });
    let mut all = Vec::new();
    for (doc, failures, blessed) in results {
        if let Some(text) = blessed {
            std::fs::write(&doc, text).expect("bless");
            eprintln!("blessed {}", doc.display());
        }
        all.extend(failures);
    }
    if !all.is_empty() {
        panic!(
            "{} documented command(s) do not match boot-sim (BOOT_SIM_DOCS_BLESS=1 rewrites the shown output):\n\n{}",
            all.len(),
            all.join("\n")
        );
    }
}

#[test]
fn masking_and_wildcards() {
    assert_eq!(mask("Simulated time: 18.370 ms (x)"), "Simulated time: <duration> (x)");
    assert_eq!(mask("  xenstore  158.162 µs  (50 events)"), "  xenstore  <duration>  (50 events)");
    assert_eq!(mask("counters: 44 instructions, 2.502 s simulated"), "counters: 44 instructions, <duration> simulated");
    assert_eq!(mask("created 2026-11-23T18:14:41Z"), "created <timestamp>");
    assert_eq!(mask("0x1a 5 sectors xvda5 3.0 KiB"), "0x1a 5 sectors xvda5 3.0 KiB");
    assert!(line_matches("Disk [α]", "Disk [α]"));
    assert!(line_matches("image […]/x.img (2 MiB)", "image /tmp/a/b/x.img (2 MiB)"));
    assert!(!line_matches("image […]/x.img (2 MiB)", "image /tmp/a/b/y.img (2 MiB)"));
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&v(&["a", "…", "d"]), &v(&["a", "b", "c", "d"])));
    assert!(lines_match(&v(&["a", "…", "d"]), &v(&["a", "d"])));
    assert!(!lines_match(&v(&["a", "…", "d"]), &v(&["a", "b", "e"])));
    assert!(!lines_match(&v(&["a"]), &v(&["a", "b"])));
    assert_eq!(
        split_args("boot-sim menu x --entry '1: good'").unwrap(),
        v(&["boot-sim", "menu", "x", "--entry", "1: good"])
    );
    assert!(split_args("boot-sim inspect x | head").is_err());
}
