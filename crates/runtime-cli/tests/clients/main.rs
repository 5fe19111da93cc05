//! Real clients drive berth-runtime end to end: Podman (`--runtime`), containerd (`ctr run
//! --runc-binary` through the io.containerd.runc.v2 shim) and Docker (`dockerd
//! --add-runtime berth=…`, `docker run --runtime berth`).
//!
//! Each test starts its client's daemon (if it has one) with private root, state and socket
//! paths under a fresh directory in /tmp, loads a busybox image built locally by
//! `scripts/clients/make-image.sh` (no registry), creates and starts a container running
//! `sleep 1000`, execs `echo hi` in it, stops it and removes it. It checks that the client
//! recorded berth-runtime as the container's runtime, that berth-runtime's own state held
//! the running container with the client's pid, and that removal went through berth-runtime
//! (its state and the container's cgroup are gone).
//!
//! A test whose client is not installed is skipped with a message on stderr.
//! `scripts/clients/install.sh` installs them; with `CI=true` or `BERTH_CLIENTS_INSTALL=1`
//! the tests run it themselves when a client is missing. Containers, daemons, shims, mounts,
//! cgroups and the directory go away when a test ends, also when it fails
//! (`BERTH_CLIENTS_KEEP=1` keeps the directory for a look). The tests take one lock so the
//! daemons don't compete for the machine's cores.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The runtime under test, as the clients are told to run it: berth-runtime, or the
/// runc-compatible binary `BERTH_CLIENTS_RUNTIME` names (an absolute path; e.g. runc, to
/// check the tests themselves).
fn runtime() -> String {
    std::env::var("BERTH_CLIENTS_RUNTIME")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_berth-runtime").to_string())
}

/// The tag `make-image.sh` gives the test image.
const IMAGE: &str = "localhost/berth-busybox:test";
/// Longest any one client command may take.
const STEP: Duration = Duration::from_secs(30);
/// Longest a clean-up command may take.
const SHORT: Duration = Duration::from_secs(10);
/// Longest a daemon may take to answer after it is started.
const READY: Duration = Duration::from_secs(30);

// --- small helpers -------------------------------------------------------------------

/// Writes a line to the real stderr, past the test harness's output capture, so skips
/// and timings show in `cargo test` output.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// One test at a time: three daemons at once on two cores make timings meaningless.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `name` on PATH or in the usual system directories.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs: Vec<&str> = path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .collect();
    dirs.into_iter().map(|d| Path::new(d).join(name)).find(|p| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Runs `scripts/clients/install.sh` once per test process when a client is missing and
/// the environment asks for it (`CI=true` or `BERTH_CLIENTS_INSTALL=1`).
fn maybe_install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let wanted = std::env::var("CI").as_deref() == Ok("true")
            || std::env::var("BERTH_CLIENTS_INSTALL").as_deref() == Ok("1");
        let missing = ["podman", "ctr", "containerd", "dockerd", "busybox"]
            .iter()
            .any(|b| which(b).is_none());
        if !wanted || !missing {
            return;
        }
        say("clients: a client is missing; running scripts/clients/install.sh");
        let script = repo_root().join("scripts/clients/install.sh");
        match Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
        {
            Ok(o) => say(&format!(
                "clients: install.sh -> {}\n{}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => say(&format!("clients: cannot run {}: {e}", script.display())),
        }
    });
}

/// The binaries a test needs, or the reason to skip it.
fn need(client: &str, bins: &[&str]) -> Option<Vec<PathBuf>> {
    maybe_install();
    let mut found = Vec::new();
    for b in bins {
        match which(b) {
            Some(p) => found.push(p),
            None => {
                say(&format!(
                    "SKIP clients::{client}: `{b}` is not installed (run scripts/clients/install.sh)"
                ));
                return None;
            }
        }
    }
    Some(found)
}

