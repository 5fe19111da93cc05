//! A container's files as its processes see them, for `cp`: the rootfs with the volumes
//! and bind mounts on their targets, assembled in a private mount namespace of our own.
//!
//! The same for a running and a stopped container (as `docker cp`, which mounts the
//! container's volumes on its rootfs in a private namespace too): one thread
//!
//! 1. unshares its mount namespace and makes every mount in it private, so nothing it
//!    mounts reaches the host's peers;
//! 2. clones each bind source (`open_tree`, recursive as the runtime's `rbind`) while the
//!    host's paths are still in view, read-only where the runtime mounts it so (`:ro`).
//!    Not idmapped: a mount idmapped with the container's maps refuses to create files for
//!    our uid 0 (EOVERFLOW, host root has no id there), so the caller writes the ids the
//!    container sees straight into such a volume instead (see [`View::mounts`]);
//! 3. pivots into the rootfs and detaches everything else, so the namespace holds the
//!    container's tree only (nothing of the host's stays reachable, nor keeps a host
//!    mount busy);
//! 4. attaches each clone at its target, resolved in the rootfs with RESOLVE_IN_ROOT in
//!    the spec's order (an outer volume before one inside it), as the runtime does;
//! 5. returns the root's fd and the namespace's fd, which keeps the namespace (and so the
//!    mounts) alive after the thread ends. Dropping both tears it down: a killed `cp`
//!    leaves no mount behind.
//!
//! Not in the view: the container's tmpfs, /proc, /sys and /dev (a stopped container has
//! none; for a running one `docker cp` does not see them either), and anything a process
//! mounted inside the container.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_sys::fd::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use berth_sys::mount as sysmount;
use nix::mount::{MntFlags, MsFlags};

/// One bind mount of the container, as the runtime makes it.
#[derive(Debug, Clone)]
pub(crate) struct Bind {
    /// Its source on the host.
    pub source: PathBuf,
    /// Where it is in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The assembled view: the root's fd and the namespace that holds its mounts.
#[derive(Debug)]
pub(crate) struct View {
    /// The container's `/` in the private namespace.
    pub root: OwnedFd,
    /// Keeps the namespace alive; dropped after every fd below `root`.
    pub ns: OwnedFd,
    /// The mount id of each bind as attached (`None`: left out), in `binds`' order.
    pub mounts: Vec<Option<u64>>,
}

/// What failed, for the caller's error.
#[derive(Debug)]
pub(crate) struct Failed {
    /// The step or the mount's target.
    pub what: String,
    /// Why.
    pub source: io::Error,
}

fn at(what: impl Into<String>) -> impl FnOnce(io::Error) -> Failed {
    let what = what.into();
    move |source| Failed { what, source }
}

fn nix_io(e: nix::errno::Errno) -> io::Error {
    e.into()
}

/// Builds the view of the rootfs mounted at `merged` (or of `over`, a detached mount to
/// put over it, such as an idmapped read-only view) with `binds`. `create`: make missing
/// mount points in the rootfs as the runtime would at start; else such binds are left out.
pub(crate) fn build(
    merged: &Path,
    over: Option<BorrowedFd<'_>>,
    binds: &[Bind],
    create: bool,
) -> Result<View, Failed> {
    std::thread::scope(|s| {
        // A thread of its own: unshare(CLONE_NEWNS) also unshares its root and cwd
        // (CLONE_FS), so the pivot below changes neither for the rest of the process.
        s.spawn(|| assemble(merged, over, binds, create))
            .join()
            .unwrap_or_else(|_| Err(at("assemble")(io::Error::other("the thread panicked"))))
    })
}

fn assemble(
    merged: &Path,
    over: Option<BorrowedFd<'_>>,
    binds: &[Bind],
    create: bool,
) -> Result<View, Failed> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| at("unshare the mount namespace")(nix_io(e)))?;
    let rprivate = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    nix::mount::mount(None::<&str>, "/", None::<&str>, rprivate, None::<&str>)
        .map_err(|e| at("make / private")(nix_io(e)))?;
    let ns = File::open("/proc/thread-self/ns/mnt").map_err(at("open the mount namespace"))?;
    let trees = clone_sources(binds)?;
    if let Some(over) = over {
        let under = File::open(merged).map_err(at(merged.display().to_string()))?;
        sysmount::move_mount_to_fd(over, under.as_fd())
            .map_err(at(format!("mount the view on {}", merged.display())))?;
    }
    pivot(merged)?;
    let root: OwnedFd = File::open("/").map_err(at("open the root"))?.into();
    let mut mounts = vec![];
    for (b, tree) in binds.iter().zip(trees) {
        let Some((tree, dir)) = tree else {
            mounts.push(None);
            continue;
        };
        let Some(target) = mount_point(&root, &b.target, dir, create).map_err(at(&b.target))?
        else {
            mounts.push(None);
            continue;
        };
        sysmount::move_mount_to_fd(tree.as_fd(), target.as_fd()).map_err(at(&b.target))?;
        mounts.push(Some(
            sysmount::mount_id_of_fd(tree.as_fd()).map_err(at(&b.target))?,
        ));
    }
    Ok(View {
        root,
        ns: ns.into(),
        mounts,
    })
}

