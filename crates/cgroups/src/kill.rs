//! Signalling a container's processes one by one.

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// Checks a signal number before anything is frozen on its behalf.
pub(crate) fn signal(sig: i32) -> Result<Signal> {
    Signal::try_from(sig).map_err(|source| Error::Signal {
        pid: 0,
        signal: sig,
        source,
    })
}

/// Sends `signal` to each pid. A process that exited meanwhile (ESRCH) is
/// not an error; the first other failure is returned after trying them all.
pub(crate) fn signal_each(pids: &[i32], signal: Signal) -> Result<()> {
    let mut first = None;
    for &pid in pids {
        match kill(Pid::from_raw(pid), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => {
                first.get_or_insert(Error::Signal {
                    pid,
                    signal: signal as i32,
                    source,
                });
            }
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_signal_and_gone_processes() {
        assert!(signal(999).is_err());
        // pid 0x7ffffff0 does not exist: ESRCH is ignored.
        signal_each(&[0x7fff_fff0], Signal::SIGTERM).unwrap();
        signal_each(&[], Signal::SIGTERM).unwrap();
    }
}
