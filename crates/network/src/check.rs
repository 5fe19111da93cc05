//! `system check` for networks: what the store says against what the kernel holds, in the
//! spirit of the image checks (`berth_image::check`). A command or monitor killed at the
//! wrong moment, or a container whose processes died with nobody to record it, can leave:
//!
//! - per network: address leases of containers that no longer exist, published-port and
//!   name records of containers that no longer run, a `dns.pid` of a responder that is
//!   gone, and a bridge that is missing (gone after a reboot, or deleted by hand);
//! - on the host: host ends of veths, on this store's bridges, of containers that no
//!   longer run (something kept their namespace alive), and bridges marked as this
//!   store's ([`crate::inventory`]) whose network was removed;
//! - berth's nftables table differing from what the store says: DNAT rules of
//!   containers that no longer publish, rules missing, bridges of no network, or the
//!   table missing.
//!
//! Everything looked at is this store's: links on its bridges or marked with its root,
//! and the table only while the store has networks (the table's name is host-wide, and
//! a store with no network does not claim it).
//!
//! With `repair`, each is fixed: records removed, leases given back, links deleted, a
//! missing bridge made again (as its first use would), and the table rebuilt whole from
//! the store ([`Networks::sync_rules`]).
//!
//! A stopped container keeps its address until it is removed (as its `endpoint.json`
//! does), so only the leases of containers that are gone are stale. Whether a container
//! runs is judged under its lock ([`Owners::judge`]): a `start` under way holds it from
//! before its records are written until the container runs, so the check never takes a
//! starting container's records for leftovers. Locks are taken in the order the
//! lifecycle takes them: the container's, then the networks'.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engine::{Network, Networks};
use crate::error::{NetError, Result};
use crate::inventory::{self, Link};
use crate::netlink::Netlink;

/// Whether a container holds what the network side keeps for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Not in the store.
    Gone,
    /// In the store, not running.
    Stopped,
    /// Running, paused or being restarted by its monitor.
    Running,
}

impl Liveness {
    fn why(self) -> &'static str {
        match self {
            Liveness::Gone => "no longer exists",
            Liveness::Stopped => "is not running",
            Liveness::Running => "runs",
        }
    }
}

/// The store's containers, as the engine knows them.
pub trait Owners {
    /// Every container id in the store.
    fn ids(&self) -> Vec<String>;
    /// Calls `f` with container `id`'s liveness while holding the container's lock, so a
    /// start or removal under way finishes first.
    fn judge(&self, id: &str, f: &mut dyn FnMut(Liveness) -> Result<()>) -> Result<()>;
}

/// One inconsistency; its Display is the one line `system check` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A network's bridge is not there.
    #[error("network `{network}`: bridge `{bridge}` is missing")]
    BridgeMissing {
        /// The network.
        network: String,
        /// Its bridge.
        bridge: String,
    },
    /// `dns.pid` that no live responder holds.
    #[error("network `{network}`: pid file `{}` of a name responder that is gone", .path.display())]
    DeadResponder {
        /// The network.
        network: String,
        /// The pid file.
        path: PathBuf,
    },
    /// An address leased to a container that is gone.
    #[error("network `{network}`: address {ip} leased to container `{owner:.12}`, which no longer exists")]
    StaleLease {
        /// The network.
        network: String,
        /// The address.
        ip: String,
        /// The container id.
        owner: String,
    },
    /// Published ports of a container that does not run.
    #[error("network `{network}`: published ports of container `{owner:.12}`, which {why}")]
    StalePorts {
        /// The network.
        network: String,
        /// The container id.
        owner: String,
        /// Gone or stopped.
        why: &'static str,
    },
    /// Name records of a container that does not run.
    #[error("network `{network}`: dns names of container `{owner:.12}`, which {why}")]
    StaleNames {
        /// The network.
        network: String,
        /// The container id.
        owner: String,
        /// Gone or stopped.
        why: &'static str,
    },
    /// A veth host end on one of this store's bridges whose container does not run.
    #[error("veth `{veth}` on bridge `{bridge}`: its container {why}")]
    LeftoverVeth {
        /// The host end.
        veth: String,
        /// Its bridge.
        bridge: String,
        /// Gone or stopped.
        why: &'static str,
    },
    /// A bridge marked as berth's whose network is gone.
    #[error("bridge `{bridge}`: {why}")]
    OrphanBridge {
        /// The bridge.
        bridge: String,
        /// Which network or store it was made for.
        why: String,
    },
    /// The nftables table is missing while networks exist.
    #[error("nft table `{table}`: missing")]
    TableMissing {
        /// The table.
        table: String,
    },
    /// A DNAT rule no running container's published port asks for.
    #[error("nft table `{table}`: rule `{rule}` publishes a port of no running container")]
    StrayRule {
        /// The table.
        table: String,
        /// The rule, normalized.
        rule: String,
    },
    /// A running container's published port without its DNAT rule.
    #[error("nft table `{table}`: rule `{rule}` is missing")]
    MissingRule {
        /// The table.
        table: String,
        /// The rule, normalized.
        rule: String,
    },
    /// Rules naming a bridge of no network.
    #[error("nft table `{table}`: rules name bridge `{bridge}` of no network")]
    StrayBridge {
        /// The table.
        table: String,
        /// The bridge.
        bridge: String,
    },
    /// No rules for a network's bridge.
    #[error("nft table `{table}`: no rules for bridge `{bridge}`")]
    MissingBridge {
        /// The table.
        table: String,
        /// The bridge.
        bridge: String,
    },
}

