//! Probes of the kernel's security features that need a raw syscall: the Landlock ABI
//! version and whether mount_setattr(2) (idmapped mounts) exists. Both calls change nothing.

use std::io;

/// `LANDLOCK_CREATE_RULESET_VERSION` (include/uapi/linux/landlock.h): ask for the ABI
/// version instead of making a ruleset.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1 << 0;

/// The Landlock ABI version the running kernel offers (1 for 5.13, higher for later
/// kernels). EOPNOTSUPP: built in but disabled at boot (`lsm=` without landlock); ENOSYS:
/// not built in (or a seccomp filter denies it).
pub fn landlock_abi_version() -> io::Result<u32> {
    // SAFETY: with the VERSION flag the attribute pointer must be null and its size 0; the
    // kernel only returns the version (landlock_create_ruleset(2)), no fd is made.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as u32)
    }
}

/// mount_setattr(2) (Linux 5.12, which brought idmapped mounts) exists: called on fd -1
/// with a null attribute, a kernel that has it fails with EBADF or EINVAL before looking
/// at anything, one without it with ENOSYS.
pub fn has_mount_setattr() -> bool {
    // SAFETY: the fd is invalid and the attribute pointer null with size 0, so the kernel
    // rejects the call without reading memory or changing any mount.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1 as libc::c_int,
            std::ptr::null::<libc::c_char>(),
            0 as libc::c_uint,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_answer_without_side_effects() {
        // Either a version or one of the documented errors, never anything else.
        match landlock_abi_version() {
            Ok(v) => assert!(v >= 1),
            Err(e) => assert!(
                matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)),
                "{e}"
            ),
        }
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut it = release
            .split(['.', '-'])
            .map(|x| x.parse::<u32>().unwrap_or(0));
        if (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (5, 12) {
            assert!(has_mount_setattr());
        }
    }
}
