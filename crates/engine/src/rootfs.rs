//! A container's root filesystem as the verbs that read or write it from the host see it
//! (`cp`, `export`): mounted while they work, and every path in it resolved through fds.
//!
//! - A running container's snapshot is already mounted (the monitor mounted it before
//!   create); a stopped one is mounted for the call and unmounted after, and its lock is
//!   held meanwhile, so a `start` waits instead of racing the unmount.
//! - Paths are resolved with openat2(RESOLVE_IN_ROOT): `..` and symlinks, absolute ones
//!   included, stop at the container's root, so a file in the container can never lead to
//!   one on the host (the class of runc CVE-2019-14271 / docker cp CVE-2018-15664).
//! - Volumes and bind mounts are mounted in the container's own mount namespace, not on the
//!   snapshot. `export` sees the snapshot's files under them (as Docker's, it leaves volumes
//!   out); `cp` asks for them with [`Rootfs::with_volumes`], which assembles the
//!   container's view in a private mount namespace ([`crate::volview`]) and resolves every
//!   path from that view's root, still with RESOLVE_IN_ROOT: a symlink in a volume leads
//!   to the container's files, never the host's.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_sys::fd::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

use crate::config::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::Lock;
use crate::volview;

/// Errors of the verbs that read or write a container's files.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The path does not exist in the container.
    #[error("Could not find the file {path} in container {container}")]
    NoSuchPath {
        /// The container as the user named it.
        container: String,
        /// The path as given.
        path: String,
    },
    /// Resolving a path in the container's root failed.
    #[error("resolve `{path}` in container {container}: {source}")]
    Resolve {
        /// The container as the user named it.
        container: String,
        /// The path as given.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A copy that `docker cp` refuses too.
    #[error("copy to `{path}`: {reason}")]
    Refused {
        /// The destination as given.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Mounting the container's volumes for a copy failed.
    #[error("mount the volumes of container {container} for the copy: {what}: {source}")]
    Volume {
        /// The container as the user named it.
        container: String,
        /// The step or mount target that failed.
        what: String,
        /// Why.
        source: io::Error,
    },
    /// Writing a tree as a tar failed.
    #[error(transparent)]
    Archive(#[from] berth_image::layer::diff::DiffError),
    /// Extracting a tar failed.
    #[error(transparent)]
    Unpack(#[from] berth_image::layer::LayerError),
}

/// A container's mounted rootfs, unmounted on drop if it was mounted for this call.
/// Fields drop in order: the root fd (which keeps the mount busy), the private namespace
/// of the volumes, the mount, the lock.
pub struct Rootfs<'a> {
    root: OwnedFd,
    _ns: Option<OwnedFd>,
    /// The mounts (ids) of the volumes that hold the ids the container sees, unmapped:
    /// named volumes of a container with a user namespace, `-v ...:idmap` binds.
    unmapped: Vec<u64>,
    _view: Option<berth_image::snapshot::View>,
    _mount: Mount<'a>,
    _lock: Option<Lock>,
    key: String,
    merged: PathBuf,
    /// What readlink of an fd below the root starts with: the merged dir, or `/` for a
    /// view (a detached mount's paths are relative to its own root).
    prefix: PathBuf,
}

/// Unmounts on drop a snapshot mounted for one call.
struct Mount<'a> {
    eng: &'a Engine,
    id: String,
    here: bool,
}

impl Drop for Mount<'_> {
    fn drop(&mut self) {
        if self.here {
            let _ = self.eng.snaps.unmount(&self.id);
        }
    }
}

impl std::fmt::Debug for Rootfs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rootfs")
            .field("merged", &self.merged)
            .finish()
    }
}

/// Where a path of the container lands: its parent directory (resolved in root) and its
/// last component, or the root itself (`name` `None`).
#[derive(Debug)]
pub struct Entry {
    /// The directory holding it.
    pub parent: OwnedFd,
    /// Its name there; `None` for the container's `/`.
    pub name: Option<Vec<u8>>,
}

