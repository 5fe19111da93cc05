//! Bridge networks against the real kernel (root): containers on one network reach each
//! other, masquerade to an "upstream" namespace the test makes, `--internal` isolation,
//! `--network none`, the default network, cleanup after `rm`, and bad input. Traffic only
//! goes to addresses inside namespaces the test made. Each test has its own store, state
//! dir, cgroup parent, bridge names (`-o com.docker.network.bridge.name`,
//! `BERTH_DEFAULT_BRIDGE`), nft table (`BERTH_NFT_TABLE`) and netns, all removed on drop.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{p, Env};

static SEQ: AtomicUsize = AtomicUsize::new(0);

struct World {
    env: Env,
    state: tempfile::TempDir,
    cgroup: String,
    tag: String,
    table: String,
    bridges: Vec<String>,
    links: Vec<String>,
    netns: Vec<String>,
    servers: Vec<Child>,
}

impl World {
    fn new() -> World {
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{:x}{seq}", std::process::id() & 0xffff);
        let state = tempfile::Builder::new()
            .prefix("bn")
            .tempdir_in("/tmp")
            .unwrap();
        let w = World {
            env: Env::new(),
            state,
            cgroup: format!("/berth-net-{tag}"),
            table: format!("berth_t{tag}"),
            bridges: vec![format!("bd{tag}")],
            links: vec![],
            netns: vec![],
            servers: vec![],
            tag,
        };
        let tar = w.env.rootfs_tar(false);
        w.ok(&["import", "-c", r#"CMD ["/bin/sh"]"#, p(&tar), "bb"]);
        w
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(&["--state", p(self.state.path())]);
        c.args(args)
            .env("BERTH_CGROUP_PARENT", &self.cgroup)
            .env("BERTH_NFT_TABLE", &self.table)
            .env("BERTH_DEFAULT_BRIDGE", &self.bridges[0]);
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(
            o.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(!o.status.success(), "berth {args:?} should fail");
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
        err
    }

    /// `network create` with a bridge name of this test's own.
    fn network(&mut self, name: &str, flags: &[&str]) -> String {
        let br = format!("b{}{}", name.chars().next().unwrap(), self.tag);
        self.bridges.push(br.clone());
        let opt = format!("com.docker.network.bridge.name={br}");
        let mut a = vec!["network", "create", "-o", &opt];
        a.extend_from_slice(flags);
        a.push(name);
        self.ok(&a);
        br
    }

    /// An "upstream" namespace reached from the host by a veth: host 10.233.N.1/30,
    /// upstream 10.233.N.2/30, serving on port 8080 a CGI that prints the client address
    /// it sees; returns its path.
    fn upstream(&mut self, n: u8) -> String {
        let ns = format!("bnu{}", self.tag);
        let host = format!("bu{}", self.tag);
        self.netns.push(ns.clone());
        self.links.push(host.clone());
        let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
        ip(&["netns", "add", &ns]);
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["addr", "add", &format!("10.233.{n}.1/30"), "dev", &host]);
        ip(&["link", "set", &host, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("10.233.{n}.2/30"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let www = self.env.path("www");
        std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
        let cgi = www.join("cgi-bin/ip");
        std::fs::write(
            &cgi,
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
        )
        .unwrap();
        run_ok(Command::new("chmod").arg("755").arg(&cgi));
        // httpd -f stays in the foreground (`ip netns exec` execs it): killed on drop.
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "busybox",
                "httpd",
                "-f",
                "-p",
                &format!("10.233.{n}.2:8080"),
            ])
            .arg("-h")
            .arg(&www)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.servers.push(server);
        std::thread::sleep(std::time::Duration::from_millis(200));
        "/cgi-bin/ip".to_string()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Ok(o) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for l in self.links.iter().chain(&self.bridges) {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .stderr(Stdio::null())
            .status();
        let rel = self.cgroup.trim_start_matches('/');
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            let mut roots: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            roots.push("/sys/fs/cgroup".into());
            for r in roots {
                let _ = std::fs::remove_dir(r.join(rel));
            }
        }
    }
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

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
    w.fails(&[
        "run",
        "--rm",
        "-p",
        "80:80",
        "--network",
        "n1",
        "bb",
        "true",
    ]);
}
