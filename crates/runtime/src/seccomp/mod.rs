//! Seccomp: compile `linux.seccomp` in the parent, load it in the child with one syscall.
//!
//! [`compile`] turns the whole OCI object into a classic-BPF program before fork: libseccomp
//! builds the filter (it allocates and is not async-signal-safe, so it must not run in the
//! child), we export its program, prepend the -ENOSYS stub (see `enosys.rs`) and keep the
//! instructions. The container's init then calls [`CompiledFilter::load`], which is a
//! single seccomp(2) call on memory prepared in advance (crun `src/libcrun/seccomp.c` does
//! the same split; DESIGN.md principle 11).
//!
//! Choices, and where they differ from runc and crun:
//! - A syscall name libseccomp knows for some architecture but not another (e.g. `mmap2`
//!   on x86_64) is used where it exists and skipped elsewhere; libseccomp does this itself.
//! - A name libseccomp knows for no architecture at all is skipped by [`compile`] and
//!   reported through [`CompiledFilter::unknown_syscalls`] (runc ignores it silently, crun
//!   warns). Current Docker and containerd profiles name syscalls newer than the libseccomp
//!   of a stable distribution (Debian 12's 2.5.4 stops at `futex_requeue`, 456 on x86_64,
//!   and lacks `statmount`, `listmount`, `lsm_*`, `mseal`), so failing would break every
//!   default profile there. [`compile_with`] and
//!   [`UnknownSyscalls::Error`] turn the name into an error for callers that want
//!   typos caught, e.g. `seccomp: unknown syscall "foo" in linux.seccomp.syscalls[3].names`.
//! - `errnoRet` on an action other than ERRNO/TRACE is an error, as in crun (runc ignores
//!   it); a rule whose action equals the default action is dropped, as in both.
//! - `SCMP_ACT_NOTIFY` cannot be the default action and cannot apply to `write` or
//!   `sendmsg`: the init hands the listener fd out right after loading, and if those calls
//!   waited for the agent, which only gets the fd from that hand-off, the container would
//!   hang (runc refuses `write` for the same reason).
//! - With a denying default action (ERRNO, KILL*, TRAP), syscall numbers above what
//!   libseccomp knows return ENOSYS so callers fall back (see `enosys.rs`).
//! - A profile that allows everything compiles to `None`: nothing is loaded.
//! - Flags go straight to seccomp(2). `SECCOMP_FILTER_FLAG_TSYNC` is dropped when the filter
//!   needs a listener (the kernel refuses the pair, and the init is single-threaded, so
//!   TSYNC has nothing to do); `WAIT_KILLABLE_RECV` is dropped when there is no listener
//!   (the kernel only accepts it with one). A flag the kernel lacks is a compile error.
//! - `create` and `exec` go through [`compile_cached`]: a profile seen before is read back
//!   from `<root>/@seccomp/<sha256>.bpf` instead of being compiled again (see `cache.rs`).

mod cache;
mod compile;
mod enosys;
#[cfg(test)]
mod interp;
mod listener;
mod rules;
mod tables;

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_sys::seccomp::{self as sys, SockFilter};

pub use cache::{compile_cached, digest};
pub use compile::{compile, compile_with};
pub use listener::{process_state_json, send_listener};
pub use rules::UnknownSyscalls;
pub use tables::{known_actions, known_archs, known_flags, known_operators, supported_flags};

/// Whether libseccomp knows `name` for the native architecture. A rule none of whose names
/// it knows is refused by spec validation (it can only be a typo here); callers that take
/// profiles from elsewhere (Docker's format names syscalls newer than this libseccomp) drop
/// such rules first, as runc and libseccomp would ignore them.
pub fn syscall_known(name: &str) -> bool {
    libseccomp::ScmpSyscall::from_name(name).is_ok()
}

