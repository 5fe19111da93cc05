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
//!   interfaces; different networks' bridges do not forward to each other.
//!
//! An accept here does not override a drop in another table (a host firewall's forward
//! policy): such hosts must allow the bridges themselves. Published ports (DNAT) are not
//! generated yet.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{NetError, Result};
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
}

/// The nft script that makes `table` hold exactly the rules of `nets` (and removes it
/// when there are none).
pub fn render(table: &str, nets: &[NetRule]) -> String {
    let mut s = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    if nets.is_empty() {
        return s;
    }
    s.push_str(&format!("table ip {table} {{\n"));
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
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
    s.push_str("  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in nets.iter().filter(|n| !n.internal) {
        s.push_str(&format!(
            "    ip saddr {} oifname != \"{}\" masquerade\n",
            n.subnet, n.bridge
        ));
    }
    s.push_str("  }\n}\n");
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
        }
    }

    #[test]
    fn empty_removes_the_table() {
        assert_eq!(render("t", &[]), "table ip t {}\ndelete table ip t\n");
    }

    #[test]
    fn masquerade_isolation_internal() {
        let s = render(
            "t",
            &[
                net("a0", "10.1.0.0/24", false),
                net("b0", "10.2.0.0/24", true),
            ],
        );
        assert!(s.contains("ip saddr 10.1.0.0/24 oifname != \"a0\" masquerade"));
        assert!(!s.contains("10.2.0.0/24"), "internal: no masquerade\n{s}");
        assert!(s.contains("iifname \"b0\" oifname != \"b0\" drop"));
        assert!(s.contains("oifname \"b0\" iifname != \"b0\" drop"));
        assert!(s.contains("iifname \"a0\" oifname { \"b0\" } drop"));
        assert!(s.contains("iifname \"b0\" oifname { \"a0\" } drop"));
    }

    #[test]
    fn table_names() {
        assert!(valid_table("berth") && valid_table("berth_t1"));
        for bad in ["", "1a", "a b", "a;flush ruleset", "a}"] {
            assert!(!valid_table(bad), "{bad}");
        }
    }
}