/// Detached clones of the binds' sources (`None` for a source that is gone, such as a
/// named volume not made yet), each with whether it is a directory.
fn clone_sources(binds: &[Bind]) -> Result<Vec<Option<(OwnedFd, bool)>>, Failed> {
    let host = File::open("/").map_err(at("open /"))?;
    let mut out = vec![];
    for b in binds {
        let Ok(meta) = std::fs::metadata(&b.source) else {
            out.push(None);
            continue;
        };
        let what = || b.source.display().to_string();
        let flags = sysmount::OPEN_TREE_CLONE | sysmount::AT_RECURSIVE;
        let tree = sysmount::open_tree(host.as_fd(), &b.source, flags).map_err(at(what()))?;
        if b.read_only {
            let ro = sysmount::MOUNT_ATTR_RDONLY;
            sysmount::setattr(tree.as_fd(), ro, 0, None, true).map_err(at(what()))?;
        }
        out.push(Some((tree, meta.is_dir())));
    }
    Ok(out)
}

/// Makes the rootfs at `merged` this namespace's root and detaches the rest: the old
/// root is stacked on the new one by pivot_root(".", ".") and unmounted lazily (the
/// pivot_root(2) man page's own recipe, no directory for the old root needed).
fn pivot(merged: &Path) -> Result<(), Failed> {
    let step = |what: &str| at(format!("{what} {}", merged.display()));
    nix::unistd::chdir(merged).map_err(|e| step("chdir")(nix_io(e)))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| step("pivot_root")(nix_io(e)))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| step("detach the host's mounts from")(nix_io(e)))?;
    nix::unistd::chdir("/").map_err(|e| step("chdir /")(nix_io(e)))
}

fn in_root(root: &OwnedFd, rel: &str, flags: i32) -> io::Result<OwnedFd> {
    let rel = if rel.is_empty() { "." } else { rel };
    openat2(
        root.as_fd(),
        Path::new(rel),
        flags,
        0,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// The mount point `target` in `root`, made (a directory for a directory source, else an
/// empty file, parents as directories) when missing and `create`.
fn mount_point(
    root: &OwnedFd,
    target: &str,
    dir: bool,
    create: bool,
) -> io::Result<Option<OwnedFd>> {
    let comps = crate::rootfs::clean(target);
    let rel = comps.join("/");
    match in_root(root, &rel, libc::O_PATH) {
        Ok(fd) => return Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    }
    let Some((last, dirs)) = comps.split_last() else {
        return Ok(None);
    };
    let mut parent = in_root(root, "", libc::O_PATH | libc::O_DIRECTORY)?;
    for (i, d) in dirs.iter().enumerate() {
        mkdir(&parent, d)?;
        parent = in_root(
            root,
            &dirs[..=i].join("/"),
            libc::O_PATH | libc::O_DIRECTORY,
        )?;
    }
    if dir {
        mkdir(&parent, last)?;
    } else {
        let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        match openat2(
            parent.as_fd(),
            Path::new(last.as_str()),
            flags,
            0o644,
            RESOLVE_IN_ROOT,
        ) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    in_root(root, &rel, libc::O_PATH).map(Some)
}

fn mkdir(parent: &OwnedFd, name: &str) -> io::Result<()> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o755);
    match nix::sys::stat::mkdirat(parent, Path::new(name), mode) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_made_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("/../../..", root.join("up")).unwrap();
        let fd: OwnedFd = File::open(&root).unwrap().into();
        assert!(mount_point(&fd, "/up/a/b", true, true).unwrap().is_some());
        assert!(root.join("a/b").is_dir());
        assert!(mount_point(&fd, "/up/f", false, true).unwrap().is_some());
        assert!(root.join("f").is_file());
        assert!(mount_point(&fd, "/missing", true, false).unwrap().is_none());
        assert!(!root.join("missing").exists());
        assert!(mount_point(&fd, "/", true, true).unwrap().is_some());
    }
}
