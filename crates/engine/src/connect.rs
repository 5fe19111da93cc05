//! `network connect` and `network disconnect`: a container's later networks.
//!
//! A container's first network is its `--network` mode (`eth0`, the default route, its
//! published ports: see [`crate::network`]). Every other network it is connected to is a
//! key of its `NetworkingConfig.EndpointsConfig` (with `--ip` and `--alias`), so a created
//! or stopped container keeps the request and gets the network at its next start, as in
//! Docker. While it runs each later network has `<dir>/endpoints/<network>.json` (its
//! address, interface `eth1`, `eth2`, ... and host veth), kept across restarts until the
//! container is disconnected or removed, as the first network's `endpoint.json` is.
//!
//! Connecting a running container leases the address, wires the interface into the
//! container's namespace, records its names with the network's responder and adds the
//! address to its `/etc/hosts`; on any failure what was done is undone. Disconnecting
//! deletes the interface, gives the address back, drops the names and the hosts line.

use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_network::{Endpoint, NetError, Network, Networks};

use crate::config::{Container, EndpointSettings};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::{bridged, parse_requested};

/// What `network connect` asks for.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    /// `--ip`.
    pub ip: Option<String>,
    /// `--ip6`.
    pub ip6: Option<String>,
    /// `--alias`.
    pub aliases: Vec<String>,
}

fn endpoints_dir(eng: &Engine, id: &str) -> PathBuf {
    eng.dir(id).join("endpoints")
}

fn endpoint_file(eng: &Engine, id: &str, net: &str) -> PathBuf {
    endpoints_dir(eng, id).join(format!("{net}.json"))
}

/// The container's later networks, by the names it was connected with.
pub fn extra_networks(c: &Container) -> Vec<String> {
    let first = bridged(&c.host_config.network_mode);
    c.networking_config
        .endpoints_config
        .keys()
        .filter(|k| Some(k.as_str()) != first && **k != c.host_config.network_mode)
        .cloned()
        .collect()
}

/// The endpoints of the container's later networks now recorded, by interface.
pub fn extra_endpoints(eng: &Engine, id: &str) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = fs::read_dir(endpoints_dir(eng, id))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| crate::store::read_json(&e.path()).ok())
        .collect();
    out.sort_by_key(|e: &Endpoint| (e.interface.len(), e.interface.clone()));
    out
}

/// The lowest `ethN` (N ≥ 1) none of the container's endpoints uses.
fn free_ifname(taken: &[Endpoint]) -> String {
    (1..)
        .map(|n| format!("eth{n}"))
        .find(|n| taken.iter().all(|e| e.interface != *n))
        .unwrap_or_default()
}

/// The address asked for on a later network (`--ip`, `--ip6`).
fn requested(nets: &Networks, c: &Container, net: &str) -> Result<Option<Ipv4Addr>> {
    let asked = parse_requested(c.networking_config.endpoints_config.get(net))?;
    crate::network::wanted(nets, net, asked)
}

/// Leases `key`'s address for a container and records it: its endpoint, names and
/// responder. The endpoint file keeps an interface it had before.
fn attach_one(eng: &Engine, nets: &Networks, c: &Container, key: &str) -> Result<Endpoint> {
    let net = nets.get(key)?;
    let path = endpoint_file(eng, &c.id, &net.name);
    let ifname = match crate::store::read_json::<Endpoint>(&path) {
        Ok(old) if !old.interface.is_empty() => old.interface,
        _ => free_ifname(&extra_endpoints(eng, &c.id)),
    };
    let ep = nets.attach_as(&net.name, &c.id, requested(nets, c, key)?, &ifname)?;
    let dir = endpoints_dir(eng, &c.id);
    fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    crate::store::write_json(&path, &ep)?;
    register(nets, c, &net, &ep, key)?;
    Ok(ep)
}

fn register(nets: &Networks, c: &Container, net: &Network, ep: &Endpoint, key: &str) -> Result<()> {
    let ip = ep
        .ip
        .parse()
        .map_err(|_| Error::invalid("--ip", &ep.ip, "stored address is not IPv4"))?;
    let rec = berth_network::dns::Record {
        ip,
        ip6: ep.ipv6.parse().ok(),
        names: crate::network::dns_names(c, key),
        dns: c.host_config.dns.clone(),
    };
    nets.register_names(&net.name, &c.id, &rec)?;
    nets.ensure_dns(&net.name, &crate::lifecycle::monitor_exe())?;
    Ok(())
}

