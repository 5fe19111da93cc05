//! `berth run -it` on a real pseudo-terminal (a python3 driver holds the master): the
//! container's pty gets our window size and follows it, Ctrl-C reaches the container's
//! foreground process, and ctrl-p ctrl-q detaches leaving the container running.

mod common;

use std::process::Command;

use common::{p, Env};

/// Runs ARGV on a new pty of ROWS×COLS; after DELAY seconds writes SEND (and, when
/// RESIZE is set, resizes to it first); prints everything read, then `EXIT=<code>`.
const DRIVER: &str = r#"
import os, pty, sys, struct, fcntl, termios, time, select
rows, cols = map(int, os.environ["SIZE"].split("x"))
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 20
act = time.time() + float(os.environ.get("DELAY", "0"))
acted = "SEND" not in os.environ and "RESIZE" not in os.environ
while time.time() < deadline:
    if not acted and time.time() >= act:
        if "RESIZE" in os.environ:
            r, c = map(int, os.environ["RESIZE"].split("x"))
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
        os.write(fd, os.environ.get("SEND", "").encode("latin-1"))
        acted = True
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
if time.time() >= deadline:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write("\nEXIT=%d\n" % os.waitstatus_to_exitcode(status))
"#;

struct Tty {
    env: Env,
    state: tempfile::TempDir,
    cgroup: String,
}

impl Tty {
    fn new() -> Option<Tty> {
        if !common::have("python3", "python3") {
            return None;
        }
        let env = Env::new();
        env.import_busybox("bb");
        Some(Tty {
            env,
            state: tempfile::Builder::new()
                .prefix("btty")
                .tempdir_in("/tmp")
                .unwrap(),
            cgroup: format!("/berth-tty-{}-{}", std::process::id(), rand_suffix()),
        })
    }

    fn berth(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("--root")
            .arg(self.env.root.path())
            .arg("--state")
            .arg(self.state.path())
            .env("BERTH_CGROUP_PARENT", &self.cgroup)
            .env("BERTH_NETWORK", "none")
            .env("BERTH_MONITOR", common::containers::monitor());
        c
    }

    /// Runs `berth ARGS` on a pty through the driver.
    fn on_pty(&self, args: &[&str], vars: &[(&str, &str)]) -> (String, i32) {
        let mut c = Command::new("python3");
        c.arg("-c")
            .arg(DRIVER)
            .arg(env!("CARGO_BIN_EXE_berth"))
            .args(["--root", p(self.env.root.path())])
            .args(["--state", p(self.state.path())])
            .args(args)
            .env("BERTH_CGROUP_PARENT", &self.cgroup)
            .env("BERTH_NETWORK", "none")
            .env("BERTH_MONITOR", common::containers::monitor())
            .env("SIZE", "40x100");
        for (k, v) in vars {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let code = text
            .rsplit_once("EXIT=")
            .and_then(|(_, c)| c.trim().parse().ok())
            .unwrap_or(-1);
        (text, code)
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        if let Ok(o) = self.berth().args(["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.berth().args(["rm", "-f", id]).output();
            }
        }
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = std::fs::remove_dir(h.path().join(self.cgroup.trim_start_matches('/')));
        }
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[test]
fn the_pty_has_our_window_size_and_follows_it() {
    let Some(t) = Tty::new() else { return };
    let (out, code) = t.on_pty(
        &["run", "--rm", "-it", "bb", "busybox", "stty", "size"],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("40 100"), "{out}");
    let (out, code) = t.on_pty(
        &[
            "run",
            "--rm",
            "-it",
            "bb",
            "sh",
            "-c",
            "busybox sleep 1.5; busybox stty size",
        ],
        &[("DELAY", "0.5"), ("RESIZE", "50x120")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("50 120"), "{out}");
}

#[test]
fn ctrl_c_reaches_the_container() {
    let Some(t) = Tty::new() else { return };
    let script = "trap 'echo got-int; exit 5' INT; echo ready; while :; do busybox sleep 0.1; done";
    let (out, code) = t.on_pty(
        &["run", "--rm", "-it", "bb", "sh", "-c", script],
        &[("DELAY", "1"), ("SEND", "\x03")],
    );
    assert!(out.contains("got-int"), "{out}");
    assert_eq!(code, 5, "{out}");
}

#[test]
fn detach_keys_leave_it_running() {
    let Some(t) = Tty::new() else { return };
    let (out, code) = t.on_pty(
        &["run", "-it", "--name", "held", "bb", "sh"],
        &[("DELAY", "1"), ("SEND", "\x10\x11")],
    );
    assert_eq!(code, 0, "{out}");
    let o = t
        .berth()
        .args(["inspect", "-f", "{{.State.Status}}", "held"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "running");
    // And attach again: input reaches the same shell.
    let (out, code) = t.on_pty(
        &["attach", "held"],
        &[("DELAY", "0.5"), ("SEND", "echo again-$((40+2)); exit 7\r")],
    );
    assert!(out.contains("again-42"), "{out}");
    assert_eq!(code, 7, "{out}");
}
