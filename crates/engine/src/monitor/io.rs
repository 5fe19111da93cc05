//! The monitor's plumbing: the container's stdio and the forked helper that runs runtime
//! code. The loop that relays the stdio while the container runs is `berth-monitor`'s.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::SigSet;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::attach;
use crate::config::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Takes the handshake socket that `start` passed as our stdin, and puts /dev/null there.
pub fn take_stdin() -> OwnedFd {
    let sync = nix::unistd::dup(std::io::stdin().as_fd()).unwrap_or_else(|_| null());
    let _ = nix::fcntl::fcntl(
        &sync,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let n = null();
    let _ = nix::unistd::dup2_stdin(&n);
    sync
}

fn null() -> OwnedFd {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .expect("/dev/null opens")
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("pipe", "stdio")(e.into()))
}

/// The container's stdio: pipes (ours to read/write, theirs for init), or a pty whose
/// master the runtime sends to a console socket.
pub struct Stdio {
    theirs: Option<[OwnedFd; 3]>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    input: Option<OwnedFd>,
    console: Option<(PathBuf, OwnedFd)>,
    master: Option<OwnedFd>,
}

impl Stdio {
    /// Makes the pipes, or the console socket for a terminal.
    pub fn new(c: &Container) -> Result<Stdio> {
        if c.config.tty {
            return Ok(Stdio::nulls());
        }
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_r, input) = if c.config.open_stdin {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            (null(), None)
        };
        Ok(Stdio {
            theirs: Some([in_r, out_w, err_w]),
            out: Some(out_r),
            err: Some(err_r),
            input,
            console: None,
            master: None,
        })
    }

    /// Every stream /dev/null (for detached helpers).
    pub fn nulls() -> Stdio {
        Stdio {
            theirs: Some([null(), null(), null()]),
            out: None,
            err: None,
            input: None,
            console: None,
            master: None,
        }
    }

    /// Binds the console socket (terminal containers) at `path`.
    pub fn with_console(mut self, path: PathBuf, tty: bool) -> Result<Stdio> {
        if tty {
            let _ = std::fs::remove_file(&path);
            let l =
                std::os::unix::net::UnixListener::bind(&path).map_err(Error::io("bind", &path))?;
            self.console = Some((path, OwnedFd::from(l)));
        }
        Ok(self)
    }

    /// Sets the pty's window size (no-op without a terminal).
    pub fn resize(&self, rows: u16, cols: u16) {
        if let Some(m) = &self.master {
            let _ = berth_sys::fd::set_winsize(m.as_fd(), rows, cols);
        }
    }

    /// Our ends: stdout, stderr, stdin (`-i`), the pty master (`-t`).
    pub fn ours(self) -> [Option<OwnedFd>; 4] {
        [self.out, self.err, self.input, self.master]
    }

    /// Where the runtime sends the pty master.
    pub fn console_path(&self) -> Option<PathBuf> {
        self.console.as_ref().map(|(p, _)| p.clone())
    }

    /// After create: close init's ends; for a terminal, receive the master.
    pub fn after_create(mut self, _eng: &Engine, _id: &str) -> Result<Stdio> {
        self.theirs = None;
        if let Some((path, listener)) = self.console.take() {
            let l = std::os::unix::net::UnixListener::from(listener);
            let (conn, _) = l.accept().map_err(Error::io("accept", &path))?;
            let master = berth_runtime::tty::recv_master(conn.as_fd())
                .map_err(Error::io("receive pty master", &path))?;
            let _ = std::fs::remove_file(&path);
            self.master = Some(master);
        }
        Ok(self)
    }
}

/// Runs `f` in a forked child (stdio set to `stdio`'s container ends, signals as a new
/// process has them) and returns what it returned. Runtime code runs only there, so its
/// memory never stays in the monitor.
pub fn in_child(stdio: Option<&Stdio>, f: impl FnOnce() -> Result<String>) -> Result<String> {
    // One message, not read-to-EOF: init, forked from the child, holds a copy of the
    // child's end until it execs.
    let (r, w) = attach::pair().map_err(Error::io("socketpair", "helper"))?;
    let watch =
        berth_sys::process::ThreadWatch::open().map_err(Error::io("open", "/proc/self/task"))?;
    match berth_sys::process::fork_watched(&watch).map_err(Error::io("fork", "monitor"))? {
        berth_sys::process::Forked::Child => {
            drop(r);
            if let Some(theirs) = stdio.and_then(|s| s.theirs.as_ref()) {
                let _ = nix::unistd::dup2_stdin(&theirs[0]);
                let _ = nix::unistd::dup2_stdout(&theirs[1]);
                let _ = nix::unistd::dup2_stderr(&theirs[2]);
            }
            let _ = SigSet::all().thread_unblock();
            for s in [libc::SIGHUP, libc::SIGINT] {
                let _ = berth_sys::process::set_ignored(s, false);
            }
            let msg = match f() {
                Ok(s) => format!("ok {s}"),
                Err(e) => format!("err {e}"),
            };
            let _ = attach::say(&w, &msg);
            std::process::exit(0)
        }
        berth_sys::process::Forked::Parent(pid) => {
            drop(w);
            let out = attach::hear(&r).ok().flatten().unwrap_or_default();
            let _ = waitpid(Pid::from_raw(pid), None);
            match out.split_once(' ') {
                Some(("ok", rest)) => Ok(rest.to_string()),
                Some(("err", rest)) => Err(Error::Runtime(rest.to_string())),
                _ => Err(Error::Runtime(format!("runtime helper ended: `{out}`"))),
            }
        }
    }
}

/// Reads and discards a client's frames until it hangs up or `deadline` passes.
pub fn await_hangup(c: BorrowedFd<'_>, deadline: std::time::Instant) {
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::ZERO);
        let mut p = [PollFd::new(c, PollFlags::POLLIN)];
        if !matches!(poll(&mut p, ms), Ok(n) if n > 0) {
            return;
        }
        if !matches!(attach::recv(c), Ok(Some(_))) {
            return;
        }
    }
}
