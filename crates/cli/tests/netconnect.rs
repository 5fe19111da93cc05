//! `network connect`/`disconnect` and `network create --ip-range` against the real kernel
//! (root): a second interface inside a running container, its names on the new network,
//! its `/etc/hosts` line, inspect, errors that leave nothing, and networks recorded for a
//! stopped container applied at its next start. Traffic only between containers on
//! bridges this test makes (see `common::networld`).

mod common;

use common::networld::{link_exists, run_ok, World};

fn run_d(w: &World, args: &[&str]) -> String {
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["bb", "busybox", "sleep", "120"]);
    w.ok(&a).trim().to_string()
}

fn exec(w: &World, ctr: &str, script: &str) -> String {
    w.ok(&["exec", ctr, "busybox", "sh", "-c", script])
}

fn host_veths(br: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{br}/brif"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn connect_and_disconnect_a_running_container() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("n1", &["--subnet", "10.235.1.0/24"]);
    let br2 = w.network("m2", &["--subnet", "10.235.2.0/24"]);
    w.network("k3", &["--subnet", "10.235.3.0/24"]);
    let a = run_d(&w, &["--network", "n1", "--name", "ca"]);
    run_d(&w, &["--network", "m2", "--name", "cb"]);
    assert_eq!(host_veths(&br2), 1);

    connect_with_ip_and_alias(&w, &br2, &a);
    refusals_leave_it_as_it_was(&w);

    // Disconnect: the interface, the lease, the names and the hosts line go.
    w.ok(&["network", "disconnect", "m2", "ca"]);
    assert_eq!(host_veths(&br2), 1);
    let inside = exec(&w, "ca", "ip -o link; cat /etc/hosts");
    assert!(!inside.contains("eth1"), "{inside}");
    assert!(!inside.contains("10.235.2.50"), "{inside}");
    assert_eq!(
        w.ok(&["network", "inspect", "-f", "{{len .Containers}}", "m2"])
            .trim(),
        "1"
    );
    let fmt = "{{len .NetworkSettings.Networks}}";
    assert_eq!(w.ok(&["inspect", "-f", fmt, "ca"]).trim(), "1");
    let o = w.berth(&["exec", "cb", "busybox", "ping", "-c1", "-W2", "web"]);
    assert!(!o.status.success(), "web still resolves");
    // The address is free again: a new connect may take it (and gets eth1 again).
    w.ok(&["network", "connect", "--ip", "10.235.2.50", "m2", "ca"]);
    let out = exec(&w, "ca", "ip -o -4 addr show eth1");
    assert!(out.contains("inet 10.235.2.50/24"), "{out}");

    // A container on the default network (no names there) connected to m2 asks m2's
    // responder from then on, as Docker's containers ask their one resolver.
    run_d(&w, &["--network", "bridge", "--name", "cd"]);
    w.ok(&["network", "connect", "m2", "cd"]);
    let out = exec(&w, "cd", "cat /etc/resolv.conf; ping -c1 -W3 cb");
    assert!(out.contains("nameserver 10.235.2.1"), "{out}");
    assert!(out.contains("PING cb (10.235.2.2)"), "{out}");
    w.ok(&["network", "disconnect", "m2", "cd"]);
    let out = exec(&w, "cd", "cat /etc/resolv.conf");
    assert!(!out.contains("10.235.2.1"), "{out}");

    // Removing the container takes its later networks' veths and leases too.
    w.ok(&["rm", "-f", "ca"]);
    assert_eq!(host_veths(&br2), 1);
    assert_eq!(
        w.ok(&["network", "inspect", "-f", "{{len .Containers}}", "m2"])
            .trim(),
        "1"
    );
    let e = w.fails(&["network", "rm", "k3"]);
    assert!(e.contains("active endpoints"), "cb is on k3: {e}");
}

