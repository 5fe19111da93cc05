//! The responder: answers A and AAAA queries for the names of containers running on its
//! network (other types for them with an empty NOERROR), and forwards every other name
//! over UDP to the asking container's own `--dns` servers, else the network's `--dns`
//! servers, else the host's resolv.conf servers (loopback ones included: the responder
//! runs in the host's namespace, so a `--dns 127.0.0.1` is the host's loopback, not the
//! container's), each tried in turn for [`UPSTREAM_TIMEOUT`]; SERVFAIL when none answers.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::FlockArg;

use super::message::{self, Query};
use crate::engine::{HostNames, Network, Networks};

/// How long with no container on the network before the responder exits.
pub const IDLE: Duration = Duration::from_secs(3);
/// How long one upstream server gets to answer a forwarded query.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_secs(1);

/// The names of a network's containers, shared by the UDP loop and the TCP threads.
pub(crate) type Map = Arc<Mutex<Names>>;

/// Names to addresses, re-read when the records directory changes.
pub(crate) struct Names {
    nets: Networks,
    net: String,
    mtime: Option<SystemTime>,
    map: BTreeMap<String, Vec<IpAddr>>,
    /// Containers' own `--dns` servers, by their address on this network.
    upstreams: BTreeMap<IpAddr, Vec<String>>,
    empty: bool,
}

impl Names {
    /// The names of network `net`, shared.
    pub(crate) fn shared(nets: Networks, net: &str) -> Map {
        let mut n = Names {
            nets,
            net: net.to_string(),
            mtime: None,
            map: BTreeMap::new(),
            upstreams: BTreeMap::new(),
            empty: true,
        };
        n.refresh();
        Arc::new(Mutex::new(n))
    }

    /// Called before every lookup, so a query sees every record written before it came.
    fn refresh(&mut self) {
        let dir = self.nets.dir.join(&self.net).join("names");
        let mtime = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        // Directory times tick with the kernel's coarse clock, so two changes a few
        // milliseconds apart can share one: a recent time is no proof of "unchanged".
        let recent = mtime
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < Duration::from_secs(2));
        if mtime.is_some() && mtime == self.mtime && !recent {
            return;
        }
        self.mtime = mtime;
        let recs = self.nets.records(&self.net);
        self.empty = recs.is_empty();
        self.map.clear();
        self.upstreams.clear();
        for r in recs.into_values() {
            if !r.dns.is_empty() {
                self.upstreams.insert(r.ip.into(), r.dns.clone());
            }
            for n in r.names {
                let addrs = self.map.entry(n.to_ascii_lowercase()).or_default();
                addrs.push(r.ip.into());
                addrs.extend(r.ip6.map(IpAddr::from));
            }
        }
    }
}

/// Whether the network has no running container now.
fn idle(map: &Map) -> bool {
    map.lock()
        .map(|mut n| {
            n.refresh();
            n.empty
        })
        .unwrap_or(false)
}

/// What the responder is handed by [`Networks::ensure_dns`](crate::Networks::ensure_dns):
/// its sockets, bound and listening, and `dns.pid`, locked.
pub struct Sockets {
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    pid: File,
}

impl Sockets {
    /// From the fd numbers on the command line (`-` for no TCP listener).
    pub fn inherited(fds: &[String]) -> std::io::Result<Sockets> {
        let bad = || std::io::Error::from(nix::errno::Errno::EBADF);
        let fd = |s: &String| -> std::io::Result<std::os::fd::OwnedFd> {
            berth_sys::fd::inherited(s.parse().map_err(|_| bad())?)
        };
        let [udp, tcp, pid] = fds else {
            return Err(bad());
        };
        let udp = UdpSocket::from(fd(udp)?);
        udp.set_read_timeout(Some(TICK))?;
        let tcp = if tcp == "-" {
            None
        } else {
            Some(TcpListener::from(fd(tcp)?))
        };
        Ok(Sockets {
            udp,
            tcp,
            pid: File::from(fd(pid)?),
        })
    }
}

