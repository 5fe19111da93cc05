//! A user namespace with given id maps, held by an fd, for idmapping mounts before the
//! container (and its own user namespace) exists.
//!
//! mount_setattr(MOUNT_ATTR_IDMAP) takes the maps of a user namespace fd; only the maps
//! matter, not which namespace carries them, and the mount keeps its own reference. So a
//! throwaway child is cloned into a new user namespace, its maps are written from here
//! (we are privileged in the parent namespace), its namespace is opened, and it exits.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::process::CloneArgs;

/// A new user namespace whose `/proc/PID/uid_map` and `gid_map` get `uid_map` and
/// `gid_map` (lines of `inside outside count`).
pub fn with_maps(uid_map: &str, gid_map: &str) -> io::Result<OwnedFd> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh fds we now own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let args = CloneArgs {
        flags: libc::CLONE_NEWUSER as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; the child runs on a copy of
    // our stack and calls only async-signal-safe functions (close, read, _exit), so it is
    // sound even if this process has other threads.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: async-signal-safe calls on fds this child owns; it waits for the parent
        // to close its end of the pipe, then exits without running any destructor.
        unsafe {
            libc::close(wr.as_raw_fd());
            libc::read(rd.as_raw_fd(), (&mut b as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    let pid = pid as i32;
    drop(rd);
    let opened = (|| {
        File::options()
            .write(true)
            .open(format!("/proc/{pid}/uid_map"))?
            .write_all(uid_map.as_bytes())?;
        File::options()
            .write(true)
            .open(format!("/proc/{pid}/gid_map"))?
            .write_all(gid_map.as_bytes())?;
        File::open(format!("/proc/{pid}/ns/user"))
    })();
    drop(wr);
    let mut status = 0;
    // SAFETY: waiting for our own child, with a valid int to fill.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Ok(opened?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_carries_the_maps() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skip: needs root");
            return;
        }
        let fd = with_maps("0 100000 65536\n", "0 200000 1000\n").unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert!(link.to_string_lossy().starts_with("user:["), "{link:?}");
    }
}
