//! What the `berth` CLI tests share: a store, a scratch dir and a credentials dir of their
//! own per test, the binary run against them, a busybox image, and tool checks.
#![allow(dead_code)]

pub mod containers;
pub mod networld;
pub mod procs;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// One test's world.
pub struct Env {
    /// `--root`.
    pub root: tempfile::TempDir,
    /// Scratch files (tars, layouts).
    pub work: tempfile::TempDir,
    /// `BERTH_CONFIG` (registry credentials).
    pub config: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = || tempfile::tempdir().unwrap();
        Env {
            root: dir(),
            work: dir(),
            config: dir(),
        }
    }

    /// `berth --root R ARGS` with this test's credentials dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root")
            .arg(self.root.path())
            .args(args)
            .env("BERTH_CONFIG", self.config.path())
            // Verbs that open the engine make the state dir: keep it in the test's root.
            .env("BERTH_STATE", self.root.path().join("state"))
            // Bridge networking is tested in network.rs with names of its own; elsewhere
            // containers stay off the host's default bridge.
            .env("BERTH_NETWORK", "none")
            .env("BERTH_MONITOR", containers::monitor());
        c
    }

    /// `berth run --rm IMAGE ARGS...` in a cgroup parent of its own (removed afterwards);
    /// the container's stdout.
    #[track_caller]
    pub fn run_rm(&self, image: &str, args: &[&str]) -> String {
        let parent = format!(
            "berth-run-{}-{}",
            std::process::id(),
            self.root.path().file_name().unwrap().to_string_lossy()
        );
        let o = self
            .cmd(&[&["run", "--rm", image], args].concat())
            .env("BERTH_CGROUP_PARENT", format!("/{parent}"))
            .stdin(Stdio::null())
            .output()
            .expect("run berth");
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(h.path().join(&parent));
        }
        assert!(
            o.status.success(),
            "berth run {image} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok(args, self.berth(args))
    }

    /// Fails with exit 1 and exactly one error line, which is returned.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        expect_one_error(args, self.berth(args), Some(1))
    }

    /// A path in the scratch dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// A busybox rootfs as one tar file, made once per test; with `gz` also that same tar
    /// gzip-compressed.
    pub fn rootfs_tar(&self, gz: bool) -> PathBuf {
        let dir = self.path("rootfs");
        let out = self.path("rootfs.tar");
        if !out.exists() {
            std::fs::create_dir_all(dir.join("bin")).unwrap();
            std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
            std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
            sh(Command::new("tar")
                .arg("-C")
                .arg(&dir)
                .arg("-cf")
                .arg(&out)
                .arg("."));
        }
        if !gz {
            return out;
        }
        sh(Command::new("gzip").args(["-k", "-f"]).arg(&out));
        self.path("rootfs.tar.gz")
    }

    /// Imports the busybox rootfs as `name` with `CMD ["sh"]`; returns the image id.
    pub fn import_busybox(&self, name: &str) -> String {
        let tar = self.rootfs_tar(false);
        self.ok(&["import", "-c", "CMD [\"sh\"]", p(&tar), name])
            .trim()
            .to_owned()
    }

    /// `image inspect` of one image.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&self.ok(&["image", "inspect", name])).unwrap()[0]
            .clone()
    }
}

/// The stdout of `berth ARGS` that had to succeed (its output in the panic otherwise).
#[track_caller]
pub fn expect_ok(args: &[&str], o: Output) -> String {
    assert!(
        o.status.success(),
        "berth {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The one error line of `berth ARGS` that had to fail (with exit `code` when given).
#[track_caller]
pub fn expect_one_error(args: &[&str], o: Output, code: Option<i32>) -> String {
    match code {
        Some(c) => assert_eq!(o.status.code(), Some(c), "berth {args:?} should fail"),
        None => assert!(!o.status.success(), "berth {args:?} should fail"),
    }
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
    err
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Run a command that must succeed; its stdout.
#[track_caller]
pub fn sh(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Makes sure `bin` exists; installs `package` under CI. False (with a message) to skip.
pub fn have(bin: &str, package: &str) -> bool {
    let found = |b: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if found(bin) {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let st = Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("run apt-get");
        assert!(
            st.success() && found(bin),
            "apt-get install {package} failed"
        );
        return true;
    }
    eprintln!("skipped: `{bin}` not found (apt-get install {package})");
    false
}
