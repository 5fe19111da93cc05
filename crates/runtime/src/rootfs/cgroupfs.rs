//! The `cgroup` mount inside a container.
//!
//! cgroup v2: a fresh cgroup2 mount when the container has its own cgroup namespace (it then
//! sees its cgroup as the root), else a bind of its cgroup directory. cgroup v1: a tmpfs
//! with one bind mount per hierarchy of the container's own cgroup directory, as runc does,
//! so the container sees only its subtree.

use std::path::Path;

use berth_cgroups::Layout;

use nix::mount::{mount, MsFlags};

use super::flags::MountOptions;
use super::mounts::{remount, reopen, MountCtx};
use super::paths::{open_or_create, proc_fd, Kind};
use crate::process::channel::{ChildError, Step, StepExt};

/// Mount the container's view of its cgroups at `dest`.
pub fn mount_cgroups(
    ctx: &MountCtx<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), ChildError> {
    let layout = berth_cgroups::host_layout().map_err(|e| ChildError {
        step: Step::Mount,
        object: dest.display().to_string(),
        errno: 0,
        detail: Some(e.to_string()),
    })?;
    let ro = opts.flags & MsFlags::MS_RDONLY;
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let rel = ctx.cgroup_path.trim_start_matches('/');
    let hierarchies = match layout {
        Layout::V2 { root } => {
            let target = open_or_create(ctx.root, dest, Kind::Dir)?;
            if ctx.cgroupns {
                // A fresh cgroup2 mount shows the cgroup namespace's root: our cgroup.
                return mount(
                    Some("cgroup2"),
                    &proc_fd(&target),
                    Some("cgroup2"),
                    opts.flags,
                    None::<&str>,
                )
                .step(Step::Mount, dest.display());
            }
            return bind_dir(ctx, &root.join(rel), dest, base | ro);
        }
        // A hybrid host's cgroup2 mount (here it carries only hugetlb) is left out, as runc
        // does: the container's limits live in the v1 hierarchies.
        Layout::V1 { hierarchies } | Layout::Hybrid { hierarchies, .. } => hierarchies,
    };
    let target = open_or_create(ctx.root, dest, Kind::Dir)?;
    mount(
        Some("tmpfs"),
        &proc_fd(&target),
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .step(Step::Mount, dest.display())?;
    for h in &hierarchies {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let host = h.mount_point.join(rel);
        let src = if host.is_dir() {
            host
        } else {
            h.mount_point.clone()
        };
        bind_dir(ctx, &src, &dest.join(name), base | ro)?;
    }
    // The tmpfs itself stays writable, as with runc and crun; each hierarchy is read-only.
    Ok(())
}

fn bind_dir(ctx: &MountCtx<'_>, src: &Path, dest: &Path, flags: MsFlags) -> Result<(), ChildError> {
    let t = open_or_create(ctx.root, dest, Kind::Dir)?;
    mount(
        Some(src),
        &proc_fd(&t),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .step(Step::Mount, dest.display())?;
    let top = reopen(ctx.root, dest)?;
    remount(&top, flags, ctx.userns).step(Step::Mount, dest.display())
}