/// Result of one client command.
struct Out {
    what: String,
    /// Exit code; None when killed (timed out) or not started.
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.timed_out {
            "timed out (killed)".to_string()
        } else {
            match self.code {
                Some(c) => format!("exit {c}"),
                None => "did not run".to_string(),
            }
        };
        write!(
            f,
            "{} -> {how}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of a daemon log at level warning or above.
fn problems(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            ["level=warning", "level=error", "level=fatal", "level=panic"]
                .iter()
                .any(|k| l.contains(k))
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `f` every 100 ms until it returns Some or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        sleep(Duration::from_millis(100));
    }
}

/// Pulls a string field out of berth-runtime's `state` JSON.
fn state_field(state: &serde_json::Value, key: &str) -> String {
    match &state[key] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// Decodes standard base64 (containerd prints protobuf `Any` values that way).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

// --- scratch directory: everything a test makes lives here or in its cgroup ---------------

/// A fresh directory under /tmp and a cgroup name, both unique to one test; on drop, kills
/// every process that names the directory on its command line (daemons' children, shims,
/// conmon) or sits in the cgroup, removes the cgroup, unmounts what is mounted below the
/// directory and removes it.
struct Scratch {
    dir: PathBuf,
    /// Cgroup directory name under each hierarchy's root, e.g. `berth-clients-docker-123`.
    cgroup: String,
    n: AtomicUsize,
}

impl Scratch {
    fn new(client: &str) -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag = format!("berth-clients-{client}-{}", std::process::id());
        let dir = PathBuf::from(format!("/tmp/{tag}-{nanos:08x}"));
        fs::create_dir_all(dir.join("out")).expect("create scratch dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o711)).expect("chmod scratch dir");
        Scratch {
            dir,
            cgroup: tag,
            n: AtomicUsize::new(0),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Runs `cmd` with no stdin and its output in files (daemonizing children may keep
    /// pipes open forever); kills it after `timeout`.
    fn run(&self, cmd: &mut Command, timeout: Duration) -> Out {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let (op, ep) = (
            self.dir.join(format!("out/{n}.stdout")),
            self.dir.join(format!("out/{n}.stderr")),
        );
        let what = format!("{cmd:?}");
        let files = File::create(&op).and_then(|o| File::create(&ep).map(|e| (o, e)));
        let spawned = files.and_then(|(o, e)| cmd.stdin(Stdio::null()).stdout(o).stderr(e).spawn());
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return Out {
                    what,
                    code: None,
                    timed_out: false,
                    stdout: String::new(),
                    stderr: format!("spawn: {e}"),
                }
            }
        };
        let end = Instant::now() + timeout;
        let (code, timed_out) = loop {
            match child.try_wait() {
                Ok(Some(st)) => break (st.code(), false),
                Ok(None) if Instant::now() < end => sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break (None, true);
                }
            }
        };
        Out {
            what,
            code,
            timed_out,
            stdout: fs::read_to_string(&op).unwrap_or_default(),
            stderr: fs::read_to_string(&ep).unwrap_or_default(),
        }
    }

    /// Builds the test image into `img/` and returns (rootfs.tar, image.tar).
    fn image(&self) -> Result<(PathBuf, PathBuf), String> {
        let script = repo_root().join("scripts/clients/make-image.sh");
        let out = self.run(
            Command::new("bash")
                .arg(script)
                .arg(self.path("img"))
                .arg(IMAGE),
            STEP,
        );
        if !out.success() {
            return Err(out.to_string());
        }
        Ok((self.path("img/rootfs.tar"), self.path("img/image.tar")))
    }

    /// Contents of the runtime logs (`--log <bundle>/log.json`) and conmon's `oci-log`
    /// files still below the directory.
    fn runtime_logs(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![(self.dir.clone(), 0)];
        while let Some((d, depth)) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    // skip image layers and container root filesystems
                    let skip = [
                        "rootfs",
                        "merged",
                        "diff",
                        "overlay2",
                        "snapshots",
                        "img",
                        "layers",
                    ];
                    if depth < 10 && !skip.contains(&name.as_str()) {
                        stack.push((p, depth + 1));
                    }
                } else if ft.is_file() && (name == "log.json" || name == "oci-log") {
                    let text = fs::read_to_string(&p).unwrap_or_default();
                    if !text.trim().is_empty() {
                        out += &format!("--- {}\n{}\n", p.display(), text.trim_end());
                    }
                }
            }
        }
        if out.is_empty() {
            "(no runtime log file with content below the scratch dir)".into()
        } else {
            out
        }
    }

    /// Mount points at or below the directory, deepest first.
    fn mounts(&self) -> Vec<PathBuf> {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut v: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| PathBuf::from(m.replace("\\040", " ")))
            .filter(|m| m.starts_with(&self.dir))
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        v.dedup();
        v
    }

    /// The cgroup's directory in every hierarchy that has one.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.path().join(&self.cgroup))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// The hierarchies in which the container cgroup `<ours>/<leaf>` still exists.
    fn cgroup_has(&self, leaf: &str) -> Vec<PathBuf> {
        self.cgroup_dirs()
            .into_iter()
            .map(|d| d.join(leaf))
            .filter(|p| p.is_dir())
            .collect()
    }
}

