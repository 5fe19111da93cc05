//! `berth-monitor`: what a container's monitor runs while the container runs.
//!
//! `berth __monitor` creates and starts the container, then execs this small binary with
//! the container's stdio, the attach socket and the log's place ([`Relay`]). It copies
//! output to the json-file log and to attached clients, feeds their input to the
//! container, starts a `berth __monitor-health` helper whenever a health check is due, and
//! when init exits it execs back into `berth __monitor` ([`Resume`]), which records the
//! exit, applies the restart policy and, for a restart, execs this again. The pid stays
//! the same throughout, so init stays our child and the store's monitor pid stays true.
//!
//! Why a binary of its own: the kernel maps a binary's file pages in 64 KiB blocks around
//! each fault, and the relay's few code paths lay scattered over the 7 MB `berth`, so
//! relaying kept ~2.5 MB resident there; here the whole text is a few hundred KiB
//! (bench/NOTES.md, "monitor memory").

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use berth_monitor::frame;
use berth_monitor::handoff::{Relay, Resume};
use berth_monitor::jsonlog::Writer;
use berth_sys::memory::ExecutablePages;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How long the loop must have had nothing to do before it gives back the pages of the
/// binary and heap that its last round touched: a container that writes more often than
/// this never pays the faults that follow a release, a quiet one keeps only what it needs.
const SETTLE_MS: u128 = 1000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match Relay::parse(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth-monitor: {e}");
            std::process::exit(2);
        }
    };
    let mut m = Monitor::adopt(&r);
    let code = m.run();
    m.hand_back(&r, code);
}

/// A health check's schedule and the helper in flight.
struct Health {
    interval: Duration,
    start_period: Duration,
    next: Instant,
    running: Option<Pid>,
}

/// One run of the container, as the relay sees it.
struct Monitor {
    init: Pid,
    started: Instant,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    input: Option<OwnedFd>,
    master: Option<OwnedFd>,
    listener: Option<OwnedFd>,
    clients: Vec<OwnedFd>,
    log: Option<Writer>,
    health: Option<Health>,
    /// Kept open (close-on-exec: exec resolves the path first) while `berth` is it.
    _berth_fd: Option<OwnedFd>,
    berth: String,
    base: Vec<String>,
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

/// Takes an fd handed to us across exec and closes it on the next exec (a health helper
/// must not hold the container's pipes or the attach socket).
fn take(fd: Option<i32>) -> Option<OwnedFd> {
    let fd = berth_sys::fd::adopt(fd?);
    let _ = fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    Some(fd)
}

impl Monitor {
    fn adopt(r: &Relay) -> Monitor {
        let log = r.log.as_ref().and_then(|(path, limits)| {
            Writer::open(path.into(), *limits)
                .map_err(|e| eprintln!("berth-monitor: open {path}: {e}"))
                .ok()
        });
        let now = Instant::now();
        Monitor {
            init: Pid::from_raw(r.init),
            started: now,
            out: take(r.out),
            err: take(r.err),
            input: take(r.input),
            master: take(r.master),
            listener: take(r.listener),
            clients: r.clients.iter().filter_map(|c| take(Some(*c))).collect(),
            log,
            health: r.health.map(|(interval, start)| Health {
                interval: Duration::from_millis(interval),
                start_period: Duration::from_millis(start),
                next: now + Duration::from_millis(interval),
                running: None,
            }),
            // `berth` as `/proc/self/fd/N` (its read-only view): ours until we exec back.
            _berth_fd: r
                .berth
                .strip_prefix("/proc/self/fd/")
                .and_then(|n| n.parse().ok())
                .and_then(|n| take(Some(n))),
            berth: r.berth.clone(),
            base: r.base.clone(),
        }
    }

