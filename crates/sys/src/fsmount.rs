//! Filesystem contexts of the new mount API: fsopen(2), fsconfig(2), fsmount(2).
//!
//! Unlike mount(2), whose option string is limited to one page, a context takes its options
//! one at a time, so an overlay with hundreds of lower layers can be configured with one
//! `lowerdir+` call per layer (Linux 6.8+). Attach the result with
//! [`crate::mount::move_mount_to_fd`].

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const FSOPEN_CLOEXEC: u32 = 0x1;
const FSMOUNT_CLOEXEC: u32 = 0x1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_SET_FD: u32 = 5;
const FSCONFIG_CMD_CREATE: u32 = 6;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// fsopen(2): a new, unconfigured filesystem context for the filesystem type `fstype`.
pub fn fsopen(fstype: &str) -> io::Result<OwnedFd> {
    let t = cstr(fstype)?;
    // SAFETY: a valid C string and an integer flag.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn fsconfig(
    ctx: BorrowedFd<'_>,
    cmd: u32,
    key: Option<&CString>,
    value: Option<&CString>,
) -> io::Result<()> {
    let key = key.map_or(std::ptr::null(), |k| k.as_ptr());
    let value = value.map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: a valid fd; `key` and `value` are null or valid C strings that outlive the call;
    // aux is 0 for every command used here.
    let rc = unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), cmd, key, value, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// fsconfig(FSCONFIG_SET_STRING): set option `key` to `value` (the kernel caps a value at 256
/// bytes).
pub fn set_string(ctx: BorrowedFd<'_>, key: &str, value: &str) -> io::Result<()> {
    fsconfig(
        ctx,
        FSCONFIG_SET_STRING,
        Some(&cstr(key)?),
        Some(&cstr(value)?),
    )
}

/// fsconfig(FSCONFIG_SET_FD): set option `key` to the file `fd` (overlayfs takes its
/// layers this way since Linux 6.13, detached and idmapped mounts included).
pub fn set_fd(ctx: BorrowedFd<'_>, key: &str, fd: BorrowedFd<'_>) -> io::Result<()> {
    let key = cstr(key)?;
    // SAFETY: a valid context fd, a valid C string key that outlives the call, a null value
    // and the layer's fd as aux, as FSCONFIG_SET_FD wants.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_FD,
            key.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            fd.as_raw_fd(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// fsconfig(FSCONFIG_SET_FLAG): set the valueless option `key`.
pub fn set_flag(ctx: BorrowedFd<'_>, key: &str) -> io::Result<()> {
    fsconfig(ctx, FSCONFIG_SET_FLAG, Some(&cstr(key)?), None)
}

/// fsconfig(FSCONFIG_CMD_CREATE): create the superblock from the options set so far.
pub fn create(ctx: BorrowedFd<'_>) -> io::Result<()> {
    fsconfig(ctx, FSCONFIG_CMD_CREATE, None, None)
}

/// fsmount(2): a detached mount of the created context, to attach with move_mount.
pub fn fsmount(ctx: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: a valid fd and integer flags (no mount attributes).
    let fd = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
