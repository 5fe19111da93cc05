//! Published ports: `-p` specs parsed, host ports chosen and checked, and the mappings of
//! running containers kept in the store as `<root>/networks/<net>/ports/<owner>.json`.
//! berth's nftables table is rebuilt from these files and the networks (see [`crate::nft`]),
//! so a container's DNAT rules exist exactly while its file does: written when it starts,
//! removed when it exits or is removed (`rm -f` after a kill -9 of its monitor too).
//!
//! A host port is taken when another berth container publishes it, or when binding it
//! fails (another process listens on it), which is Docker's check too
//! (libnetwork `portallocator`/`portmapper` binds the port before programming DNAT).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};

/// One published port as the user asked for it (`host_port` 0: any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The host address to listen on (unspecified: every address).
    pub host_ip: Ipv4Addr,
    /// The host port, 0 for a free one.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
}

/// One published port of a running container, as the rules need it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mapping {
    /// `tcp` or `udp`.
    pub proto: String,
    /// Host address (`0.0.0.0`: every address).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// The container's address.
    pub container_ip: Ipv4Addr,
    /// The container's IPv6 address, on a network with IPv6 ([`crate::nft6`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_ip6: Option<std::net::Ipv6Addr>,
    /// The container's port.
    pub container_port: u16,
    /// The container (rule comments name it).
    pub owner: String,
}

fn bad(value: &str, reason: impl Into<String>) -> NetError {
    NetError::invalid("--publish", value, reason)
}

fn port_range(value: &str, s: &str, what: &str) -> Result<(u16, u16)> {
    let one = |p: &str| match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(bad(value, format!("{what} port `{p}` must be 1-65535"))),
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (one(a)?, one(b)?),
        None => (one(s)?, one(s)?),
    };
    if b < a {
        return Err(bad(
            value,
            format!("{what} port range `{s}` runs backwards"),
        ));
    }
    Ok((a, b))
}

/// Parses one `-p` value: `[[ip:][hostPort]:]containerPort[/proto]`, where either port
/// may be a range `a-b` (of equal lengths when both are).
pub fn parse(value: &str) -> Result<Vec<Spec>> {
    let (rest, proto) = match value.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (value, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp") {
        return Err(bad(value, format!("protocol `{proto}`: tcp or udp")));
    }
    if rest.starts_with('[') {
        return Err(bad(
            value,
            "an IPv6 host address cannot be published on (DNAT in the kernel cannot take [::1] out of lo, and berth has no userland proxy); leave the address out: on networks with --ipv6 the port is reachable over the host's IPv6 addresses",
        ));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(bad(value, "expected [[ip:]hostPort:]containerPort[/proto]")),
    };
    let host_ip = if ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        ip.parse()
            .map_err(|_| bad(value, format!("host address `{ip}` is not IPv4")))?
    };
    let (c0, c1) = port_range(value, ctr, "container")?;
    let hosts = if host.is_empty() {
        None
    } else {
        Some(port_range(value, host, "host")?)
    };
    if let Some((h0, h1)) = hosts {
        if h1 - h0 != c1 - c0 {
            return Err(bad(
                value,
                "host and container port ranges differ in length",
            ));
        }
    }
    Ok((c0..=c1)
        .map(|c| Spec {
            proto: proto.to_string(),
            host_ip,
            host_port: hosts.map_or(0, |(h0, _)| h0 + (c - c0)),
            container_port: c,
        })
        .collect())
}

/// Whether two mappings would catch the same packets.
fn clash(proto: &str, ip: Ipv4Addr, port: u16, m: &Mapping) -> bool {
    m.proto == proto
        && m.host_port == port
        && (ip.is_unspecified() || m.host_ip.is_unspecified() || ip == m.host_ip)
}

/// Why `port` cannot be had on the host, if it cannot: binding it fails because another
/// process holds it, or because the address is not the host's.
fn unavailable(proto: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
    let addr = SocketAddrV4::new(ip, port);
    let bound = if proto == "udp" {
        UdpSocket::bind(addr).map(drop)
    } else {
        TcpListener::bind(addr).map(drop)
    };
    match bound.err()?.kind() {
        std::io::ErrorKind::AddrInUse => {
            Some(format!("host port {port} is in use by another process"))
        }
        std::io::ErrorKind::AddrNotAvailable => {
            Some(format!("host address {ip} is not an address of this host"))
        }
        k => Some(format!("cannot bind host port {port}: {k}")),
    }
}

/// A port the kernel considers free for `proto` (it hands one out for port 0).
fn free_port(proto: &str, ip: Ipv4Addr) -> Option<u16> {
    let addr = SocketAddrV4::new(ip, 0);
    let port = if proto == "udp" {
        UdpSocket::bind(addr).ok()?.local_addr().ok()?.port()
    } else {
        TcpListener::bind(addr).ok()?.local_addr().ok()?.port()
    };
    Some(port)
}

