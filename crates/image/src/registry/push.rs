//! `push`: the blobs the registry lacks (monolithic uploads), then the manifest.

use std::io::Read;

use super::client::{Body, Client};
use super::progress::{Counting, Progress};
use super::transfer::{blobs_of, each_blob};
use super::{RegistryError, OCI_MANIFEST};
use crate::image::resolve;
use crate::reference::Reference;
use crate::store::Store;

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
    let blobs = blobs_of(&image.manifest);
    each_blob(&blobs, quiet, |digest, size, progress, line| {
        push_blob(&client, store, repo, digest, size, progress, line)
    })?;
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
