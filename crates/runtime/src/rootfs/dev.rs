//! /dev inside the container: default devices, the spec's devices, standard symlinks.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::paths::{open_or_create, proc_fd, relative, Kind};
use crate::process::channel::{ChildError, Step, StepExt};

/// The devices every container gets (as runc and crun give them).
pub const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// Create the default devices plus `extra`; bind from the host when mknod is not allowed
/// (inside a user namespace).
pub fn create_devices(
    root: BorrowedFd<'_>,
    extra: &[LinuxDevice],
    bind: bool,
) -> Result<(), ChildError> {
    for (path, major, minor) in DEFAULT_DEVICES {
        if extra.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        make(
            root,
            Path::new(path),
            SFlag::S_IFCHR,
            major,
            minor,
            0o666,
            None,
            bind,
        )?;
    }
    for d in extra {
        let kind = match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let owner = Some((d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
        let mode = d.file_mode().unwrap_or(0o666);
        make(
            root,
            d.path(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            mode,
            owner,
            bind,
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make(
    root: BorrowedFd<'_>,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    owner: Option<(u32, u32)>,
    bind: bool,
) -> Result<(), ChildError> {
    let rel = relative(path);
    let parent_rel = rel.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let parent = open_or_create(root, &Path::new("/").join(&parent_rel), Kind::Dir)?;
    let name = rel
        .file_name()
        .ok_or_else(|| ChildError::new(Step::Device, path.display(), libc::EINVAL))?;
    // A file left by the image (or a previous create) is replaced, as runc does.
    let _ = nix::unistd::unlinkat(&parent, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    if bind {
        let target = open_or_create(root, path, Kind::File)?;
        mount(
            Some(path),
            &proc_fd(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .step(Step::Device, path.display())?;
        return Ok(());
    }
    let parent_fd = reopen_dir(&parent).step(Step::Device, path.display())?;
    mknodat(
        &parent_fd,
        name,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )
    .step(Step::Device, path.display())?;
    let fd = nix::fcntl::openat(
        &parent_fd,
        name,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(Step::Device, path.display())?;
    // mknod applies the umask; set the mode the spec asked for exactly.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &proc_fd(&fd),
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .step(Step::Device, path.display())?;
    if let Some((uid, gid)) = owner {
        nix::unistd::chown(&proc_fd(&fd), Some(uid.into()), Some(gid.into()))
            .step(Step::Device, path.display())?;
    }
    Ok(())
}

fn reopen_dir(fd: &impl AsFd) -> std::io::Result<std::fs::File> {
    std::fs::File::open(proc_fd(fd))
}

/// The standard /dev symlinks (fd, stdin, stdout, stderr, ptmx, core).
pub fn create_symlinks(root: BorrowedFd<'_>) -> Result<(), ChildError> {
    let dev = open_or_create(root, Path::new("/dev"), Kind::Dir)?;
    let dev = reopen_dir(&dev).step(Step::Device, "/dev")?;
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ];
    for (name, to) in links {
        match nix::unistd::symlinkat(to, &dev, name) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => {
                return Err(ChildError::new(
                    Step::Device,
                    format!("/dev/{name}"),
                    e as i32,
                ))
            }
        }
    }
    // /dev/ptmx must be the devpts instance's ptmx so ptys come from the container's pts.
    let _ = nix::unistd::unlinkat(&dev, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
    nix::unistd::symlinkat("pts/ptmx", &dev, "ptmx").step(Step::Device, "/dev/ptmx")
}

/// Devices are bound from the host rather than made with mknod (user namespaces).
pub fn must_bind(userns: bool) -> bool {
    userns
}

/// /dev is a mount of the spec's (a tmpfs), so we may populate it.
pub fn owns_dev(spec: &oci_spec::runtime::Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new("/dev"))
}
