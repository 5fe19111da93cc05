//! What the container tests share: a `Ct` per test with its own store root, a short state
//! dir (unix socket paths must stay under 108 bytes), a cgroup parent of its own and an
//! image `bb` (busybox with every applet linked, a passwd/group file and the static
//! `berth-check` at /bin/berth-check). Dropping a `Ct` removes every container it made,
//! its cgroup parent in every controller, and any mount left under its dirs, even when the
//! test failed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{p, sh, Env};

/// Where cgroup hierarchies are mounted on this host (each v1 controller, `unified`).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One container test's world.
pub struct Ct {
    /// Store root, scratch, credentials.
    pub env: Env,
    /// `--state` (short path under /tmp).
    pub state: tempfile::TempDir,
    /// `BERTH_CGROUP_PARENT`, unique per test: `/berth-test-PID-N`.
    pub cgroup_parent: String,
    /// `BERTH_RUNTIME` (`berth` unless a differential test sets runc or crun).
    pub runtime: String,
}

impl Ct {
    /// A fresh world with the `bb` image, run by berth's own runtime.
    pub fn new() -> Ct {
        Ct::with_runtime("berth")
    }

    /// A fresh world whose containers run through `runtime` (a path, or `berth`).
    pub fn with_runtime(runtime: &str) -> Ct {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let state = tempfile::Builder::new()
            .prefix("bts")
            .tempdir_in("/tmp")
            .unwrap();
        let ct = Ct {
            env: Env::new(),
            state,
            cgroup_parent: format!("/berth-test-{}-{n}", std::process::id()),
            runtime: runtime.to_string(),
        };
        let tar = image_tar(ct.env.work.path());
        ct.ok(&["import", "-c", "CMD [\"sh\"]", p(&tar), "bb"]);
        ct
    }

    /// `berth ARGS` against this world.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("BERTH_STATE", self.state.path())
            .env("BERTH_CGROUP_PARENT", &self.cgroup_parent)
            .env("BERTH_RUNTIME", &self.runtime)
            .env_remove("BERTH_ROOT");
        c
    }

    /// Runs `berth ARGS` with stdin from /dev/null.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// `berth ARGS` must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        super::expect_ok(args, self.berth(args))
    }

    /// `berth ARGS`: (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.berth(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `run -d ARGS`: the new container's id.
    #[track_caller]
    pub fn detached(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        self.ok(&a).trim().to_string()
    }

    /// `inspect -f FORMAT NAME`, trimmed.
    #[track_caller]
    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    /// Container `name`'s status, as `inspect` shows it.
    pub fn status(&self, name: &str) -> String {
        self.inspect(name, "{{.State.Status}}")
    }

    /// Polls until `name`'s status is `want`; panics after `secs`.
    #[track_caller]
    pub fn wait_status(&self, name: &str, want: &str, secs: u64) {
        let mut last = String::new();
        let ok = poll(Duration::from_secs(secs), || {
            last = self.status(name);
            last == want
        });
        assert!(ok, "{name}: status `{last}`, want `{want}`");
    }

    /// The cgroup directory of container `id` in hierarchy `ctrl` (`memory`, `unified`, ...).
    pub fn cgroup(&self, ctrl: &str, id: &str) -> PathBuf {
        self.cgroup_base(ctrl).join(id)
    }

    /// This test's cgroup parent in hierarchy `ctrl`.
    pub fn cgroup_base(&self, ctrl: &str) -> PathBuf {
        Path::new(CGROUP_ROOT)
            .join(ctrl)
            .join(self.cgroup_parent.trim_start_matches('/'))
    }

    /// Every cgroup directory left under this test's parent, in any hierarchy.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let mut out = vec![];
        for h in hierarchies() {
            let base = self.cgroup_base(&h);
            if let Ok(rd) = std::fs::read_dir(&base) {
                out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        out
    }

    /// Mount points under this test's root or state dir.
    pub fn mounts_left(&self) -> Vec<String> {
        let roots = [self.env.root.path(), self.state.path()];
        mount_points()
            .into_iter()
            .filter(|m| roots.iter().any(|r| Path::new(m).starts_with(r)))
            .collect()
    }

    /// Entries of the store's container dirs, container snapshots, names and runtime state.
    pub fn store_left(&self) -> Vec<PathBuf> {
        let root = self.env.root.path();
        let mut out = vec![];
        for d in [
            root.join("containers"),
            root.join("names"),
            root.join("overlay/containers"),
        ] {
            if let Ok(rd) = std::fs::read_dir(&d) {
                out.extend(rd.flatten().map(|e| e.path()));
            }
        }
        out.extend(runtime_state(self.state.path()));
        out
    }

    /// Asserts that nothing of any container is left: no container, snapshot, name,
    /// runtime state, cgroup or mount.
    #[track_caller]
    pub fn assert_clean(&self, what: &str) {
        assert_eq!(
            self.ok(&["ps", "-aq"]).trim(),
            "",
            "{what}: ps -a lists containers"
        );
        assert_eq!(self.store_left(), Vec::<PathBuf>::new(), "{what}: store");
        assert_eq!(
            self.cgroups_left(),
            Vec::<PathBuf>::new(),
            "{what}: cgroups"
        );
        assert_eq!(self.mounts_left(), Vec::<String>::new(), "{what}: mounts");
    }

    /// A file in the scratch dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }

    /// Removes every container (`rm -f`), then whatever a broken engine left: processes
    /// in this test's cgroups (only ours), the cgroups, mounts under our dirs.
    fn cleanup(&self) {
        let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
        }
        for cg in self.cgroups_left() {
            if let Ok(procs) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                for pid in procs.split_whitespace().filter_map(|p| p.parse().ok()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let mut mounts = self.mounts_left();
        mounts.reverse();
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for h in hierarchies() {
            let base = self.cgroup_base(&h);
            poll(Duration::from_secs(5), || {
                for c in std::fs::read_dir(&base).into_iter().flatten().flatten() {
                    if c.path().is_dir() {
                        let _ = std::fs::remove_dir(c.path());
                    }
                }
                let _ = std::fs::remove_dir(&base);
                !base.exists()
            });
        }
    }
}

impl Drop for Ct {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, named ones and
/// `unified`), or just the root on a pure v2 host.
pub fn hierarchies() -> Vec<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter_map(|m| m.strip_prefix(CGROUP_ROOT))
        .filter_map(|m| m.strip_prefix('/'))
        .filter(|m| !m.is_empty() && !m.contains('/'))
        .map(str::to_string)
        .collect();
    if out.is_empty() {
        out.push(String::new());
    }
    out.sort();
    out.dedup();
    out
}

/// Every mount point of this mount namespace.
pub fn mount_points() -> Vec<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(str::to_string)
        .collect()
}

