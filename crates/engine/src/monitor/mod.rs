//! The monitor: one small process per running container, what conmon is to Podman.
//!
//! `berth start` runs `berth __monitor ROOT STATE RUNTIME CGROUP_PARENT ID` with a
//! handshake socket as stdin. The monitor becomes a session leader and a child subreaper,
//! makes the container's stdio (pipes, or a pty through a console socket), and has a
//! short-lived forked child call the runtime's `create` (so the runtime's code and memory
//! never stay in the monitor); init is then reparented to the monitor, which alone can
//! `waitpid` it. It answers `created PID`, waits for `start`, starts, answers `started`,
//! and then execs the small `berth-monitor` relay ([`handoff`]), which copies output to
//! the json log and to attached clients, feeds stdin and runs health checks. When init
//! exits the relay execs back into `berth __monitor ... --exited CODE`, which records the
//! exit code and whether the cgroup's OOM killer struck, deletes the runtime's container,
//! and restarts it (execing the relay again) or unmounts and leaves. The pid stays the
//! same throughout.

pub mod handoff;
mod health;
mod io;
pub(crate) mod prepare;

pub use health::main as health_main;
pub use io::{in_child, Stdio};

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_monitor::handoff::Resume;

pub use prepare::{binds, prepare};

use crate::attach;
use crate::config::{Container, State};
use crate::engine::{Engine, Options};
use crate::error::{Error, Result};

/// The first argument that makes `berth` a monitor.
pub const ARG: &str = "__monitor";

/// Entry point: `args` are what follows [`ARG`]: ROOT STATE RUNTIME CGROUP_PARENT ID, and
/// after a run the relay's [`Resume`] options. Returns the process's exit code.
pub fn main(args: &[String]) -> i32 {
    let (Some([root, state, runtime, cgroup_parent, id]), rest) = (
        args.get(..5).and_then(|a| <&[String; 5]>::try_from(a).ok()),
        args.get(5..),
    ) else {
        eprintln!("berth {ARG}: expected ROOT STATE RUNTIME CGROUP_PARENT ID");
        return 2;
    };
    let resume = match rest.filter(|r| !r.is_empty()).map(Resume::parse) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            eprintln!("berth {ARG}: {e}");
            return 2;
        }
    };
    if resume.is_none() {
        // A first start; after a run the relay has set all this up already.
        let _ = nix::unistd::setsid();
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    for s in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE] {
        let _ = berth_sys::process::set_ignored(s, true);
    }
    // Only a first start has `berth start` on the other end of stdin.
    let sync = resume.is_none().then(io::take_stdin);
    let opts = Options {
        root: root.into(),
        state_root: state.into(),
        runtime: runtime.clone(),
        cgroup_parent: cgroup_parent.clone(),
        // Defaults are applied at create; a monitor creates nothing.
        ..Options::default()
    };
    let mut m = match Monitor::new(opts, id, sync, resume.as_ref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("berth monitor {id}: {e}");
            return 1;
        }
    };
    m.args = args[..5].to_vec();
    match m.run(resume) {
        Ok(()) => 0,
        Err(e) => {
            // No process serves the published ports any more.
            crate::network::unpublish(&m.eng, id);
            eprintln!("berth monitor {id}: {e}");
            match m.sync.take() {
                // The first start: the `berth start` waiting on the socket records it.
                Some(s) => {
                    let _ = attach::say(&s, &format!("error {e}"));
                }
                None => m.record_failed_restart(&e),
            }
            1
        }
    }
}

/// One container's monitor.
pub struct Monitor {
    eng: Engine,
    c: Container,
    dir: PathBuf,
    sync: Option<OwnedFd>,
    listener: Option<OwnedFd>,
    clients: Vec<OwnedFd>,
    /// Our own arguments (ROOT STATE RUNTIME CGROUP_PARENT ID), for the relay to hand back.
    args: Vec<String>,
}

/// How one run of the container ended.
#[derive(Debug, Clone, Copy)]
struct Exit {
    code: i32,
    oom: bool,
}

impl Monitor {
    fn new(
        opts: Options,
        id: &str,
        sync: Option<OwnedFd>,
        resume: Option<&Resume>,
    ) -> Result<Monitor> {
        let eng = Engine::open(opts)?;
        let c = eng.containers.config(id)?;
        let dir = eng.dir(id);
        let (listener, clients) = match resume {
            Some(r) => handoff::adopt(r),
            None => (attach::listen(&dir).ok(), vec![]),
        };
        Ok(Monitor {
            eng,
            c,
            dir,
            sync,
            listener,
            clients,
            args: vec![],
        })
    }

