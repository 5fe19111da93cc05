//! berth's bridge networks.
//!
//! A network is a Linux bridge with a private IPv4 subnet; each container on it gets a
//! veth pair (one end a bridge port, the other `eth0` in its network namespace), an
//! address from the network's IPAM, a default route via the bridge, and masquerade on the
//! way out. Everything is done over netlink ([`netlink`], [`link`]) and one nftables table
//! of berth's own ([`nft`]); nothing shells out to `ip`.
//!
//! [`engine::Networks`] is the store (`<root>/networks`); [`endpoint`] attaches containers.

pub mod check;
pub mod connect;
pub mod dns;
pub mod endpoint;
pub mod engine;
pub mod error;
pub(crate) mod inventory;
pub mod ipam;
pub mod ipv6;
pub(crate) mod link;
pub(crate) mod netlink;
pub mod nft;
pub(crate) mod nft6;
pub(crate) mod plan;
pub mod ports;
pub mod subnet;

pub use endpoint::{connect, disconnect, Endpoint};
pub use engine::{CreateRequest, HostNames, Network, Networks};
pub use error::{NetError, Result};
pub use ports::{Mapping, Spec};
