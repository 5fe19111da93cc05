//! dockerd with `--add-runtime berth=...`.

use super::*;

struct Docker {
    cli: PathBuf,
    s: Scratch,
    name: String,
    daemon: Option<Daemon>,
}

impl Docker {
    fn docker(&self) -> Command {
        let mut c = Command::new(&self.cli);
        c.env("DOCKER_CONFIG", self.s.path("cli"))
            .arg("--host")
            .arg(format!("unix://{}", self.s.path("docker.sock").display()));
        c
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            let _ = self
                .s
                .run(self.docker().args(["rm", "--force", &self.name]), SHORT);
        }
        if let Some(mut d) = self.daemon.take() {
            d.stop();
        }
    }
}

#[test]
fn dockerd() {
    let _lock = serial();
    // Debian's CLI (docker.io) over any other `docker` on PATH
    let Some(mut bins) = need(
        "dockerd",
        &[
            "dockerd",
            "docker",
            "containerd",
            "containerd-shim-runc-v2",
            "busybox",
        ],
    ) else {
        return;
    };
    if Path::new("/usr/bin/docker").is_file() {
        bins[1] = PathBuf::from("/usr/bin/docker");
    }
    let _timer = Timer::start("dockerd");
    let s = Scratch::new("docker");
    let mut k = Docker {
        cli: bins[1].clone(),
        name: format!("berth-{}", std::process::id()),
        s,
        daemon: None,
    };
    let s = &k.s;
    // the daemon's trust key would go to /etc/docker/key.json otherwise
    let conf = format!(
        r#"{{"deprecated-key-path": "{}"}}"#,
        s.path("key.json").display()
    );
    fs::write(s.path("daemon.json"), conf).unwrap();
    let (_, image) = s
        .image()
        .unwrap_or_else(|e| panic!("building the test image failed: {e}"));

    let mut dockerd = Command::new(&bins[0]);
    dockerd
        .arg("--config-file")
        .arg(s.path("daemon.json"))
        .arg("--data-root")
        .arg(s.path("data"))
        .arg("--exec-root")
        .arg(s.path("exec"))
        .arg("--host")
        .arg(format!("unix://{}", s.path("docker.sock").display()))
        .arg("--pidfile")
        .arg(s.path("docker.pid"))
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip6tables=false",
            "--userland-proxy=false",
        ])
        .args([
            "--storage-driver=overlay2",
            "--exec-opt",
            "native.cgroupdriver=cgroupfs",
        ])
        .arg(format!("--cgroup-parent=/{}", s.cgroup))
        .arg("--add-runtime")
        .arg(format!("berth={}", runtime()));
    let mut d = Daemon::spawn(s, "dockerd", &mut dockerd);
    d.wait_ready(s, || {
        let mut v = k.docker();
        v.arg("version");
        v
    });
    k.daemon = Some(d);
    let (s, d) = (&k.s, k.daemon.as_ref());

    must(
        s,
        d,
        "docker load",
        k.docker().arg("load").arg("--input").arg(&image),
    );

    let out = must(
        s,
        d,
        "docker run -d --runtime berth … sleep 1000",
        k.docker().args([
            "run",
            "--detach",
            "--runtime",
            "berth",
            "--name",
            &k.name,
            "--network",
            "none",
            IMAGE,
            "sleep",
            "1000",
        ]),
    );
    let id = out.stdout.trim().to_string();

    let out = must(
        s,
        d,
        "docker inspect",
        k.docker().args([
            "inspect",
            "--format",
            "{{.HostConfig.Runtime}} {{.State.Pid}} {{.State.Status}}",
            &k.name,
        ]),
    );
    let f: Vec<&str> = out.stdout.split_whitespace().collect();
    if f.len() != 3 || f[0] != "berth" || f[2] != "running" {
        fail(
            s,
            d,
            "docker inspect: want `berth <pid> running`",
            Some(&out),
        );
    }
    // dockerd gives the runc shim `<exec-root>/runtime-<runtime>/moby` as the runtime root
    // (20.10 uses runtime-runc for every runtime); find the one that has the container
    let roots: Vec<PathBuf> = fs::read_dir(s.path("exec"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().join("moby"))
                .filter(|p| p.join(&id).is_dir())
                .collect()
        })
        .unwrap_or_default();
    let Some(root) = roots.first() else {
        fail(
            s,
            d,
            &format!(
                "no <exec-root>/runtime-*/moby/{id}: which runtime state dir does dockerd use?"
            ),
            None,
        );
    };
    assert_berth_running(s, d, Some(root), &id, f[1]);

    let out = must(
        s,
        d,
        "docker exec echo hi",
        k.docker().args(["exec", &k.name, "echo", "hi"]),
    );
    if out.stdout.trim() != "hi" {
        fail(s, d, "docker exec: want `hi` on stdout", Some(&out));
    }

    must(
        s,
        d,
        "docker stop",
        k.docker().args(["stop", "--time", "2", &k.name]),
    );
    let out = must(
        s,
        d,
        "docker inspect",
        k.docker()
            .args(["inspect", "--format", "{{.State.Status}}", &k.name]),
    );
    if out.stdout.trim() != "exited" {
        fail(s, d, "docker stop: want status exited", Some(&out));
    }

    must(s, d, "docker rm", k.docker().args(["rm", &k.name]));
    let out = must(
        s,
        d,
        "docker ps -a",
        k.docker().args(["ps", "--all", "--quiet", "--no-trunc"]),
    );
    if out.stdout.contains(&id) {
        fail(s, d, "docker rm: the container is still listed", Some(&out));
    }
    assert_berth_gone(s, d, Some(root), &id, &id);
}
