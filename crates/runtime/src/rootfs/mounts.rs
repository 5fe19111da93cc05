//! One spec mount into the rootfs: bind, tmpfs, proc, sysfs, mqueue, devpts, cgroup, ...

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

use super::flags::{parse_options, MountOptions};
use super::paths::{open_or_create, open_path, proc_fd, relative, Kind};
use crate::process::channel::{ChildError, Step, StepExt};

/// What the mount code needs to know beyond the spec mount itself.
pub struct MountCtx<'a> {
    /// The rootfs directory (before pivot).
    pub root: BorrowedFd<'a>,
    /// The bundle, for relative bind sources.
    pub bundle: &'a Path,
    /// Running inside a new user namespace: locked flags must be kept on remount.
    pub userns: bool,
    /// The container's cgroup path relative to each hierarchy root.
    pub cgroup_path: &'a str,
    /// The container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Idmapped trees the parent made, by mount index.
    pub idmaps: &'a IdmapTrees,
}

/// Detached, idmapped mount trees by their index in `mounts`.
pub type IdmapTrees = std::collections::HashMap<usize, OwnedFd>;

/// Make the detached idmapped clone of `src` for a container whose user namespace is
/// `userns` (done by the parent: only the host side may idmap a host mount).
pub fn idmapped_tree(
    src: &Path,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> std::io::Result<OwnedFd> {
    use berth_sys::mount::{open_tree, setattr, AT_RECURSIVE, OPEN_TREE_CLONE};
    let cwd = std::fs::File::open("/")?;
    let flags = OPEN_TREE_CLONE | if recursive { AT_RECURSIVE } else { 0 };
    let tree = open_tree(cwd.as_fd(), src, flags)?;
    setattr(tree.as_fd(), 0, 0, Some(userns), recursive)?;
    Ok(tree)
}

/// Mount `m` under the root.
pub fn mount_one(ctx: &MountCtx<'_>, index: usize, m: &Mount) -> Result<(), ChildError> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if opts.flags.contains(MsFlags::MS_BIND) || typ == "bind" || typ == "rbind" {
        return bind(ctx, index, m, &opts);
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return super::cgroupfs::mount_cgroups(ctx, dest, &opts);
    }
    let target = open_or_create(ctx.root, dest, Kind::Dir)?;
    // For tmpcopyup: a readable fd of what the image has there, kept across the mount.
    let below = match opts.copy_up && typ == "tmpfs" {
        true => Some(std::fs::File::open(proc_fd(&target)).step(Step::Mount, dest.display())?),
        false => None,
    };
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let flags = super::flags::without(opts.flags, MsFlags::MS_REMOUNT);
    mount(Some(&source), &proc_fd(&target), Some(typ), flags, data)
        .step(Step::Mount, dest.display())?;
    if let Some(below) = below {
        let top = reopen(ctx.root, dest)?;
        copy_tree(&proc_fd(&below), &proc_fd(&top)).step(Step::Mount, dest.display())?;
    }
    finish(ctx, dest, &opts)
}

/// Copy directories, files and symlinks with their modes and owners (for tmpcopyup).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            continue; // device nodes, sockets, fifos: not copied, as runc
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    let meta = std::fs::metadata(from)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

fn bind(
    ctx: &MountCtx<'_>,
    index: usize,
    m: &Mount,
    opts: &MountOptions,
) -> Result<(), ChildError> {
    let dest = m.destination();
    let src = m.source().clone().unwrap_or_default();
    let src = if src.is_absolute() {
        src
    } else {
        ctx.bundle.join(src)
    };
    let meta = std::fs::metadata(&src).step(Step::Mount, src.display())?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = open_or_create(ctx.root, dest, kind)?;
    let rec = opts.flags & MsFlags::MS_REC;
    if let Some(tree) = ctx.idmaps.get(&index) {
        berth_sys::mount::move_mount_to_fd(tree.as_fd(), target.as_fd())
            .step(Step::Mount, dest.display())?;
    } else {
        mount(
            Some(&src),
            &proc_fd(&target),
            None::<&str>,
            MsFlags::MS_BIND | rec,
            None::<&str>,
        )
        .step(Step::Mount, dest.display())?;
    }
    let extra = super::flags::without(
        opts.flags,
        MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT,
    );
    if !extra.is_empty() {
        let top = reopen(ctx.root, dest)?;
        remount(&top, extra, ctx.userns).step(Step::Mount, dest.display())?;
    }
    finish(ctx, dest, opts)
}

/// Reopen `dest` after something was mounted there, so the fd is the new mount's root.
pub fn reopen(root: BorrowedFd<'_>, dest: &Path) -> Result<OwnedFd, ChildError> {
    open_path(root, &relative(dest)).step(Step::MountTarget, dest.display())
}

/// Remount the bind mount at `top` with `flags`, keeping the flags the kernel locked
/// (nosuid/nodev/noexec/ro of the source, which a user namespace may not clear).
pub fn remount(top: &OwnedFd, flags: MsFlags, userns: bool) -> nix::Result<()> {
    let mut flags = flags | MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    if userns {
        let st = nix::sys::statvfs::fstatvfs(top)?;
        use nix::sys::statvfs::FsFlags;
        for (f, m) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        ] {
            if st.flags().contains(f) {
                flags |= m;
            }
        }
    }
    mount(
        None::<&str>,
        &proc_fd(top),
        None::<&str>,
        flags,
        None::<&str>,
    )
}

/// Propagation and recursive attributes, applied after the mount exists.
fn finish(ctx: &MountCtx<'_>, dest: &Path, opts: &MountOptions) -> Result<(), ChildError> {
    if opts.propagation.is_empty() && opts.recursive == 0 {
        return Ok(());
    }
    let top = reopen(ctx.root, dest)?;
    for p in &opts.propagation {
        mount(None::<&str>, &proc_fd(&top), None::<&str>, *p, None::<&str>)
            .step(Step::Propagation, dest.display())?;
    }
    if opts.recursive != 0 {
        berth_sys::mount::setattr(top.as_fd(), opts.recursive, 0, None, true)
            .step(Step::Mount, dest.display())?;
    }
    Ok(())
}
