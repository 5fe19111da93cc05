//! `rmi`: untag, and delete an image's blobs once no name points at it.

use std::collections::HashSet;

use super::{list, resolve, ImageError};
use crate::reference::Reference;
use crate::store::Store;

/// Remove `name_or_id`; returns Docker's lines (`Untagged: ...`, `Deleted: ...`).
/// An id that several names point at needs `force`; a name untags only that name.
pub fn remove(store: &Store, name_or_id: &str, force: bool) -> Result<Vec<String>, ImageError> {
    let image = resolve(store, name_or_id)?;
    let names: Vec<String> = list(store)?
        .into_iter()
        .find(|(i, _)| i.manifest_digest == image.manifest_digest)
        .map(|(_, n)| n)
        .unwrap_or_default();
    let by_name = name_or_id
        .parse::<Reference>()
        .ok()
        .map(|r| r.to_string())
        .filter(|n| names.contains(n));
    let to_untag: Vec<String> = match by_name {
        Some(n) => vec![n],
        None if names.iter().filter(|n| !n.starts_with('@')).count() > 1 && !force => {
            return Err(ImageError::Conflict {
                id: image.short_id(),
            })
        }
        None => names.clone(),
    };
    let mut out = Vec::new();
    for n in &to_untag {
        store.remove_tag(n)?;
        if !n.starts_with('@') {
            out.push(format!(
                "Untagged: {}",
                n.parse::<Reference>()
                    .map(|r| r.familiar())
                    .unwrap_or(n.clone())
            ));
        }
    }
    if to_untag.len() < names.len() {
        return Ok(out);
    }
    // No name is left: delete the manifest, the config and layers no other image uses.
    let mut still_used = HashSet::new();
    for (other, _) in list(store)? {
        still_used.insert(other.manifest.config().digest().to_string());
        for l in other.manifest.layers() {
            still_used.insert(l.digest().to_string());
        }
    }
    let mut blobs = vec![image.manifest_digest.clone(), image.id()];
    blobs.extend(
        image
            .manifest
            .layers()
            .iter()
            .map(|l| l.digest().to_string()),
    );
    for b in blobs.iter().filter(|b| !still_used.contains(*b)) {
        if store.has_blob(b) {
            store.delete_blob(b)?;
        }
    }
    out.push(format!("Deleted: {}", image.id()));
    Ok(out)
}
