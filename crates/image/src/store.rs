//! The content store: blobs addressed by their sha256 digest, the tag index and per-object
//! locks, all under one root directory (`/var/lib/berth` in production).
//!
//! Layout under the root:
//! - `blobs/sha256/<hex>`: one file per blob, named by the sha256 of its content;
//! - `tmp/`: files being written, renamed into place only once complete and fsynced;
//! - `locks/<name>`: flock files, one per locked object (see [`Store::lock`]);
//! - `index/tags.json`: the tag index, `{"tags": {"<name>": "sha256:<hex>"}}`.
//!
//! Crash safety: every write goes to a fresh file in `tmp/` (the same filesystem as its
//! destination), is fsynced, renamed into place, and the destination directory is fsynced. A
//! crash at any point leaves the old state or the new one plus, at worst, a stray file in `tmp/`,
//! which [`Store::open`] removes once it is an hour old and [`Store::gc_tmp`] removes at once.
//! Writers hold an exclusive flock on their temp file, so neither removes a file a live writer
//! is still using.
//!
//! Digests are `sha256:` followed by 64 lowercase hex digits; anything else is refused before
//! it comes near a path.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::reference::{Digest, ReferenceError};

mod reader;
mod temp;
#[cfg(test)]
mod tests;
mod writer;

pub use reader::VerifiedReader;
use temp::{flock, TempFile};
pub use writer::BlobWriter;

/// The only digest algorithm the store accepts.
const ALGORITHM: &str = "sha256";
/// Temp files older than this are debris from a crashed writer; `Store::open` removes them.
const TMP_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// Chunk size for streaming blobs in and out.
const BUF_SIZE: usize = 64 * 1024;
/// Longest file name most Linux filesystems accept.
const NAME_MAX: usize = 255;

