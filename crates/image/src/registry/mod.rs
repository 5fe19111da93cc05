//! The OCI distribution client: pull and push against registries.
//!
//! [`pull`] fetches a manifest (choosing this platform's entry from an image index or a
//! Docker manifest list), then its config and layers, several at once, into the store, each
//! verified against its digest, and tags the reference; [`pull_unpacked`] also unpacks each
//! layer into the snapshotter while it downloads. [`push`] uploads the blobs a
//! registry lacks and then the manifest. Both speak plain HTTP to registries on loopback, as
//! Docker does, and HTTPS elsewhere unless the registry is listed in
//! `BERTH_INSECURE_REGISTRIES` (comma-separated `host[:port]`). Credentials come from
//! [`login`]; see [`config_path`].
//!
//! Spec: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.

mod auth;
mod client;
mod progress;
mod pull;
mod push;
mod tee;
mod transfer;
mod unpack;

use std::net::IpAddr;
use std::path::PathBuf;

pub use auth::{config_path, Credentials};
pub use pull::{pull, pull_unpacked, select_platform, PullOptions};
pub use push::{push, Pushed};

use crate::image::{ImageError, RootfsError};
use crate::store::StoreError;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The content store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading or resolving a local image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Unpacking a pulled layer failed (hostile, corrupt, or not what the config says).
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// The registry has no such manifest.
    #[error("manifest unknown: `{reference}` not found")]
    NotFound {
        /// The reference as given.
        reference: String,
    },
    /// The registry refused the credentials (or there were none).
    #[error("unauthorized: authentication required for `{registry}` (see `berth login`)")]
    Unauthorized {
        /// The registry.
        registry: String,
    },
    /// The registry answered with an error status.
    #[error("{method} `{url}`: status {code} {detail}")]
    Status {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// The status code.
        code: u16,
        /// The registry's error code and message, if it sent one.
        detail: String,
    },
    /// The connection failed or timed out, after the retries.
    #[error("{method} `{url}`: {reason}")]
    Transport {
        /// HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// ureq's message.
        reason: String,
    },
    /// Content whose digest is not the one asked for or announced.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest wanted.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A blob whose length is not the one its descriptor gives (read no further than it).
    #[error("blob `{digest}`: the manifest says {expected} bytes, the registry sent {actual}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// The descriptor's size.
        expected: u64,
        /// What arrived (at most one byte more than expected: the read stops there).
        actual: u64,
    },
    /// A manifest this client cannot use.
    #[error("manifest `{reference}`: {reason}")]
    Manifest {
        /// The reference.
        reference: String,
        /// Why it is refused.
        reason: String,
    },
    /// Reading or writing the credentials file.
    #[error("credentials file `{path}`: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Whether `registry` (`host[:port]`, `[v6]:port`) is on loopback: `localhost`,
/// 127.0.0.0/8 or ::1. Docker talks plain HTTP to these.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `registry` is in `BERTH_INSECURE_REGISTRIES` (a comma-separated list of
/// `host[:port]`).
fn is_insecure(registry: &str) -> bool {
    std::env::var("BERTH_INSECURE_REGISTRIES").is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|r| !r.is_empty() && r.eq_ignore_ascii_case(registry))
    })
}

/// `http` for loopback and insecure registries, `https` otherwise.
pub fn transport_scheme(registry: &str) -> &'static str {
    if is_loopback(registry) || is_insecure(registry) {
        "http"
    } else {
        "https"
    }
}

/// Checks `credentials` against `registry`'s `/v2/` (answering its challenge with them) and
/// stores them in the credentials file.
pub fn login(registry: &str, credentials: &Credentials) -> Result<(), RegistryError> {
    let c = client::Client::with_credentials(registry, "", "pull", Some(credentials.clone()));
    c.send("GET", "/v2/", &[], &client::Body::Empty, &[])?;
    auth::store_credentials(registry, credentials)
}

/// Removes `registry`'s credentials; false when there were none.
pub fn logout(registry: &str) -> Result<bool, RegistryError> {
    auth::remove_credentials(registry)
}

/// The registry name `login`/`logout` take: `docker.io` when none is given; a URL's scheme
/// and path are dropped.
pub fn normalize_registry(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        s => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        for (r, want) in [
            ("localhost", true),
            ("localhost:5000", true),
            ("LOCALHOST:5000", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("[::1]", true),
            ("docker.io", false),
            ("10.0.0.1:5000", false),
            ("localhost.example.com:5000", false),
            ("[::2]:5000", false),
            ("128.0.0.1", false),
        ] {
            assert_eq!(is_loopback(r), want, "{r}");
        }
        assert_eq!(transport_scheme("localhost:5000"), "http");
        assert_eq!(transport_scheme("quay.io"), "https");
    }

    #[test]
    fn registry_names() {
        assert_eq!(normalize_registry(None), "docker.io");
        assert_eq!(
            normalize_registry(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(normalize_registry(Some("localhost:5000")), "localhost:5000");
        assert_eq!(
            normalize_registry(Some("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
    }
}
