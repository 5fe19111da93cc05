//! IPv6 on bridge networks against the real kernel (root): `network create --ipv6` (dual
//! stack), the bridge's gateway address, containers' addresses and default route, names
//! answered with AAAA, published ports over the bridge's IPv6 address (and `[::1]`
//! refused at once: see `berth_network::nft6`), isolation between networks, a later
//! network with IPv6 via `network connect`, and IPv6 off by default. Traffic only between
//! the host and bridges and namespaces this test makes (see `common::networld`).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::networld::{run_ok, World};

const SERVE: &str = "busybox mkdir -p /w && echo hello6 > /w/index.html && \
    exec busybox httpd -f -p 80 -h /w";

fn exec(w: &World, ctr: &str, script: &str) -> String {
    w.ok(&["exec", ctr, "busybox", "sh", "-c", script])
}

fn ipv6_available() -> bool {
    if std::path::Path::new("/proc/sys/net/ipv6").exists() {
        return true;
    }
    eprintln!("skipped: this kernel has no IPv6");
    false
}

/// `GET /` over TCP to `addr`, retried while the server starts.
fn http_get(addr: &str) -> std::io::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let got = (|| -> std::io::Result<String> {
            let a = addr.parse().unwrap();
            let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match got {
            Ok(out) if out.contains("hello6") => return Ok(out),
            r if Instant::now() > deadline => return r,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn dual_stack_network_addresses_names_and_ports() {
    if !common::have("nft", "nftables") || !ipv6_available() {
        return;
    }
    let mut w = World::new();
    let br = w.network(
        "n6",
        &[
            "--ipv6",
            "--subnet",
            "10.236.1.0/24",
            "--subnet",
            "fd00:236:1::/64",
        ],
    );
    let fmt =
        "{{.EnableIPv6}} {{(index .IPAM.Config 1).Subnet}} {{(index .IPAM.Config 1).Gateway}}";
    assert_eq!(
        w.ok(&["network", "inspect", "-f", fmt, "n6"]).trim(),
        "true fd00:236:1::/64 fd00:236:1::1"
    );
    let addrs = run_ok(Command::new("ip").args(["-6", "-o", "addr", "show", "dev", &br]));
    assert!(addrs.contains("inet6 fd00:236:1::1/64"), "{addrs}");

    w.ok(&[
        "run",
        "-d",
        "--network",
        "n6",
        "--name",
        "a6",
        "bb",
        "busybox",
        "sleep",
        "120",
    ]);
    let port = {
        let l = TcpListener::bind("0.0.0.0:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let publish = format!("{port}:80");
    w.ok(&[
        "run",
        "-d",
        "--network",
        "n6",
        "--name",
        "b6",
        "-p",
        &publish,
        "bb",
        "sh",
        "-c",
        SERVE,
    ]);
    let inside = exec(
        &w,
        "a6",
        "ip -6 -o addr show dev eth0 scope global; ip -6 route; cat /etc/hosts",
    );
    assert!(inside.contains("inet6 fd00:236:1::2/64"), "{inside}");
    assert!(
        inside.contains("default via fd00:236:1::1 dev eth0"),
        "{inside}"
    );
    assert!(inside.contains("fd00:236:1::2\t"), "{inside}");
    // By name over IPv6: the responder answers AAAA.
    let out = exec(&w, "a6", "nslookup -type=AAAA b6; ping -6 -c1 -W3 b6");
    assert!(out.contains("fd00:236:1::3"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    let out = exec(&w, "a6", "wget -qO- 'http://[fd00:236:1::3]/'");
    assert_eq!(out.trim(), "hello6");
    let fmt = "{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.Networks.n6.GlobalIPv6Address}} {{.NetworkSettings.Networks.n6.IPv6Gateway}}";
    assert_eq!(
        w.ok(&["inspect", "-f", fmt, "b6"]).trim(),
        "fd00:236:1::3 fd00:236:1::3 fd00:236:1::1"
    );
    let net = w.ok(&["network", "inspect", "n6"]);
    assert!(
        net.contains("\"IPv6Address\": \"fd00:236:1::3/64\""),
        "{net}"
    );

    published_over_ipv6(&w, &br, port);
    // The check reads the ip6 twin of the table too: a v6 port is not a missing rule.
    let check = w.ok(&["system", "check"]);
    assert!(!check.contains("nft"), "{check}");
    isolated_and_connected_later(&mut w);

    // Everything gone: the ip6 table goes with the last network.
    for c in ["a6", "b6", "c6"] {
        w.ok(&["rm", "-f", c]);
    }
    w.ok(&["network", "rm", "n6", "m6"]);
    let o = Command::new("nft")
        .args(["list", "table", "ip6", &w.table])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the ip6 table is left");
}

/// b6's port over the bridge's IPv6 address, from the host and (hairpin) a container;
/// over 127.0.0.1 as before; [::1] is refused at once, not left hanging.
fn published_over_ipv6(w: &World, br: &str, port: u16) {
    let out = http_get(&format!("[fd00:236:1::1]:{port}")).unwrap();
    assert!(out.contains("hello6"), "{out}");
    let out = exec(
        w,
        "a6",
        &format!("wget -qO- 'http://[fd00:236:1::1]:{port}/'"),
    );
    assert_eq!(out.trim(), "hello6");
    assert!(http_get(&format!("127.0.0.1:{port}"))
        .unwrap()
        .contains("hello6"));
    let lo6 = format!("[::1]:{port}").parse().unwrap();
    let e = TcpStream::connect_timeout(&lo6, Duration::from_secs(3)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    assert_eq!(
        w.ok(&["port", "b6"]),
        format!("80/tcp -> 0.0.0.0:{port}\n80/tcp -> [::]:{port}\n")
    );
    let rules = run_ok(Command::new("nft").args(["list", "table", "ip6", &w.table]));
    assert!(
        rules.contains(&format!(
            "ip6 saddr fd00:236:1::/64 oifname != \"{br}\" masquerade"
        )),
        "{rules}"
    );
    assert!(rules.contains("dnat to [fd00:236:1::3]:80"), "{rules}");
}

/// Another network with IPv6 is isolated from n6 over IPv6 too; a container connected to
/// n6 later gets an IPv6 address on eth1, no second default route.
fn isolated_and_connected_later(w: &mut World) {
    w.network(
        "m6",
        &[
            "--ipv6",
            "--subnet",
            "10.236.2.0/24",
            "--subnet",
            "fd00:236:2::/64",
        ],
    );
    let out = w.berth(&[
        "run",
        "--rm",
        "--network",
        "m6",
        "bb",
        "busybox",
        "ping",
        "-6",
        "-c1",
        "-W2",
        "fd00:236:1::3",
    ]);
    assert!(!out.status.success(), "isolation: {out:?}");

    w.ok(&[
        "run",
        "-d",
        "--network",
        "m6",
        "--name",
        "c6",
        "bb",
        "busybox",
        "sleep",
        "120",
    ]);
    w.ok(&["network", "connect", "n6", "c6"]);
    let out = exec(
        w,
        "c6",
        "ip -6 -o addr show dev eth1 scope global; ip -6 route; ping -6 -c1 -W3 b6",
    );
    assert!(out.contains("inet6 fd00:236:1::4/64"), "{out}");
    assert!(out.contains("default via fd00:236:2::1 dev eth0"), "{out}");
    assert!(!out.contains("default via fd00:236:1::1"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    w.ok(&["network", "disconnect", "n6", "c6"]);
}

#[test]
fn ipv6_is_off_by_default_and_bad_requests_fail() {
    if !common::have("nft", "nftables") || !ipv6_available() {
        return;
    }
    let mut w = World::new();
    w.network("p4", &["--subnet", "10.236.3.0/24"]);
    assert_eq!(
        w.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.EnableIPv6}} {{len .IPAM.Config}}",
            "p4"
        ])
        .trim(),
        "false 1"
    );
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "p4",
        "bb",
        "busybox",
        "ip",
        "-6",
        "-o",
        "addr",
        "show",
        "scope",
        "global",
    ]);
    assert!(out.trim().is_empty(), "{out}");
    // --ipv6 alone picks a unique local /64.
    w.network("q6", &["--ipv6", "--subnet", "10.236.4.0/24"]);
    let s6 = w.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 1).Subnet}}",
        "q6",
    ]);
    assert!(s6.starts_with("fd") && s6.trim().ends_with("::/64"), "{s6}");

    for (flags, want) in [
        (
            vec!["--subnet", "fd00:236:5::/64"],
            "an IPv6 subnet needs --ipv6",
        ),
        (
            vec![
                "--ipv6",
                "--subnet",
                "fd00:236:5::/64",
                "--subnet",
                "fd00:236:6::/64",
            ],
            "one IPv6 subnet per network",
        ),
        (
            vec![
                "--ipv6",
                "--subnet",
                "10.236.5.0/24",
                "--subnet",
                "fd00:236:5::/121",
            ],
            "a /120 or larger",
        ),
        (vec!["--ipv6", "--subnet", "fd00:236:5::1/64"], "host bits"),
    ] {
        let mut a = vec!["network", "create"];
        a.extend_from_slice(&flags);
        a.push("bad");
        let e = w.fails(&a);
        assert!(
            e.contains("invalid --subnet") && e.contains(want),
            "{flags:?}: {e}"
        );
    }
    assert!(!w.ok(&["network", "ls"]).contains("bad"));
    let e = w.fails(&["create", "--network", "q6", "-p", "[::1]:8080:80", "bb"]);
    assert!(
        e.contains("an IPv6 host address cannot be published on"),
        "{e}"
    );
}

