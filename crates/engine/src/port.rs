//! `port`: a container's published ports, as `docker port` lists them
//! (`80/tcp -> 0.0.0.0:8080`).
//!
//! Ports are published by the network layer while a container runs (see
//! [`crate::network`]); a stopped container has none, as in Docker.

use crate::engine::Engine;
use crate::error::{Error, Result};

/// One published port: the container's `port/proto`, and the host address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// `80/tcp`.
    pub private: String,
    /// Host address (`0.0.0.0`, `::`).
    pub host_ip: String,
    /// Host port.
    pub host_port: String,
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.host_ip.contains(':') {
            format!("[{}]", self.host_ip)
        } else {
            self.host_ip.clone()
        };
        write!(f, "{} -> {ip}:{}", self.private, self.host_port)
    }
}

/// The ports container `key` publishes now, optionally only `filter` (`80` or `80/tcp`).
pub fn published(eng: &Engine, key: &str, filter: Option<&str>) -> Result<Vec<Published>> {
    let id = eng.containers.resolve(key)?;
    eng.containers.config(&id)?;
    let all = current(eng, &id);
    let Some(want) = filter else {
        return Ok(all);
    };
    let want = if want.contains('/') {
        want.to_string()
    } else {
        format!("{want}/tcp")
    };
    let (port, proto) = want.split_once('/').unwrap_or((&want, "tcp"));
    if port.parse::<u16>().map_or(true, |p| p == 0) || !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(Error::invalid(
            "port",
            want.clone(),
            "expected PORT[/PROTO] (tcp, udp, sctp)",
        ));
    }
    let hits: Vec<Published> = all.into_iter().filter(|p| p.private == want).collect();
    if hits.is_empty() {
        return Err(Error::invalid(
            "port",
            want.clone(),
            format!("no public port '{want}' published for {key}"),
        ));
    }
    Ok(hits)
}

/// The container's published ports, sorted by private port.
fn current(eng: &Engine, id: &str) -> Vec<Published> {
    let mut maps = crate::network::published(eng, id);
    maps.sort_by_key(|m| (m.container_port, m.proto.clone(), m.host_port));
    let mut out = vec![];
    for m in maps {
        let one = |host_ip: String| Published {
            private: format!("{}/{}", m.container_port, m.proto),
            host_ip,
            host_port: m.host_port.to_string(),
        };
        out.push(one(m.host_ip.to_string()));
        // On a network with IPv6 a port published on every address is on [::] too.
        if m.container_ip6.is_some() && m.host_ip.is_unspecified() {
            out.push(one("::".into()));
        }
    }
    out
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp, ...`.
pub fn ps_column(eng: &Engine, id: &str) -> String {
    current(eng, id)
        .iter()
        .map(|p| format!("{}:{}->{}", p.host_ip, p.host_port, p.private))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_like_docker() {
        let p = |ip: &str| Published {
            private: "80/tcp".into(),
            host_ip: ip.into(),
            host_port: "8080".into(),
        };
        assert_eq!(p("0.0.0.0").to_string(), "80/tcp -> 0.0.0.0:8080");
        assert_eq!(p("::").to_string(), "80/tcp -> [::]:8080");
    }
}