    /// After a run ([`Resume`]): records it and stops unless the policy restarts. Then
    /// (or on a first start) creates and starts the container and hands it to the relay.
    fn run(&mut self, resume: Option<Resume>) -> Result<()> {
        let mut backoff = Duration::from_millis(100);
        if let Some(r) = resume {
            backoff = Duration::from_millis(r.backoff_ms);
            let exit = Exit {
                code: r.code,
                oom: self.oom_killed(),
            };
            if !self.after_run(exit, Duration::from_millis(r.ran_ms), &mut backoff)? {
                return Ok(());
            }
        }
        let plan = handoff::plan(self)?;
        let console = self.eng.console_path(&self.c.id, "console");
        let stdio = io::Stdio::new(&self.c)?.with_console(console, self.c.config.tty)?;
        let pid = self.create(&stdio)?;
        self.connect(pid)?;
        let stdio = stdio.after_create(&self.eng, &self.c.id)?;
        let first = self.sync.is_some();
        if first && !self.handshake(pid, &stdio)? {
            return Ok(());
        }
        if !first {
            self.start()?;
            self.record_restart(pid)?;
        }
        Err(handoff::exec_relay(self, &plan, stdio, pid, backoff))
    }

    /// Records how a run ended; true when the restart policy asks for another run (after
    /// the backoff delay, which doubles up to a minute and starts again at 100 ms after a
    /// run of 10 s or more).
    fn after_run(&mut self, exit: Exit, ran: Duration, backoff: &mut Duration) -> Result<bool> {
        let _ = self.eng.runtime_for(&self.c).delete(&self.c.id, true);
        // The host veths go after the client is told: deleting one whose namespace the
        // kernel is tearing down waits for it (~17 ms on every `run --rm`).
        let unplug = crate::network::unplug_later(&self.eng, &self.c.id);
        let restart = self.decide_restart(exit)?;
        if !restart {
            crate::network::unpublish(&self.eng, &self.c.id);
            let _ = self.eng.unmount(&self.c.id);
            if self.c.host_config.auto_remove {
                let _ = self.eng.purge_with(&self.c.id, &self.c.name, false);
            }
            self.tell_clients(exit.code);
            unplug.finish();
            return Ok(false);
        }
        // The next run makes a veth of the same name.
        unplug.finish();
        if ran >= Duration::from_secs(10) {
            *backoff = Duration::from_millis(100);
        }
        if !self.sleep_unless_stopped(*backoff) {
            crate::network::unpublish(&self.eng, &self.c.id);
            let _ = self.eng.unmount(&self.c.id);
            self.tell_clients(exit.code);
            return Ok(false);
        }
        *backoff = (*backoff * 2).min(Duration::from_secs(60));
        // `update`, `rename` and `network connect` may have changed it since the last run.
        if let Ok(c) = self.eng.containers.config(&self.c.id) {
            self.c = c;
        }
        Ok(true)
    }

    /// The first start: report `created PID`, wait for `start`, start, report `started`.
    /// False when `berth` went away before saying start (the container is deleted).
    /// `start` may carry the window size (`start ROWS COLS`) to give the pty before the
    /// program runs.
    fn handshake(&mut self, pid: i32, stdio: &io::Stdio) -> Result<bool> {
        let Some(sync) = self.sync.take() else {
            return Ok(true);
        };
        let _ = attach::say(&sync, &format!("created {pid}"));
        match attach::hear(&sync) {
            Ok(Some(m)) if m.split_whitespace().next() == Some("start") => {
                let mut size = m.split_whitespace().skip(1).filter_map(|n| n.parse().ok());
                if let (Some(rows), Some(cols)) = (size.next(), size.next()) {
                    stdio.resize(rows, cols);
                }
            }
            _ => {
                let _ = self.eng.runtime_for(&self.c).delete(&self.c.id, true);
                let _ = self.eng.unmount(&self.c.id);
                return Ok(false);
            }
        }
        if let Err(e) = self.start() {
            let _ = attach::say(&sync, &format!("error {e}"));
            let _ = self.eng.runtime_for(&self.c).delete(&self.c.id, true);
            let _ = self.eng.unmount(&self.c.id);
            return Ok(false);
        }
        // The `berth` that started us holds the container's lock and waits for our answer.
        crate::lifecycle::record_running(&self.eng, &self.c, pid, std::process::id() as i32)?;
        let _ = attach::say(&sync, "started");
        Ok(true)
    }

    /// The runtime's create, in a forked child whose stdio is the container's.
    fn create(&self, stdio: &io::Stdio) -> Result<i32> {
        let bundle = self.dir.join("bundle");
        let console = stdio.console_path();
        let id = self.c.id.clone();
        let rt = self.eng.runtime_for(&self.c);
        let out = io::in_child(Some(stdio), || {
            rt.create(&id, &bundle, console.as_deref())
                .map(|p| p.to_string())
        })?;
        out.trim()
            .parse()
            .map_err(|_| Error::Runtime(format!("create returned `{out}`")))
    }

    /// Wires the container's network into init's new namespace before its process runs;
    /// when that fails the runtime's container goes and the error is the start's.
    fn connect(&self, pid: i32) -> Result<()> {
        let r = crate::network::connect(&self.eng, &self.c, pid);
        if r.is_err() {
            let _ = self.eng.runtime_for(&self.c).delete(&self.c.id, true);
            let _ = self.eng.unmount(&self.c.id);
        }
        r
    }

