//! The container's filesystem view, set up inside its new mount namespace.
//!
//! Order, and why:
//! 1. Make `/` a slave (or the spec's rootfsPropagation) so nothing we mount leaks to the host.
//! 2. Make the rootfs's parent mount private: pivot_root(2) refuses a shared parent.
//! 3. Bind the rootfs onto itself: pivot_root needs a mount point.
//! 4. The spec's mounts, in order, each target resolved inside the rootfs (paths.rs).
//! 5. /dev devices and symlinks when /dev is ours.
//! 6. createContainer hooks (caller's closure): in our namespaces, before pivot_root.
//! 7. pivot_root (or MS_MOVE + chroot for --no-pivot), detaching the old root.
//! 8. Check /proc is procfs before anything writes there; masked and read-only paths;
//!    a read-only rootfs last, so the steps above could still write.

pub mod cgroupfs;
pub mod dev;
pub mod flags;
pub mod mounts;
pub mod paths;

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

use crate::process::channel::{ChildError, Step, StepExt};

/// Inputs of [`setup`].
pub struct RootfsCtx<'a> {
    /// The validated spec.
    pub spec: &'a Spec,
    /// Absolute rootfs path.
    pub rootfs: &'a Path,
    /// Absolute bundle path.
    pub bundle: &'a Path,
    /// A new user namespace is in use (devices are bound, locked flags kept).
    pub userns: bool,
    /// The container's cgroup path relative to each hierarchy.
    pub cgroup_path: &'a str,
    /// The container has its own cgroup namespace.
    pub cgroupns: bool,
    /// MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Idmapped trees the parent made, by mount index.
    pub idmaps: &'a mounts::IdmapTrees,
}

/// Build the container's root and enter it; `before_pivot` runs createContainer hooks.
pub fn setup(
    ctx: &RootfsCtx<'_>,
    before_pivot: impl FnOnce() -> Result<(), ChildError>,
) -> Result<(), ChildError> {
    let linux = ctx.spec.linux().as_ref();
    let propagation = linux
        .and_then(|l| l.rootfs_propagation().clone())
        .filter(|p| !p.is_empty());
    let root_prop = match propagation.as_deref().and_then(flags::parse_option) {
        Some(flags::MountOpt::Propagation(p)) if !p.contains(MsFlags::MS_SHARED) => {
            p | MsFlags::MS_REC
        }
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount(None::<&str>, "/", None::<&str>, root_prop, None::<&str>).step(Step::Propagation, "/")?;
    make_parent_private(ctx.rootfs)?;
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .step(Step::Mount, ctx.rootfs.display())?;
    let root: OwnedFd = std::fs::File::open(ctx.rootfs)
        .step(Step::Mount, ctx.rootfs.display())?
        .into();
    let mctx = mounts::MountCtx {
        root: root.as_fd(),
        bundle: ctx.bundle,
        userns: ctx.userns,
        cgroup_path: ctx.cgroup_path,
        cgroupns: ctx.cgroupns,
        idmaps: ctx.idmaps,
    };
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        mounts::mount_one(&mctx, i, m)?;
    }
    let devices = linux.and_then(|l| l.devices().clone()).unwrap_or_default();
    if dev::owns_dev(ctx.spec) {
        dev::create_devices(root.as_fd(), &devices, dev::must_bind(ctx.userns))?;
        dev::create_symlinks(root.as_fd())?;
    } else if !devices.is_empty() {
        dev::create_devices(root.as_fd(), &devices, dev::must_bind(ctx.userns))?;
    }
    before_pivot()?;
    if ctx.no_pivot {
        move_root(ctx.rootfs)?;
    } else {
        pivot(&root)?;
    }
    if let Some(flags::MountOpt::Propagation(p)) =
        propagation.as_deref().and_then(flags::parse_option)
    {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>).step(Step::Propagation, "/")?;
    }
    Ok(())
}

