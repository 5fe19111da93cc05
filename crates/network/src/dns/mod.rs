//! Name resolution on user-defined networks, daemonless (as Podman's aardvark-dns): one
//! small responder process per network, `berth __dns <root> <network>`, listening on the
//! network's gateway address, port 53/udp, on the bridge in the host's namespace.
//!
//! What it answers comes from the store: `<root>/networks/<net>/names/<id>.json`, one
//! record per running container (its address, name, short id and `--network-alias`es),
//! written at start beside the container's published ports and removed with them when it
//! stops for good ([`crate::Networks::unpublish`]). Other names are forwarded to the
//! network's `--dns` servers or the host's (see [`server`]).
//!
//! Life cycle, in `<root>/networks/<net>/`:
//! 1. `start` writes the record, then [`Networks::ensure_dns`] holds `dns.lock` and runs
//!    the launcher, which spawns the responder in its own process group and exits (so
//!    the responder is reparented to init, never a zombie of a long-lived `berth run`).
//! 2. The responder takes an exclusive `flock` on `dns.pid` (a second one says
//!    `running` and exits), binds, writes its pid and says `ready` on the pipe it shares
//!    with the caller, which waits for that line: the container's first query finds it.
//! 3. Every second it looks at the records; when there have been none for
//!    [`server::IDLE`], it takes `dns.lock`, looks again, closes its socket, removes
//!    `dns.pid` and exits. `dns.lock` orders this against step 1, so a record written
//!    while it decides is either seen or finds the responder gone and starts a new one.
//! 4. `network rm` stops it with SIGTERM ([`Networks::stop_dns`]).

pub(crate) mod message;
pub(crate) mod peers;
pub mod server;
pub(crate) mod tcp;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::engine::{Network, Networks, DEFAULT};
use crate::error::{NetError, Result};

/// The hidden verb that runs a responder.
pub const ARG: &str = "__dns";
const SERVE: &str = "--serve";

/// One container's names on a network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its IPv6 address, on a network with IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// Its name, short id and aliases.
    pub names: Vec<String>,
}

/// Whether `net` has name resolution: every network but the default one, as in Docker.
pub fn resolves(net: &Network) -> bool {
    net.name != DEFAULT
}

impl Networks {
    fn names_dir(&self, net: &str) -> PathBuf {
        self.dir.join(net).join("names")
    }

    /// Records `owner`'s names on network `key` (at start; see the module doc).
    pub fn register_names(&self, key: &str, owner: &str, rec: &Record) -> Result<()> {
        let net = self.get(key)?;
        if !resolves(&net) {
            return Ok(());
        }
        let dir = self.names_dir(&net.name);
        fs::create_dir_all(&dir).map_err(NetError::io("create directory", &dir))?;
        crate::engine::write_json(&dir.join(format!("{owner}.json")), rec)
    }

    /// Removes `owner`'s names from every network.
    pub(crate) fn unregister_names(&self, owner: &str) -> Result<()> {
        for n in self.list()? {
            let path = self.names_dir(&n.name).join(format!("{owner}.json"));
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(NetError::io("remove", &path)(e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Starts `key`'s responder unless it runs, and waits until it listens. `exe` is the
    /// `berth` binary.
    pub fn ensure_dns(&self, key: &str, exe: &Path) -> Result<()> {
        let net = self.get(key)?;
        if !resolves(&net) {
            return Ok(());
        }
        let dir = self.dir.join(&net.name);
        let _order = lock(&dir.join("dns.lock"), FlockArg::LockExclusive)?;
        // Under dns.lock a running responder cannot be on its way out: nothing to start
        // (this saves two processes on every start but the first).
        if running(&dir.join("dns.pid")) {
            return Ok(());
        }
        let root = self.dir.parent().unwrap_or(Path::new("/"));
        let err = |reason: String| NetError::Dns {
            network: net.name.clone(),
            reason,
        };
        let mut launcher = Command::new(exe)
            .arg(ARG)
            .arg(root)
            .arg(&net.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err(format!("run `{}`: {e}", exe.display())))?;
        let out = launcher.stdout.take();
        let _ = launcher.wait();
        let mut line = String::new();
        if let Some(out) = out {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        match line.trim() {
            "ready" | "running" => Ok(()),
            "" => Err(err("the responder exited before it listened".into())),
            other => Err(err(other.to_string())),
        }
    }

    /// Stops `net`'s responder if one runs (`network rm`).
    pub(crate) fn stop_dns(&self, net: &str) {
        let path = self.dir.join(net).join("dns.pid");
        let Ok(pid) = fs::read_to_string(&path) else {
            return;
        };
        // Only a held lock proves the pid in the file is a live responder's.
        if !running(&path) {
            return;
        }
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Every record on `net`, by owner.
    pub(crate) fn records(&self, net: &str) -> BTreeMap<String, Record> {
        let mut out = BTreeMap::new();
        let Ok(rd) = fs::read_dir(self.names_dir(net)) else {
            return out;
        };
        for e in rd.flatten() {
            let p = e.path();
            let (Some(stem), Some("json")) = (
                p.file_stem().and_then(|s| s.to_str()),
                p.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let rec = fs::read(&p).map(|b| serde_json::from_slice::<Record>(&b));
            if let Ok(Ok(r)) = rec {
                out.insert(stem.to_string(), r);
            }
        }
        out
    }
}

/// The `__dns` verb: the launcher (spawns the responder and exits) or, with `--serve`,
/// the responder itself. Its exit code.
pub fn main(args: &[String]) -> i32 {
    match args {
        [flag, root, net] if flag == SERVE => server::serve(Path::new(root), net),
        [root, net] => {
            // Our own binary through the magic link, not its path: we may run from a
            // detached read-only view of it, whose path reads `/` (berth_runtime::seal).
            let exe = "/proc/self/exe";
            // Its own process group: a terminal's ^C to `berth run` does not reach it.
            let spawned = Command::new(exe)
                .args([ARG, SERVE, root, net])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .current_dir("/")
                .process_group(0)
                .spawn();
            match spawned {
                Ok(_) => 0,
                Err(e) => {
                    println!("spawn responder: {e}");
                    1
                }
            }
        }
        _ => {
            println!("usage: berth {ARG} ROOT NETWORK");
            2
        }
    }
}

/// Whether a responder holds the lock on its pid file `path`.
pub(crate) fn running(path: &Path) -> bool {
    let Ok(f) = fs::OpenOptions::new().read(true).open(path) else {
        return false;
    };
    matches!(
        Flock::lock(f, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

pub(crate) fn lock(path: &Path, how: FlockArg) -> Result<Flock<File>> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(NetError::io("open", path))?;
    Flock::lock(f, how).map_err(|(_, e)| NetError::io("lock", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_means_the_pid_file_is_locked() {
        let d = tempfile::tempdir().unwrap();
        let pid = d.path().join("dns.pid");
        assert!(!running(&pid), "no file");
        let held = lock(&pid, FlockArg::LockExclusiveNonblock).unwrap();
        assert!(running(&pid));
        drop(held);
        assert!(!running(&pid), "a file left by a killed responder");
    }
}
