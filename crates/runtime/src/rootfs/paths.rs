//! Resolve mount destinations inside the rootfs without ever following a symlink out of it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT) from an fd of the rootfs, so `..` and
//! absolute symlinks stay inside it (the CVE-2021-30465 class). Mounts then target
//! `/proc/self/fd/N` of the resolved O_PATH fd, never a path string that could be swapped.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_sys::fd::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use nix::sys::stat::Mode;

use crate::process::channel::{ChildError, Step};

/// What to create at a destination that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (most mounts).
    Dir,
    /// An empty file (bind mounts of files, device nodes bound from the host).
    File,
}

/// Open `dest` (absolute, container view) under `root` as O_PATH, creating missing parts.
///
/// A dangling symlink on the way (an image's `/var/run -> /run` before /run exists) is
/// followed the way the kernel would, inside the root, and its target is created.
pub fn open_or_create(
    root: BorrowedFd<'_>,
    dest: &Path,
    kind: Kind,
) -> Result<OwnedFd, ChildError> {
    let mut rel = relative(dest);
    for _ in 0..40 {
        match create_step(root, &rel, kind) {
            Ok(Walk::Done(fd)) => return Ok(fd),
            Ok(Walk::Restart(next)) => rel = next,
            Err(errno) => {
                return Err(ChildError::new(
                    Step::MountTarget,
                    dest.display(),
                    errno as i32,
                ))
            }
        }
    }
    Err(ChildError::new(
        Step::MountTarget,
        dest.display(),
        libc::ELOOP,
    ))
}

enum Walk {
    Done(OwnedFd),
    Restart(PathBuf),
}

fn create_step(root: BorrowedFd<'_>, rel: &Path, kind: Kind) -> nix::Result<Walk> {
    if let Ok(fd) = open_path(root, rel) {
        return Ok(Walk::Done(fd));
    }
    let comps: Vec<Component<'_>> = rel.components().collect();
    let mut cur = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        let name = match c {
            Component::Normal(n) => *n,
            Component::ParentDir => {
                cur.pop();
                continue;
            }
            _ => continue,
        };
        let next = cur.join(name);
        if open_path(root, &next).is_ok() {
            cur = next;
            continue;
        }
        let parent = open_path(root, &cur)
            .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        if let Ok(target) = nix::fcntl::readlinkat(&parent, name) {
            let target = PathBuf::from(target);
            let base = if target.is_absolute() {
                relative(&target)
            } else {
                cur.join(target)
            };
            let rest: PathBuf = comps[i + 1..].iter().collect();
            return Ok(Walk::Restart(base.join(rest)));
        }
        let last = i + 1 == comps.len();
        let made = if last && kind == Kind::File {
            use nix::fcntl::OFlag;
            let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
            nix::fcntl::openat(&parent, name, flags, Mode::from_bits_truncate(0o644)).map(drop)
        } else {
            nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o755))
        };
        match made {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => return Err(e),
        }
        cur = next;
    }
    open_path(root, &cur)
        .map(Walk::Done)
        .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// Open an existing `dest` under `root` as O_PATH (following symlinks inside the root).
pub fn open_path(root: BorrowedFd<'_>, rel: &Path) -> std::io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    openat2(
        root,
        rel,
        libc::O_PATH,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// `dest` as a path relative to the root.
pub fn relative(dest: &Path) -> PathBuf {
    dest.components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect()
}

/// The magic-link path through which syscalls that take a path reach `fd`.
pub fn proc_fd(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("escape")).unwrap();
        let root = std::fs::File::open(d.path()).unwrap();
        let fd = open_or_create(root.as_fd(), Path::new("/escape/x/y"), Kind::Dir).unwrap();
        let real = std::fs::read_link(proc_fd(&fd)).unwrap();
        assert!(real.starts_with(d.path()), "{} escaped", real.display());
        assert!(!outside.path().join("x").exists());
        assert!(
            d.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("x/y")
                .is_dir(),
            "created inside"
        );
        let f = open_or_create(root.as_fd(), Path::new("/../../f"), Kind::File).unwrap();
        assert!(std::fs::read_link(proc_fd(&f))
            .unwrap()
            .starts_with(d.path()));
    }
}
