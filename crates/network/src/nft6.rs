//! The IPv6 half of berth's rules: a table of the `ip6` family with the same name as the
//! `ip` one ([`crate::nft`]), loaded in the same `nft -f -` transaction. It always is
//! made and deleted first, so it goes when the last network with IPv6 does; it has chains
//! only while there is one. Per network with IPv6 (see [`crate::ipv6`]):
//!
//! - postrouting: the IPv6 subnet is masqueraded on the way out (unless internal), and
//!   DNATed traffic from it going back out its bridge (hairpin);
//! - forward: internal networks and different networks' bridges isolated, as for IPv4;
//! - `ports`: each published port of a container with an IPv6 address, published on every
//!   host address (not one IPv4 address), is DNATed to `[address]:port` for traffic to
//!   any of the host's IPv6 addresses (`fib daddr type local`), from outside, from
//!   containers, and from the host itself through its output hook.
//!
//! Not `[::1]`: the kernel never routes a packet with a loopback source or destination
//! out of `lo` (IPv6 has no `route_localnet`), so a DNAT of ::1 to a container cannot be
//! done in the kernel; Docker serves it with a userland proxy, berth has none. A client
//! on the host reaches a published port over IPv6 at the bridge's (or any other of the
//! host's non-loopback) IPv6 addresses.

use crate::nft::NetRule;
use crate::ports::Mapping;

/// The `ip6` table's script: made and deleted, then made with the rules of `nets` that
/// have IPv6 and the `ports` that map to an IPv6 address.
pub(crate) fn render(table: &str, nets: &[NetRule], ports: &[Mapping]) -> String {
    let v6: Vec<&NetRule> = nets.iter().filter(|n| n.subnet6.is_some()).collect();
    // A kernel without IPv6 has no IPv6 network and, maybe, no ip6 family to clean.
    if v6.is_empty() && !std::path::Path::new("/proc/sys/net/ipv6").exists() {
        return String::new();
    }
    let mut s = format!("table ip6 {table} {{}}\ndelete table ip6 {table}\n");
    if v6.is_empty() {
        return s;
    }
    s.push_str(&format!("table ip6 {table} {{\n  chain ports {{\n"));
    for m in ports.iter().filter(|m| m.host_ip.is_unspecified()) {
        let Some(c6) = m.container_ip6 else { continue };
        s.push_str(&format!(
            "    {} dport {} dnat to [{c6}]:{} comment \"berth:{}\"\n",
            m.proto, m.host_port, m.container_port, m.owner
        ));
    }
    s.push_str("  }\n");
    // ::1 is left alone: its DNAT could not leave `lo` and would hang the client; this
    // way a connection to [::1]:port is refused at once (nothing listens there).
    for (chain, prio) in [("prerouting", "dstnat"), ("output", "-100")] {
        s.push_str(&format!(
            "  chain {chain} {{\n    type nat hook {chain} priority {prio}; policy accept;\n    ip6 daddr != ::1 fib daddr type local jump ports\n  }}\n"
        ));
    }
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str("    ct status dnat accept\n");
    s.push_str(&crate::nft::isolation(nets));
    s.push_str("  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in v6.iter().filter(|n| !n.internal) {
        let (Some(sub), br) = (&n.subnet6, &n.bridge) else {
            continue;
        };
        s.push_str(&format!(
            "    ip6 saddr {sub} oifname != \"{br}\" masquerade\n"
        ));
        s.push_str(&format!(
            "    oifname \"{br}\" ip6 saddr {sub} ct status dnat masquerade\n"
        ));
    }
    s.push_str("  }\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_networks_with_ipv6_and_their_ports() {
        let mut a = NetRule {
            bridge: "a0".into(),
            subnet: "10.1.0.0/24".parse().unwrap(),
            internal: false,
            dns: None,
            subnet6: None,
        };
        assert!(!render("t", &[a.clone()], &[]).contains("chain"));
        a.subnet6 = Some("fd00:1::/64".parse().unwrap());
        let b = NetRule {
            bridge: "b0".into(),
            subnet: "10.2.0.0/24".parse().unwrap(),
            internal: true,
            dns: None,
            subnet6: Some("fd00:2::/64".parse().unwrap()),
        };
        let m = |host: &str, c6: Option<&str>| Mapping {
            proto: "tcp".into(),
            host_ip: host.parse().unwrap(),
            host_port: 8080,
            container_ip: "10.1.0.2".parse().unwrap(),
            container_ip6: c6.map(|c| c.parse().unwrap()),
            container_port: 80,
            owner: "abc".into(),
        };
        let s = render(
            "t",
            &[a, b],
            &[
                m("0.0.0.0", Some("fd00:1::2")),
                m("127.0.0.1", Some("fd00:1::2")),
                m("0.0.0.0", None),
            ],
        );
        assert!(
            s.contains("ip6 saddr fd00:1::/64 oifname != \"a0\" masquerade"),
            "{s}"
        );
        assert!(
            !s.contains("ip6 saddr fd00:2::/64 oifname"),
            "internal\n{s}"
        );
        assert!(s.contains("iifname \"b0\" oifname != \"b0\" drop"), "{s}");
        assert!(s.contains("iifname \"a0\" oifname { \"b0\" } drop"), "{s}");
        assert_eq!(s.matches("dnat to [fd00:1::2]:80").count(), 1, "{s}");
        assert!(s.contains("tcp dport 8080 dnat to [fd00:1::2]:80 comment \"berth:abc\""));
        assert!(
            s.contains("ip6 daddr != ::1 fib daddr type local jump ports"),
            "{s}"
        );
    }
}
