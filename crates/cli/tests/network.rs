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

/// A fake upstream resolver on loopback, the only one the tests' networks forward to:
/// `upstream.test` is 192.0.2.99 (an address only ever written in answers), every other
/// name NXDOMAIN. Answers until the test process ends.
fn fake_upstream() -> String {
    fake_upstream_on("127.0.0.1:0", [192, 0, 2, 99])
}

/// [`fake_upstream`] bound to `addr`, answering `upstream.test` with `answer`.
fn fake_upstream_on(addr: &str, answer: [u8; 4]) -> String {
    let s = std::net::UdpSocket::bind(addr).unwrap();
    let addr = s.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut b) {
            let m = &b[..n];
            let mut i = 12;
            let mut name = vec![];
            while i < n && m[i] != 0 {
                let l = m[i] as usize;
                name.push(String::from_utf8_lossy(&m[i + 1..(i + 1 + l).min(n)]).to_string());
                i += 1 + l;
            }
            let end = (i + 5).min(n);
            let is_a = end == i + 5 && m[i + 1..i + 3] == [0, 1];
            let ours = name.join(".").eq_ignore_ascii_case("upstream.test");
            let mut out = m[..end].to_vec();
            out[2] = 0x81;
            out[3] = if ours { 0x80 } else { 0x83 };
            out[6..12].copy_from_slice(&[0, (ours && is_a) as u8, 0, 0, 0, 0]);
            if ours && is_a {
                out.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                out.extend_from_slice(&answer);
            }
            let _ = s.send_to(&out, from);
        }
    });
    addr
}

/// The last four bytes of the answer to an A query for `name` over TCP (busybox's
/// nslookup has no TCP mode), from the host to the responder on a bridge the test made.
fn tcp_lookup(server: &str, name: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut q = vec![0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, name.len() as u8];
    q.extend_from_slice(name.as_bytes());
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut c = std::net::TcpStream::connect(server).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&q);
    c.write_all(&msg).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut out = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut out).unwrap();
    out[out.len().saturating_sub(4)..].to_vec()
}

/// Whether process `pid` runs: not gone and not a zombie (the responder is reparented to
/// pid 1, which may reap late).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// `nslookup NAME` in a fresh container on `net`, with its stdout.
fn lookup(w: &World, net: &str, name: &str) -> (bool, String) {
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        net,
        "bb",
        "busybox",
        "nslookup",
        name,
    ]);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).to_string(),
    )
}

#[test]
fn user_networks_resolve_names_and_aliases_and_forward_the_rest() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let up = fake_upstream();
    w.network("r1", &["--subnet", "10.234.10.0/24", "--dns", &up]);
    w.network(
        "e2",
        &["--subnet", "10.234.11.0/24", "--dns", &up, "--internal"],
    );
    let run = |net: &str, name: &str, extra: &[&str]| {
        let mut a = vec!["run", "-d", "--network", net, "--name", name];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["bb", "busybox", "sleep", "60"]);
        w.ok(&a).trim().to_string()
    };
    let web = run(
        "r1",
        "web",
        &["--network-alias", "www", "--ip", "10.234.10.20"],
    );
    run("e2", "other", &[]);
    let pid_file = w.env.root.path().join("networks/r1/dns.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(alive(&pid), "responder {pid}");

    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "r1",
        "bb",
        "sh",
        "-c",
        "cat /etc/resolv.conf; ping -c1 -W3 web",
    ]);
    assert!(out.contains("nameserver 10.234.10.1"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    for name in ["web", "www", &web[..12], "WEB"] {
        let (ok, out) = lookup(&w, "r1", name);
        assert!(ok && out.contains("10.234.10.20"), "{name}: {out}");
    }
    assert_eq!(tcp_lookup("10.234.10.1:53", "www"), [10, 234, 10, 20]);
    let (ok, out) = lookup(&w, "r1", "upstream.test");
    assert!(ok && out.contains("192.0.2.99"), "forwarded: {out}");
    let (ok, out) = lookup(&w, "r1", "other");
    assert!(
        !ok && !out.contains("10.234.11."),
        "another network's name: {out}"
    );
    // Another network's responder ignores this one's containers, asked directly.
    let o = w.berth(&[
        "run",
        "--rm",
        "--network",
        "e2",
        "bb",
        "busybox",
        "nslookup",
        "web",
        "10.234.10.1",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("10.234.10.20"), "crossed networks: {out}");
    let (ok, out) = lookup(&w, "e2", "other");
    assert!(
        ok && out.contains("10.234.11.2"),
        "an internal network resolves: {out}"
    );
    let rules = run_ok(Command::new("nft").args(["list", "table", "ip", &w.table]));
    let rule = "ip daddr 10.234.11.1 meta l4proto { tcp, udp } th dport 53 accept";
    assert!(rules.contains(rule), "{rules}");
    let aliases = w.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.r1.Aliases}}",
        "web",
    ]);
    assert_eq!(aliases.trim(), "[www]");
    let e = w.fails(&[
        "run",
        "--rm",
        "--network-alias",
        "x",
        "--network",
        "bridge",
        "bb",
        "true",
    ]);
    assert!(e.contains("--network-alias"), "{e}");

    // The default network: the host's servers, and no responder.
    let conf = w.ok(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "bb",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    let gw = w.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    assert!(!conf.contains(gw.trim()), "{conf}");
    assert!(!w.env.root.path().join("networks/bridge/dns.pid").exists());

    // After the last container on a network goes, its responder exits and leaves nothing.
    w.ok(&["rm", "-f", "web", "other"]);
    let gone = || {
        !pid_file.exists()
            && !alive(&pid)
            && !w.env.root.path().join("networks/e2/dns.pid").exists()
    };
    let t = std::time::Instant::now();
    while !gone() && t.elapsed() < std::time::Duration::from_secs(15) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(gone(), "responder left after 15s");
}

