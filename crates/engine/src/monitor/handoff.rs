//! Handing a running container to the small `berth-monitor` relay, and taking it back.
//!
//! Once the container runs, the monitor execs `berth-monitor` (same pid: init stays its
//! child) with the container's stdio, the attach socket and clients, the log's place and
//! limits, and the health check's schedule. Relaying from this 7 MB binary kept ~2.5 MB
//! resident, since every wake-up faulted in the scattered 64 KiB blocks of the code it
//! ran; the relay's binary is small enough that all of its code fits in less
//! (bench/NOTES.md, "monitor memory"). When init exits, the relay execs back into
//! `berth __monitor ... --exited CODE` ([`berth_monitor::handoff::Resume`]).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use berth_monitor::handoff::{Relay, Resume};
use berth_monitor::jsonlog::Limits;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use super::io::Stdio;
use super::Monitor;
use crate::error::{Error, Result};

/// The first argument that makes `berth` run one health check for a monitor.
pub const HEALTH_ARG: &str = "__monitor-health";

/// The relay binary: `$BERTH_MONITOR`, or `berth-monitor` beside this binary.
pub fn relay_binary() -> Result<PathBuf> {
    let p = match std::env::var_os("BERTH_MONITOR") {
        Some(p) => PathBuf::from(p),
        // Not current_exe: from berth's read-only view of itself that reads `/`.
        None => berth_runtime::seal::original_exe()
            .map_err(Error::io("find", "/proc/self/exe"))?
            .with_file_name("berth-monitor"),
    };
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Runtime(format!(
            "the monitor binary `{}` is missing (scripts/build-static.sh builds it; \
             BERTH_MONITOR names another)",
            p.display()
        )))
    }
}

/// Takes the fds a relay handed back: the attach socket and the clients.
pub fn adopt(r: &Resume) -> (Option<OwnedFd>, Vec<OwnedFd>) {
    let take = |fd: i32| {
        let fd = berth_sys::fd::adopt(fd);
        // Nothing we start (the runtime, helpers) may hold them.
        let _ = fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
        fd
    };
    (
        r.listener.map(take),
        r.clients.iter().map(|c| take(*c)).collect(),
    )
}

/// The health check's interval and start period in milliseconds, if the container has
/// a check (`NONE` disables the image's).
pub fn health_schedule(m: &Monitor) -> Option<(u64, u64)> {
    let h = m.c.config.healthcheck.as_ref()?;
    if !matches!(
        h.test.first().map(String::as_str),
        Some("CMD" | "CMD-SHELL")
    ) {
        return None;
    }
    let ms = |ns: i64, default: u64| {
        if ns > 0 {
            ns as u64 / 1_000_000
        } else {
            default
        }
    };
    Some((ms(h.interval, 30_000).max(1), ms(h.start_period, 0)))
}

/// What every run hands to the relay, found before the container is created so that a
/// missing binary or an unusable log fails the start rather than a running container.
pub struct Plan {
    relay: PathBuf,
    berth: String,
    /// The read-only view this process runs from, handed to the relay as `/proc/self/fd/N`
    /// so that it execs back (and starts health checks) through it: no re-exec of
    /// `berth` to protect itself at every exit (berth_runtime::seal).
    view: Option<OwnedFd>,
    log: Option<(String, Limits)>,
}

/// The relay binary, this binary, and the log's place and limits (the log opened once to
/// be sure the relay can).
pub fn plan(m: &Monitor) -> Result<Plan> {
    let relay = relay_binary()?;
    // A `berth` replaced since it started (an upgrade) reads as "PATH (deleted)": the
    // relay execs whatever is at PATH then, which goes back to a read-only view of itself
    // before it runs the runtime again (`__monitor` starts with that).
    let view = berth_runtime::seal::is_protected()
        .then(|| {
            nix::fcntl::open(
                "/proc/self/exe",
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok()
        })
        .flatten();
    let berth = berth_runtime::seal::original_exe()
        .map_err(Error::io("find", "/proc/self/exe"))?
        .to_string_lossy()
        .trim_end_matches(" (deleted)")
        .to_string();
    let log = match m.c.host_config.log_config.kind.as_str() {
        "none" => None,
        _ => {
            let limits = crate::logs::limits(&m.c.host_config.log_config)?;
            let path = crate::logs::path(&m.dir, &m.c.id);
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(Error::io("open", &path))?;
            Some((path.to_string_lossy().into_owned(), limits))
        }
    };
    let berth = match &view {
        Some(fd) => format!("/proc/self/fd/{}", fd.as_raw_fd()),
        None => berth,
    };
    Ok(Plan {
        relay,
        berth,
        view,
        log,
    })
}

/// Execs the relay for the run of init `pid`; returns only when that fails.
pub fn exec_relay(m: &Monitor, plan: &Plan, stdio: Stdio, pid: i32, backoff: Duration) -> Error {
    // The fds stay open across the exec: no close-on-exec for them, and only for them.
    let keep = |fd: &OwnedFd| {
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()));
        fd.as_raw_fd()
    };
    let [out, err, input, master] = stdio.ours();
    if let Some(v) = &plan.view {
        keep(v);
    }
    let args = Relay {
        init: pid,
        berth: plan.berth.clone(),
        out: out.as_ref().map(keep),
        err: err.as_ref().map(keep),
        input: input.as_ref().map(keep),
        master: master.as_ref().map(keep),
        listener: m.listener.as_ref().map(keep),
        clients: m.clients.iter().map(keep).collect(),
        log: plan.log.clone(),
        health: health_schedule(m),
        backoff_ms: backoff.as_millis() as u64,
        base: m.args.clone(),
    };
    let e = std::process::Command::new(&plan.relay)
        .args(args.to_args())
        .exec();
    Error::io("exec", &plan.relay)(e)
}
