//! The container's terminal: a pty made inside the container, its master sent to the
//! caller's console socket with SCM_RIGHTS (runc's `--console-socket` protocol).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

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
pub fn setup(
    socket: BorrowedFd<'_>,
    size: Option<(u16, u16)>,
    console: bool,
) -> Result<(), ChildError> {
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
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
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
    nix::mount::mount(
        Some(pts),
        dev,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .step(Step::Console, "/dev/console")
}

/// A connected socket pair standing in for `--console-socket` when the runtime itself is
/// the terminal's other end (foreground `run`/`exec` with a terminal): (ours, the child's).
pub fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    Ok((a.into(), b.into()))
}

/// Receive the pty master that [`setup`] sent over `sock`.
pub fn recv_master(sock: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cbuf = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cbuf),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                return Ok(berth_sys::fd::adopt(fd));
            }
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "console socket closed without a pty",
    ))
}
