//! Progress bars on stderr (indicatif), drawn only when stderr is a
//! terminal and the output is not `--json`: piped and captured output is
//! unchanged. Two kinds: steps (`bench`, `compare`: `[#####-----] 3/14
//! ide-pio seq 4.0 KiB`) and bytes (hashing an image in `ami register` /
//! `ami launch`), the latter only once the work has taken a second.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work shorter than this gets no bytes bar.
const QUIET_FOR: Duration = Duration::from_secs(1);

pub struct Progress {
    bar: ProgressBar,
    /// Drawing is allowed (a terminal, not --json).
    on: bool,
    started: Instant,
    shown: bool,
}

fn target(on: bool) -> ProgressDrawTarget {
    if on { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() }
}

impl Progress {
    /// A bar for `total` steps; drawn only if `wanted` and stderr is a terminal.
    pub fn new(total: usize, wanted: bool) -> Progress {
        let on = wanted && std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(Some(total as u64), target(on));
        bar.set_style(
            ProgressStyle::with_template("[{bar:24}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-"),
        );
        Progress { bar, on, started: Instant::now(), shown: on }
    }

    /// A bar for `total` bytes of `what` ("hashing disk.img"), drawn once
    /// the work has taken [`QUIET_FOR`].
    pub fn bytes(total: u64, what: &str, wanted: bool) -> Progress {
        let on = wanted && std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-"),
        );
        bar.set_message(what.to_string());
        Progress { bar, on, started: Instant::now(), shown: false }
    }

    /// The next step starts: `what` names it.
    pub fn step(&mut self, what: &str) {
        self.bar.set_message(what.to_string());
        self.bar.inc(1);
    }

    /// `done` bytes of the total are done.
    pub fn set(&mut self, done: u64) {
        if self.on && !self.shown && self.started.elapsed() >= QUIET_FOR {
            self.bar.set_draw_target(target(true));
            self.shown = true;
        }
        self.bar.set_position(done);
    }

    /// Erases the bar.
    pub fn finish(&mut self) {
        self.bar.finish_and_clear();
    }

    #[cfg(test)]
    fn drawn(&self) -> bool {
        !self.bar.is_hidden()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_steps_and_draws_only_on_a_terminal() {
        let tty = std::io::stderr().is_terminal();
        let mut p = Progress::new(3, true);
        assert_eq!(p.drawn(), tty);
        p.step("a");
        p.step("b");
        assert_eq!(p.bar.position(), 2);
        assert!(!Progress::new(3, false).drawn(), "--json: never drawn");
        let mut b = Progress::bytes(100, "hashing", true);
        b.set(50);
        assert!(!b.drawn(), "not within the first second");
        assert_eq!(b.bar.position(), 50);
    }
}
