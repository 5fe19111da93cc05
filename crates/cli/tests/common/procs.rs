//! Processes for the fault tests: a seeded generator for kill moments, SIGKILL, and
//! finding a store's monitors and whether a process still runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// xorshift64: small, seeded, reproducible.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `BERTH_KILL_SEED`, else the clock; the seed is printed to rerun with.
    pub fn from_env() -> Rng {
        let seed = std::env::var("BERTH_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill seed: BERTH_KILL_SEED={seed}");
        Rng(seed)
    }

    /// The next number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// SIGKILL to `pid` (one this test started, or a process of its own store).
pub fn sigkill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The fields of /proc/PID/stat after the command name.
fn stat_rest(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')
        .map(|(_, r)| r.trim_start().to_string())
}

/// `pid`'s parent (0 when it is gone).
pub fn parent(pid: i32) -> i32 {
    stat_rest(pid)
        .and_then(|r| r.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
        .unwrap_or(0)
}

/// A process that exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat_rest(pid).is_some_and(|s| !s.starts_with('Z') && !s.starts_with('X'))
}

/// Gone, or a zombie (its files, and so its locks, are closed).
pub fn dead(pid: i32) -> bool {
    !alive(pid)
}

/// Every process whose command line is `berth __monitor ROOT ...` for store `root` (the
/// monitors and their forks: the runtime helper, a container's init before its exec), or
/// the relay a monitor execs while its container runs, `berth-monitor ... -- ROOT ...`.
pub fn monitor_like(root: &Path) -> Vec<i32> {
    let root = root.to_string_lossy().into_owned();
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let setup = args.len() > 2 && args[1] == b"__monitor" && args[2] == root.as_bytes();
        let relay = args[0].ends_with(b"berth-monitor")
            && args
                .iter()
                .position(|a| *a == b"--")
                .is_some_and(|i| args.get(i + 1) == Some(&root.as_bytes()));
        if setup || relay {
            out.push(pid);
        }
    }
    out
}

/// The monitors of store `root`: monitor-like processes whose parent is not one too.
pub fn monitors(root: &Path) -> Vec<i32> {
    let all = monitor_like(root);
    all.iter()
        .copied()
        .filter(|p| !all.contains(&parent(*p)))
        .collect()
}

/// Spawns `cmd` (its stdin as the caller set it, output discarded) and SIGKILLs it after
/// `delay` unless it ended first; true when it was killed.
pub fn kill_after(mut cmd: Command, delay: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}