/// Every directory of a cgroup subtree, deepest first.
fn subtree(root: &Path) -> Vec<PathBuf> {
    let mut all = vec![root.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if let Ok(rd) = fs::read_dir(&all[i]) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    all.push(e.path());
                }
            }
        }
        i += 1;
    }
    all.reverse();
    all
}

/// Pids whose command line contains `needle`, other than this process.
fn pids_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let needle = self.dir.to_string_lossy().into_owned();
        for _ in 0..3 {
            let pids = pids_mentioning(&needle);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            sleep(Duration::from_millis(200));
        }
        for cg in self.cgroup_dirs() {
            for d in subtree(&cg) {
                for _ in 0..20 {
                    let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                    for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
                    }
                    // a frozen cgroup keeps its processes from dying
                    if d.join("freezer.state").exists() {
                        let _ = fs::write(d.join("freezer.state"), "THAWED");
                    }
                    if fs::remove_dir(&d).is_ok() || !d.exists() {
                        break;
                    }
                    sleep(Duration::from_millis(100));
                }
            }
        }
        for _ in 0..3 {
            let m = self.mounts();
            if m.is_empty() {
                break;
            }
            for p in m {
                let _ = umount2(&p, MntFlags::MNT_DETACH);
            }
        }
        if std::env::var("BERTH_CLIENTS_KEEP").as_deref() == Ok("1") {
            say(&format!("clients: kept {}", self.dir.display()));
        } else if self.mounts().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            say(&format!(
                "clients: {} still has mounts; left in place",
                self.dir.display()
            ));
        }
    }
}

/// A daemon started by a test; stopped (SIGTERM, then SIGKILL) on drop.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(s: &Scratch, name: &'static str, cmd: &mut Command) -> Daemon {
        let log = s.path(&format!("{name}.log"));
        let f = File::create(&log).expect("daemon log");
        let g = f.try_clone().expect("daemon log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(g)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Daemon { name, child, log }
    }

    /// Waits until `probe` succeeds; panics with the daemon's log if it exits or takes
    /// longer than [`READY`].
    fn wait_ready(&mut self, s: &Scratch, mut probe: impl FnMut() -> Command) {
        let end = Instant::now() + READY;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited during start-up ({st}):\n{}",
                    self.name,
                    tail(&self.log, 60)
                );
            }
            let out = s.run(&mut probe(), SHORT);
            if out.success() {
                return;
            }
            if Instant::now() >= end {
                panic!(
                    "{} not ready after {READY:?}: {out}\n--- {} log\n{}",
                    self.name,
                    self.name,
                    tail(&self.log, 60)
                );
            }
            sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Panics with `msg`, the failed command, the daemon log tail and the runtime's logs.