#[test]
fn network_rm_stops_its_responder() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let up = fake_upstream();
    w.network("q1", &["--subnet", "10.234.12.0/24", "--dns", &up]);
    w.ok(&["run", "--rm", "--network", "q1", "bb", "busybox", "true"]);
    let pid_file = w.env.root.path().join("networks/q1/dns.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(alive(&pid), "responder {pid}");
    w.ok(&["network", "rm", "q1"]);
    let t = std::time::Instant::now();
    // Well within the responder's idle time: it was stopped, not idle.
    while alive(&pid) && t.elapsed() < std::time::Duration::from_millis(1500) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!alive(&pid), "responder {pid} outlived network rm");
}

/// `--dns` on a user network is the container's upstream, as in Docker: its resolv.conf
/// still names the network's responder (container names resolve), which forwards the
/// names it does not know to that container's servers. Its upstream here listens on an
/// address of a veth the test makes (host side), the network's on loopback.
#[test]
fn a_containers_own_dns_servers_are_its_upstreams() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let net_up = fake_upstream();
    w.network("d1", &["--subnet", "10.234.13.0/24", "--dns", &net_up]);
    let (host, peer) = (format!("bk{}", w.tag), format!("bl{}", w.tag));
    w.links.push(host.clone());
    let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
    ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
    ip(&["addr", "add", "10.233.22.1/30", "dev", &host]);
    ip(&["link", "set", &host, "up"]);
    let own_up = fake_upstream_on("10.233.22.1:53", [192, 0, 2, 98]);
    assert_eq!(own_up, "10.233.22.1:53");

    // The first container starts the responder: its own name answers at once.
    let script = "cat /etc/resolv.conf; nslookup upstream.test; nslookup named";
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "d1",
        "--name",
        "named",
        "--dns",
        "10.233.22.1",
        "bb",
        "sh",
        "-c",
        script,
    ]);
    assert!(out.contains("nameserver 10.234.13.1"), "{out}");
    assert!(!out.contains("nameserver 10.233.22.1"), "{out}");
    assert!(
        out.contains("192.0.2.98"),
        "the container's upstream: {out}"
    );
    assert!(out.contains("10.234.13.2"), "its own name: {out}");
    w.ok(&[
        "run",
        "-d",
        "--network",
        "d1",
        "--name",
        "other",
        "bb",
        "busybox",
        "sleep",
        "60",
    ]);
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "d1",
        "--dns",
        "10.233.22.1",
        "bb",
        "sh",
        "-c",
        "nslookup upstream.test; nslookup other",
    ]);
    let other = w.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "other"]);
    assert!(out.contains("192.0.2.98"), "{out}");
    assert!(
        out.contains(other.trim()),
        "another container's name: {out}"
    );
    // Without --dns: the network's upstream.
    let (ok, out) = lookup(&w, "d1", "upstream.test");
    assert!(ok && out.contains("192.0.2.99"), "{out}");
}
