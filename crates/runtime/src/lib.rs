//! berth's OCI runtime: an OCI bundle in, a running container out.
//!
//! The `berth-runtime` binary is a thin front end over [`container`]; the engine calls the
//! same functions in process. Layers: [`spec`] validates once, [`process`] forks and sets
//! up, [`rootfs`] builds the filesystem view, [`state`] records what exists.

pub mod container;
pub mod error;
pub mod features;
pub mod hooks;
pub mod lsm;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seal;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod tty;

pub use error::{Error, Result};
pub use oci_spec;

/// An empty annotation map, for states of specs that have none.
pub static EMPTY_MAP: std::sync::LazyLock<std::collections::HashMap<String, String>> =
    std::sync::LazyLock::new(Default::default);
