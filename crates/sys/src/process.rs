//! Process creation and per-process knobs that nix does not wrap.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The result of [`fork_watched`] or [`fork_into_cgroup`], seen from one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// We are the new child process.
    Child,
    /// We are the parent; this is the child's pid in our pid namespace.
    Parent(i32),
}

/// ioprio_get(2) for the calling process: (class, level), class 0 meaning "none set".
pub fn ioprio_get_self() -> io::Result<(u32, u32)> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: two integer arguments; 0 means the calling process; no memory is touched.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let v = rc as u32;
    Ok((v >> 13, v & 0x1fff))
}

/// Call syscall number `nr`, which no Linux architecture assigns (it must be at least
/// 1024), with no arguments, and return the error it fails with: ENOSYS from the kernel,
/// or whatever a seccomp filter answers for syscalls it does not know.
pub fn unassigned_syscall(nr: i64) -> io::Error {
    if nr < 1024 {
        return io::Error::from_raw_os_error(libc::EINVAL);
    }
    // SAFETY: no syscall has a number >= 1024, so the kernel (or a seccomp filter) only
    // returns an error; nothing is read or written.
    let rc = unsafe { libc::syscall(nr) };
    if rc < 0 {
        io::Error::last_os_error()
    } else {
        io::Error::other(format!("syscall {nr} returned {rc}"))
    }
}

/// listmount(2) (Linux 6.8; number 458 on every architecture, from the shared table that
/// new syscalls use) with a null request, so nothing is read or written: a kernel that has
/// it answers EFAULT, one without it, or a seccomp filter older than it, ENOSYS.
pub fn listmount_null() -> io::Error {
    const SYS_LISTMOUNT: libc::c_long = 458;
    // SAFETY: the request pointer is null and the buffer length is 0, so the kernel fails
    // before touching memory; no other state changes.
    let rc = unsafe { libc::syscall(SYS_LISTMOUNT, 0usize, 0usize, 0usize, 0usize) };
    if rc < 0 {
        io::Error::last_os_error()
    } else {
        io::Error::other(format!("listmount returned {rc}"))
    }
}

/// Put SIGPIPE back to its default action. Rust's runtime ignores it at start, and an
/// ignored signal stays ignored across execve: a process we exec would inherit it
/// (`yes | head` would loop on EPIPE), and a CLI's output into a closed pipe would panic
/// instead of ending quietly as a C program does.
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler, so no Rust code can run in signal context; the
    // call only changes this process's disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Set signal `sig` to ignored (`true`) or back to its default action (`false`). Neither
/// installs a handler. Ignored signals stay ignored across execve.
pub fn set_ignored(sig: i32, ignored: bool) -> io::Result<()> {
    let action = if ignored {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    // SAFETY: SIG_IGN and SIG_DFL install no handler, so no Rust code can run in signal
    // context; the call only changes this process's disposition of one signal.
    if unsafe { libc::signal(sig, action) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A handle on our own /proc/self/task directory, opened while /proc is still the procfs
/// of our pid namespace. After setns into another mount or pid namespace, /proc/self may
/// not resolve any more; this fd still counts our threads.
#[derive(Debug)]
pub struct ThreadWatch(std::fs::File);

impl ThreadWatch {
    /// Open /proc/self/task now.
    pub fn open() -> io::Result<Self> {
        Ok(Self(std::fs::File::open("/proc/self/task")?))
    }

    /// How many threads the process has.
    pub fn count(&self) -> io::Result<usize> {
        let path = format!("/proc/self/fd/{}", self.0.as_raw_fd());
        match std::fs::read_dir(&path) {
            Ok(rd) => Ok(rd.count()),
            // /proc/self itself may be gone (foreign procfs): list through a dup'd fd instead.
            Err(_) => {
                let dir =
                    nix::dir::Dir::from_fd(nix::unistd::dup(&self.0).map_err(io::Error::from)?)
                        .map_err(io::Error::from)?;
                let mut dir = dir;
                Ok(dir
                    .iter()
                    .filter_map(|e| e.ok())
                    .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
                    .count())
            }
        }
    }
}

/// fork(2), refusing to run in a multithreaded process.
///
/// After fork only the calling thread exists in the child; any lock another thread held
/// (the allocator's, stdio's) would stay locked forever. The runtime never starts a thread,
/// and this check makes that an enforced invariant instead of a hope. The count is read
/// through `watch`, opened before any setns changed what /proc/self means.
pub fn fork_watched(watch: &ThreadWatch) -> io::Result<Forked> {
    let threads = watch.count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "fork: refusing to fork a process with {threads} threads"
        )));
    }
    // SAFETY: the process has exactly one thread (checked above), so the child inherits
    // no lock held by another thread; fork has no memory-safety preconditions beyond that.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// clone3(2) with CLONE_INTO_CGROUP: like [`fork_watched`], but the child starts life in
