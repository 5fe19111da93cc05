//! Waiting for processes we may not be the parent of, without fixed sleeps.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Wait until process `pid` exits (pidfd becomes readable) or `timeout` passes.
/// Returns true if it exited (or was already gone).
pub fn wait_exit(pid: i32, timeout: Duration) -> bool {
    let Ok(fd) = berth_sys::process::pidfd_open(pid) else { return true };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
    matches!(poll(&mut fds, ms), Ok(n) if n > 0)
}

/// Wait for `pid` (our child, or reparented to us as subreaper) while forwarding the
/// signals a foreground runtime receives; returns its exit code as a shell reports it.
/// Other children that exit meanwhile (orphans reparented to us) are reaped too.
pub fn forward_until_exit(pid: i32) -> i32 {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let mut set = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGILL, Signal::SIGFPE] {
        set.remove(s);
    }
    let _ = set.thread_block();
    let Ok(sfd) = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) else { return 255 };
    let target = nix::unistd::Pid::from_raw(pid);
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == target => return code,
                Ok(WaitStatus::Signaled(p, sig, _)) if p == target => return 128 + sig as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        match sfd.read_signal() {
            Ok(Some(info)) if info.ssi_signo as i32 != libc::SIGCHLD => {
                let _ = nix::sys::signal::kill(target, Signal::try_from(info.ssi_signo as i32).ok());
            }
            _ => {}
        }
    }
}
