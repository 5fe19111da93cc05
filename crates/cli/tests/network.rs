//! Bridge networks against the real kernel (root; published ports are in `ports.rs`): containers on one network reach each
//! other, masquerade to an "upstream" namespace the test makes, `--internal` isolation,
//! `--network none`, the default network, cleanup after `rm`, and bad input. Traffic only
//! goes to addresses inside namespaces the test made. Each test has its own store, state
//! dir, cgroup parent, bridge names (`-o com.docker.network.bridge.name`,
//! `BERTH_DEFAULT_BRIDGE`), nft table (`BERTH_NFT_TABLE`) and netns, all removed on drop.

mod common;

use std::process::Command;

use common::networld::{link_exists, run_ok, World};

#[test]
fn containers_on_one_network_reach_each_other_and_leave_nothing() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let br = w.network("n1", &["--subnet", "10.234.1.0/24", "--label", "k=v"]);
    assert!(link_exists(&br));
    let a = w
        .ok(&[
            "run",
            "-d",
            "--network",
            "n1",
            "--ip",
            "10.234.1.50",
            "--name",
            "ca",
            "bb",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "bb",
        "sh",
        "-c",
        "ping -c1 -W3 10.234.1.50 && busybox ip -o -4 addr show eth0 && tail -1 /etc/hosts",
    ]);
    assert!(out.contains("1 packets received"), "{out}");
    assert!(out.contains("inet 10.234.1.2/24"), "{out}");
    let fmt = "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.n1.IPAddress}}";
    assert_eq!(
        w.ok(&["inspect", "-f", fmt, "ca"]).trim(),
        "10.234.1.50 10.234.1.1 02:42:0a:ea:01:32 10.234.1.50"
    );
    let hosts = w.ok(&["exec", "ca", "busybox", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("10.234.1.50\t{}", &a[..12])),
        "{hosts}"
    );
    let net = w.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Internal}} {{.Labels.k}} {{len .Containers}}",
        "n1",
    ]);
    assert_eq!(net.trim(), "false v 1");
    assert!(w.ok(&["network", "ls"]).contains("n1"));
    let rules = run_ok(Command::new("nft").args(["list", "table", "ip", &w.table]));
    assert!(
        rules.contains(&format!(
            "ip saddr 10.234.1.0/24 oifname != \"{br}\" masquerade"
        )),
        "{rules}"
    );

    // A network in use stays; after rm no veth, no lease; then the network goes, and its
    // rules and bridge with it.
    w.fails(&["network", "rm", "n1"]);
    w.ok(&["rm", "-f", "ca"]);
    assert!(!link_exists(&format!("vb{}", &a[..12])));
    let leases =
        std::fs::read_to_string(w.env.root.path().join("networks/n1/leases.json")).unwrap();
    assert_eq!(leases.trim(), "{}");
    w.ok(&["network", "rm", "n1"]);
    assert!(!link_exists(&br));
    let t = Command::new("nft")
        .args(["list", "table", "ip", &w.table])
        .output()
        .unwrap();
    assert!(!t.status.success(), "the table goes with the last network");
}

#[test]
fn masquerade_reaches_upstream_and_internal_does_not() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("out", &["--subnet", "10.234.2.0/24"]);
    w.network("int", &["--subnet", "10.234.3.0/24", "--internal"]);
    let url = w.upstream(9);
    // busybox's static wget crashes on this host; a raw request through nc does.
    let get = format!("printf 'GET {url} HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 10.233.9.2 8080");
    let seen = w.ok(&["run", "--rm", "--network", "out", "bb", "sh", "-c", &get]);
    assert!(seen.contains("200 OK"), "{seen}");
    assert_eq!(
        seen.lines().last().unwrap_or("").trim(),
        "10.233.9.1",
        "upstream sees the host's address: {seen}"
    );
    let o = w.berth(&["run", "--rm", "--network", "int", "bb", "sh", "-c", &get]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("200 OK"), "internal reached upstream: {out}");
    // Different networks do not reach each other either.
    w.ok(&[
        "run",
        "-d",
        "--network",
        "int",
        "--name",
        "ci",
        "bb",
        "busybox",
        "sleep",
        "60",
    ]);
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        "out",
        "bb",
        "busybox",
        "ping",
        "-c1",
        "-W1",
        "10.234.3.2",
    ]);
    assert!(!o.status.success(), "crossed networks");
}

#[test]
fn none_has_only_lo_and_bridge_is_the_default() {
    if !common::have("nft", "nftables") {
        return;
    }
    let w = World::new();
    let links = w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bb",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    let mut c = w.cmd(&["run", "-d", "--name", "cd", "bb", "busybox", "sleep", "60"]);
    c.env("BERTH_NETWORK", "bridge");
    assert!(c.output().unwrap().status.success());
    assert!(
        link_exists(&w.bridges[0]),
        "the default network is made on first use"
    );
    let ip = w.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
        "cd",
    ]);
    let subnet = w.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "bridge",
    ]);
    let prefix = subnet
        .trim()
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    assert!(ip.trim().starts_with(&prefix), "{ip} in {subnet}");
    w.fails(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "--ip",
        "172.17.0.9",
        "bb",
        "true",
    ]);
}

#[test]
fn bad_input_leaves_nothing() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("n1", &["--subnet", "10.234.4.0/24"]);
    let before = std::fs::read_dir(w.env.root.path().join("networks"))
        .unwrap()
        .count();
    let e = w.fails(&[
        "network",
        "create",
        "--subnet",
        "10.234.4.128/25",
        "-o",
        &format!("com.docker.network.bridge.name=bx{}", w.tag),
        "n2",
    ]);
    assert!(e.contains("overlaps network n1"), "{e}");
    assert!(!link_exists(&format!("bx{}", w.tag)));
    w.fails(&[
        "network",
        "create",
        "--subnet",
        "10.234.5.0/24",
        "--gateway",
        "10.234.6.1",
        "n3",
    ]);
    w.fails(&["network", "create", "--subnet", "10.234.4.0/24", "n1"]);
    let after = std::fs::read_dir(w.env.root.path().join("networks"))
        .unwrap()
        .count();
    assert_eq!(before, after, "no network directory left");
    let e = w.fails(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--ip",
        "10.234.7.5",
        "bb",
        "true",
    ]);
    assert!(e.contains("--ip"), "{e}");
    let e = w.fails(&["run", "--rm", "--network", "nosuch", "bb", "true"]);
    assert!(e.contains("network nosuch not found"), "{e}");
    assert_eq!(w.ok(&["ps", "-aq"]).trim(), "", "no container left");
    let e = w.fails(&["run", "--rm", "-p", "0:80", "--network", "n1", "bb", "true"]);
    assert!(e.contains("--publish `0:80`"), "{e}");
}
