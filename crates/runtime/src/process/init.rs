//! The container's init: everything between the namespaces and the user's program.
//!
//! Before Ready (errors go back to `create`): createRuntime hooks via the parent, rootfs and
//! pivot (with createContainer hooks just before the pivot), masked/read-only paths,
//! hostname, sysctls, console, cwd, limits, and finding the executable. Then Ready; then we
//! block on the exec fifo until `start`, run startContainer hooks, drop privileges, load
//! seccomp and exec.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::channel::{Channel, ChildError, Msg, Step, StepExt};
use super::identity;
use super::Bootstrap;
use crate::hooks::{self, HookState};
use crate::rootfs::mounts::IdmapTrees;
use crate::rootfs::{self, RootfsCtx};

/// Run init; never returns.
pub fn run(b: &Bootstrap, chan: &Channel, idmaps: &IdmapTrees) -> ! {
    let host_pid = host_pid();
    if chan.send(&Msg::InitPid(host_pid)).is_err() {
        std::process::exit(1);
    }
    let process = b.spec.process().clone().unwrap_or_default();
    let exe = match before_ready(b, chan, &process, host_pid, idmaps) {
        Ok(exe) => exe,
        Err(e) => {
            let _ = chan.send(&Msg::Failed(e));
            std::process::exit(1);
        }
    };
    let e = after_start(b, &process, &exe, host_pid);
    eprintln!("berth-runtime: container `{}`: {e}", b.id);
    std::process::exit(127)
}

/// Our pid in the runtime's pid namespace: the first NSpid entry, read while /proc is
/// still the host's procfs.
fn host_pid() -> i32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn state<'a>(b: &'a Bootstrap, status: &'a str, pid: i32) -> HookState<'a> {
    HookState {
        oci_version: b.spec.version(),
        id: &b.id,
        status,
        pid: Some(pid),
        bundle: b.bundle.to_str().unwrap_or(""),
        annotations: b.spec.annotations().as_ref().unwrap_or(&crate::EMPTY_MAP),
    }
}

fn hook_err(e: hooks::HookError) -> ChildError {
    ChildError {
        step: Step::Hook,
        object: "hook".into(),
        errno: 0,
        detail: Some(e.to_string()),
    }
}

fn before_ready(
    b: &Bootstrap,
    chan: &Channel,
    p: &Process,
    pid: i32,
    idmaps: &IdmapTrees,
) -> Result<std::ffi::CString, ChildError> {
    let _ = nix::unistd::setsid();
    if b.new_keyring {
        // A keyring of its own, so the container cannot read or add to the host session's
        // keys (runc does the same unless --no-new-keyring). Kernels without keyctl refuse
        // with ENOSYS, and a seccomp-less host may lack it: both are not fatal.
        match berth_sys::process::join_session_keyring(&format!("_ses.{}", b.id)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
            Err(e) => {
                return Err(ChildError::new(
                    Step::Fork,
                    "session keyring",
                    e.raw_os_error().unwrap_or(0),
                ))
            }
        }
    }
    if b.runtime_hooks {
        chan.send(&Msg::RunHooks)
            .map_err(|_| ChildError::new(Step::Hook, "createRuntime", libc::EPIPE))?;
        chan.wait_go()
            .map_err(|_| ChildError::new(Step::Hook, "createRuntime", libc::EPIPE))?;
    }
    let ns = crate::spec::namespace_types(&b.spec);
    let userns = ns.contains(&LinuxNamespaceType::User);
    let ctx = RootfsCtx {
        spec: &b.spec,
        rootfs: &b.rootfs,
        bundle: &b.bundle,
        userns,
        cgroup_path: &b.cgroup_path,
        cgroupns: ns.contains(&LinuxNamespaceType::Cgroup),
        no_pivot: b.no_pivot,
        idmaps,
    };
    let create_container = || {
        let list = b
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.create_container().clone())
            .unwrap_or_default();
        hooks::run_all("createContainer", &list, &state(b, "created", pid)).map_err(hook_err)
    };
    rootfs::setup(&ctx, create_container)?;
    // A missing working directory is made, as runc (prepareRootfs) and Docker do: here,
    // inside the new root so no symlink leads out, and before finish() can make / read-only.
    // A failure shows at the chdir below, with its path.
    if p.cwd().is_absolute() {
        let _ = std::fs::create_dir_all(p.cwd());
    }
    // Sysctls before finish(): /proc/sys becomes a read-only path there.
    set_names_and_sysctls(b)?;
    rootfs::finish(&b.spec)?;
    if let Some(sock) = &b.console {
        let size = p
            .console_size()
            .map(|s| (s.height() as u16, s.width() as u16));
        crate::tty::setup(sock.as_fd(), size, true)?;
    }
    nix::unistd::chdir(p.cwd()).step(Step::Chdir, p.cwd().display())?;
    identity::set_limits(p)?;
    if let Some(pers) = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.personality().as_ref())
    {
        super::sched::personality(pers)?;
    }
    let exe = identity::find_executable(p)?;
    crate::lsm::set_exec_label(
        p.apparmor_profile().as_deref(),
        p.selinux_label().as_deref(),
    )
    .step(Step::Lsm, "/proc/self/attr/exec")?;
    if let Some(f) = b.seccomp.as_ref().filter(|f| f.needs_listener()) {
        let fd = f.load().map_err(|e| ChildError {
            step: Step::Seccomp,
            object: "listener".into(),
            errno: 0,
            detail: Some(e.to_string()),
        })?;
        let raw = fd.as_ref().map(|f| f.as_raw_fd());
        chan.send_fd(&Msg::SeccompListener, raw)
            .map_err(|_| ChildError::new(Step::Seccomp, "listener", libc::EPIPE))?;
    }
    chan.send(&Msg::Ready)
        .map_err(|_| ChildError::new(Step::Exec, "ready", libc::EPIPE))?;
    Ok(exe)
}

fn set_names_and_sysctls(b: &Bootstrap) -> Result<(), ChildError> {
    if let Some(h) = b.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).step(Step::Hostname, h)?;
    }
    if let Some(d) = b.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        berth_sys::process::setdomainname(d).step(Step::Domainname, d)?;
    }
    if let Some(sysctl) = b.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        rootfs::verify_proc()?;
        for (k, v) in sysctl {
            let path = Path::new("/proc/sys").join(k.replace('.', "/"));
            std::fs::write(&path, v).step(Step::Sysctl, k)?;
        }
    }
    Ok(())
}

fn after_start(b: &Bootstrap, p: &Process, exe: &std::ffi::CString, pid: i32) -> ChildError {
    // Opening blocks until `start` opens the read side. The write end stays open (it is
    // close-on-exec) so `start` sees end-of-file exactly when the user's program has
    // replaced us: poststart hooks must run after it started (OCI runtime spec).
    let _fifo = match &b.fifo {
        Some(fifo) => {
            let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| {
                    use std::io::Write;
                    f.write_all(b"0").map(|()| f)
                });
            match opened {
                Ok(f) => Some(f),
                Err(e) => {
                    return ChildError::new(Step::ExecFifo, path, e.raw_os_error().unwrap_or(0))
                }
            }
        }
        None => None,
    };
    let list = b
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().clone())
        .unwrap_or_default();
    if let Err(e) = hooks::run_all("startContainer", &list, &state(b, "running", pid)) {
        return hook_err(e);
    }
    if let Err(e) = identity::drop_privileges(p, b.seccomp.as_ref()) {
        return e;
    }
    identity::exec(exe, p, b.preserve_fds)
}
