//! Test harness shared by the black-box suites: a busybox bundle, a wrapper around any
//! runc-compatible runtime binary, and guards that leave nothing behind.
//!
//! The runtime under test is `berth-runtime` unless `BERTH_TEST_RUNTIME` names another
//! one (`runc`, `crun`, or a path). Differential tests run the same bundle through the
//! runtime under test and the reference runtimes (runc, crun).
//!
//! Every runtime instance gets a private `--root`; every container id and cgroup path
//! carries the test process id and a counter, so tests run in parallel with the default
//! `--test-threads`. Drop guards delete containers (`delete --force`), kill and remove
//! their cgroups, and remove the bundle, also when the test panics.

#![allow(dead_code, unused_imports)]

mod bundle;
mod guards;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use bundle::Bundle;
pub use guards::{ConsoleSocket, NetNs, NsHolder};
use serde_json::Value;

/// How long one runtime command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// A name unique to this test process: `<tag>-<pid>-<n>`; valid as a container id and a
/// cgroup directory name.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Which runtime a [`Runtime`] wraps; used where runtimes legitimately differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// This repository's `berth-runtime`.
    Berth,
    /// Debian's runc.
    Runc,
    /// Debian's crun, run in a private mount namespace (see [`Runtime::new`]).
    Crun,
    /// Any other runc-compatible binary named by path in `BERTH_TEST_RUNTIME`.
    Other,
}

/// Output of one runtime command.
#[derive(Debug)]
pub struct Out {
    /// The command line, for messages.
    pub what: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
}

impl Out {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Exit code, if the command exited rather than being killed.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the command's output unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panics unless it exited non-zero.
    #[track_caller]
    pub fn failed(self) -> Self {
        assert!(!self.success(), "command should have failed: {self}");
        self
    }

    /// Stdout parsed as one JSON value (a terminal adds `\r`, which is trimmed).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }

    /// Asserts an error was reported as exactly one non-empty line on stderr, and
    /// returns it.
    #[track_caller]
    pub fn one_error_line(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "want exactly one error line on stderr: {self}"
        );
        lines[0].to_string()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// A runc-compatible runtime binary with a private `--root`; deletes every container it
/// created when dropped.
pub struct Runtime {
    kind: Kind,
    bin: PathBuf,
    dir: tempfile::TempDir,
    ids: Mutex<Vec<(String, Option<String>)>>,
    calls: AtomicUsize,
}

impl Runtime {
    /// The runtime under test: `BERTH_TEST_RUNTIME` (`berth-runtime`, `runc`, `crun`),
    /// default `berth-runtime`.
    pub fn under_test() -> Runtime {
        let name = std::env::var("BERTH_TEST_RUNTIME").unwrap_or_default();
        match name.as_str() {
            "" | "berth" | "berth-runtime" => Runtime::new(Kind::Berth),
            "runc" => Runtime::new(Kind::Runc),
            "crun" => Runtime::new(Kind::Crun),
            path if path.starts_with('/') => Runtime::with_binary(Kind::Other, PathBuf::from(path)),
            other => panic!(
                "BERTH_TEST_RUNTIME={other}: want berth-runtime, runc, crun or an absolute path"
            ),
        }
    }

    /// The runtime under test followed by the reference runtimes it is compared with.
    pub fn differential() -> Vec<Runtime> {
        let under = Runtime::under_test();
        let mut all = vec![under];
        for k in [Kind::Runc, Kind::Crun] {
            if all[0].kind != k {
                all.push(Runtime::new(k));
            }
        }
        all
    }

    /// A runtime of `kind` with a fresh `--root`.
    ///
    /// crun refuses a hybrid cgroup host whose cgroup2 mount lists controllers (here it
    /// lists hugetlb), so it runs in a private mount namespace where
    /// `/sys/fs/cgroup/unified/cgroup.controllers` is /dev/null: that makes crun treat the
    /// host as plain v1. Nothing outside that one crun process sees the bind mount.
    pub fn new(kind: Kind) -> Runtime {
        let bin = match kind {
            Kind::Berth => PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime")),
            Kind::Runc => which("runc"),
            Kind::Crun => which("crun"),
            Kind::Other => panic!("Kind::Other needs a path: Runtime::with_binary"),
        };
        Runtime::with_binary(kind, bin)
    }