/// A problem and whether it was repaired.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was found.
    pub problem: Problem,
    /// Whether the repair fixed it.
    pub repaired: bool,
}

impl Networks {
    /// Checks the networks against the store's containers and the kernel; with `repair`,
    /// fixes what it finds (see the module doc).
    pub fn check_store(&self, owners: &dyn Owners, repair: bool) -> Result<Vec<Finding>> {
        let mut c = Checker {
            nets: self,
            owners,
            repair,
            findings: vec![],
            stale: BTreeSet::new(),
        };
        let nets = self.list()?;
        for n in &nets {
            c.bridge(n)?;
            c.responder(n)?;
            c.leases(n)?;
            c.records(n, "ports")?;
            c.records(n, "names")?;
        }
        c.links(&nets)?;
        c.rules(&nets)?;
        Ok(c.findings)
    }

    fn root(&self) -> &Path {
        self.dir.parent().unwrap_or(Path::new("/"))
    }

    /// Marks `net`'s bridge as this store's (see [`crate::inventory`]).
    pub(crate) fn mark(&self, net: &Network) -> Result<()> {
        inventory::mark_bridge(net.bridge(), &net.id, self.root())
    }
}

struct Checker<'a> {
    nets: &'a Networks,
    owners: &'a dyn Owners,
    repair: bool,
    findings: Vec<Finding>,
    /// Owners whose published ports are stale (the rules must not have them).
    stale: BTreeSet<String>,
}

