//! A progress bar for long runs (`bench`, `compare`), drawn on stderr only
//! when stderr is a terminal: `[#####-----] 3/14 ide-pio seq 4.0 KiB`,
//! redrawn in place and erased at the end. Without a terminal, or with
//! `--json`, it prints nothing, so piped and captured output is unchanged.

use std::io::{IsTerminal, Write};

pub struct Progress {
    on: bool,
    total: usize,
    done: usize,
}

/// Cells of the bar.
const BAR: usize = 24;

impl Progress {
    /// A bar for `total` steps; drawn only if `wanted` and stderr is a terminal.
    pub fn new(total: usize, wanted: bool) -> Progress {
        Progress { on: wanted && std::io::stderr().is_terminal(), total: total.max(1), done: 0 }
    }

    /// The bar's text before step `done + 1` of `total` starts.
    pub fn line(done: usize, total: usize, what: &str) -> String {
        let filled = (done.min(total) * BAR) / total.max(1);
        format!("[{}{}] {}/{} {what}", "#".repeat(filled), "-".repeat(BAR - filled), done + 1, total)
    }

    /// The next step starts: `what` names it.
    pub fn step(&mut self, what: &str) {
        if self.on {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K{}", Progress::line(self.done, self.total, what));
            let _ = e.flush();
        }
        self.done += 1;
    }

    /// Erases the bar.
    pub fn finish(&mut self) {
        if self.on {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
            self.on = false;
        }
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
    fn the_bar_fills_with_the_steps_done() {
        assert_eq!(Progress::line(0, 4, "pv seq"), format!("[{}] 1/4 pv seq", "-".repeat(BAR)));
        assert_eq!(Progress::line(2, 4, "x"), format!("[{}{}] 3/4 x", "#".repeat(12), "-".repeat(12)));
        // Without a terminal (as under `cargo test`) nothing is drawn.
        let mut p = Progress::new(3, true);
        assert!(!p.on || std::io::stderr().is_terminal());
        p.step("a");
        assert_eq!(p.done, 1);
    }
}
