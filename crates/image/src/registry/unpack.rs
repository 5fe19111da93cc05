//! Pull and unpack at once: each layer is unpacked into the snapshotter while it downloads.
//!
//! The order of one layer: reserve its snapshot slot (under the layer's lock), download the
//! blob into the store while a thread unpacks the same bytes into the slot's staging dir,
//! commit the blob (verified against its digest), let the unpacker see the end, and commit
//! the slot only when the unpacker's diff id matches the config's. Anything else drops the
//! slot, which removes the staging dir: nothing half-made becomes visible. A download that
//! started over (see [`super::tee`]) unpacks again from the stored blob.

use std::thread;

use oci_spec::image::ImageConfiguration;

use super::progress::Progress;
use super::pull::{fetch_blob, Source};
use super::tee;
use super::transfer::each_blob;
use super::RegistryError;
use crate::image::{chain_ids, unpack_one, ImageError, RootfsError};
use crate::layer::{unpack_verified, UnpackOptions};
use crate::snapshot::Snapshotter;

/// One layer of the image: its blob and where it goes.
struct Layer<'a> {
    digest: &'a str,
    size: u64,
    diff_id: &'a str,
    chain: &'a str,
}

/// Fetches the config, then every layer (a few at a time), each unpacked as it arrives.
/// `blobs` is the config then the layers, as [`super::transfer::blobs_of`] lists them.
pub(super) fn fetch_and_unpack(
    src: &Source<'_>,
    snaps: &Snapshotter,
    blobs: &[(String, u64)],
    quiet: bool,
) -> Result<(), RegistryError> {
    // The config first: its diff ids name the layers' snapshots.
    let (config, config_size) = &blobs[0];
    if !src.store.has_blob(config) {
        fetch_blob(
            src,
            config,
            *config_size,
            &Progress::new(&[], true),
            0,
            None,
        )?;
    }
    let bytes = src.store.read_blob(config)?;
    let parsed: ImageConfiguration =
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Parse {
            what: "config",
            digest: config.clone(),
            source,
        })?;
    let diff_ids = parsed.rootfs().diff_ids();
    if diff_ids.len() != blobs.len() - 1 {
        return Err(RootfsError::Mismatch {
            id: config.clone(),
            layers: blobs.len() - 1,
            diff_ids: diff_ids.len(),
        }
        .into());
    }
    let chains = chain_ids(diff_ids);
    each_blob(blobs, quiet, |digest, size, progress, line| {
        // The config has no line (and is here already).
        let (Some(diff_id), Some(chain)) = (diff_ids.get(line), chains.get(line)) else {
            return Ok(());
        };
        let layer = Layer {
            digest,
            size,
            diff_id,
            chain,
        };
        fetch_layer(src, snaps, &layer, progress, line)
    })
}

/// One layer: stored and unpacked, whichever of the two is missing.
fn fetch_layer(
    src: &Source<'_>,
    snaps: &Snapshotter,
    layer: &Layer<'_>,
    progress: &Progress,
    line: usize,
) -> Result<(), RegistryError> {
    let Layer {
        digest,
        size,
        diff_id,
        chain,
    } = *layer;
    if src.store.has_blob(digest) {
        progress.set(line, "Already exists".into(), true);
        return Ok(unpack_one(src.store, snaps, digest, diff_id, chain)?);
    }
    // None: the layer is unpacked already (another image has it); only the blob is missing.
    let Some(slot) = snaps.prepare_layer(chain).map_err(RootfsError::from)? else {
        return fetch_blob(src, digest, size, progress, line, None);
    };
    let staging = slot.staging();
    let (mut tee, pipe) = tee::pipe();
    let (fetched, unpacked, broken) = thread::scope(|s| {
        let unpacker =
            s.spawn(|| unpack_verified(pipe, &staging, &UnpackOptions::default(), diff_id));
        let fetched = fetch_blob(src, digest, size, progress, line, Some(&mut tee));
        // Closed before the join: an unfinished download must end the unpacker's read.
        let broken = tee.close();
        let unpacked = unpacker.join().expect("unpack thread panicked");
        (fetched, unpacked, broken)
    });
    fetched?;
    match unpacked {
        Ok(_) => drop(slot.commit().map_err(RootfsError::from)?),
        Err(_) if broken => {
            // Release the slot (and its lock) so the unpack from the blob can take it.
            drop(slot);
            unpack_one(src.store, snaps, digest, diff_id, chain)?;
        }
        Err(source) => {
            return Err(RootfsError::Layer {
                digest: digest.to_owned(),
                source,
            }
            .into())
        }
    }
    Ok(())
}