/// Everything that can go wrong in the content store. Messages read "op `object`: cause".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. "rename blob into place".
        op: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A string that should be a digest is not `sha256:` + 64 lowercase hex digits (the
    /// one digest parser, [`crate::reference::Digest`], says why; other algorithms are valid
    /// digests but not stored).
    #[error(transparent)]
    InvalidDigest(#[from] ReferenceError),
    /// Content handed to [`Store::put_blob`] does not hash to the digest the caller expected.
    #[error("verify blob `{expected}`: content hashes to {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: String,
        /// The digest of the content actually received.
        actual: String,
    },
    /// A stored blob no longer hashes to its name: the file was corrupted on disk.
    #[error("verify blob `{digest}`: {} hashes to {actual}; the blob is corrupt", path.display())]
    BlobCorrupt {
        /// The digest the blob is stored under.
        digest: String,
        /// The blob's file.
        path: PathBuf,
        /// The digest of what is actually on disk.
        actual: String,
    },
    /// No blob with this digest is stored.
    #[error("open blob `{digest}`: not found")]
    BlobNotFound {
        /// The digest that was looked up.
        digest: String,
    },
    /// Taking an flock failed.
    #[error("{op} `{}`: {source}", path.display())]
    Lock {
        /// "lock", "lock shared" or "lock temp file".
        op: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The errno flock returned.
        source: Errno,
    },
    /// A tag or lock name is not acceptable.
    #[error("check {kind} name `{value}`: {reason}")]
    InvalidName {
        /// "tag" or "lock".
        kind: &'static str,
        /// The refused name, verbatim.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The tag index could not be parsed or serialised.
    #[error("{op} `{}`: {source}", path.display())]
    Index {
        /// "parse index" or "serialise index".
        op: &'static str,
        /// The index file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

/// Builds the mapper for `map_err` that turns an `io::Error` into [`StoreError::Io`].
fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `value` is `sha256:<64 lowercase hex>` and returns the hex part, which is then
/// safe to use as a file name. Parsing is [`Digest`]'s; the store only adds "sha256 only".
pub(crate) fn digest_hex(value: &str) -> Result<&str, StoreError> {
    let digest: Digest = value.parse()?;
    if digest.algorithm() != ALGORITHM {
        return Err(ReferenceError::UnsupportedDigest {
            digest: value.to_owned(),
            algorithm: digest.algorithm().to_owned(),
        }
        .into());
    }
    // Digest checked the shape: what follows the colon is the 64 hex digits.
    Ok(&value[ALGORITHM.len() + 1..])
}

/// Formats a finished hash as a digest string.
fn format_digest(hasher: Sha256) -> String {
    format!("{ALGORITHM}:{:x}", hasher.finalize())
}

/// Maps an object name to a lock file name, injectively and without `/`, `.` or `..`: bytes
/// outside `[A-Za-z0-9_-]` become `%XX`, and names that would exceed `NAME_MAX` become `%%` +
/// their sha256 (a `%%` prefix cannot come out of the escaping).
fn lock_file_name(object: &str) -> Result<String, StoreError> {
    if object.is_empty() {
        return Err(StoreError::InvalidName {
            kind: "lock",
            value: object.to_owned(),
            reason: "empty",
        });
    }
    let mut name = String::with_capacity(object.len());
    for b in object.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.len() > NAME_MAX {
        name = format!("%%{:x}", Sha256::digest(object.as_bytes()));
    }
    Ok(name)
}

/// A held flock on `locks/<name>`; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    _lock: Flock<File>,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The on-disk form of the tag index.
#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    tags: BTreeMap<String, String>,
}

/// The content store under one root directory. Cheap to clone; every method works on disk, so
/// several `Store`s (in one process or many) can share a root.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating `blobs/sha256`, `tmp`, `locks` and `index` as
    /// needed, and removes temp files that crashed writers left behind more than an hour ago.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let store = Store { root: root.into() };
        for dir in [
            store.blobs_dir(),
            store.tmp_dir(),
            store.locks_dir(),
            store.index_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        store.gc_tmp_older_than(TMP_MAX_AGE)?;
        Ok(store)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Streams `data` into the store and returns its digest (`sha256:<hex>`). The content is
    /// hashed while it is written to `tmp/`, fsynced and only then renamed into
    /// `blobs/sha256/<hex>`, so a blob is either complete or absent. When `expected` is given
    /// and the content hashes to something else, nothing is stored and
    /// [`StoreError::DigestMismatch`] is returned. Storing a blob that is already present is
    /// fine (and replaces a corrupted copy).
    pub fn put_blob(
        &self,
        expected: Option<&str>,
        mut data: impl Read,
    ) -> Result<String, StoreError> {
        if let Some(expected) = expected {
            digest_hex(expected)?;
        }
        let mut writer = self.blob_writer()?;
        let mut buf = vec![0; BUF_SIZE];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read blob content for", writer.path())(e)),
            };
            writer.write(&buf[..n])?;
        }
        writer.commit(expected)
    }

    /// Opens a blob for streaming; the reader fails at end of file if the content on disk does
    /// not match `digest`.
    pub fn open_blob(&self, digest: &str) -> Result<VerifiedReader, StoreError> {
        let path = self.blob_path(digest)?;
        let file = File::open(&path).map_err(|e| self.open_error(digest, &path, e))?;
        Ok(VerifiedReader::new(file, path, digest.to_owned()))
    }

    /// Reads a whole blob and checks it against `digest`.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest)?;
        let data = fs::read(&path).map_err(|e| self.open_error(digest, &path, e))?;
        let actual = format_digest(Sha256::new_with_prefix(&data));
        if actual != digest {
            return Err(StoreError::BlobCorrupt {
                digest: digest.to_owned(),
                path,
                actual,
            });
        }
        Ok(data)
    }

    /// Whether a blob with this digest is stored (without verifying it). An invalid digest is
    /// never stored.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|path| path.is_file())
    }

    /// The size in bytes of a stored blob (as the descriptor that names it must say).
    pub fn blob_size(&self, digest: &str) -> Result<u64, StoreError> {
        let path = self.blob_path(digest)?;
        fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| self.open_error(digest, &path, e))
    }

    /// Deletes a blob; [`StoreError::BlobNotFound`] when it is not there.
    pub fn delete_blob(&self, digest: &str) -> Result<(), StoreError> {
        let path = self.blob_path(digest)?;
        fs::remove_file(&path).map_err(|e| self.open_error(digest, &path, e))
    }

    /// Points tag `name` (any non-empty string, e.g. `docker.io/library/busybox:latest`) at
    /// manifest `digest`, replacing what it pointed at before. The index is rewritten
    /// atomically under the index lock.
    pub fn set_tag(&self, name: &str, digest: &str) -> Result<(), StoreError> {
        check_tag_name(name)?;
        digest_hex(digest)?;
        self.update_index(|tags| {
            let changed = tags.get(name).map(String::as_str) != Some(digest);
            tags.insert(name.to_owned(), digest.to_owned());
            ((), changed)
        })
    }

    /// The digest tag `name` points at, if it exists.
    pub fn tag(&self, name: &str) -> Result<Option<String>, StoreError> {
        check_tag_name(name)?;
        Ok(self.load_index()?.tags.remove(name))
    }

    /// All tags and the digests they point at.
    pub fn tags(&self) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self.load_index()?.tags)
    }

    /// Removes tag `name`; returns whether it existed. The blobs stay.
    pub fn remove_tag(&self, name: &str) -> Result<bool, StoreError> {
        check_tag_name(name)?;
        self.update_index(|tags| {
            let existed = tags.remove(name).is_some();
            (existed, existed)
        })
    }

    /// Takes an exclusive flock on `locks/<sanitised object>`, waiting for it; released when the
    /// guard drops. Any non-empty name works; distinct names get distinct lock files.
    pub fn lock(&self, object: &str) -> Result<LockGuard, StoreError> {
        self.lock_with(object, FlockArg::LockExclusive, "lock")
    }

    /// Like [`Store::lock`] but shared: any number of shared holders, no exclusive one.
    pub fn lock_shared(&self, object: &str) -> Result<LockGuard, StoreError> {
        self.lock_with(object, FlockArg::LockShared, "lock shared")
    }

    /// Removes every file in `tmp/` that no live writer holds, and returns how many it
    /// removed. Safe to run while other processes write.
    pub fn gc_tmp(&self) -> Result<usize, StoreError> {
        self.gc_tmp_older_than(Duration::ZERO)
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join(ALGORITHM)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.index_dir().join("tags.json")
    }

    /// The file a blob lives in; the digest is validated first.
    fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.blobs_dir().join(digest_hex(digest)?))
    }

    /// Maps an error opening a blob: not-found becomes [`StoreError::BlobNotFound`].
    fn open_error(&self, digest: &str, path: &Path, e: io::Error) -> StoreError {
        if e.kind() == io::ErrorKind::NotFound {
            StoreError::BlobNotFound {
                digest: digest.to_owned(),
            }
        } else {
            io_err("open blob", path)(e)
        }
    }

    fn lock_with(
        &self,
        object: &str,
        arg: FlockArg,
        op: &'static str,
    ) -> Result<LockGuard, StoreError> {
        let path = self.locks_dir().join(lock_file_name(object)?);
        lock_path(path, arg, op)
    }

    /// Reads the index; a missing file is an empty index.
    fn load_index(&self) -> Result<IndexFile, StoreError> {
        let path = self.index_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(IndexFile::default()),
            Err(e) => return Err(io_err("read index", &path)(e)),
        };
        let index: IndexFile =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Index {
                op: "parse index",
                path: path.clone(),
                source,
            })?;
        for digest in index.tags.values() {
            digest_hex(digest)?;
        }
        Ok(index)
    }

    /// Read-modify-write of the index under its lock. `f` returns its result and whether it
    /// changed anything; the file is only rewritten when it did.
    fn update_index<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> (T, bool),
    ) -> Result<T, StoreError> {
        let path = self.index_path();
        let _lock = lock_path(
            self.index_dir().join("tags.json.lock"),
            FlockArg::LockExclusive,
            "lock index",
        )?;
        let mut index = self.load_index()?;
        let (out, changed) = f(&mut index.tags);
        if changed {
            let bytes = serde_json::to_vec_pretty(&index).map_err(|source| StoreError::Index {
                op: "serialise index",
                path: path.clone(),
                source,
            })?;
            let mut temp = TempFile::create(&self.tmp_dir())?;
            temp.write_all(&bytes)?;
            temp.commit(&path, "rename index into place")?;
        }
        Ok(out)
    }

    /// Removes unlocked temp files whose last change is at least `age` ago.
    fn gc_tmp_older_than(&self, age: Duration) -> Result<usize, StoreError> {
        let mut removed = 0;
        for path in self.temp_files()? {
            if self.remove_temp_if_abandoned(&path, age)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The files in `tmp/` now.
    pub(crate) fn temp_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        let dir = self.tmp_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            out.push(entry.map_err(io_err("read directory", &dir))?.path());
        }
        Ok(out)
    }

    /// Whether temp file `path` is held by no live writer (and so is debris).
    pub(crate) fn temp_is_abandoned(&self, path: &Path) -> bool {
        File::open(path).is_ok_and(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok())
    }

    /// Removes temp file `path` if it is at least `age` old and no live writer holds it;
    /// returns whether it did.
    pub(crate) fn remove_temp_if_abandoned(
        &self,
        path: &Path,
        age: Duration,
    ) -> Result<bool, StoreError> {
        // Entries vanish under us when a writer commits or another gc runs: skip them.
        let Ok(meta) = fs::symlink_metadata(path) else {
            return Ok(false);
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .map_or(age.is_zero(), |elapsed| elapsed >= age);
        if meta.is_dir() || !old {
            return Ok(false);
        }
        let Ok(file) = File::open(path) else {
            return Ok(false);
        };
        // A live writer holds an exclusive flock on its temp file; leave those alone.
        let Ok(_held) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else {
            return Ok(false);
        };
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove temp file", path)(e)),
        }
    }
}

/// Opens (creating if needed) and flocks `path`.
fn lock_path(path: PathBuf, arg: FlockArg, op: &'static str) -> Result<LockGuard, StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open lock file", &path))?;
    let lock = flock(file, arg, &path, op)?;
    Ok(LockGuard { _lock: lock, path })
}

/// Tag names may be any string except the empty one.
fn check_tag_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(StoreError::InvalidName {
            kind: "tag",
            value: name.to_owned(),
            reason: "empty",
        });
    }
    Ok(())
}
