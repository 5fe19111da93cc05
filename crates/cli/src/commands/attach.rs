//! `berth attach`, and the attached session `run` and `start -a` use: the container's
//! output to ours, our stdin to it (raw mode for a terminal, with Docker's detach keys
//! ctrl-p ctrl-q), window size changes, and our signals forwarded (`--sig-proxy`).

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_engine::attach as proto;
use berth_engine::Engine;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// `attach` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    /// The container.
    container: String,
}

/// How an attached session ends.
pub enum Ended {
    /// The container exited with this code.
    Exited(i32),
    /// The user detached.
    Detached,
}

/// What to attach.
pub struct Session {
    /// Send our stdin.
    pub stdin: bool,
    /// The container has a terminal.
    pub tty: bool,
    /// Forward our signals to the container.
    pub sig_proxy: bool,
}

/// Attach to a running container until it exits; its exit code is ours.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let id = eng.containers.resolve(&a.container)?;
    let c = eng.containers.config(&id)?;
    let st = berth_engine::lifecycle::status(eng, &id)?;
    if !st.running {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let sock = proto::connect(&eng.dir(&id))
        .map_err(|e| anyhow::anyhow!("attach to {}: {e}", a.container))?;
    let s = Session {
        stdin: !a.no_stdin && c.config.open_stdin,
        tty: c.config.tty,
        sig_proxy: a.sig_proxy && !c.config.tty,
    };
    match session(eng, &id, sock, &s)? {
        Ended::Exited(code) => Ok(code),
        Ended::Detached => Ok(0),
    }
}

struct Raw(Option<nix::sys::termios::Termios>);

impl Raw {
    fn enter(tty: bool) -> Raw {
        let stdin = std::io::stdin();
        if !tty {
            return Raw(None);
        }
        let Ok(saved) = nix::sys::termios::tcgetattr(&stdin) else {
            return Raw(None);
        };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        Raw(Some(saved))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

fn signals() -> anyhow::Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    set.thread_block()?;
    Ok(SignalFd::with_flags(
        &set,
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )?)
}

fn send_size(sock: BorrowedFd<'_>) {
    if let Ok((rows, cols)) = berth_sys::fd::get_winsize(std::io::stdin().as_fd()) {
        let _ = proto::send(sock, proto::RESIZE, format!("{rows} {cols}").as_bytes());
    }
}

/// Runs an attached session on `sock` (connected to container `id`'s monitor).
pub fn session(eng: &Engine, id: &str, sock: OwnedFd, s: &Session) -> anyhow::Result<Ended> {
    let sfd = signals()?;
    let _raw = Raw::enter(s.tty && nix::unistd::isatty(std::io::stdin()).unwrap_or(false));
    if s.tty {
        send_size(sock.as_fd());
    }
    let mut stdin_open = s.stdin;
    let mut detach = DetachKeys::default();
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let stdin = std::io::stdin();
        let mut fds = vec![
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sock_ready, sig_ready, in_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGWINCH {
                    send_size(sock.as_fd());
                } else if s.sig_proxy {
                    let _ = berth_engine::lifecycle::kill(eng, id, sig);
                }
            }
        }
        if in_ready {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    let _ = proto::send(sock.as_fd(), proto::STDIN_EOF, b"");
                }
                Ok(n) => {
                    let (data, detached) = if s.tty {
                        detach.filter(&buf[..n])
                    } else {
                        (buf[..n].to_vec(), false)
                    };
                    let _ = proto::send(sock.as_fd(), proto::STDIN, &data);
                    if detached {
                        return Ok(Ended::Detached);
                    }
                }
            }
        }
        if sock_ready {
            match proto::recv(sock.as_fd()) {
                Ok(Some((proto::STDOUT, d))) => write_out(&mut std::io::stdout(), &d),
                Ok(Some((proto::STDERR, d))) => write_out(&mut std::io::stderr(), &d),
                Ok(Some((proto::EXIT, d))) => {
                    let code = String::from_utf8_lossy(&d).trim().parse().unwrap_or(255);
                    return Ok(Ended::Exited(code));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    // The monitor went away without a word: ask the store.
                    return Ok(Ended::Exited(berth_engine::lifecycle::wait(eng, id)?));
                }
            }
        }
    }
}

fn write_out(w: &mut impl Write, d: &[u8]) {
    let _ = w.write_all(d);
    let _ = w.flush();
}

/// Docker's default detach sequence, ctrl-p ctrl-q, found across reads.
#[derive(Default)]
struct DetachKeys {
    pending: bool,
}

impl DetachKeys {
    /// The bytes to pass on, and whether the sequence completed.
    fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = vec![];
        for &b in input {
            if self.pending {
                self.pending = false;
                if b == 0x11 {
                    return (out, true);
                }
                out.push(0x10);
            }
            if b == 0x10 {
                self.pending = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_across_reads() {
        let mut d = DetachKeys::default();
        assert_eq!(d.filter(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(d.filter(b"\x11"), (vec![], true));
        let mut d = DetachKeys::default();
        assert_eq!(d.filter(b"\x10x"), (b"\x10x".to_vec(), false));
    }
}
