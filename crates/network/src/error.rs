//! The network layer's errors: one line each, naming the object and the value.

use std::path::{Path, PathBuf};

/// A network error.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A file operation on the store failed.
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
    /// A netlink request failed.
    #[error("netlink {op} `{object}`: {source}")]
    Netlink {
        /// The request (`add bridge`, `add address`, ...).
        op: &'static str,
        /// The link or address it was about.
        object: String,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
    /// A flag or option has a bad value.
    #[error("invalid {flag} `{value}`: {reason}")]
    Invalid {
        /// The option, as the user spells it.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No network by that name or id.
    #[error("network {0} not found")]
    NotFound(String),
    /// A network by that name exists.
    #[error("network with name {0} already exists")]
    Exists(String),
    /// The subnet overlaps another network's or a host route.
    #[error("invalid pool request: subnet {subnet} overlaps {other}")]
    Overlap {
        /// The subnet asked for.
        subnet: String,
        /// What it overlaps.
        other: String,
    },
    /// Every address of the subnet is taken.
    #[error("no available IPv4 addresses on network {0}")]
    Exhausted(String),
    /// The address asked for is taken.
    #[error("address {ip} is already in use on network {network}")]
    AddressInUse {
        /// The address.
        ip: String,
        /// The network.
        network: String,
    },
    /// The network has containers.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse {
        /// Its name.
        name: String,
        /// Its id.
        id: String,
    },
    /// `network disconnect` of a network the container is not on.
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// The container, as named.
        container: String,
        /// The network.
        network: String,
    },
    /// `network connect` of a network the container is on already.
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected {
        /// The container's name.
        container: String,
        /// The network.
        network: String,
    },
    /// `network connect`/`disconnect` that the container's network mode rules out.
    #[error("{0}")]
    Mode(String),
    /// A network's name responder could not start.
    #[error("dns responder of network {network}: {reason}")]
    Dns {
        /// The network.
        network: String,
        /// Why.
        reason: String,
    },
    /// `nft` failed.
    #[error("nft {op} table `{table}`: {reason}")]
    Nft {
        /// What was done.
        op: &'static str,
        /// The table.
        table: String,
        /// Its complaint, or why it could not run.
        reason: String,
    },
}

impl NetError {
    /// An `Io` error builder for `map_err`.
    pub fn io(op: &'static str, path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> NetError {
        let path = path.as_ref().to_path_buf();
        move |source| NetError::Io { op, path, source }
    }

    /// A `Netlink` error builder for `map_err`.
    pub fn netlink(
        op: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(std::io::Error) -> NetError {
        let object = object.into();
        move |source| NetError::Netlink { op, object, source }
    }

    /// An `Invalid` error.
    pub fn invalid(
        flag: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> NetError {
        NetError::Invalid {
            flag,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// The network layer's result type.
pub type Result<T> = std::result::Result<T, NetError>;
