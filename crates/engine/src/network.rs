//! Containers on bridge networks, the engine's side: which `--network` modes attach,
//! checks at `create`, an address at `start` (kept in the container's `endpoint.json`
//! until `rm`), the veth wired by the monitor between the runtime's create and start,
//! addresses given back at removal, and what `inspect` shows. Published ports follow the
//! running process: checked at `create`, published with the address at `start`,
//! withdrawn when the container exits for good (not between restarts) and at removal.
//!
//! The monitor wires the network after the runtime made the container's namespaces and
//! before its process runs (rather than making a named netns first): nothing outlives the
//! container's init, so an exit or a kill -9 leaves no namespace or veth to collect, and a
//! restart gets a fresh namespace wired the same way.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use berth_network::{Endpoint, HostNames, Mapping, Networks, Spec};
use serde_json::{json, Value};

use crate::config::{Container, EndpointSettings};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The network a `--network` mode attaches to: `bridge` (or `default`) or a user
/// network's name; None for `none`, `host`, `container:X` and an unset mode.
pub fn bridged(mode: &str) -> Option<&str> {
    match mode {
        "" | "none" | "host" => None,
        m if m.starts_with("container:") => None,
        "default" => Some(berth_network::engine::DEFAULT),
        m => Some(m),
    }
}

impl Engine {
    /// The store's networks (host-wide names from the environment: see [`HostNames`]).
    pub fn networks(&self) -> Result<Networks> {
        Ok(Networks::open(self.root(), HostNames::from_env())?)
    }
}

/// The `--ip` and `--ip6` the container asked for on its first network.
fn requested(c: &Container) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    match bridged(&c.host_config.network_mode) {
        Some(net) => parse_requested(c.networking_config.endpoints_config.get(net)),
        None => Ok((None, None)),
    }
}

/// `--ip` and `--ip6` of one network's settings, parsed.
pub(crate) fn parse_requested(
    e: Option<&EndpointSettings>,
) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let (v4, v6) = e.map_or(("", ""), |e| {
        (
            e.ipam_config.ipv4_address.as_str(),
            e.ipam_config.ipv6_address.as_str(),
        )
    });
    let v4 = (!v4.is_empty())
        .then(|| {
            v4.parse()
                .map_err(|_| Error::invalid("--ip", v4, "not an IPv4 address"))
        })
        .transpose()?;
    let v6 = (!v6.is_empty())
        .then(|| {
            v6.parse()
                .map_err(|_| Error::invalid("--ip6", v6, "not an IPv6 address"))
        })
        .transpose()?;
    Ok((v4, v6))
}

/// The IPv4 address to lease on network `key` for `--ip` and `--ip6`: an IPv6 address
/// sits at its IPv4 twin's offset (`berth_network::ipv6`), so `--ip6` names that one,
/// and both together must agree.
pub(crate) fn wanted(
    nets: &Networks,
    key: &str,
    (v4, v6): (Option<Ipv4Addr>, Option<Ipv6Addr>),
) -> Result<Option<Ipv4Addr>> {
    let Some(v6) = v6 else {
        return Ok(v4);
    };
    let twin = nets.get(key)?.v4_of(v6)?;
    match v4 {
        Some(v4) if v4 != twin => Err(Error::invalid(
            "--ip6",
            v6.to_string(),
            format!("its IPv4 twin is {twin}, not --ip {v4} (an IPv6 address sits at its IPv4 address's offset)"),
        )),
        _ => Ok(Some(twin)),
    }
}

/// What `-p` and `-P` ask to publish: `PortBindings`, and with `-P` every exposed port
/// not bound already (to a free host port).
pub fn specs(c: &Container) -> Result<Vec<Spec>> {
    let bad = |v: &str, why: &str| Error::invalid("--publish", v, why);
    let mut out = vec![];
    let mut add = |key: &str, ip: &str, port: &str| -> Result<()> {
        let (cport, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let container_port = cport
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(key, "container port must be 1-65535"))?;
        let host_ip = if ip.is_empty() {
            std::net::Ipv4Addr::UNSPECIFIED
        } else {
            ip.parse()
                .map_err(|_| bad(ip, "host address is not IPv4"))?
        };
        let host_port = if port.is_empty() {
            0
        } else {
            port.parse()
                .map_err(|_| bad(port, "host port must be 1-65535"))?
        };
        if !matches!(proto, "tcp" | "udp") {
            return Err(bad(key, "protocol must be tcp or udp"));
        }
        out.push(Spec {
            proto: proto.to_string(),
            host_ip,
            host_port,
            container_port,
        });
        Ok(())
    };
    for (key, binds) in &c.host_config.port_bindings {
        for b in binds {
            add(key, &b.host_ip, &b.host_port)?;
        }
    }
    if c.host_config.publish_all_ports {
        for key in c.config.exposed_ports.keys() {
            if !c.host_config.port_bindings.contains_key(key) {
                add(key, "", "")?;
            }
        }
    }
    Ok(out)
}