/// A second `--ip-range` inside the IPv6 subnet holds containers' IPv6 addresses (each
/// at its IPv4 address's offset); `run --ip6` and `network connect --ip6` ask for one
/// (and so for its IPv4 twin); addresses outside, or an `--ip` that disagrees, fail
/// with one line and leave nothing.
#[test]
fn ipv6_range_and_ip6() {
    if !common::have("nft", "nftables") || !ipv6_available() {
        return;
    }
    let mut w = World::new();
    let v6 = [
        "--ipv6",
        "--subnet",
        "10.236.6.0/24",
        "--subnet",
        "fd00:236:6::/64",
        "--ip-range",
        "fd00:236:6::100/120",
    ];
    w.network("r6", &v6);
    let v6b = [
        "--ipv6",
        "--subnet",
        "10.236.7.0/24",
        "--subnet",
        "fd00:236:7::/64",
    ];
    w.network("s6", &v6b);
    let fmt = "{{(index .IPAM.Config 1).IPRange}} {{(index .IPAM.Config 1).Gateway}}";
    assert_eq!(
        w.ok(&["network", "inspect", "-f", fmt, "r6"]).trim(),
        "fd00:236:6::100/120 fd00:236:6::1"
    );
    let run = |name: &str, extra: &[&str]| {
        let mut a = vec!["run", "-d", "--network", "r6", "--name", name];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["bb", "busybox", "sleep", "120"]);
        w.ok(&a);
    };
    run("a6", &[]);
    run("b6", &["--ip6", "fd00:236:6::150"]);
    let addrs = |ctr: &str| {
        let f = "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.GlobalIPv6Address}}";
        w.ok(&["inspect", "-f", f, ctr]).trim().to_string()
    };
    assert_eq!(addrs("a6"), "10.236.6.2 fd00:236:6::102");
    assert_eq!(addrs("b6"), "10.236.6.80 fd00:236:6::150");
    let out = exec(
        &w,
        "b6",
        "ip -o -6 addr show eth0; ping -c1 -W3 fd00:236:6::102",
    );
    assert!(out.contains("fd00:236:6::150/64"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");
    // A later network: connect --ip6.
    w.ok(&["network", "connect", "--ip6", "fd00:236:7::33", "s6", "a6"]);
    let out = exec(&w, "a6", "ip -o -6 addr show eth1; ip -o -4 addr show eth1");
    assert!(out.contains("fd00:236:7::33/64"), "{out}");
    assert!(out.contains("10.236.7.51/24"), "{out}");

    for (args, want) in [
        (
            vec!["run", "--rm", "--network", "r6", "--ip6", "fd00:236:6::7"],
            "not one of network r6's container addresses fd00:236:6::100..fd00:236:6::1ff",
        ),
        (
            vec![
                "run",
                "--rm",
                "--network",
                "r6",
                "--ip6",
                "fd00:236:6::160",
                "--ip",
                "10.236.6.9",
            ],
            "its IPv4 twin is 10.236.6.96, not --ip 10.236.6.9",
        ),
        (
            vec!["run", "--rm", "--network", "r6", "--ip6", "nope"],
            "--ip6 `nope`",
        ),
        (
            vec!["run", "--rm", "--network", "r6", "--ip6", "fd00:236:6::150"],
            "10.236.6.80 is already in use",
        ),
        (
            vec!["run", "--rm", "--network", "bridge", "--ip6", "fd00::5"],
            "user defined networks only",
        ),
        (
            vec!["network", "connect", "--ip6", "fd00:236:7::34", "r6", "a6"],
            "already exists in network r6",
        ),
    ] {
        let mut a = args.clone();
        if a[0] == "run" {
            a.extend_from_slice(&["bb", "busybox", "true"]);
        }
        let e = w.fails(&a);
        assert!(e.contains(want), "{a:?}: {e}");
    }
    let fmt = "{{len .Containers}}";
    assert_eq!(w.ok(&["network", "inspect", "-f", fmt, "r6"]).trim(), "2");
    for (flags, want) in [
        (
            vec!["--ip-range", "fd00:236:8::/120"],
            "not inside subnet fd00:236:9::/64",
        ),
        (
            vec!["--ip-range", "fd00:236:9::100/121"],
            "a /120 or larger",
        ),
        (
            vec![
                "--ip-range",
                "10.236.9.0/28",
                "--ip-range",
                "10.236.9.16/28",
            ],
            "one IPv4 range",
        ),
    ] {
        let mut a = vec![
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.236.9.0/24",
            "--subnet",
            "fd00:236:9::/64",
        ];
        a.extend_from_slice(&flags);
        a.push("bad");
        let e = w.fails(&a);
        assert!(
            e.contains("--ip-range") && e.contains(want),
            "{flags:?}: {e}"
        );
    }
    let e = w.fails(&[
        "network",
        "create",
        "--subnet",
        "10.236.9.0/24",
        "--ip-range",
        "fd00:236:9::/120",
        "bad",
    ]);
    assert!(e.contains("needs --ipv6"), "{e}");
    assert!(!w.ok(&["network", "ls"]).contains("bad"));
}