    /// Copies output to the log and clients, input to the container, until init exits;
    /// returns its exit code. While nothing happens for [`SETTLE_MS`] it drops its
    /// mappings of the executable and trims its heap right before it sleeps.
    fn run(&mut self) -> i32 {
        let Ok(sfd) = child_signals() else {
            return 255;
        };
        let mut buf = vec![0u8; 16 << 10];
        // Setup code (std's start-up, argument parsing, this lookup) is done with: its
        // pages need not stay resident while we relay.
        let pages = ExecutablePages::find().ok();
        if let Some(p) = &pages {
            berth_sys::memory::trim_heap();
            p.release();
        }
        let mut busy = Some(Instant::now());
        let mut settled = false;
        loop {
            self.health_tick();
            if let Some(code) = self.reap() {
                self.accept_pending();
                self.drain(&mut buf);
                if let Some(l) = self.log.as_mut() {
                    l.flush();
                }
                return code;
            }
            let mut timeout = self.health_timeout();
            if let Some(t) = busy {
                timeout = sooner(timeout, SETTLE_MS.saturating_sub(t.elapsed().as_millis()));
            }
            let release = pages.as_ref().filter(|_| settled);
            let ready = match self.wait_ready(&sfd, timeout, release) {
                Ok(r) => r,
                Err(Errno::EINTR) => continue,
                Err(_) => return 255,
            };
            settled = false;
            if !ready.is_empty() {
                busy = Some(Instant::now());
            } else if busy.is_some_and(|t| t.elapsed().as_millis() >= SETTLE_MS) {
                busy = None;
                settled = true;
            }
            self.handle(&ready, &sfd, &mut buf);
        }
    }

    fn handle(&mut self, ready: &[Source], sfd: &SignalFd, buf: &mut [u8]) {
        let mut gone = vec![];
        for &s in ready {
            match s {
                Source::Signals => while let Ok(Some(_)) = sfd.read_signal() {},
                Source::Listener => self.accept(),
                Source::Client(i) => {
                    if !self.client_input(i) {
                        gone.push(i);
                    }
                }
                Source::Out | Source::Err | Source::Master => {
                    for i in std::mem::take(&mut gone).into_iter().rev() {
                        self.clients.remove(i);
                    }
                    self.pump(s, buf);
                }
            }
        }
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
    }