#[track_caller]
fn fail(s: &Scratch, daemon: Option<&Daemon>, msg: &str, out: Option<&Out>) -> ! {
    let mut m = format!("{msg}\n");
    if let Some(o) = out {
        m += &format!("{o}\n");
    }
    if let Some(d) = daemon {
        m += &format!(
            "--- {} log: warnings and errors (last 30)\n{}\n",
            d.name,
            problems(&d.log, 30)
        );
        m += &format!("--- {} log (last 10 lines)\n{}\n", d.name, tail(&d.log, 10));
    }
    m += &format!("--- runtime logs\n{}", s.runtime_logs());
    panic!("{m}");
}

/// Runs `cmd`; on failure panics with everything that helps tell why.
#[track_caller]
fn must(s: &Scratch, daemon: Option<&Daemon>, step: &str, cmd: &mut Command) -> Out {
    let out = s.run(cmd, STEP);
    if !out.success() {
        fail(s, daemon, &format!("{step} failed"), Some(&out));
    }
    out
}

/// berth-runtime's `state` of `id` under `root` (its default root when None), if it has
/// the container.
fn berth_state(s: &Scratch, root: Option<&Path>, id: &str) -> Option<serde_json::Value> {
    let mut c = Command::new(runtime());
    if let Some(r) = root {
        c.arg("--root").arg(r);
    }
    let out = s.run(c.args(["state", id]), SHORT);
    if !out.success() {
        return None;
    }
    serde_json::from_str(out.stdout.trim()).ok()
}

/// Checks berth-runtime holds `id` as running with init pid `pid`.
#[track_caller]
fn assert_berth_running(s: &Scratch, d: Option<&Daemon>, root: Option<&Path>, id: &str, pid: &str) {
    let Some(st) = berth_state(s, root, id) else {
        let root_s = root
            .map(|r| r.display().to_string())
            .unwrap_or_else(|| "(default)".into());
        fail(
            s,
            d,
            &format!(
                "berth-runtime (--root {root_s}) has no container {id}: the client did not use it"
            ),
            None,
        );
    };
    let (status, spid) = (state_field(&st, "status"), state_field(&st, "pid"));
    if status != "running" || spid != pid {
        fail(s, d, &format!("berth-runtime state of {id}: status {status}, pid {spid}; want running, pid {pid}: {st}"), None);
    }
}

/// Checks removal went through berth-runtime: its state and the container cgroup are gone.
#[track_caller]
fn assert_berth_gone(
    s: &Scratch,
    d: Option<&Daemon>,
    root: Option<&Path>,
    id: &str,
    cgroup_leaf: &str,
) {
    if wait_for(Duration::from_secs(5), || {
        berth_state(s, root, id).is_none().then_some(())
    })
    .is_none()
    {
        fail(
            s,
            d,
            &format!("berth-runtime still has container {id} after the client removed it"),
            None,
        );
    }
    let left = wait_for(Duration::from_secs(5), || {
        let v = s.cgroup_has(cgroup_leaf);
        v.is_empty().then_some(())
    });
    if left.is_none() {
        fail(
            s,
            d,
            &format!(
                "container cgroup left behind after removal: {:?}",
                s.cgroup_has(cgroup_leaf)
            ),
            None,
        );
    }
}

/// Prints how long a test took, and whether it passed, when dropped.
struct Timer {
    client: &'static str,
    t0: Instant,
}

impl Timer {
    fn start(client: &'static str) -> Timer {
        Timer {
            client,
            t0: Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let how = if std::thread::panicking() {
            "FAILED"
        } else {
            "create, exec, stop, remove ok"
        };
        say(&format!(
            "clients::{}: {how} in {:.1?} (runtime {})",
            self.client,
            self.t0.elapsed(),
            runtime()
        ));
    }
}

// --- Podman -----------------------------------------------------------------------------

mod containerd;
mod docker;
mod podman;