impl<'a> Rootfs<'a> {
    /// Opens container `key`'s rootfs, mounting a stopped container's snapshot.
    pub fn open(eng: &'a Engine, key: &str) -> Result<(Container, Rootfs<'a>)> {
        let id = eng.containers.resolve(key)?;
        let lock = eng.containers.lock(&id)?;
        let c = eng.containers.config(&id)?;
        let st = crate::lifecycle::status(eng, &id)?;
        // A running container's monitor owns the mount; holding its lock would only delay
        // the monitor recording an exit.
        let lock = (!st.running).then_some(lock);
        let merged = eng.snaps.merged_dir(&id)?;
        let mounted_before = is_mount_point(&merged);
        let merged = eng.snaps.mount(&id)?;
        let mount = Mount {
            eng,
            id,
            here: !mounted_before,
        };
        let root = std::fs::File::open(&merged).map_err(Error::io("open", &merged))?;
        Ok((
            c,
            Rootfs {
                root: root.into(),
                _ns: None,
                unmapped: vec![],
                _view: None,
                _mount: mount,
                _lock: lock,
                key: key.to_string(),
                prefix: merged.clone(),
                merged,
            },
        ))
    }

    /// Opens container `key`'s rootfs to read it: with the container's own ids when it has
    /// a user namespace (a read-only view, see berth_image::snapshot::View), else as
    /// [`Rootfs::open`].
    pub fn open_read(eng: &'a Engine, key: &str) -> Result<(Container, Rootfs<'a>)> {
        let (c, mut fs) = Rootfs::open(eng, key)?;
        if let Some(view) = eng.snaps.rootfs_view(&c.id)? {
            let path = view.path();
            let root = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
            fs.root = root.into();
            fs.merged = path;
            fs.prefix = PathBuf::from("/");
            fs._view = Some(view);
        }
        Ok((c, fs))
    }

    /// Puts container `c`'s volumes and bind mounts over this rootfs, as its processes see
    /// them (see [`crate::volview`]); paths resolve from that view from now on, and
    /// [`Rootfs::path`] still names the bare snapshot. `write`: as the container writes
    /// there (missing mount points made).
    pub fn with_volumes(mut self, eng: &Engine, c: &Container, write: bool) -> Result<Self> {
        let (binds, idmapped) = container_binds(eng, c)?;
        let merged = eng.snaps.merged_dir(&c.id)?;
        let over = match &self._view {
            Some(v) => Some(std::fs::File::open(v.path()).map_err(Error::io("open", v.path()))?),
            None => None,
        };
        let view = volview::build(&merged, over.as_ref().map(|f| f.as_fd()), &binds, write)
            .map_err(|f| FsError::Volume {
                container: self.key.clone(),
                what: f.what,
                source: f.source,
            })?;
        self.unmapped = (idmapped.iter().zip(&view.mounts))
            .filter_map(|(idmapped, m)| m.filter(|_| *idmapped))
            .collect();
        self.root = view.root;
        self._ns = Some(view.ns);
        // Paths of fds in the private namespace read from its root, the rootfs.
        self.prefix = PathBuf::from("/");
        Ok(self)
    }

