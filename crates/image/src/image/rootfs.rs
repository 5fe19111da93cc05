//! From an image to a container's root filesystem: each layer unpacked once into the
//! snapshotter (shared by every image and container that has it, keyed by chain id), then
//! an overlay snapshot with the layers below and the container's own upper above.

use std::thread;

use sha2::{Digest as _, Sha256};

use super::{Image, ImageError};
use crate::layer::{unpack_verified, UnpackOptions};
use crate::snapshot::{Snapshot, SnapshotError, Snapshotter};
use crate::store::Store;

/// Errors of unpacking an image's layers into snapshots.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The store or image model failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// A layer did not unpack (hostile, corrupt, or not what the config says).
    #[error("layer {digest}: {source}")]
    Layer {
        /// The layer blob's digest.
        digest: String,
        /// Why.
        source: crate::layer::LayerError,
    },
    /// Manifest and config disagree on the number of layers.
    #[error("image {id}: {layers} layers but {diff_ids} diff ids in its config")]
    Mismatch {
        /// Image id.
        id: String,
        /// Layers in the manifest.
        layers: usize,
        /// Diff ids in the config.
        diff_ids: usize,
    },
}

/// The OCI chain ids of a layer stack (bottom first): the first is its diff id, each next
/// one is sha256 of "<previous chain id> <diff id>".
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => format!(
                "sha256:{:x}",
                Sha256::digest(format!("{prev} {d}").as_bytes())
            ),
        };
        out.push(next);
    }
    out
}

/// Unpack every layer of `image` that the snapshotter does not have yet, in parallel, each
/// verified against its diff id. Returns the chain ids, top layer first.
pub fn unpack_layers(
    store: &Store,
    snaps: &Snapshotter,
    image: &Image,
) -> Result<Vec<String>, RootfsError> {
    let diff_ids = image.config.rootfs().diff_ids().clone();
    let layers = image.manifest.layers();
    if layers.len() != diff_ids.len() {
        return Err(RootfsError::Mismatch {
            id: image.id(),
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    let chains = chain_ids(&diff_ids);
    thread::scope(|s| {
        let jobs: Vec<_> = layers
            .iter()
            .zip(diff_ids.iter().zip(&chains))
            .map(|(layer, (diff_id, chain))| {
                let digest = layer.digest().to_string();
                s.spawn(move || unpack_one(store, snaps, &digest, diff_id, chain))
            })
            .collect();
        jobs.into_iter()
            .try_for_each(|j| j.join().expect("unpack thread panicked"))
    })?;
    Ok(chains.into_iter().rev().collect())
}

/// Unpacks one layer from its stored blob into the snapshotter, unless it is there already.
pub(crate) fn unpack_one(
    store: &Store,
    snaps: &Snapshotter,
    digest: &str,
    diff_id: &str,
    chain: &str,
) -> Result<(), RootfsError> {
    // None: another image (or process) already has this layer: shared, not unpacked again.
    let Some(slot) = snaps.prepare_layer(chain)? else {
        return Ok(());
    };
    let blob = store.open_blob(digest).map_err(ImageError::from)?;
    let opts = UnpackOptions::default();
    unpack_verified(blob, &slot.staging(), &opts, diff_id).map_err(|source| {
        RootfsError::Layer {
            digest: digest.into(),
            source,
        }
    })?;
    slot.commit()?;
    Ok(())
}

/// Unpack `image`'s layers as needed and create snapshot `id` over them.
pub fn create_rootfs(
    store: &Store,
    snaps: &Snapshotter,
    image: &Image,
    id: &str,
) -> Result<Snapshot, RootfsError> {
    let lowers = unpack_layers(store, snaps, image)?;
    Ok(snaps.create(id, &lowers)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let want = format!("sha256:{:x}", Sha256::digest(format!("{a} {b}").as_bytes()));
        assert_eq!(ids[1], want);
        assert!(chain_ids(&[]).is_empty());
    }
}
