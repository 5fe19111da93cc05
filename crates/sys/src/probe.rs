//! Syscalls the in-container checker attempts, to show that a container cannot reach past
//! its walls (`berth-check try ...`). Each is made with arguments that fail harmlessly
//! once the kernel's privilege checks have passed (null pointers, bad magic numbers, too
//! many segments), so a probe run where it is allowed (`--privileged`) answers EFAULT or
//! EINVAL and changes nothing: no module is loaded, no kexec image replaced, no reboot.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// The result of a raw syscall: `Ok(value)` or the errno.
fn result(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// clone(2) with `flags` (namespace flags, say) and SIGCHLD, on the caller's stack as
/// fork does; the child exits at once and is reaped.
pub fn clone_exit(flags: u64) -> io::Result<()> {
    // SAFETY: without CLONE_VM the child gets a copy of our memory, as with fork; it only
    // calls _exit, which is async-signal-safe, so no lock or allocator state matters.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    let pid = result(rc)?;
    if pid == 0 {
        // SAFETY: the child leaves at once without running destructors or atexit handlers.
        unsafe { libc::_exit(0) };
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
    Ok(())
}

/// add_key(2): a "user" key with a one-byte payload in the process keyring.
pub fn add_key() -> io::Result<()> {
    const KEY_SPEC_PROCESS_KEYRING: libc::c_long = -2;
    let payload = b"x";
    // SAFETY: two valid C strings and a one-byte buffer that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            c"berth-check".as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_PROCESS_KEYRING,
        )
    };
    result(rc).map(drop)
}

/// bpf(BPF_MAP_CREATE) with a null attribute of size 0: EINVAL from a kernel that let the
/// call through (map type 0 is no map), EPERM from a filter or without CAP_BPF.
pub fn bpf_null() -> io::Error {
    // SAFETY: the attribute pointer is null with size 0, so the kernel reads nothing.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, 0usize, 0usize, 0usize) };
    error_of(rc)
}

/// perf_event_open(2) with a null attribute: EFAULT once the call is let through.
pub fn perf_event_open_null() -> io::Error {
    // SAFETY: the attribute pointer is null: the kernel fails to read it and returns.
    let rc = unsafe { libc::syscall(libc::SYS_perf_event_open, 0usize, 0, -1, -1, 0usize) };
    error_of(rc)
}

/// userfaultfd(UFFD_USER_MODE_ONLY): the kernel gives it without privileges (user-mode
/// faults only); the fd is closed at once.
pub fn userfaultfd() -> io::Result<()> {
    const UFFD_USER_MODE_ONLY: libc::c_long = 1;
    // SAFETY: one integer argument; a returned fd is owned and closed below.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_userfaultfd,
            UFFD_USER_MODE_ONLY | libc::O_CLOEXEC as libc::c_long,
        )
    };
    let fd = result(rc)?;
    // SAFETY: the kernel returned a fresh fd we now own.
    drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Ok(())
}

/// open_by_handle_at(2) with a null handle: EFAULT once CAP_DAC_READ_SEARCH let it through.
pub fn open_by_handle_null() -> io::Error {
    // SAFETY: the handle pointer is null: the kernel fails to read it and returns.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            libc::AT_FDCWD,
            0usize,
            libc::O_RDONLY,
        )
    };
    error_of(rc)
}

/// kexec_load(2) with more segments than the kernel takes (16): EINVAL once CAP_SYS_BOOT
/// let it through, so the loaded kexec image, if any, stays.
pub fn kexec_load_too_many() -> io::Error {
    // SAFETY: the segment count is refused before the (null) segment array is read.
    let rc = unsafe { libc::syscall(libc::SYS_kexec_load, 0usize, 1000usize, 0usize, 0usize) };
    error_of(rc)
}

/// reboot(2) with a wrong second magic number: EINVAL once CAP_SYS_BOOT let it through.
pub fn reboot_bad_magic() -> io::Error {
    // SAFETY: magic2 is wrong, so the kernel returns before any command is looked at.
    let rc = unsafe { libc::syscall(libc::SYS_reboot, 0xfee1_deadu32, 0x1234u32, 0u32, 0usize) };
    error_of(rc)
}

/// init_module(2) of an empty image: ENOEXEC (or EINVAL) once CAP_SYS_MODULE let it through.
pub fn init_module_empty() -> io::Error {
    // SAFETY: length 0, so no image is read; the parameter string is a valid C string.
    let rc = unsafe { libc::syscall(libc::SYS_init_module, 0usize, 0usize, c"".as_ptr()) };
    error_of(rc)
}

/// finit_module(2) of fd -1: EBADF once CAP_SYS_MODULE let it through.
pub fn finit_module_bad_fd() -> io::Error {
    // SAFETY: fd -1 is refused before anything is read; the parameters are a valid C string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, -1, c"".as_ptr(), 0) };
    error_of(rc)
}

/// The error of a call that was meant to fail; a success is reported as an odd error.
fn error_of(rc: libc::c_long) -> io::Error {
    match result(rc) {
        Err(e) => e,
        Ok(v) => io::Error::other(format!("succeeded with {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harmless_arguments_fail_as_documented() {
        // The test suite runs as root, with every capability and no filter; a kernel built
        // without modules (seen here) has no finit_module at all.
        let finit = finit_module_bad_fd().raw_os_error();
        assert!(
            matches!(finit, Some(libc::EBADF | libc::ENOSYS)),
            "{finit:?}"
        );
        assert_eq!(reboot_bad_magic().raw_os_error(), Some(libc::EINVAL));
        assert_eq!(perf_event_open_null().raw_os_error(), Some(libc::EFAULT));
        clone_exit(0).unwrap();
    }
}
