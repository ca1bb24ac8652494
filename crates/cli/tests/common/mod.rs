//! What the CLI's integration test binaries share: running the built
//! `boot-sim` and reading what it printed. Each binary uses a subset
//! (hence `dead_code` allowed here only).
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs the `boot-sim` binary Cargo built for these tests.
pub fn boot_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim")).args(args).output().expect("run boot-sim")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The last JSON Lines object of a `--json` run, checked to be the result.
pub fn result(o: &Output) -> serde_json::Value {
    let lines = boot_sim::json_lines(&o.stdout);
    let r = lines.last().cloned().expect("a result object");
    assert_eq!(r["type"], "result", "{r}");
    r
}
