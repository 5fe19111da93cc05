//! CVE-2019-5736: a container must never get a writable handle on the host's runtime binary.
//!
//! Every process of ours that enters a container is non-dumpable until it execs, so the
//! kernel refuses container processes /proc/PID/exe of it, unless they hold CAP_SYS_PTRACE
//! (ptrace access checks let that capability through). That is not all: an image whose
//! program is a script starting `#!/proc/self/exe` makes the kernel exec our own binary
//! inside the container, dumpable again (kernels that refuse execs of a /proc/PID/exe
//! outside the caller's root stop this; 6.18 does). So the processes that start container
//! processes run from a read-only view of their binary ([`ensure_read_only`]): `berth`
//! always, `berth-runtime` unless the container holds CAP_SYS_PTRACE, where it re-executes
//! from a sealed memfd copy as before. Either way a write open of what a container can
//! reach fails: EROFS for the view, ETXTBSY or EPERM for the sealed copy.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

/// Set in the environment of the sealed copy, so it does not seal again.
const SEALED_ENV: &str = "_BERTH_RUNTIME_SEALED";

/// True when this process already runs from a sealed copy.
pub fn is_sealed() -> bool {
    std::env::var_os(SEALED_ENV).is_some()
}

/// Whether a process with these capability names could reach our binary despite being
/// non-dumpable.
pub fn needed_for(caps: &[String]) -> bool {
    caps.iter().any(|c| c == "CAP_SYS_PTRACE")
}

/// Copy /proc/self/exe into a sealed memfd and exec it with the same arguments.
/// Returns only on failure.
pub fn reexec_sealed() -> io::Error {
    match try_reexec() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_reexec() -> io::Result<std::convert::Infallible> {
    let fd = memfd_create(
        c"berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut exe = std::fs::File::open("/proc/self/exe")?;
    let mut out = std::fs::File::from(fd);
    io::copy(&mut exe, &mut out)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(out.as_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    let args = c_args();
    let mut env = c_env();
    env.extend(CString::new(format!("{SEALED_ENV}=1")).ok());
    Ok(nix::unistd::fexecve(out.as_fd(), &args, &env)?)
}

fn c_args() -> Vec<CString> {
    std::env::args_os()
        .filter_map(|a| CString::new(a.into_encoded_bytes()).ok())
        .collect()
}

/// Our environment, plus where our binary lives for [`original_exe`].
fn c_env() -> Vec<CString> {
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let kv = [
                k.into_encoded_bytes(),
                b"=".to_vec(),
                v.into_encoded_bytes(),
            ]
            .concat();
            CString::new(kv).ok()
        })
        .collect();
    if std::env::var_os(EXE_ENV).is_none() {
        if let Ok(me) = std::env::current_exe() {
            env.extend(CString::new(format!("{EXE_ENV}={}", me.display())).ok());
        }
    }
    env
}

/// Set by [`ensure_read_only`] to the binary's own path, which /proc/self/exe no longer
/// shows (a detached mount has no path: it reads `/`).
const EXE_ENV: &str = "_BERTH_EXE";

/// The path this binary was started from, before any re-exec of [`ensure_read_only`]; for
/// finding files beside it (berth-init).
pub fn original_exe() -> io::Result<std::path::PathBuf> {
    match std::env::var_os(EXE_ENV) {
        Some(p) => Ok(p.into()),
        None => std::env::current_exe(),
    }
}

/// For a process that runs the runtime in process (`berth run`, `exec`, the monitor): the
/// CVE-2019-5736 guard for every container, whatever its capabilities. Non-dumpable is not
/// enough there: an image whose program is a script starting `#!/proc/self/exe` makes the
/// kernel exec our own binary inside the container, dumpable again, and a process there
/// can hold its /proc/PID/exe and open it for writing once no berth runs it. So we run
/// from a read-only view of our binary: a detached read-only bind mount of the file (no
/// copy, unlike the memfd), which no namespace holds and so nobody can remount; writes
/// through it fail with EROFS. Without the new mount API, the sealed memfd copy.
/// Returns only when already running from such a view, or with the error of the re-exec.
pub fn ensure_read_only() -> io::Result<()> {
    if is_protected() {
        return Ok(());
    }
    match reexec_read_only() {
        Ok(never) => match never {},
        // No new mount API (Linux < 5.12) or no right to use it: the copy.
        Err(_) => Err(reexec_sealed()),
    }
}

/// Whether /proc/self/exe lies on a read-only mount (or file system).
fn exe_is_read_only() -> bool {
    nix::sys::statvfs::statvfs("/proc/self/exe")
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

fn reexec_read_only() -> io::Result<std::convert::Infallible> {
    let tree = read_only_view()?;
    Ok(nix::unistd::execveat(
        tree.as_fd(),
        c"",
        &c_args(),
        &c_env(),
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )?)
}

/// A read-only view of our own binary: an O_PATH fd of a detached read-only bind mount of
/// the file. Executed (`/proc/self/fd/N` or execveat), it gives a process that no
/// container can write through /proc/PID/exe; the mount goes when the last user does.
pub fn read_only_view() -> io::Result<OwnedFd> {
    use berth_sys::mount::{open_tree, setattr, OPEN_TREE_CLONE};
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    const AT_EMPTY_PATH: u32 = 0x1000;
    let exe = nix::fcntl::open(
        "/proc/self/exe",
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let tree = open_tree(
        exe.as_fd(),
        std::path::Path::new(""),
        OPEN_TREE_CLONE | AT_EMPTY_PATH,
    )?;
    setattr(
        tree.as_fd(),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        0,
        None,
        false,
    )?;
    Ok(tree)
}

/// Whether this process already runs from something no container can write: a
/// read-only view, a read-only file system, or the sealed copy.
pub fn is_protected() -> bool {
    exe_is_read_only() || is_sealed()
}

/// For a child that runs our binary through a view (`/proc/self/fd/N`): the environment
/// entry that keeps [`original_exe`] right in it.
pub fn original_exe_env() -> io::Result<(&'static str, std::path::PathBuf)> {
    Ok((EXE_ENV, original_exe()?))
}

/// Every capability name a spec's process may hold (any of its five sets).
pub fn process_caps(process: &serde_json::Value) -> Vec<String> {
    let caps = &process["capabilities"];
    [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ]
    .iter()
    .filter_map(|set| caps[set].as_array())
    .flatten()
    .filter_map(|c| c.as_str().map(String::from))
    .collect()
}

/// Before `berth-runtime` creates or enters a container with `caps`: the sealed copy when
/// they could reach our binary despite non-dumpable, else the read-only view, which also
/// covers an image whose program is a `#!/proc/self/exe` script (kernels that let that
/// exec through run our binary inside, dumpable).
pub fn ensure_for(caps: &[String]) -> io::Result<()> {
    if is_sealed() {
        return Ok(());
    }
    if needed_for(caps) {
        return Err(reexec_sealed());
    }
    ensure_read_only()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ptrace_needs_the_copy() {
        let p = serde_json::json!({"capabilities": {"bounding": ["CAP_KILL"], "ambient": ["CAP_SYS_PTRACE"]}});
        assert!(needed_for(&process_caps(&p)));
        let p = serde_json::json!({"capabilities": {"bounding": ["CAP_KILL", "CAP_SYS_ADMIN"]}});
        assert!(!needed_for(&process_caps(&p)));
    }
}
