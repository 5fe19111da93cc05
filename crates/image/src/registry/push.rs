//! `push`: the blobs the registry lacks (monolithic uploads), then the manifest.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::client::{Body, Client};
use super::progress::{Counting, Progress};
use super::{RegistryError, OCI_MANIFEST};
use crate::image::resolve;
use crate::reference::Reference;
use crate::store::Store;

/// Blobs uploaded at once.
const PARALLEL: usize = 3;

/// What [`push`] sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest digest (the same bytes as in the store, so the same digest).
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: usize,
}

/// Pushes the image named `image` (name or id) in the store to `target`, under its tag (or
/// by digest when it has none).
pub fn push(
    store: &Store,
    image: &str,
    target: &Reference,
    quiet: bool,
) -> Result<Pushed, RegistryError> {
    let image = resolve(store, image)?;
    let client = Client::new(target.registry(), target.repository(), "pull,push")?;
    let repo = target.repository();
    let mut blobs = vec![(
        image.manifest.config().digest().to_string(),
        image.manifest.config().size(),
    )];
    blobs.extend(
        image
            .manifest
            .layers()
            .iter()
            .map(|l| (l.digest().to_string(), l.size())),
    );
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
                if let Err(e) = push_blob(&client, store, repo, digest, *size, &progress, line) {
                    progress.set(line, "Failed".into(), false);
                    first_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e);
                    next.store(blobs.len(), Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let bytes = store.read_blob(&image.manifest_digest)?;
    let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|d| d.get("mediaType")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| OCI_MANIFEST.to_owned());
    let reference = target
        .tag()
        .map(str::to_owned)
        .unwrap_or_else(|| image.manifest_digest.clone());
    client.send(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", &media_type)],
        &Body::Bytes(&bytes),
        &[],
    )?;
    Ok(Pushed {
        digest: image.manifest_digest,
        size: bytes.len(),
    })
}

/// Uploads one blob unless the registry has it.
fn push_blob(
    client: &Client,
    store: &Store,
    repo: &str,
    digest: &str,
    size: u64,
    progress: &Progress,
    line: usize,
) -> Result<(), RegistryError> {
    let path = format!("/v2/{repo}/blobs/{digest}");
    let head = client.send("HEAD", &path, &[], &Body::Empty, &[404])?;
    if head.status() == 200 {
        progress.set(line, "Layer already exists".into(), true);
        return Ok(());
    }
    let start = client.send(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[("Content-Length", "0")],
        &Body::Empty,
        &[],
    )?;
    let location = start
        .header("Location")
        .ok_or_else(|| RegistryError::Status {
            method: "POST".into(),
            url: client.url(&format!("/v2/{repo}/blobs/uploads/")),
            code: start.status(),
            detail: "no Location in the answer".into(),
        })?
        .to_owned();
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={}", digest.replace(':', "%3A"));
    let open = || -> Result<Box<dyn Read + Send + '_>, RegistryError> {
        let reader = store.open_blob(digest)?;
        Ok(Box::new(Counting {
            inner: reader,
            progress,
            index: line,
            verb: "Pushing",
            total: size,
            done: 0,
        }))
    };
    client.send(
        "PUT",
        &url,
        &[("Content-Type", "application/octet-stream")],
        &Body::Stream(size, &open),
        &[],
    )?;
    progress.set(line, "Pushed".into(), true);
    Ok(())
}
