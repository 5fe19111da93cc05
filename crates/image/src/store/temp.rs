//! Atomic writes: temp files in `tmp/` that are flocked while alive, fsynced, and renamed into
//! place with the destination directory fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::{io_err, StoreError};

/// How often a temp file is re-created when its name is taken or gc removed it under us.
const TEMP_ATTEMPTS: usize = 100;

/// Takes an flock, retrying when a signal interrupts the wait.
pub(super) fn flock(
    mut file: File,
    arg: FlockArg,
    path: &Path,
    op: &'static str,
) -> Result<Flock<File>, StoreError> {
    loop {
        match Flock::lock(file, arg) {
            Ok(locked) => return Ok(locked),
            Err((back, Errno::EINTR)) => file = back,
            Err((_, source)) => {
                return Err(StoreError::Lock {
                    op,
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Fsyncs a directory so that a rename into it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// A unique name for a temp file: pid, a per-process counter and the time.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}-{nanos}.tmp", std::process::id())
}

/// A file being written in `tmp/`, exclusively flocked so gc leaves it alone, and removed on
/// drop unless it was committed.
pub(super) struct TempFile {
    pub(super) path: PathBuf,
    file: Flock<File>,
    committed: bool,
}

impl TempFile {
    /// Creates and locks a fresh temp file in `tmp_dir`.
    pub(super) fn create(tmp_dir: &Path) -> Result<TempFile, StoreError> {
        for _ in 0..TEMP_ATTEMPTS {
            let path = tmp_dir.join(temp_name());
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err("create temp file", &path)(e)),
            };
            let file = flock(file, FlockArg::LockExclusive, &path, "lock temp file")?;
            // gc_tmp may have unlinked the file between create and flock; if so, start over.
            let ours = file.metadata().map_err(io_err("stat temp file", &path))?;
            match fs::metadata(&path) {
                Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                    return Ok(TempFile {
                        path,
                        file,
                        committed: false,
                    })
                }
                _ => continue,
            }
        }
        Err(StoreError::Io {
            op: "create temp file",
            path: tmp_dir.to_path_buf(),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "no free temp file name"),
        })
    }

    /// The open file.
    pub(super) fn file(&self) -> &File {
        &self.file
    }

    /// Writes `buf` in full.
    pub(super) fn write_all(&mut self, buf: &[u8]) -> Result<(), StoreError> {
        (&*self.file)
            .write_all(buf)
            .map_err(io_err("write temp file", &self.path))
    }

    /// Fsyncs the file, renames it to `dest` and fsyncs `dest`'s directory.
    pub(super) fn commit(mut self, dest: &Path, op: &'static str) -> Result<(), StoreError> {
        self.file
            .sync_all()
            .map_err(io_err("fsync temp file", &self.path))?;
        fs::rename(&self.path, dest).map_err(io_err(op, dest))?;
        self.committed = true;
        sync_dir(dest.parent().unwrap_or(Path::new("/")))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: what is left behind is only debris in tmp/, which gc removes.
            let _ = fs::remove_file(&self.path);
        }
    }
}