/// Runtime state entries (one dir per container) under every runtime root in `state`.
fn runtime_state(state: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(state).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("runtime") && e.path().is_dir() {
            out.extend(
                std::fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    // The runtime's cache of compiled seccomp programs, shared by all.
                    .filter(|x| x.file_name() != "@seccomp")
                    .map(|x| x.path()),
            );
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Calls `f` every 20 ms until it is true; false when `limit` passed first.
pub fn poll(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The static berth-check, built once per test binary through scripts/build-static.sh
/// (a no-op when fresh); `BERTH_CHECK` names a prebuilt one instead.
pub fn checker() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| static_binary("BERTH_CHECK", "berth-check"))
}

/// The static `berth-monitor` relay that every container's monitor execs into, built like
/// [`checker`]; `BERTH_MONITOR` names a prebuilt one instead.
pub fn monitor() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| static_binary("BERTH_MONITOR", "berth-monitor"))
}

fn static_binary(var: &str, package: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"));
    sh(Command::new(ws.join("scripts/build-static.sh"))
        .args(["-q", "-p", package])
        .current_dir(&ws));
    target
        .join("x86_64-unknown-linux-gnu/release")
        .join(package)
}

/// The `bb` image as a rootfs tar in `dir` (a test's scratch dir, so it goes with the
/// test): busybox with a link per applet in /bin, /etc/passwd and /etc/group (root, `app`
/// 1000:1000, nobody), /tmp, and berth-check.
pub fn image_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "root", "home/app"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = sh(Command::new("/bin/busybox").arg("--list"));
    for applet in list.split_whitespace().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::copy(checker(), root.join("bin/berth-check")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:1500:app\nnogroup:x:65534:\n",
    )
    .unwrap();
    let tar = dir.join("bb.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

/// Runs `berth-check try PROBE` for each probe in one container; the answers, in order.
pub fn probes(ct: &Ct, opts: &[&str], probes: &[&str]) -> Vec<String> {
    let script: Vec<String> = probes
        .iter()
        .map(|pr| format!("berth-check try {pr}"))
        .collect();
    let script = script.join("; ");
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend(["bb", "sh", "-c", &script]);
    let (_, out, err) = ct.run(&args);
    let got: Vec<String> = out.lines().map(str::to_string).collect();
    assert_eq!(got.len(), probes.len(), "{opts:?}: {out}{err}");
    got
}
