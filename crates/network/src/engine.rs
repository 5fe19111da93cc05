//! Networks as a user sees them: `<root>/networks/<name>/network.json` (Docker's inspect
//! shape) beside the network's IPAM files. `create` and `rm` hold `<root>/networks/lock`,
//! so two commands never pick the same subnet or bridge. A network's bridge is made when
//! the network is (and again on first use after a reboot); berth's nftables table is
//! regenerated from the stored networks whenever the set changes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::ipam::{Ipam, Leases};
use crate::nft::{self, NetRule};
use crate::ports::{Mapping, Spec};
use crate::subnet::{host_routes, Subnet};

/// The name of the default network.
pub const DEFAULT: &str = "bridge";
/// `-o` key naming the bridge device.
pub const OPT_BRIDGE: &str = "com.docker.network.bridge.name";
/// `-o` key setting the MTU.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// One network, as `network inspect` shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    /// Its name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// Always `local`.
    pub scope: String,
    /// Always `bridge`.
    pub driver: String,
    /// `--ipv6`: an IPv6 subnet besides the IPv4 one (see [`crate::ipv6`]).
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Its addresses.
    #[serde(rename = "IPAM")]
    pub ipam: IpamInfo,
    /// `--internal`: no way out, no masquerade.
    pub internal: bool,
    /// Always false.
    pub attachable: bool,
    /// Always false.
    pub ingress: bool,
    /// Driver options, with the bridge's name and the MTU always present.
    pub options: BTreeMap<String, String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--dns`: where its name responder forwards names it does not know (the host's
    /// resolv.conf servers when empty); as Podman's `network_dns_servers`.
    #[serde(rename = "DNSServers", skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<String>,
}

/// `.IPAM`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamInfo {
    /// Always `default`.
    pub driver: String,
    /// The IPv4 pool, then the IPv6 one on a network with IPv6.
    pub config: Vec<IpamConfig>,
}

/// One pool of `.IPAM.Config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    /// `a.b.c.d/n`.
    pub subnet: String,
    /// The bridge's own address.
    pub gateway: String,
    /// `--ip-range`: the part of the subnet containers get addresses from (all of it
    /// when empty); `--ip` may still ask for any address of the subnet, as in Docker.
    #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
}

impl Network {
    /// The subnet and gateway.
    pub fn pool(&self) -> Result<(Subnet, Ipv4Addr)> {
        let c = self
            .ipam
            .config
            .first()
            .ok_or_else(|| NetError::NotFound(format!("{} (no IPAM pool)", self.name)))?;
        let corrupt = || NetError::invalid("subnet", &c.subnet, "stored pool does not parse");
        let subnet = c.subnet.parse().map_err(|_| corrupt())?;
        let gw = c.gateway.parse().map_err(|_| corrupt())?;
        Ok((subnet, gw))
    }

    /// `--ip-range`, if it was given.
    pub fn range(&self) -> Result<Option<Subnet>> {
        let Some(c) = self.ipam.config.first().filter(|c| !c.ip_range.is_empty()) else {
            return Ok(None);
        };
        c.ip_range.parse().map(Some).map_err(|_| {
            NetError::invalid("--ip-range", &c.ip_range, "stored range does not parse")
        })
    }

    /// Its bridge device.
    pub fn bridge(&self) -> &str {
        self.options.get(OPT_BRIDGE).map_or("", String::as_str)
    }