/// ca (on n1) connected to m2 as 10.235.2.50, alias web: eth1, names, hosts, inspect.
fn connect_with_ip_and_alias(w: &World, br2: &str, a: &str) {
    w.ok(&[
        "network",
        "connect",
        "--ip",
        "10.235.2.50",
        "--alias",
        "web",
        "m2",
        "ca",
    ]);
    assert_eq!(host_veths(br2), 2);
    let inside = exec(w, "ca", "ip -o -4 addr show eth1; ip route; cat /etc/hosts");
    assert!(inside.contains("inet 10.235.2.50/24"), "{inside}");
    assert!(
        inside.contains("default via 10.235.1.1 dev eth0"),
        "{inside}"
    );
    assert!(inside.contains("10.235.2.0/24 dev eth1"), "{inside}");
    assert!(
        inside.contains(&format!("10.235.1.2\t{}", &a[..12])),
        "{inside}"
    );
    assert!(
        inside.contains(&format!("10.235.2.50\t{}", &a[..12])),
        "{inside}"
    );
    // cb, on m2 only, reaches ca there by name and by alias; ca reaches cb directly.
    for name in ["ca", "web"] {
        let out = exec(w, "cb", &format!("ping -c1 -W3 {name}"));
        assert!(out.contains(&format!("PING {name} (10.235.2.50)")), "{out}");
        assert!(out.contains("1 packets received"), "{out}");
    }
    // ca asks its first network's responder, which also knows its later networks' names.
    let out = exec(w, "ca", "ping -c1 -W3 cb");
    assert!(out.contains("PING cb (10.235.2.2)"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    let fmt = "{{len .NetworkSettings.Networks}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.Networks.m2.IPAddress}} {{.NetworkSettings.Networks.m2.Aliases}}";
    assert_eq!(
        w.ok(&["inspect", "-f", fmt, "ca"]).trim(),
        "2 10.235.1.2 10.235.2.50 [web]"
    );
    let fmt = "{{len .Containers}}";
    assert_eq!(w.ok(&["network", "inspect", "-f", fmt, "m2"]).trim(), "2");
}

/// Errors as Docker's; each leaves the container as it was.
fn refusals_leave_it_as_it_was(w: &World) {
    let cases: [(&[&str], &str); 8] = [
        (
            &["connect", "m2", "ca"],
            "endpoint with name ca already exists in network m2",
        ),
        (
            &["connect", "n1", "ca"],
            "endpoint with name ca already exists in network n1",
        ),
        (&["connect", "nope", "ca"], "network nope not found"),
        (&["connect", "k3", "nope"], "No such container: nope"),
        (&["connect", "host", "ca"], "connected to host network"),
        (&["connect", "none", "ca"], "private (none) mode"),
        (
            &["disconnect", "k3", "ca"],
            "container ca is not connected to network k3",
        ),
        (
            &["connect", "--ip", "10.235.9.9", "k3", "ca"],
            "not a free host address of network k3",
        ),
    ];
    for (args, want) in cases {
        let a = [&["network"][..], args].concat();
        let e = w.fails(&a);
        assert!(e.contains(want), "{a:?}: {e}");
    }
    // Failing half-way (the address is taken: found only when leasing) leaves nothing.
    w.ok(&["network", "connect", "k3", "cb"]);
    let e = w.fails(&["network", "connect", "--ip", "10.235.3.2", "k3", "ca"]);
    assert!(e.contains("address 10.235.3.2 is already in use"), "{e}");
    assert!(!exec(w, "ca", "ip -o link").contains("eth2"));
    let fmt = "{{len .NetworkSettings.Networks}}";
    assert_eq!(w.ok(&["inspect", "-f", fmt, "ca"]).trim(), "2");
    assert_eq!(
        w.ok(&["network", "inspect", "-f", "{{len .Containers}}", "k3"])
            .trim(),
        "1"
    );
}

#[test]
fn networks_of_a_stopped_container_apply_at_start() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("n1", &["--subnet", "10.235.5.0/24"]);
    w.network("m2", &["--subnet", "10.235.6.0/24"]);
    run_d(&w, &["--network", "m2", "--name", "cb"]);
    w.ok(&[
        "create",
        "--network",
        "n1",
        "--name",
        "cs",
        "bb",
        "busybox",
        "sleep",
        "120",
    ]);
    w.ok(&["network", "connect", "--alias", "db", "m2", "cs"]);
    let fmt = "{{len .NetworkSettings.Networks}} {{.NetworkSettings.Networks.m2.Aliases}}";
    assert_eq!(w.ok(&["inspect", "-f", fmt, "cs"]).trim(), "1 [db]");
    let e = w.fails(&["network", "connect", "m2", "cs"]);
    assert!(e.contains("already exists in network m2"), "{e}");
    let e = w.fails(&["network", "rm", "m2"]);
    assert!(e.contains("active endpoints"), "{e}");

    w.ok(&["start", "cs"]);
    let out = exec(&w, "cs", "ip -o -4 addr show eth1; ip route");
    assert!(out.contains("inet 10.235.6.3/24"), "{out}");
    assert!(out.contains("default via 10.235.5.1 dev eth0"), "{out}");
    let out = exec(&w, "cb", "ping -c1 -W3 db");
    assert!(out.contains("PING db (10.235.6.3)"), "{out}");
    // A restart keeps the address and the interface.
    w.ok(&["restart", "-t", "0", "cs"]);
    let out = exec(&w, "cs", "ip -o -4 addr show eth1");
    assert!(out.contains("inet 10.235.6.3/24"), "{out}");

    // Disconnected while stopped: the lease goes now, the interface at the next start.
    w.ok(&["stop", "-t", "0", "cs"]);
    w.ok(&["network", "disconnect", "m2", "cs"]);
    assert_eq!(
        w.ok(&["network", "inspect", "-f", "{{len .Containers}}", "m2"])
            .trim(),
        "1"
    );
    w.ok(&["start", "cs"]);
    assert!(!exec(&w, "cs", "ip -o link").contains("eth1"));
    let fmt = "{{len .NetworkSettings.Networks}}";
    assert_eq!(w.ok(&["inspect", "-f", fmt, "cs"]).trim(), "1");
    w.ok(&["rm", "-f", "cs"]);
    w.ok(&["rm", "-f", "cb"]);
    w.ok(&["network", "rm", "m2"]);
    assert!(!link_exists(&w.bridges[2]));
}

#[test]
fn disconnecting_the_first_network_hands_over_to_the_next() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let br1 = w.network("n1", &["--subnet", "10.235.10.0/24"]);
    w.network("m2", &["--subnet", "10.235.11.0/24"]);
    run_d(&w, &["--network", "m2", "--name", "cb"]);
    let port = {
        let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let publish = format!("{port}:80");
    run_d(&w, &["--network", "n1", "-p", &publish, "--name", "cx"]);
    w.ok(&["network", "connect", "m2", "cx"]);
    let rules = || {
        common::networld::run_ok(
            std::process::Command::new("nft").args(["list", "table", "ip", &w.table]),
        )
    };
    assert!(rules().contains(&format!("dport {port} dnat")));

    w.ok(&["network", "disconnect", "n1", "cx"]);
    assert_eq!(host_veths(&br1), 0);
    let inside = exec(
        &w,
        "cx",
        "ip -o link; ip route; cat /etc/resolv.conf; ping -c1 -W3 cb",
    );
    assert!(!inside.contains("eth0"), "{inside}");
    assert!(
        inside.contains("default via 10.235.11.1 dev eth1"),
        "{inside}"
    );
    assert!(inside.contains("nameserver 10.235.11.1"), "{inside}");
    assert!(inside.contains("1 packets received"), "{inside}");
    assert!(
        !rules().contains(&format!("dport {port} dnat")),
        "ports withdrawn"
    );
    let fmt = "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}} {{.NetworkSettings.IPAddress}}";
    assert_eq!(
        w.ok(&["inspect", "-f", fmt, "cx"]).trim(),
        "m2 1 10.235.11.3"
    );
    assert_eq!(
        w.ok(&["network", "inspect", "-f", "{{len .Containers}}", "n1"])
            .trim(),
        "0"
    );
    w.ok(&["network", "rm", "n1"]);
    // After a restart m2 is the container's first network: eth0 and the default route.
    w.ok(&["restart", "-t", "0", "cx"]);
    let inside = exec(&w, "cx", "ip -o -4 addr show eth0; ip route");
    assert!(inside.contains("inet 10.235.11.3/24"), "{inside}");
    assert!(
        inside.contains("default via 10.235.11.1 dev eth0"),
        "{inside}"
    );
    // Its last network gone, the container is left with lo only.
    w.ok(&["network", "disconnect", "m2", "cx"]);
    let inside = exec(&w, "cx", "ip -o link");
    assert!(!inside.contains("eth"), "{inside}");
    let fmt = "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}";
    assert_eq!(w.ok(&["inspect", "-f", fmt, "cx"]).trim(), "none 0");
}

#[test]
fn a_restarting_container_gets_its_later_networks_on_each_run() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("n1", &["--subnet", "10.235.12.0/24"]);
    w.network("m2", &["--subnet", "10.235.13.0/24"]);
    // Each run prints its addresses and exits: the monitor restarts it, running or not
    // when connect comes.
    w.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--network",
        "n1",
        "--name",
        "cr",
        "bb",
        "busybox",
        "sh",
        "-c",
        "busybox ip -o -4 addr show; busybox sleep 0.3",
    ]);
    w.ok(&["network", "connect", "m2", "cr"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let logs = w.ok(&["logs", "cr"]);
        if logs.contains("eth1    inet 10.235.13.2/24") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no eth1 in later runs:\n{logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    w.ok(&["rm", "-f", "cr"]);
    assert_eq!(
        w.ok(&["network", "inspect", "-f", "{{len .Containers}}", "m2"])
            .trim(),
        "0"
    );
}

#[test]
fn network_modes_that_cannot_be_combined() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("n1", &["--subnet", "10.235.7.0/24"]);
    for (mode, want) in [
        ("none", "private (none) mode"),
        ("host", "connected to host network"),
    ] {
        let name = format!("c{mode}");
        w.ok(&["create", "--network", mode, "--name", &name, "bb"]);
        let e = w.fails(&["network", "connect", "n1", &name]);
        assert!(e.contains(want), "{mode}: {e}");
        let e = w.fails(&["network", "disconnect", "n1", &name]);
        assert!(e.contains("is not connected to network n1"), "{mode}: {e}");
        let fmt = "{{len .NetworkSettings.Networks}}";
        assert_eq!(w.ok(&["inspect", "-f", fmt, &name]).trim(), "0");
    }
}

#[test]
fn ip_range_bounds_allocated_addresses() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network(
        "r1",
        &["--subnet", "10.235.8.0/24", "--ip-range", "10.235.8.128/30"],
    );
    let fmt = "{{(index .IPAM.Config 0).IPRange}}";
    assert_eq!(
        w.ok(&["network", "inspect", "-f", fmt, "r1"]).trim(),
        "10.235.8.128/30"
    );
    let ip = |ctr: &str| {
        w.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", ctr])
            .trim()
            .to_string()
    };
    run_d(&w, &["--network", "r1", "--name", "ra"]);
    assert_eq!(ip("ra"), "10.235.8.128");
    // --ip outside the range but inside the subnet is allowed, as in Docker.
    run_d(
        &w,
        &["--network", "r1", "--ip", "10.235.8.20", "--name", "rb"],
    );
    assert_eq!(ip("rb"), "10.235.8.20");
    let out = exec(&w, "rb", "ping -c1 -W3 10.235.8.128");
    assert!(out.contains("1 packets received"), "{out}");
    for n in ["rc", "rd", "re"] {
        run_d(&w, &["--network", "r1", "--name", n]);
    }
    let got: Vec<String> = ["rc", "rd", "re"].iter().map(|n| ip(n)).collect();
    assert_eq!(got, ["10.235.8.129", "10.235.8.130", "10.235.8.131"]);
    let e = w.fails(&[
        "run",
        "-d",
        "--network",
        "r1",
        "bb",
        "busybox",
        "sleep",
        "1",
    ]);
    assert!(
        e.contains("no available IPv4 addresses on network r1"),
        "{e}"
    );

    for (flags, want) in [
        (
            ["--subnet", "10.235.9.0/24", "--ip-range", "10.235.10.0/28"],
            "not inside subnet 10.235.9.0/24",
        ),
        (
            ["--subnet", "10.235.9.0/24", "--ip-range", "10.235.8.0/23"],
            "not inside subnet",
        ),
        (
            ["--subnet", "10.235.9.0/24", "--ip-range", "10.235.9.1/28"],
            "host bits",
        ),
    ] {
        let mut a = vec!["network", "create"];
        a.extend_from_slice(&flags);
        a.push("bad");
        let e = w.fails(&a);
        assert!(
            e.contains("invalid --ip-range") && e.contains(want),
            "{flags:?}: {e}"
        );
    }
    assert!(!w.ok(&["network", "ls"]).contains("bad"));
}

