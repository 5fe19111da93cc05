//! berth's rules beside a host firewall of the host's own (an nftables table with an input
//! or forward policy of drop), as `crates/network/src/nft.rs` documents it. Never on the
//! real host's firewall: berth runs inside a network namespace the test makes (`nsenter
//! --net`, so its bridge, veths, table and the "host firewall" all live there), with an
//! "outside" client namespace joined to it by a veth. Both are removed afterwards.
//!
//! What it shows (nftables base chains: an accept ends only its own chain; a drop in any
//! base chain on the same hook is final):
//! - an input policy of drop (with the usual established/lo accepts) does not block
//!   published ports, outbound masquerade or the host's own 127.0.0.1:port: none of it is
//!   input traffic. It does block containers' queries to their name responder on the
//!   gateway, which is input; berth's accept for it cannot override that drop.
//! - a forward policy of drop blocks published ports from outside, outbound traffic and
//!   (with br_netfilter, which passes bridged IPv4 through the forward hook) traffic
//!   between containers on one network, although berth's own forward chain accepts
//!   them; the host's own 127.0.0.1:port still works (output, not forward).
//! - the host firewall accepting `ct status dnat` and the bridge's traffic in its forward
//!   chain (the documented remedy) makes all of it work again.

mod common;

use std::process::Command;

use common::networld::{run_ok, World};

/// This world's `berth ARGS` inside network namespace `ns`: `nsenter --net`, which
/// changes nothing else (`ip netns exec` would also remount /sys, hiding the cgroup
/// mounts berth needs).
fn berth_in(w: &World, ns: &str, args: &[&str]) -> Command {
    let c = w.cmd(args);
    let mut n = Command::new("nsenter");
    n.arg(format!("--net=/run/netns/{ns}"))
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            n.env(k, v);
        }
    }
    n.stdin(std::process::Stdio::null());
    n
}

#[track_caller]
fn ok_in(w: &World, ns: &str, args: &[&str]) -> String {
    common::expect_ok(args, berth_in(w, ns, args).output().unwrap())
}

/// `GET PATH` from `HOST:PORT` with busybox nc in `cmd` (a netns or `berth exec`; busybox
/// wget crashes on Debian 12): the body, or None when nothing answered.
fn get(mut cmd: Command, host: &str, port: u16, path: &str) -> Option<String> {
    let sh = format!("printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 {host} {port}");
    let o = cmd.args(["sh", "-c", &sh]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (_, body) = out.split_once("\r\n\r\n")?;
    Some(body.trim().to_string())
}

fn in_ns(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]);
    c
}

/// What works, as `[outside -> published, container -> outside (masqueraded as),
/// host -> 127.0.0.1:published, container -> container, container -> name responder]`.
fn probe(w: &World, ns: &str, client: &str) -> [Option<String>; 5] {
    let exec = |ct: &str| {
        let mut c = berth_in(w, ns, &["exec", ct]);
        c.stdin(std::process::Stdio::null());
        c
    };
    let dns = {
        let mut c = exec("cli");
        c.args(["busybox", "nslookup", "web"]);
        let o = c.output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        (o.status.success() && out.contains("10.236.0.")).then_some("resolved".to_string())
    };
    [
        get(in_ns(client), "10.235.0.1", 8080, "/"),
        get(exec("cli"), "10.235.0.2", 8080, "/cgi-bin/ip"),
        get(in_ns(ns), "127.0.0.1", 8080, "/"),
        get(exec("cli"), "10.236.0.2", 80, "/"),
        dns,
    ]
}

