//! Name resolution on user-defined networks, daemonless (as Podman's aardvark-dns): one
//! small responder process per network, `berth __dns <root> <network>`, listening on the
//! network's gateway address, port 53/udp, on the bridge in the host's namespace.
//!
//! What it answers comes from the store: `<root>/networks/<net>/names/<id>.json`, one
//! record per running container (its address, name, short id and `--network-alias`es),
//! written at start beside the container's published ports and removed with them when it
//! stops for good ([`crate::Networks::unpublish`]). Other names are forwarded to the
//! asking container's `--dns` servers, the network's, or the host's (see [`server`]).
//!
//! Life cycle, in `<root>/networks/<net>/`:
//! 1. `start` writes the record, then [`Networks::ensure_dns`] holds `dns.lock` and, when
//!    no responder runs, binds the responder's sockets itself (gateway port 53, UDP and
//!    TCP) and takes an exclusive `flock` on `dns.pid`. It spawns the responder with the
//!    three fds, in its own process group, and writes its pid. Nothing waits for the
//!    responder to be ready: its sockets already listen (a query that comes first waits in
//!    the socket's queue), and the lock it inherits says `running` from the first
//!    instant, so no second one is started. The responder is the caller's child until the
//!    caller exits, but it outlives the caller's container by design (it leaves 3 s after
//!    the network's last container), so it is not left a zombie of a live `berth`; a
//!    monitor, a subreaper, reaps it. (A launcher process that double-forked cost one
//!    more exec on the start path, about 5 ms under load.)
//! 2. The responder serves.
//! 3. Every second it looks at the records; when there have been none for
//!    [`server::IDLE`], it takes `dns.lock`, looks again, closes its sockets, removes
//!    `dns.pid` and exits. `dns.lock` orders this against step 1, so a record written
//!    while it decides is either seen or finds the responder gone and starts a new one.
//! 4. `network rm` stops it with SIGTERM ([`Networks::stop_dns`]).

pub(crate) mod message;
pub(crate) mod peers;
pub mod server;
pub(crate) mod tcp;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::engine::{Network, Networks, DEFAULT};
use crate::error::{NetError, Result};

/// The hidden verb that runs a responder.
pub const ARG: &str = "__dns";

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
    /// Its own `--dns` servers (`IP` or `IP:PORT`): where the responder forwards the
    /// names it does not know for this container, instead of the network's servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
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

    /// Starts `key`'s responder unless it runs (see the module doc). `exe` is the `berth`
    /// binary.
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
        let err = |reason: String| NetError::Dns {
            network: net.name.clone(),
            reason,
        };
        // The lock belongs to the open file, so it holds while the responder keeps its
        // copy (never unlocked, only closed).
        let pid_path = dir.join("dns.pid");
        let pid = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&pid_path)
            .map_err(NetError::io("open", &pid_path))?;
        berth_sys::fd::lock_exclusive_nonblock(pid.as_fd())
            .map_err(NetError::io("lock", &pid_path))?;
        let (_, gw) = net.pool()?;
        let udp = server::bind(gw, &net.name)?;
        // TCP is for clients retrying a truncated answer; without it UDP still works.
        let tcp = TcpListener::bind((gw, 53)).ok();
        // dup(2) copies lose close-on-exec: these are the ones the responder inherits.
        let pass = |fd: &dyn AsFd| nix::unistd::dup(fd).map_err(|e| err(format!("dup: {e}")));
        let fds = [
            Some(pass(&udp)?),
            tcp.as_ref().map(|t| pass(t)).transpose()?,
            Some(pass(&pid)?),
        ];
        let num =
            |f: &Option<OwnedFd>| f.as_ref().map_or("-".into(), |f| f.as_raw_fd().to_string());
        let root = self.dir.parent().unwrap_or(Path::new("/"));
        // Its own process group: a terminal's ^C to `berth run` does not reach it.
        let child = Command::new(exe)
            .arg(ARG)
            .arg(root)
            .arg(&net.name)
            .args(fds.iter().map(num))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/")
            .process_group(0)
            .spawn()
            .map_err(|e| err(format!("run `{}`: {e}", exe.display())))?;
        // `stop_dns` reads it.
        let mut pid = pid;
        pid.set_len(0)
            .and_then(|()| writeln!(pid, "{}", child.id()))
            .map_err(NetError::io("write", &pid_path))
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

/// The `__dns` verb, `ROOT NET UDP TCP PID`: the responder, on the fds it inherited
/// (`-` for no TCP listener). Its exit code.
pub fn main(args: &[String]) -> i32 {
    let [root, net, fds @ ..] = args else {
        eprintln!("usage: berth {ARG} ROOT NETWORK UDP-FD TCP-FD PID-FD");
        return 2;
    };
    match server::Sockets::inherited(fds) {
        Ok(s) => server::serve(Path::new(root), net, s),
        Err(e) => {
            eprintln!("berth {ARG}: {e}");
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
