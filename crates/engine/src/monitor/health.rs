//! `--health-cmd` checks, run by the monitor every interval: a forked helper execs the
//! check in the container (as `exec` does), waits at most the timeout, and exits with the
//! check's code; the monitor reaps it and records Docker's health state.

use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::PollTimeout;

use super::Monitor;
use crate::config::{Health as HealthState, HealthLog};
use crate::exec::ExecOptions;

/// Docker keeps the last five results.
const KEEP: usize = 5;
/// Exit code recorded when a check runs past its timeout.
const TIMED_OUT: i32 = 124;

/// The schedule and the check in flight.
pub struct Health {
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    retries: i64,
    start_period: Duration,
    started: Instant,
    next: Instant,
    running: Option<(i32, SystemTime)>,
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

impl Health {
    /// The container's check, if it has one (`NONE` disables the image's).
    pub fn of(m: &Monitor) -> Option<Health> {
        let h = m.c.config.healthcheck.as_ref()?;
        let argv = match h.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test.get(1)?.clone()],
            Some("CMD") => h.test[1..].to_vec(),
            _ => return None,
        };
        let interval = dur(h.interval, Duration::from_secs(30));
        Some(Health {
            argv,
            interval,
            timeout: dur(h.timeout, Duration::from_secs(30)),
            retries: if h.retries > 0 { h.retries } else { 3 },
            start_period: dur(h.start_period, Duration::ZERO),
            started: Instant::now(),
            next: Instant::now() + interval,
            running: None,
        })
    }

    /// How long the loop may sleep before the next check is due.
    pub fn poll_timeout(&self) -> PollTimeout {
        if self.running.is_some() {
            return PollTimeout::NONE;
        }
        let ms = self
            .next
            .saturating_duration_since(Instant::now())
            .as_millis();
        PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
    }

    /// Starts a check when one is due.
    pub fn tick(&mut self, m: &Monitor) {
        if self.running.is_some() || Instant::now() < self.next {
            return;
        }
        self.next = Instant::now() + self.interval;
        if let Some(pid) = spawn(m, &self.argv, self.timeout) {
            self.running = Some((pid, SystemTime::now()));
        }
    }

    /// If `pid` was the check in flight, records its result; true when it was.
    pub fn reaped(&mut self, m: &Monitor, pid: i32, code: i32) -> bool {
        let Some((p, start)) = self.running else {
            return false;
        };
        if p != pid {
            return false;
        }
        self.running = None;
        let out_path = m.dir.join("health.out");
        let mut output = std::fs::read(&out_path).unwrap_or_default();
        output.truncate(4096);
        let _ = std::fs::remove_file(&out_path);
        let mut output = String::from_utf8_lossy(&output).into_owned();
        let code = if code == TIMED_OUT && output.is_empty() {
            output = format!(
                "Health check exceeded timeout ({}s)",
                self.timeout.as_secs()
            );
            -1
        } else {
            code
        };
        let entry = HealthLog {
            start: crate::lifecycle::time(start),
            end: crate::lifecycle::now(),
            exit_code: code.into(),
            output,
        };
        let in_start_period = self.started.elapsed() < self.start_period;
        let _lock = m.eng.containers.lock(&m.c.id);
        if let Ok(mut st) = m.eng.containers.state(&m.c.id) {
            let h = st.health.get_or_insert_with(|| HealthState {
                status: "starting".into(),
                ..Default::default()
            });
            record(h, entry, code, in_start_period, self.retries);
            let _ = m.eng.containers.write_state(&m.c.id, &st);
        }
        true
    }
}

/// Docker's rules: success makes it healthy; failures count (except during the start
/// period while it never was healthy) and `retries` in a row make it unhealthy.
fn record(h: &mut HealthState, entry: HealthLog, code: i32, in_start: bool, retries: i64) {
    h.log.push(entry);
    let extra = h.log.len().saturating_sub(KEEP);
    h.log.drain(..extra);
    if code == 0 {
        h.status = "healthy".into();
        h.failing_streak = 0;
    } else if !(in_start && h.status == "starting") {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = "unhealthy".into();
        }
    }
}

/// Forks the helper that runs one check; its pid.
fn spawn(m: &Monitor, argv: &[String], timeout: Duration) -> Option<i32> {
    let watch = berth_sys::process::ThreadWatch::open().ok()?;
    match berth_sys::process::fork_watched(&watch).ok()? {
        berth_sys::process::Forked::Parent(pid) => Some(pid),
        berth_sys::process::Forked::Child => std::process::exit(check(m, argv, timeout)),
    }
}

/// In the helper: exec the check with its output in `health.out`, wait, return its code.
fn check(m: &Monitor, argv: &[String], timeout: Duration) -> i32 {
    let _ = nix::sys::signal::SigSet::all().thread_unblock();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let out = m.dir.join("health.out");
    let Ok(file) = std::fs::File::create(&out) else {
        return 1;
    };
    let _ = nix::unistd::dup2_stdout(file.as_fd());
    let _ = nix::unistd::dup2_stderr(file.as_fd());
    let o = ExecOptions {
        cmd: argv.to_vec(),
        ..Default::default()
    };
    let Ok(p) = crate::exec::process(&m.eng, &m.c.id, &o) else {
        return 1;
    };
    let Ok(pid) = m.eng.runtime_for(&m.c).exec(&m.c.id, &p, None) else {
        return 1;
    };
    if !berth_runtime::container::wait::wait_exit(pid, timeout) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        let _ = file.set_len(0);
        return TIMED_OUT;
    }
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c,
        Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(code: i64) -> HealthLog {
        HealthLog {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn docker_health_rules() {
        let mut h = HealthState {
            status: "starting".into(),
            ..Default::default()
        };
        record(&mut h, log(1), 1, true, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        record(&mut h, log(1), 1, false, 2);
        assert_eq!(h.status, "starting");
        record(&mut h, log(1), 1, false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        record(&mut h, log(0), 0, false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            record(&mut h, log(0), 0, false, 2);
        }
        assert_eq!(h.log.len(), KEEP);
    }
}