/// At `start`: an address on each later network (see [`attach_one`]).
pub fn attach_extras(eng: &Engine, c: &Container) -> Result<Vec<Endpoint>> {
    let extra = extra_networks(c);
    if extra.is_empty() {
        return Ok(vec![]);
    }
    let nets = eng.networks()?;
    extra.iter().map(|k| attach_one(eng, &nets, c, k)).collect()
}

/// In the monitor, after the first network: wires every later one into init's namespace
/// (leasing first for a network connected while the container was between restarts).
pub fn wire_extras(eng: &Engine, c: &Container, pid: i32) -> Result<()> {
    let want = extra_networks(c);
    let mut eps = extra_endpoints(eng, &c.id);
    if want.is_empty() && eps.is_empty() {
        return Ok(());
    }
    let nets = eng.networks()?;
    for k in want {
        // `connect` keys later networks by name.
        if !eps.iter().any(|e| e.network == k) {
            eps.push(attach_one(eng, &nets, c, &k)?);
        }
    }
    for ep in eps {
        let net = nets.get(&ep.network_id)?;
        berth_network::connect::plug(&ep, pid, &net)?;
    }
    Ok(())
}

/// After the container's init exited: the later networks' host veths, if kept.
pub fn unwire_extras(eng: &Engine, id: &str) {
    for ep in extra_endpoints(eng, id) {
        let _ = berth_network::connect::unplug(&ep);
    }
}

/// Init's pid when the container runs (paused included).
fn running_pid(eng: &Engine, id: &str) -> Result<Option<i32>> {
    let st = crate::lifecycle::status(eng, id)?;
    Ok((st.running && st.pid > 0).then_some(st.pid))
}

/// Refuses what the container's network mode rules out, and the `none`/`host` networks.
fn check_mode(c: &Container, key: &str, connect: bool) -> Result<()> {
    let mode = c.host_config.network_mode.as_str();
    let msg = if key == "host" || (connect && mode == "host") {
        "container cannot be disconnected from host network or connected to host network"
    } else if !connect && key == "none" {
        "container cannot be disconnected from the none network"
    } else if !connect {
        return Ok(());
    } else if mode.starts_with("container:") {
        "container sharing network namespace with another container or host cannot be connected to any other network"
    } else if key == "none" || ((mode == "none" || mode.is_empty()) && !c.network_detached) {
        "container cannot be connected to multiple networks with one of the networks in private (none) mode"
    } else {
        return Ok(());
    };
    Err(NetError::Mode(msg.into()).into())
}

/// The first network's stored record, when `net` is it.
fn is_first(nets: &Networks, c: &Container, net: &Network) -> bool {
    bridged(&c.host_config.network_mode)
        .and_then(|k| {
            if k == berth_network::engine::DEFAULT {
                Some(k.to_string())
            } else {
                nets.get(k).ok().map(|n| n.name)
            }
        })
        .is_some_and(|n| n == net.name)
}

/// The key of `net` among the container's later networks (it may have been given by id).
fn extra_key(nets: &Networks, c: &Container, net: &Network) -> Option<String> {
    extra_networks(c)
        .into_iter()
        .find(|k| *k == net.name || nets.get(k).is_ok_and(|n| n.id == net.id))
}

