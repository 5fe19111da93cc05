//! A container's place on a network: an address from IPAM ([`Networks::attach`], when the
//! container starts), then the kernel side ([`connect`], once the runtime has made the
//! container's network namespace and before its process runs):
//!
//! 1. the bridge exists, has the gateway address and is up (it is gone after a reboot);
//! 2. a veth pair: the host end a port of the bridge, the other end made directly inside
//!    the container's namespace as `eth0`, with a MAC derived from the address (as Docker's
//!    `02:42:` + IPv4);
//! 3. inside, through a netlink socket opened there: `lo` and `eth0` up, the address, the
//!    default route via the gateway.
//!
//! Teardown needs no work: when the namespace's last process exits the kernel destroys
//! `eth0`, and a veth pair dies with either end. [`disconnect`] deletes the host end anyway
//! for the case where something keeps the namespace alive.

use std::fs::File;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::engine::{Network, Networks, DEFAULT};
use crate::error::{NetError, Result};
use crate::link::{self, VethPeer};
use crate::netlink::Netlink;

/// One container's endpoint on one network, as the container's record keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    /// The network's name.
    pub network: String,
    /// The network's id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// 64 hex digits: the network's id and the owner mixed (stable for a container).
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The container's address.
    #[serde(rename = "IPAddress")]
    pub ip: String,
    /// The subnet's prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub prefix: u8,
    /// The gateway (the bridge's address).
    pub gateway: String,
    /// `eth0`'s MAC address.
    pub mac_address: String,
    /// The bridge.
    pub bridge: String,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The MTU.
    #[serde(rename = "MTU")]
    pub mtu: u32,
    /// The interface's name in the container (`eth0` when empty: the container's first
    /// network; `network connect` adds `eth1`, ...).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// The container's IPv6 address, on a network with IPv6 (empty otherwise).
    #[serde(rename = "GlobalIPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    /// The IPv6 subnet's prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen", skip_serializing_if = "is_zero")]
    pub ipv6_prefix: u8,
    /// The IPv6 gateway (the bridge's IPv6 address).
    #[serde(rename = "IPv6Gateway", skip_serializing_if = "String::is_empty")]
    pub ipv6_gateway: String,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl Endpoint {
    /// The interface's name in the container.
    pub fn ifname(&self) -> &str {
        if self.interface.is_empty() {
            "eth0"
        } else {
            &self.interface
        }
    }
}

impl Networks {
    /// Resolves `key` (`bridge` makes the default network on first use) and leases an
    /// address for `owner` (`want` when given).
    pub fn attach(&self, key: &str, owner: &str, want: Option<Ipv4Addr>) -> Result<Endpoint> {
        let net = if key == DEFAULT {
            self.ensure_default()?
        } else {
            self.get(key)?
        };
        let ip = self.ipam(&net)?.allocate(owner, want)?;
        let (subnet, gw) = net.pool()?;
        let o = ip.octets();
        let v6 = net.pool6();
        Ok(Endpoint {
            network: net.name.clone(),
            network_id: net.id.clone(),
            endpoint_id: endpoint_id(&net.id, owner),
            ip: ip.to_string(),
            prefix: subnet.prefix(),
            gateway: gw.to_string(),
            mac_address: format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]),
            bridge: net.bridge().to_string(),
            host_veth: format!("vb{}", &owner[..12.min(owner.len())]),
            mtu: net.mtu(),
            interface: String::new(),
            ipv6: net.v6_of(ip).map(|a| a.to_string()).unwrap_or_default(),
            ipv6_prefix: v6.map_or(0, |(s, _)| s.prefix()),
            ipv6_gateway: v6.map(|(_, g)| g.to_string()).unwrap_or_default(),
        })
    }

    /// Checks `--network KEY --ip IP` before a container is made: the network exists
    /// (or is the default one) and IP could be one of its addresses.
    pub fn check(&self, key: &str, want: Option<Ipv4Addr>) -> Result<()> {
        if key == DEFAULT && want.is_none() {
            return Ok(());
        }
        let net = self.get(key)?;
        if let Some(ip) = want {
            self.ipam(&net)?.check(ip)?;
        }
        Ok(())
    }
}

/// A stable endpoint id: the network id with the owner's digits folded in.
fn endpoint_id(net: &str, owner: &str) -> String {
    net.bytes()
        .zip(owner.bytes().chain(std::iter::repeat(b'0')))
        .map(|(a, b)| {
            let v = (hex(a) ^ hex(b)) & 0xf;
            char::from_digit(u32::from(v), 16).unwrap_or('0')
        })
        .collect()
}

