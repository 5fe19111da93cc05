//! The new mount API pieces nix lacks: open_tree, mount_setattr (idmapped mounts), move_mount.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// open_tree flag: clone the mount instead of opening it in place.
pub const OPEN_TREE_CLONE: u32 = 1;
/// open_tree/move_mount flag: also take submounts.
pub const AT_RECURSIVE: u32 = 0x8000;
/// mount_setattr attribute: the mount is idmapped through `userns_fd`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// mount_setattr attribute: the mount is read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;

fn cpath(p: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// open_tree(2): a detached clone of the mount at `path` (relative to `dir`).
pub fn open_tree(dir: BorrowedFd<'_>, path: &Path, flags: u32) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: valid fd, valid C string, integer flags.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dir.as_raw_fd(),
            c.as_ptr(),
            flags | libc::O_CLOEXEC as u32,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh fd we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount `tree` (an fd from open_tree or open): set and clear
/// MOUNT_ATTR_* bits, optionally idmapping it through the user namespace `userns`.
pub fn setattr(
    tree: BorrowedFd<'_>,
    set: u64,
    clear: u64,
    userns: Option<BorrowedFd<'_>>,
    recursive: bool,
) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set
            | if userns.is_some() {
                MOUNT_ATTR_IDMAP
            } else {
                0
            },
        attr_clr: clear,
        propagation: 0,
        userns_fd: userns.map(|u| u.as_raw_fd() as u64).unwrap_or(0),
    };
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` is a valid mount_attr of the size passed, `empty` a valid C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// move_mount(2): attach the detached mount `tree` at `target` (an fd of the target itself).
pub fn move_mount_to_fd(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    let empty = c"";
    // SAFETY: two valid fds and two valid empty C strings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The id of the mount that `path` (symlinks followed) is on, from statx(2)
/// `STATX_MNT_ID` (Linux 5.8+; `Unsupported` before). The same id as mountinfo's first
/// field, without reading a mount table that grows with every mount.
pub fn mount_id(path: &Path) -> io::Result<u64> {
    let c = cpath(path)?;
    // SAFETY: statx is plain data, for which all-zero bytes are a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string, `st` is a writable statx the kernel fills in.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_MNT_ID,
            &mut st,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if st.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::ErrorKind::Unsupported.into());
    }
    Ok(st.stx_mnt_id)
}

/// The id of the mount that `fd` (any fd, O_PATH ones included) is on, as [`mount_id`].
pub fn mount_id_of_fd(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: statx is plain data, for which all-zero bytes are a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd, a valid empty C string, `st` a writable statx the kernel fills.
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_MNT_ID,
            &mut st,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if st.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::ErrorKind::Unsupported.into());
    }
    Ok(st.stx_mnt_id)
}

/// The mount point of the mount that `path` is on: the highest of `path` and its
/// ancestors that is on the same mount. `path` must be canonical (no symlinks, no `..`).
pub fn mount_point_of(path: &Path) -> io::Result<std::path::PathBuf> {
    let id = mount_id(path)?;
    let mut point = path;
    while let Some(up) = point.parent() {
        if mount_id(up)? != id {
            break;
        }
        point = up;
    }
    Ok(point.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_point_of_proc_and_root() {
        assert_eq!(
            mount_point_of(Path::new("/proc/self")).unwrap(),
            Path::new("/proc")
        );
        assert_eq!(mount_point_of(Path::new("/")).unwrap(), Path::new("/"));
    }
}
