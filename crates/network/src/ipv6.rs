//! IPv6 on a bridge network (`network create --ipv6`), off by default as in Docker.
//!
//! Such a network is dual stack: its IPv4 pool as always, and an IPv6 subnet (`--subnet
//! fd..::/64`, or a random unique local /64) as the second entry of `IPAM.Config`. There
//! is no second lease file: a container's IPv6 address is the IPv6 subnet's address at
//! the same offset as its IPv4 address in the IPv4 subnet (10.1.0.7 in 10.1.0.0/24 is
//! fd00:1::7 in fd00:1::/64), and so is the gateway's. The IPv4 leases keep both unique,
//! and an IPv6 subnet must have at least as many host bits as the IPv4 one. An IPv6
//! `--ip-range` (a second `--ip-range`, inside the IPv6 subnet, with as many host bits as
//! the IPv4 subnet) moves containers' addresses there: the range's address at the same
//! offset (the gateway stays the subnet's). So `--ip6` names an IPv4 address too: the
//! one at its offset, which is leased as `--ip` would be ([`Network::v4_of`]).
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

    /// Where containers' IPv6 addresses are: the IPv6 `--ip-range`, else the subnet.
    fn base6(&self) -> Option<Subnet6> {
        let c = self.ipam.config.iter().find(|c| c.subnet.contains(':'))?;
        let (s6, _) = self.pool6()?;
        Some(c.ip_range.parse().unwrap_or(s6))
    }

    /// The IPv6 address that goes with IPv4 address `ip` (see the module doc).
    pub fn v6_of(&self, ip: Ipv4Addr) -> Option<Ipv6Addr> {
        let base = self.base6()?;
        let (s4, _) = self.pool().ok()?;
        Some(base.at(u32::from(ip) - u32::from(s4.addr())))
    }

    /// The IPv4 address whose IPv6 twin is `ip6` (`--ip6`; see the module doc).
    pub fn v4_of(&self, ip6: Ipv6Addr) -> Result<Ipv4Addr> {
        let bad = |why: String| NetError::invalid("--ip6", ip6.to_string(), why);
        let Some(base) = self.base6() else {
            return Err(bad(format!("network {} has no IPv6 (--ipv6)", self.name)));
        };
        let (s4, _) = self.pool()?;
        let size = 1u128 << (32 - u32::from(s4.prefix()));
        let offset = u128::from(ip6).wrapping_sub(u128::from(base.addr()));
        if !base.contains(ip6) || offset >= size {
            return Err(bad(format!(
                "not one of network {}'s container addresses {}..{} (each sits at its IPv4 address's offset)",
                self.name,
                base.at(0),
                base.at((size - 1) as u32)
            )));
        }
        Ok(Ipv4Addr::from(u32::from(s4.addr()) + offset as u32))
    }
}

/// The IPv6 pool of a new network: `given` (checked against the IPv4 subnet `s4` and the
/// other networks), or a random unique local /64.
pub(crate) fn plan(
    given: Option<&str>,
    range: Option<&str>,
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
        ip_range: range
            .map(|r| range6(r, &s6, s4))
            .transpose()?
            .unwrap_or_default(),
        subnet: shown,
        gateway: s6.at(u32::from(gw4) - u32::from(s4.addr())).to_string(),
    })
}

/// An IPv6 `--ip-range`: inside the IPv6 subnet `s6`, with room for every IPv4 offset.
fn range6(given: &str, s6: &Subnet6, s4: &Subnet) -> Result<String> {
    let bad = |why: String| NetError::invalid("--ip-range", given, why);
    let r: Subnet6 = given.parse().map_err(bad)?;
    if r.prefix() < s6.prefix() || !s6.contains(r.addr()) {
        return Err(bad(format!("not inside subnet {s6}")));
    }
    if u32::from(128 - r.prefix()) < u32::from(32 - s4.prefix()) {
        return Err(bad(format!(
            "an IPv6 range needs at least as many addresses as the IPv4 subnet {s4} (a /{} or larger)",
            96 + s4.prefix()
        )));
    }
    Ok(r.to_string())
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
        let c = plan(Some("fd00:1::/64"), None, &s4, gw4, &[]).unwrap();
        assert_eq!(
            (c.subnet.as_str(), c.gateway.as_str()),
            ("fd00:1::/64", "fd00:1::1")
        );
        let e = plan(Some("fd00:1::/121"), None, &s4, gw4, &[]).unwrap_err();
        assert!(e.to_string().contains("a /120 or larger"), "{e}");
        let r = plan(None, None, &s4, gw4, &[]).unwrap();
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
        let e = plan(Some("fd00:1::/48"), None, &s4, gw4, &[other]).unwrap_err();
        assert!(e.to_string().contains("overlaps network o"), "{e}");
    }

    #[test]
    fn an_ipv6_range_moves_addresses_and_ip6_names_the_ipv4_twin() {
        let s4: Subnet = "10.1.0.0/24".parse().unwrap();
        let gw4 = Ipv4Addr::new(10, 1, 0, 1);
        let c = plan(Some("fd00:1::/64"), Some("fd00:1::100/120"), &s4, gw4, &[]).unwrap();
        assert_eq!(
            (c.ip_range.as_str(), c.gateway.as_str()),
            ("fd00:1::100/120", "fd00:1::1")
        );
        let mut n = Network {
            name: "n".into(),
            enable_ipv6: true,
            ..Default::default()
        };
        n.ipam.config.push(IpamConfig {
            subnet: s4.to_string(),
            gateway: gw4.to_string(),
            ..Default::default()
        });
        n.ipam.config.push(c);
        let ip = Ipv4Addr::new(10, 1, 0, 7);
        assert_eq!(n.v6_of(ip), Some("fd00:1::107".parse().unwrap()));
        assert_eq!(n.v4_of("fd00:1::107".parse().unwrap()).unwrap(), ip);
        for bad in ["fd00:1::7", "fd00:1::200", "fd00:2::107"] {
            let e = n.v4_of(bad.parse().unwrap()).unwrap_err().to_string();
            assert!(
                e.contains("--ip6") && e.contains("fd00:1::100..fd00:1::1ff"),
                "{bad}: {e}"
            );
        }
        for (r, want) in [
            ("fd00:2::/120", "not inside subnet"),
            ("fd00:1::100/121", "a /120 or larger"),
            ("fd00:1::101/120", "host bits"),
        ] {
            let e = plan(Some("fd00:1::/64"), Some(r), &s4, gw4, &[]).unwrap_err();
            assert!(e.to_string().contains(want), "{r}: {e}");
        }
    }
}
