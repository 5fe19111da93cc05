//! Image archives: docker-archive (`docker save`) and OCI image layouts, both directions.
//!
//! [`save`] writes a tar to any `Write` (a file or stdout); [`load`] reads one from any `Read`
//! (plain or gzip/zstd-compressed) and tells the two formats apart by their members:
//! `manifest.json` makes a docker-archive, `index.json` an OCI layout.
//!
//! Loading streams the tar once: every regular member goes into the content store as a blob
//! (hashed on the way, see [`stage`]), and only then are the manifests read. Nothing is tagged
//! until every image in the archive has been checked, so a failed load leaves no name behind;
//! the blobs it stored are unreferenced and go with the next prune.

mod docker;
mod oci;
mod save;
mod stage;

use std::io::{self, Read};

use crate::image::ImageError;
use crate::reference::ReferenceError;
use crate::store::{Store, StoreError};

pub use save::save;

/// The media type of an uncompressed OCI layer.
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The media type of an OCI image manifest.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The media type of an OCI image index.
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The media type of an OCI image config.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Annotation holding the tag (or, from some tools, the whole name) of an index entry.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation holding the full image name, as containerd and Docker write it.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Which kind of archive [`save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `docker save`'s format: `manifest.json`, `<id>.json` configs, `<dir>/layer.tar` layers
    /// (uncompressed) and `repositories`.
    #[default]
    DockerArchive,
    /// An OCI image layout in a tar: `oci-layout`, `index.json` and `blobs/sha256/<hex>`.
    OciArchive,
}

/// What can go wrong saving or loading an archive. Messages name the member and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The content store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Loading or resolving an image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A name in the archive that is not a valid reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Reading the archive (or one member of it) failed, e.g. because it is truncated.
    #[error("read archive member `{member}`: {source}")]
    Read {
        /// The member being read (`<archive>` for the tar structure itself).
        member: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Writing the archive failed.
    #[error("write archive member `{member}`: {source}")]
    Write {
        /// The member being written.
        member: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Neither `manifest.json` nor `index.json` is in the archive.
    #[error("load archive: no manifest.json (docker-archive) or index.json (OCI layout) in it")]
    UnknownFormat,
    /// A member that the manifest or index names is not in the archive.
    #[error("load archive: `{member}`, referenced by `{by}`, is not in the archive")]
    MissingMember {
        /// The absent member.
        member: String,
        /// The member that refers to it.
        by: String,
    },
    /// A member path that has a `..` component or is absolute.
    #[error("load archive: member `{member}` climbs out of the archive (`..` or absolute path)")]
    UnsafePath {
        /// The member's path, verbatim.
        member: String,
    },
    /// A member's content does not hash to the digest its path or descriptor names.
    #[error("verify `{member}`: content hashes to {actual}, expected {expected}")]
    DigestMismatch {
        /// The member.
        member: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A layer whose uncompressed content does not hash to the config's diff id.
    #[error("verify layer `{member}`: diff id is {actual}, the config says {expected}")]
    DiffIdMismatch {
        /// The layer member.
        member: String,
        /// The config's diff id.
        expected: String,
        /// The diff id of the content.
        actual: String,
    },
    /// A JSON member that does not parse.
    #[error("parse `{member}`: {source}")]
    Parse {
        /// The member.
        member: String,
        /// serde's error.
        source: serde_json::Error,
    },
    /// A member that parses but does not make sense.
    #[error("check `{member}`: {reason}")]
    Invalid {
        /// The member.
        member: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads an archive (docker-archive or OCI layout, plain or gzip/zstd-compressed) into the
/// store and tags what it names. Returns, in archive order, one entry per image loaded: its
/// name in familiar form (`busybox:latest`) for each name it got, or its id (`sha256:<hex>`)
/// when it got none.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<String>, ArchiveError> {
    let staged = stage::stage(store, input)?;
    let loaded = if staged.has("manifest.json") {
        docker::convert(store, &staged)?
    } else if staged.has("index.json") {
        oci::convert(store, &staged)?
    } else {
        return Err(ArchiveError::UnknownFormat);
    };
    // Tag only now: every image above was checked, so a failure leaves no name behind.
    let mut out = Vec::new();
    for image in loaded {
        if image.names.is_empty() {
            let name = format!("@{}", image.id);
            if store.tag(&name)?.is_none() && !is_tagged(store, &image.manifest_digest)? {
                store.set_tag(&name, &image.manifest_digest)?;
            }
            out.push(image.id);
            continue;
        }
        for name in image.names {
            store.set_tag(&name.to_string(), &image.manifest_digest)?;
            out.push(name.familiar());
        }
    }
    Ok(out)
}

/// Whether some name already points at `manifest_digest` (then no `@<id>` name is needed).
fn is_tagged(store: &Store, manifest_digest: &str) -> Result<bool, ArchiveError> {
    Ok(store.tags()?.values().any(|d| d == manifest_digest))
}

/// One image of an archive, stored and checked but not yet tagged.
#[derive(Debug)]
struct Loaded {
    /// The manifest in the store.
    manifest_digest: String,
    /// The image id (config digest).
    id: String,
    /// The names to give it.
    names: Vec<crate::reference::Reference>,
}

/// `(uncompressed digest, uncompressed size)` of a stored layer blob, undoing gzip or zstd.
fn diff_id_of(store: &Store, digest: &str, member: &str) -> Result<(String, u64), ArchiveError> {
    use sha2::{Digest as _, Sha256};
    let blob = store.open_blob(digest)?;
    let mut reader = decompress(blob, member)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(ArchiveError::Read {
                    member: member.to_owned(),
                    source,
                })
            }
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((format!("sha256:{:x}", hasher.finalize()), total))
}

/// Looks at the first bytes of `input` and undoes gzip or zstd compression.
fn decompress<'a>(input: impl Read + 'a, member: &str) -> Result<Box<dyn Read + 'a>, ArchiveError> {
    let mut input = io::BufReader::new(input);
    let read_err = |source| ArchiveError::Read {
        member: member.to_owned(),
        source,
    };
    let head = io::BufRead::fill_buf(&mut input).map_err(read_err)?;
    Ok(match crate::layer::detect(head) {
        crate::layer::Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        crate::layer::Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(read_err)?)
        }
        crate::layer::Compression::None => Box::new(input),
    })
}

/// Parses a JSON member already in the store.
fn read_json<T: serde::de::DeserializeOwned>(
    store: &Store,
    digest: &str,
    member: &str,
) -> Result<T, ArchiveError> {
    let bytes = store.read_blob(digest)?;
    serde_json::from_slice(&bytes).map_err(|source| ArchiveError::Parse {
        member: member.to_owned(),
        source,
    })
}
