//! Test kit shared by boot-sim's integration tests, interop tests and benches.
//!
//! The root package of the workspace holds only `tests/` and `benches/`; this
//! library is what they have in common: where the committed fixtures live,
//! how to run the `boot-sim` binary, and the interop gate that decides what
//! happens when a real tool (sfdisk, debugfs, pygrub, QEMU, …) is missing.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The workspace root (where `Cargo.toml` of the root package lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a committed fixture image or file under `fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    workspace_root().join("fixtures").join(relative)
}

/// Where `scripts/interop-setup.sh` unpacks third-party files (Debian
/// packages extracted with `dpkg -x`); never committed.
pub fn interop_dir() -> PathBuf {
    workspace_root().join("target").join("interop")
}

/// How the interop tests treat a missing real tool, from `BOOT_SIM_INTEROP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteropPolicy {
    /// Default for local runs: a missing tool skips the test with a message.
    Skip,
    /// `BOOT_SIM_INTEROP=require` (set by `.ci/run`): a missing tool fails.
    Require,
}

impl InteropPolicy {
    pub fn from_env() -> Self {
        match std::env::var("BOOT_SIM_INTEROP").as_deref() {
            Ok("require") => Self::Require,
            _ => Self::Skip,
        }
    }
}

/// Finds an executable on `PATH` or in the usual sbin directories (sfdisk,
/// debugfs and mke2fs live in /usr/sbin, which is not on every user's PATH).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from);
    from_path.into_iter().chain(extra).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// The gate every interop test goes through: returns the tool's path, or
/// `None` after printing why the test is skipped. Under
/// `BOOT_SIM_INTEROP=require` a missing tool is a test failure instead.
pub fn interop_tool(name: &str) -> Option<PathBuf> {
    match find_tool(name) {
        Some(path) => Some(path),
        None => missing(&format!("tool `{name}`")),
    }
}

/// Like [`interop_tool`] for a file that `scripts/interop-setup.sh` extracts
/// under [`interop_dir`] (for example GRUB's `stage1` from `grub-legacy`).
pub fn interop_file(relative: &str) -> Option<PathBuf> {
    let path = interop_dir().join(relative);
    if path.is_file() { Some(path) } else { missing(&format!("file {}", path.display())) }
}

/// Debian's pygrub (package xen-utils-4.17), the reference for PV menus.
pub const PYGRUB: &str = "/usr/lib/xen-4.17/bin/pygrub";

/// The pygrub gate: its path, or `None` (skipped) / a failure under
/// `BOOT_SIM_INTEROP=require`. python3 must be there too.
pub fn pygrub() -> Option<PathBuf> {
    let path = PathBuf::from(PYGRUB);
    if !path.is_file() {
        return missing("pygrub (xen-utils-4.17)");
    }
    interop_tool("python3")?;
    Some(path)
}

fn missing<T>(what: &str) -> Option<T> {
    let msg = format!("interop: {what} is missing; run `bash scripts/interop-setup.sh` first");
    match InteropPolicy::from_env() {
        InteropPolicy::Require => panic!("{msg} (BOOT_SIM_INTEROP=require)"),
        InteropPolicy::Skip => {
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// Parses JSON Lines output into values, failing with the offending line.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}
