//! Start, stop, kill, remove, wait, pause: what changes a container's state, each under
//! the container's lock, with the monitor doing the waiting in between.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::attach;
use crate::config::{Container, State};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::Lock;

/// A container whose monitor has created it and waits for the word to start it.
pub struct Starting {
    /// The container.
    pub container: Container,
    /// Init's pid.
    pub pid: i32,
    sync: OwnedFd,
    monitor: Child,
    lock: Lock,
}

/// The view of a container's state that commands show: the stored state, corrected when
/// its monitor died without recording an exit.
pub fn status(eng: &Engine, id: &str) -> Result<State> {
    let mut st = eng.containers.state(id)?;
    if (st.running || st.restarting) && !monitor_alive(&st) {
        if st.running && process_alive(st.pid, st.berth.pid_start) {
            return Ok(st);
        }
        st.running = false;
        st.paused = false;
        st.restarting = false;
        st.status = "exited".into();
        st.exit_code = 255;
        st.pid = 0;
        st.error = "the container's monitor went away; exit status unknown".into();
    }
    Ok(st)
}

fn monitor_alive(st: &State) -> bool {
    process_alive(st.berth.monitor_pid, st.berth.monitor_start)
}

/// `pid` runs and is the process that started at `start` (pid reuse guard).
pub fn process_alive(pid: i32, start: u64) -> bool {
    pid > 0 && berth_runtime::state::process_start_time(pid).is_some_and(|s| s == start)
}

/// Starts container `key`: mounts its rootfs, writes its spec and has a new monitor create
/// it. Returns `None` when it already runs.
pub fn start(eng: &Engine, key: &str) -> Result<Option<Starting>> {
    let id = eng.containers.resolve(key)?;
    let lock = eng.containers.lock(&id)?;
    let c = eng.containers.config(&id)?;
    let st = status(eng, &id)?;
    if st.running {
        return Ok(None);
    }
    if st.dead {
        return Err(Error::State {
            id: key.into(),
            status: "dead".into(),
            what: "a half-created container cannot start; remove it",
        });
    }
    let rt = eng.runtime_for(&c);
    let _ = rt.delete(&id, true);
    crate::monitor::prepare(eng, &c)?;
    let (ours, theirs) = attach::pair().map_err(Error::io("socketpair", "monitor"))?;
    let log = eng.dir(&id).join("monitor.log");
    let log = std::fs::File::create(&log).map_err(Error::io("create", &log))?;
    let mut monitor = Command::new(monitor_exe());
    if let Ok((k, v)) = berth_runtime::seal::original_exe_env() {
        monitor.env(k, v);
    }
    let mut monitor = monitor
        .arg(crate::monitor::ARG)
        .arg(&eng.opts.root)
        .arg(&eng.opts.state_root)
        .arg(&eng.opts.runtime)
        .arg(&eng.opts.cgroup_parent)
        .arg(&id)
        .stdin(Stdio::from(theirs))
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(Error::io("start monitor", monitor_exe()))?;
    let fail = |reason: String| {
        undo_create(eng, &c, &id);
        let mut st = st.clone();
        st.error = reason.clone();
        let _ = eng.containers.write_state(&id, &st);
        Error::Runtime(reason)
    };
    match hear_monitor(&ours, &mut monitor) {
        Ok(Some(m)) if m.starts_with("created ") => {
            let pid = m["created ".len()..].trim().parse().unwrap_or(0);
            Ok(Some(Starting {
                container: c,
                pid,
                sync: ours,
                monitor,
                lock,
            }))
        }
        Ok(Some(m)) => Err(fail(m.trim_start_matches("error ").to_string())),
        Ok(None) | Err(_) => Err(fail(format!(
            "the monitor of {} exited during create (see {})",
            c.short_name(),
            eng.dir(&id).join("monitor.log").display()
        ))),
    }
}

