//! The `cgroup` mount inside a container.
//!
//! cgroup v2: a fresh cgroup2 mount when the container has its own cgroup namespace (it then
//! sees its cgroup as the root), else a bind of its cgroup directory. cgroup v1: a tmpfs
//! with one bind mount per hierarchy of the container's own cgroup directory, as runc does,
//! so the container sees only its subtree.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::flags::MountOptions;
use super::mounts::{remount, reopen, MountCtx};
use super::paths::{open_or_create, proc_fd, Kind};
use crate::process::channel::{ChildError, Step, StepExt};

/// (mount point, super options) of every cgroup hierarchy on the host, from mountinfo.
fn hierarchies() -> Vec<(PathBuf, String, bool)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let mut post = post.split_whitespace();
        let fstype = post.next().unwrap_or("");
        let _src = post.next();
        let sopts = post.next().unwrap_or("").to_string();
        let mp = pre.split_whitespace().nth(4).unwrap_or("");
        if fstype == "cgroup" || fstype == "cgroup2" {
            out.push((PathBuf::from(mp), sopts, fstype == "cgroup2"));
        }
    }
    out
}

/// Mount the container's view of its cgroups at `dest`.
pub fn mount_cgroups(ctx: &MountCtx<'_>, dest: &Path, opts: &MountOptions) -> Result<(), ChildError> {
    let hs = hierarchies();
    let unified_only = hs.len() == 1 && hs[0].2 && hs[0].0 == Path::new("/sys/fs/cgroup");
    let ro = opts.flags & MsFlags::MS_RDONLY;
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if unified_only {
        let target = open_or_create(ctx.root, dest, Kind::Dir)?;
        if ctx.cgroupns {
            // The fresh cgroup2 mount shows the cgroup namespace's root: be in it first.
            // (Bind mounts of the host's directories below need no wait: the directories
            // exist before init is moved in.)
            (ctx.join_cgroup)()?;
            return mount(Some("cgroup2"), &proc_fd(&target), Some("cgroup2"), opts.flags, None::<&str>)
                .step(Step::Mount, dest.display());
        }
        return bind_dir(ctx, &Path::new("/sys/fs/cgroup").join(ctx.cgroup_path.trim_start_matches('/')), dest, base | ro);
    }
    let target = open_or_create(ctx.root, dest, Kind::Dir)?;
    mount(Some("tmpfs"), &proc_fd(&target), Some("tmpfs"), base, Some("mode=755"))
        .step(Step::Mount, dest.display())?;
    // A hybrid host's cgroup2 mount (here it carries only hugetlb) is left out, as runc does:
    // the container's limits live in the v1 hierarchies.
    for (mp, _sopts, _v2) in hs.iter().filter(|h| !h.2) {
        let Some(name) = mp.file_name() else { continue };
        if mp.parent() != Some(Path::new("/sys/fs/cgroup")) {
            continue;
        }
        let host = mp.join(ctx.cgroup_path.trim_start_matches('/'));
        let src = if host.is_dir() { host } else { mp.clone() };
        bind_dir(ctx, &src, &dest.join(name), base | ro)?;
    }
    // The tmpfs itself stays writable, as with runc and crun; each hierarchy is read-only.
    Ok(())
}

fn bind_dir(ctx: &MountCtx<'_>, src: &Path, dest: &Path, flags: MsFlags) -> Result<(), ChildError> {
    let t = open_or_create(ctx.root, dest, Kind::Dir)?;
    mount(Some(src), &proc_fd(&t), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .step(Step::Mount, dest.display())?;
    let top = reopen(ctx.root, dest)?;
    remount(&top, flags, ctx.userns).step(Step::Mount, dest.display())
}
