//! Link, address and route requests: what `ip link add type bridge|veth`, `ip addr add`
//! and `ip route add default` do, over [`Netlink`].

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use crate::netlink::{
    Netlink, Request, NLM_F_CREATE, NLM_F_EXCL, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK,
    RTM_NEWROUTE, RTM_SETLINK,
};

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const IFF_UP: u32 = 1;

/// The index of link `name`, or None when there is none.
pub(crate) fn index(nl: &mut Netlink, name: &str) -> io::Result<Option<u32>> {
    let req = Request::new(RTM_GETLINK, 0)
        .ifinfo(0, 0, 0)
        .attr_str(IFLA_IFNAME, name);
    match nl.request(req) {
        Ok(replies) => Ok(replies
            .first()
            .filter(|b| b.len() >= 8)
            .map(|b| u32::from_ne_bytes([b[4], b[5], b[6], b[7]]))),
        Err(e) if e.raw_os_error() == Some(libc_enodev()) => Ok(None),
        Err(e) => Err(e),
    }
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}

/// Creates bridge `name` (down, no address) with MAC address `mac`. A bridge whose MAC
/// was never set takes the lowest of its ports' and changes it as ports come and go, and
/// containers' cached neighbour entry for the gateway then points nowhere for a while.
pub(crate) fn add_bridge(nl: &mut Netlink, name: &str, mtu: u32, mac: [u8; 6]) -> io::Result<()> {
    let req = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
        .ifinfo(0, 0, 0)
        .attr_str(IFLA_IFNAME, name)
        .attr_u32(IFLA_MTU, mtu)
        .attr(IFLA_ADDRESS, &mac)
        .begin(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "bridge")
        .end();
    nl.request(req).map(drop)
}

/// One end of a veth pair: its name, and where it goes.
pub(crate) struct VethPeer<'a> {
    /// Its name in `netns`.
    pub name: &'a str,
    /// The network namespace it is made in.
    pub netns: &'a File,
    /// Its MAC address.
    pub mac: [u8; 6],
}

/// Creates veth pair `host` (up, a port of bridge `master`) and `peer`, which the kernel
/// makes directly in the peer's namespace: no rename or move, so its name never clashes
/// with the host's links.
pub(crate) fn add_veth(
    nl: &mut Netlink,
    host: &str,
    master: u32,
    mtu: u32,
    peer: &VethPeer,
) -> io::Result<()> {
    let req = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
        .ifinfo(0, IFF_UP, IFF_UP)
        .attr_str(IFLA_IFNAME, host)
        .attr_u32(IFLA_MTU, mtu)
        .attr_u32(IFLA_MASTER, master)
        .begin(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "veth")
        .begin(IFLA_INFO_DATA)
        .begin_peer()
        .attr_str(IFLA_IFNAME, peer.name)
        .attr_u32(IFLA_MTU, mtu)
        .attr(IFLA_ADDRESS, &peer.mac)
        .attr_u32(IFLA_NET_NS_FD, peer.netns.as_raw_fd() as u32)
        .end()
        .end()
        .end();
    nl.request(req).map(drop)
}

/// Sets link `index` up.
pub(crate) fn set_up(nl: &mut Netlink, index: u32) -> io::Result<()> {
    nl.request(Request::new(RTM_NEWLINK, 0).ifinfo(index, IFF_UP, IFF_UP))
        .map(drop)
}

/// Adds `ip/prefix` (with its broadcast address) to link `index`; an address already
/// there is fine.
pub(crate) fn add_addr(
    nl: &mut Netlink,
    index: u32,
    ip: Ipv4Addr,
    prefix: u8,
    brd: Ipv4Addr,
) -> io::Result<()> {
    let req = Request::new(RTM_NEWADDR, NLM_F_CREATE)
        .ifaddr(prefix, index)
        .attr(IFA_LOCAL, &ip.octets())
        .attr(IFA_ADDRESS, &ip.octets())
        .attr(IFA_BROADCAST, &brd.octets());
    match nl.request(req) {
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32) => Ok(()),
        r => r.map(drop),
    }
}

/// Adds IPv6 address `ip/prefix` to link `index`; an address already there is fine.
pub(crate) fn add_addr6(nl: &mut Netlink, index: u32, ip: Ipv6Addr, prefix: u8) -> io::Result<()> {
    let req = Request::new(RTM_NEWADDR, NLM_F_CREATE)
        .ifaddr6(prefix, index)
        .attr(IFA_LOCAL, &ip.octets())
        .attr(IFA_ADDRESS, &ip.octets());
    match nl.request(req) {
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32) => Ok(()),
        r => r.map(drop),
    }
}

/// Adds the IPv6 default route via `gw` on link `oif`.
pub(crate) fn add_default_route6(nl: &mut Netlink, gw: Ipv6Addr, oif: u32) -> io::Result<()> {
    let req = Request::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)
        .rtmsg6(0)
        .attr(RTA_GATEWAY, &gw.octets())
        .attr_u32(RTA_OIF, oif);
    nl.request(req).map(drop)
}

/// Adds the default route via `gw` on link `oif`.
pub(crate) fn add_default_route(nl: &mut Netlink, gw: Ipv4Addr, oif: u32) -> io::Result<()> {
    let req = Request::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL)
        .rtmsg(0)
        .attr(RTA_GATEWAY, &gw.octets())
        .attr_u32(RTA_OIF, oif);
    nl.request(req).map(drop)
}

/// Deletes link `name`; false when there was none.
pub(crate) fn delete(nl: &mut Netlink, name: &str) -> io::Result<bool> {
    let Some(i) = index(nl, name)? else {
        return Ok(false);
    };
    delete_index(nl, i)
}

/// Deletes link `index`; false when there was none.
pub(crate) fn delete_index(nl: &mut Netlink, index: u32) -> io::Result<bool> {
    match nl.request(Request::new(RTM_DELLINK, 0).ifinfo(index, 0, 0)) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc_enodev()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Puts bridge port `index` in hairpin mode (`bridge link set dev X hairpin on`): over
/// netlink rather than sysfs, whose `/sys/class/net` shows the namespace that mounted it,
/// not necessarily this process's.
pub(crate) fn set_hairpin(nl: &mut Netlink, index: u32) -> io::Result<()> {
    const IFLA_PROTINFO: u16 = 12;
    const IFLA_BRPORT_MODE: u16 = 4;
    let req = Request::new(RTM_SETLINK, 0)
        .ifinfo_bridge(index)
        .begin(IFLA_PROTINFO)
        .attr(IFLA_BRPORT_MODE, &[1])
        .end();
    nl.request(req).map(drop)
}