/// `network connect`: see the module doc.
pub fn connect(eng: &Engine, net_key: &str, ctr: &str, req: &ConnectRequest) -> Result<()> {
    let id = eng.containers.resolve(ctr)?;
    let _lock = eng.containers.lock(&id)?;
    let mut c = eng.containers.config(&id)?;
    check_mode(&c, net_key, true)?;
    let nets = eng.networks()?;
    let net = if net_key == berth_network::engine::DEFAULT {
        nets.ensure_default()?
    } else {
        nets.get(net_key)?
    };
    if is_first(&nets, &c, &net) || extra_key(&nets, &c, &net).is_some() {
        return Err(NetError::AlreadyConnected {
            container: c.short_name().to_string(),
            network: net.name,
        }
        .into());
    }
    let mut settings = EndpointSettings::default();
    settings.ipam_config.ipv4_address = req.ip.clone().unwrap_or_default();
    settings.ipam_config.ipv6_address = req.ip6.clone().unwrap_or_default();
    let asked = parse_requested(Some(&settings))?;
    let default = net.name == berth_network::engine::DEFAULT;
    let given = req
        .ip
        .iter()
        .map(|i| ("--ip", i))
        .chain(req.ip6.iter().map(|i| ("--ip6", i)));
    if let (true, Some((flag, v))) = (default, given.clone().next()) {
        return Err(Error::invalid(
            flag,
            v,
            "user specified IP address is supported on user defined networks only",
        ));
    }
    let ip = crate::network::wanted(&nets, &net.name, asked)?;
    if let (true, Some(a)) = (default, req.aliases.first()) {
        return Err(Error::invalid(
            "--alias",
            a,
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    nets.check(&net.name, ip)?;
    settings.aliases = req.aliases.clone();
    c.networking_config
        .endpoints_config
        .insert(net.name.clone(), settings);
    if c.network_detached {
        return connect_first(eng, &nets, c, &net);
    }
    let running = running_pid(eng, &id)?;
    if let Some(pid) = running {
        connect_running(eng, &nets, &c, &net, pid)?;
    }
    let saved = eng.containers.write_config(&c);
    if saved.is_err() && running.is_some() {
        undo(eng, &nets, &id, &net, true);
    }
    saved
}

/// A running container's new network, all or nothing.
fn connect_running(
    eng: &Engine,
    nets: &Networks,
    c: &Container,
    net: &Network,
    pid: i32,
) -> Result<()> {
    let made = (|| {
        let ep = attach_one(eng, nets, c, &net.name)?;
        berth_network::connect::plug(&ep, pid, net)?;
        rewrite_hosts(eng, c)
    })();
    if made.is_err() {
        undo(eng, nets, &c.id, net, true);
    }
    made
}

/// A container `network disconnect` took off its last network gets `net` as its first
/// network again (its `--network`): while it runs, `eth0` with the default route, its
/// published ports, names and resolver, all or nothing.
fn connect_first(eng: &Engine, nets: &Networks, mut c: Container, net: &Network) -> Result<()> {
    c.host_config.network_mode = net.name.clone();
    c.network_detached = false;
    let Some(pid) = running_pid(eng, &c.id)? else {
        return eng.containers.write_config(&c);
    };
    let made = (|| {
        let ep = crate::network::attach(eng, &c)?.ok_or_else(|| Error::Monitor {
            id: c.id.clone(),
            reason: format!("network `{}` gave no endpoint", net.name),
        })?;
        berth_network::connect(&ep, pid, net)?;
        eng.containers.write_config(&c)?;
        rewrite_hosts(eng, &c)
    })();
    if made.is_err() {
        if let Some(ep) = crate::network::endpoint(eng, &c.id) {
            let _ = berth_network::disconnect(&ep);
        }
        let _ = nets.withdraw(&net.name, &c.id);
        let _ = nets.detach(&net.name, &c.id);
        let _ = fs::remove_file(eng.dir(&c.id).join("endpoint.json"));
    }
    made
}

/// Takes `net` off the container: veth, lease, names, endpoint file.
fn undo(eng: &Engine, nets: &Networks, id: &str, net: &Network, unplug: bool) {
    let path = endpoint_file(eng, id, &net.name);
    if let (true, Ok(ep)) = (unplug, crate::store::read_json::<Endpoint>(&path)) {
        let _ = berth_network::connect::unplug(&ep);
    }
    let _ = nets.detach(&net.name, id);
    let _ = fs::remove_file(&path);
}

/// `network disconnect`: see the module doc. `force` goes on past a network or endpoint
/// that is gone.
pub fn disconnect(eng: &Engine, net_key: &str, ctr: &str, force: bool) -> Result<()> {
    let id = eng.containers.resolve(ctr)?;
    let _lock = eng.containers.lock(&id)?;
    let mut c = eng.containers.config(&id)?;
    check_mode(&c, net_key, false)?;
    let nets = eng.networks()?;
    let net = match nets.get(net_key) {
        Ok(n) => n,
        Err(e) if !force => return Err(e.into()),
        Err(_) => {
            // A network gone from the store: only the container's records remain.
            if c.networking_config
                .endpoints_config
                .remove(net_key)
                .is_some()
            {
                let _ = fs::remove_file(endpoint_file(eng, &id, net_key));
                eng.containers.write_config(&c)?;
            }
            return Ok(());
        }
    };
    let pid = running_pid(eng, &id)?;
    if is_first(&nets, &c, &net) {
        return disconnect_first(eng, &nets, &mut c, &net, pid);
    }
    let Some(key) = extra_key(&nets, &c, &net) else {
        return Err(NetError::NotConnected {
            container: ctr.to_string(),
            network: net.name,
        }
        .into());
    };
    let running = pid.is_some();
    undo(eng, &nets, &id, &net, running);
    c.networking_config.endpoints_config.remove(&key);
    eng.containers.write_config(&c)?;
    if running {
        rewrite_hosts(eng, &c)?;
    }
    Ok(())
}

/// The container's first network going (Docker allows it): its interface, published
/// ports, lease, names and `endpoint.json`. The next of its networks (by name) becomes
/// its first, its `--network`: that endpoint becomes `endpoint.json` and, while the
/// container runs, its gateway the default route and its responder the resolver. With no
/// other network the container is left on `none`, marked so that a later `network
/// connect` is allowed ([`connect_first`]).
fn disconnect_first(
    eng: &Engine,
    nets: &Networks,
    c: &mut Container,
    net: &Network,
    pid: Option<i32>,
) -> Result<()> {
    let first = crate::network::endpoint(eng, &c.id);
    if let (Some(_), Some(ep)) = (pid, &first) {
        berth_network::disconnect(ep)?;
    }
    nets.withdraw(&net.name, &c.id)?;
    nets.detach(&net.name, &c.id)?;
    let path = eng.dir(&c.id).join("endpoint.json");
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::io("remove", &path)(e))
        }
        _ => {}
    }
    let old = std::mem::take(&mut c.host_config.network_mode);
    c.networking_config.endpoints_config.remove(&old);
    c.networking_config.endpoints_config.remove(&net.name);
    let next = c.networking_config.endpoints_config.keys().next().cloned();
    c.host_config.network_mode = next.clone().unwrap_or_else(|| "none".into());
    c.network_detached = next.is_none();
    if let Some(k) = next {
        let name = nets.get(&k).map_or(k, |n| n.name);
        let from = endpoint_file(eng, &c.id, &name);
        if from.exists() {
            fs::rename(&from, &path).map_err(Error::io("rename", &from))?;
        }
    }
    eng.containers.write_config(c)?;
    if let Some(pid) = pid {
        let ep = crate::network::endpoint(eng, &c.id);
        if let Some(ep) = &ep {
            berth_network::connect::set_default_route(ep, pid)?;
        }
        rewrite_hosts(eng, c)?;
    }
    Ok(())
}

/// A running container's `/etc/hosts` again, written in place: the file is bind-mounted,
/// so a new inode would not be seen inside.
/// Its resolv.conf too, when the resolver changes (see `prepare::resolv_text`).
fn rewrite_hosts(eng: &Engine, c: &Container) -> Result<()> {
    let first = crate::network::endpoint(eng, &c.id);
    let extra = extra_endpoints(eng, &c.id);
    let put = |name: &str, text: String| -> Result<()> {
        let path = eng.dir(&c.id).join(name);
        if fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        fs::write(&path, text).map_err(Error::io("write", &path))
    };
    use crate::monitor::prepare::{hosts_text, resolv_text};
    put("hosts", hosts_text(c, first.as_ref(), &extra))?;
    put("resolv.conf", resolv_text(c, first.as_ref(), &extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_fill_the_lowest_gap() {
        let ep = |i: &str| Endpoint {
            interface: i.into(),
            ..Default::default()
        };
        assert_eq!(free_ifname(&[]), "eth1");
        assert_eq!(free_ifname(&[ep("eth1"), ep("eth3")]), "eth2");
    }
}