/// Runs the responder for `net` in store `root` on `socks` until it is idle; its exit
/// code.
pub fn serve(root: &Path, net: &str, socks: Sockets) -> i32 {
    let Sockets {
        udp: sock,
        tcp,
        pid,
    } = socks;
    let Ok(nets) = Networks::open(root, HostNames::from_env()) else {
        return 1;
    };
    let dir = nets.dir.join(net);
    let pid_path = dir.join("dns.pid");
    let Ok(network) = nets.get(net) else {
        return 1;
    };
    let map = Names::shared(nets.clone(), net);
    if let Some(l) = tcp {
        super::tcp::spawn(l, map.clone(), network.clone());
    }
    // Held, never read: the lock on it says this responder runs (`ensure_dns` wrote the
    // pid).
    let _pid = pid;
    let mut idle_since = None::<Instant>;
    let mut buf = [0u8; 1500];
    loop {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            handle(&sock, &buf[..n], from, &map, &network);
            continue;
        }
        // A timeout: one tick.
        if !dir.join("network.json").exists() {
            let _ = std::fs::remove_file(&pid_path);
            return 0;
        }
        if !idle(&map) {
            idle_since = None;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= IDLE && quit_if_idle(&nets, net, sock.try_clone().ok()) {
            return 0;
        }
    }
}

/// The responder's UDP socket on `gw`, port 53.
pub(crate) fn bind(gw: Ipv4Addr, net: &str) -> crate::Result<UdpSocket> {
    UdpSocket::bind((gw, 53)).map_err(|e| crate::NetError::Dns {
        network: net.to_string(),
        reason: format!("bind {gw}:53/udp: {e}"),
    })
}

/// Under `dns.lock` (see the module doc of [`super`]): still no record, so the socket
/// closes and `dns.pid` goes before anyone can start another responder.
fn quit_if_idle(nets: &Networks, net: &str, sock: Option<UdpSocket>) -> bool {
    let dir = nets.dir.join(net);
    let Ok(_order) = super::lock(&dir.join("dns.lock"), FlockArg::LockExclusive) else {
        return false;
    };
    if !nets.records(net).is_empty() {
        return false;
    }
    drop(sock);
    // dns.lock stays: removing a lock file others may wait on would let two holders in.
    let _ = std::fs::remove_file(dir.join("dns.pid"));
    // Exiting here, with the locks held, closes the listening socket first.
    std::process::exit(0)
}

/// The answer for a name of the network's containers, if `q` asks for one.
/// Names of the asking container's other networks count too (see [`super::peers`]).
pub(crate) fn local(msg: &[u8], q: &Query, map: &Map, from: IpAddr) -> Option<Vec<u8>> {
    let mut n = map.lock().ok()?;
    n.refresh();
    if let Some(addrs) = n.map.get(&q.name) {
        return Some(message::answer(msg, q, message::NOERROR, addrs));
    }
    let (nets, net) = (n.nets.clone(), n.net.clone());
    drop(n);
    let addrs = super::peers::lookup(&nets, &net, from, &q.name);
    (!addrs.is_empty()).then(|| message::answer(msg, q, message::NOERROR, &addrs))
}

/// Whether a query from `from` is one to answer: from the network's own subnet or from
/// the host itself (any of its addresses: it picks the source of a local connection as
/// routing says). The responder listens on an address of the host, which containers on
/// other networks can route to; their queries are ignored so names stay per network.
pub(crate) fn client_allowed(from: SocketAddr, net: &Network) -> bool {
    let ip = from.ip();
    let in_subnet = match ip {
        std::net::IpAddr::V4(v4) => net.pool().is_ok_and(|(subnet, _)| subnet.contains(v4)),
        std::net::IpAddr::V6(_) => false,
    };
    // Binding succeeds only to an address of the host's own.
    in_subnet || ip.is_loopback() || UdpSocket::bind((ip, 0)).is_ok()
}

