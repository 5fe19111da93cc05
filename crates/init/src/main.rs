//! berth-init: PID 1 for `berth run --init`, what tini is to Docker.
//!
//! `berth-init -- PROGRAM ARGS...` starts the program as its only child, in its own
//! process group and as the foreground of the terminal if there is one, forwards every
//! signal it receives to that child, reaps every zombie the container's orphans leave
//! (they are reparented to PID 1), and exits with the program's exit code (128+N when a
//! signal N killed it). Without it a shell or server as PID 1 ignores SIGTERM (PID 1 gets
//! no default signal actions) and leaves zombies behind.

use std::ffi::CString;
use std::process::exit;

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, Pid};

/// The signals not forwarded: the unblockable and synchronous ones.
const KEEP: [Signal; 6] = [
    Signal::SIGKILL,
    Signal::SIGSTOP,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
];

fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in KEEP {
        set.remove(s);
    }
    set
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv = match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => &args[..],
    };
    if argv.is_empty() {
        eprintln!("berth-init: usage: berth-init -- PROGRAM [ARGS...]");
        exit(2);
    }
    let Ok(cargs) = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("berth-init: an argument contains a NUL byte");
        exit(2);
    };
    let set = forwarded();
    if let Err(e) = set.thread_block() {
        eprintln!("berth-init: block signals: {e}");
        exit(1);
    }
    let child = match spawn(&cargs, &set) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berth-init: fork: {e}");
            exit(1);
        }
    };
    let sfd = match SignalFd::new(&set) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth-init: signalfd: {e}");
            exit(1);
        }
    };
    loop {
        if let Some(code) = reap(child) {
            exit(code);
        }
        match sfd.read_signal() {
            Ok(Some(info)) if info.ssi_signo as i32 != Signal::SIGCHLD as i32 => {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    let _ = kill(child, sig);
                }
            }
            _ => {}
        }
    }
}

/// Forks the program: its own process group, the terminal's foreground, signals unblocked.
fn spawn(argv: &[CString], set: &SigSet) -> std::io::Result<Pid> {
    let watch = berth_sys::process::ThreadWatch::open()?;
    match berth_sys::process::fork_watched(&watch)? {
        berth_sys::process::Forked::Parent(child) => Ok(Pid::from_raw(child)),
        berth_sys::process::Forked::Child => {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            let _ = set.thread_unblock();
            let e = execvp(&argv[0], argv).unwrap_err();
            eprintln!("berth-init: exec {}: {e}", argv[0].to_string_lossy());
            exit(if e == nix::errno::Errno::ENOENT {
                127
            } else {
                126
            });
        }
    }
}

/// Reaps every zombie; the program's exit code once it is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(WaitStatus::Exited(p, c)) if p == child => code = Some(c),
            Ok(WaitStatus::Signaled(p, s, _)) if p == child => code = Some(128 + s as i32),
            Ok(_) => {}
        }
    }
}
