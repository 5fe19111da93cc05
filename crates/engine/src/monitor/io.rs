//! The monitor's plumbing: the container's stdio, the forked helper that runs runtime code,
//! and the poll loop that copies output to the log and to attached clients until init exits.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::health::Health;
use super::Monitor;
use crate::attach;
use crate::config::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::Writer;

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

/// The exit code a shell would show for a wait status.
fn code_of(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Reaps every exited child; init's exit code once it is among them. A health check
/// helper's exit goes to `health`.
fn reap(m: &Monitor, init: Pid, health: &mut Option<Health>) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(ws) if ws.pid() == Some(init) => code = code_of(ws).or(code),
            Ok(ws) => {
                if let (Some(h), Some(pid), Some(c)) = (health.as_mut(), ws.pid(), code_of(ws)) {
                    h.reaped(m, pid.as_raw(), c);
                }
            }
        }
    }
}

/// Blocks SIGCHLD and returns a signalfd for it.
fn child_signals() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.thread_block()
        .map_err(|e| Error::io("block", "SIGCHLD")(e.into()))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::io("signalfd", "SIGCHLD")(e.into()))
}

/// What a readable fd in the loop is.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Signals,
    Out,
    Err,
    Master,
    Listener,
    Client(usize),
}

/// How long the loop must have had nothing to do before it gives back the pages of the
/// binary that its last round touched. After a release the next wake-up faults them back
/// in (about 0.4 ms of CPU, measured for a log line: bench/NOTES.md), so a container that
/// writes more often than this never pays it, one that writes less often pays it at most
/// once a second, and one that is quiet keeps only what it needs.
const SETTLE_MS: u128 = 1000;

/// Copies output to the log and clients, input to the container, until init exits;
/// returns its exit code. While nothing happens for [`SETTLE_MS`] it drops its mappings of
/// the executable and trims its heap: the binary is large, and the kernel maps its file
/// pages in 64 KiB blocks around every fault, so the few code paths of the loop would
/// otherwise keep megabytes resident (bench/NOTES.md, "monitor memory").
pub fn relay(m: &mut Monitor, mut io: Stdio, pid: i32, mut log: Option<&mut Writer>) -> i32 {
    let Ok(sfd) = child_signals() else {
        return 255;
    };
    let init = Pid::from_raw(pid);
    let mut buf = vec![0u8; 16 << 10];
    let mut health = Health::of(m);
    // Setup code is done with: its pages need not stay resident while we relay.
    let pages = berth_sys::memory::ExecutablePages::find().ok();
    if let Some(p) = &pages {
        p.release();
    }
    let mut busy = Some(std::time::Instant::now());
    let mut settled = false;
    loop {
        if let Some(h) = health.as_mut() {
            h.tick(m);
        }
        if let Some(code) = reap(m, init, &mut health) {
            accept_pending(m);
            drain(&mut io, m, &mut log, &mut buf);
            if let Some(l) = log.as_deref_mut() {
                l.flush();
            }
            return code;
        }
        let timeout = health
            .as_ref()
            .map_or(PollTimeout::NONE, Health::poll_timeout);
        let timeout = match busy {
            Some(t) => sooner(timeout, SETTLE_MS.saturating_sub(t.elapsed().as_millis())),
            None => timeout,
        };
        let release = pages.as_ref().filter(|_| settled);
        let ready = match wait_ready(m, &io, &sfd, timeout, release) {
            Ok(r) => r,
            Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        };
        settled = false;
        if !ready.is_empty() {
            busy = Some(std::time::Instant::now());
        } else if busy.is_some_and(|t| t.elapsed().as_millis() >= SETTLE_MS) {
            busy = None;
            settled = true;
        }
        let mut gone = vec![];
        for s in ready {
            match s {
                Source::Signals => while let Ok(Some(_)) = sfd.read_signal() {},
                Source::Listener => accept(m),
                Source::Client(i) => {
                    if !client_input(&mut io, &m.clients[i]) {
                        gone.push(i);
                    }
                }
                Source::Out | Source::Err | Source::Master => {
                    for i in std::mem::take(&mut gone).into_iter().rev() {
                        m.clients.remove(i);
                    }
                    pump(&mut io, s, m, &mut log, &mut buf);
                }
            }
        }
        for i in gone.into_iter().rev() {
            m.clients.remove(i);
        }
    }
}

/// The shorter of poll timeout `t` and `ms` milliseconds. (Not `PollTimeout::as_millis`:
/// nix 0.32's panics on `NONE`.)
fn sooner(t: PollTimeout, ms: u128) -> PollTimeout {
    let ms = ms.min(i32::MAX as u128) as i32;
    match i32::from(t) {
        cur if (0..=ms).contains(&cur) => t,
        _ => PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    }
}

