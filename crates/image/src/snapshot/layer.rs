//! Shared layers: reserve, unpack into a staging dir, commit atomically, remove.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{id, io_err, SnapshotError, Snapshotter};

/// A layer reserved for unpacking by [`Snapshotter::prepare_layer`]. It holds the layer's lock
/// until it is committed or dropped; dropping it uncommitted deletes the staging dir.
#[derive(Debug)]
pub struct LayerSlot {
    chain_id: String,
    /// `layers/.staging-<hex>`, renamed to `target` on commit.
    staging: PathBuf,
    target: PathBuf,
    links: PathBuf,
    short: String,
    committed: bool,
    _lock: Flock<File>,
}

impl LayerSlot {
    /// The layer's chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The empty dir to unpack the layer into (on the same filesystem as its final place).
    pub fn staging(&self) -> PathBuf {
        self.staging.join("diff")
    }

    /// Publishes the unpacked layer: writes its `link` file and short link, then renames the
    /// staging dir to `layers/<hex>` in one step, so a layer dir that exists is always
    /// complete. Returns the layer's diff dir.
    pub fn commit(mut self) -> Result<PathBuf, SnapshotError> {
        write_atomic(&self.staging.join("link"), self.short.as_bytes())?;
        // The short link first: once `layers/<hex>` exists its link must too. A stale link
        // from an interrupted commit has the same name and target, so replace it.
        let link = self.links.join(&self.short);
        let hex = self
            .target
            .file_name()
            .and_then(|h| h.to_str())
            .unwrap_or_default();
        let target = format!("../layers/{hex}/diff");
        match fs::remove_file(&link) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("remove stale link", &link)(e))
            }
            _ => {}
        }
        symlink(&target, &link).map_err(io_err("create link", &link))?;
        fsync_dir(&self.links)?;
        fs::rename(&self.staging, &self.target).map_err(io_err("rename", &self.staging))?;
        self.committed = true;
        fsync_dir(self.target.parent().unwrap_or(Path::new("/")))?;
        Ok(self.target.join("diff"))
    }
}

impl Drop for LayerSlot {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover is removed by the next prepare of the same layer.
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

impl Snapshotter {
    /// True if layer `chain_id` is unpacked and committed (false for invalid ids).
    pub fn has_layer(&self, chain_id: &str) -> bool {
        self.layer_dir(chain_id).is_ok_and(|d| d.is_dir())
    }

    /// Opens (creating) layer `hex`'s lock file, unlocked.
    pub(crate) fn layer_lock_file(&self, hex: &str) -> Result<File, SnapshotError> {
        let path = self.locks().join(format!("{hex}.lock"));
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open lock", &path))
    }

    fn lock_layer(&self, chain_id: &str, hex: &str) -> Result<Flock<File>, SnapshotError> {
        let file = self.layer_lock_file(hex)?;
        // flock locks belong to the open file description, so this excludes other threads of
        // this process (each opens its own) as well as other processes.
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| SnapshotError::Lock {
            chain_id: chain_id.to_owned(),
            source: errno.into(),
        })
    }

    /// Reserves layer `chain_id` for unpacking. `Ok(None)` means it is already unpacked (by
    /// this or another process): skip unpacking and use [`Snapshotter::layer_dir`]. Otherwise
    /// unpack into [`LayerSlot::staging`] and call [`LayerSlot::commit`]. Callers preparing the
    /// same layer at once wait on its lock; all but the first then get `Ok(None)`.
    pub fn prepare_layer(&self, chain_id: &str) -> Result<Option<LayerSlot>, SnapshotError> {
        let hex = id::chain_hex(chain_id)?;
        if self.has_layer(chain_id) {
            return Ok(None);
        }
        let lock = self.lock_layer(chain_id, hex)?;
        if self.has_layer(chain_id) {
            return Ok(None);
        }
        // Under the lock, a staging dir can only be a leftover of a crashed unpack.
        let staging = self.layers().join(format!(".staging-{hex}"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err("remove stale staging", &staging))?;
        }
        fs::create_dir(&staging).map_err(io_err("create dir", &staging))?;
        let slot = LayerSlot {
            chain_id: chain_id.to_owned(),
            target: self.layers().join(hex),
            links: self.links(),
            short: id::short_link(hex),
            staging,
            committed: false,
            _lock: lock,
        };
        let diff = slot.staging();
        fs::create_dir(&diff).map_err(io_err("create dir", &diff))?;
        Ok(Some(slot))
    }

    /// Deletes layer `chain_id` and its short link. Refused while a snapshot on disk names
    /// it; removing a layer that is not there succeeds.
    pub fn remove_layer(&self, chain_id: &str) -> Result<(), SnapshotError> {
        let hex = id::chain_hex(chain_id)?;
        let _lock = self.lock_layer(chain_id, hex)?;
        let dir = self.layers().join(hex);
        if !dir.exists() {
            return Ok(());
        }
        let short = id::short_link(hex);
        if let Some(user) = self.user_of(&short)? {
            return Err(SnapshotError::LayerInUse {
                chain_id: chain_id.to_owned(),
                id: user,
            });
        }
        // Rename first so a crash never leaves a half-deleted layer that looks complete.
        let doomed = self.layers().join(format!(".removing-{hex}"));
        if doomed.exists() {
            fs::remove_dir_all(&doomed).map_err(io_err("remove dir", &doomed))?;
        }
        fs::rename(&dir, &doomed).map_err(io_err("rename", &dir))?;
        let link = self.links().join(&short);
        match fs::remove_file(&link) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("remove link", &link)(e))
            }
            _ => {}
        }
        fs::remove_dir_all(&doomed).map_err(io_err("remove dir", &doomed))
    }

    /// The first snapshot whose `lower` file names the short link `short`.
    fn user_of(&self, short: &str) -> Result<Option<String>, SnapshotError> {
        let containers = self.containers();
        let entries = fs::read_dir(&containers).map_err(io_err("read dir", &containers))?;
        let wanted = format!("l/{short}");
        for entry in entries {
            let entry = entry.map_err(io_err("read dir", &containers))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if id::check_id(&name).is_err() {
                continue;
            }
            let Ok(links) = self.lower_links(&name) else {
                continue;
            };
            if links.contains(&wanted) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }
}

/// Writes `data` to `path` through a temp file, fsync and rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), SnapshotError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(data).map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("fsync", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("rename", &tmp))
}

fn fsync_dir(dir: &Path) -> Result<(), SnapshotError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}
