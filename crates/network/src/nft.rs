//! berth's nftables table: generated whole from the store's networks and loaded with
//! `nft -f -`, which applies a file as one transaction. The file first makes the table
//! (a no-op when it exists), deletes it, and makes it again with the new rules, so the
//! kernel swaps old rules for new atomically and nothing outside this table is touched
//! (berth never flushes the ruleset). The table's name is `berth` (`BERTH_NFT_TABLE`
//! changes it, for tests).
//!
//! Rules, per bridge network:
//! - postrouting (nat): traffic from the subnet leaving by another interface is
//!   masqueraded, unless the network is internal;
//! - forward (filter): an internal network's bridge forwards nothing to or from other
//!   interfaces; different networks' bridges do not forward to each other;
//! - input (filter): a user network's containers reach its name responder at the gateway,
//!   port 53 ([`crate::dns`]); the isolation rules are on forward and never see this
//!   traffic, which is delivered to the host. The accept is explicit so the rule set says
//!   what must pass, though (see below) it cannot override a host table's input drop.
//!
//! Published ports of running containers ([`crate::ports`]), all in the kernel:
//! - `ports` (nat): one DNAT rule per mapping, commented `berth:<container id>`, reached
//!   from prerouting (traffic arriving from outside, and from containers) and from output
//!   (the host's own traffic, 127.0.0.1 included) for packets to a local address only
//!   (`fib daddr type local`), so traffic passing through the host is never rewritten;
//! - forward (filter): DNATed traffic (`ct status dnat`) is accepted before the isolation
//!   drops, so a published port is reachable from other networks, as in Docker;
//! - postrouting (nat), per bridge: traffic from 127.0.0.0/8 going out the bridge (the
//!   host reaching 127.0.0.1:port, which needs `route_localnet` on the bridge) and DNATed
//!   traffic from the bridge's own subnet going back out it (a container reaching a
//!   published port through the host's address, hairpin) are masqueraded, so the replies
//!   come back through the host and are un-NATed. Bridged hairpin frames also need
//!   `hairpin_mode` on the bridge port (set by [`crate::endpoint::connect`]).
//!
//! The table is rebuilt whole on every change rather than edited per container: one
//! generator, one transaction, and a rebuild after any crash restores exactly what the
//! store says.
//!
//! A host firewall in a table of its own interacts as nftables base chains do: every base
//! chain on a hook sees the packet, an accept ends only its own chain, and a drop in any
//! of them is final; so an accept here never overrides a drop there (with iptables,
//! Docker can insert its accepts into the host's own FORWARD chain; nftables tables
//! cannot). What that means, as `crates/cli/tests/network_firewall.rs` shows in a
//! namespace of its own:
//!
//! | host firewall (with `ct state established,related accept`) | input policy drop | forward policy drop |
//! |---|---|---|
//! | outside -> published port (DNAT in prerouting, then forwarded) | works | blocked |
//! | container -> outside (forwarded, masqueraded) | works | blocked |
//! | host -> 127.0.0.1 or own address : published port (output) | works | works |
//! | container -> container, same network (bridged; with br_netfilter also the forward hook) | works | blocked with br_netfilter |
//! | container -> its name responder at the gateway, port 53 (input) | blocked | works |
//!
//! Published traffic is DNATed before routing, so it is forwarded, not delivered locally,
//! and a host's input policy never sees it (as with Docker's DNAT). A host whose forward
//! policy is drop must accept berth's traffic itself, in its own forward chain:
//! `ct status dnat accept` (published ports) and `iifname "<bridge>" accept` (traffic from
//! the network's containers; replies are `established`); a host whose input policy is
//! drop must accept `iifname "<bridge>" meta l4proto { tcp, udp } th dport 53` for names
//! on user networks. berth does not edit other tables to do it.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{NetError, Result};
use crate::ports::Mapping;
use crate::subnet::Subnet;

