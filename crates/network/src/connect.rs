//! A container's later networks (`network connect`): each one more veth pair, its inside
//! end `eth1`, `eth2`, ... in the container's namespace with the network's address and
//! the route of its subnet (the first network keeps the default route, as in Docker).
//! The address is leased as the first network's is ([`Networks::attach`]); the host end
//! is named from the endpoint id, so it is unique per container and network.
//!
//! Unplugging deletes the host end, which takes the inside end with it; the lease and the
//! container's names on that network go with [`Networks::detach`].

use std::net::Ipv4Addr;

use crate::endpoint::Endpoint;
use crate::engine::{Network, Networks};
use crate::error::{NetError, Result};
use crate::link;
use crate::netlink::Netlink;

impl Networks {
    /// Leases an address on `key` for `owner`, for interface `ifname` of the container.
    pub fn attach_as(
        &self,
        key: &str,
        owner: &str,
        want: Option<Ipv4Addr>,
        ifname: &str,
    ) -> Result<Endpoint> {
        let mut ep = self.attach(key, owner, want)?;
        if ifname != "eth0" {
            ep.host_veth = format!("ve{}", &ep.endpoint_id[..13.min(ep.endpoint_id.len())]);
            ep.interface = ifname.to_string();
        }
        Ok(ep)
    }

    /// Gives back `owner`'s address on network `key` and takes its names off the
    /// network's responder (the network's other containers stop resolving them).
    pub fn detach(&self, key: &str, owner: &str) -> Result<()> {
        let net = self.get(key)?;
        self.ipam(&net)?.release(owner)?;
        let path = self
            .dir
            .join(&net.name)
            .join("names")
            .join(format!("{owner}.json"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NetError::io("remove", &path)(e))
            }
            _ => Ok(()),
        }
    }
}

/// Wires a later network's endpoint into the namespace of process `pid`: no default
/// route.
pub fn plug(ep: &Endpoint, pid: i32, net: &Network) -> Result<()> {
    crate::endpoint::wire(ep, pid, net, false)
}

/// Deletes the endpoint's host veth (its inside end goes with it).
pub fn unplug(ep: &Endpoint) -> Result<()> {
    crate::endpoint::delete_link(&ep.host_veth)
}

impl Networks {
    /// Withdraws the ports `owner` publishes on network `key` (its first network, being
    /// disconnected), rebuilding the rules if there were any.
    pub fn withdraw(&self, key: &str, owner: &str) -> Result<()> {
        let _lock = self.lock()?;
        let net = self.get(key)?;
        let path = self.ports_file(&net.name, owner);
        if !path.exists() {
            return Ok(());
        }
        std::fs::remove_file(&path).map_err(NetError::io("remove", &path))?;
        self.sync_rules()
    }
}

/// Makes `ep`'s gateway (and IPv6 gateway) the default route in the namespace of process
/// `pid`: when the container's first network goes, the next one takes over, as in Docker.
pub fn set_default_route(ep: &Endpoint, pid: i32) -> Result<()> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let netns = std::fs::File::open(&ns_path).map_err(NetError::io("open", &ns_path))?;
    let mut nl =
        Netlink::open_in(&netns).map_err(NetError::netlink("open in", "container netns"))?;
    let eth = ep.ifname();
    let i = link::index(&mut nl, eth)
        .map_err(NetError::netlink("find", eth))?
        .ok_or_else(|| NetError::netlink("find", eth)(std::io::ErrorKind::NotFound.into()))?;
    let gw: Ipv4Addr = ep
        .gateway
        .parse()
        .map_err(|_| NetError::invalid("gateway", &ep.gateway, "not IPv4"))?;
    link::add_default_route(&mut nl, gw, i)
        .map_err(NetError::netlink("add default route", format!("via {gw}")))?;
    if let Ok(gw6) = ep.ipv6_gateway.parse::<std::net::Ipv6Addr>() {
        link::add_default_route6(&mut nl, gw6, i).map_err(NetError::netlink(
            "add IPv6 default route",
            format!("via {gw6}"),
        ))?;
    }
    Ok(())
}
