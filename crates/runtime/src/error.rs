//! The runtime's error: one variant per module error, so callers print one line.

use crate::hooks::HookError;
use crate::process::channel::{ChannelError, ChildError};
use crate::seccomp::SeccompError;
use crate::spec::SpecError;
use crate::state::StateError;

/// Everything a runtime operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec did not load or validate.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// State lookups, ids, statuses.
    #[error(transparent)]
    State(#[from] StateError),
    /// cgroup set-up or control.
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::Error),
    /// seccomp compile or load.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A hook failed.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// A step inside the container's processes failed.
    #[error("container `{id}`: {source}")]
    Child {
        /// Container id.
        id: String,
        /// What failed in the child.
        source: ChildError,
    },
    /// The sync channel broke.
    #[error("container `{id}`: {source}")]
    Channel {
        /// Container id.
        id: String,
        /// How.
        source: ChannelError,
    },
    /// A syscall in the runtime process itself.
    #[error("{op} `{object}`: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// On what.
        object: String,
        /// errno.
        source: std::io::Error,
    },
    /// Command-line level misuse that the runtime can judge (e.g. terminal without socket).
    #[error("{what}: {reason}")]
    Usage {
        /// The flag or field.
        what: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
}

/// Shorthand for the runtime's results.
pub type Result<T> = std::result::Result<T, Error>;

/// Wrap a syscall error with the operation and object.
pub fn sys(op: &'static str, object: impl ToString) -> impl FnOnce(std::io::Error) -> Error {
    let object = object.to_string();
    move |source| Error::Sys { op, object, source }
}

/// Wrap a nix error with the operation and object.
pub fn nix(op: &'static str, object: impl ToString) -> impl FnOnce(nix::Error) -> Error {
    let object = object.to_string();
    move |e| Error::Sys {
        op,
        object,
        source: std::io::Error::from_raw_os_error(e as i32),
    }
}
