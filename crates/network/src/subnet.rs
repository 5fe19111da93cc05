//! IPv4 subnets: parsing `a.b.c.d/n`, containment, overlap, and the host's own routes
//! (a new network must not shadow a route the host already has).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 subnet with its host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    net: u32,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `addr/prefix`, host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            net: u32::from(addr) & mask(prefix),
            prefix,
        }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.net.into()
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        (self.net | !mask(self.prefix)).into()
    }

    /// `ip` is in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.net
    }

    /// The two subnets share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        self.net & mask(p) == other.net & mask(p)
    }

    /// `ip` is a usable host address: in the subnet, neither network nor broadcast.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix >= 31 || (ip != self.addr() && ip != self.broadcast()))
    }

    /// The usable host addresses, lowest first.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (0..size)
            .map(move |i| Ipv4Addr::from(self.net.wrapping_add(i as u32)))
            .filter(move |ip| self.is_host(*ip))
    }

    /// The first usable host address (the gateway by default, as Docker picks it).
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        self.hosts().next()
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix)
    }
}

/// Why a subnet does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    /// Not `a.b.c.d/n`.
    #[error("expected an IPv4 CIDR like 10.1.0.0/24")]
    Syntax,
    /// The address has bits set beyond the prefix.
    #[error("host bits are set; it should be {0}")]
    HostBits(String),
}

impl FromStr for Subnet {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Subnet, SubnetError> {
        let (a, p) = s.split_once('/').ok_or(SubnetError::Syntax)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| SubnetError::Syntax)?;
        let prefix: u8 = p.parse().map_err(|_| SubnetError::Syntax)?;
        if prefix > 32 {
            return Err(SubnetError::Syntax);
        }
        let n = Subnet::new(addr, prefix);
        if n.addr() != addr {
            return Err(SubnetError::HostBits(n.to_string()));
        }
        Ok(n)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The host's IPv4 routes other than the default one, from `/proc/net/route`:
/// (interface, destination).
pub fn host_routes() -> Vec<(String, Subnet)> {
    parse_routes(&std::fs::read_to_string("/proc/net/route").unwrap_or_default())
}

fn parse_routes(text: &str) -> Vec<(String, Subnet)> {
    let mut out = vec![];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dst), Some(m)) = (f.first(), f.get(1), f.get(7)) else {
            continue;
        };
        // The kernel prints addresses as host-order hex of the network-order bytes.
        let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
        let (Some(dst), Some(m)) = (hex(dst), hex(m)) else {
            continue;
        };
        if m == 0 {
            continue;
        }
        let prefix = m.count_ones() as u8;
        out.push((iface.to_string(), Subnet::new(dst.into(), prefix)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_relations() {
        let a: Subnet = "10.1.0.0/24".parse().unwrap();
        assert_eq!(a.broadcast(), Ipv4Addr::new(10, 1, 0, 255));
        assert_eq!(a.first_host(), Some(Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(a.hosts().count(), 254);
        assert!(a.contains(Ipv4Addr::new(10, 1, 0, 77)));
        assert!(!a.is_host(Ipv4Addr::new(10, 1, 0, 255)));
        let b: Subnet = "10.0.0.0/8".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        let c: Subnet = "10.2.0.0/24".parse().unwrap();
        assert!(!a.overlaps(&c));
        for bad in ["10.1.0.0", "10.1.0.0/33", "x/8", "10.1.0/8"] {
            assert_eq!(bad.parse::<Subnet>(), Err(SubnetError::Syntax), "{bad}");
        }
        assert_eq!(
            "10.1.0.1/24".parse::<Subnet>(),
            Err(SubnetError::HostBits("10.1.0.0/24".into()))
        );
    }

    #[test]
    fn proc_net_route() {
        let text =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_routes(text);
        assert_eq!(r, vec![("eth0".into(), "192.0.2.0/24".parse().unwrap())]);
    }
}
