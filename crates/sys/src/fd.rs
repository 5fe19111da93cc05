//! File descriptor syscalls: close_range, openat2.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// openat2 `resolve` flag: treat the dirfd as the root for every lookup, `..` and symlinks.
pub const RESOLVE_IN_ROOT: u64 = 0x10;
/// openat2 `resolve` flag: refuse every symlink on the way (overlay's own lookup in a layer).
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// openat2 `resolve` flag: refuse magic links such as /proc/self/fd/N.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;

/// The kernel's `struct open_how`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Mark every fd from `first` upwards close-on-exec (close_range(2) CLOSE_RANGE_CLOEXEC).
///
/// Used right before execve so no runtime fd (state dir, sync sockets, a host directory)
/// reaches the container (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: three integers; marking fds CLOEXEC cannot invalidate anything we own.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// openat2(2) of `path` under `dir` with `flags` (O_*), `mode` and `resolve` (RESOLVE_*).
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        // O_TMPFILE includes O_DIRECTORY's bit: test it whole, or every O_DIRECTORY open
        // would pass a mode, which openat2 refuses (EINVAL).
        mode: if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
            mode as u64
        } else {
            0
        },
        resolve,
    };
    // SAFETY: `c` is a valid C string and `how` a valid open_how; both outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut how as *mut OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd; we are its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Take ownership of a raw fd that a syscall (open, recvmsg's SCM_RIGHTS) just returned.
///
/// Callers pass only fds that the kernel returned to this process and that nothing else owns.
pub fn adopt(fd: RawFd) -> OwnedFd {
    assert!(fd >= 0, "adopt: negative fd {fd}");
    // SAFETY: per the contract above, the fd is open and has no other owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Take ownership of fd `fd` inherited from the parent across execve (named on the
/// command line), marking it close-on-exec; an error when no such fd is open.
///
/// Callers pass each inherited number once, before anything else could open that number.
pub fn inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_SETFD on an integer fd touches no memory; EBADF when it is not open.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(adopt(fd))
}

/// flock(2) LOCK_EX|LOCK_NB on `fd`'s open file: held until every fd of that open file is
/// closed, in this process or any it passed a copy to (nix's `Flock` unlocks on drop, which
/// would release it for those copies too). EWOULDBLOCK when someone else holds it.
pub fn lock_exclusive_nonblock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: flock on a borrowed, open fd touches no memory.
    if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// TIOCSWINSZ: set a terminal's window size.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct, which lives across the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// TIOCGWINSZ: a terminal's window size as (rows, cols).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize struct into memory we own.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut ws as *mut libc::winsize,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// TIOCSCTTY: make the terminal `fd` the calling session's controlling terminal.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument and touches no user memory.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn in_root_keeps_dotdot_inside() {
        let d = std::env::temp_dir().join(format!("berth-sys-fd-{}", std::process::id()));
        std::fs::create_dir_all(d.join("a")).unwrap();
        std::fs::write(d.join("a/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/../../a/f", d.join("link")).unwrap();
        let root = std::fs::File::open(&d).unwrap();
        let f = openat2(
            root.as_fd(),
            Path::new("link"),
            libc::O_RDONLY,
            0,
            RESOLVE_IN_ROOT,
        );
        assert!(f.is_ok(), "absolute symlink resolves inside the root");
        let e = openat2(
            root.as_fd(),
            Path::new("../../etc/passwd"),
            libc::O_RDONLY,
            0,
            RESOLVE_IN_ROOT,
        );
        assert!(e.is_err(), "no /etc/passwd inside the temp root");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
