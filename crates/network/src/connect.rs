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
