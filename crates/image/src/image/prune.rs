//! `image prune` and the image half of `system df`.

use super::{list, remove, ImageError};
use crate::store::Store;

/// Remove dangling images (kept only by id, `<none>` in `images`); with `all`, every image
/// (no container uses one yet: the engine will pass the ones in use to keep). Returns
/// Docker's `Deleted: ...` lines and the bytes reclaimed.
pub fn prune(
    store: &Store,
    all: bool,
    in_use: &[String],
) -> Result<(Vec<String>, u64), ImageError> {
    let mut lines = Vec::new();
    let mut reclaimed = 0;
    for (image, names) in list(store)? {
        let dangling = names.iter().all(|n| n.starts_with('@'));
        if !(dangling || all) || in_use.contains(&image.id()) {
            continue;
        }
        let size = image.size();
        for line in remove(store, &image.id(), true)? {
            if line.starts_with("Deleted") {
                reclaimed += size;
            }
            lines.push(line);
        }
    }
    Ok((lines, reclaimed))
}

/// What `system df` shows for images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageUsage {
    /// Number of images.
    pub total: usize,
    /// Images some container uses.
    pub active: usize,
    /// Bytes of all their blobs (layers counted once even when shared).
    pub size: u64,
    /// Bytes `image prune -a` would free.
    pub reclaimable: u64,
}

/// Disk usage of the images; `in_use` are the ids containers use.
pub fn usage(store: &Store, in_use: &[String]) -> Result<ImageUsage, ImageError> {
    let mut u = ImageUsage::default();
    let mut seen = std::collections::HashSet::new();
    let mut used_blobs = std::collections::HashSet::new();
    let images = list(store)?;
    for (image, _) in &images {
        if in_use.contains(&image.id()) {
            used_blobs.extend(
                image
                    .manifest
                    .layers()
                    .iter()
                    .map(|l| l.digest().to_string()),
            );
        }
    }
    for (image, _) in &images {
        u.total += 1;
        u.active += usize::from(in_use.contains(&image.id()));
        for l in image.manifest.layers() {
            let d = l.digest().to_string();
            if seen.insert(d.clone()) {
                u.size += l.size();
                if !used_blobs.contains(&d) {
                    u.reclaimable += l.size();
                }
            }
        }
    }
    Ok(u)
}
