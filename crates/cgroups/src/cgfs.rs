//! Reading and writing cgroupfs control files, with the path in every error.
//!
//! Both backends and the fake trees of the unit tests go through here, so the
//! rules live in one place: open without `O_CREAT` (a missing control file is
//! an answer, not something to create), truncate (so fake files behave like
//! kernfs ones), and write each value with a single write(2) because the
//! kernel parses one write as one request.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Writes `value` to `dir/file` in one write(2).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    // write_all could split the value into several requests; the kernel
    // would then see a truncated value, so insist on one complete write.
    match f.write(value.as_bytes()) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(_) => Err(Error::io("write", &path, io::ErrorKind::WriteZero.into())),
        Err(e) => Err(Error::io("write", &path, e)),
    }
}

/// Whether `dir/file` exists.
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Reads `dir/file` as text.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))
}

/// Reads `dir/file`, or `None` if it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(Error::Io { source, .. }) if is_missing(&source) => Ok(None),
        Err(e) => Err(e),
    }
}

/// ENOENT, or ENODEV for a cgroup removed while we held it open.
pub(crate) fn is_missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENODEV))
}

/// Parses a single number; "max" (v2) reads as `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        content: t.to_string(),
    })
}

/// Reads a single-number file.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    parse_u64(&dir.join(file), &read(dir, file)?)
}

/// Reads a single-number file, 0 if it does not exist.
pub(crate) fn read_u64_or_zero(dir: &Path, file: &str) -> Result<u64> {
    match read_opt(dir, file)? {
        Some(t) => parse_u64(&dir.join(file), &t),
        None => Ok(0),
    }
}

/// Parses a flat-keyed file ("key value" per line).
pub(crate) fn parse_flat_keyed(path: &Path, text: &str) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                content: line.to_string(),
            });
        };
        out.push((k.to_string(), parse_u64(path, v)?));
    }
    Ok(out)
}

/// Reads a flat-keyed file.
pub(crate) fn read_flat_keyed(dir: &Path, file: &str) -> Result<Vec<(String, u64)>> {
    parse_flat_keyed(&dir.join(file), &read(dir, file)?)
}

/// Reads one key of a flat-keyed file; 0 if the file or key is missing.
pub(crate) fn read_key(dir: &Path, file: &str, key: &str) -> Result<u64> {
    let Some(text) = read_opt(dir, file)? else {
        return Ok(0);
    };
    let pairs = parse_flat_keyed(&dir.join(file), &text)?;
    Ok(pairs
        .into_iter()
        .find(|(k, _)| k == key)
        .map_or(0, |(_, v)| v))
}

/// Creates `dir` and its missing parents.
pub(crate) fn mkdir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io("mkdir", dir, e))
}

/// Moves `pid` into the cgroup `dir`.
pub(crate) fn add_pid(dir: &Path, pid: i32) -> Result<()> {
    write(dir, "cgroup.procs", &pid.to_string())
}

/// The pids in `dir/cgroup.procs` and in every cgroup below it.
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let procs = d.join("cgroup.procs");
        let text = match fs::read_to_string(&procs) {
            Ok(t) => t,
            // A child removed while we walk is simply gone.
            Err(e) if is_missing(&e) && d != dir => continue,
            Err(e) => return Err(Error::io("read", procs, e)),
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            out.push(line.trim().parse().map_err(|_| Error::Parse {
                path: procs.clone(),
                content: line.to_string(),
            })?);
        }
        stack.extend(subdirs(&d)?);
    }
    Ok(out)
}

/// The directories directly under `dir` (child cgroups).
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", dir, e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// How long [`remove_tree`] keeps retrying a busy cgroup.
const REMOVE_DEADLINE: Duration = Duration::from_secs(5);

/// Removes the cgroup `dir` and every cgroup below it, deepest first.
///
/// rmdir(2) on a cgroup fails with EBUSY while it still has tasks, which is
/// normal for a moment after SIGKILL: the exiting tasks are only unlinked
/// from the cgroup once they are fully reaped. So EBUSY is retried with a
/// short exponential backoff until [`REMOVE_DEADLINE`]. A missing directory
/// counts as removed.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    for child in subdirs(dir)? {
        remove_tree(&child)?;
    }
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < REMOVE_DEADLINE =>
            {
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::io("rmdir", dir, e)),
        }
    }
}

/// Sleeps in growing steps between polls of a state that settles by itself.
pub(crate) struct Backoff {
    start: Instant,
    delay: Duration,
    limit: Duration,
}

impl Backoff {
    /// A backoff that gives up after `limit`.
    pub(crate) fn new(limit: Duration) -> Self {
        Backoff {
            start: Instant::now(),
            delay: Duration::from_micros(100),
            limit,
        }
    }

    /// Sleeps once; false when the time is up.
    pub(crate) fn wait(&mut self) -> bool {
        if self.start.elapsed() >= self.limit {
            return false;
        }
        sleep(self.delay);
        self.delay = (self.delay * 2).min(Duration::from_millis(10));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_truncates_and_never_creates() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("memory.max"), "max\n").unwrap();
        write(t.path(), "memory.max", "5").unwrap();
        assert_eq!(read(t.path(), "memory.max").unwrap(), "5");
        let err = write(t.path(), "memory.nope", "1").unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
        assert!(!t.path().join("memory.nope").exists());
    }

    #[test]
    fn numbers_and_keys() {
        let p = Path::new("/f");
        let cases = [("42\n", 42), ("max\n", u64::MAX), (" 7 ", 7)];
        for (text, want) in cases {
            assert_eq!(parse_u64(p, text).unwrap(), want, "{text:?}");
        }
        assert!(parse_u64(p, "-1").is_err());
        let kv = parse_flat_keyed(p, "low 0\nhigh 3\noom_kill 2\n").unwrap();
        assert_eq!(kv[2], ("oom_kill".to_string(), 2));
        assert!(parse_flat_keyed(p, "a b c\n").is_err());
    }

    #[test]
    fn read_key_defaults_to_zero() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("memory.events"), "oom 1\noom_kill 3\n").unwrap();
        assert_eq!(read_key(t.path(), "memory.events", "oom_kill").unwrap(), 3);
        assert_eq!(read_key(t.path(), "memory.events", "nope").unwrap(), 0);
        assert_eq!(read_key(t.path(), "missing", "oom_kill").unwrap(), 0);
    }

    #[test]
    fn pids_are_collected_recursively() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("cgroup.procs"), "1\n2\n").unwrap();
        fs::create_dir_all(t.path().join("a/b")).unwrap();
        fs::write(t.path().join("a/cgroup.procs"), "").unwrap();
        fs::write(t.path().join("a/b/cgroup.procs"), "30\n").unwrap();
        let mut got = pids_recursive(t.path()).unwrap();
        got.sort();
        assert_eq!(got, vec![1, 2, 30]);
    }

    #[test]
    fn remove_tree_is_deepest_first_and_tolerates_missing() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("c");
        fs::create_dir_all(d.join("x/y")).unwrap();
        fs::create_dir_all(d.join("z")).unwrap();
        remove_tree(&d).unwrap();
        assert!(!d.exists());
        remove_tree(&d).unwrap();
    }
}
