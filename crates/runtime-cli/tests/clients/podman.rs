//! Podman with `--runtime` pointing at berth-runtime.

use super::*;

struct Podman {
    bin: PathBuf,
    s: Scratch,
    name: String,
    id: Option<String>,
}

impl Podman {
    /// `podman` with private storage, run dirs and events, cgroupfs and berth-runtime.
    /// Podman passes no `--root` to the runtime (its `--runtime-flag` does not reach the
    /// `container cleanup` exit command), so berth-runtime keeps the state under its
    /// default root; container ids are random 64-hex strings.
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("CONTAINERS_STORAGE_CONF", self.s.path("storage.conf"))
            .arg("--root")
            .arg(self.s.path("root"))
            .arg("--runroot")
            .arg(self.s.path("runroot"))
            .arg("--tmpdir")
            .arg(self.s.path("tmp"))
            .arg("--volumepath")
            .arg(self.s.path("volumes"))
            .args([
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
                "--storage-driver=overlay",
            ])
            .arg("--runtime")
            .arg(runtime());
        c
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.s.run(
            self.cmd()
                .args(["rm", "--force", "--time", "0", &self.name]),
            SHORT,
        );
        if let Some(id) = &self.id {
            let _ = self.s.run(
                Command::new(runtime()).args(["delete", "--force", id]),
                SHORT,
            );
        }
    }
}

#[test]
fn podman() {
    let _lock = serial();
    let Some(bins) = need("podman", &["podman", "conmon", "busybox"]) else {
        return;
    };
    let _timer = Timer::start("podman");
    let s = Scratch::new("podman");
    let storage = format!(
        "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
        s.path("root").display(),
        s.path("runroot").display()
    );
    fs::write(s.path("storage.conf"), storage).unwrap();
    let mut p = Podman {
        bin: bins[0].clone(),
        name: format!("berth-{}", std::process::id()),
        s,
        id: None,
    };
    let (rootfs, _) =
        p.s.image()
            .unwrap_or_else(|e| panic!("building the test image failed: {e}"));
    let s = &p.s;

    must(
        s,
        None,
        "podman import",
        p.cmd().arg("import").arg(&rootfs).arg(IMAGE),
    );

    // The host's hard RLIMIT_NOFILE may be below podman's default (1048576), and raising a
    // hard limit needs CAP_SYS_RESOURCE, which a sandbox may not have (runc fails the same
    // way): ask for limits any root process may set.
    let out = must(
        s,
        None,
        "podman run -d … sleep 1000",
        p.cmd()
            .args(["run", "--detach", "--name", &p.name, "--network", "none"])
            .arg(format!("--cgroup-parent=/{}", s.cgroup))
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                IMAGE,
                "sleep",
                "1000",
            ]),
    );
    let id = out.stdout.trim().to_string();
    p.id = Some(id.clone());
    let s = &p.s;

    let out = must(
        s,
        None,
        "podman inspect",
        p.cmd().args([
            "inspect",
            "--format",
            "{{.OCIRuntime}} {{.State.Pid}} {{.State.Status}}",
            &p.name,
        ]),
    );
    let f: Vec<&str> = out.stdout.split_whitespace().collect();
    if f.len() != 3 || f[0] != runtime() || f[2] != "running" {
        fail(
            s,
            None,
            &format!("podman inspect: want `{} <pid> running`", runtime()),
            Some(&out),
        );
    }
    assert_berth_running(s, None, None, &id, f[1]);

    let out = must(
        s,
        None,
        "podman exec echo hi",
        p.cmd().args(["exec", &p.name, "echo", "hi"]),
    );
    if out.stdout.trim() != "hi" {
        fail(s, None, "podman exec: want `hi` on stdout", Some(&out));
    }

    // sleep as pid 1 ignores SIGTERM: stop sends it, waits 2 s, then SIGKILL
    must(
        s,
        None,
        "podman stop",
        p.cmd().args(["stop", "--time", "2", &p.name]),
    );
    let out = must(
        s,
        None,
        "podman inspect",
        p.cmd()
            .args(["inspect", "--format", "{{.State.Status}}", &p.name]),
    );
    if out.stdout.trim() != "exited" {
        fail(s, None, "podman stop: want status exited", Some(&out));
    }

    must(s, None, "podman rm", p.cmd().args(["rm", &p.name]));
    let out = must(
        s,
        None,
        "podman ps -a",
        p.cmd()
            .args(["ps", "--all", "--format", "{{.ID}}", "--no-trunc"]),
    );
    if out.stdout.contains(&id) {
        fail(
            s,
            None,
            "podman rm: the container is still listed",
            Some(&out),
        );
    }
    assert_berth_gone(s, None, None, &id, &format!("libpod-{id}"));
    p.id = None;
}

// --- containerd ---------------------------------------------------------------------------
