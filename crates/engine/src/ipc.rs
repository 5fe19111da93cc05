//! `/dev/shm` for the IPC modes, as Docker shares it: a `shareable` container's /dev/shm
//! is a tmpfs berth mounts on the host (`<container>/shm`) while it runs and binds in, so
//! that `--ipc container:X` can bind the same one; `--ipc host` binds the host's /dev/shm.
//! A `private` container (the default) gets a tmpfs of its own inside its mount namespace;
//! berth still lets others join its IPC namespace (SysV shm, semaphores, message queues),
//! but not its /dev/shm, which nothing on the host can reach.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::config::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Where a shareable container's /dev/shm is mounted on the host.
pub fn shm_dir(eng: &Engine, id: &str) -> PathBuf {
    eng.dir(id).join("shm")
}

/// Mounts `c`'s host-side /dev/shm when it is shareable; returns what to bind at /dev/shm
/// (None: a tmpfs of its own inside the container).
pub fn prepare_shm(eng: &Engine, c: &Container, shm_size: i64) -> Result<Option<PathBuf>> {
    let mode = c.host_config.ipc_mode.as_str();
    if mode == "host" {
        return Ok(Some(PathBuf::from("/dev/shm")));
    }
    if mode == "shareable" {
        let dir = shm_dir(eng, &c.id);
        std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
        if !is_mount_point(&dir) {
            let data = format!("mode=1777,size={shm_size}");
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(Some("shm"), &dir, Some("tmpfs"), flags, Some(data.as_str()))
                .map_err(|e| Error::io("mount tmpfs on", &dir)(e.into()))?;
        }
        return Ok(Some(dir));
    }
    let Some(other) = mode.strip_prefix("container:") else {
        return Ok(None);
    };
    let id = eng.containers.resolve(other)?;
    let donor = eng.containers.config(&id)?;
    let dir = shm_dir(eng, &id);
    Ok((donor.host_config.ipc_mode == "shareable" && is_mount_point(&dir)).then_some(dir))
}

/// Unmounts `id`'s host-side /dev/shm, if it has one mounted.
pub fn release_shm(eng: &Engine, id: &str) {
    let dir = shm_dir(eng, id);
    while is_mount_point(&dir) {
        if umount2(&dir, MntFlags::MNT_DETACH).is_err() {
            break;
        }
    }
}

/// True when `p` is the root of a mount (its device differs from its parent's).
fn is_mount_point(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::symlink_metadata(p),
        p.parent().map(std::fs::symlink_metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev()
}
