//! What `system check` needs to see of the snapshotter's directories: debris of killed
//! unpacks and removals, layer dirs, short links and snapshots, each with its state, and the
//! small repairs that make them consistent again.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};

use super::{id, io_err, SnapshotError, Snapshotter};

/// A layer dir as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayerState {
    /// `diff/` and `link` are there and its short link points at it.
    Sound,
    /// `diff/` or `link` is missing: not made by a completed commit.
    Incomplete(&'static str),
    /// Complete, but `l/<short>` is missing or points elsewhere.
    LinkMissing,
}

/// A layer dir: its 64 hex digits, state and last change.
#[derive(Debug, Clone)]
pub(crate) struct LayerEntry {
    pub(crate) hex: String,
    /// Its short-link name (whether or not the link exists).
    pub(crate) short: String,
    pub(crate) state: LayerState,
    pub(crate) modified: SystemTime,
}

impl Snapshotter {
    /// `layers/.staging-*`, `layers/.removing-*` and `containers/.removing-*` that no live
    /// process holds (an unpack or a removal holds its layer's lock), and stray
    /// `*.tmp` files of [`super::layer::write_atomic`] in snapshot dirs.
    pub(crate) fn debris(&self) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut out = Vec::new();
        for entry in read_dir(&self.layers())? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let hex = name
                .strip_prefix(".staging-")
                .or_else(|| name.strip_prefix(".removing-"));
            if let Some(hex) = hex {
                if !id::is_hex64(hex) || self.layer_lock_free(hex)? {
                    out.push(entry.path());
                }
            }
        }
        for entry in read_dir(&self.containers())? {
            let path = entry.path();
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".removing-")
            {
                out.push(path);
            } else if path.join("lower.tmp").exists() {
                out.push(path.join("lower.tmp"));
            }
        }
        Ok(out)
    }

    /// Whether nobody holds layer `hex`'s lock (taken and released at once).
    fn layer_lock_free(&self, hex: &str) -> Result<bool, SnapshotError> {
        let file = self.layer_lock_file(hex)?;
        Ok(Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok())
    }

    /// Removes a file or dir that [`Snapshotter::debris`] named.
    pub(crate) fn remove_debris(&self, path: &Path) -> Result<(), SnapshotError> {
        let result = if path.is_dir() {
            fs::remove_dir_all(path)
        } else {
            fs::remove_file(path)
        };
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
            _ => Ok(()),
        }
    }

    /// Every layer dir (`layers/<hex>`) with its state.
    pub(crate) fn layer_entries(&self) -> Result<Vec<LayerEntry>, SnapshotError> {
        let mut out = Vec::new();
        for entry in read_dir(&self.layers())? {
            let hex = entry.file_name().to_string_lossy().into_owned();
            if !id::is_hex64(&hex) {
                continue;
            }
            let dir = entry.path();
            let modified = fs::metadata(&dir)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let short = id::short_link(&hex);
            let state = if !dir.join("diff").is_dir() {
                LayerState::Incomplete("no diff dir")
            } else if fs::read_to_string(dir.join("link")).ok().as_deref() != Some(&short) {
                LayerState::Incomplete("no link file")
            } else if fs::read_link(self.links().join(&short)).ok()
                != Some(PathBuf::from(format!("../layers/{hex}/diff")))
            {
                LayerState::LinkMissing
            } else {
                LayerState::Sound
            };
            out.push(LayerEntry {
                hex,
                short,
                state,
                modified,
            });
        }
        Ok(out)
    }

    /// Removes layer dir `hex` whatever its state (the caller knows no snapshot uses it).
    pub(crate) fn remove_layer_dir(&self, hex: &str) -> Result<(), SnapshotError> {
        let dir = self.layers().join(hex);
        fs::remove_dir_all(&dir).map_err(io_err("remove dir", &dir))?;
        self.remove_debris(&self.links().join(id::short_link(hex)))
    }

    /// Makes `l/<short>` point at layer `hex` again.
    pub(crate) fn relink(&self, hex: &str) -> Result<(), SnapshotError> {
        let link = self.links().join(id::short_link(hex));
        self.remove_debris(&link)?;
        symlink(format!("../layers/{hex}/diff"), &link).map_err(io_err("create link", &link))
    }

    /// Short links in `l/` whose layer dir is gone.
    pub(crate) fn dangling_links(&self) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut out = Vec::new();
        for entry in read_dir(&self.links())? {
            let path = entry.path();
            if !path.join(".").is_dir() {
                out.push(path);
            }
        }
        Ok(out)
    }

    /// Every snapshot id with the short-link names of the layers it stands on, or why its
    /// `lower` file cannot be read.
    pub(crate) fn snapshot_lowers(
        &self,
    ) -> Result<BTreeMap<String, Result<Vec<String>, SnapshotError>>, SnapshotError> {
        let mut out = BTreeMap::new();
        for entry in read_dir(&self.containers())? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if id::check_id(&name).is_err() {
                continue;
            }
            let shorts = self.lower_links(&name).map(|links| {
                links
                    .iter()
                    .map(|l| l.trim_start_matches("l/").to_owned())
                    .collect()
            });
            out.insert(name, shorts);
        }
        Ok(out)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, SnapshotError> {
    fs::read_dir(dir)
        .and_then(|entries| entries.collect())
        .map_err(io_err("read dir", dir))
}