fn host_firewall(ns: &str, rules: &str) {
    let script = format!(
        "table inet hostfw {{}}\ndelete table inet hostfw\ntable inet hostfw {{\n{rules}\n}}\n"
    );
    let mut c = in_ns(ns);
    c.args(["nft", "-f", "-"])
        .stdin(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nft -f: {script}");
}

/// The "host" namespace berth runs in and an "outside" one joined to it by a veth
/// (host 10.235.0.1/30, outside 10.235.0.2/30), serving on port 8080 a CGI that prints
/// the client address it sees; their names.
fn namespaces(w: &mut World) -> (String, String) {
    let ns = format!("bfw{}", w.tag);
    let client = format!("bfc{}", w.tag);
    w.netns.push(ns.clone());
    w.netns.push(client.clone());
    let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
    ip(&["netns", "add", &ns]);
    ip(&["netns", "add", &client]);
    ip(&[
        "-n", &ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", &client,
    ]);
    ip(&["-n", &ns, "addr", "add", "10.235.0.1/30", "dev", "eth1"]);
    ip(&["-n", &client, "addr", "add", "10.235.0.2/30", "dev", "eth0"]);
    for (n, dev) in [
        (&ns, "eth1"),
        (&ns, "lo"),
        (&client, "eth0"),
        (&client, "lo"),
    ] {
        ip(&["-n", n, "link", "set", dev, "up"]);
    }
    // The outside serves a CGI that prints the client address it sees.
    let www = w.env.path("www");
    std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
    let cgi = www.join("cgi-bin/ip");
    std::fs::write(
        &cgi,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
    )
    .unwrap();
    run_ok(Command::new("chmod").arg("755").arg(&cgi));
    let server = in_ns(&client)
        .args(["busybox", "httpd", "-f", "-p", "10.235.0.2:8080", "-h"])
        .arg(&www)
        .spawn()
        .unwrap();
    w.servers.push(server);
    (ns, client)
}

/// In `ns`: network `fw` (10.236.0.0/24) with `web` (http on 80, published as 8080, at
/// 10.236.0.2) and `cli`; its bridge.
fn containers(w: &World, ns: &str) -> String {
    let br = format!("bf{}", w.tag);
    let opt = format!("com.docker.network.bridge.name={br}");
    ok_in(
        w,
        ns,
        &[
            "network",
            "create",
            "-o",
            &opt,
            "--subnet",
            "10.236.0.0/24",
            "fw",
        ],
    );
    let serve =
        "busybox mkdir -p /w && echo hello > /w/index.html && exec busybox httpd -f -p 80 -h /w";
    ok_in(
        w,
        ns,
        &[
            "run",
            "-d",
            "--network",
            "fw",
            "--name",
            "web",
            "-p",
            "8080:80",
            "bb",
            "sh",
            "-c",
            serve,
        ],
    );
    ok_in(
        w,
        ns,
        &[
            "run",
            "-d",
            "--network",
            "fw",
            "--name",
            "cli",
            "bb",
            "busybox",
            "sleep",
            "300",
        ],
    );
    br
}

#[test]
fn a_host_firewall_in_its_own_table_and_berths_rules() {
    if !common::have("nft", "nftables") {
        return;
    }
    let mut w = World::new();
    let (ns, client) = namespaces(&mut w);
    let br = containers(&w, &ns);
    // The bridge and the table are the namespace's, not the host's.
    assert!(!common::networld::link_exists(&br));
    let listed = run_ok(in_ns(&ns).args(["nft", "list", "table", "ip", &w.table]));
    assert!(listed.contains("dnat to 10.236.0.2:80"), "{listed}");

    let hello = || Some("hello".to_string());
    let masq = || Some("10.235.0.1".to_string());
    let all = [hello(), masq(), hello(), hello(), Some("resolved".into())];
    // The server may need a moment; the first probe retries until it answers.
    let mut got = probe(&w, &ns, &client);
    for _ in 0..20 {
        if got == all {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        got = probe(&w, &ns, &client);
    }
    assert_eq!(got, all, "no host firewall: everything works");

    let est = "ct state established,related accept";
    host_firewall(
        &ns,
        &format!("chain input {{ type filter hook input priority filter; policy drop; {est}; iif lo accept; }}"),
    );
    assert_eq!(
        probe(&w, &ns, &client),
        [hello(), masq(), hello(), hello(), None],
        "input policy drop: only the name responder (input) is blocked"
    );

    host_firewall(
        &ns,
        &format!(
            "chain forward {{ type filter hook forward priority filter; policy drop; {est}; }}"
        ),
    );
    let bridged = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1");
    let got = probe(&w, &ns, &client);
    let c2c = if bridged { None } else { hello() };
    assert_eq!(
        got,
        [None, None, hello(), c2c, Some("resolved".into())],
        "forward policy drop: published ports and outbound blocked despite berth's accepts \
         (br_netfilter: {bridged})"
    );

    host_firewall(
        &ns,
        &format!(
            "chain forward {{ type filter hook forward priority filter; policy drop; {est}; \
             ct status dnat accept; iifname \"{br}\" accept; }}"
        ),
    );
    assert_eq!(
        probe(&w, &ns, &client),
        all,
        "forward policy drop with the documented accepts: everything works"
    );

    for ct in ["web", "cli"] {
        ok_in(&w, &ns, &["rm", "-f", ct]);
    }
    ok_in(&w, &ns, &["network", "rm", "fw"]);
}
