//! The engine's errors: each one line naming the object, the field and the value.

use std::path::{Path, PathBuf};

/// An engine error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// To which file.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A stored file does not parse.
    #[error("`{}` is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// No container by that name or id.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// An id prefix matches several containers.
    #[error("multiple containers match id prefix `{0}`; give more digits")]
    Ambiguous(String),
    /// The name is taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name.
        name: String,
        /// Its owner.
        id: String,
    },
    /// A run option has a bad value.
    #[error("invalid {flag} `{value}`: {reason}")]
    Invalid {
        /// The option, as the user spells it.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The container is not in a state that allows the operation.
    #[error("container {id} is {status}: {what}")]
    State {
        /// The container (short id or name).
        id: String,
        /// Its status.
        status: String,
        /// What cannot be done.
        what: &'static str,
    },
    /// The image layer of the engine failed.
    #[error(transparent)]
    Image(#[from] berth_image::image::ImageError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] berth_image::snapshot::SnapshotError),
    /// Making the rootfs failed.
    #[error(transparent)]
    Rootfs(#[from] berth_image::image::RootfsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_image::store::StoreError),
    /// Reading or writing a container's files (`cp`, `export`, `diff`, `commit`).
    #[error(transparent)]
    Files(#[from] crate::rootfs::FsError),
    /// A volume operation failed.
    #[error(transparent)]
    Volume(#[from] crate::volume::VolumeError),
    /// An image that containers use.
    #[error(transparent)]
    ImageInUse(#[from] crate::images::Conflict),
    /// A network operation failed.
    #[error(transparent)]
    Network(#[from] berth_network::NetError),
    /// The OCI runtime failed.
    #[error("{0}")]
    Runtime(String),
    /// The container's monitor failed or went away.
    #[error("monitor of container {id}: {reason}")]
    Monitor {
        /// The container.
        id: String,
        /// What happened.
        reason: String,
    },
}

impl Error {
    /// An `Io` error builder for `map_err`.
    pub fn io(op: &'static str, path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_path_buf();
        move |source| Error::Io { op, path, source }
    }

    /// An `Invalid` error.
    pub fn invalid(
        flag: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            flag,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