/// What the rules need to know of one network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetRule {
    /// Its bridge.
    pub bridge: String,
    /// Its subnet.
    pub subnet: Subnet,
    /// `--internal`.
    pub internal: bool,
    /// The address of its name responder (its gateway), on user networks.
    pub dns: Option<std::net::Ipv4Addr>,
    /// Its IPv6 subnet, on a network with IPv6 (rules in [`crate::nft6`]).
    pub subnet6: Option<crate::ipv6::Subnet6>,
}

/// The nft script that makes `table` hold exactly the rules of `nets` and the published
/// `ports` (and removes it when there are no networks).
pub fn render(table: &str, nets: &[NetRule], ports: &[Mapping]) -> String {
    let mut s = render4(table, nets, ports);
    s.push_str(&crate::nft6::render(table, nets, ports));
    s
}

fn render4(table: &str, nets: &[NetRule], ports: &[Mapping]) -> String {
    let mut s = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    if nets.is_empty() {
        return s;
    }
    s.push_str(&format!("table ip {table} {{\n"));
    s.push_str(&render_ports(ports));
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str("    ct status dnat accept\n");
    s.push_str(&isolation(nets));
    s.push_str("  }\n");
    s.push_str(&render_input(nets));
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in nets.iter().filter(|n| !n.internal) {
        let (sub, br) = (&n.subnet, &n.bridge);
        s.push_str(&format!(
            "    ip saddr {sub} oifname != \"{br}\" masquerade\n"
        ));
        s.push_str(&format!(
            "    oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade\n"
        ));
        s.push_str(&format!(
            "    oifname \"{br}\" ip saddr {sub} ct status dnat masquerade\n"
        ));
    }
    s.push_str("  }\n}\n");
    s
}

/// The forward rules that keep internal networks in and networks apart (by interface,
/// so the same for IPv4 and IPv6).
pub(crate) fn isolation(nets: &[NetRule]) -> String {
    let mut s = String::new();
    for n in nets {
        let br = &n.bridge;
        if n.internal {
            s.push_str(&format!("    iifname \"{br}\" oifname != \"{br}\" drop\n"));
            s.push_str(&format!("    oifname \"{br}\" iifname != \"{br}\" drop\n"));
        }
        let others: Vec<String> = nets
            .iter()
            .filter(|o| o.bridge != *br)
            .map(|o| format!("\"{}\"", o.bridge))
            .collect();
        if !others.is_empty() {
            s.push_str(&format!(
                "    iifname \"{br}\" oifname {{ {} }} drop\n",
                others.join(", ")
            ));
        }
    }
    s
}

/// Containers to their network's name responder, udp and tcp port 53.
fn render_input(nets: &[NetRule]) -> String {
    let mut s = String::from(
        "  chain input {\n    type filter hook input priority filter; policy accept;\n",
    );
    for n in nets {
        if let Some(gw) = n.dns {
            s.push_str(&format!(
                "    iifname \"{}\" ip daddr {gw} meta l4proto {{ tcp, udp }} th dport 53 accept\n",
                n.bridge
            ));
        }
    }
    s.push_str("  }\n");
    s
}

/// The `ports` chain of DNAT rules and the two nat hooks that jump to it.
fn render_ports(ports: &[Mapping]) -> String {
    let mut s = String::from("  chain ports {\n");
    for m in ports {
        let daddr = if m.host_ip.is_unspecified() {
            String::new()
        } else {
            format!("ip daddr {} ", m.host_ip)
        };
        s.push_str(&format!(
            "    {daddr}{} dport {} dnat to {}:{} comment \"berth:{}\"\n",
            m.proto, m.host_port, m.container_ip, m.container_port, m.owner
        ));
    }
    s.push_str("  }\n");
    // `dstnat` is a name only at prerouting; output takes its value, -100.
    for (chain, prio) in [("prerouting", "dstnat"), ("output", "-100")] {
        s.push_str(&format!(
            "  chain {chain} {{\n    type nat hook {chain} priority {prio}; policy accept;\n    fib daddr type local jump ports\n  }}\n"
        ));
    }
    s
}

