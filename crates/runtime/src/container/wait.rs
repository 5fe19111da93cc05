//! Waiting for processes we may not be the parent of, without fixed sleeps.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Wait until process `pid` exits (pidfd becomes readable) or `timeout` passes.
/// Returns true if it exited (or was already gone).
pub fn wait_exit(pid: i32, timeout: Duration) -> bool {
    let Ok(fd) = berth_sys::process::pidfd_open(pid) else {
        return true;
    };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut fds, ms), Ok(n) if n > 0)
}

/// Every signal a foreground runtime forwards, blocked and readable through a signalfd
/// (SIGCHLD included, to notice exits; the unblockable and fault signals left out).
fn forwarding_signalfd() -> Option<nix::sys::signalfd::SignalFd> {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
    ] {
        set.remove(s);
    }
    set.thread_block().ok()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ok()
}

/// Wait for `pid` (our child, or reparented to us as subreaper) while forwarding the
/// signals a foreground runtime receives; returns its exit code as a shell reports it.
/// Other children that exit meanwhile (orphans reparented to us) are reaped too.
pub fn forward_until_exit(pid: i32) -> i32 {
    let Some(sfd) = forwarding_signalfd() else {
        return 255;
    };
    let target = nix::unistd::Pid::from_raw(pid);
    loop {
        if let Some(code) = reap(target) {
            return code;
        }
        match sfd.read_signal() {
            Ok(Some(info)) if info.ssi_signo as i32 != libc::SIGCHLD => {
                let sig = nix::sys::signal::Signal::try_from(info.ssi_signo as i32).ok();
                let _ = nix::sys::signal::kill(target, sig);
            }
            _ => {}
        }
    }
}

/// Like [`forward_until_exit`], while copying between our stdio and the pty `master`:
/// stdin (raw mode when it is a terminal) to the container, its output to our stdout,
/// window size changes to the pty.
pub fn proxy_until_exit(pid: i32, master: std::os::fd::OwnedFd) -> i32 {
    let stdin = std::io::stdin();
    let saved = nix::sys::termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        copy_winsize(&master);
    }
    let code = match forwarding_signalfd() {
        Some(sfd) => pump(pid, &master, &sfd),
        None => 255,
    };
    if let Some(t) = &saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, t);
    }
    code
}

fn copy_winsize(master: &std::os::fd::OwnedFd) {
    if let Ok((rows, cols)) = berth_sys::fd::get_winsize(std::io::stdin().as_fd()) {
        let _ = berth_sys::fd::set_winsize(master.as_fd(), rows, cols);
    }
}

fn reap(target: nix::unistd::Pid) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == target => return Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == target => return Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

fn pump(pid: i32, master: &std::os::fd::OwnedFd, sfd: &nix::sys::signalfd::SignalFd) -> i32 {
    use std::io::Write;
    let target = nix::unistd::Pid::from_raw(pid);
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let mut exited = None;
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Once the process is gone, drain what it wrote, then stop.
        let timeout = if exited.is_some() {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        if poll(&mut fds, timeout).unwrap_or(0) == 0 {
            if let Some(code) = exited {
                return code;
            }
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        if ready[0] {
            match nix::unistd::read(master, &mut buf) {
                Ok(n) if n > 0 => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
                }
                _ => return exited.or_else(|| wait_code(target)).unwrap_or(0),
            }
        }
        if ready[1] {
            if let Ok(Some(info)) = sfd.read_signal() {
                match info.ssi_signo as i32 {
                    libc::SIGCHLD => exited = exited.or_else(|| reap(target)),
                    libc::SIGWINCH => copy_winsize(master),
                    sig => {
                        let _ = nix::sys::signal::kill(
                            target,
                            nix::sys::signal::Signal::try_from(sig).ok(),
                        );
                    }
                }
            }
        }
        if stdin_open && ready.get(2).copied().unwrap_or(false) {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = nix::unistd::write(master, &buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
    }
}

fn wait_code(target: nix::unistd::Pid) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitStatus};
    match waitpid(target, None) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        _ => None,
    }
}