/// The monitor's next word on the handshake socket; `None` once the monitor is gone. It
/// polls, because a monitor killed with SIGKILL does not always close the socket: the
/// container's init, forked by the runtime in the monitor, holds a copy until it execs.
fn hear_monitor(sock: &OwnedFd, monitor: &mut Child) -> std::io::Result<Option<String>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut gone = false;
    loop {
        let mut p = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        let timeout = if gone { 0u16 } else { 100 };
        match poll(&mut p, PollTimeout::from(timeout)) {
            Ok(n) if n > 0 => return attach::hear(sock),
            Ok(_) | Err(nix::errno::Errno::EINTR) if gone => return Ok(None),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        // Once it has exited, one more look for what it said just before.
        gone = monitor.try_wait()?.is_some();
    }
}

/// A start that failed before the container ran: the runtime's half (a created init
/// waiting to be started, its cgroup) and the rootfs mount go; the container stays created.
fn undo_create(eng: &Engine, c: &Container, id: &str) {
    crate::network::unpublish(eng, id);
    let _ = eng.runtime_for(c).delete(id, true);
    remove_cgroup(eng, c);
    let _ = eng.unmount(id);
}

/// The binary that runs monitors: this one, through a read-only view of it when we do not
/// already run from one. Monitors fork container processes (the runtime runs in process),
/// so a container that reaches /proc/PID/exe of one (with CAP_SYS_PTRACE, before it execs)
/// must find nothing it can write (CVE-2019-5736; berth_runtime::seal). Spawning through
/// the view spares the monitor re-executing itself.
pub(crate) fn monitor_exe() -> PathBuf {
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::sync::OnceLock;
    static VIEW: OnceLock<Option<OwnedFd>> = OnceLock::new();
    if let Some(p) = std::env::var_os("BERTH_MONITOR_EXE") {
        return PathBuf::from(p);
    }
    let view = VIEW.get_or_init(|| {
        if berth_runtime::seal::is_protected() {
            return None;
        }
        berth_runtime::seal::read_only_view().ok()
    });
    match view {
        // The fd is close-on-exec: execve resolves the path before it closes fds.
        Some(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        None => PathBuf::from("/proc/self/exe"),
    }
}

impl Starting {
    /// Tells the monitor to start the container and records it as running.
    pub fn go(mut self, eng: &Engine) -> Result<i32> {
        let id = self.container.id.clone();
        // A terminal container starts with our terminal's size, if we have one.
        let size = if self.container.config.tty {
            berth_sys::fd::get_winsize(std::io::stdin().as_fd())
                .ok()
                .filter(|(r, c)| *r > 0 && *c > 0)
        } else {
            None
        };
        let msg = match size {
            Some((r, c)) => format!("start {r} {c}"),
            None => "start".into(),
        };
        attach::say(&self.sync, &msg).map_err(Error::io("tell monitor", "start"))?;
        let reply = hear_monitor(&self.sync, &mut self.monitor)
            .ok()
            .flatten()
            .unwrap_or_default();
        if reply != "started" {
            if reply.is_empty() {
                undo_create(eng, &self.container, &id);
            }
            let mut st = eng.containers.state(&id)?;
            st.error = reply.trim_start_matches("error ").to_string();
            eng.containers.write_state(&id, &st)?;
            return Err(Error::Runtime(if st.error.is_empty() {
                "the monitor exited during start".into()
            } else {
                st.error
            }));
        }
        drop(self.lock);
        Ok(self.pid)
    }
}

/// Records container `c` as running with init `pid` under monitor `monitor`. The monitor
/// calls this as soon as its runtime's start succeeded, before it answers `started`: the
/// `berth` that holds the lock waits for that answer, and may be killed while it does,
/// so the record must not depend on it.
pub fn record_running(eng: &Engine, c: &Container, pid: i32, monitor: i32) -> Result<()> {
    let mut st = eng.containers.state(&c.id)?;
    st.status = "running".into();
    st.running = true;
    st.paused = false;
    st.restarting = false;
    st.oom_killed = false;
    st.dead = false;
    st.error.clear();
    st.pid = pid;
    st.exit_code = 0;
    st.started_at = now();
    st.finished_at = crate::config::ZERO_TIME.into();
    st.berth.monitor_pid = monitor;
    st.berth.monitor_start = berth_runtime::state::process_start_time(monitor).unwrap_or(0);
    st.berth.pid_start = berth_runtime::state::process_start_time(pid).unwrap_or(0);
    st.berth.stopped_by_user = false;
    if c.config.healthcheck.is_some() {
        st.health = Some(crate::config::Health {
            status: "starting".into(),
            ..Default::default()
        });
    }
    eng.containers.write_state(&c.id, &st)
}

/// The current time, RFC 3339 with nanoseconds.
pub fn now() -> String {
    time(std::time::SystemTime::now())
}

/// A time, RFC 3339 with nanoseconds.
pub fn time(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Marks `id` as stopped by its user (so its restart policy leaves it alone).
fn mark_stopped(eng: &Engine, id: &str) -> Result<State> {
    let _lock = eng.containers.lock(id)?;
    let mut st = status(eng, id)?;
    st.berth.stopped_by_user = true;
    eng.containers.write_state(id, &st)?;
    Ok(st)
}

/// `stop`: `signal`, else the container's stop signal, else SIGTERM; then SIGKILL after
/// `timeout` seconds (else the container's `--stop-timeout`, else 10).
pub fn stop(eng: &Engine, key: &str, timeout: Option<i64>, signal: Option<i32>) -> Result<String> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id)?;
    let st = mark_stopped(eng, &id)?;
    if !st.running && !st.restarting {
        return Ok(id);
    }
    let rt = eng.runtime_for(&c);
    if st.paused {
        let _ = rt.pause(&id, false);
    }
    let sig = signal
        .or_else(|| {
            c.config
                .stop_signal
                .as_deref()
                .and_then(berth_runtime::container::signals::parse)
        })
        .unwrap_or(libc::SIGTERM);
    let secs = timeout.or(c.config.stop_timeout).unwrap_or(10).max(0) as u64;
    if st.running {
        let _ = rt.kill(&id, sig, false);
        if !berth_runtime::container::wait::wait_exit(st.pid, Duration::from_secs(secs)) {
            let _ = rt.kill(&id, libc::SIGKILL, true);
            berth_runtime::container::wait::wait_exit(st.pid, Duration::from_secs(10));
        }
    }
    settle(eng, &id, &st);
    Ok(id)
}