/// At `create`: the network exists, `--ip` could be one of its addresses, and the ports
/// to publish are free.
pub fn check(eng: &Engine, c: &Container) -> Result<()> {
    let (ip, ip6) = requested(c)?;
    let specs = specs(c)?;
    let Some(net) = bridged(&c.host_config.network_mode) else {
        if let Some(s) = specs.first() {
            return Err(Error::invalid(
                "--publish",
                format!("{}/{}", s.container_port, s.proto),
                "published ports need a bridge network (not none, host or container:)",
            ));
        }
        if let Some(a) = aliases(c).first() {
            return Err(Error::invalid(
                "--network-alias",
                a,
                "an alias needs a user-defined network (--network NAME)",
            ));
        }
        if !c.networking_config.endpoints_config.is_empty() {
            return Err(Error::invalid(
                "--ip",
                "",
                "an address needs a user-defined network (--network NAME)",
            ));
        }
        return Ok(());
    };
    if net == berth_network::engine::DEFAULT {
        let given = ip.map(|i| ("--ip", i.to_string()));
        if let Some((flag, v)) = given.or(ip6.map(|i| ("--ip6", i.to_string()))) {
            return Err(Error::invalid(
                flag,
                v,
                "user specified IP address is supported on user defined networks only",
            ));
        }
    }
    if let (Some(a), true) = (aliases(c).first(), net == berth_network::engine::DEFAULT) {
        return Err(Error::invalid(
            "--network-alias",
            a,
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    let nets = eng.networks()?;
    let ip = if ip6.is_some() {
        wanted(&nets, net, (ip, ip6))?
    } else {
        ip
    };
    nets.check(net, ip)?;
    if !specs.is_empty() {
        nets.check_ports(net, &c.id, &specs)?;
    }
    Ok(())
}

fn endpoint_path(eng: &Engine, id: &str) -> PathBuf {
    eng.dir(id).join("endpoint.json")
}

/// At `start`: the container's address on its network (kept from an earlier start),
/// recorded in `endpoint.json`. None when it is not on a bridge network.
pub fn attach(eng: &Engine, c: &Container) -> Result<Option<Endpoint>> {
    let Some(net) = bridged(&c.host_config.network_mode) else {
        return Ok(None);
    };
    let nets = eng.networks()?;
    let ep = nets.attach(net, &c.id, wanted(&nets, net, requested(c)?)?)?;
    // Made again by every start, so not fsynced (as the bundle's spec).
    let bytes = serde_json::to_vec(&ep).map_err(|e| Error::Corrupt {
        path: endpoint_path(eng, &c.id),
        reason: e.to_string(),
    })?;
    crate::store::write_regenerated(&endpoint_path(eng, &c.id), &bytes)?;
    let ip = ep
        .ip
        .parse()
        .map_err(|_| Error::invalid("--ip", &ep.ip, "stored address is not IPv4"))?;
    nets.publish(net, &c.id, ip, &specs(c)?)?;
    // The record first, then the responder: one that is deciding to exit sees it.
    let rec = berth_network::dns::Record {
        ip,
        ip6: ep.ipv6.parse().ok(),
        names: dns_names(c, net),
        dns: c.host_config.dns.clone(),
    };
    nets.register_names(net, &c.id, &rec)?;
    nets.ensure_dns(net, &crate::lifecycle::monitor_exe())?;
    Ok(Some(ep))
}

/// The names a container answers to on `net`: its name, short id and aliases.
pub(crate) fn dns_names(c: &Container, net: &str) -> Vec<String> {
    let mut out = vec![
        c.short_name().to_string(),
        c.id[..12.min(c.id.len())].to_string(),
    ];
    if let Some(e) = c.networking_config.endpoints_config.get(net) {
        out.extend(e.aliases.iter().cloned());
    }
    out.retain(|n| !n.is_empty());
    out
}

fn aliases(c: &Container) -> Vec<String> {
    c.networking_config
        .endpoints_config
        .values()
        .flat_map(|e| e.aliases.iter().cloned())
        .collect()
}

/// The container's recorded endpoint.
pub fn endpoint(eng: &Engine, id: &str) -> Option<Endpoint> {
    crate::store::read_json(&endpoint_path(eng, id)).ok()
}

/// In the monitor, after the runtime's create: wires the endpoint into init's namespace.
pub fn connect(eng: &Engine, c: &Container, pid: i32) -> Result<()> {
    if bridged(&c.host_config.network_mode).is_none() {
        return Ok(());
    }
    let ep = endpoint(eng, &c.id).ok_or_else(|| Error::Monitor {
        id: c.id.clone(),
        reason: "the container's endpoint.json is missing".into(),
    })?;
    let net = eng.networks()?.get(&ep.network_id)?;
    berth_network::connect(&ep, pid, &net)?;
    crate::connect::wire_extras(eng, c, pid)
}

/// After the container's init exited: its host veth, if something kept it.
pub fn disconnect(eng: &Engine, id: &str) {
    if let Some(ep) = endpoint(eng, id) {
        let _ = berth_network::disconnect(&ep);
    }
    crate::connect::unwire_extras(eng, id);
}

/// The host veths of a container whose init just exited, to delete once its exit is
/// told ([`unplug_later`]).
pub struct Unplug(Vec<u32>);

/// After the container's init exited: the indexes of its host veths. Deleting a veth
/// whose namespace is being torn down waits for the kernel's namespace cleanup to give
/// up the rtnl lock (15-20 ms measured), and the kernel deletes it with the namespace
/// anyway, so the monitor tells the exit first and deletes after ([`Unplug::finish`]),
/// by index: a veth of the same name made since belongs to a new start.
pub fn unplug_later(eng: &Engine, id: &str) -> Unplug {
    let eps = endpoint(eng, id)
        .into_iter()
        .chain(crate::connect::extra_endpoints(eng, id));
    Unplug(
        eps.filter_map(|e| berth_network::endpoint::host_index(&e))
            .collect(),
    )
}

impl Unplug {
    /// Deletes the veths that are still there (something may keep their namespace).
    pub fn finish(self) {
        for i in self.0 {
            let _ = berth_network::endpoint::delete_index(i);
        }
    }
}

/// When the container stops for good: its published ports are withdrawn.
pub fn unpublish(eng: &Engine, id: &str) {
    if let Ok(nets) = eng.networks() {
        let _ = nets.unpublish(id);
    }
}

/// The ports the container publishes now.
pub fn published(eng: &Engine, id: &str) -> Vec<Mapping> {
    eng.networks()
        .and_then(|n| Ok(n.published(id)?))
        .unwrap_or_default()
}

/// `NetworkSettings.Ports`, Docker's shape: each exposed or published `port/proto` with
/// its host bindings (null when exposed but not published).
fn ports_value(eng: &Engine, id: &str) -> Value {
    let mut ports = serde_json::Map::new();
    if let Ok(c) = eng.containers.config(id) {
        for k in c.config.exposed_ports.keys() {
            ports.insert(k.clone(), Value::Null);
        }
    }
    for m in published(eng, id) {
        let key = format!("{}/{}", m.container_port, m.proto);
        let mut ips = vec![m.host_ip.to_string()];
        if m.container_ip6.is_some() && m.host_ip.is_unspecified() {
            ips.push("::".into());
        }
        for ip in ips {
            let one = json!({"HostIp": ip, "HostPort": m.host_port.to_string()});
            match ports.get_mut(&key) {
                Some(Value::Array(v)) => v.push(one),
                _ => {
                    ports.insert(key.clone(), json!([one]));
                }
            }
        }
    }
    Value::Object(ports)
}

/// At removal: every address the container holds goes back.
pub fn release(eng: &Engine, id: &str) -> Result<()> {
    Ok(eng.networks()?.release(id)?)
}

/// `inspect`'s `NetworkSettings`.
pub fn settings(eng: &Engine, id: &str) -> Value {
    let c = eng.containers.config(id).ok();
    let first = endpoint(eng, id);
    let mut networks = serde_json::Map::new();
    for e in first
        .iter()
        .cloned()
        .chain(crate::connect::extra_endpoints(eng, id))
    {
        networks.insert(e.network.clone(), endpoint_value(c.as_ref(), &e));
    }
    // Networks connected while the container was not running: no address yet.
    for k in c.iter().flat_map(crate::connect::extra_networks) {
        let net = eng.networks().and_then(|n| Ok(n.get(&k)?)).ok();
        let name = net.as_ref().map_or(k.clone(), |n| n.name.clone());
        if !networks.contains_key(&name) {
            let ep = Endpoint {
                network: name.clone(),
                network_id: net.map(|n| n.id).unwrap_or_default(),
                ..Default::default()
            };
            networks.insert(name, endpoint_value(c.as_ref(), &ep));
        }
    }
    let Some(ep) = first else {
        return json!({"Networks": networks, "Ports": {}, "IPAddress": "", "Gateway": "",
                      "MacAddress": "", "IPPrefixLen": 0, "SandboxKey": ""});
    };
    json!({
        "Bridge": ep.bridge,
        "SandboxKey": "",
        "Ports": ports_value(eng, id),
        "EndpointID": ep.endpoint_id,
        "Gateway": ep.gateway,
        "IPAddress": ep.ip,
        "IPPrefixLen": ep.prefix,
        "MacAddress": ep.mac_address,
        "GlobalIPv6Address": ep.ipv6,
        "GlobalIPv6PrefixLen": ep.ipv6_prefix,
        "IPv6Gateway": ep.ipv6_gateway,
        "Networks": networks,
    })
}

/// One network of `NetworkSettings.Networks`.
fn endpoint_value(c: Option<&Container>, ep: &Endpoint) -> Value {
    let aliases = c
        .and_then(|c| c.networking_config.endpoints_config.get(&ep.network))
        .map(|e| e.aliases.clone())
        .filter(|a| !a.is_empty());
    json!({
        "Aliases": aliases,
        "NetworkID": ep.network_id,
        "EndpointID": ep.endpoint_id,
        "Gateway": ep.gateway,
        "IPAddress": ep.ip,
        "IPPrefixLen": ep.prefix,
        "MacAddress": ep.mac_address,
        "GlobalIPv6Address": ep.ipv6,
        "GlobalIPv6PrefixLen": ep.ipv6_prefix,
        "IPv6Gateway": ep.ipv6_gateway,
    })
}

/// `network inspect`: the network with `Containers` (id → name, endpoint, addresses).
pub fn inspect(eng: &Engine, key: &str) -> Result<Value> {
    let nets = eng.networks()?;
    let net = nets.get(key)?;
    let mut containers = serde_json::Map::new();
    for (ip, owner) in nets.leases(&net)? {
        let name = eng
            .containers
            .config(&owner)
            .map(|c| c.short_name().to_string())
            .unwrap_or_default();
        let ep = endpoint(eng, &owner)
            .into_iter()
            .chain(crate::connect::extra_endpoints(eng, &owner))
            .find(|e| e.network_id == net.id)
            .unwrap_or_default();
        containers.insert(
            owner,
            json!({
                "Name": name,
                "EndpointID": ep.endpoint_id,
                "MacAddress": ep.mac_address,
                "IPv4Address": format!("{ip}/{}", ep.prefix),
                "IPv6Address": if ep.ipv6.is_empty() {
                    String::new()
                } else {
                    format!("{}/{}", ep.ipv6, ep.ipv6_prefix)
                },
            }),
        );
    }
    let mut v = serde_json::to_value(&net).map_err(|e| Error::Corrupt {
        path: eng.root().join("networks").join(&net.name),
        reason: e.to_string(),
    })?;
    v["Containers"] = Value::Object(containers);
    Ok(v)
}

/// Names of the networks some container (running or not) is configured for.
fn in_use(eng: &Engine) -> Result<Vec<String>> {
    let mut out = vec![];
    for id in eng.containers.ids()? {
        if let Ok(c) = eng.containers.config(&id) {
            if let Some(n) = bridged(&c.host_config.network_mode) {
                out.push(n.to_string());
            }
            out.extend(crate::connect::extra_networks(&c));
        }
    }
    Ok(out)
}

/// `network rm`: refused while a container is configured for it or holds an address.
pub fn remove(eng: &Engine, key: &str) -> Result<String> {
    let nets = eng.networks()?;
    let net = nets.get(key)?;
    if in_use(eng)?.iter().any(|n| *n == net.name || *n == net.id) {
        return Err(berth_network::NetError::InUse {
            name: net.name,
            id: net.id,
        }
        .into());
    }
    Ok(nets.remove(&net.id)?.name)
}

/// `network prune`: user networks no container is configured for; their names.
pub fn prune(eng: &Engine) -> Result<Vec<String>> {
    let used = in_use(eng)?;
    Ok(eng
        .networks()?
        .prune(|n| used.iter().any(|u| *u == n.name || *u == n.id))?)
}
