//! Overlay snapshots: shared read-only layers below, a container's own upper above.
//!
//! Each layer is unpacked once under `layers/<hex>/diff` and shared by every snapshot whose
//! `lower` file names it. Layout under the root (berth uses `/var/lib/berth/overlay`), modelled
//! on Docker's overlay2 driver:
//!
//! ```text
//! layers/<hex>/diff        a layer's unpacked contents (hex = its chain id's digest)
//! layers/<hex>/link        the layer's short-link name
//! layers/.staging-<hex>    a layer being unpacked (renamed into place on commit)
//! l/<26 base32>            short link -> ../layers/<hex>/diff
//! locks/<hex>.lock         flock taken while a layer is prepared or removed
//! containers/<id>/{upper,work,merged}
//! containers/<id>/lower    the snapshot's layers, top first: `l/A:l/B:...`
//! ```
//!
//! The short links keep overlay's options small: mount(2) takes one page of options, and 128
//! absolute lower paths overflow it. [`Snapshotter::mount`] passes each layer separately
//! through fsconfig(2) `lowerdir+` (Linux 6.8+) and on older kernels falls back to mount(2)
//! with `l/<id>` paths relative to the root, as Docker does.
//! <https://github.com/moby/moby/blob/master/daemon/graphdriver/overlay2/overlay.go>
//!
//! Which layers are still used is the caller's business (image and container records); this
//! module only refuses to remove a layer that a snapshot on disk still names.

pub(crate) mod check;
mod id;
mod idmap;
mod layer;
mod overlay;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use idmap::{IdMapping, IdRange, IdmapMethod, View};
pub use layer::LayerSlot;

const LOWER_FILE: &str = "lower";

/// The snapshotter's root under the store's root (`/var/lib/berth/overlay`).
pub const STORE_DIR: &str = "overlay";

/// What went wrong in a snapshot operation; each variant names the id or path involved.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A chain id that is not `sha256:` followed by 64 lower-case hex digits.
    #[error("invalid chain id `{0}`: want sha256:<64 lower-case hex digits>")]
    InvalidChainId(String),
    /// A snapshot id that is not one safe path component.
    #[error(
        "invalid snapshot id `{0}`: want 1-128 of [A-Za-z0-9_.-], starting with a letter or digit"
    )]
    InvalidId(String),
    /// A filesystem operation failed.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// The operation, e.g. "create dir".
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// Taking a layer's lock failed.
    #[error("lock layer `{chain_id}`: {source}")]
    Lock {
        /// The layer's chain id.
        chain_id: String,
        /// The error from flock(2).
        #[source]
        source: io::Error,
    },
    /// A snapshot names a layer that is not unpacked.
    #[error("create snapshot `{id}`: layer `{chain_id}` is not unpacked")]
    LayerMissing {
        /// The snapshot id.
        id: String,
        /// The missing layer's chain id.
        chain_id: String,
    },
    /// A layer cannot be removed because a snapshot still uses it.
    #[error("remove layer `{chain_id}`: used by snapshot `{id}`")]
    LayerInUse {
        /// The layer's chain id.
        chain_id: String,
        /// A snapshot whose `lower` file names it.
        id: String,
    },
    /// A snapshot needs at least one lower layer (overlay refuses to mount without one); an
    /// image without layers can use one empty layer.
    #[error("create snapshot `{0}`: no lower layers (overlay needs at least one)")]
    NoLowers(String),
    /// A snapshot with this id already exists.
    #[error("create snapshot `{0}`: already exists")]
    Exists(String),
    /// No snapshot with this id exists.
    #[error("snapshot `{0}`: not found")]
    NotFound(String),
    /// A snapshot's `lower` file or a short link holds something this module never writes.
    #[error("snapshot `{id}`: bad lower entry `{entry}` in `{path}`")]
    CorruptLower {
        /// The snapshot id.
        id: String,
        /// The file or link read.
        path: PathBuf,
        /// The entry that failed to parse.
        entry: String,
    },
    /// Mounting the overlay failed.
    #[error("mount overlay `{path}`: {source}")]
    Mount {
        /// The merged dir mounted on.
        path: PathBuf,
        /// The error from the kernel.
        #[source]
        source: io::Error,
    },
    /// Unmounting the overlay failed.
    #[error("unmount `{path}`: {source}")]
    Unmount {
        /// The merged dir.
        path: PathBuf,
        /// The error from umount2(2).
        #[source]
        source: io::Error,
    },
    /// On a kernel without fsconfig `lowerdir+`, the mount(2) options do not fit in a page.
    #[error("mount overlay `{id}`: options are {len} bytes, over mount(2)'s limit of {max}")]
    OptionsTooLong {
        /// The snapshot id.
        id: String,
        /// The length of the option string, with its terminating NUL.
        len: usize,
        /// The limit (one page).
        max: usize,
    },
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io { op, path, source }
}