/// Taken off its last network a container is on `none`, but, unlike `--network none`,
/// `network connect` may give it one again (as Docker allows): running, it gets `eth0`,
/// the default route, its names and resolver at once; stopped, at its next start.
#[test]
fn a_container_disconnected_from_its_last_network_connects_again() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    w.network("n1", &["--subnet", "10.235.14.0/24"]);
    w.network("m2", &["--subnet", "10.235.15.0/24"]);
    run_d(&w, &["--network", "m2", "--name", "peer"]);
    run_d(&w, &["--network", "n1", "--name", "cl"]);
    w.ok(&["network", "disconnect", "n1", "cl"]);
    assert!(!exec(&w, "cl", "ip -o link").contains("eth0"));
    w.ok(&["network", "connect", "m2", "cl"]);
    let out = exec(
        &w,
        "cl",
        "ip -o -4 addr; ip route; cat /etc/resolv.conf; ping -c1 -W3 peer",
    );
    assert!(out.contains("eth0    inet 10.235.15."), "{out}");
    assert!(out.contains("default via 10.235.15.1 dev eth0"), "{out}");
    assert!(out.contains("nameserver 10.235.15.1"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    let out = exec(&w, "peer", "ping -c1 -W3 cl");
    assert!(out.contains("1 packets received"), "cl's name on m2: {out}");
    let fmt = "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}";
    assert_eq!(w.ok(&["inspect", "-f", fmt, "cl"]).trim(), "m2 1");

    // Stopped: disconnected, connected again, started.
    w.ok(&["stop", "-t", "0", "cl"]);
    w.ok(&["network", "disconnect", "m2", "cl"]);
    w.ok(&["network", "connect", "n1", "cl"]);
    w.ok(&["start", "cl"]);
    let out = exec(&w, "cl", "ip -o -4 addr; ip route");
    assert!(out.contains("eth0    inet 10.235.14."), "{out}");
    assert!(out.contains("default via 10.235.14.1 dev eth0"), "{out}");
    w.ok(&["rm", "-f", "cl"]);
    // --network none stays refused (network_modes_that_cannot_be_combined).
}

/// A restart the policy asks for whose network cannot be wired (the bridge's name taken
/// by a link that is no bridge) ends `exited` with the error recorded, as in Docker,
/// not `restarting` forever.
#[test]
fn a_restart_whose_network_fails_ends_exited_with_the_error() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let br = w.network("n1", &["--subnet", "10.235.16.0/24"]);
    w.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--network",
        "n1",
        "--name",
        "cf",
        "bb",
        "busybox",
        "sh",
        "-c",
        "busybox sleep 1; exit 3",
    ]);
    let ip = |args: &[&str]| run_ok(std::process::Command::new("ip").args(args));
    ip(&["link", "del", &br]);
    let peer = format!("xb{}", w.tag);
    w.links.push(peer.clone());
    ip(&["link", "add", &br, "type", "veth", "peer", "name", &peer]);
    let fmt = "{{.State.Status}} {{.State.Restarting}} {{.State.ExitCode}}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut st = String::new();
    while std::time::Instant::now() < deadline {
        st = w.ok(&["inspect", "-f", fmt, "cf"]).trim().to_string();
        if st.starts_with("exited") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(st, "exited false 3");
    let err = w.ok(&["inspect", "-f", "{{.State.Error}}", "cf"]);
    assert!(err.contains("add veth"), "{err}");
    assert_eq!(w.ok(&["ps", "-q"]).trim(), "");
    // With the bridge's name free again, start works and the error is gone.
    ip(&["link", "del", &br]);
    w.ok(&["update", "--restart", "no", "cf"]);
    w.ok(&["start", "cf"]);
    assert_eq!(
        w.ok(&["inspect", "-f", "{{.State.Error}}", "cf"]).trim(),
        ""
    );
    w.ok(&["rm", "-f", "cf"]);
}
