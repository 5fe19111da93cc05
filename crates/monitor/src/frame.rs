//! The attach protocol's frames: one SOCK_SEQPACKET message each, the first byte saying
//! what it is. The socket itself (listen, connect) is the engine's `attach` module.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::sys::socket::{self, MsgFlags};

/// Output the container wrote to stdout (monitor → client).
pub const STDOUT: u8 = 1;
/// Output to stderr (monitor → client).
pub const STDERR: u8 = 2;
/// The container exited; the payload is its exit code in decimal (monitor → client).
pub const EXIT: u8 = 3;
/// Input for the container's stdin (client → monitor).
pub const STDIN: u8 = 0;
/// The client's stdin ended (client → monitor).
pub const STDIN_EOF: u8 = 4;
/// The client's terminal size changed; payload `rows cols` (client → monitor).
pub const RESIZE: u8 = 5;
/// The largest frame (payload plus kind byte).
pub const MAX_FRAME: usize = 32 << 10;

/// Sends one frame (several when the payload is larger than a frame).
pub fn send(fd: BorrowedFd<'_>, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len().min(MAX_FRAME - 1) + 1);
    for chunk in payload
        .chunks(MAX_FRAME - 1)
        .chain(payload.is_empty().then_some(&[][..]))
    {
        buf.clear();
        buf.push(kind);
        buf.extend_from_slice(chunk);
        socket::send(fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)?;
    }
    Ok(())
}

/// Receives one frame: `None` at end of stream.
pub fn recv(fd: BorrowedFd<'_>) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut buf = vec![0u8; MAX_FRAME];
    let n = socket::recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n);
    let kind = buf.remove(0);
    Ok(Some((kind, buf)))
}

/// The `rows cols` of a [`RESIZE`] payload.
pub fn parse_size(payload: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(rows)), Some(Ok(cols))) => Some((rows, cols)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    use super::*;

    #[test]
    fn frames_round_trip_and_split() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        send(a.as_fd(), STDOUT, b"hello").unwrap();
        assert_eq!(recv(b.as_fd()).unwrap(), Some((STDOUT, b"hello".to_vec())));
        send(a.as_fd(), EXIT, b"").unwrap();
        assert_eq!(recv(b.as_fd()).unwrap(), Some((EXIT, vec![])));
        let big = vec![7u8; MAX_FRAME + 10];
        send(a.as_fd(), STDERR, &big).unwrap();
        let (_, one) = recv(b.as_fd()).unwrap().unwrap();
        let (_, two) = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!(one.len() + two.len(), big.len());
        drop(a);
        assert_eq!(recv(b.as_fd()).unwrap(), None);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size(b"24 80"), Some((24, 80)));
        assert_eq!(parse_size(b"24"), None);
        assert_eq!(parse_size(b"x 80"), None);
    }
}
