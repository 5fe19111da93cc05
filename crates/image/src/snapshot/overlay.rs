//! Mounting and unmounting a snapshot's overlay.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_sys::{fsmount, mount as sysmount};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::{io_err, SnapshotError, Snapshotter};

/// mount(2) copies at most one page of options.
const MAX_OPTIONS: usize = 4096;
/// fsconfig(2) copies at most 256 bytes of a string value, terminating NUL included.
const MAX_FSCONFIG_VALUE: usize = 255;

/// Serialises the process-wide chdir of the mount(2) fallback within this process.
static CWD: Mutex<()> = Mutex::new(());

/// True if something is mounted on `dir`: its device differs from its parent's.
fn is_mounted(dir: &Path) -> Result<bool, SnapshotError> {
    let own = fs::metadata(dir).map_err(io_err("stat", dir))?;
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let up = fs::metadata(parent).map_err(io_err("stat", parent))?;
    Ok(own.dev() != up.dev())
}

/// Why the fsconfig path did not mount: the kernel lacks it, or a real error.
enum NewApi {
    Unsupported,
    Failed(io::Error),
}

impl Snapshotter {
    /// Mounts snapshot `id`'s overlay on its merged dir and returns that dir. Mounting a
    /// snapshot that is already mounted returns its merged dir again.
    pub fn mount(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        let merged = self.merged_dir(id)?;
        if !merged.is_dir() {
            return Err(SnapshotError::NotFound(id.to_owned()));
        }
        let links = self.lower_links(id)?;
        if is_mounted(&merged)? {
            return Ok(merged);
        }
        if let Some(map) = self.idmap(id)? {
            self.mount_mapped(id, &links, &map)?;
            return Ok(merged);
        }
        self.mount_links(id, &links, &merged)?;
        Ok(merged)
    }

    /// Mounts an overlay of `links` (relative to the root) over snapshot `id`'s upper.
    pub(super) fn mount_links(
        &self,
        id: &str,
        links: &[String],
        merged: &Path,
    ) -> Result<(), SnapshotError> {
        let rel = format!("containers/{id}");
        self.mount_paths(
            links,
            &format!("{rel}/upper"),
            &format!("{rel}/work"),
            merged,
        )
    }

    /// Mounts an overlay of `links` with `upper` and `work` (all relative to the root).
    pub(super) fn mount_paths(
        &self,
        links: &[String],
        upper: &str,
        work: &str,
        merged: &Path,
    ) -> Result<(), SnapshotError> {
        let (up, wk) = (self.root.join(upper), self.root.join(work));
        match self.mount_fsconfig(links, &up, &wk, merged) {
            Ok(()) => Ok(()),
            Err(NewApi::Failed(source)) => Err(SnapshotError::Mount {
                path: merged.to_path_buf(),
                source,
            }),
            Err(NewApi::Unsupported) => self.mount_legacy(links, upper, work, merged),
        }
    }

