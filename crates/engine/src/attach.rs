//! The attach protocol between a container's monitor and the `berth` commands that attach
//! to it (`run` in the foreground, `start -a`, `attach`): a SOCK_SEQPACKET unix socket in
//! the container's directory, one message per frame, the first byte saying what it is
//! (the frames are `berth_monitor::frame`, shared with the monitor's relay).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};

pub use berth_monitor::frame::{
    recv, send, EXIT, MAX_FRAME, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT,
};

/// The socket's file name in the container's directory.
pub const SOCKET: &str = "attach.sock";

/// Binds and listens on `dir/attach.sock` (through /proc/self/fd, so long store paths
/// still fit in a socket address).
pub fn listen(dir: &Path) -> std::io::Result<OwnedFd> {
    let path = dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    with_short_path(dir, |p| {
        socket::bind(fd.as_raw_fd(), &UnixAddr::new(p)?)?;
        Ok(())
    })?;
    socket::listen(&fd, socket::Backlog::new(16)?)?;
    Ok(fd)
}

/// Connects to the monitor of the container whose directory is `dir`.
pub fn connect(dir: &Path) -> std::io::Result<OwnedFd> {
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    with_short_path(dir, |p| {
        socket::connect(fd.as_raw_fd(), &UnixAddr::new(p)?)?;
        Ok(())
    })?;
    Ok(fd)
}

fn with_short_path(dir: &Path, f: impl FnOnce(&Path) -> nix::Result<()>) -> std::io::Result<()> {
    let d = std::fs::File::open(dir)?;
    let p = format!("/proc/self/fd/{}/{SOCKET}", d.as_raw_fd());
    f(Path::new(&p)).map_err(std::io::Error::from)
}

/// A connected pair (for the start handshake between `berth` and a new monitor).
pub fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Sends a text message over a handshake socket.
pub fn say(fd: impl AsFd, msg: &str) -> std::io::Result<()> {
    socket::send(
        fd.as_fd().as_raw_fd(),
        msg.as_bytes(),
        MsgFlags::MSG_NOSIGNAL,
    )?;
    Ok(())
}

/// Receives a text message from a handshake socket (`None` when the other end is gone).
pub fn hear(fd: impl AsFd) -> std::io::Result<Option<String>> {
    let mut buf = vec![0u8; 8192];
    let n = socket::recv(fd.as_fd().as_raw_fd(), &mut buf, MsgFlags::empty())?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_connect_with_a_long_directory() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("x".repeat(120));
        std::fs::create_dir(&dir).unwrap();
        let l = listen(&dir).unwrap();
        let c = connect(&dir).unwrap();
        let s = loop {
            match socket::accept(&l) {
                Ok(fd) => break fd,
                Err(nix::errno::Errno::EAGAIN) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        say(&c, "start").unwrap();
        assert_eq!(hear(&s).unwrap().as_deref(), Some("start"));
    }
}