/// The owner's leading digits back from the leading digits of an endpoint id and of its
/// network's id (the fold of [`endpoint_id`] undone).
pub(crate) fn unmix(net: &str, endpoint: &str) -> Option<String> {
    Some(endpoint_id(net, endpoint)).filter(|o| o.len() == endpoint.len())
}

fn hex(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

/// Makes `net`'s bridge if it is missing (with the gateway address, up, forwarding on);
/// true when it was made here.
pub(crate) fn ensure_bridge(net: &Network) -> Result<bool> {
    let br = net.bridge();
    let (subnet, gw) = net.pool()?;
    let mut nl = Netlink::open().map_err(NetError::netlink("open", "NETLINK_ROUTE"))?;
    let (index, made) = match link::index(&mut nl, br).map_err(NetError::netlink("find", br))? {
        Some(i) => (i, false),
        None => {
            let o = gw.octets();
            let mac = [2, 0x42, o[0], o[1], o[2], o[3]];
            link::add_bridge(&mut nl, br, net.mtu(), mac)
                .map_err(NetError::netlink("add bridge", br))?;
            let i = link::index(&mut nl, br)
                .map_err(NetError::netlink("find", br))?
                .ok_or_else(|| {
                    NetError::netlink("find", br)(std::io::ErrorKind::NotFound.into())
                })?;
            (i, true)
        }
    };
    let result = (|| {
        link::add_addr(&mut nl, index, gw, subnet.prefix(), subnet.broadcast())
            .map_err(NetError::netlink("add address", format!("{gw} on {br}")))?;
        if let Some((s6, gw6)) = net.pool6() {
            crate::ipv6::sysctls(br)?;
            link::add_addr6(&mut nl, index, gw6, s6.prefix())
                .map_err(NetError::netlink("add address", format!("{gw6} on {br}")))?;
        }
        link::set_up(&mut nl, index).map_err(NetError::netlink("set up", br))?;
        forwarding(br)
    })();
    if let Err(e) = result {
        if made {
            let _ = link::delete(&mut nl, br);
        }
        return Err(e);
    }
    Ok(made)
}

/// Routing between the bridge and the host's other interfaces needs IPv4 forwarding, on
/// the host and on the bridge (the host-wide switch sets every interface's, but a host
/// may have turned the bridge's own off via `default`). `route_localnet` lets the host's
/// own 127.0.0.1 traffic to a published port be DNATed out the bridge (the kernel drops
/// 127/8 sources on other interfaces otherwise; Docker and Podman set it too).
fn forwarding(br: &str) -> Result<()> {
    for p in [
        "/proc/sys/net/ipv4/ip_forward".to_string(),
        format!("/proc/sys/net/ipv4/conf/{br}/forwarding"),
        format!("/proc/sys/net/ipv4/conf/{br}/route_localnet"),
    ] {
        if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == "1") {
            continue;
        }
        std::fs::write(&p, "1").map_err(NetError::io("write", &p))?;
    }
    Ok(())
}

/// Deletes link `name` if it exists.
pub(crate) fn delete_link(name: &str) -> Result<()> {
    let mut nl = Netlink::open().map_err(NetError::netlink("open", "NETLINK_ROUTE"))?;
    link::delete(&mut nl, name)
        .map(drop)
        .map_err(NetError::netlink("delete", name))
}

/// Wires `ep` into the network namespace of process `pid` (see the module's steps).
pub fn connect(ep: &Endpoint, pid: i32, net: &Network) -> Result<()> {
    wire(ep, pid, net, true)
}

/// [`connect`], with the default route via the gateway only when `default_route`
/// (a container's later networks get an address and their subnet's route only, as in
/// Docker).
pub(crate) fn wire(ep: &Endpoint, pid: i32, net: &Network, default_route: bool) -> Result<()> {
    ensure_bridge(net)?;
    let mut nl = Netlink::open().map_err(NetError::netlink("open", "NETLINK_ROUTE"))?;
    let br = ep.bridge.as_str();
    let master = link::index(&mut nl, br)
        .map_err(NetError::netlink("find", br))?
        .ok_or_else(|| NetError::netlink("find", br)(std::io::ErrorKind::NotFound.into()))?;
    // A host end left by an earlier run whose namespace is still held would clash.
    let _ = link::delete(&mut nl, &ep.host_veth);
    let ns_path = format!("/proc/{pid}/ns/net");
    let netns = File::open(&ns_path).map_err(NetError::io("open", &ns_path))?;
    let peer = VethPeer {
        name: ep.ifname(),
        netns: &netns,
        mac: parse_mac(&ep.mac_address),
    };
    link::add_veth(&mut nl, &ep.host_veth, master, ep.mtu, &peer)
        .map_err(NetError::netlink("add veth", &ep.host_veth))?;
    let inside =
        hairpin(&mut nl, &ep.host_veth).and_then(|()| configure_inside(ep, &netns, default_route));
    if inside.is_err() {
        let _ = link::delete(&mut nl, &ep.host_veth);
    }
    inside
}