/// After the pivot: masked paths, read-only paths, read-only root.
pub fn finish(spec: &Spec) -> Result<(), ChildError> {
    let linux = spec.linux().as_ref();
    if Path::new("/proc/self").exists() {
        verify_proc()?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
    {
        mask(Path::new(&p))?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default()
    {
        readonly(Path::new(&p))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let top: OwnedFd = std::fs::File::open("/")
            .step(Step::ReadonlyPath, "/")?
            .into();
        let ro = MsFlags::MS_RDONLY;
        mounts::remount(&top, ro, true).step(Step::ReadonlyPath, "/")?;
    }
    Ok(())
}

/// Refuse to write under /proc unless it really is procfs (a fake /proc in the image could
/// redirect our writes, e.g. of sysctls or oom_score_adj, to files of its choosing).
pub fn verify_proc() -> Result<(), ChildError> {
    let st = nix::sys::statfs::statfs("/proc").step(Step::VerifyProc, "/proc")?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(ChildError::new(Step::VerifyProc, "/proc", libc::EXDEV));
    }
    Ok(())
}

fn make_parent_private(rootfs: &Path) -> Result<(), ChildError> {
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    // statx's mount ids walk a few directories; the mount table has a line per mount on
    // the host (one per running container), and reading it costs ~5 ms per 1000.
    let best =
        match std::fs::canonicalize(parent).and_then(|p| berth_sys::mount::mount_point_of(&p)) {
            Ok(p) => p,
            Err(_) => mount_point_from_table(parent)?,
        };
    mount(
        None::<&str>,
        &best,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .step(Step::Propagation, best.display())
}

/// The longest mount point in /proc/self/mountinfo that `dir` is under (kernels before
/// 5.8 have no statx mount id).
fn mount_point_from_table(dir: &Path) -> Result<PathBuf, ChildError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .step(Step::Propagation, "/proc/self/mountinfo")?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(PathBuf::from))
        .filter(|mp| dir.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// pivot_root(".", "."): the old root ends up stacked under the new one, so we can detach
/// it without needing a directory for it inside the container.
fn pivot(new_root: &OwnedFd) -> Result<(), ChildError> {
    let old_root = std::fs::File::open("/").step(Step::PivotRoot, "/")?;
    nix::unistd::fchdir(new_root).step(Step::PivotRoot, "rootfs")?;
    nix::unistd::pivot_root(".", ".").step(Step::PivotRoot, "rootfs")?;
    nix::unistd::fchdir(&old_root).step(Step::PivotRoot, "old root")?;
    // Slave first: an unmount must not propagate back to the host's mounts.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .step(Step::PivotRoot, "old root")?;
    umount2(".", MntFlags::MNT_DETACH).step(Step::PivotRoot, "old root")?;
    nix::unistd::chdir("/").step(Step::PivotRoot, "/")
}

fn move_root(rootfs: &Path) -> Result<(), ChildError> {
    nix::unistd::chdir(rootfs).step(Step::PivotRoot, rootfs.display())?;
    mount(
        Some(rootfs),
        "/",
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .step(Step::PivotRoot, rootfs.display())?;
    nix::unistd::chroot(".").step(Step::PivotRoot, rootfs.display())?;
    nix::unistd::chdir("/").step(Step::PivotRoot, "/")
}

fn mask(p: &Path) -> Result<(), ChildError> {
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ChildError::new(
                Step::MaskPath,
                p.display(),
                e.raw_os_error().unwrap_or(0),
            ))
        }
    };
    if meta.is_dir() {
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .step(Step::MaskPath, p.display())
    } else {
        mount(
            Some("/dev/null"),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .step(Step::MaskPath, p.display())
    }
}

fn readonly(p: &Path) -> Result<(), ChildError> {
    match mount(
        Some(p),
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Ok(()) => {}
        Err(nix::Error::ENOENT) => return Ok(()),
        Err(e) => return Err(ChildError::new(Step::ReadonlyPath, p.display(), e as i32)),
    }
    let top: OwnedFd = std::fs::File::open(p)
        .step(Step::ReadonlyPath, p.display())?
        .into();
    mounts::remount(&top, MsFlags::MS_RDONLY | MsFlags::MS_REC, true)
        .step(Step::ReadonlyPath, p.display())
}
