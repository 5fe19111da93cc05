//! Root, real kernel: a network's bridge, a veth into a namespace the test makes (a
//! `unshare -n sleep` process), the address and route inside, nft rules, and cleanup.
//! Names (bridge, table) are this test's own; all of it is removed even on failure.

use std::collections::BTreeMap;
use std::process::{Child, Command};

use berth_network::engine::OPT_BRIDGE;
use berth_network::{connect, CreateRequest, HostNames, Networks};

struct Cleanup {
    bridge: String,
    table: String,
    child: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .output();
    }
}

fn out(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn bridge_veth_address_route_rules_and_removal() {
    let tag = format!("{:x}", std::process::id() & 0xfffff);
    let mut guard = Cleanup {
        bridge: format!("btk{tag}"),
        table: format!("berth_tk{tag}"),
        child: None,
    };
    let root = tempfile::tempdir().unwrap();
    let host = HostNames {
        default_bridge: format!("btd{tag}"),
        table: guard.table.clone(),
    };
    let nets = Networks::open(root.path(), host).unwrap();
    let req = CreateRequest {
        name: "kt".into(),
        subnet: Some("10.231.7.0/24".into()),
        options: BTreeMap::from([(OPT_BRIDGE.to_string(), guard.bridge.clone())]),
        ..Default::default()
    };
    let net = nets.create(&req).unwrap();
    let link = out(Command::new("ip").args(["-o", "addr", "show", "dev", &guard.bridge]));
    assert!(link.contains("10.231.7.1/24"), "{link}");
    let rules = out(Command::new("nft").args(["list", "table", "ip", &guard.table]));
    assert!(rules.contains("10.231.7.0/24"), "{rules}");

    let child = Command::new("unshare")
        .args(["-n", "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    guard.child = Some(child);
    // unshare execs sleep once the namespace is made.
    for _ in 0..100 {
        if std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p.ends_with("sleep")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let owner = "c".repeat(64);
    let ep = nets.attach("kt", &owner, None).unwrap();
    assert_eq!(ep.ip, "10.231.7.2");
    connect(&ep, pid, &net).unwrap();
    let pid_s = pid.to_string();
    let inside = out(Command::new("nsenter").args(["-t", &pid_s, "-n", "ip", "-o", "addr"]));
    assert!(
        inside.contains("eth0") && inside.contains("10.231.7.2/24"),
        "{inside}"
    );
    let routes = out(Command::new("nsenter").args(["-t", &pid_s, "-n", "ip", "route"]));
    assert!(
        routes.contains("default via 10.231.7.1 dev eth0"),
        "{routes}"
    );
    let ping = Command::new("nsenter")
        .args([
            "-t",
            &pid_s,
            "-n",
            "busybox",
            "ping",
            "-c1",
            "-W2",
            "10.231.7.1",
        ])
        .output()
        .unwrap();
    assert!(ping.status.success(), "{ping:?}");

    // The veth dies with the namespace; the lease goes back; the network can go.
    let mut child = guard.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(nets.remove("kt").is_err(), "a lease is held");
    nets.release(&owner).unwrap();
    for _ in 0..100 {
        if !out(Command::new("ip").args(["link", "show", &ep.host_veth])).contains("mtu") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!out(Command::new("ip").args(["link", "show", &ep.host_veth])).contains("mtu"));
    nets.remove("kt").unwrap();
    let gone = Command::new("ip")
        .args(["link", "show", &guard.bridge])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "bridge removed");
    let t = Command::new("nft")
        .args(["list", "table", "ip", &guard.table])
        .output()
        .unwrap();
    assert!(!t.status.success(), "table removed with the last network");
}