/// A container reaching its own published port through the host's address sends a frame
/// that, after DNAT, must leave by the bridge port it came in on; with `br_netfilter`
/// (bridge-nf-call-iptables) that is a bridged hairpin, which the bridge refuses unless
/// the port is in hairpin mode (Docker sets it too when it runs without its proxy).
fn hairpin(nl: &mut Netlink, veth: &str) -> Result<()> {
    let i = link::index(nl, veth)
        .map_err(NetError::netlink("find", veth))?
        .ok_or_else(|| NetError::netlink("find", veth)(std::io::ErrorKind::NotFound.into()))?;
    link::set_hairpin(nl, i).map_err(NetError::netlink("set hairpin", veth))
}

fn configure_inside(ep: &Endpoint, netns: &File, default_route: bool) -> Result<()> {
    let mut nl =
        Netlink::open_in(netns).map_err(NetError::netlink("open in", "container netns"))?;
    let ip: Ipv4Addr = ep
        .ip
        .parse()
        .map_err(|_| NetError::invalid("address", &ep.ip, "not IPv4"))?;
    let gw: Ipv4Addr = ep
        .gateway
        .parse()
        .map_err(|_| NetError::invalid("gateway", &ep.gateway, "not IPv4"))?;
    let subnet = crate::subnet::Subnet::new(ip, ep.prefix);
    let eth = ep.ifname();
    for name in ["lo", eth] {
        let i = link::index(&mut nl, name)
            .map_err(NetError::netlink("find", name))?
            .ok_or_else(|| NetError::netlink("find", name)(std::io::ErrorKind::NotFound.into()))?;
        if name == eth {
            link::add_addr(&mut nl, i, ip, ep.prefix, subnet.broadcast())
                .map_err(NetError::netlink("add address", format!("{ip} on {eth}")))?;
        }
        link::set_up(&mut nl, i).map_err(NetError::netlink("set up", name))?;
        if name == eth && default_route {
            link::add_default_route(&mut nl, gw, i)
                .map_err(NetError::netlink("add default route", format!("via {gw}")))?;
        }
        if name == eth && !ep.ipv6.is_empty() {
            configure_ipv6(&mut nl, ep, i, default_route)?;
        }
    }
    Ok(())
}

/// The endpoint's IPv6 address on interface `index` and, on the first network, the IPv6
/// default route via the gateway.
fn configure_ipv6(nl: &mut Netlink, ep: &Endpoint, index: u32, default_route: bool) -> Result<()> {
    let bad = |v: &str| NetError::invalid("address", v, "not IPv6");
    let ip: std::net::Ipv6Addr = ep.ipv6.parse().map_err(|_| bad(&ep.ipv6))?;
    link::add_addr6(nl, index, ip, ep.ipv6_prefix).map_err(NetError::netlink(
        "add address",
        format!("{ip} on {}", ep.ifname()),
    ))?;
    if default_route {
        let gw: std::net::Ipv6Addr = ep.ipv6_gateway.parse().map_err(|_| bad(&ep.ipv6_gateway))?;
        link::add_default_route6(nl, gw, index).map_err(NetError::netlink(
            "add IPv6 default route",
            format!("via {gw}"),
        ))?;
    }
    Ok(())
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').take(6).enumerate() {
        m[i] = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    m
}

/// Deletes `ep`'s host veth if it is still there.
pub fn disconnect(ep: &Endpoint) -> Result<()> {
    delete_link(&ep.host_veth)
}

/// The interface index of the endpoint's host veth, if it is there (RTM_GETLINK does not
/// wait for the rtnl lock).
pub fn host_index(ep: &Endpoint) -> Option<u32> {
    let mut nl = Netlink::open().ok()?;
    link::index(&mut nl, &ep.host_veth).ok().flatten()
}

/// Deletes the link with index `index` if it is still there. By index rather than name:
/// a link of the same name made since (the container started again) is another one.
pub fn delete_index(index: u32) -> Result<()> {
    let mut nl = Netlink::open().map_err(NetError::netlink("open", "NETLINK_ROUTE"))?;
    link::delete_index(&mut nl, index)
        .map(drop)
        .map_err(NetError::netlink("delete", format!("link {index}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_endpoint_id() {
        assert_eq!(parse_mac("02:42:0a:01:00:02"), [2, 0x42, 10, 1, 0, 2]);
        let id = endpoint_id(&"a".repeat(64), &"5".repeat(64));
        assert_eq!(id.len(), 64);
        assert_eq!(id, "f".repeat(64));
    }
}
