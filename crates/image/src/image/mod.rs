//! Images in the store: an OCI manifest (tagged by name) pointing at a config and layers.
//!
//! An image's id is its config digest, as Docker's. Names map to manifest digests in the
//! store's tag index; an image exists while a name points at it.

mod import;
mod inspect;
mod prune;
mod remove;
mod rootfs;

use std::str::FromStr;

use oci_spec::image::{ImageConfiguration, ImageManifest};

pub use import::{import, parse_change, ImportOptions};
pub use inspect::{history, inspect, HistoryRow};
pub use prune::{prune, usage, ImageUsage};
pub use remove::remove;
pub(crate) use rootfs::unpack_one;
pub use rootfs::{chain_ids, create_rootfs, unpack_layers, RootfsError};

use crate::reference::{Reference, ReferenceError};
use crate::store::{Store, StoreError};

/// What can go wrong with images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The content store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A name that is not a valid reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// No image by that name or id.
    #[error("no such image: {0}")]
    NotFound(String),
    /// A short id matches more than one image.
    #[error("image id {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
    /// A manifest or config blob that does not parse.
    #[error("parse {what} `{digest}`: {source}")]
    Parse {
        /// manifest or config.
        what: &'static str,
        /// Its digest.
        digest: String,
        /// serde's error.
        source: serde_json::Error,
    },
    /// A `--change` instruction that cannot be applied.
    #[error("invalid change {change:?}: {reason}")]
    Change {
        /// The instruction as given.
        change: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Reading the input or writing a blob.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Removing an image that several names point at, without force.
    #[error("conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories")]
    Conflict {
        /// Short image id.
        id: String,
    },
    /// Building an OCI document failed.
    #[error("build {what}: {reason}")]
    Build {
        /// Which document.
        what: &'static str,
        /// oci-spec's message.
        reason: String,
    },
}

/// One image, loaded from the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// Digest of the manifest (what names point at).
    pub manifest_digest: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: ImageConfiguration,
}

impl Image {
    /// The image id: its config digest.
    pub fn id(&self) -> String {
        self.manifest.config().digest().to_string()
    }

    /// The first 12 hex digits of the id, as `docker images` shows it.
    pub fn short_id(&self) -> String {
        short(&self.id())
    }

    /// Sum of the layer blob sizes (compressed, as stored).
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }
}

/// `sha256:abcdef...` -> `abcdef012345`.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// Load the image whose manifest has this digest.
pub fn load(store: &Store, manifest_digest: &str) -> Result<Image, ImageError> {
    let bytes = store.read_blob(manifest_digest)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Parse {
            what: "manifest",
            digest: manifest_digest.into(),
            source,
        })?;
    let config_digest = manifest.config().digest().to_string();
    let bytes = store.read_blob(&config_digest)?;
    let config = serde_json::from_slice(&bytes).map_err(|source| ImageError::Parse {
        what: "config",
        digest: config_digest,
        source,
    })?;
    Ok(Image {
        manifest_digest: manifest_digest.into(),
        manifest,
        config,
    })
}

/// Every image with the names that point at it, sorted by name.
pub fn list(store: &Store) -> Result<Vec<(Image, Vec<String>)>, ImageError> {
    let mut by_manifest: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, digest) in store.tags()? {
        by_manifest.entry(digest).or_default().push(name);
    }
    let mut out = Vec::new();
    for (digest, names) in by_manifest {
        out.push((load(store, &digest)?, names));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Find an image by name (`busybox`, `localhost:5000/x:1`), full or short id
/// (`sha256:...`, `3f57d9401f8d`), or manifest digest.
pub fn resolve(store: &Store, name_or_id: &str) -> Result<Image, ImageError> {
    if let Ok(r) = Reference::from_str(name_or_id) {
        if let Some(d) = store.tag(&r.to_string())? {
            return load(store, &d);
        }
    }
    let wanted = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
    if wanted.is_empty() || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::NotFound(name_or_id.into()));
    }
    let mut found: Option<Image> = None;
    for (image, _) in list(store)? {
        let id = image.id();
        let id_hex = short_hex(&id);
        let manifest_hex = short_hex(&image.manifest_digest);
        if id_hex.starts_with(wanted) || manifest_hex.starts_with(wanted) {
            if found.as_ref().is_some_and(|f| f.id() != image.id()) {
                return Err(ImageError::Ambiguous(name_or_id.into()));
            }
            found = Some(image);
        }
    }
    found.ok_or_else(|| ImageError::NotFound(name_or_id.into()))
}

fn short_hex(digest: &str) -> &str {
    digest.split_once(':').map(|(_, h)| h).unwrap_or(digest)
}

/// Point `target` (a name, normalised) at the image `source` names.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<(), ImageError> {
    let image = resolve(store, source)?;
    let r = Reference::from_str(target)?;
    Ok(store.set_tag(&r.to_string(), &image.manifest_digest)?)
}