    /// A runtime of `kind` at `bin` with a fresh `--root`.
    pub fn with_binary(kind: Kind, bin: PathBuf) -> Runtime {
        let dir = tempfile::Builder::new()
            .prefix("berth-root-")
            .tempdir()
            .expect("tempdir for --root");
        fs::create_dir(dir.path().join("root")).expect("mkdir root");
        fs::create_dir(dir.path().join("io")).expect("mkdir io");
        if kind == Kind::Crun {
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                eprintln!(
                    "note: crun runs under `unshare -m` with /sys/fs/cgroup/unified/cgroup.controllers \
                     bind-mounted from /dev/null (crun refuses this hybrid cgroup host otherwise)"
                )
            });
        }
        Runtime {
            kind,
            bin,
            dir,
            ids: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
        }
    }

    /// Which runtime this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Berth => "berth-runtime",
            Kind::Runc => "runc",
            Kind::Crun => "crun",
            Kind::Other => "runtime",
        }
    }

    /// The private state directory passed as `--root`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The command for `args`, with `--root` and (for crun) the mount-namespace wrapper.
    pub fn command(&self, args: &[&str]) -> Command {
        let root = self.root();
        let mut full: Vec<&str> = vec!["--root", root.to_str().expect("utf-8 root")];
        full.extend_from_slice(args);
        match self.kind {
            Kind::Crun => {
                let mut c = Command::new("unshare");
                // Only where the hybrid layout exists: a pure v2 host has no unified/.
                c.args(["-m", "sh", "-c"])
                    .arg(concat!(
                        "f=/sys/fs/cgroup/unified/cgroup.controllers; ",
                        r#"if [ -n "$(cat $f 2>/dev/null)" ]; then mount --bind /dev/null $f || exit 125; fi; "#,
                        r#"exec "$0" "$@""#
                    ))
                    .arg(&self.bin)
                    .args(&full);
                c
            }
            _ => {
                let mut c = Command::new(&self.bin);
                c.args(&full);
                c
            }
        }
    }

    /// Runs the runtime with `args`, capturing stdout and stderr, stdin at EOF.
    pub fn cmd(&self, args: &[&str]) -> Out {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let base = self.dir.path().join("io").join(n.to_string());
        self.cmd_to(
            args,
            &base.with_extension("out"),
            &base.with_extension("err"),
        )
    }

    /// Runs the runtime with stdout and stderr appended to the given files (which the
    /// container inherits on `create`/`run -d`), then reads them back.
    ///
    /// Stdin is a pipe closed at once (EOF), never the host's /dev/null: with a user
    /// namespace runtimes chown the container's stdio to the container's root, and
    /// crun 1.8 does so even for /dev/null, which would hand the host's /dev/null to uid
    /// 100000.
    pub fn cmd_to(&self, args: &[&str], out: &Path, err: &Path) -> Out {
        self.cmd_full(args, out, err, None)
    }

    /// Runs the runtime with `input` on stdin (e.g. `update --resources -`).
    pub fn cmd_input(&self, args: &[&str], input: &str) -> Out {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let base = self.dir.path().join("io").join(n.to_string());
        let inp = base.with_extension("in");
        fs::write(&inp, input).expect("write stdin file");
        self.cmd_full(
            args,
            &base.with_extension("out"),
            &base.with_extension("err"),
            Some(&inp),
        )
    }

    fn cmd_full(&self, args: &[&str], out: &Path, err: &Path, stdin: Option<&Path>) -> Out {
        self.note_ids(args);
        let open = |p: &Path| {
            File::options()
                .create(true)
                .append(true)
                .open(p)
                .expect("open output file")
        };
        let skip_out = fs::metadata(out).map(|m| m.len()).unwrap_or(0) as usize;
        let skip_err = fs::metadata(err).map(|m| m.len()).unwrap_or(0) as usize;
        let mut cmd = self.command(args);
        let input = match stdin {
            Some(p) => Stdio::from(File::open(p).expect("open stdin file")),
            None => Stdio::piped(),
        };
        cmd.stdin(input).stdout(open(out)).stderr(open(err));
        let what = format!("{} {}", self.name(), args.join(" "));
        let status = wait_timeout(&mut cmd, COMMAND_TIMEOUT, &what);
        let read = |p: &Path, skip: usize| {
            let all = fs::read(p).unwrap_or_default();
            String::from_utf8_lossy(&all[skip.min(all.len())..]).into_owned()
        };
        Out {
            what,
            status,
            stdout: read(out, skip_out),
            stderr: read(err, skip_err),
        }
    }

    /// Remembers container ids of create/run so that Drop deletes them.
    fn note_ids(&self, args: &[&str]) {
        // The verb is the first word that is neither a global flag nor its value.
        let mut i = 0;
        while i < args.len() && args[i].starts_with('-') {
            i += if matches!(args[i], "--log" | "--log-format" | "--root") {
                2
            } else {
                1
            };
        }
        let verb = i;
        if !matches!(args.get(verb), Some(&"create" | &"run")) {
            return;
        }
        if let Some(id) = args.last().filter(|_| args.len() > verb + 1) {
            let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
            if !ids.iter().any(|(i, _)| i == id) {
                let plain = !id.contains('/') && !id.contains("..") && !id.is_empty();
                ids.push((id.to_string(), plain.then(|| format!("/{id}"))));
            }
        }
    }

    /// `create --bundle B ID` with the container's stdio on the bundle's log files.
    pub fn create(&self, bundle: &Bundle, id: &str) -> Out {
        self.create_with(bundle, id, &[])
    }

    /// `create` with extra flags (e.g. `--pid-file F`, `--console-socket S`).
    pub fn create_with(&self, bundle: &Bundle, id: &str, extra: &[&str]) -> Out {
        bundle.write_config(id);
        let b = bundle.path().to_str().expect("utf-8 bundle");
        let mut args = vec!["create", "--bundle", b];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd_to(&args, &bundle.stdout_path(), &bundle.stderr_path())
    }

    /// `start ID`.
    pub fn start(&self, id: &str) -> Out {
        self.cmd(&["start", id])
    }

    /// `run --bundle B ID` in the foreground; stdout is the container's.
    pub fn run(&self, bundle: &Bundle, id: &str) -> Out {
        bundle.write_config(id);
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let base = self.dir.path().join("io").join(format!("run{n}"));
        let b = bundle.path().to_str().expect("utf-8 bundle");
        self.cmd_to(
            &["run", "--bundle", b, id],
            &base.with_extension("out"),
            &base.with_extension("err"),
        )
    }

    /// `run -d --bundle B ID`; the container's stdio goes to the bundle's log files.
    pub fn run_detached(&self, bundle: &Bundle, id: &str) -> Out {
        bundle.write_config(id);
        let b = bundle.path().to_str().expect("utf-8 bundle");
        self.cmd_to(
            &["run", "-d", "--bundle", b, id],
            &bundle.stdout_path(),
            &bundle.stderr_path(),
        )
    }

    /// `state ID` parsed; panics if the command fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        self.cmd(&["state", id]).ok().json()
    }

    /// `state ID` → `.status`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or("<none>")
            .to_string()
    }

    /// Polls `state` until `.status` is `want` or the timeout passes.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let mut last = String::new();
        let ok = wait_until(timeout, || {
            last = self.status(id);
            last == want
        });
        assert!(
            ok,
            "{}: container {id} stayed `{last}`, want `{want}`",
            self.name()
        );
    }

    /// `kill ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: &str) -> Out {
        self.cmd(&["kill", id, signal])
    }

    /// `delete ID`.
    pub fn delete(&self, id: &str) -> Out {
        self.cmd(&["delete", id])
    }

    /// `delete --force ID`.
    pub fn delete_force(&self, id: &str) -> Out {
        self.cmd(&["delete", "--force", id])
    }

    /// `exec ID ARGS...`, waiting for the process; stdout is the process's.
    pub fn exec(&self, id: &str, args: &[&str]) -> Out {
        let mut a = vec!["exec", id];
        a.extend_from_slice(args);
        self.cmd(&a)
    }

    /// Runs `berth-check ARGS` in a fresh container in the foreground and returns its
    /// output; the bundle's args are replaced.
    pub fn run_check(&self, bundle: &mut Bundle, args: &[&str]) -> Out {
        bundle.check(args);
        let id = unique("chk");
        let out = self.run(bundle, &id);
        self.forget(&id);
        out
    }

    /// `berth-check report [extra]` in a fresh container; panics unless it succeeds.
    #[track_caller]
    pub fn report(&self, bundle: &mut Bundle, extra: &[&str]) -> Value {
        let mut args = vec!["report"];
        args.extend_from_slice(extra);
        self.run_check(bundle, &args).ok().json()
    }

    /// Deletes `id` now (force) and stops tracking it.
    pub fn forget(&self, id: &str) {
        let _ = self.delete_force(id);
        if !id.contains('/') {
            remove_cgroup(&format!("/{id}"));
        }
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(i, _)| i != id);
    }

    /// Cgroup directories of `cgroup_path` that exist on this host (any hierarchy).
    pub fn cgroup_dirs(cgroup_path: &str) -> Vec<PathBuf> {
        cgroup_mounts()
            .into_iter()
            .map(|m| m.join(cgroup_path.trim_start_matches('/')))
            .filter(|p| p.exists())
            .collect()
    }
}

