//! containerd: `ctr run --runc-binary` through the io.containerd.runc.v2 shim.

use super::*;

struct Containerd {
    ctr: PathBuf,
    s: Scratch,
    ns: String,
    id: String,
    daemon: Option<Daemon>,
}

impl Containerd {
    fn ctr(&self) -> Command {
        let mut c = Command::new(&self.ctr);
        c.arg("--address")
            .arg(self.s.path("containerd.sock"))
            .arg("--namespace")
            .arg(&self.ns);
        c
    }

    /// The task's status and pid from `ctr task ls`.
    fn task(&self) -> Option<(String, String)> {
        let out = self.s.run(self.ctr().args(["task", "ls"]), SHORT);
        out.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == self.id).then(|| (f[2].to_string(), f[1].to_string()))
        })
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            let _ = self.s.run(
                self.ctr()
                    .args(["task", "kill", "--signal", "SIGKILL", &self.id]),
                SHORT,
            );
            let _ = self.s.run(
                self.ctr().args(["task", "delete", "--force", &self.id]),
                SHORT,
            );
            let _ = self
                .s
                .run(self.ctr().args(["containers", "delete", &self.id]), SHORT);
        }
        if let Some(mut d) = self.daemon.take() {
            d.stop();
        }
    }
}

#[test]
fn containerd() {
    let _lock = serial();
    let Some(bins) = need(
        "containerd",
        &["containerd", "ctr", "containerd-shim-runc-v2", "busybox"],
    ) else {
        return;
    };
    let _timer = Timer::start("containerd");
    let s = Scratch::new("containerd");
    let ns = s.cgroup.clone();
    let mut c = Containerd {
        ctr: bins[1].clone(),
        ns,
        id: format!("berth-{}", std::process::id()),
        s,
        daemon: None,
    };
    let s = &c.s;
    let config = format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
temp = "{d}/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
"#,
        d = s.dir.display()
    );
    fs::create_dir_all(s.path("tmp")).unwrap();
    fs::write(s.path("config.toml"), config).unwrap();
    let (_, image) = s
        .image()
        .unwrap_or_else(|e| panic!("building the test image failed: {e}"));

    let mut d = Daemon::spawn(
        s,
        "containerd",
        Command::new(&bins[0])
            .arg("--config")
            .arg(s.path("config.toml")),
    );
    d.wait_ready(s, || {
        let mut v = c.ctr();
        v.arg("version");
        v
    });
    c.daemon = Some(d);
    let (s, d) = (&c.s, c.daemon.as_ref());

    must(
        s,
        d,
        "ctr images import",
        c.ctr().args(["images", "import"]).arg(&image),
    );

    let runc_root = s.path("berth-root");
    let fifo = s.path("fifo");
    must(
        s,
        d,
        "ctr run -d --runc-binary berth-runtime … sleep 1000",
        c.ctr()
            .args(["run", "--detach", "--null-io"])
            .arg("--fifo-dir")
            .arg(&fifo)
            .arg("--runc-binary")
            .arg(runtime())
            .arg("--runc-root")
            .arg(&runc_root)
            .arg("--cgroup")
            .arg(format!("/{}/{}", s.cgroup, c.id))
            .args([IMAGE, &c.id, "sleep", "1000"]),
    );

    let Some((status, pid)) = wait_for(Duration::from_secs(10), || {
        c.task().filter(|t| t.0 == "RUNNING")
    }) else {
        let out = s.run(c.ctr().args(["task", "ls"]), SHORT);
        fail(s, d, "the task is not RUNNING", Some(&out));
    };
    assert_eq!(status, "RUNNING");

    // containerd's record: the runc shim with options naming berth-runtime
    let out = must(
        s,
        d,
        "ctr containers info",
        c.ctr().args(["containers", "info", &c.id]),
    );
    let info: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("ctr info JSON: {e}: {out}"));
    let opts = base64_decode(info["Runtime"]["Options"]["value"].as_str().unwrap_or(""));
    if info["Runtime"]["Name"] != "io.containerd.runc.v2"
        || !String::from_utf8_lossy(&opts).contains(&runtime())
    {
        fail(
            s,
            d,
            "container's runtime is not io.containerd.runc.v2 with BinaryName berth-runtime",
            Some(&out),
        );
    }
    // the runc shim keeps runtime state under <runc-root>/<namespace>
    let root = runc_root.join(&c.ns);
    assert_berth_running(s, d, Some(&root), &c.id, &pid);

    let out = must(
        s,
        d,
        "ctr task exec echo hi",
        c.ctr()
            .args(["task", "exec"])
            .arg("--fifo-dir")
            .arg(&fifo)
            .args(["--exec-id", "hi", &c.id, "echo", "hi"]),
    );
    if out.stdout.trim() != "hi" {
        fail(s, d, "ctr task exec: want `hi` on stdout", Some(&out));
    }

    // stop as `docker stop` does: SIGTERM, 2 s grace (sleep as pid 1 ignores it), SIGKILL
    must(s, d, "ctr task kill", c.ctr().args(["task", "kill", &c.id]));
    if wait_for(Duration::from_secs(2), || {
        c.task().filter(|t| t.0 == "STOPPED")
    })
    .is_none()
    {
        must(
            s,
            d,
            "ctr task kill -s SIGKILL",
            c.ctr().args(["task", "kill", "--signal", "SIGKILL", &c.id]),
        );
    }
    if wait_for(Duration::from_secs(10), || {
        c.task().filter(|t| t.0 == "STOPPED")
    })
    .is_none()
    {
        let out = s.run(c.ctr().args(["task", "ls"]), SHORT);
        fail(s, d, "the task did not stop after SIGKILL", Some(&out));
    }

    must(
        s,
        d,
        "ctr task delete",
        c.ctr().args(["task", "delete", &c.id]),
    );
    must(
        s,
        d,
        "ctr containers delete",
        c.ctr().args(["containers", "delete", &c.id]),
    );
    let out = must(
        s,
        d,
        "ctr containers ls",
        c.ctr().args(["containers", "ls", "--quiet"]),
    );
    if out.stdout.lines().any(|l| l.trim() == c.id) {
        fail(
            s,
            d,
            "ctr containers delete: the container is still listed",
            Some(&out),
        );
    }
    assert_berth_gone(s, d, Some(&root), &c.id, &c.id);
}

// --- Docker -------------------------------------------------------------------------------
