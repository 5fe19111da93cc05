//! berth's engine: containers as a user sees them.
//!
//! The store ([`store`]) keeps one directory per container with its configuration
//! ([`config`]), state, bundle, log and attach socket. `create` resolves the image, makes an
//! overlay snapshot and records the container; `start` mounts the snapshot, writes the OCI
//! spec ([`spec`]) and starts a [`monitor`] process that creates and starts the container
//! through the [`runtime`], holds its stdio, writes its [`logs`], records its exit and OOM,
//! and applies the restart policy. Nothing runs between commands but the monitors.

pub mod attach;
pub mod changes;
pub mod commit;
pub mod config;
pub mod connect;
pub mod cp;
pub mod df;
pub mod engine;
pub mod error;
pub mod exec;
pub mod filter;
pub mod hostsec;
pub mod images;
pub mod info;
pub mod inspect;
pub mod ipc;
pub mod lifecycle;
pub mod limits;
pub mod logs;
pub mod monitor;
pub mod names;
pub mod netcheck;
pub mod network;
pub mod port;
pub mod prune;
pub mod resources;
pub mod rootfs;
pub mod runtime;
pub mod security;
pub mod spec;
pub mod stats;
pub mod store;
pub mod update;
pub mod user;
pub mod userns;
pub mod volume;
mod volview;

pub use engine::{Engine, Options};
pub use error::{Error, Result};
