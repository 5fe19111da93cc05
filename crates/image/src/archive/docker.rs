//! docker-archive in: `manifest.json` entries become OCI manifests over the staged blobs.
//!
//! The config is kept byte for byte, so the image id survives the round trip. Each layer is
//! checked against the config's `rootfs.diff_ids`: an uncompressed `layer.tar` is its own diff
//! id (it was hashed while staged), a compressed one is hashed again through the decompressor.

use std::str::FromStr;

use serde::Deserialize;

use super::stage::{Member, Staged};
use super::{diff_id_of, read_json, ArchiveError, Loaded, LAYER_TAR, OCI_CONFIG, OCI_MANIFEST};
use crate::layer::{detect, Compression};
use crate::reference::Reference;
use crate::store::Store;

/// The member naming the images.
const MANIFEST: &str = "manifest.json";

/// One entry of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The part of an image config that names the layers.
#[derive(Debug, Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// Checks every image `manifest.json` names and stores an OCI manifest for each.
pub(super) fn convert(store: &Store, staged: &Staged) -> Result<Vec<Loaded>, ArchiveError> {
    let manifest = staged.get(MANIFEST, "<archive>")?;
    let entries: Vec<Entry> = read_json(store, &manifest.digest, MANIFEST)?;
    let mut out = Vec::new();
    for entry in entries {
        out.push(convert_one(store, staged, &entry)?);
    }
    Ok(out)
}

/// One `manifest.json` entry: config, layers checked against the diff ids, manifest stored.
fn convert_one(store: &Store, staged: &Staged, entry: &Entry) -> Result<Loaded, ArchiveError> {
    let config = staged.get(&entry.config, MANIFEST)?;
    let parsed: Config = read_json(store, &config.digest, &config.path)?;
    let diff_ids = parsed.rootfs.diff_ids;
    if diff_ids.len() != entry.layers.len() {
        return Err(ArchiveError::Invalid {
            member: MANIFEST.to_owned(),
            reason: format!(
                "{} layers listed, but config `{}` has {} diff ids",
                entry.layers.len(),
                config.path,
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
        let layer = staged.get(path, MANIFEST)?;
        layers.push(serde_json::json!({
            "mediaType": layer_media_type(store, layer, diff_id)?,
            "digest": layer.digest,
            "size": layer.size,
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|source| ArchiveError::Parse {
        member: MANIFEST.to_owned(),
        source,
    })?;
    let manifest_digest = store.put_blob(None, &bytes[..])?;
    let names = entry
        .repo_tags
        .iter()
        .flatten()
        .map(|t| Reference::from_str(t))
        .collect::<Result<_, _>>()?;
    Ok(Loaded {
        manifest_digest,
        id: config.digest.clone(),
        names,
    })
}

/// The OCI media type of a staged layer, once its content is proven to be `diff_id`.
fn layer_media_type(
    store: &Store,
    layer: &Member,
    diff_id: &str,
) -> Result<&'static str, ArchiveError> {
    if layer.digest == diff_id {
        return Ok(LAYER_TAR);
    }
    let mut head = [0u8; 4];
    let n =
        std::io::Read::read(&mut store.open_blob(&layer.digest)?, &mut head).map_err(|source| {
            ArchiveError::Read {
                member: layer.path.clone(),
                source,
            }
        })?;
    let media_type = match detect(&head[..n]) {
        Compression::None => LAYER_TAR,
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    };
    let actual = match media_type {
        LAYER_TAR => layer.digest.clone(),
        _ => diff_id_of(store, &layer.digest, &layer.path)?.0,
    };
    if actual != diff_id {
        return Err(ArchiveError::DiffIdMismatch {
            member: layer.path.clone(),
            expected: diff_id.to_owned(),
            actual,
        });
    }
    Ok(media_type)
}