/// the cgroup2 directory `cgroup`, so nobody has to migrate it (a migration through
/// cgroup.procs takes a global lock whose first writer waits for an RCU grace period).
/// Fails (ENOSYS, EINVAL, EBADF...) where the kernel or the hierarchy does not allow it;
/// callers then fork and migrate.
pub fn fork_into_cgroup(watch: &ThreadWatch, cgroup: BorrowedFd<'_>) -> io::Result<Forked> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let threads = watch.count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "clone3: refusing to fork a process with {threads} threads"
        )));
    }
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: single-threaded (checked above), no new stack (the child continues on a
    // copy of ours, exactly as with fork), and `args` is a valid clone_args of the size
    // passed that outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// The kernel's `struct clone_args` (CLONE_ARGS_SIZE_VER2).
#[repr(C, align(8))]
#[derive(Default)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    pub(crate) pidfd: u64,
    pub(crate) child_tid: u64,
    pub(crate) parent_tid: u64,
    pub(crate) exit_signal: u64,
    pub(crate) stack: u64,
    pub(crate) stack_size: u64,
    pub(crate) tls: u64,
    pub(crate) set_tid: u64,
    pub(crate) set_tid_size: u64,
    pub(crate) cgroup: u64,
}

/// pidfd_open(2): a stable handle on a process, immune to pid reuse.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// pidfd_send_signal(2): signal the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: a valid borrowed fd, a signal number and a null siginfo are all the call reads.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setdomainname(2) for the calling process's UTS namespace.
pub fn setdomainname(name: &str) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the pointer and length describe a live, NUL-free byte buffer.
    let rc = unsafe { libc::setdomainname(c.as_ptr(), name.len()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// ioprio_set(2) for the calling process: `class` is IOPRIO_CLASS_* (1 RT, 2 BE, 3 IDLE).
pub fn ioprio_set_self(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    let prio = (class << 13) | (level & 0x1fff);
    // SAFETY: three integer arguments; 0 means the calling process.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's `struct sched_attr` (version 1, 56 bytes with utilization clamps).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    /// Size of this struct.
    pub size: u32,
    /// SCHED_* policy.
    pub policy: u32,
    /// SCHED_FLAG_* flags.
    pub flags: u64,
    /// Nice value for SCHED_OTHER/SCHED_BATCH.
    pub nice: i32,
    /// Static priority for SCHED_FIFO/SCHED_RR.
    pub priority: u32,
    /// SCHED_DEADLINE runtime, ns.
    pub runtime: u64,
    /// SCHED_DEADLINE deadline, ns.
    pub deadline: u64,
    /// SCHED_DEADLINE period, ns.
    pub period: u64,
    /// Minimum utilization clamp.
    pub util_min: u32,
    /// Maximum utilization clamp.
    pub util_max: u32,
}

/// sched_setattr(2) for the calling thread.
pub fn sched_setattr_self(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a properly sized, initialised sched_attr that outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set the calling process's personality(2) domain.
pub fn personality(persona: u64) -> io::Result<()> {
    // SAFETY: personality takes one integer and changes only this process's execution domain.
    let rc = unsafe { libc::personality(persona as libc::c_ulong) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): start a new session keyring named `name`.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the operation reads one C string that outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, c.as_ptr()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// shmget(2) with `key` in the calling process's IPC namespace: the segment's id. With
/// `create`, a 4 KiB segment is made when none has that key (it stays until IPC_RMID or
/// until the IPC namespace goes away); without, ENOENT says there is none.
pub fn shmget(key: i32, create: bool) -> io::Result<i32> {
    let flags = if create { libc::IPC_CREAT | 0o600 } else { 0 };
    // SAFETY: three integer arguments; the kernel reads and writes no memory of ours.
    let rc = unsafe { libc::shmget(key, 4096, flags) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_is_positive() {
        assert!(ThreadWatch::open().unwrap().count().unwrap() >= 1);
    }

    #[test]
    fn pidfd_of_self_signals_zero() {
        let fd = pidfd_open(std::process::id() as i32).unwrap();
        use std::os::fd::AsFd;
        pidfd_send_signal(fd.as_fd(), 0).unwrap();
    }
}
