//! `--health-cmd` checks. The relay (`berth-monitor`) starts `berth __monitor-health ROOT
//! STATE RUNTIME CGROUP_PARENT ID IN_START_PERIOD` every interval; that helper execs the
//! check in the container (as `exec` does), waits at most the timeout, and records Docker's
//! health state. It runs only for the check: the relay itself stays small.

use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use crate::config::{Container, Health as HealthState, HealthLog};
use crate::engine::{Engine, Options};
use crate::exec::ExecOptions;

/// Docker keeps the last five results.
const KEEP: usize = 5;
/// Exit code recorded when a check runs past its timeout.
const TIMED_OUT: i32 = 124;

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

/// The check's command line (`NONE` and an empty test: none).
fn argv(c: &Container) -> Option<Vec<String>> {
    let h = c.config.healthcheck.as_ref()?;
    match h.test.first().map(String::as_str) {
        Some("CMD-SHELL") => Some(vec!["/bin/sh".into(), "-c".into(), h.test.get(1)?.clone()]),
        Some("CMD") => Some(h.test[1..].to_vec()),
        _ => None,
    }
}

/// Entry point: `args` are what follows `__monitor-health`. Runs one check and records
/// its result; the exit code is 0 unless the arguments or the store are unusable.
pub fn main(args: &[String]) -> i32 {
    let [root, state, runtime, cgroup_parent, id, in_start] = args else {
        eprintln!("berth __monitor-health: expected ROOT STATE RUNTIME CGROUP_PARENT ID 0|1");
        return 2;
    };
    let opts = Options {
        root: root.into(),
        state_root: state.into(),
        runtime: runtime.clone(),
        cgroup_parent: cgroup_parent.clone(),
        // Defaults are applied at create; a health check creates nothing.
        ..Options::default()
    };
    let eng = match Engine::open(opts) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("berth health check {id}: {e}");
            return 1;
        }
    };
    let Ok(c) = eng.containers.config(id) else {
        return 1;
    };
    let (Some(argv), Some(h)) = (argv(&c), c.config.healthcheck.as_ref()) else {
        return 0;
    };
    let timeout = dur(h.timeout, Duration::from_secs(30));
    let retries = if h.retries > 0 { h.retries } else { 3 };
    let start = SystemTime::now();
    let out_path = eng.dir(id).join("health.out");
    let code = check(&eng, &c, &argv, timeout, &out_path);
    let mut output = std::fs::read(&out_path).unwrap_or_default();
    output.truncate(4096);
    let _ = std::fs::remove_file(&out_path);
    let mut output = String::from_utf8_lossy(&output).into_owned();
    let code = if code == TIMED_OUT && output.is_empty() {
        output = format!("Health check exceeded timeout ({}s)", timeout.as_secs());
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
    let _lock = eng.containers.lock(id);
    if let Ok(mut st) = eng.containers.state(id) {
        // A check that ends after the container did records nothing.
        if !st.running {
            return 0;
        }
        let h = st.health.get_or_insert_with(|| HealthState {
            status: "starting".into(),
            ..Default::default()
        });
        record(h, entry, code, in_start == "1", retries);
        let _ = eng.containers.write_state(id, &st);
    }
    0
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

/// Execs the check with its output in `out`, waits at most `timeout`; its exit code.
fn check(
    eng: &Engine,
    c: &Container,
    argv: &[String],
    timeout: Duration,
    out: &std::path::Path,
) -> i32 {
    let _ = nix::sys::signal::SigSet::all().thread_unblock();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let Ok(file) = std::fs::File::create(out) else {
        return 1;
    };
    let _ = nix::unistd::dup2_stdout(file.as_fd());
    let _ = nix::unistd::dup2_stderr(file.as_fd());
    let o = ExecOptions {
        cmd: argv.to_vec(),
        ..Default::default()
    };
    let Ok(p) = crate::exec::process(eng, &c.id, &o) else {
        return 1;
    };
    let Ok(pid) = eng.runtime_for(c).exec(&c.id, &p, None) else {
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
