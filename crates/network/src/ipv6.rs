//! IPv6 on a bridge network (`network create --ipv6`), off by default as in Docker.
//!
//! Such a network is dual stack: its IPv4 pool as always, and an IPv6 subnet (`--subnet
//! fd..::/64`, or a random unique local /64) as the second entry of `IPAM.Config`. There
//! is no second lease file: a container's IPv6 address is the IPv6 subnet's address at
//! the same offset as its IPv4 address in the IPv4 subnet (10.1.0.7 in 10.1.0.0/24 is
//! fd00:1::7 in fd00:1::/64), and so is the gateway's. The IPv4 leases keep both unique,
//! and an IPv6 subnet must have at least as many host bits as the IPv4 one.
//!
//! The bridge gets the gateway address, containers get theirs on their interface and, on
//! their first network, the default route via the gateway; addresses are added without
//! duplicate address detection (IFA_F_NODAD), so they work at once: berth hands out each
//! one once. nftables rules for IPv6 are in a table of the `ip6` family ([`crate::nft`]).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::engine::{IpamConfig, Network};
use crate::error::{NetError, Result};
use crate::subnet::Subnet;

/// An IPv6 subnet with its host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet6 {
    net: u128,
    prefix: u8,
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Subnet6 {
    /// The network address.
    pub fn addr(&self) -> Ipv6Addr {
        self.net.into()
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// `ip` is in this subnet.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask(self.prefix) == self.net
    }

    /// The two subnets share an address.
    pub fn overlaps(&self, other: &Subnet6) -> bool {
        let p = self.prefix.min(other.prefix);
        self.net & mask(p) == other.net & mask(p)
    }

    /// The address `offset` past the network address.
    pub fn at(&self, offset: u32) -> Ipv6Addr {
        self.net.wrapping_add(u128::from(offset)).into()
    }
}

impl fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix)
    }
}

impl FromStr for Subnet6 {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Subnet6, String> {
        let syntax = || "expected an IPv6 CIDR like fd00:1::/64".to_string();
        let (a, p) = s.split_once('/').ok_or_else(syntax)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| syntax())?;
        let prefix: u8 = p.parse().map_err(|_| syntax())?;
        if prefix > 128 {
            return Err(syntax());
        }
        let net = u128::from(addr) & mask(prefix);
        if net != u128::from(addr) {
            return Err(format!(
                "host bits are set; it should be {}/{prefix}",
                Ipv6Addr::from(net)
            ));
        }
        Ok(Subnet6 { net, prefix })
    }
}

impl Network {
    /// The IPv6 subnet and gateway, on a network with IPv6.
    pub fn pool6(&self) -> Option<(Subnet6, Ipv6Addr)> {
        if !self.enable_ipv6 {
            return None;
        }
        let c = self.ipam.config.iter().find(|c| c.subnet.contains(':'))?;
        Some((c.subnet.parse().ok()?, c.gateway.parse().ok()?))
    }

    /// The IPv6 address that goes with IPv4 address `ip` (see the module doc).
    pub fn v6_of(&self, ip: Ipv4Addr) -> Option<Ipv6Addr> {
        let (s6, _) = self.pool6()?;
        let (s4, _) = self.pool().ok()?;
        Some(s6.at(u32::from(ip) - u32::from(s4.addr())))
    }
}

/// The IPv6 pool of a new network: `given` (checked against the IPv4 subnet `s4` and the
/// other networks), or a random unique local /64.
pub(crate) fn plan(
    given: Option<&str>,
    s4: &Subnet,
    gw4: Ipv4Addr,
    existing: &[Network],
) -> Result<IpamConfig> {
    let s6: Subnet6 = match given {
        Some(g) => g
            .parse()
            .map_err(|e: String| NetError::invalid("--subnet", g, e))?,
        None => random_ula()?,
    };
    let shown = s6.to_string();
    if u32::from(128 - s6.prefix()) < u32::from(32 - s4.prefix()) {
        return Err(NetError::invalid(
            "--subnet",
            shown,
            format!(
                "an IPv6 subnet needs at least as many host addresses as the IPv4 subnet {s4} (a /{} or larger)",
                96 + s4.prefix()
            ),
        ));
    }
    if let Some(n) = existing
        .iter()
        .find(|n| n.pool6().is_some_and(|(o, _)| o.overlaps(&s6)))
    {
        return Err(NetError::Overlap {
            subnet: shown,
            other: format!("network {}", n.name),
        });
    }
    Ok(IpamConfig {
        subnet: shown,
        gateway: s6.at(u32::from(gw4) - u32::from(s4.addr())).to_string(),
        ..Default::default()
    })
}

/// fd00::/8 with 40 random bits, subnet 0 (RFC 4193).
fn random_ula() -> Result<Subnet6> {
    use std::io::Read;
    let mut b = [0u8; 5];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(NetError::io("read", "/dev/urandom"))?;
    let mut o = [0u8; 16];
    o[0] = 0xfd;
    o[1..6].copy_from_slice(&b);
    Ok(Subnet6 {
        net: u128::from_be_bytes(o),
        prefix: 64,
    })
}

/// IPv6 on the bridge and forwarding between interfaces, for a network with IPv6. As
/// with Docker's IPv6 networks, host-wide IPv6 forwarding makes the host itself stop
/// accepting router advertisements on interfaces with `accept_ra` 1 (2 keeps them).
pub(crate) fn sysctls(br: &str) -> Result<()> {
    for (p, v) in [
        (format!("/proc/sys/net/ipv6/conf/{br}/disable_ipv6"), "0"),
        ("/proc/sys/net/ipv6/conf/all/forwarding".to_string(), "1"),
    ] {
        if std::fs::read_to_string(&p).is_ok_and(|x| x.trim() == v) {
            continue;
        }
        std::fs::write(&p, v).map_err(NetError::io("write", &p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_offsets_and_plan() {
        let s: Subnet6 = "fd00:1::/64".parse().unwrap();
        assert_eq!(s.at(7).to_string(), "fd00:1::7");
        assert!(s.contains("fd00:1::ffff".parse().unwrap()));
        assert!(!s.contains("fd00:2::1".parse().unwrap()));
        assert!("fd00:1::1/64"
            .parse::<Subnet6>()
            .unwrap_err()
            .contains("host bits"));
        assert!("10.0.0.0/8".parse::<Subnet6>().is_err());
        let s4: Subnet = "10.1.0.0/24".parse().unwrap();
        let gw4 = Ipv4Addr::new(10, 1, 0, 1);
        let c = plan(Some("fd00:1::/64"), &s4, gw4, &[]).unwrap();
        assert_eq!(
            (c.subnet.as_str(), c.gateway.as_str()),
            ("fd00:1::/64", "fd00:1::1")
        );
        let e = plan(Some("fd00:1::/121"), &s4, gw4, &[]).unwrap_err();
        assert!(e.to_string().contains("a /120 or larger"), "{e}");
        let r = plan(None, &s4, gw4, &[]).unwrap();
        assert!(
            r.subnet.starts_with("fd") && r.subnet.ends_with("::/64"),
            "{}",
            r.subnet
        );
        let mut other = Network {
            name: "o".into(),
            enable_ipv6: true,
            ..Default::default()
        };
        other.ipam.config.push(c);
        let e = plan(Some("fd00:1::/48"), &s4, gw4, &[other]).unwrap_err();
        assert!(e.to_string().contains("overlaps network o"), "{e}");
    }
}
