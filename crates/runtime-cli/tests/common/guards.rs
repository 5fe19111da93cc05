//! Host-side fixtures that tests make and that must go away even when a test fails:
//! a named network namespace, processes holding namespaces, a console socket.

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use super::{unique, wait_until};

/// A named network namespace (`ip netns add berth-test-<pid>-<n>`), deleted on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates the namespace; panics if `ip` fails.
    pub fn new() -> NetNs {
        let name = unique("berth-test");
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        NetNs { name }
    }

    /// Its bind-mounted path, for `linux.namespaces[].path`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A process that sits in new pid, uts, ipc, net and cgroup namespaces so containers can
/// join them through `/proc/<pid>/ns/*`. `unshare --kill-child` makes the namespace init
/// die with its parent, which drop kills.
pub struct NsHolder {
    unshare: Child,
    /// Pid of the holder process inside the namespaces (pid 1 of its pid namespace).
    pub pid: i32,
}

impl NsHolder {
    /// Starts the holder and waits for its namespaced child.
    pub fn new() -> NsHolder {
        let mut unshare = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--kill-child",
                "--uts",
                "--ipc",
                "--net",
                "--cgroup",
                "--",
                "sleep",
                "120",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let parent = unshare.id();
        let mut pid = 0;
        let found = wait_until(Duration::from_secs(5), || {
            let children =
                std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
                    .unwrap_or_default();
            pid = children
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            // The child has unshared once its pid namespace differs from ours.
            pid != 0
                && std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
                    != std::fs::read_link("/proc/self/ns/pid").ok()
        });
        if !found {
            let _ = unshare.kill();
            let _ = unshare.wait();
            panic!("unshare did not start its namespaced child");
        }
        NsHolder { unshare, pid }
    }

    /// `/proc/<pid>/ns/<ns>`.
    pub fn ns_path(&self, ns: &str) -> String {
        format!("/proc/{}/ns/{ns}", self.pid)
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// A `--console-socket` receiver: accepts one connection, takes the pty master passed with
/// SCM_RIGHTS, and reads everything the container writes to its terminal.
///
/// The tests have no `unsafe`, so the received raw fd cannot become an `OwnedFd`; a
/// `bash -c 'cat <&N'` child inherits it and does the reading. The fd stays open in the
/// test process until it exits.
pub struct ConsoleSocket {
    path: PathBuf,
    rx: mpsc::Receiver<Result<Console, String>>,
}

/// What the receiver got.
#[derive(Debug)]
pub struct Console {
    /// Where the received fd points (`/dev/pts/ptmx` or `/dev/ptmx` for a pty master).
    pub target: String,
    /// Everything read from the master until the container closed its terminal.
    pub output: String,
}

impl ConsoleSocket {
    /// Listens on `<dir>/console.sock`.
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(receive(&listener));
        });
        ConsoleSocket { path, rx }
    }

    /// The socket path for `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the terminal to be passed and closed again.
    pub fn wait(&self, timeout: Duration) -> Console {
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("console socket: {e}"),
            Err(_) => panic!("console socket: no terminal received and closed within {timeout:?}"),
        }
    }
}

fn receive(listener: &UnixListener) -> Result<Console, String> {
    let (stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
        if let ControlMessageOwned::ScmRights(f) = c {
            fds.extend(f);
        }
    }
    let [fd] = fds[..] else {
        return Err(format!("want exactly one fd, got {fds:?}"));
    };
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map_err(|e| format!("readlink fd: {e}"))?;
    let out = Command::new("bash")
        .args(["-c", &format!("exec cat <&{fd}")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("spawn reader: {e}"))?;
    Ok(Console {
        target: target.display().to_string(),
        output: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}
