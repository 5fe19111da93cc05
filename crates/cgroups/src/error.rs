//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while managing a container's cgroups.
///
/// Messages read "op `object`: cause"; the errno, when there is one, is in
/// the `source` of [`Error::Io`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation on a cgroup filesystem failed.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// What we were doing: "read", "write", "mkdir", "rmdir", "open", ...
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error (carries the errno).
        #[source]
        source: io::Error,
    },
    /// A cgroup file held something we could not parse.
    #[error("parse `{path}`: unexpected content {content:?}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// The offending text (a line or the whole value).
        content: String,
    },
    /// A line of the mount table could not be parsed.
    #[error("parse `mountinfo` line {line}: {reason}")]
    Mountinfo {
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The mount table shows no cgroup hierarchy at all.
    #[error("detect `cgroup mounts`: no cgroup v1 controller or cgroup2 filesystem is mounted")]
    NoCgroupMounts,
    /// The container's cgroups path cannot be used.
    #[error("use cgroups path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given (or the container id it was derived from).
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A resource was asked for whose controller is not mounted or enabled here.
    #[error("set `{resource}`: the {controller} controller is not available on this host")]
    ControllerMissing {
        /// The controller, e.g. "net_cls" or "hugetlb".
        controller: &'static str,
        /// The OCI resource that needs it, e.g. "network.classID".
        resource: &'static str,
    },
    /// A resource was asked for that this cgroup version cannot express.
    #[error("set `{resource}`: not supported on {backend}")]
    Unsupported {
        /// The OCI resource, e.g. "memory.disableOOMKiller".
        resource: &'static str,
        /// "cgroup v1" or "cgroup v2".
        backend: &'static str,
    },
    /// A control file needed for a requested resource does not exist.
    #[error("set `{resource}`: `{path}` does not exist on this host")]
    MissingFile {
        /// The OCI resource that was asked for.
        resource: &'static str,
        /// The control file that is missing.
        path: PathBuf,
    },
    /// A resource value is out of range or malformed.
    #[error("set `{resource}` to {value:?}: {reason}")]
    InvalidValue {
        /// The OCI resource, e.g. "memory.swappiness".
        resource: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A memory limit is below what the cgroup already uses.
    #[error("set `{path}` to {limit}: current usage is {usage} bytes")]
    MemoryBelowUsage {
        /// The limit file.
        path: PathBuf,
        /// The limit asked for, in bytes.
        limit: i64,
        /// The cgroup's usage when the limit was refused.
        usage: u64,
    },
    /// The freezer did not reach the requested state in time.
    #[error("{op} `{path}`: state did not settle, last seen {state:?}")]
    FreezeTimeout {
        /// "freeze" or "thaw".
        op: &'static str,
        /// The freezer state file.
        path: PathBuf,
        /// The last state read.
        state: String,
    },
    /// A signal could not be delivered to a process of the container.
    #[error("kill `{pid}` with signal {signal}: {source}")]
    Signal {
        /// The target process.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// The errno from kill(2).
        #[source]
        source: nix::Error,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The errno of an [`Error::Io`], if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Signal { source, .. } => Some(*source as i32),
            _ => None,
        }
    }
}

/// Shorthand used throughout the crate.
pub(crate) type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_op_object_cause() {
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::io("write", "/cg/memory.max", io::Error::from_raw_os_error(16)),
                "write `/cg/memory.max`: Device or resource busy (os error 16)",
            ),
            (
                Error::ControllerMissing {
                    controller: "net_cls",
                    resource: "network.classID",
                },
                "set `network.classID`: the net_cls controller is not available on this host",
            ),
            (
                Error::InvalidPath {
                    path: "system.slice:berth:x".into(),
                    reason: "systemd cgroup driver is not available",
                },
                "use cgroups path `system.slice:berth:x`: systemd cgroup driver is not available",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
        let e = Error::io("read", "/x", io::Error::from_raw_os_error(2));
        assert_eq!(e.errno(), Some(2));
    }
}