    /// Refuses a copy into `dir` (resolved in root; `path` as given) that the container
    /// could not make either: into a read-only volume or bind, or onto the rootfs of a
    /// `--read-only` container.
    pub fn check_writable(&self, c: &Container, dir: BorrowedFd<'_>, path: &str) -> Result<()> {
        use berth_sys::mount::mount_id_of_fd;
        let refused = |reason| -> Result<()> {
            Err(FsError::Refused {
                path: path.into(),
                reason,
            }
            .into())
        };
        let on_root = match (mount_id_of_fd(dir), mount_id_of_fd(self.root())) {
            (Ok(a), Ok(b)) => a == b,
            _ => true,
        };
        if on_root {
            if c.host_config.readonly_rootfs {
                return refused("the container's root filesystem is read-only");
            }
            return Ok(());
        }
        let st = nix::sys::statvfs::fstatvfs(dir).map_err(|e| self.resolve_err(path, e.into()))?;
        if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return refused("mounted volume is marked read-only");
        }
        Ok(())
    }

    /// Whether `dir` (resolved in root) is on a volume that holds the ids the container
    /// sees as they are (its runtime mount is idmapped), so a copy there writes those ids
    /// unmapped.
    pub fn holds_container_ids(&self, dir: BorrowedFd<'_>) -> bool {
        berth_sys::mount::mount_id_of_fd(dir).is_ok_and(|id| self.unmapped.contains(&id))
    }

    /// The merged view's path on the host.
    pub fn path(&self) -> &Path {
        &self.merged
    }

    /// The root directory's fd.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Resolves `path` (absolute or relative to `/`) in the container; `follow`: a symlink
    /// as last component is followed too (still inside the root). `None` when it does not
    /// exist.
    pub fn entry(&self, path: &str, follow: bool) -> Result<Option<Entry>> {
        let comps = clean(path);
        if follow && !comps.is_empty() {
            match self.open_in(path, libc::O_PATH) {
                Ok(fd) => return self.entry(&self.inner_path(&fd, path)?, false),
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(self.resolve_err(path, e)),
            }
        }
        let Some((last, dirs)) = comps.split_last() else {
            let parent = self
                .root
                .try_clone()
                .map_err(Error::io("dup", &self.merged))?;
            return Ok(Some(Entry { parent, name: None }));
        };
        let parent = match self.open_in(&dirs.join("/"), libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(self.resolve_err(path, e)),
        };
        let name = last.as_bytes().to_vec();
        let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        match nix::sys::stat::fstatat(&parent, Path::new(last.as_str()), flags) {
            Ok(_) => Ok(Some(Entry {
                parent,
                name: Some(name),
            })),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.resolve_err(path, e.into())),
        }
    }

    /// Opens `path` in the container with `flags`, every component resolved in root.
    pub fn open_in(&self, path: &str, flags: i32) -> io::Result<OwnedFd> {
        let rel = clean(path).join("/");
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        openat2(
            self.root.as_fd(),
            Path::new(&rel),
            flags,
            0,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )
    }

    /// The path inside the container of what `fd` (opened in root) is.
    fn inner_path(&self, fd: &OwnedFd, asked: &str) -> Result<String> {
        let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
        let real = std::fs::read_link(&link).map_err(Error::io("readlink", &link))?;
        let inner = real.strip_prefix(&self.prefix).map_err(|_| {
            self.resolve_err(asked, io::Error::other("resolved outside the container"))
        })?;
        Ok(format!(
            "/{}",
            String::from_utf8_lossy(inner.as_os_str().as_bytes())
        ))
    }

    /// A `Resolve` error for `path`.
    pub fn resolve_err(&self, path: &str, source: io::Error) -> Error {
        FsError::Resolve {
            container: self.key.clone(),
            path: path.into(),
            source,
        }
        .into()
    }

    /// A `NoSuchPath` error for `path`.
    pub fn no_such(&self, path: &str) -> Error {
        FsError::NoSuchPath {
            container: self.key.clone(),
            path: path.into(),
        }
        .into()
    }
}

/// The bind mounts of `c` in the order its spec mounts them ([`crate::spec`]): the
/// hostname, hosts and resolv.conf files berth wrote (unless a `-v` takes their place),
/// then `-v` and `--mount`. With each, whether the runtime idmaps it (a named volume or
/// `:idmap` bind of a container with a user namespace).
fn container_binds(eng: &Engine, c: &Container) -> Result<(Vec<volview::Bind>, Vec<bool>)> {
    let user = crate::monitor::prepare::binds(eng, c, false)?;
    let userns = !c.host_config.id_mappings.uid_map.is_empty();
    let dir = eng.dir(&c.id);
    let mut out = vec![];
    for f in ["hostname", "hosts", "resolv.conf"] {
        let target = format!("/etc/{f}");
        if !(c.host_config.binds.iter()).any(|b| b.split(':').nth(1) == Some(&target)) {
            let source = dir.join(f);
            out.push((
                volview::Bind {
                    source,
                    target,
                    read_only: false,
                },
                false,
            ));
        }
    }
    for b in user {
        let bind = volview::Bind {
            source: b.source,
            target: b.target,
            read_only: b.read_only,
        };
        out.push((bind, userns && b.idmap));
    }
    Ok(out.into_iter().unzip())
}

fn missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// Something is mounted on `dir` (its device differs from its parent's).
fn is_mount_point(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = dir.parent().unwrap_or(Path::new("/"));
    match (std::fs::metadata(dir), std::fs::metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

/// A path's components with empty and `.` ones dropped and `..` applied lexically (never
/// above the root), as Docker cleans container paths.
pub fn clean(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_below_the_root() {
        assert_eq!(clean("/etc/../etc/./passwd"), ["etc", "passwd"]);
        assert_eq!(clean("../../x"), ["x"]);
        assert!(clean("/").is_empty() && clean("/.").is_empty());
    }
}