/// Host ports for `specs`, none of them in `taken` nor held by another process; a free
/// one for each port 0. The error names the `-p` value (`container_port/proto`).
pub fn allocate(
    specs: &[Spec],
    taken: &[Mapping],
    container_ip: Ipv4Addr,
    owner: &str,
) -> Result<Vec<Mapping>> {
    let mut out: Vec<Mapping> = vec![];
    for s in specs {
        let value = format!("{}:{}/{}", s.host_port, s.container_port, s.proto);
        let in_use = |port: u16, out: &[Mapping]| {
            taken
                .iter()
                .chain(out)
                .any(|m| clash(&s.proto, s.host_ip, port, m))
        };
        let port = if s.host_port == 0 {
            (0..64)
                .filter_map(|_| free_port(&s.proto, s.host_ip))
                .find(|p| !in_use(*p, &out))
                .ok_or_else(|| bad(&value, "no free host port"))?
        } else {
            if let Some(m) = taken
                .iter()
                .chain(&out)
                .find(|m| clash(&s.proto, s.host_ip, s.host_port, m))
            {
                let who: String = m.owner.chars().take(12).collect();
                return Err(bad(
                    &value,
                    format!(
                        "host port {} is already published by container {who}",
                        s.host_port
                    ),
                ));
            }
            if let Some(why) = unavailable(&s.proto, s.host_ip, s.host_port) {
                return Err(bad(&value, why));
            }
            s.host_port
        };
        out.push(Mapping {
            proto: s.proto.clone(),
            host_ip: s.host_ip,
            host_port: port,
            container_ip,
            container_ip6: None,
            container_port: s.container_port,
            owner: owner.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(proto: &str, ip: &str, h: u16, c: u16) -> Spec {
        Spec {
            proto: proto.into(),
            host_ip: ip.parse().unwrap(),
            host_port: h,
            container_port: c,
        }
    }

    #[test]
    fn parses_docker_forms() {
        let any = "0.0.0.0";
        assert_eq!(parse("8080:80").unwrap(), [spec("tcp", any, 8080, 80)]);
        assert_eq!(parse("80").unwrap(), [spec("tcp", any, 0, 80)]);
        assert_eq!(parse("53/udp").unwrap(), [spec("udp", any, 0, 53)]);
        assert_eq!(
            parse("127.0.0.1:8080:80/tcp").unwrap(),
            [spec("tcp", "127.0.0.1", 8080, 80)]
        );
        assert_eq!(
            parse("127.0.0.1::80").unwrap(),
            [spec("tcp", "127.0.0.1", 0, 80)]
        );
        assert_eq!(
            parse("8000-8002:80-82").unwrap(),
            [
                spec("tcp", any, 8000, 80),
                spec("tcp", any, 8001, 81),
                spec("tcp", any, 8002, 82)
            ]
        );
    }

    #[test]
    fn refuses_bad_values() {
        for v in [
            "0:80",
            "8080:0",
            "70000:80",
            "8080:x",
            "a:b:c:d",
            "8000-8001:80",
            "8080:80/sctp",
            "x.y:8080:80",
            "9-8:9-8",
            "",
            "[::1]:8080:80",
        ] {
            let e = parse(v).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid --publish `{v}`")),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn clashes_by_proto_address_and_port() {
        let m = Mapping {
            proto: "tcp".into(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            owner: "c1".into(),
            container_ip: Ipv4Addr::UNSPECIFIED,
            container_ip6: None,
            container_port: 80,
        };
        let lo = Ipv4Addr::LOCALHOST;
        assert!(clash("tcp", lo, 8080, &m));
        assert!(!clash("udp", lo, 8080, &m));
        assert!(!clash("tcp", lo, 8081, &m));
        let e = allocate(&[spec("tcp", "127.0.0.1", 8080, 80)], &[m], lo, "c2").unwrap_err();
        assert!(
            e.to_string().contains("already published by container c1"),
            "{e}"
        );
    }

    #[test]
    fn held_ports_and_foreign_addresses_are_refused() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let lo = Ipv4Addr::LOCALHOST;
        let e = allocate(&[spec("tcp", "127.0.0.1", port, 80)], &[], lo, "c").unwrap_err();
        assert!(e.to_string().contains("in use by another process"), "{e}");
        // TEST-NET-1 (RFC 5737) is never a host's address; binding it sends nothing.
        let e = allocate(&[spec("tcp", "192.0.2.1", port, 80)], &[], lo, "c").unwrap_err();
        assert!(e.to_string().contains("not an address of this host"), "{e}");
    }

    #[test]
    fn port_zero_gets_a_free_port() {
        let got = allocate(
            &[spec("udp", "127.0.0.1", 0, 53)],
            &[],
            Ipv4Addr::LOCALHOST,
            "c",
        )
        .unwrap();
        assert_ne!(got[0].host_port, 0);
    }
}