/// After the container's init is gone: waits for its monitor to record the exit, or
/// records it and cleans up when the monitor is gone.
fn settle(eng: &Engine, id: &str, st: &State) {
    if monitor_alive(st) {
        berth_runtime::container::wait::wait_exit(st.berth.monitor_pid, Duration::from_secs(15));
    }
    let Ok(_lock) = eng.containers.lock(id) else {
        return;
    };
    let Ok(now_st) = eng.containers.state(id) else {
        return;
    };
    if now_st.running || now_st.restarting {
        if let Ok(c) = eng.containers.config(id) {
            let _ = eng.runtime_for(&c).delete(id, true);
        }
        let _ = eng.unmount(id);
        let mut s = status(eng, id).unwrap_or(now_st);
        if s.running {
            s.running = false;
            s.status = "exited".into();
            s.exit_code = 137;
        }
        s.pid = 0;
        s.finished_at = now();
        let _ = eng.containers.write_state(id, &s);
    }
}

/// `kill -s SIG`.
pub fn kill(eng: &Engine, key: &str, sig: i32) -> Result<String> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id)?;
    let st = status(eng, &id)?;
    if !st.running {
        return Err(Error::State {
            id: key.into(),
            status: st.status,
            what: "cannot kill a container that is not running",
        });
    }
    if sig == libc::SIGKILL {
        mark_stopped(eng, &id)?;
    }
    eng.runtime_for(&c).kill(&id, sig, false)?;
    Ok(id)
}

