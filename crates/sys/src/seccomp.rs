//! seccomp(2): load a precompiled classic-BPF filter and probe what the kernel supports.
//!
//! The runtime compiles an OCI `linux.seccomp` object into a [`SockFilter`] program in the
//! parent (libseccomp allocates and is not async-signal-safe); the container's init, after
//! fork and right before execve, only calls [`set_mode_filter`]. That function therefore
//! does no allocation and takes no locks: it builds a `sock_fprog` on the stack and makes
//! one syscall. See crun `src/libcrun/seccomp.c` (`libcrun_apply_seccomp`) for the same
//! split.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::ptr;

/// seccomp(2) operation: install a filter (`SECCOMP_SET_MODE_FILTER`).
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
/// seccomp(2) operation: ask whether a return action is supported (Linux 4.14).
const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;

/// Filter flag: synchronise every thread of the process onto the new filter.
pub const FLAG_TSYNC: u32 = 1 << 0;
/// Filter flag: log every action except `SECCOMP_RET_ALLOW` (Linux 4.14).
pub const FLAG_LOG: u32 = 1 << 1;
/// Filter flag: do not enable the speculative store bypass mitigation (Linux 4.17).
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// Filter flag: return a user-notification listener fd (Linux 5.0).
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// Filter flag: with TSYNC, report a failed sync as ESRCH so NEW_LISTENER can be used (5.7).
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// Filter flag: a notified task waits killably once the agent received it (Linux 5.19).
/// The kernel accepts it only together with [`FLAG_NEW_LISTENER`].
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Largest program the kernel accepts (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// One classic-BPF instruction, laid out exactly like the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFilter {
    /// Opcode (`BPF_LD | BPF_W | BPF_ABS`, ...).
    pub code: u16,
    /// Jump offset when a conditional jump is taken.
    pub jt: u8,
    /// Jump offset when a conditional jump is not taken.
    pub jf: u8,
    /// Immediate operand.
    pub k: u32,
}

// The program is handed to the kernel as `*const libc::sock_filter`; keep the layouts equal.
const _: () =
    assert!(std::mem::size_of::<SockFilter>() == std::mem::size_of::<libc::sock_filter>());
const _: () =
    assert!(std::mem::align_of::<SockFilter>() == std::mem::align_of::<libc::sock_filter>());

/// Install `prog` as a seccomp filter on the calling thread (seccomp(2) `SET_MODE_FILTER`).
///
/// `flags` is a mask of the `FLAG_*` constants. Returns the user-notification listener when
/// [`FLAG_NEW_LISTENER`] is in `flags`, `None` otherwise. The caller must already have
/// `no_new_privs` set or hold `CAP_SYS_ADMIN` in its user namespace (kernel rule).
///
/// Async-signal-safe: no allocation, no locks; safe to call between fork and execve.
pub fn set_mode_filter(prog: &[SockFilter], flags: u32) -> io::Result<Option<OwnedFd>> {
    let len = u16::try_from(prog.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `fprog` points at `len` initialised instructions with the kernel's layout
    // (asserted above); both outlive the call and the kernel only reads (copies) them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            ptr::addr_of!(fprog),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    let fd = i32::try_from(rc).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: with NEW_LISTENER the kernel returns a fresh fd that nobody else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the kernel supports the filter return action `action` (a `SECCOMP_RET_*`
/// value such as `0x7fc0_0000` for USER_NOTIF), via seccomp(2) `GET_ACTION_AVAIL`.
///
/// Kernels older than 4.14 lack the operation; they report every action as unavailable.
pub fn action_available(action: u32) -> bool {
    // SAFETY: the kernel reads one u32 through the pointer, which lives across the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            ptr::addr_of!(action),
        )
    };
    rc == 0
}

/// Whether the kernel accepts the filter flag mask `flags` for `SET_MODE_FILTER`.
///
/// Probes the way libseccomp does: a NULL program makes a kernel that knows every flag
/// fail with EFAULT while copying the program, and one that does not fail with EINVAL.
/// Nothing is installed either way, and no privilege is needed.
pub fn flags_supported(flags: u32) -> bool {
    // SAFETY: a NULL program pointer is rejected by the kernel (EFAULT); nothing is read
    // from or written to our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            ptr::null::<libc::sock_fprog>(),
        )
    };
    rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    const RET_USER_NOTIF: u32 = 0x7fc0_0000;

    #[test]
    fn actions_the_running_kernel_supports() {
        // Every kernel this project targets (>= 5.x) has these.
        for action in [RET_ALLOW, RET_ERRNO, RET_USER_NOTIF] {
            assert!(action_available(action), "action {action:#x}");
        }
        assert!(
            !action_available(0x1234_0000),
            "a made-up action must be refused"
        );
    }

    #[test]
    fn flag_probe() {
        for flags in [FLAG_TSYNC, FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_NEW_LISTENER] {
            assert!(flags_supported(flags), "flags {flags:#x}");
        }
        assert!(!flags_supported(1 << 31), "an unknown flag must be refused");
        // The kernel refuses TSYNC together with NEW_LISTENER unless TSYNC_ESRCH is set.
        assert!(!flags_supported(FLAG_TSYNC | FLAG_NEW_LISTENER));
    }

    #[test]
    fn too_long_program_is_einval_without_a_syscall() {
        let prog = vec![
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ALLOW
            };
            70_000
        ];
        let err = set_mode_filter(&prog, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    /// Loads `ret ERRNO(1234)` for `getppid` (else allow) on a fresh thread, so the test
    /// harness's other threads stay unfiltered, and checks the errno comes back.
    #[test]
    fn load_on_a_thread() {
        let nr = libc::SYS_getppid as u32;
        let arch = native_audit_arch();
        let prog = [
            SockFilter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 4,
            }, // ld [arch]
            SockFilter {
                code: 0x15,
                jt: 1,
                jf: 0,
                k: arch,
            }, // jeq arch, +1
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ALLOW,
            },
            SockFilter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 0,
            }, // ld [nr]
            SockFilter {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: nr,
            }, // jeq getppid
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ERRNO | 1234,
            },
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ALLOW,
            },
        ];
        let errno = std::thread::spawn(move || {
            nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
            assert!(set_mode_filter(&prog, 0).expect("load").is_none());
            // SAFETY: getppid takes no arguments and cannot fail except through the filter.
            let rc = unsafe { libc::syscall(libc::SYS_getppid) };
            (rc, io::Error::last_os_error().raw_os_error())
        })
        .join()
        .expect("thread");
        assert_eq!(errno, (-1, Some(1234)));
    }

    fn native_audit_arch() -> u32 {
        if cfg!(target_arch = "x86_64") {
            0xc000_003e
        } else if cfg!(target_arch = "aarch64") {
            0xc000_00b7
        } else {
            panic!("add this architecture's AUDIT_ARCH value to the test");
        }
    }
}