impl Runtime {
    /// `delete --force ID` that never panics (for Drop, which may run while unwinding).
    fn quiet_delete(&self, id: &str) {
        let mut cmd = self.command(&["delete", "--force", id]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else { return };
        let end = Instant::now() + COMMAND_TIMEOUT;
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()));
        for (id, cg) in ids {
            self.quiet_delete(&id);
            if let Some(cg) = cg {
                remove_cgroup(&cg);
            }
        }
    }
}

/// Mount points of every cgroup (v1 and v2) hierarchy on this host.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let target = left.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(target))
        })
        .collect()
}

/// Kills whatever is left in `cgroup_path` in every hierarchy and removes the directories
/// (children first). Used by guards; a correct runtime leaves nothing to do.
pub fn remove_cgroup(cgroup_path: &str) {
    if cgroup_path.split('/').any(|c| c == "..") {
        return;
    }
    for dir in Runtime::cgroup_dirs(cgroup_path) {
        let mut dirs = Vec::new();
        collect_dirs(&dir, &mut dirs);
        for d in dirs.iter().rev() {
            for _ in 0..50 {
                let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                for pid in procs
                    .split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                // A frozen v1 cgroup holds killed tasks until thawed.
                let _ = fs::write(d.join("freezer.state"), "THAWED");
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// Runs `cmd`, killing it after `timeout` (the test then fails).
pub fn wait_timeout(cmd: &mut Command, timeout: Duration, what: &str) -> ExitStatus {
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn `{what}`: {e}"));
    drop(child.stdin.take());
    let end = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `f` every 10 ms until it returns true or `timeout` passes; returns the last result.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Absolute path of a program on PATH (or the usual sbin dirs); panics if missing.
pub fn which(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("`{name}` not found: run ./scripts/test.sh, which installs it"))
}

/// The static berth-check binary, built once per test binary (a no-op when fresh).
///
/// `BERTH_CHECK` points at a prebuilt one instead.
pub fn checker() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(p) = std::env::var("BERTH_CHECK") {
            return PathBuf::from(p);
        }
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| ws.join("target"));
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&ws)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .args([
                "build",
                "-q",
                "-p",
                "berth-check",
                "--release",
                "--target",
                "x86_64-unknown-linux-gnu",
            ])
            .status()
            .expect("run cargo to build berth-check");
        assert!(status.success(), "building the static berth-check failed");
        target.join("x86_64-unknown-linux-gnu/release/berth-check")
    })
}