/// Loads `script` with `nft -f -`.
pub fn apply(table: &str, script: &str) -> Result<()> {
    let err = |reason: String| NetError::Nft {
        op: "load",
        table: table.to_string(),
        reason,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("run nft (apt-get install nftables): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        return Err(err(first.trim().to_string()));
    }
    Ok(())
}

/// Table names nft accepts, and that cannot smuggle in other statements.
pub fn valid_table(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(br: &str, cidr: &str, internal: bool) -> NetRule {
        NetRule {
            bridge: br.into(),
            subnet: cidr.parse().unwrap(),
            internal,
            dns: None,
            subnet6: None,
        }
    }

    #[test]
    fn empty_removes_the_table() {
        let s = render("t", &[], &[]);
        assert!(s.starts_with("table ip t {}\ndelete table ip t\n"), "{s}");
        assert!(!s.contains("chain"), "{s}");
    }

    #[test]
    fn masquerade_isolation_internal() {
        let s = render(
            "t",
            &[
                net("a0", "10.1.0.0/24", false),
                net("b0", "10.2.0.0/24", true),
            ],
            &[],
        );
        assert!(s.contains("ip saddr 10.1.0.0/24 oifname != \"a0\" masquerade"));
        assert!(!s.contains("10.2.0.0/24"), "internal: no masquerade\n{s}");
        assert!(s.contains("iifname \"b0\" oifname != \"b0\" drop"));
        assert!(s.contains("oifname \"b0\" iifname != \"b0\" drop"));
        assert!(s.contains("iifname \"a0\" oifname { \"b0\" } drop"));
        assert!(s.contains("iifname \"b0\" oifname { \"a0\" } drop"));
        assert!(!s.contains("dport 53"), "no responder, no rule\n{s}");
    }

    #[test]
    fn containers_reach_their_responder() {
        let mut n = net("a0", "10.1.0.0/24", true);
        n.dns = Some("10.1.0.1".parse().unwrap());
        let s = render("t", &[n], &[]);
        assert!(s.contains(
            "iifname \"a0\" ip daddr 10.1.0.1 meta l4proto { tcp, udp } th dport 53 accept"
        ));
        assert!(s.contains("type filter hook input priority filter; policy accept;"));
    }

    #[test]
    fn published_ports_dnat_keyed_by_container() {
        let m = |ip: &str| Mapping {
            proto: "udp".into(),
            host_ip: ip.parse().unwrap(),
            host_port: 5353,
            container_ip: "10.1.0.2".parse().unwrap(),
            container_ip6: None,
            container_port: 53,
            owner: "abc".into(),
        };
        let s = render(
            "t",
            &[net("a0", "10.1.0.0/24", false)],
            &[m("0.0.0.0"), m("127.0.0.1")],
        );
        assert!(s.contains("    udp dport 5353 dnat to 10.1.0.2:53 comment \"berth:abc\""));
        assert!(s.contains("ip daddr 127.0.0.1 udp dport 5353 dnat to 10.1.0.2:53"));
        assert!(s.contains("type nat hook output priority -100"));
        assert!(s.contains("fib daddr type local jump ports"));
        assert!(s.contains("oifname \"a0\" ip saddr 127.0.0.0/8 masquerade"));
        assert!(s.contains("oifname \"a0\" ip saddr 10.1.0.0/24 ct status dnat masquerade"));
        assert!(s.contains("policy accept;\n    ct status dnat accept\n"));
    }

    #[test]
    fn table_names() {
        assert!(valid_table("berth") && valid_table("berth_t1"));
        for bad in ["", "1a", "a b", "a;flush ruleset", "a}"] {
            assert!(!valid_table(bad), "{bad}");
        }
    }
}