    /// Reaps every exited child; init's exit code once it is among them.
    fn reap(&mut self) -> Option<i32> {
        let mut code = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return code,
                Ok(ws) if ws.pid() == Some(self.init) => code = code_of(ws).or(code),
                Ok(ws) => {
                    if let Some(h) = self.health.as_mut().filter(|h| h.running == ws.pid()) {
                        h.running = None;
                    }
                }
            }
        }
    }

    /// Starts `berth __monitor-health BASE... IN_START_PERIOD` when a check is due; the
    /// helper runs the check in the container and records the result in its state.
    fn health_tick(&mut self) {
        let Some(h) = self.health.as_mut() else {
            return;
        };
        if h.running.is_some() || Instant::now() < h.next {
            return;
        }
        h.next = Instant::now() + h.interval;
        let in_start = self.started.elapsed() < h.start_period;
        let mut argv = vec![self.berth.clone(), "__monitor-health".into()];
        argv.extend(self.base.iter().cloned());
        argv.push(if in_start { "1" } else { "0" }.into());
        h.running = spawn(&argv);
    }

    /// How long the loop may sleep before the next check is due.
    fn health_timeout(&self) -> PollTimeout {
        match &self.health {
            Some(h) if h.running.is_none() => {
                let ms = h.next.saturating_duration_since(Instant::now()).as_millis();
                sooner(PollTimeout::NONE, ms)
            }
            _ => PollTimeout::NONE,
        }
    }

    /// Polls every source; the ready ones in the order to handle them: new clients first,
    /// so output that arrived with them reaches them; then input; then output (which may
    /// drop clients that went away). With `release`, trims the heap and drops the
    /// executable's pages just before it blocks.
    fn wait_ready(
        &self,
        sfd: &SignalFd,
        timeout: PollTimeout,
        release: Option<&ExecutablePages>,
    ) -> nix::Result<Vec<Source>> {
        let mut srcs = vec![Source::Signals];
        let mut pfds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        for (s, fd) in [
            (Source::Listener, self.listener.as_ref()),
            (Source::Out, self.out.as_ref()),
            (Source::Err, self.err.as_ref()),
            (Source::Master, self.master.as_ref()),
        ] {
            if let Some(fd) = fd {
                srcs.push(s);
                pfds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            srcs.push(Source::Client(i));
            pfds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
        }
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
    fn pump(&mut self, s: Source, buf: &mut [u8]) {
        let (slot, stream) = match s {
            Source::Out => (&mut self.out, frame::STDOUT),
            Source::Err => (&mut self.err, frame::STDERR),
            _ => (&mut self.master, frame::STDOUT),
        };
        let Some(fd) = slot.as_ref() else { return };
        match nix::unistd::read(fd, buf) {
            Ok(0) | Err(Errno::EIO) => *slot = None,
            Ok(n) => {
                if let Some(l) = self.log.as_mut() {
                    l.write(stream, &buf[..n]);
                }
                self.clients
                    .retain(|c| frame::send(c.as_fd(), stream, &buf[..n]).is_ok());
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(_) => *slot = None,
        }
    }

    /// After init exited: whatever output is still buffered, without waiting for more.
    fn drain(&mut self, buf: &mut [u8]) {
        for s in [Source::Out, Source::Err, Source::Master] {
            for _ in 0..1024 {
                let fd = match s {
                    Source::Out => self.out.as_ref(),
                    Source::Err => self.err.as_ref(),
                    _ => self.master.as_ref(),
                };
                if !fd.is_some_and(|fd| readable(fd.as_fd())) {
                    break;
                }
                self.pump(s, buf);
            }
        }
    }

    /// Accepts clients still in the listen backlog: `berth run` connects before it says
    /// start, so when init exits before the loop's first poll its client is there, and
    /// without this would get neither the output nor the exit code.
    fn accept_pending(&mut self) {
        while self.listener.as_ref().is_some_and(|l| readable(l.as_fd())) {
            let before = self.clients.len();
            self.accept();
            if self.clients.len() == before {
                return;
            }
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        if let Ok(fd) = nix::sys::socket::accept(l) {
            let _ = fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
            self.clients.push(fd);
        }
    }

    /// One frame from client `i`; false when the client is gone.
    fn client_input(&mut self, i: usize) -> bool {
        match frame::recv(self.clients[i].as_fd()) {
            Ok(Some((frame::STDIN, data))) => {
                if let Some(fd) = self.input.as_ref().or(self.master.as_ref()) {
                    let _ = write_all(fd.as_fd(), &data);
                }
                true
            }
            Ok(Some((frame::STDIN_EOF, _))) => {
                self.input = None;
                true
            }
            Ok(Some((frame::RESIZE, data))) => {
                if let (Some((rows, cols)), Some(m)) = (frame::parse_size(&data), &self.master) {
                    let _ = berth_sys::fd::set_winsize(m.as_fd(), rows, cols);
                }
                true
            }
            Ok(Some(_)) => true,
            Ok(None) | Err(_) => false,
        }
    }

    /// Execs `berth __monitor BASE... --exited CODE ...` with the attach socket and the
    /// clients, which records the exit and restarts or finishes. Should that exec fail,
    /// the clients get the exit code here, and the store learns of the end from our exit.
    fn hand_back(&mut self, r: &Relay, code: i32) -> ! {
        let keep = |fd: &OwnedFd| {
            let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()));
            fd.as_raw_fd()
        };
        let resume = Resume {
            code,
            ran_ms: self.started.elapsed().as_millis() as u64,
            backoff_ms: r.backoff_ms,
            listener: self.listener.as_ref().map(keep),
            clients: self.clients.iter().map(keep).collect(),
        };
        let mut argv = vec![self.berth.clone(), "__monitor".into()];
        argv.extend(self.base.iter().cloned());
        argv.extend(resume.to_args());
        let e = exec(&argv);
        eprintln!("berth-monitor: exec {}: {e}", self.berth);
        let text = code.to_string();
        for c in &self.clients {
            let _ = frame::send(c.as_fd(), frame::EXIT, text.as_bytes());
        }
        std::process::exit(1)
    }
}

/// execv(argv[0], argv); returns only on failure.
fn exec(argv: &[String]) -> Errno {
    let Ok(args) = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return Errno::EINVAL;
    };
    match nix::unistd::execv(&args[0], &args) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Forks a child that execs `argv` with every signal unblocked; its pid.
fn spawn(argv: &[String]) -> Option<Pid> {
    let watch = berth_sys::process::ThreadWatch::open().ok()?;
    match berth_sys::process::fork_watched(&watch).ok()? {
        berth_sys::process::Forked::Parent(pid) => Some(Pid::from_raw(pid)),
        berth_sys::process::Forked::Child => {
            let _ = SigSet::all().thread_unblock();
            let e = exec(argv);
            eprintln!("berth-monitor: exec {}: {e}", argv[0]);
            std::process::exit(127)
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

/// Blocks SIGCHLD and returns a signalfd for it.
fn child_signals() -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.thread_block()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
}

fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0)
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
