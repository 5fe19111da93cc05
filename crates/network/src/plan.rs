//! Checking a `network create` request against the store and the host before anything is
//! made: name, options, subnet (free of other networks and of host routes), gateway.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::Ipv4Addr;

use crate::engine::{CreateRequest, IpamConfig, IpamInfo, Network, DEFAULT, OPT_BRIDGE, OPT_MTU};
use crate::error::{NetError, Result};
use crate::subnet::Subnet;

/// A name that is also a safe directory name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub(crate) fn valid_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The pools a subnet is picked from when none is given, as Docker's defaults: the
/// 172.17-31 /16s, then /20s of 192.168.
fn pool() -> impl Iterator<Item = Subnet> {
    let b = (17..=31).map(|n| Subnet::new(Ipv4Addr::new(172, n, 0, 0), 16));
    let c = (0..16).map(|n| Subnet::new(Ipv4Addr::new(192, 168, n * 16, 0), 20));
    b.chain(c)
}

/// The network `req` describes, or why it cannot be made.
pub(crate) fn plan(
    req: &CreateRequest,
    existing: &[Network],
    routes: &[(String, Subnet)],
    is_default: bool,
) -> Result<Network> {
    let name = req.name.as_str();
    if !valid_name(name) {
        return Err(NetError::invalid(
            "name",
            name,
            "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        ));
    }
    if ["host", "none"].contains(&name) || (name == DEFAULT && !is_default) {
        return Err(NetError::invalid(
            "name",
            name,
            "a predefined network has this name",
        ));
    }
    if existing.iter().any(|n| n.name == name) {
        return Err(NetError::Exists(name.to_string()));
    }
    for d in &req.dns {
        if crate::dns::server::server_addr(d).is_none() {
            return Err(NetError::invalid("--dns", d, "expected IP or IP:PORT"));
        }
    }
    let id = random_id()?;
    let options = options(req, &id, existing)?;
    let subnet = subnet(req, existing, routes)?;
    let gateway = gateway(req, &subnet)?;
    let ip_range = ip_range(req, &subnet)?;
    let v6 = match (&req.subnet6, req.ipv6) {
        (Some(s6), false) => {
            let why = "an IPv6 subnet needs --ipv6";
            return Err(NetError::invalid("--subnet", s6, why));
        }
        (s6, true) => Some(crate::ipv6::plan(
            s6.as_deref(),
            req.ip_range6.as_deref(),
            &subnet,
            gateway,
            existing,
        )?),
        (None, false) => match &req.ip_range6 {
            Some(r) => {
                return Err(NetError::invalid(
                    "--ip-range",
                    r,
                    "an IPv6 range needs --ipv6",
                ))
            }
            None => None,
        },
    };
    let mut net = Network {
        name: name.to_string(),
        id,
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        scope: "local".into(),
        driver: "bridge".into(),
        ipam: IpamInfo {
            driver: "default".into(),
            config: vec![IpamConfig {
                subnet: subnet.to_string(),
                gateway: gateway.to_string(),
                ip_range,
            }],
        },
        internal: req.internal,
        options,
        labels: req.labels.clone(),
        dns_servers: req.dns.clone(),
        ..Default::default()
    };
    if let Some(c) = v6 {
        net.enable_ipv6 = true;
        net.ipam.config.push(c);
    }
    Ok(net)
}

/// `-o` options, checked, with the bridge name and MTU filled in.
fn options(
    req: &CreateRequest,
    id: &str,
    existing: &[Network],
) -> Result<BTreeMap<String, String>> {
    let mut o = BTreeMap::new();
    for (k, v) in &req.options {
        if k != OPT_BRIDGE && k != OPT_MTU {
            return Err(NetError::invalid(
                "-o",
                format!("{k}={v}"),
                format!("supported options are {OPT_BRIDGE} and {OPT_MTU}"),
            ));
        }
        o.insert(k.clone(), v.clone());
    }
    let mtu = o
        .entry(OPT_MTU.to_string())
        .or_insert_with(|| "1500".into());
    if !mtu.parse::<u32>().is_ok_and(|m| (68..=65535).contains(&m)) {
        return Err(NetError::invalid(
            "-o",
            format!("{OPT_MTU}={mtu}"),
            "an MTU is 68 to 65535",
        ));
    }
    let br = o
        .entry(OPT_BRIDGE.to_string())
        .or_insert_with(|| format!("br-{}", &id[..12]))
        .clone();
    let ok = !br.is_empty()
        && br.len() <= 15
        && br
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(NetError::invalid(
            "-o",
            format!("{OPT_BRIDGE}={br}"),
            "an interface name is 1 to 15 of [a-zA-Z0-9_.-]",
        ));
    }
    if let Some(n) = existing.iter().find(|n| n.bridge() == br) {
        return Err(NetError::invalid(
            "-o",
            format!("{OPT_BRIDGE}={br}"),
            format!("network {} uses this bridge", n.name),
        ));
    }
    Ok(o)
}

fn subnet(
    req: &CreateRequest,
    existing: &[Network],
    routes: &[(String, Subnet)],
) -> Result<Subnet> {
    let taken: Vec<(String, Subnet)> = existing
        .iter()
        .filter_map(|n| {
            n.pool()
                .ok()
                .map(|(s, _)| (format!("network {}", n.name), s))
        })
        .chain(routes.iter().map(|(i, s)| (format!("a route of {i}"), *s)))
        .collect();
    let clash = |s: &Subnet| taken.iter().find(|(_, t)| t.overlaps(s)).cloned();
    let Some(given) = &req.subnet else {
        return pool().find(|s| clash(s).is_none()).ok_or_else(|| {
            NetError::invalid("--subnet", "", "no free default pool; give --subnet")
        });
    };
    let s: Subnet = given.parse().map_err(|e: crate::subnet::SubnetError| {
        NetError::invalid("--subnet", given, e.to_string())
    })?;
    if s.prefix() > 30 {
        return Err(NetError::invalid(
            "--subnet",
            given,
            "a /30 or larger is needed",
        ));
    }
    if let Some((what, t)) = clash(&s) {
        return Err(NetError::Overlap {
            subnet: s.to_string(),
            other: format!("{what} ({t})"),
        });
    }
    Ok(s)
}

/// `--gateway`, or the subnet's first host address.
fn gateway(req: &CreateRequest, subnet: &Subnet) -> Result<Ipv4Addr> {
    let Some(g) = &req.gateway else {
        return Ok(subnet.first_host().unwrap_or(subnet.addr()));
    };
    let ip: Ipv4Addr = g
        .parse()
        .map_err(|_| NetError::invalid("--gateway", g, "not an IPv4 address"))?;
    if !subnet.is_host(ip) {
        return Err(NetError::invalid(
            "--gateway",
            g,
            format!("not a host address of subnet {subnet}"),
        ));
    }
    Ok(ip)
}

/// `--ip-range`: a subnet inside the network's.
fn ip_range(req: &CreateRequest, subnet: &Subnet) -> Result<String> {
    let Some(given) = &req.ip_range else {
        return Ok(String::new());
    };
    let r: Subnet = given.parse().map_err(|e: crate::subnet::SubnetError| {
        NetError::invalid("--ip-range", given, e.to_string())
    })?;
    if req.subnet.is_none() {
        return Err(NetError::invalid("--ip-range", given, "needs --subnet"));
    }
    if r.prefix() < subnet.prefix() || !subnet.contains(r.addr()) {
        return Err(NetError::invalid(
            "--ip-range",
            given,
            format!("not inside subnet {subnet}"),
        ));
    }
    Ok(r.to_string())
}

fn random_id() -> Result<String> {
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(NetError::io("read", "/dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, subnet: Option<&str>) -> CreateRequest {
        CreateRequest {
            name: name.into(),
            subnet: subnet.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn picks_a_free_pool_and_gateway() {
        let routes = vec![("eth0".to_string(), "172.17.0.0/16".parse().unwrap())];
        let a = plan(&req("a", None), &[], &routes, false).unwrap();
        assert_eq!(a.ipam.config[0].subnet, "172.18.0.0/16");
        assert_eq!(a.ipam.config[0].gateway, "172.18.0.1");
        assert!(a.bridge().starts_with("br-") && a.bridge().len() == 15);
        assert_eq!(a.mtu(), 1500);
        let b = plan(&req("b", None), &[a], &routes, false).unwrap();
        assert_eq!(b.ipam.config[0].subnet, "172.19.0.0/16");
    }

    #[test]
    fn refusals() {
        let a = plan(&req("a", Some("10.7.0.0/24")), &[], &[], false).unwrap();
        let existing = [a];
        let routes = vec![("eth0".to_string(), "192.0.2.0/24".parse().unwrap())];
        let cases: Vec<(CreateRequest, &str)> = vec![
            (req("a", None), "already exists"),
            (req("host", None), "predefined"),
            (req("bridge", None), "predefined"),
            (req("-x", None), "only"),
            (req("b", Some("10.7.0.128/25")), "overlaps network a"),
            (req("b", Some("192.0.2.0/25")), "overlaps a route of eth0"),
            (req("b", Some("10.8.0.1/24")), "host bits"),
            (req("b", Some("10.8.0.0/31")), "/30"),
            (
                CreateRequest {
                    ip_range: Some("10.8.1.0/28".into()),
                    ..req("b", Some("10.8.0.0/24"))
                },
                "not inside subnet 10.8.0.0/24",
            ),
            (
                CreateRequest {
                    ip_range: Some("10.8.0.0/23".into()),
                    ..req("b", Some("10.8.0.0/24"))
                },
                "not inside subnet",
            ),
            (
                CreateRequest {
                    ip_range: Some("10.8.0.0/28".into()),
                    ..req("b", None)
                },
                "needs --subnet",
            ),
            (
                CreateRequest {
                    gateway: Some("10.8.1.1".into()),
                    ..req("b", Some("10.8.0.0/24"))
                },
                "not a host address",
            ),
            (
                CreateRequest {
                    options: [(OPT_MTU.to_string(), "9".to_string())].into(),
                    ..req("b", None)
                },
                "MTU",
            ),
            (
                CreateRequest {
                    options: [("x".to_string(), "9".to_string())].into(),
                    ..req("b", None)
                },
                "supported options",
            ),
        ];
        for (r, want) in cases {
            let e = plan(&r, &existing, &routes, false).unwrap_err().to_string();
            assert!(e.contains(want), "{r:?}: {e}");
        }
    }
}
