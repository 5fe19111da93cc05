//! What pull and push share: the blobs of a manifest, and moving them a few at a time
//! with one progress line per layer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use oci_spec::image::ImageManifest;

use super::progress::Progress;
use super::RegistryError;

/// Blobs moved at once.
const PARALLEL: usize = 3;

/// (digest, size) of the config, then each layer.
pub(crate) fn blobs_of(manifest: &ImageManifest) -> Vec<(String, u64)> {
    let config = manifest.config();
    let mut blobs = vec![(config.digest().to_string(), config.size())];
    blobs.extend(
        manifest
            .layers()
            .iter()
            .map(|l| (l.digest().to_string(), l.size())),
    );
    blobs
}

/// Run `one(digest, size, progress, line)` for every blob, [`PARALLEL`] at a time; the
/// config (first) has no progress line. The first failure stops the rest and is returned.
pub(crate) fn each_blob(
    blobs: &[(String, u64)],
    quiet: bool,
    one: impl Fn(&str, u64, &Progress, usize) -> Result<(), RegistryError> + Sync,
) -> Result<(), RegistryError> {
    let layer_digests: Vec<String> = blobs[1..].iter().map(|b| b.0.clone()).collect();
    let progress = Progress::new(&layer_digests, quiet);
    let next = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(blobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((digest, size)) = blobs.get(i) else {
                    break;
                };
                let line = i.wrapping_sub(1);
                if let Err(e) = one(digest, *size, &progress, line) {
                    progress.set(line, "Failed".into(), false);
                    first_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e);
                    // Leave the rest: the transfer has failed.
                    next.store(blobs.len(), Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
