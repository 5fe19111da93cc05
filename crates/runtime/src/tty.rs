//! The container's terminal: a pty made inside the container, its master sent to the
//! caller's console socket with SCM_RIGHTS (runc's `--console-socket` protocol).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::process::channel::{ChildError, Step, StepExt};

/// Connect to the caller's console socket (in the parent, before any namespace change).
pub fn connect(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)?;
    Ok(s.into())
}

/// Make a pty, send its master to `socket`, make the slave our stdio and controlling tty.
/// With `console` the slave is also bound over /dev/console.
pub fn setup(socket: BorrowedFd<'_>, size: Option<(u16, u16)>, console: bool) -> Result<(), ChildError> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .step(Step::Console, "/dev/ptmx")?;
    nix::pty::grantpt(&master).step(Step::Console, "/dev/ptmx")?;
    nix::pty::unlockpt(&master).step(Step::Console, "/dev/ptmx")?;
    let name = nix::pty::ptsname_r(&master).step(Step::Console, "/dev/ptmx")?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&name)
        .step(Step::Console, &name)?
        .into();
    if let Some((rows, cols)) = size {
        berth_sys::fd::set_winsize(slave.as_fd(), rows, cols).step(Step::Console, &name)?;
    }
    if console {
        bind_console(&name)?;
    }
    let iov = [IoSlice::new(b"/dev/ptmx")];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .step(Step::Console, "console socket")?;
    drop(master);
    nix::unistd::dup2_stdin(&slave).step(Step::Console, &name)?;
    nix::unistd::dup2_stdout(&slave).step(Step::Console, &name)?;
    nix::unistd::dup2_stderr(&slave).step(Step::Console, &name)?;
    berth_sys::fd::set_controlling_tty(slave.as_fd()).step(Step::Console, &name)
}

fn bind_console(pts: &str) -> Result<(), ChildError> {
    let dev = std::path::Path::new("/dev/console");
    if !dev.exists() {
        std::fs::File::create(dev).step(Step::Console, "/dev/console")?;
    }
    nix::mount::mount(Some(pts), dev, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
        .step(Step::Console, "/dev/console")
}

use std::os::unix::fs::OpenOptionsExt;
