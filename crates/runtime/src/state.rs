//! Per-container state under the runtime root (`--root`, default /run/berth-runtime).
//!
//! `<root>/<id>/state.json` is written once create succeeds (temp + fsync + rename), next to
//! a snapshot of the spec (`config.json`) and, until `start`, the `exec.fifo` that the
//! container's init blocks on. The status is never stored: it is derived from the init
//! process (pid + start time, so a reused pid is not mistaken for ours) and the fifo.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default runtime root, as runc uses /run/runc.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";

/// State errors: lookups, ids and the on-disk files.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No such container under this root.
    #[error("container `{0}` does not exist")]
    NotFound(String),
    /// Create of an id that is taken.
    #[error("container `{0}` already exists")]
    Exists(String),
    /// The id has characters that could escape the root or confuse callers.
    #[error("invalid container id {0:?}: use letters, digits and `_+-.`, not `.` or `..`")]
    InvalidId(String),
    /// The container is in a state that does not allow the command.
    #[error("container `{id}` is {status}, {command} needs it {wanted}")]
    WrongStatus {
        /// Container id.
        id: String,
        /// Its status now.
        status: Status,
        /// The command that was refused.
        command: &'static str,
        /// The status(es) the command needs.
        wanted: &'static str,
    },
    /// Reading or writing a state file failed.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A state file is not valid JSON.
    #[error("parse `{path}`: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// serde's error.
        source: serde_json::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A container's status, as the OCI spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// create is still running.
    Creating,
    /// Init is waiting for start.
    Created,
    /// The user process runs.
    Running,
    /// The cgroup is frozen.
    Paused,
    /// Init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self).ok();
        f.write_str(s.as_ref().and_then(|v| v.as_str()).unwrap_or("unknown"))
    }
}

/// What create records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Container id.
    pub id: String,
    /// Init's pid in the runtime's pid namespace.
    pub pid: i32,
    /// Init's start time (field 22 of /proc/PID/stat), to detect pid reuse.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    /// User that created it.
    pub owner: String,
    /// The cgroup path relative to each hierarchy root.
    pub cgroup_path: String,
    /// cgroupsPath as the spec gave it.
    pub cgroups_path_spec: Option<PathBuf>,
    /// Annotations from the spec.
    #[serde(default)]
    pub annotations: std::collections::HashMap<String, String>,
    /// process.terminal: init's stdio is a pty whose master went to the console socket.
    #[serde(default)]
    pub terminal: bool,
    /// The spec's ociVersion.
    #[serde(default)]
    pub oci_version: String,
    /// The spec has poststart or poststop hooks (so start and delete read the snapshot).
    #[serde(default)]
    pub late_hooks: bool,
}

/// Check an id as runc does.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// The runtime root directory.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// A root at `dir` (created on first container).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where compiled seccomp programs are cached. `@` cannot start a container id, so
    /// the directory never collides with a container's (and [`Self::ids`] skips it).
    pub fn seccomp_cache(&self) -> PathBuf {
        self.dir.join("@seccomp")
    }

    /// The directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Claim `id`: make its directory, failing if it exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        let dir = self.container_dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(id.into()))
            }
            Err(e) => Err(io("create", &dir)(e)),
        }
    }

    /// Ids of every container under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io("read", &self.dir)(e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| validate_id(n).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Load container `id`'s record.
    pub fn load(&self, id: &str) -> Result<Record, StateError> {
        validate_id(id)?;
        let path = self.container_dir(id).join("state.json");
        let text = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StateError::NotFound(id.into()),
            _ => io("read", &path)(e),
        })?;
        serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Load the spec snapshot taken at create.
    pub fn load_spec(&self, id: &str) -> Result<oci_spec::runtime::Spec, StateError> {
        let path = self.container_dir(id).join("config.json");
        let text = fs::read(&path).map_err(io("read", &path))?;
        serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Atomically write `value` as `<root>/<id>/<name>` (temp + rename).
    ///
    /// No fsync: the runtime root lives in /run, which a reboot empties anyway, and the
    /// rename alone already keeps a crash of berth from leaving a torn file (as runc, crun).
    pub fn write_json<T: Serialize>(
        &self,
        id: &str,
        name: &str,
        value: &T,
    ) -> Result<(), StateError> {
        let dir = self.container_dir(id);
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec(value).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&bytes).map_err(io("write", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("rename", &path))
    }

    /// Remove container `id`'s directory and everything in it.
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        let dir = self.container_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &dir)(e)),
        }
    }
}

/// Start time of `pid` (clock ticks since boot), or None if it is gone or a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

impl Record {
    /// Init still alive (and the same process that create started).
    pub fn init_alive(&self) -> bool {
        self.pid > 0 && process_start_time(self.pid) == Some(self.pid_start)
    }
}

/// RFC 3339 UTC timestamp with nanoseconds, e.g. `2026-11-26T03:37:17.123456789Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_x+y", "A9"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "ä"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_664_237, 5);
        assert_eq!(rfc3339(t), "2026-11-26T03:37:17.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn claim_is_exclusive() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(d.path());
        root.claim("c1").unwrap();
        assert!(matches!(root.claim("c1"), Err(StateError::Exists(_))));
        assert!(matches!(root.load("c1"), Err(StateError::NotFound(_))));
        assert_eq!(root.ids().unwrap(), vec!["c1".to_string()]);
        std::fs::create_dir(root.seccomp_cache()).unwrap();
        assert_eq!(
            root.ids().unwrap(),
            vec!["c1".to_string()],
            "the cache is no container"
        );
        assert!(validate_id("@seccomp").is_err());
    }

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id() as i32;
        assert!(process_start_time(me).is_some());
        assert_eq!(process_start_time(me), process_start_time(me));
    }
}
