//! Address management for one network: `leases.json` (address → owner) in the network's
//! directory, read and rewritten whole under an exclusive flock of `lock`, so concurrent
//! `berth` processes never hand out one address twice.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{NetError, Result};
use crate::subnet::Subnet;

/// The addresses of one network.
#[derive(Debug, Clone)]
pub struct Ipam {
    dir: PathBuf,
    network: String,
    subnet: Subnet,
    gateway: Ipv4Addr,
    range: Option<Subnet>,
}

/// Address → owner (a container id).
pub type Leases = BTreeMap<Ipv4Addr, String>;

impl Ipam {
    /// The IPAM of network `network` stored in `dir`.
    pub fn new(dir: &Path, network: &str, subnet: Subnet, gateway: Ipv4Addr) -> Ipam {
        Ipam {
            dir: dir.to_path_buf(),
            network: network.to_string(),
            subnet,
            gateway,
            range: None,
        }
    }

    /// Addresses picked for the asking (not `--ip` ones) come from `range` only.
    pub fn with_range(mut self, range: Option<Subnet>) -> Ipam {
        self.range = range;
        self
    }

    fn lock(&self) -> Result<Flock<File>> {
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

    /// The current leases.
    pub fn leases(&self) -> Result<Leases> {
        let path = self.dir.join("leases.json");
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| NetError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Leases::new()),
            Err(e) => Err(NetError::io("read", &path)(e)),
        }
    }

    fn write(&self, leases: &Leases) -> Result<()> {
        let path = self.dir.join("leases.json");
        // Only the lock holder writes, so one temp name is enough.
        let tmp = self.dir.join(".leases.json.tmp");
        let bytes = serde_json::to_vec(leases).map_err(|e| NetError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // No fsync: the rename alone makes the new leases replace the old whole, and what
        // a crash could undo (a lease of a removed container, one of a created container
        // that its next start takes again) is what `system check --repair` and
        // `allocate` handle; each fsync cost ~5 ms of every `run` on a bridge network.
        let mut f = File::create(&tmp).map_err(NetError::io("create", &tmp))?;
        f.write_all(&bytes).map_err(NetError::io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(NetError::io("rename", &path))
    }

    /// Checks that `ip` could be asked for: a host address of the subnet, not the gateway.
    pub fn check(&self, ip: Ipv4Addr) -> Result<()> {
        if !self.subnet.is_host(ip) || ip == self.gateway {
            return Err(NetError::invalid(
                "--ip",
                ip.to_string(),
                format!(
                    "not a free host address of network {} ({}, gateway {})",
                    self.network, self.subnet, self.gateway
                ),
            ));
        }
        Ok(())
    }

    /// An address for `owner`: its lease if it has one (and `want` does not ask for
    /// another), else `want`, else the lowest free one.
    pub fn allocate(&self, owner: &str, want: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        if let Some(ip) = want {
            self.check(ip)?;
        }
        let _lock = self.lock()?;
        let mut leases = self.leases()?;
        let mine = leases.iter().find(|(_, o)| *o == owner).map(|(ip, _)| *ip);
        if let Some(ip) = mine {
            if want.is_none_or(|w| w == ip) {
                return Ok(ip);
            }
            leases.remove(&ip);
        }
        let ip = match want {
            Some(ip) if leases.contains_key(&ip) => {
                return Err(NetError::AddressInUse {
                    ip: ip.to_string(),
                    network: self.network.clone(),
                })
            }
            Some(ip) => ip,
            None => self
                .subnet
                .hosts()
                .filter(|ip| self.range.is_none_or(|r| r.contains(*ip)))
                .find(|ip| *ip != self.gateway && !leases.contains_key(ip))
                .ok_or_else(|| NetError::Exhausted(self.network.clone()))?,
        };
        leases.insert(ip, owner.to_string());
        self.write(&leases)?;
        Ok(ip)
    }

    /// Gives back `owner`'s address; false when it had none.
    pub fn release(&self, owner: &str) -> Result<bool> {
        let _lock = self.lock()?;
        let mut leases = self.leases()?;
        let before = leases.len();
        leases.retain(|_, o| o != owner);
        if leases.len() == before {
            return Ok(false);
        }
        self.write(&leases)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(dir: &Path, cidr: &str) -> Ipam {
        let s: Subnet = cidr.parse().unwrap();
        Ipam::new(dir, "t", s, s.first_host().unwrap())
    }

    #[test]
    fn allocates_lowest_free_keeps_and_releases() {
        let t = tempfile::tempdir().unwrap();
        let i = ipam(t.path(), "10.9.0.0/29");
        let a = i.allocate("a", None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(
            i.allocate("a", None).unwrap(),
            a,
            "same owner, same address"
        );
        let b = i.allocate("b", Some(Ipv4Addr::new(10, 9, 0, 5))).unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 9, 0, 5));
        assert!(matches!(
            i.allocate("c", Some(b)),
            Err(NetError::AddressInUse { .. })
        ));
        for bad in [[10, 9, 0, 1], [10, 9, 0, 7], [10, 9, 1, 2]] {
            assert!(matches!(
                i.allocate("c", Some(bad.into())),
                Err(NetError::Invalid { .. })
            ));
        }
        assert!(i.release("a").unwrap());
        assert!(!i.release("a").unwrap());
        assert_eq!(
            i.allocate("d", None).unwrap(),
            a,
            "released addresses come back"
        );
        // .2 to .6 are usable (.1 is the gateway): .3 .4 .6 are left, then none.
        for o in ["e", "f", "g"] {
            i.allocate(o, None).unwrap();
        }
        assert!(matches!(i.allocate("h", None), Err(NetError::Exhausted(_))));
    }

    #[test]
    fn a_range_bounds_picked_addresses_not_asked_ones() {
        let t = tempfile::tempdir().unwrap();
        let r: Subnet = "10.9.0.8/30".parse().unwrap();
        let i = ipam(t.path(), "10.9.0.0/24").with_range(Some(r));
        assert_eq!(i.allocate("a", None).unwrap(), Ipv4Addr::new(10, 9, 0, 8));
        let asked = Ipv4Addr::new(10, 9, 0, 100);
        assert_eq!(i.allocate("b", Some(asked)).unwrap(), asked);
        for o in ["c", "d", "e"] {
            assert!(r.contains(i.allocate(o, None).unwrap()));
        }
        assert!(matches!(i.allocate("f", None), Err(NetError::Exhausted(_))));
    }

    #[test]
    fn twenty_concurrent_allocations_are_distinct() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().to_path_buf();
        let threads: Vec<_> = (0..20)
            .map(|n| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    // Each thread opens its own lock file description, as processes do.
                    ipam(&dir, "10.9.0.0/24")
                        .allocate(&format!("c{n}"), None)
                        .unwrap()
                })
            })
            .collect();
        let mut got: Vec<Ipv4Addr> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 20);
        assert_eq!(ipam(&dir, "10.9.0.0/24").leases().unwrap().len(), 20);
    }
}