/// The checker binary's bytes, read once per test process. Bundles are written from
/// this copy, so a concurrent `cargo build` replacing the file (other engineers, other
/// test binaries) cannot hand a bundle a missing or half-written binary.
pub fn checker_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = checker();
        let mut last = String::new();
        for _ in 0..100 {
            match fs::read(path) {
                Ok(b)
                    if b.starts_with(b"\x7fELF")
                        && fs::metadata(path).map(|m| m.len()).ok() == Some(b.len() as u64) =>
                {
                    return b;
                }
                Ok(b) => last = format!("{} bytes, not a complete ELF yet", b.len()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("read {}: {last}", path.display())
    })
}

/// The current process's namespace inode for `ns` (e.g. `net`).
pub fn host_ns(ns: &str) -> u64 {
    ns_inode(&format!("/proc/self/ns/{ns}"))
}

/// Inode of a namespace file (a /proc/PID/ns link or a bind mount of one).
pub fn ns_inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .ino()
}

/// Asserts that nothing of container `id` survives: no entry named after it under the
/// runtime's `--root`, no cgroup directory, no process in the bundle's rootfs.
#[track_caller]
pub fn assert_no_leftovers(rt: &Runtime, id: &str, bundle: &Bundle) {
    let mut found = Vec::new();
    find_named(&rt.root(), id, &mut found);
    assert!(
        found.is_empty(),
        "{}: state left under --root: {found:?}",
        rt.name()
    );
    let cg = Runtime::cgroup_dirs(&format!("/{id}"));
    assert!(cg.is_empty(), "{}: cgroup dirs left: {cg:?}", rt.name());
    let procs = processes_in(bundle);
    assert!(
        procs.is_empty(),
        "{}: processes left in the bundle: {procs:?}",
        rt.name()
    );
}

fn find_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().contains(name) {
                out.push(e.path());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                find_named(&e.path(), name, out);
            }
        }
    }
}

/// Pids whose root or cwd is inside the bundle (a container, or a runtime helper that
/// entered it).
pub fn processes_in(bundle: &Bundle) -> Vec<i32> {
    let me = std::process::id() as i32;
    let prefix = bundle.path().to_path_buf();
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            ["root", "cwd"].iter().any(|l| {
                fs::read_link(format!("/proc/{pid}/{l}"))
                    .map(|p| p.starts_with(&prefix))
                    .unwrap_or(false)
            })
        })
        .collect()
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, r)| !r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Waits until the file contains `needle`.
#[track_caller]
pub fn wait_for_text(path: &Path, needle: &str, timeout: Duration) -> String {
    let mut text = String::new();
    let ok = wait_until(timeout, || {
        text = fs::read_to_string(path).unwrap_or_default();
        text.contains(needle)
    });
    assert!(
        ok,
        "{} never contained {needle:?}; it has: {text:?}",
        path.display()
    );
    text
}