/// The directories of one container's snapshot, as [`Snapshotter::create`] made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot (container) id.
    pub id: String,
    /// The container's own writable layer (overlay upperdir).
    pub upper: PathBuf,
    /// Overlay's scratch dir on the same filesystem as `upper` (workdir).
    pub work: PathBuf,
    /// Where [`Snapshotter::mount`] mounts the merged view (the container's rootfs).
    pub merged: PathBuf,
    /// The layers' diff dirs, top first (absolute; for inspect's GraphDriver.Data).
    pub lowers: Vec<PathBuf>,
}

/// Unpacked layers and overlay snapshots under one root directory.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    root: PathBuf,
    /// Never idmap layers: containers with maps always get a chowned copy (to exercise
    /// the fallback, or where idmapping misbehaves).
    chown_only: bool,
}

impl Snapshotter {
    /// Opens the snapshotter at `root`, creating `root` and its `layers/`, `l/`, `locks/` and
    /// `containers/` dirs if missing. The root is made absolute (canonical), since mounts
    /// are done from it.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SnapshotError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err("create dir", &root))?;
        let root = fs::canonicalize(&root).map_err(io_err("resolve", &root))?;
        let s = Snapshotter {
            root,
            chown_only: false,
        };
        for dir in [s.layers(), s.links(), s.locks(), s.containers()] {
            fs::create_dir_all(&dir).map_err(io_err("create dir", &dir))?;
        }
        Ok(s)
    }

    /// Makes containers with id maps use the chowned-copy fallback instead of idmapped
    /// layers.
    pub fn set_chown_only(&mut self, on: bool) {
        self.chown_only = on;
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn links(&self) -> PathBuf {
        self.root.join("l")
    }

    fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Where the unpacked contents of layer `chain_id` live: `layers/<hex>/diff` (whether or
    /// not it exists yet).
    pub fn layer_dir(&self, chain_id: &str) -> Result<PathBuf, SnapshotError> {
        let hex = id::chain_hex(chain_id)?;
        Ok(self.layers().join(hex).join("diff"))
    }

    fn container_dir(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        id::check_id(id)?;
        Ok(self.containers().join(id))
    }

    /// The writable upper dir of snapshot `id`.
    pub fn upper_dir(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        Ok(self.container_dir(id)?.join("upper"))
    }

    /// The overlay work dir of snapshot `id`.
    pub fn work_dir(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        Ok(self.container_dir(id)?.join("work"))
    }

    /// The mount point of snapshot `id`'s merged view.
    pub fn merged_dir(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        Ok(self.container_dir(id)?.join("merged"))
    }

    /// Creates snapshot `id` over `lowers` (chain ids, top first; each must be unpacked):
    /// `containers/<id>/{upper,work,merged}` and the `lower` file. Nothing is mounted yet.
    pub fn create(&self, id: &str, lowers: &[String]) -> Result<Snapshot, SnapshotError> {
        let dir = self.container_dir(id)?;
        if lowers.is_empty() {
            return Err(SnapshotError::NoLowers(id.to_owned()));
        }
        let mut links = Vec::with_capacity(lowers.len());
        let mut diffs = Vec::with_capacity(lowers.len());
        for chain_id in lowers {
            let hex = id::chain_hex(chain_id)?;
            if !self.has_layer(chain_id) {
                return Err(SnapshotError::LayerMissing {
                    id: id.to_owned(),
                    chain_id: chain_id.clone(),
                });
            }
            links.push(format!("l/{}", id::short_link(hex)));
            diffs.push(self.layers().join(hex).join("diff"));
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(SnapshotError::Exists(id.to_owned()))
            }
            Err(e) => return Err(io_err("create dir", &dir)(e)),
        }
        let snapshot = Snapshot {
            id: id.to_owned(),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
            lowers: diffs,
        };
        let filled = (|| {
            for sub in [&snapshot.upper, &snapshot.work, &snapshot.merged] {
                fs::create_dir(sub).map_err(io_err("create dir", sub))?;
            }
            layer::write_atomic(&dir.join(LOWER_FILE), links.join(":").as_bytes())
        })();
        if let Err(e) = filled {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(snapshot)
    }

    /// The `l/<short>` entries of snapshot `id`'s `lower` file, top first, each validated.
    fn lower_links(&self, id: &str) -> Result<Vec<String>, SnapshotError> {
        let path = self.container_dir(id)?.join(LOWER_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SnapshotError::NotFound(id.to_owned()))
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let corrupt = |entry: &str| SnapshotError::CorruptLower {
            id: id.to_owned(),
            path: path.clone(),
            entry: entry.to_owned(),
        };
        if text.is_empty() {
            return Err(corrupt(""));
        }
        text.split(':')
            .map(|entry| match entry.strip_prefix("l/") {
                Some(short) if id::is_short_link(short) => Ok(entry.to_owned()),
                _ => Err(corrupt(entry)),
            })
            .collect()
    }

    /// The absolute diff dirs of snapshot `id`'s layers, top first, resolved through the
    /// short links (for inspect's GraphDriver.Data `LowerDir`).
    pub fn lower_dirs(&self, id: &str) -> Result<Vec<PathBuf>, SnapshotError> {
        let links = self.lower_links(id)?;
        links
            .iter()
            .map(|entry| {
                let link = self.root.join(entry);
                let target = fs::read_link(&link).map_err(io_err("read link", &link))?;
                let hex = target
                    .to_str()
                    .and_then(|t| t.strip_prefix("../layers/"))
                    .and_then(|t| t.strip_suffix("/diff"))
                    .filter(|h| id::is_hex64(h))
                    .ok_or_else(|| SnapshotError::CorruptLower {
                        id: id.to_owned(),
                        path: link.clone(),
                        entry: target.display().to_string(),
                    })?;
                Ok(self.layers().join(hex).join("diff"))
            })
            .collect()
    }

    /// Removes snapshot `id`: unmounts it if mounted, then deletes its dirs (upper included).
    /// Removing a snapshot that does not exist succeeds, so an interrupted removal can be
    /// repeated.
    pub fn remove(&self, id: &str) -> Result<(), SnapshotError> {
        let dir = self.container_dir(id)?;
        if !dir.exists() {
            return Ok(());
        }
        self.unmount(id)?;
        idmap::unmount_scratch(&dir);
        // Rename first so a crash never leaves a half-deleted snapshot under its own name.
        let doomed = self.containers().join(format!(".removing-{id}"));
        if doomed.exists() {
            fs::remove_dir_all(&doomed).map_err(io_err("remove dir", &doomed))?;
        }
        fs::rename(&dir, &doomed).map_err(io_err("rename", &dir))?;
        fs::remove_dir_all(&doomed).map_err(io_err("remove dir", &doomed))
    }
}
