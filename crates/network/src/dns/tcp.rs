//! DNS over TCP (RFC 1035 §4.2.2: each message after a two-byte length), for clients that
//! retry there when a forwarded UDP answer came back truncated. Names of the network's
//! containers are answered as over UDP; other names are forwarded over TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::message::{self, Query};
use super::server::{self, Map, UPSTREAM_TIMEOUT};
use crate::engine::Network;

/// How long a client connection may sit idle.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `l` on a thread of its own, a thread per connection.
pub(crate) fn spawn(l: TcpListener, map: Map, net: Network) {
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let from = conn.peer_addr();
            if !from.is_ok_and(|a| server::client_allowed(a, &net)) {
                continue;
            }
            let (map, net) = (map.clone(), net.clone());
            std::thread::spawn(move || serve(conn, &map, &net));
        }
    });
}

fn serve(mut conn: TcpStream, map: &Map, net: &Network) {
    let _ = conn.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = conn.set_write_timeout(Some(CLIENT_TIMEOUT));
    while let Some(msg) = read_msg(&mut conn) {
        let Some(q) = message::parse(&msg) else {
            return;
        };
        let from = conn.peer_addr().map(|a| a.ip());
        let from = from.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        let out = server::local(&msg, &q, map, from)
            .or_else(|| forward(&msg, &q, &server::upstreams_for(map, from, net)))
            .unwrap_or_else(|| message::servfail(&msg, &q));
        if write_msg(&mut conn, &out).is_err() {
            return;
        }
    }
}

fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn write_msg(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&msg[..len as usize]);
    s.write_all(&out)
}

fn forward(msg: &[u8], q: &Query, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(mut s) = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        let _ = s.set_write_timeout(Some(UPSTREAM_TIMEOUT));
        if write_msg(&mut s, msg).is_err() {
            continue;
        }
        match read_msg(&mut s) {
            Some(out) if out.len() >= 2 && out[..2] == q.id.to_be_bytes() => return Some(out),
            _ => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_local_names_over_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let root = tempfile::tempdir().unwrap();
        let names = root.path().join("networks/n/names");
        std::fs::create_dir_all(&names).unwrap();
        std::fs::write(names.join("c.json"), r#"{"ip":"10.1.0.2","names":["Web"]}"#).unwrap();
        let nets = crate::Networks::open(root.path(), crate::HostNames::from_env()).unwrap();
        let map = super::server::Names::shared(nets, "n");
        let mut net = Network::default();
        net.ipam.config.push(crate::engine::IpamConfig {
            subnet: "10.1.0.0/24".into(),
            gateway: "10.1.0.1".into(),
            ..Default::default()
        });
        spawn(l, map, net);
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for id in [1, 2] {
            write_msg(&mut c, &message::query(id, "web", message::TYPE_A)).unwrap();
            let out = read_msg(&mut c).unwrap();
            assert_eq!(&out[..2], &id.to_be_bytes());
            assert_eq!(&out[out.len() - 4..], &[10, 1, 0, 2]);
        }
    }
}