fn handle(sock: &UdpSocket, msg: &[u8], from: SocketAddr, map: &Map, net: &Network) {
    if !client_allowed(from, net) {
        return;
    }
    let Some(q) = message::parse(msg) else {
        return;
    };
    if let Some(out) = local(msg, &q, map, from.ip()) {
        let _ = sock.send_to(&out, from);
        return;
    }
    let upstreams = upstreams_for(map, from.ip(), net);
    let Ok(reply) = sock.try_clone() else {
        return;
    };
    let msg = msg.to_vec();
    // One thread per forwarded query, so a slow upstream holds up no local answer.
    std::thread::spawn(move || {
        let out = forward(&msg, &q, &upstreams).unwrap_or_else(|| message::servfail(&msg, &q));
        let _ = reply.send_to(&out, from);
    });
}

/// Where a name none of the network's goes for the container at `from`: its own `--dns`
/// servers when it has some (as Docker's embedded resolver forwards for each container),
/// else the network's.
pub(crate) fn upstreams_for(map: &Map, from: IpAddr, net: &Network) -> Vec<SocketAddr> {
    let own = map
        .lock()
        .ok()
        .and_then(|n| n.upstreams.get(&from).cloned());
    match own {
        Some(list) => list.iter().filter_map(|s| server_addr(s)).collect(),
        None => upstreams(net),
    }
}

/// The network's `--dns` servers, or the host's resolv.conf ones; `IP` or `IP:PORT`.
pub(crate) fn upstreams(net: &Network) -> Vec<SocketAddr> {
    let host;
    let list: Vec<&str> = if net.dns_servers.is_empty() {
        host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        host.lines()
            .filter_map(|l| l.strip_prefix("nameserver"))
            .map(str::trim)
            .collect()
    } else {
        net.dns_servers.iter().map(String::as_str).collect()
    };
    list.iter().filter_map(|s| server_addr(s)).collect()
}

/// `IP` (port 53) or `IP:PORT`.
pub(crate) fn server_addr(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(|ip| (ip, 53).into()))
}

pub(crate) fn forward(msg: &[u8], q: &Query, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(s) = UdpSocket::bind(local) else {
            continue;
        };
        if s.connect(up).is_err() || s.send(msg).is_err() {
            continue;
        }
        let deadline = Instant::now() + UPSTREAM_TIMEOUT;
        let mut buf = vec![0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match s.recv(&mut buf) {
                Ok(n) if n >= 2 && buf[..2] == q.id.to_be_bytes() => {
                    return Some(buf[..n].to_vec())
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_networks_own_clients() {
        let mut net = Network::default();
        net.ipam.config.push(crate::engine::IpamConfig {
            subnet: "10.1.0.0/24".into(),
            gateway: "10.1.0.1".into(),
            ..Default::default()
        });
        for (from, ok) in [
            ("10.1.0.7:999", true),
            ("10.1.0.1:999", true),
            ("127.0.0.1:999", true),
            ("10.2.0.7:999", false),
            ("[2001:db8::1]:999", false),
        ] {
            assert_eq!(client_allowed(from.parse().unwrap(), &net), ok, "{from}");
        }
    }

    #[test]
    fn server_addresses() {
        assert_eq!(
            server_addr("10.0.0.1"),
            Some("10.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            server_addr("127.0.0.1:5300"),
            Some("127.0.0.1:5300".parse().unwrap())
        );
        assert_eq!(server_addr("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(server_addr("nope"), None);
    }

    #[test]
    fn forwards_to_the_first_upstream_that_answers() {
        // A fake upstream on loopback; the first server is a closed loopback port.
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = up.local_addr().unwrap();
        let dead = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 512];
            let (n, from) = up.recv_from(&mut b).unwrap();
            let q = message::parse(&b[..n]).unwrap();
            let ip = Ipv4Addr::new(192, 0, 2, 7);
            up.send_to(
                &message::answer(&b[..n], &q, message::NOERROR, &[ip.into()]),
                from,
            )
            .unwrap();
        });
        let m = message::query(42, "example.test", message::TYPE_A);
        let q = message::parse(&m).unwrap();
        let out = forward(&m, &q, &[dead, addr]).unwrap();
        assert_eq!(&out[out.len() - 4..], &[192, 0, 2, 7]);
        t.join().unwrap();
        assert_eq!(forward(&m, &q, &[dead]), None);
    }
}