    /// Linux 6.8+: one fsconfig `lowerdir+` per layer, so no option string has to hold them
    /// all. <https://docs.kernel.org/filesystems/overlayfs.html#multiple-lower-layers>
    fn mount_fsconfig(
        &self,
        links: &[String],
        upper: &Path,
        work: &Path,
        merged: &Path,
    ) -> Result<(), NewApi> {
        let ctx = fsmount::fsopen("overlay").map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) => NewApi::Unsupported,
            _ => NewApi::Failed(e),
        })?;
        let ctx = ctx.as_fd();
        let path_str = |p: &Path| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| NewApi::Failed(io::ErrorKind::InvalidInput.into()))
        };
        let lowers = links
            .iter()
            .map(|link| path_str(&self.root.join(link)))
            .collect::<Result<Vec<_>, _>>()?;
        let (upper, work) = (path_str(upper)?, path_str(work)?);
        // fsconfig takes values of at most 256 bytes; the fallback's relative paths are short.
        if lowers
            .iter()
            .chain([&upper, &work])
            .any(|p| p.len() > MAX_FSCONFIG_VALUE)
        {
            return Err(NewApi::Unsupported);
        }
        fsmount::set_string(ctx, "source", "overlay").map_err(NewApi::Failed)?;
        for (i, lower) in lowers.iter().enumerate() {
            if let Err(e) = fsmount::set_string(ctx, "lowerdir+", lower) {
                // A kernel before 6.8 rejects the unknown key with EINVAL.
                return Err(if i == 0 && e.raw_os_error() == Some(libc::EINVAL) {
                    NewApi::Unsupported
                } else {
                    NewApi::Failed(e)
                });
            }
        }
        fsmount::set_string(ctx, "upperdir", &upper).map_err(NewApi::Failed)?;
        fsmount::set_string(ctx, "workdir", &work).map_err(NewApi::Failed)?;
        fsmount::create(ctx).map_err(|e| match e.raw_os_error() {
            // Before 6.5 overlayfs takes fsconfig keys unchecked and parses them only
            // here, so a kernel without `lowerdir+` (6.1, Debian 12's) fails now. mount(2)
            // then says whether the options themselves are wrong.
            Some(libc::EINVAL) => NewApi::Unsupported,
            _ => NewApi::Failed(e),
        })?;
        let tree = fsmount::fsmount(ctx).map_err(NewApi::Failed)?;
        let target: OwnedFd = File::open(merged).map_err(NewApi::Failed)?.into();
        sysmount::move_mount_to_fd(tree.as_fd(), target.as_fd()).map_err(NewApi::Failed)
    }

    /// Older kernels: mount(2) with every path relative to the root, as Docker's overlay2
    /// does, so 128 lowers of `l/<26 chars>` fit in the one-page option limit. chdir is
    /// process-wide: berth mounts from one thread, and the cwd is restored before returning.
    fn mount_legacy(
        &self,
        links: &[String],
        upper: &str,
        work: &str,
        merged: &Path,
    ) -> Result<(), SnapshotError> {
        let data = legacy_options(links, upper, work);
        if data.len() + 1 > MAX_OPTIONS {
            return Err(SnapshotError::OptionsTooLong {
                id: upper.to_owned(),
                len: data.len() + 1,
                max: MAX_OPTIONS,
            });
        }
        let _guard = CWD.lock().unwrap_or_else(|p| p.into_inner());
        let cwd = std::env::current_dir().map_err(io_err("get cwd", Path::new(".")))?;
        std::env::set_current_dir(&self.root).map_err(io_err("chdir", &self.root))?;
        let mounted = mount(
            Some("overlay"),
            merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        );
        std::env::set_current_dir(&cwd).map_err(io_err("chdir back", &cwd))?;
        mounted.map_err(|e| SnapshotError::Mount {
            path: merged.to_path_buf(),
            source: e.into(),
        })
    }

    /// Unmounts snapshot `id`'s overlay if it is mounted.
    pub fn unmount(&self, id: &str) -> Result<(), SnapshotError> {
        let merged = self.merged_dir(id)?;
        if !merged.exists() {
            return Ok(());
        }
        while is_mounted(&merged)? {
            umount2(&merged, MntFlags::empty()).map_err(|e| SnapshotError::Unmount {
                path: merged.clone(),
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

/// The mount(2) option string for the fallback, every path relative to the root.
fn legacy_options(links: &[String], upper: &str, work: &str) -> String {
    format!(
        "lowerdir={},upperdir={upper},workdir={work}",
        links.join(":")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::id;

    #[test]
    fn legacy_options_for_128_layers_fit_in_a_page() {
        let hex = |i: usize| format!("{i:064x}");
        let links: Vec<String> = (0..128)
            .map(|i| format!("l/{}", id::short_link(&hex(i))))
            .collect();
        let id = "f".repeat(64);
        let rel = format!("containers/{id}");
        let data = legacy_options(&links, &format!("{rel}/upper"), &format!("{rel}/work"));
        assert!(data.len() < MAX_OPTIONS, "{} bytes", data.len());
        assert!(data.starts_with("lowerdir=l/"));
        assert!(data.ends_with(&format!("workdir=containers/{id}/work")));
        assert_eq!(data.matches(':').count(), 127);
        // Absolute diff paths (what the short links replace) would not fit.
        let absolute: usize = (0..128)
            .map(|i| format!("/var/lib/berth/overlay/layers/{}/diff:", hex(i)).len())
            .sum();
        assert!(absolute > MAX_OPTIONS);
    }
}