    /// The MTU of its bridge and veths.
    pub fn mtu(&self) -> u32 {
        self.options
            .get(OPT_MTU)
            .and_then(|m| m.parse().ok())
            .unwrap_or(1500)
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The name.
    pub name: String,
    /// `--subnet` (a free pool when empty).
    pub subnet: Option<String>,
    /// `--gateway` (the subnet's first address when empty).
    pub gateway: Option<String>,
    /// `--ip-range`: a subnet inside `--subnet` that addresses are allocated from.
    pub ip_range: Option<String>,
    /// `--ipv6`.
    pub ipv6: bool,
    /// An IPv6 `--subnet` (a random unique local /64 when empty).
    pub subnet6: Option<String>,
    /// An IPv6 `--ip-range`: a subnet inside the IPv6 subnet that IPv6 addresses are
    /// taken from (see [`crate::ipv6`]).
    pub ip_range6: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE`.
    pub options: BTreeMap<String, String>,
    /// `--dns`: upstream servers of its name responder, `IP` or `IP:PORT`.
    pub dns: Vec<String>,
}

/// Host-wide names berth's networks use; from the environment so tests can pick their own.
#[derive(Debug, Clone)]
pub struct HostNames {
    /// The default network's bridge (`BERTH_DEFAULT_BRIDGE`, `berth0`).
    pub default_bridge: String,
    /// berth's nftables table (`BERTH_NFT_TABLE`, `berth`).
    pub table: String,
}

impl HostNames {
    /// From `BERTH_DEFAULT_BRIDGE` and `BERTH_NFT_TABLE`, or the defaults.
    pub fn from_env() -> HostNames {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        HostNames {
            default_bridge: var("BERTH_DEFAULT_BRIDGE", "berth0"),
            table: var("BERTH_NFT_TABLE", "berth"),
        }
    }
}

/// The store's networks.
#[derive(Debug, Clone)]
pub struct Networks {
    pub(crate) dir: PathBuf,
    /// Host-wide names.
    pub host: HostNames,
}

impl Networks {
    /// Opens (creating) `<root>/networks`.
    pub fn open(root: &Path, host: HostNames) -> Result<Networks> {
        let dir = root.join("networks");
        fs::create_dir_all(&dir).map_err(NetError::io("create directory", &dir))?;
        if !nft::valid_table(&host.table) {
            return Err(NetError::invalid(
                "BERTH_NFT_TABLE",
                &host.table,
                "letters, digits and _ only",
            ));
        }
        Ok(Networks { dir, host })
    }

    pub(crate) fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(NetError::io("open", &path))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| NetError::io("lock", &path)(e.into()))
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = vec![];
        let rd = fs::read_dir(&self.dir).map_err(NetError::io("read", &self.dir))?;
        for e in rd.flatten() {
            let path = e.path().join("network.json");
            if path.exists() {
                out.push(read(&path)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A network by name, id or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Network> {
        let path = self.dir.join(key).join("network.json");
        if crate::plan::valid_name(key) && path.exists() {
            return read(&path);
        }
        let all = self.list()?;
        let mut hits = all.into_iter().filter(|n| n.id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(n), None) if !key.is_empty() => Ok(n),
            _ => Err(NetError::NotFound(key.to_string())),
        }
    }

    /// The IPAM of `net`.
    pub fn ipam(&self, net: &Network) -> Result<Ipam> {
        let (subnet, gw) = net.pool()?;
        Ok(Ipam::new(&self.dir.join(&net.name), &net.name, subnet, gw).with_range(net.range()?))
    }

    /// Who holds addresses on `net`.
    pub fn leases(&self, net: &Network) -> Result<Leases> {
        self.ipam(net)?.leases()
    }

    /// `network create`: validated, stored, its bridge made and the rules updated; on
    /// any failure nothing of it is left.
    pub fn create(&self, req: &CreateRequest) -> Result<Network> {
        let _lock = self.lock()?;
        self.create_locked(req, false)
    }

    /// The default network, made on first use.
    pub fn ensure_default(&self) -> Result<Network> {
        if let Ok(n) = self.get(DEFAULT) {
            return Ok(n);
        }
        let _lock = self.lock()?;
        if let Ok(n) = self.get(DEFAULT) {
            return Ok(n);
        }
        let mut options = BTreeMap::new();
        options.insert(OPT_BRIDGE.to_string(), self.host.default_bridge.clone());
        let req = CreateRequest {
            name: DEFAULT.into(),
            options,
            ..Default::default()
        };
        self.create_locked(&req, true)
    }

    fn create_locked(&self, req: &CreateRequest, is_default: bool) -> Result<Network> {
        let existing = self.list()?;
        let net = crate::plan::plan(req, &existing, &host_routes(), is_default)?;
        let dir = self.dir.join(&net.name);
        fs::create_dir(&dir).map_err(NetError::io("create directory", &dir))?;
        let made = (|| {
            write(&dir.join("network.json"), &net)?;
            let made_bridge = crate::endpoint::ensure_bridge(&net)?;
            let rules = self.mark(&net).and_then(|()| self.sync_rules());
            if rules.is_err() && made_bridge {
                let _ = crate::endpoint::delete_link(net.bridge());
            }
            rules
        })();
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(net)
    }

    /// Regenerates berth's nftables table from the stored networks and published ports.
    pub fn sync_rules(&self) -> Result<()> {
        let ports = self.all_published()?;
        let rules = self.rules_of(&self.list()?)?;
        let script = nft::render(&self.host.table, &rules, &ports);
        nft::apply(&self.host.table, &script)
    }

    /// What the rules need to know of `nets`.
    pub(crate) fn rules_of(&self, nets: &[Network]) -> Result<Vec<NetRule>> {
        let mut rules = vec![];
        for n in nets {
            let (subnet, gw) = n.pool()?;
            rules.push(NetRule {
                bridge: n.bridge().to_string(),
                subnet,
                internal: n.internal,
                dns: crate::dns::resolves(n).then_some(gw),
                subnet6: n.pool6().map(|(s, _)| s),
            });
        }
        Ok(rules)
    }

    pub(crate) fn ports_file(&self, net: &str, owner: &str) -> PathBuf {
        self.dir
            .join(net)
            .join("ports")
            .join(format!("{owner}.json"))
    }

    /// Every running container's published ports.
    pub(crate) fn all_published(&self) -> Result<Vec<Mapping>> {
        let mut out = vec![];
        for n in self.list()? {
            let dir = self.dir.join(&n.name).join("ports");
            let Ok(rd) = fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "json") {
                    out.extend(read_ports(&path)?);
                }
            }
        }
        Ok(out)
    }

    /// The ports `owner` publishes now (none when it is not running).
    pub fn published(&self, owner: &str) -> Result<Vec<Mapping>> {
        for n in self.list()? {
            let path = self.ports_file(&n.name, owner);
            if path.exists() {
                return read_ports(&path);
            }
        }
        Ok(vec![])
    }

    /// Checks `specs` could be published now (`create`'s early check): the network
    /// allows it and no host port is taken. Nothing is recorded.
    pub fn check_ports(&self, key: &str, owner: &str, specs: &[Spec]) -> Result<()> {
        let net = self.get(key)?;
        refuse_internal(&net, specs)?;
        let taken: Vec<Mapping> = self
            .all_published()?
            .into_iter()
            .filter(|m| m.owner != owner)
            .collect();
        crate::ports::allocate(specs, &taken, Ipv4Addr::UNSPECIFIED, owner).map(drop)
    }

    /// Publishes `specs` of `owner` (at `ip` on network `key`): host ports chosen and
    /// checked under the store's lock, recorded, and the rules rebuilt; on failure nothing
    /// of it is left.
    pub fn publish(
        &self,
        key: &str,
        owner: &str,
        ip: Ipv4Addr,
        specs: &[Spec],
    ) -> Result<Vec<Mapping>> {
        if specs.is_empty() {
            return Ok(vec![]);
        }
        let _lock = self.lock()?;
        let net = self.get(key)?;
        refuse_internal(&net, specs)?;
        let taken: Vec<Mapping> = self
            .all_published()?
            .into_iter()
            .filter(|m| m.owner != owner)
            .collect();
        let mut maps = crate::ports::allocate(specs, &taken, ip, owner)?;
        let ip6 = net.v6_of(ip);
        maps.iter_mut().for_each(|m| m.container_ip6 = ip6);
        let path = self.ports_file(&net.name, owner);
        let dir = self.dir.join(&net.name).join("ports");
        fs::create_dir_all(&dir).map_err(NetError::io("create directory", &dir))?;
        write_json(&path, &maps)?;
        if let Err(e) = self.sync_rules() {
            let _ = fs::remove_file(&path);
            let _ = self.sync_rules();
            return Err(e);
        }
        Ok(maps)
    }

    /// Withdraws every port `owner` publishes and rebuilds the rules if there were any.
    /// Its names leave the network's name responder with them.
    pub fn unpublish(&self, owner: &str) -> Result<()> {
        let _lock = self.lock()?;
        self.unregister_names(owner)?;
        let mut any = false;
        for n in self.list()? {
            let path = self.ports_file(&n.name, owner);
            if path.exists() {
                fs::remove_file(&path).map_err(NetError::io("remove", &path))?;
                any = true;
            }
        }
        if any {
            self.sync_rules()?;
        }
        Ok(())
    }

    /// `network rm`: refused while containers hold addresses on it.
    pub fn remove(&self, key: &str) -> Result<Network> {
        let _lock = self.lock()?;
        let net = self.get(key)?;
        if !self.leases(&net)?.is_empty() {
            return Err(NetError::InUse {
                name: net.name,
                id: net.id,
            });
        }
        self.stop_dns(&net.name);
        crate::endpoint::delete_link(net.bridge())?;
        let dir = self.dir.join(&net.name);
        fs::remove_dir_all(&dir).map_err(NetError::io("remove", &dir))?;
        self.sync_rules()?;
        Ok(net)
    }

    /// `network prune`: every network but the default one with no containers; their names.
    pub fn prune(&self, keep: impl Fn(&Network) -> bool) -> Result<Vec<String>> {
        let mut out = vec![];
        for n in self.list()? {
            if n.name == DEFAULT || keep(&n) || !self.leases(&n)?.is_empty() {
                continue;
            }
            if self.remove(&n.id).is_ok() {
                out.push(n.name);
            }
        }
        Ok(out)
    }

    /// Gives back every address and published port `owner` holds, on every network.
    pub fn release(&self, owner: &str) -> Result<()> {
        self.unpublish(owner)?;
        for n in self.list()? {
            self.ipam(&n)?.release(owner)?;
        }
        Ok(())
    }
}

fn refuse_internal(net: &Network, specs: &[Spec]) -> Result<()> {
    match specs.first() {
        Some(s) if net.internal => Err(NetError::invalid(
            "--publish",
            format!("{}/{}", s.container_port, s.proto),
            format!("network {} is internal: it publishes no ports", net.name),
        )),
        _ => Ok(()),
    }
}

fn read_ports(path: &Path) -> Result<Vec<Mapping>> {
    let b = fs::read(path).map_err(NetError::io("read", path))?;
    serde_json::from_slice(&b).map_err(|e| NetError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn read(path: &Path) -> Result<Network> {
    let b = fs::read(path).map_err(NetError::io("read", path))?;
    serde_json::from_slice(&b).map_err(|e| NetError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn write(path: &Path, net: &Network) -> Result<()> {
    write_json(path, net)
}

pub(crate) fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let b = serde_json::to_vec_pretty(v).map_err(|e| NetError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, b).map_err(NetError::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(NetError::io("rename", path))
}