impl Checker<'_> {
    /// Records `problem`; with repair on, runs `fix` first.
    fn found(&mut self, problem: Problem, fix: impl FnOnce() -> Result<()>) -> Result<()> {
        let repaired = self.repair && {
            fix()?;
            true
        };
        self.findings.push(Finding { problem, repaired });
        Ok(())
    }

    fn bridge(&mut self, n: &Network) -> Result<()> {
        let mut nl = open()?;
        let br = n.bridge();
        if crate::link::index(&mut nl, br)
            .map_err(NetError::netlink("find", br))?
            .is_some()
        {
            return Ok(());
        }
        let problem = Problem::BridgeMissing {
            network: n.name.clone(),
            bridge: br.to_string(),
        };
        let nets = self.nets;
        self.found(problem, || {
            crate::endpoint::ensure_bridge(n)?;
            nets.mark(n)
        })
    }

    fn responder(&mut self, n: &Network) -> Result<()> {
        let dir = self.nets.dir.join(&n.name);
        let path = dir.join("dns.pid");
        if !path.exists() || crate::dns::running(&path) {
            return Ok(());
        }
        let problem = Problem::DeadResponder {
            network: n.name.clone(),
            path: path.clone(),
        };
        self.found(problem, || {
            // Under dns.lock no responder is starting; one that started meanwhile holds it.
            let _order =
                crate::dns::lock(&dir.join("dns.lock"), nix::fcntl::FlockArg::LockExclusive)?;
            if crate::dns::running(&path) {
                return Ok(());
            }
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(NetError::io("remove", &path)(e))
                }
                _ => Ok(()),
            }
        })
    }

    fn leases(&mut self, n: &Network) -> Result<()> {
        let ipam = self.nets.ipam(n)?;
        for (ip, owner) in ipam.leases()? {
            let mut gone = false;
            self.owners.judge(&owner, &mut |l| {
                gone = l == Liveness::Gone;
                if gone && self.repair {
                    ipam.release(&owner)?;
                }
                Ok(())
            })?;
            if gone {
                let problem = Problem::StaleLease {
                    network: n.name.clone(),
                    ip: ip.to_string(),
                    owner,
                };
                self.found(problem, || Ok(()))?;
            }
        }
        Ok(())
    }

    /// `ports/<owner>.json` or `names/<owner>.json` of containers that do not run.
    fn records(&mut self, n: &Network, kind: &'static str) -> Result<()> {
        let dir = self.nets.dir.join(&n.name).join(kind);
        let Ok(rd) = fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let (Some(owner), Some("json")) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let owner = owner.to_string();
            let mut why = None;
            let (nets, repair) = (self.nets, self.repair);
            self.owners.judge(&owner, &mut |l| {
                if l == Liveness::Running {
                    return Ok(());
                }
                why = Some(l.why());
                if repair {
                    let _lock = nets.lock()?;
                    match fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(NetError::io("remove", &path)(e))
                        }
                        _ => {}
                    }
                }
                Ok(())
            })?;
            let Some(why) = why else { continue };
            let (network, owner) = (n.name.clone(), owner.clone());
            let problem = if kind == "ports" {
                self.stale.insert(owner.clone());
                Problem::StalePorts {
                    network,
                    owner,
                    why,
                }
            } else {
                Problem::StaleNames {
                    network,
                    owner,
                    why,
                }
            };
            self.found(problem, || Ok(()))?;
        }
        Ok(())
    }

    /// Veth host ends on this store's bridges, and bridges marked as berth's.
    fn links(&mut self, nets: &[Network]) -> Result<()> {
        let mut nl = open()?;
        let all = inventory::links(&mut nl).map_err(NetError::netlink("list", "links"))?;
        let ours: BTreeMap<u32, (&str, &Network)> = all
            .iter()
            .filter_map(|l| {
                let n = nets.iter().find(|n| n.bridge() == l.name)?;
                Some((l.index, (l.name.as_str(), n)))
            })
            .collect();
        let ids = self.owners.ids();
        for l in all.iter().filter(|l| l.kind == "veth") {
            let Some((bridge, net)) = ours.get(&l.master) else {
                continue;
            };
            let Some(prefix) = veth_owner(&l.name, &net.id) else {
                continue;
            };
            let mut liveness = Liveness::Gone;
            if let Some(id) = ids.iter().find(|id| id.starts_with(&prefix)) {
                self.owners.judge(id, &mut |l| {
                    liveness = l;
                    Ok(())
                })?;
            }
            if liveness == Liveness::Running {
                continue;
            }
            let why = liveness.why();
            let problem = Problem::LeftoverVeth {
                veth: l.name.clone(),
                bridge: bridge.to_string(),
                why,
            };
            self.found(problem, || crate::endpoint::delete_link(&l.name))?;
        }
        for l in all.iter().filter(|l| l.kind == "bridge") {
            self.orphan_bridge(l)?;
        }
        Ok(())
    }

    /// A bridge marked by this store for a network it no longer has. Decided under the networks' lock: a `network create` under way holds it
    /// from before its bridge is made until its record is written.
    fn orphan_bridge(&mut self, l: &Link) -> Result<()> {
        let Some((id, root)) = inventory::marked(&l.alias) else {
            return Ok(());
        };
        if !same_dir(root, self.nets.root()) {
            return Ok(());
        }
        let _lock = self.nets.lock()?;
        if self.nets.get(id).is_ok() {
            return Ok(());
        }
        let why = format!("made for network `{id:.12}`, which was removed");
        let problem = Problem::OrphanBridge {
            bridge: l.name.clone(),
            why,
        };
        self.found(problem, || crate::endpoint::delete_link(&l.name))
    }

    /// berth's table against what the store (less stale records) says it should hold.
    fn rules(&mut self, nets: &[Network]) -> Result<()> {
        let table = self.nets.host.table.clone();
        if nets.is_empty() {
            return Ok(());
        }
        // Under the lock no start or removal changes the records or the table meanwhile.
        let _lock = self.nets.lock()?;
        let live = list_table(&table)?;
        let mut problems = vec![];
        match &live {
            None => problems.push(Problem::TableMissing {
                table: table.clone(),
            }),
            Some(text) => {
                let ports: Vec<_> = self
                    .nets
                    .all_published()?
                    .into_iter()
                    .filter(|m| !self.stale.contains(&m.owner))
                    .collect();
                let want = crate::nft::render(&table, &self.nets.rules_of(nets)?, &ports);
                problems = compare(&table, &Summary::of(&want), &Summary::of(text));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        if self.repair {
            self.nets.sync_rules()?;
        }
        let repaired = self.repair;
        self.findings.extend(
            problems
                .into_iter()
                .map(|problem| Finding { problem, repaired }),
        );
        Ok(())
    }
}

fn open() -> Result<Netlink> {
    Netlink::open().map_err(NetError::netlink("open", "NETLINK_ROUTE"))
}

/// The first hex digits of the container id a veth host end on network `net_id`'s bridge
/// belongs to: `vb<12 hex of the id>[suffix]` for a first network, `ve<13 hex of the
/// endpoint id>` for a later one (`network connect`), whose digits are the network id's
/// mixed with the container's ([`crate::endpoint`]), so mixed back here.
fn veth_owner(name: &str, net_id: &str) -> Option<String> {
    let hex = |p: &str| p.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(p) = name.strip_prefix("vb").and_then(|r| r.get(..12)) {
        return hex(p).then(|| p.to_string());
    }
    let p = name.strip_prefix("ve")?;
    if p.len() != 13 || !hex(p) || net_id.len() < 13 || !hex(&net_id[..13]) {
        return None;
    }
    crate::endpoint::unmix(&net_id[..13], p)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `nft list table ip TABLE` followed by its `ip6` twin (IPv6 networks' rules, loaded in
/// the same transaction); None when there is no `ip` table.
fn list_table(table: &str) -> Result<Option<String>> {
    let Some(mut text) = list_family("ip", table)? else {
        return Ok(None);
    };
    text.push_str(&list_family("ip6", table)?.unwrap_or_default());
    Ok(Some(text))
}

/// `nft list table FAMILY TABLE`; None when there is no such table.
fn list_family(family: &str, table: &str) -> Result<Option<String>> {
    let err = |reason: String| NetError::Nft {
        op: "list",
        table: table.to_string(),
        reason,
    };
    let out = Command::new("nft")
        .args(["list", "table", family, table])
        .output()
        .map_err(|e| err(format!("run nft (apt-get install nftables): {e}")))?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let msg = String::from_utf8_lossy(&out.stderr);
    if msg.contains("No such file or directory") {
        return Ok(None);
    }
    Err(err(msg
        .lines()
        .next()
        .unwrap_or("failed")
        .trim()
        .to_string()))
}

/// What the check compares of a table: its DNAT rules, normalized, and the bridges its
/// rules name. Read the same way from the script berth would load and from `nft list`
/// (which prints rules as they were written).
#[derive(Debug, Default, PartialEq)]
struct Summary {
    rules: BTreeSet<String>,
    bridges: BTreeSet<String>,
}

impl Summary {
    fn of(text: &str) -> Summary {
        let mut s = Summary::default();
        for line in text.lines() {
            let quoted = line.split('"').skip(1).step_by(2);
            s.bridges.extend(
                quoted
                    .filter(|q| !q.starts_with("berth:"))
                    .map(str::to_string),
            );
            if let Some(r) = dnat(line) {
                s.rules.insert(r);
            }
        }
        s
    }
}

/// `tcp 127.0.0.1:8080 -> 10.1.0.2:80 (berth:ID)` of a DNAT rule line.
fn dnat(line: &str) -> Option<String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    let after = |w: &str| t.iter().position(|x| *x == w).and_then(|i| t.get(i + 1));
    let d = t.iter().position(|x| *x == "dport")?;
    let proto = t.get(d.checked_sub(1)?)?;
    let port = t.get(d + 1)?;
    let to = after("to")?;
    let owner = after("comment")?.trim_matches('"');
    let daddr = after("daddr").copied().unwrap_or("*");
    Some(format!("{proto} {daddr}:{port} -> {to} ({owner})"))
}

fn compare(table: &str, want: &Summary, have: &Summary) -> Vec<Problem> {
    let t = || table.to_string();
    let mut out = vec![];
    for rule in have.rules.difference(&want.rules) {
        out.push(Problem::StrayRule {
            table: t(),
            rule: rule.clone(),
        });
    }
    for rule in want.rules.difference(&have.rules) {
        out.push(Problem::MissingRule {
            table: t(),
            rule: rule.clone(),
        });
    }
    for bridge in have.bridges.difference(&want.bridges) {
        out.push(Problem::StrayBridge {
            table: t(),
            bridge: bridge.clone(),
        });
    }
    for bridge in want.bridges.difference(&have.bridges) {
        out.push(Problem::MissingBridge {
            table: t(),
            bridge: bridge.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::{render, NetRule};
    use crate::ports::Mapping;

    fn mapping(owner: &str, port: u16) -> Mapping {
        Mapping {
            proto: "tcp".into(),
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: port,
            container_ip: "10.1.0.2".parse().unwrap(),
            container_port: 80,
            owner: owner.into(),
            container_ip6: None,
        }
    }

    fn rule(br: &str) -> NetRule {
        NetRule {
            bridge: br.into(),
            subnet: "10.1.0.0/24".parse().unwrap(),
            internal: false,
            dns: None,
            subnet6: None,
        }
    }

    #[test]
    fn a_listed_table_reads_as_the_script_it_came_from() {
        let script = render("t", &[rule("a0")], &[mapping("abc", 8080)]);
        // What `nft list table ip t` prints for it: tabs, blank lines, same rule words.
        let listed = script.replace("    ", "\t").replace("  }\n", "\t}\n\n");
        let s = Summary::of(&script);
        assert_eq!(s, Summary::of(&listed));
        assert_eq!(
            s.rules.iter().collect::<Vec<_>>(),
            ["tcp 127.0.0.1:8080 -> 10.1.0.2:80 (berth:abc)"]
        );
        assert_eq!(s.bridges.iter().collect::<Vec<_>>(), ["a0"]);
    }

    #[test]
    fn differences_are_named() {
        let want = Summary::of(&render("t", &[rule("a0")], &[mapping("run", 1)]));
        let have = Summary::of(&render(
            "t",
            &[rule("a0"), rule("old0")],
            &[mapping("gone", 2)],
        ));
        let lines: Vec<String> = compare("t", &want, &have)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "nft table `t`: rule `tcp 127.0.0.1:2 -> 10.1.0.2:80 (berth:gone)` publishes a port of no running container",
                "nft table `t`: rule `tcp 127.0.0.1:1 -> 10.1.0.2:80 (berth:run)` is missing",
                "nft table `t`: rules name bridge `old0` of no network",
            ]
        );
    }

    #[test]
    fn veth_names() {
        let net = "f".repeat(64);
        let own = |n: &str| veth_owner(n, &net);
        assert_eq!(own("vb0123456789ab").as_deref(), Some("0123456789ab"));
        assert_eq!(own("vb0123456789ab1").as_deref(), Some("0123456789ab"));
        assert_eq!(own("vbxyz"), None);
        assert_eq!(own("eth0"), None);
        assert_eq!(own("vefedcba9876543").as_deref(), Some("0123456789abc"));
        assert_eq!(own("vefedcba987654"), None, "12 digits");
    }
}