/// Everything that can go wrong compiling, loading or handing off a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A syscall name no architecture in libseccomp's tables knows
    /// (only with [`UnknownSyscalls::Error`]).
    #[error("seccomp: unknown syscall {name:?} in {field}")]
    UnknownSyscall {
        /// JSON path of the names list, e.g. `linux.seccomp.syscalls[3].names`.
        field: String,
        /// The name.
        name: String,
    },
    /// A value the spec allows in form but berth, libseccomp or the kernel cannot honour.
    #[error("seccomp: {field}: {value} {reason}")]
    Invalid {
        /// JSON path of the value, e.g. `linux.seccomp.syscalls[1].args[0].index`.
        field: String,
        /// The value as written in `config.json`.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// libseccomp refused to create the filter or add an architecture.
    #[error("seccomp: {op} `{object}`: {source}")]
    Libseccomp {
        /// What we asked libseccomp to do.
        op: &'static str,
        /// What we asked it about.
        object: String,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// libseccomp refused a rule.
    #[error("seccomp: add rule `{name}` from {field}: {source}")]
    Rule {
        /// JSON path of the syscall entry, e.g. `linux.seccomp.syscalls[2]`.
        field: String,
        /// The syscall name.
        name: String,
        /// libseccomp's error.
        source: libseccomp::error::SeccompError,
    },
    /// Exporting libseccomp's program into memory failed.
    #[error("seccomp: {op} exported program: {source}")]
    Export {
        /// The step that failed.
        op: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The exported program is not a whole number of instructions, or is empty.
    #[error("seccomp: exported program has {bytes} bytes, not a non-empty multiple of 8")]
    Malformed {
        /// Bytes exported.
        bytes: usize,
    },
    /// The program with its stub is longer than the kernel accepts.
    #[error("seccomp: program has {len} instructions, the kernel accepts at most {max}")]
    TooLong {
        /// Instructions in the program.
        len: usize,
        /// `BPF_MAXINSNS`.
        max: usize,
    },
    /// The -ENOSYS stub could not be assembled (a bug in the stub generator).
    #[error("seccomp: assemble -ENOSYS stub: {reason}")]
    Assemble {
        /// What went wrong.
        reason: &'static str,
    },
    /// seccomp(2) refused the program.
    #[error("seccomp: load filter: {source}")]
    Load {
        /// The kernel's error.
        source: io::Error,
    },
    /// Connecting or sending to the `listenerPath` agent failed.
    #[error("seccomp: {op} listener `{}`: {source}", path.display())]
    Listener {
        /// `connect` or `send to`.
        op: &'static str,
        /// The agent's socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The container process state could not be serialised.
    #[error("seccomp: encode container process state: {source}")]
    Encode {
        /// serde's error.
        source: serde_json::Error,
    },
}

/// A filter compiled in the parent, ready for the child to load with one syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledFilter {
    program: Vec<SockFilter>,
    flags: u32,
    unknown: Vec<String>,
}

impl CompiledFilter {
    /// Install the filter on the calling thread; returns the user-notification listener
    /// when the profile uses `SCMP_ACT_NOTIFY` (see [`Self::needs_listener`]).
    ///
    /// Meant for the container's init between fork and execve: it allocates nothing and
    /// takes no locks. The kernel requires `no_new_privs` or `CAP_SYS_ADMIN` at this point.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        sys::set_mode_filter(&self.program, self.flags)
            .map_err(|source| SeccompError::Load { source })
    }

    /// Whether [`Self::load`] returns a listener fd that must go to `listenerPath`.
    pub fn needs_listener(&self) -> bool {
        self.flags & sys::FLAG_NEW_LISTENER != 0
    }

    /// The program, stub included, as the kernel will see it.
    pub fn program(&self) -> &[SockFilter] {
        &self.program
    }

    /// The seccomp(2) flags [`Self::load`] passes (`berth_sys::seccomp::FLAG_*`).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Syscall names that were skipped because libseccomp knows them for no architecture,
    /// in profile order without duplicates; the caller decides whether to warn.
    pub fn unknown_syscalls(&self) -> &[String] {
        &self.unknown
    }
}

#[cfg(test)]
mod tests {
    //! Real-kernel tests. Filters are loaded in a child copy of this test binary (re-run
    //! with an env var and `--exact`), each on its own thread: without TSYNC a filter binds
    //! only the thread that loads it, so the harness's other threads stay unfiltered.

    use std::io::IoSliceMut;
    use std::os::fd::{AsRawFd, RawFd};
    use std::os::unix::net::UnixListener;
    use std::process::Command;

    use libseccomp::{ScmpArch, ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use oci_spec::runtime::{LinuxSeccomp, State};
    use serde_json::json;

    use super::*;

    const CHILD_ENV: &str = "BERTH_SECCOMP_TEST_CHILD";

    #[test]
    fn load_in_a_child_process() {
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, m)| m);
        let test = format!("{module}::child_side_of_load_in_a_child_process");
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .output()
            .expect("spawn child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "child failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(stdout.contains("deny-by-default checks passed"), "{stdout}");
        assert!(stdout.contains("notify checks passed"), "{stdout}");
    }

    /// Does nothing unless started by [`load_in_a_child_process`].
    #[test]
    fn child_side_of_load_in_a_child_process() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        std::thread::spawn(deny_by_default)
            .join()
            .expect("deny-by-default thread");
        println!("deny-by-default checks passed");
        notify_round_trip();
        println!("notify checks passed");
    }

    /// ERRNO(EPERM) by default, every syscall libseccomp knows allowed except getcwd and
    /// mkdir(at), which fail with 1234: the program, stub included, must load and behave.
    fn deny_by_default() {
        let native = ScmpArch::native();
        let max = enosys::largest_known(native).expect("native table");
        let denied = ["getcwd", "mkdir", "mkdirat"];
        let names: Vec<String> = (0..=max)
            .filter_map(|nr| {
                ScmpSyscall::from_raw_syscall(nr)
                    .get_name_by_arch(native)
                    .ok()
            })
            .filter(|n| !denied.contains(&n.as_str()))
            .collect();
        let s: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": names, "action": "SCMP_ACT_ALLOW"},
                {"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": 1234},
            ],
        }))
        .expect("profile");
        let filter = compile(&s).expect("compile").expect("filter");
        let dir = tempfile::tempdir().expect("tempdir");

        nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
        assert!(filter.load().expect("load").is_none());

        let status = std::fs::read_to_string("/proc/thread-self/status").expect("status");
        assert!(status.contains("Seccomp:\t2"), "{status}");
        let cwd = std::env::current_dir().expect_err("getcwd is denied");
        assert_eq!(cwd.raw_os_error(), Some(1234));
        let mkdir = std::fs::create_dir(dir.path().join("x")).expect_err("mkdir is denied");
        assert_eq!(mkdir.raw_os_error(), Some(1234));
        assert_ne!(std::process::id(), 0, "getpid still works");
    }

    /// NOTIFY on getppid: the listener fd goes to an agent through `send_listener`, and the
    /// agent's answer becomes getppid's return value.
    fn notify_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let s: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": path,
            "listenerMetadata": "hello",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
        }))
        .expect("profile");
        let filter = compile(&s).expect("compile").expect("filter");
        assert!(filter.needs_listener());

        let agent = std::thread::spawn(move || agent(listener));
        let container = std::thread::spawn(move || {
            nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
            let fd = filter.load().expect("load").expect("listener fd");
            let json = process_state_json(&State::default(), 7, Some("hello")).expect("json");
            send_listener(&path, fd, &json).expect("send listener");
            nix::unistd::getppid().as_raw()
        });
        assert_eq!(container.join().expect("container thread"), 4242);
        assert_eq!(agent.join().expect("agent thread"), "hello");
    }

    /// Receive the fd and metadata, answer one notification with 4242.
    fn agent(listener: UnixListener) -> String {
        let (conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 4096];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .expect("recvmsg");
        let n = msg.bytes;
        let fd = msg
            .cmsgs()
            .expect("cmsgs")
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .expect("an fd");
        let req = ScmpNotifReq::receive(fd).expect("notification");
        ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
            .respond(fd)
            .expect("respond");
        nix::unistd::close(fd).expect("close listener");
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).expect("state json");
        assert_eq!(v["fds"], json!(["seccompFd"]));
        v["metadata"].as_str().unwrap_or_default().to_string()
    }
}
