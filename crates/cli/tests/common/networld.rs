//! The network tests' world (see `tests/network.rs`): each test has its own store, state
//! dir, cgroup parent, bridge names, nft table and netns, all removed on drop.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{p, Env};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One test's network world: store, bridges, nft table, namespaces, servers.
pub struct World {
    /// The store and scratch dir.
    pub env: Env,
    /// The runtime state dir.
    pub state: tempfile::TempDir,
    /// The cgroup parent.
    pub cgroup: String,
    /// Unique per test, in every name.
    pub tag: String,
    /// The nft table (`BERTH_NFT_TABLE`).
    pub table: String,
    /// Bridges to delete; the first is the default network's.
    pub bridges: Vec<String>,
    /// Other links to delete.
    pub links: Vec<String>,
    /// Namespaces to delete.
    pub netns: Vec<String>,
    /// Processes to kill.
    pub servers: Vec<Child>,
}

impl World {
    /// A fresh world with the busybox image `bb`.
    pub fn new() -> World {
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

    /// `berth` with this world's store and names.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(&["--state", p(self.state.path())]);
        c.args(args)
            .env("BERTH_CGROUP_PARENT", &self.cgroup)
            .env("BERTH_NFT_TABLE", &self.table)
            .env("BERTH_DEFAULT_BRIDGE", &self.bridges[0]);
        c
    }

    /// Runs `berth`.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        super::expect_ok(args, self.berth(args))
    }

    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        super::expect_one_error(args, self.berth(args), None)
    }

    /// `network create` with a bridge name of this test's own.
    pub fn network(&mut self, name: &str, flags: &[&str]) -> String {
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
    pub fn upstream(&mut self, n: u8) -> String {
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
        // Removing the networks stops their name responders at once.
        let _ = self.cmd(&["network", "prune", "-f"]).output();
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for l in self.links.iter().chain(&self.bridges) {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
        for family in ["ip", "ip6"] {
            let _ = Command::new("nft")
                .args(["delete", "table", family, &self.table])
                .stderr(Stdio::null())
                .status();
        }
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
/// Runs `cmd`, which must succeed; its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Whether network device `name` exists.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}
