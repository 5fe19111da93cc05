//! Published ports against the real kernel (root): DNAT from the host (bridge address and
//! 127.0.0.1), from an "outside host" namespace the test makes, and from the container to
//! itself (hairpin); udp; `-P`; ranges; `port`, `ps` and `inspect`; bad input; and no rule
//! left after `rm` or a kill -9 of the monitor. Traffic only goes to loopback and to
//! addresses inside namespaces the test made (see `common::networld`).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::networld::World;

/// Serves `hello` over http on port 80.
const SERVE: &str = "busybox mkdir -p /w && echo hello > /w/index.html && \
    exec busybox httpd -f -p 80 -h /w";

/// The same, and echoes udp on port 53 (`berth-check udp-echo`: busybox nc has no udp).
const SERVE_UDP: &str = "mkdir -p /w && echo hello > /w/index.html && \
    httpd -p 80 -h /w && exec berth-check udp-echo 53";

/// A host port nothing listens on now (tcp), and `n - 1` free ones after it.
fn free_ports(n: u16) -> u16 {
    loop {
        let l = TcpListener::bind("0.0.0.0:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 65535 - n && (1..n).all(|i| TcpListener::bind(("0.0.0.0", p + i)).is_ok()) {
            return p;
        }
    }
}

/// `GET /` on `addr`, retried for a few seconds until the server answers `hello`.
#[track_caller]
fn http_get(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut last = String::new();
    while Instant::now() < deadline {
        let got = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match got {
            Ok(out) if out.contains("hello") => return out,
            Ok(out) => last = out,
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no answer from {addr}: {last}");
}

/// The same with busybox nc from a shell (`prefix` runs it: a netns or `berth exec`).
fn nc_get(mut cmd: Command, host: &str, port: u16) -> String {
    let sh = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {host} {port}");
    let o = cmd.args(["sh", "-c", &sh]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn rules(w: &World) -> String {
    let o = Command::new("nft")
        .args(["list", "table", "ip", &w.table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn setup(subnet: u8) -> Option<World> {
    if !common::have("nft", "nftables") {
        return None;
    }
    let mut w = World::new();
    w.network("pn", &["--subnet", &format!("10.234.{subnet}.0/24")]);
    Some(w)
}

#[test]
fn tcp_from_host_localhost_outside_and_hairpin() {
    let Some(mut w) = setup(21) else { return };
    let port = free_ports(1);
    let publish = format!("{port}:80");
    let id = w
        .ok(&[
            "run",
            "-d",
            "--network",
            "pn",
            "--name",
            "web",
            "-p",
            &publish,
            "bb",
            "sh",
            "-c",
            SERVE,
        ])
        .trim()
        .to_string();
    let gw = "10.234.21.1";
    http_get(&format!("{gw}:{port}"));
    http_get(&format!("127.0.0.1:{port}"));

    // An outside host: a namespace joined to the host by a veth, reaching the host's
    // address on that veth.
    w.upstream(21);
    let mut ns = Command::new("ip");
    ns.args(["netns", "exec", &format!("bnu{}", w.tag)]);
    let out = nc_get(ns, "10.233.21.1", port);
    assert!(out.contains("hello"), "from outside: {out}");

    // Hairpin: the container reaches its own published port through the host.
    let mut ex = w.cmd(&["exec", "web"]);
    ex.stdin(std::process::Stdio::null());
    let out = nc_get(ex, gw, port);
    assert!(out.contains("hello"), "hairpin: {out}");

    assert_eq!(
        w.ok(&["port", "web"]).trim(),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    assert_eq!(
        w.ok(&["port", "web", "80/tcp"]).trim(),
        format!("0.0.0.0:{port}")
    );
    let ps = w.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("0.0.0.0:{port}->80/tcp"));
    let ins = w.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}",
        "web",
    ]);
    assert_eq!(
        ins.trim(),
        format!(
            r#"{{"80/tcp":[{{"HostIp":"0.0.0.0","HostPort":"{port}"}}]}} {{"80/tcp":[{{"HostIp":"","HostPort":"{port}"}}]}}"#
        )
    );

    // The port is taken while web runs; web's rule goes with it.
    let e = w.fails(&["run", "-d", "--network", "pn", "-p", &publish, "bb", "true"]);
    assert!(e.contains("already published by container"), "{e}");
    assert!(rules(&w).contains(&format!("berth:{id}")));
    w.ok(&["rm", "-f", "web"]);
    let r = rules(&w);
    assert!(!r.contains(&id) && !r.contains("dnat to"), "{r}");
}

#[test]
fn udp_publish_all_and_ranges() {
    let Some(w) = setup(22) else { return };
    let tar = common::containers::image_tar(&w.env.path("bbx"));
    w.ok(&["import", "-c", "EXPOSE 80 53/udp", common::p(&tar), "bbx"]);
    w.ok(&[
        "run",
        "-d",
        "--network",
        "pn",
        "--name",
        "all",
        "-P",
        "bbx",
        "sh",
        "-c",
        SERVE_UDP,
    ]);
    let ports = w.ok(&["port", "all"]);
    let host_port = |private: &str| -> u16 {
        let line = ports
            .lines()
            .find(|l| l.starts_with(private))
            .expect(&ports);
        line.rsplit(':').next().unwrap().parse().unwrap()
    };
    let (tcp, udp) = (host_port("80/tcp"), host_port("53/udp"));
    assert_eq!(ports.lines().count(), 2, "{ports}");
    http_get(&format!("127.0.0.1:{tcp}"));

    // udp from the host to 127.0.0.1, answered by the container through the DNAT.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut buf = [0u8; 64];
    loop {
        sock.send_to(b"ping-udp", ("127.0.0.1", udp)).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            assert_eq!(&buf[..n], b"ping-udp");
            break;
        }
        assert!(Instant::now() < deadline, "no udp answer on {udp}");
    }

    let p = free_ports(2);
    let range = format!("127.0.0.1:{p}-{}:80-81", p + 1);
    w.ok(&[
        "run",
        "-d",
        "--network",
        "pn",
        "--name",
        "rg",
        "-p",
        &range,
        "bb",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        w.ok(&["port", "rg"]).trim(),
        format!("80/tcp -> 127.0.0.1:{p}\n81/tcp -> 127.0.0.1:{}", p + 1)
    );
}

#[test]
fn bad_input_and_busy_ports_leave_nothing() {
    let Some(w) = setup(23) else { return };
    for v in [
        "0:80",
        "70000:80",
        "8000-8001:80",
        "1:2:3:4",
        "80/sctp",
        "x",
    ] {
        let e = w.fails(&["run", "-d", "--network", "pn", "-p", v, "bb", "true"]);
        assert!(e.contains(&format!("--publish `{v}`")), "{v}: {e}");
    }
    let e = w.fails(&["run", "-d", "--network", "none", "-p", "80", "bb", "true"]);
    assert!(e.contains("--publish"), "{e}");
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let busy = held.local_addr().unwrap().port().to_string();
    let e = w.fails(&[
        "run",
        "-d",
        "--network",
        "pn",
        "-p",
        &format!("{busy}:80"),
        "bb",
        "true",
    ]);
    assert!(e.contains("in use by another process"), "{e}");
    assert_eq!(w.ok(&["ps", "-aq"]).trim(), "", "no container left");
    assert!(!rules(&w).contains("dnat to"), "no rule left");
}

#[test]
fn rules_go_after_kill_9_of_the_monitor_and_rm() {
    let Some(w) = setup(24) else { return };
    let id = w
        .ok(&[
            "run",
            "-d",
            "--network",
            "pn",
            "-p",
            "80",
            "bb",
            "busybox",
            "sleep",
            "60",
        ])
        .trim()
        .to_string();
    assert!(rules(&w).contains(&format!("berth:{id}")));
    // The monitor: `berth __monitor ROOT ...`, and once it has started the container the
    // relay it execs, `berth-monitor ... -- ROOT ...` (same pid).
    let killed = common::procs::monitors(w.env.root.path());
    assert_eq!(killed.len(), 1, "the container's monitor");
    killed.iter().for_each(|p| common::procs::sigkill(*p));
    w.ok(&["rm", "-f", &id]);
    let r = rules(&w);
    assert!(!r.contains(&id) && !r.contains("dnat to"), "{r}");
}
