//! A small rtnetlink client over a raw `NETLINK_ROUTE` socket: requests are encoded by
//! hand (header, fixed struct, attributes) and each one waits for the kernel's ack, so an
//! error comes back on the request that caused it. See rtnetlink(7) and netlink(7); the
//! attribute numbers are those of `<linux/if_link.h>`, `<linux/rtnetlink.h>` and
//! `<linux/veth.h>`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};

pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const RTM_NEWROUTE: u16 = 24;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;

/// An rtnetlink socket in the network namespace it was opened in.
pub(crate) struct Netlink {
    sock: File,
    seq: u32,
}

impl Netlink {
    /// A socket in this thread's network namespace.
    pub(crate) fn open() -> io::Result<Netlink> {
        let fd: OwnedFd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        Ok(Netlink {
            sock: File::from(fd),
            seq: 0,
        })
    }

    /// A socket in the network namespace `netns` (an fd of `/proc/PID/ns/net`).
    ///
    /// setns(2) with CLONE_NEWNET changes only the calling thread, and a socket stays in
    /// the namespace it was made in; so a short-lived thread enters, opens and exits, and
    /// this process's own threads never leave the host's namespace.
    pub(crate) fn open_in(netns: &File) -> io::Result<Netlink> {
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
        })
    }

    /// Sends `req` and waits for its ack; returns the payloads of any replies before it.
    pub(crate) fn request(&mut self, mut req: Request) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        req.finish(seq);
        self.sock.write_all(&req.buf)?;
        let mut replies = vec![];
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = self.sock.read(&mut buf)?;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32_at(&buf, off) as usize;
                if len < 16 || off + len > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "short netlink message",
                    ));
                }
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let mseq = u32_at(&buf, off + 8);
                let body = &buf[off + 16..off + len];
                off += align(len);
                if mseq != seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => {
                        let errno = i32::from_ne_bytes(body[..4].try_into().unwrap_or([0; 4]));
                        if errno == 0 {
                            return Ok(replies);
                        }
                        return Err(io::Error::from_raw_os_error(-errno));
                    }
                    NLMSG_DONE => return Ok(replies),
                    _ => replies.push(body.to_vec()),
                }
            }
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One request being encoded: the 16-byte header, then the fixed struct, then attributes.
pub(crate) struct Request {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Request {
    /// A request of type `kind` with `flags` (REQUEST and ACK are always added).
    pub(crate) fn new(kind: u16, flags: u16) -> Request {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Request { buf, nests: vec![] }
    }

    /// Appends a `struct ifinfomsg` (family, type, index, flags, change).
    pub(crate) fn ifinfo(mut self, index: u32, flags: u32, change: u32) -> Request {
        self.ifinfo_raw(index, flags, change);
        self
    }

    /// Appends a `struct ifinfomsg` of family AF_BRIDGE: a request about bridge port
    /// `index` (`bridge link set`).
    pub(crate) fn ifinfo_bridge(mut self, index: u32) -> Request {
        self.ifinfo_raw(index, 0, 0);
        let at = self.buf.len() - 16;
        self.buf[at] = 7; // AF_BRIDGE
        self
    }

    fn ifinfo_raw(&mut self, index: u32, flags: u32, change: u32) {
        self.buf.extend_from_slice(&[0u8; 4]); // family AF_UNSPEC, pad, type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    /// Appends a `struct ifaddrmsg` for an IPv4 address.
    pub(crate) fn ifaddr(mut self, prefix: u8, index: u32) -> Request {
        self.buf
            .extend_from_slice(&[libc_af_inet(), prefix, 0, 0 /* RT_SCOPE_UNIVERSE */]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// Appends a `struct ifaddrmsg` for an IPv6 address, added without duplicate address
    /// detection (IFA_F_NODAD) so it is usable at once.
    pub(crate) fn ifaddr6(mut self, prefix: u8, index: u32) -> Request {
        self.buf.extend_from_slice(&[
            AddressFamily::Inet6 as i32 as u8,
            prefix,
            0x02, // IFA_F_NODAD
            0,    // RT_SCOPE_UNIVERSE
        ]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    /// Appends a `struct rtmsg` for a unicast IPv4 route in the main table.
    pub(crate) fn rtmsg(self, dst_len: u8) -> Request {
        self.rtmsg_family(libc_af_inet(), dst_len)
    }

    /// Appends a `struct rtmsg` for a unicast IPv6 route in the main table.
    pub(crate) fn rtmsg6(self, dst_len: u8) -> Request {
        self.rtmsg_family(AddressFamily::Inet6 as i32 as u8, dst_len)
    }

    fn rtmsg_family(mut self, family: u8, dst_len: u8) -> Request {
        // family, dst_len, src_len, tos, table RT_TABLE_MAIN, protocol RTPROT_BOOT,
        // scope RT_SCOPE_UNIVERSE, type RTN_UNICAST, flags.
        self.buf
            .extend_from_slice(&[family, dst_len, 0, 0, 254, 3, 0, 1]);
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self
    }

    /// Appends attribute `kind` with `data`.
    pub(crate) fn attr(mut self, kind: u16, data: &[u8]) -> Request {
        self.attr_raw(kind, data);
        self
    }

    fn attr_raw(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn attr_str(self, kind: u16, s: &str) -> Request {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(kind, &d)
    }

    /// A u32 attribute.
    pub(crate) fn attr_u32(self, kind: u16, v: u32) -> Request {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// Opens a nested attribute; close it with [`Request::end`].
    pub(crate) fn begin(mut self, kind: u16) -> Request {
        self.nests.push(self.buf.len());
        self.attr_raw(kind | NLA_F_NESTED, &[]);
        self
    }

    /// Opens `VETH_INFO_PEER`: a nested attribute that starts with the peer's ifinfomsg.
    pub(crate) fn begin_peer(mut self) -> Request {
        self.nests.push(self.buf.len());
        self.attr_raw(1 /* VETH_INFO_PEER */ | NLA_F_NESTED, &[]);
        self.ifinfo_raw(0, 0, 0);
        self
    }

    /// Closes the innermost nested attribute.
    pub(crate) fn end(mut self) -> Request {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(&mut self, seq: u32) {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    }
}

fn libc_af_inet() -> u8 {
    AddressFamily::Inet as i32 as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_sized_and_aligned() {
        let mut r = Request::new(RTM_NEWLINK, NLM_F_CREATE)
            .ifinfo(0, 0, 0)
            .attr_str(3, "br0")
            .begin(18)
            .attr_str(1, "bridge")
            .end();
        r.finish(7);
        let b = &r.buf;
        assert_eq!(u32_at(b, 0) as usize, b.len());
        assert_eq!(b.len() % 4, 0);
        assert_eq!(u32_at(b, 8), 7);
        // header 16 + ifinfomsg 16 + IFLA_IFNAME (4 + "br0\0") = 40: the nest starts there.
        assert_eq!(&b[40..44], &[16, 0, 18, 0x80]);
        assert_eq!(&b[48..55], b"bridge\0");
    }
}