/// Polls every source; the ready ones in the order to handle them: new clients first, so
/// output that arrived with them reaches them; then input; then output (which may drop
/// clients that went away). With `release`, trims the heap and drops the executable's
/// pages just before it blocks, so that no more code than the poll call runs between the
/// release and the sleep.
fn wait_ready(
    m: &Monitor,
    io: &Stdio,
    sfd: &SignalFd,
    timeout: PollTimeout,
    release: Option<&berth_sys::memory::ExecutablePages>,
) -> nix::Result<Vec<Source>> {
    let mut srcs = vec![Source::Signals];
    let mut fds: Vec<BorrowedFd> = vec![sfd.as_fd()];
    for (s, fd) in [
        (Source::Out, io.out.as_ref()),
        (Source::Err, io.err.as_ref()),
        (Source::Master, io.master.as_ref()),
        (Source::Listener, m.listener.as_ref()),
    ] {
        if let Some(fd) = fd {
            srcs.push(s);
            fds.push(fd.as_fd());
        }
    }
    for (i, c) in m.clients.iter().enumerate() {
        srcs.push(Source::Client(i));
        fds.push(c.as_fd());
    }
    let mut pfds: Vec<PollFd> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    if let Some(pages) = release {
        berth_sys::memory::trim_heap();
        pages.release();
    }
    poll(&mut pfds, timeout)?;
    let ready: Vec<Source> = pfds
        .iter()
        .zip(&srcs)
        .filter(|(p, _)| p.revents().is_some_and(|r| !r.is_empty()))
        .map(|(_, s)| *s)
        .collect();
    // Three passes rather than a sort: this loop is what the monitor runs all day, and
    // the less code it touches, the less of the binary stays resident.
    let rank = |s: &Source| match s {
        Source::Signals | Source::Listener => 0,
        Source::Client(_) => 1,
        _ => 2,
    };
    Ok((0..3)
        .flat_map(|r| ready.iter().copied().filter(move |s| rank(s) == r))
        .collect())
}

/// Reads what one output source has; closes it at end of file.
fn pump(io: &mut Stdio, s: Source, m: &mut Monitor, log: &mut Option<&mut Writer>, buf: &mut [u8]) {
    let (slot, stream) = match s {
        Source::Out => (&mut io.out, attach::STDOUT),
        Source::Err => (&mut io.err, attach::STDERR),
        _ => (&mut io.master, attach::STDOUT),
    };
    let Some(fd) = slot.as_ref() else { return };
    match nix::unistd::read(fd, buf) {
        Ok(0) | Err(Errno::EIO) => *slot = None,
        Ok(n) => {
            if let Some(l) = log.as_deref_mut() {
                l.write(stream, &buf[..n]);
            }
            m.clients
                .retain(|c| attach::send(c.as_fd(), stream, &buf[..n]).is_ok());
        }
        Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
        Err(_) => *slot = None,
    }
}

/// After init exited: whatever output is still buffered, without waiting for more.
fn drain(io: &mut Stdio, m: &mut Monitor, log: &mut Option<&mut Writer>, buf: &mut [u8]) {
    for s in [Source::Out, Source::Err, Source::Master] {
        for _ in 0..1024 {
            let fd = match s {
                Source::Out => io.out.as_ref(),
                Source::Err => io.err.as_ref(),
                _ => io.master.as_ref(),
            };
            let Some(fd) = fd else { break };
            let mut p = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0) {
                break;
            }
            pump(io, s, m, log, buf);
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

/// Accepts clients still in the listen backlog. `run` connects before it says start, so
/// when init exits before the loop's first poll its client is there: without this it would
/// get neither the output nor the exit code.
fn accept_pending(m: &mut Monitor) {
    loop {
        let Some(l) = &m.listener else { return };
        let mut p = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        let before = m.clients.len();
        accept(m);
        if m.clients.len() == before {
            return;
        }
    }
}

fn accept(m: &mut Monitor) {
    let Some(l) = &m.listener else { return };
    if let Ok(fd) = nix::sys::socket::accept(l) {
        let _ = nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        m.clients.push(fd);
    }
}

/// One frame from a client; false when the client is gone.
fn client_input(io: &mut Stdio, c: &OwnedFd) -> bool {
    match attach::recv(c.as_fd()) {
        Ok(Some((attach::STDIN, data))) => {
            let target = io.input.as_ref().or(io.master.as_ref());
            if let Some(fd) = target {
                let _ = write_all(fd.as_fd(), &data);
            }
            true
        }
        Ok(Some((attach::STDIN_EOF, _))) => {
            io.input = None;
            true
        }
        Ok(Some((attach::RESIZE, data))) => {
            let text = String::from_utf8_lossy(&data);
            let mut it = text
                .split_whitespace()
                .filter_map(|n| n.parse::<u16>().ok());
            if let (Some(rows), Some(cols), Some(m)) = (it.next(), it.next(), &io.master) {
                let _ = berth_sys::fd::set_winsize(m.as_fd(), rows, cols);
            }
            true
        }
        Ok(Some(_)) => true,
        Ok(None) | Err(_) => false,
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sooner_takes_the_shorter_wait() {
        for (t, ms, want) in [
            (PollTimeout::NONE, 250, 250),
            (PollTimeout::from(100u8), 250, 100),
            (PollTimeout::MAX, 0, 0),
            (PollTimeout::ZERO, 250, 0),
            (PollTimeout::NONE, u128::MAX, i32::MAX),
        ] {
            assert_eq!(i32::from(sooner(t, ms)), want, "{t:?} {ms}");
        }
    }
}
