//! OCI image layout in: `index.json` entries (through nested indexes, picking linux/amd64)
//! to manifests whose blobs are all present and verified.
//!
//! Every `blobs/sha256/<hex>` member was checked against its name while staged; here each
//! descriptor's blob must be present with the size the descriptor says, and an uncompressed
//! layer must be its config's diff id. Manifests are kept byte for byte, so the manifest
//! digest (and the image id) survive.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Deserialize;

use super::stage::{Member, Staged};
use super::{read_json, ArchiveError, Loaded, CONTAINERD_NAME, REF_NAME};
use crate::reference::Reference;
use crate::store::Store;

/// The member naming the images.
const INDEX: &str = "index.json";
/// How deep indexes may nest before the archive is refused.
const MAX_DEPTH: usize = 4;

/// A content descriptor, as much of it as loading needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

/// An index or a manifest: which one is told by `manifests` being there.
#[derive(Debug, Deserialize)]
struct Document {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Config {
    rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// Checks every image `index.json` names.
pub(super) fn convert(store: &Store, staged: &Staged) -> Result<Vec<Loaded>, ArchiveError> {
    let index = staged.get(INDEX, "<archive>")?;
    let doc: Document = read_json(store, &index.digest, INDEX)?;
    let Some(manifests) = doc.manifests else {
        return Err(invalid(INDEX, "no `manifests` list".into()));
    };
    let mut out = Vec::new();
    for desc in &manifests {
        let manifest = pick(store, staged, desc, INDEX, 0)?;
        let id = check_manifest(store, staged, manifest)?;
        crate::image::load(store, &manifest.digest)?;
        out.push(Loaded {
            manifest_digest: manifest.digest.clone(),
            id,
            names: names(desc)?,
        });
    }
    Ok(out)
}

/// The names an index entry asks for: the full name containerd and Docker put in
/// `io.containerd.image.name`, else a `ref.name` that is a whole name (`x:1`,
/// `docker.io/library/busybox:latest`). A bare tag (`latest`) names no repository: none.
fn names(desc: &Descriptor) -> Result<Vec<Reference>, ArchiveError> {
    if let Some(full) = desc.annotations.get(CONTAINERD_NAME) {
        return Ok(vec![Reference::from_str(full)?]);
    }
    match desc.annotations.get(REF_NAME) {
        Some(name) if name.contains([':', '/']) => Ok(vec![Reference::from_str(name)?]),
        _ => Ok(Vec::new()),
    }
}

/// The manifest blob `desc` leads to: itself, or through indexes the linux/amd64 entry.
fn pick<'a>(
    store: &Store,
    staged: &'a Staged,
    desc: &Descriptor,
    by: &str,
    depth: usize,
) -> Result<&'a Member, ArchiveError> {
    let member = blob(staged, desc, by)?;
    let doc: Document = read_json(store, &member.digest, &member.path)?;
    let Some(entries) = doc.manifests else {
        return Ok(member);
    };
    if depth >= MAX_DEPTH {
        return Err(invalid(&member.path, "indexes nest too deep".into()));
    }
    let chosen = entries
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        })
        .or_else(|| match entries.as_slice() {
            [only] if only.platform.is_none() => Some(only),
            _ => None,
        })
        .ok_or_else(|| invalid(&member.path, "no linux/amd64 manifest in the index".into()))?;
    pick(store, staged, chosen, &member.path, depth + 1)
}

/// Checks a manifest's config and layers; returns the image id.
fn check_manifest(
    store: &Store,
    staged: &Staged,
    manifest: &Member,
) -> Result<String, ArchiveError> {
    let doc: Document = read_json(store, &manifest.digest, &manifest.path)?;
    let config_desc = doc
        .config
        .ok_or_else(|| invalid(&manifest.path, "not a manifest: no config".into()))?;
    let config = blob(staged, &config_desc, &manifest.path)?;
    let parsed: Config = read_json(store, &config.digest, &config.path)?;
    let diff_ids = parsed.rootfs.diff_ids;
    if diff_ids.len() != doc.layers.len() {
        let reason = format!(
            "{} layers, but config `{}` has {} diff ids",
            doc.layers.len(),
            config.path,
            diff_ids.len()
        );
        return Err(invalid(&manifest.path, reason));
    }
    for (desc, diff_id) in doc.layers.iter().zip(&diff_ids) {
        let layer = blob(staged, desc, &manifest.path)?;
        let uncompressed = desc
            .media_type
            .as_deref()
            .is_some_and(|m| m.ends_with(".tar") || m.ends_with(".diff.tar"));
        if uncompressed && &layer.digest != diff_id {
            return Err(ArchiveError::DiffIdMismatch {
                member: layer.path.clone(),
                expected: diff_id.clone(),
                actual: layer.digest.clone(),
            });
        }
    }
    Ok(config.digest.clone())
}

/// The staged blob a descriptor names, with the size it says.
fn blob<'a>(staged: &'a Staged, desc: &Descriptor, by: &str) -> Result<&'a Member, ArchiveError> {
    let path = format!("blobs/{}", desc.digest.replacen(':', "/", 1));
    let member = staged.get(&path, by)?;
    if member.size != desc.size {
        let reason = format!("size is {}, `{by}` says {}", member.size, desc.size);
        return Err(invalid(&path, reason));
    }
    Ok(member)
}

fn invalid(member: &str, reason: String) -> ArchiveError {
    ArchiveError::Invalid {
        member: member.to_owned(),
        reason,
    }
}
