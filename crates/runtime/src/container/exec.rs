//! `exec`: run another process in a running container's namespaces and cgroup.
//!
//! Like create but shorter: fork an intermediate, which joins the cgroup, enters every
//! namespace of init that differs from ours (user first, mnt last; setns into a mount
//! namespace also moves our root and cwd there, so no host directory leaks in, see
//! CVE-2024-21626), fork the process itself so it is inside a new pid namespace too, then
//! identity, seccomp and execve. The channel is close-on-exec: EOF means the exec happened.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::runtime::Process;

use super::{load_in, manager};
use crate::error::{self, Error, Result};
use crate::namespaces::Plan;
use crate::process::channel::{Channel, ChannelError, ChildError, Msg, Step, StepExt};
use crate::process::identity;
use crate::seccomp::CompiledFilter;
use crate::state::{Root, Status};

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOpts {
    /// Container id.
    pub id: String,
    /// The process to run (already merged with command-line overrides).
    pub process: Process,
    /// Write the new process's pid here.
    pub pid_file: Option<PathBuf>,
    /// Console socket for a terminal.
    pub console_socket: Option<PathBuf>,
    /// An already-connected console socket (foreground `exec -t`).
    pub console_fd: Option<Arc<OwnedFd>>,
    /// Pass fds 3..3+n.
    pub preserve_fds: u32,
}

struct ExecBoot<'a> {
    opts: &'a ExecOpts,
    plan: Plan,
    seccomp: Option<CompiledFilter>,
    console: Option<OwnedFd>,
    cgroup: Box<dyn berth_cgroups::Manager>,
}

/// Start the process; returns its pid (in our pid namespace).
pub fn exec(root: &Root, opts: &ExecOpts) -> Result<i32> {
    let (rec, _) = load_in(
        root,
        &opts.id,
        "exec",
        &[Status::Created, Status::Running],
        "created or running",
    )?;
    let spec = root.load_spec(&opts.id)?;
    crate::spec::validate_process_lsm(&opts.process)?;
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() && opts.console_fd.is_none() {
        return Err(Error::Usage {
            what: "--tty",
            reason: "needs --console-socket when detached",
        });
    }
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => crate::seccomp::compile_cached(s, &root.seccomp_cache())?,
        None => None,
    };
    let plan = Plan::of_process(rec.pid).map_err(|source| Error::Child {
        id: opts.id.clone(),
        source,
    })?;
    let console = match (&opts.console_fd, &opts.console_socket) {
        (Some(fd), _) => Some(
            fd.try_clone()
                .map_err(error::sys("dup", "console socket"))?,
        ),
        (None, Some(p)) => Some(
            crate::tty::connect(p).map_err(error::sys("connect console socket", p.display()))?,
        ),
        _ => None,
    };
    let boot = ExecBoot {
        opts,
        plan,
        seccomp,
        console,
        cgroup: manager(&rec)?,
    };
    let (ours, theirs) = Channel::pair().map_err(error::nix("socketpair", "sync channel"))?;
    let forked = crate::process::fork_in(&*boot.cgroup).map_err(error::sys("fork", "exec"))?;
    let child = match forked {
        (berth_sys::process::Forked::Child, cloned_in) => {
            drop(ours);
            intermediate(&boot, &theirs, cloned_in)
        }
        (berth_sys::process::Forked::Parent(pid), _) => pid,
    };
    drop(theirs);
    let chan_err = |source| Error::Channel {
        id: opts.id.clone(),
        source,
    };
    let pid = match ours.recv("exec pid").map_err(chan_err)? {
        Msg::InitPid(pid) => pid,
        Msg::Failed(source) => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
            return Err(Error::Child {
                id: opts.id.clone(),
                source,
            });
        }
        other => {
            return Err(chan_err(ChannelError::Protocol {
                expected: "exec pid",
                got: format!("{other:?}"),
            }))
        }
    };
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
    match ours.recv("exec") {
        Err(ChannelError::Closed { .. }) => {}
        Ok(Msg::Failed(source)) => {
            return Err(Error::Child {
                id: opts.id.clone(),
                source,
            })
        }
        Ok(other) => {
            return Err(chan_err(ChannelError::Protocol {
                expected: "exec",
                got: format!("{other:?}"),
            }))
        }
        Err(e) => return Err(chan_err(e)),
    }
    if let Some(p) = &opts.pid_file {
        std::fs::write(p, pid.to_string()).map_err(error::sys("write", p.display()))?;
    }
    Ok(pid)
}

fn intermediate(b: &ExecBoot<'_>, chan: &Channel, cloned_in: bool) -> ! {
    let res = (|| -> std::result::Result<(), ChildError> {
        nix::sys::prctl::set_dumpable(false).step(Step::Fork, "dumpable")?;
        let watch = berth_sys::process::ThreadWatch::open().step(Step::Fork, "/proc/self/task")?;
        // Into the container's cgroup before the namespaces (our own move, see
        // process/intermediate.rs for why not the parent's).
        b.cgroup.join_self(cloned_in).map_err(|e| ChildError {
            step: Step::Cgroup,
            object: b.cgroup.path(),
            errno: 0,
            detail: Some(e.to_string()),
        })?;
        b.plan.join_all()?;
        match berth_sys::process::fork_watched(&watch).step(Step::Fork, "exec")? {
            berth_sys::process::Forked::Child => {
                let e = process(b, chan)
                    .err()
                    .unwrap_or_else(|| ChildError::new(Step::Exec, "exec", 0));
                let _ = chan.send(&Msg::Failed(e));
                std::process::exit(127);
            }
            berth_sys::process::Forked::Parent(pid) => chan
                .send(&Msg::InitPid(pid))
                .map_err(|_| ChildError::new(Step::Fork, pid, libc::EPIPE)),
        }
    })();
    if let Err(e) = res {
        let _ = chan.send(&Msg::Failed(e));
        std::process::exit(1);
    }
    std::process::exit(0)
}

fn process(b: &ExecBoot<'_>, _chan: &Channel) -> std::result::Result<(), ChildError> {
    let p = &b.opts.process;
    let _ = nix::unistd::setsid();
    if let Some(sock) = &b.console {
        use std::os::fd::AsFd;
        let size = p
            .console_size()
            .map(|s| (s.height() as u16, s.width() as u16));
        crate::tty::setup(sock.as_fd(), size, false)?;
    }
    nix::unistd::chdir(p.cwd()).step(Step::Chdir, p.cwd().display())?;
    identity::set_limits(p)?;
    let exe = identity::find_executable(p)?;
    crate::lsm::set_exec_label(
        p.apparmor_profile().as_deref(),
        p.selinux_label().as_deref(),
    )
    .step(Step::Lsm, "/proc/self/attr/exec")?;
    identity::drop_privileges(p, b.seccomp.as_ref())?;
    Err(identity::exec(&exe, p, b.opts.preserve_fds))
}
