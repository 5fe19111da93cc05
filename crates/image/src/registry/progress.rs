//! Per-blob progress on stderr, like Docker's: on a terminal one line per blob, redrawn in
//! place (`3f57d9401f8d: Downloading 1.2MB/3.4MB`); otherwise one plain line when each blob
//! is done.

use std::io::{IsTerminal, Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::image::short;

/// The progress display for one pull or push.
pub(crate) struct Progress {
    tty: bool,
    quiet: bool,
    state: Mutex<State>,
}

struct State {
    lines: Vec<(String, String)>,
    drawn: usize,
    last: Option<Instant>,
}

impl Progress {
    /// A display for these digests, in this order.
    pub(crate) fn new(digests: &[String], quiet: bool) -> Progress {
        let tty = !quiet && std::io::stderr().is_terminal();
        let p = Progress {
            tty,
            quiet,
            state: Mutex::new(State {
                lines: digests
                    .iter()
                    .map(|d| (short(d), "Waiting".to_owned()))
                    .collect(),
                drawn: 0,
                last: None,
            }),
        };
        p.redraw(true);
        p
    }

    /// Sets the status of blob `i`; `done` ones are also printed when not on a terminal.
    pub(crate) fn set(&self, i: usize, status: String, done: bool) {
        let plain = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let Some(line) = s.lines.get_mut(i) else {
                return;
            };
            line.1 = status;
            format!("{}: {}", line.0, line.1)
        };
        if self.tty {
            self.redraw(done);
        } else if done && !self.quiet {
            eprintln!("{plain}");
        }
    }

    /// Redraws every line, at most ten times a second unless `force`.
    fn redraw(&self, force: bool) {
        if !self.tty {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !force
            && s.last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        s.last = Some(Instant::now());
        let mut out = String::new();
        if s.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", s.drawn));
        }
        for (d, status) in &s.lines {
            out.push_str(&format!("\r\x1b[2K{d}: {status}\n"));
        }
        s.drawn = s.lines.len();
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

/// `1234567` -> `1.235MB`, as Docker prints sizes.
pub(crate) fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}{}", UNITS[u])
    }
}

/// A reader that reports how much went through it.
pub(crate) struct Counting<'a, R> {
    pub(crate) inner: R,
    pub(crate) progress: &'a Progress,
    pub(crate) index: usize,
    pub(crate) verb: &'static str,
    pub(crate) total: u64,
    pub(crate) done: u64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.progress.tty {
            let status = format!("{} {}/{}", self.verb, human(self.done), human(self.total));
            self.progress.set(self.index, status, false);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_234_567), "1.235MB");
        assert_eq!(human(3_400), "3.400kB");
    }
}