/// `rm`: refuses a running container unless `force`, which kills it first.
pub fn remove(eng: &Engine, key: &str, force: bool) -> Result<String> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id).unwrap_or_default();
    let st = status(eng, &id)?;
    if (st.running || st.restarting) && !force {
        return Err(Error::State {
            id: key.into(),
            status: st.status,
            what: "you cannot remove a running container; stop it first or use rm -f",
        });
    }
    if st.running || st.restarting {
        let st = mark_stopped(eng, &id)?;
        let rt = eng.runtime_for(&c);
        if st.paused {
            let _ = rt.pause(&id, false);
        }
        let _ = rt.kill(&id, libc::SIGKILL, true);
        berth_runtime::container::wait::wait_exit(st.pid, Duration::from_secs(10));
        settle(eng, &id, &st);
    }
    let lock = eng.containers.lock(&id);
    let _ = eng.runtime_for(&c).delete(&id, true);
    remove_cgroup(eng, &c);
    eng.purge(&id, &c.name)?;
    drop(lock);
    Ok(id)
}

/// Kills what is left in container `id`'s cgroup and removes it. The runtime's delete does
/// this for containers it knows; a runtime killed with its monitor in the middle of
/// `create` made the cgroup (and maybe init) before it recorded any state.
fn remove_cgroup(eng: &Engine, c: &Container) {
    let path = eng.cgroups_path(c);
    if let Ok(m) = berth_cgroups::create_manager(Some(std::path::Path::new(&path)), &c.id) {
        let _ = m.kill_all(libc::SIGKILL);
        let _ = m.destroy();
    }
}

/// `wait`: blocks until the container stops; its exit code.
pub fn wait(eng: &Engine, key: &str) -> Result<i32> {
    let id = eng.containers.resolve(key)?;
    loop {
        let st = status(eng, &id)?;
        if !st.running && !st.restarting {
            // The monitor records the exit before it goes; give it that moment.
            if monitor_alive(&st) {
                berth_runtime::container::wait::wait_exit(
                    st.berth.monitor_pid,
                    Duration::from_millis(200),
                );
            }
            return Ok(status(eng, &id)?.exit_code);
        }
        if st.running && st.pid > 0 {
            berth_runtime::container::wait::wait_exit(st.pid, Duration::from_secs(1));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `pause` / `unpause`.
pub fn pause(eng: &Engine, key: &str, paused: bool) -> Result<String> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id)?;
    let _lock = eng.containers.lock(&id)?;
    let mut st = status(eng, &id)?;
    if !st.running {
        return Err(Error::State {
            id: key.into(),
            status: st.status,
            what: "the container is not running",
        });
    }
    if st.paused == paused {
        return Err(Error::State {
            id: key.into(),
            status: st.status,
            what: if paused {
                "the container is already paused"
            } else {
                "the container is not paused"
            },
        });
    }
    eng.runtime_for(&c).pause(&id, paused)?;
    st.paused = paused;
    st.status = if paused { "paused" } else { "running" }.into();
    eng.containers.write_state(&id, &st)?;
    Ok(id)
}

/// `rename OLD NEW`.
pub fn rename(eng: &Engine, key: &str, new: &str) -> Result<()> {
    let id = eng.containers.resolve(key)?;
    let _lock = eng.containers.lock(&id)?;
    let mut c = eng.containers.config(&id)?;
    let new = new.trim_start_matches('/');
    if !crate::names::valid(new) {
        return Err(Error::invalid(
            "name",
            new,
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ));
    }
    eng.containers.reserve_name(new, &id)?;
    let old = c.name.clone();
    c.name = format!("/{new}");
    eng.containers.write_config(&c)?;
    eng.containers
        .release_name(old.trim_start_matches('/'), &id);
    Ok(())
}

/// Checks `-v` and `--mount` sources at create time: bind sources must exist.
pub fn check_mounts(eng: &Engine, c: &Container) -> Result<()> {
    crate::monitor::binds(eng, c, false).map(drop)
}