    fn start(&self) -> Result<()> {
        let id = self.c.id.clone();
        let rt = self.eng.runtime_for(&self.c);
        io::in_child(None, || rt.start(&id).map(|()| String::new())).map(drop)
    }

    /// Whether the cgroup's OOM killer killed anything during this run (read before the
    /// runtime's delete removes the cgroup).
    fn oom_killed(&self) -> bool {
        let path = self.eng.cgroups_path(&self.c);
        berth_cgroups::create_manager(Some(Path::new(&path)), &self.c.id)
            .and_then(|m| m.oom_kill_count())
            .is_ok_and(|n| n > 0)
    }

    /// Records the exit; true when the restart policy asks for another run.
    fn decide_restart(&self, exit: Exit) -> Result<bool> {
        let _lock = self.eng.containers.lock(&self.c.id)?;
        let mut st = self.eng.containers.state(&self.c.id)?;
        // `update --restart` may have changed the policy since this monitor started.
        let stored = self.eng.containers.config(&self.c.id);
        let p = match &stored {
            Ok(c) => &c.host_config.restart_policy,
            Err(_) => &self.c.host_config.restart_policy,
        };
        let restart = !st.berth.stopped_by_user
            && !self.c.host_config.auto_remove
            && match p.name.as_str() {
                "always" | "unless-stopped" => true,
                "on-failure" => {
                    exit.code != 0
                        && (p.maximum_retry_count <= 0
                            || st.berth.restart_count < p.maximum_retry_count)
                }
                _ => false,
            };
        st.running = false;
        st.paused = false;
        st.restarting = restart;
        st.status = if restart { "restarting" } else { "exited" }.into();
        st.exit_code = exit.code;
        st.oom_killed = exit.oom;
        st.pid = 0;
        st.finished_at = crate::lifecycle::now();
        if !restart {
            st.berth.monitor_pid = 0;
        }
        if let Some(h) = &mut st.health {
            h.status = "unhealthy".into();
        }
        self.eng.containers.write_state(&self.c.id, &st)?;
        Ok(restart)
    }

    /// A restart the policy asked for failed (its network could not be wired, the
    /// runtime refused): the container ends `exited` with the error in `.State.Error`, as
    /// in Docker, instead of staying `restarting` with no monitor.
    fn record_failed_restart(&self, e: &Error) {
        let _ = self.eng.unmount(&self.c.id);
        let Ok(_lock) = self.eng.containers.lock(&self.c.id) else {
            return;
        };
        let Ok(mut st) = self.eng.containers.state(&self.c.id) else {
            return;
        };
        st.status = "exited".into();
        st.running = false;
        st.paused = false;
        st.restarting = false;
        st.pid = 0;
        st.error = e.to_string();
        // Docker's code for a start that failed; a run's own non-zero code is kept.
        if st.exit_code == 0 {
            st.exit_code = 128;
        }
        st.finished_at = crate::lifecycle::now();
        st.berth.monitor_pid = 0;
        let _ = self.eng.containers.write_state(&self.c.id, &st);
    }

    fn record_restart(&self, pid: i32) -> Result<()> {
        let _lock = self.eng.containers.lock(&self.c.id)?;
        let mut st = self.eng.containers.state(&self.c.id)?;
        st.status = "running".into();
        st.running = true;
        st.restarting = false;
        st.oom_killed = false;
        st.error.clear();
        st.pid = pid;
        st.started_at = crate::lifecycle::now();
        st.berth.pid_start = berth_runtime::state::process_start_time(pid).unwrap_or(0);
        st.berth.restart_count += 1;
        self.eng.containers.write_state(&self.c.id, &st)
    }

    /// Sleeps `d` in small steps; false when the user stopped the container meanwhile.
    fn sleep_unless_stopped(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            let st = self.eng.containers.state(&self.c.id);
            if st.is_ok_and(|s: State| s.berth.stopped_by_user) {
                let _lock = self.eng.containers.lock(&self.c.id);
                if let Ok(mut s) = self.eng.containers.state(&self.c.id) {
                    s.restarting = false;
                    s.status = "exited".into();
                    s.berth.monitor_pid = 0;
                    let _ = self.eng.containers.write_state(&self.c.id, &s);
                }
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }

    /// Sends the exit code to every attached client, then waits (briefly) for each to hang
    /// up: closing a socket whose input was not read would make the client see a reset
    /// instead of the exit code.
    fn tell_clients(&mut self, code: i32) {
        let deadline = Instant::now() + Duration::from_secs(2);
        for c in self.clients.drain(..) {
            let _ = attach::send(c.as_fd(), attach::EXIT, code.to_string().as_bytes());
            let _ = nix::sys::socket::shutdown(
                std::os::fd::AsRawFd::as_raw_fd(&c),
                nix::sys::socket::Shutdown::Write,
            );
            io::await_hangup(c.as_fd(), deadline);
        }
    }
}
