//! Names on a container's other networks. A container connected to several networks
//! (`network connect`) asks the responder of its first network (its resolv.conf's), as
//! in Docker it asks one resolver for the names of all of them: when a name is none of
//! this network's, the responder finds which container asked (by its address's lease on
//! this network) and looks the name up among the records of every other network that
//! container has names on. Only on a miss, so a network's own names cost nothing more.

use std::net::IpAddr;

use crate::engine::Networks;

/// The addresses of `name` on the other networks of the container at `from` on `net`.
pub(crate) fn lookup(nets: &Networks, net: &str, from: IpAddr, name: &str) -> Vec<IpAddr> {
    let IpAddr::V4(from) = from else {
        return vec![];
    };
    let Ok(this) = nets.get(net) else {
        return vec![];
    };
    let Some(owner) = nets.leases(&this).ok().and_then(|l| l.get(&from).cloned()) else {
        return vec![];
    };
    let mut out = vec![];
    for other in nets.list().unwrap_or_default() {
        if other.name == this.name {
            continue;
        }
        let recs = nets.records(&other.name);
        if !recs.contains_key(&owner) {
            continue;
        }
        for r in recs.values() {
            if r.names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                out.push(IpAddr::V4(r.ip));
                out.extend(r.ip6.map(IpAddr::V6));
            }
        }
    }
    out
}
