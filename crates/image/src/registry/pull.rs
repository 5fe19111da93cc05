//! `pull`: manifest (through an index if need be), then the blobs (with their layers
//! unpacked as they arrive, for [`pull_unpacked`]), then the tag.

use std::io::Read;

use oci_spec::image::ImageManifest;

use super::client::{backoff, Body, Client, RETRIES};
use super::progress::{Counting, Progress};
use super::tee::Tee;
use super::transfer::{blobs_of, each_blob};
use super::{RegistryError, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::image::{load, Image};
use crate::reference::{Digest, Reference};
use crate::snapshot::Snapshotter;
use crate::store::{BlobWriter, Store};

/// Manifests are small; refuse anything bigger than this.
const MAX_MANIFEST: u64 = 4 << 20;
/// Read size for blob downloads.
const BUF_SIZE: usize = 256 << 10;

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pick from an image index: `os/arch[/variant]`, e.g. `linux/amd64`.
    pub platform: String,
    /// Print no progress.
    pub quiet: bool,
}

impl Default for PullOptions {
    /// This machine's platform, with progress.
    fn default() -> PullOptions {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        PullOptions {
            platform: format!("linux/{arch}"),
            quiet: false,
        }
    }
}

/// Pulls `reference` into the store and tags it with the reference's full name. Blobs
/// already present are not fetched again; the manifest is stored last, so a manifest in the
/// store always has its blobs.
pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Image, RegistryError> {
    pull_with(store, None, reference, opts)
}

/// [`pull`], and unpack every layer into `snaps` (as [`crate::image::unpack_layers`] would
/// after it), each while it downloads: what arrives goes to the blob file and to the
/// unpacker at once. A layer is committed only once its blob is verified and stored and its
/// diff id matches.
pub fn pull_unpacked(
    store: &Store,
    snaps: &Snapshotter,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Image, RegistryError> {
    pull_with(store, Some(snaps), reference, opts)
}

fn pull_with(
    store: &Store,
    snaps: Option<&Snapshotter>,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Image, RegistryError> {
    let client = Client::new(reference.registry(), reference.repository(), "pull")?;
    let (digest, bytes) = fetch_manifest(&client, reference, opts)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Manifest {
            reference: reference.to_string(),
            reason: e.to_string(),
        })?;
    let blobs = blobs_of(&manifest);
    let src = Source {
        client: &client,
        store,
        repo: reference.repository(),
    };
    match snaps {
        None => fetch_blobs(&src, &blobs, opts.quiet)?,
        Some(snaps) => super::unpack::fetch_and_unpack(&src, snaps, &blobs, opts.quiet)?,
    }
    store.put_blob(Some(&digest), &bytes[..])?;
    store.set_tag(&reference.to_string(), &digest)?;
    Ok(load(store, &digest)?)
}

/// Where blobs come from and go to.
pub(super) struct Source<'a> {
    pub(super) client: &'a Client,
    pub(super) store: &'a Store,
    pub(super) repo: &'a str,
}

/// Fetches the image manifest for `reference`, going through an index to this platform's
/// entry; returns its digest and bytes, verified.
fn fetch_manifest(
    client: &Client,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<(String, Vec<u8>), RegistryError> {
    let accept = [
        OCI_MANIFEST,
        DOCKER_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
    ]
    .join(", ");
    let mut expected = reference.digest().map(Digest::to_string);
    let mut want = match (&expected, reference.tag()) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    let repo = reference.repository();
    // An index may (rarely) point at another index; two levels are plenty.
    for _ in 0..3 {
        let path = format!("/v2/{repo}/manifests/{want}");
        let resp = client.send("GET", &path, &[("Accept", &accept)], &Body::Empty, &[404])?;
        if resp.status() == 404 {
            return Err(RegistryError::NotFound {
                reference: reference.to_string(),
            });
        }
        let announced = resp.header("Docker-Content-Digest").map(str::to_owned);
        let content_type = resp.content_type().to_owned();
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(MAX_MANIFEST)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Transport {
                method: "GET".into(),
                url: client.url(&path),
                reason: e.to_string(),
            })?;
        let actual = Digest::sha256_of(&bytes).to_string();
        let check = expected
            .clone()
            .or(announced.filter(|a| a.starts_with("sha256:")));
        if let Some(e) = check.filter(|e| *e != actual) {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: e,
                actual,
            });
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Manifest {
                reference: reference.to_string(),
                reason: e.to_string(),
            })?;
        let media_type = doc
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or(&content_type)
            .to_owned();
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => return Ok((actual, bytes)),
            // An OCI manifest may leave mediaType out; it has a config then.
            _ if doc.get("config").is_some() && doc.get("layers").is_some() => {
                return Ok((actual, bytes))
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {}
            _ if doc.get("manifests").is_some() => {}
            other => {
                return Err(RegistryError::Manifest {
                    reference: reference.to_string(),
                    reason: format!("unsupported media type {other:?}"),
                })
            }
        }
        let d = select_platform(&doc, &opts.platform).ok_or_else(|| RegistryError::Manifest {
            reference: reference.to_string(),
            reason: format!("no image for platform {}", opts.platform),
        })?;
        want = d.clone();
        expected = Some(d);
    }
    Err(RegistryError::Manifest {
        reference: reference.to_string(),
        reason: "image indexes nested too deep".into(),
    })
}

/// The digest of the entry in an image index (or manifest list) for `platform`
/// (`os/arch[/variant]`). With a variant asked for, an entry with that variant wins over one
/// without; entries for other variants are skipped.
pub fn select_platform(index: &serde_json::Value, platform: &str) -> Option<String> {
    let mut parts = platform.split('/');
    let (os, arch, variant) = (parts.next()?, parts.next()?, parts.next());
    let str_of =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_owned);
    let mut fallback = None;
    for m in index.get("manifests")?.as_array()? {
        let Some(p) = m.get("platform") else { continue };
        if str_of(p, "os").as_deref() != Some(os)
            || str_of(p, "architecture").as_deref() != Some(arch)
        {
            continue;
        }
        let Some(digest) = str_of(m, "digest") else {
            continue;
        };
        match (variant, str_of(p, "variant")) {
            (Some(want), Some(have)) if want == have => return Some(digest),
            (Some(_), Some(_)) => {}
            (None, _) | (Some(_), None) => {
                fallback.get_or_insert(digest);
            }
        }
    }
    fallback
}

/// Fetches the blobs the store lacks, a few at a time.
fn fetch_blobs(
    src: &Source<'_>,
    blobs: &[(String, u64)],
    quiet: bool,
) -> Result<(), RegistryError> {
    each_blob(blobs, quiet, |digest, size, progress, line| {
        if src.store.has_blob(digest) {
            progress.set(line, "Already exists".into(), true);
            return Ok(());
        }
        fetch_blob(src, digest, size, progress, line, None)
    })
}

/// Fetches one blob into the store, handing every byte on to `tee` as well (which sees the
/// end only once the blob is verified and stored). When the transfer breaks off (a dropped
/// connection, a read that stalls past the timeout), the next attempt asks for the rest with
/// `Range` and appends to what arrived; a registry that ignores `Range` sends it all again.
/// Content that arrives wrong is fetched again from the start. Nothing is visible in the
/// store until the whole blob is there and verified.
pub(super) fn fetch_blob(
    src: &Source<'_>,
    digest: &str,
    size: u64,
    progress: &Progress,
    line: usize,
    mut tee: Option<&mut Tee>,
) -> Result<(), RegistryError> {
    let path = format!("/v2/{}/blobs/{digest}", src.repo);
    let mut writer = src.store.blob_writer()?;
    let mut attempt = 0;
    loop {
        let out = Out {
            writer: &mut writer,
            tee: tee.as_deref_mut(),
        };
        let failure = match fetch_rest(src.client, &path, size, out, progress, line)? {
            None if writer.len() != size => {
                let (digest, expected, actual) = (digest.to_owned(), size, writer.len());
                return Err(RegistryError::SizeMismatch {
                    digest,
                    expected,
                    actual,
                });
            }
            None if writer.digest() != digest => {
                let e = RegistryError::DigestMismatch {
                    what: format!("blob {digest}"),
                    expected: digest.to_owned(),
                    actual: writer.digest(),
                };
                writer.restart()?;
                e
            }
            None => break,
            Some(broken) => broken,
        };
        if attempt >= RETRIES {
            return Err(failure);
        }
        attempt += 1;
        progress.set(line, format!("Retrying ({attempt})"), false);
        backoff(attempt);
    }
    writer.commit(Some(digest))?;
    if let Some(tee) = tee {
        tee.finish();
    }
    progress.set(line, "Pull complete".into(), true);
    Ok(())
}

/// Where a blob's bytes go: the store, and maybe an unpacker.
struct Out<'a, 'b> {
    writer: &'a mut BlobWriter,
    tee: Option<&'b mut Tee>,
}

impl Out<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> Result<(), RegistryError> {
        let at = self.writer.len();
        self.writer.write(buf)?;
        if let Some(tee) = self.tee.as_deref_mut() {
            tee.send(at, buf);
        }
        Ok(())
    }
}

/// One GET of what the writer still lacks. `Ok(Some(e))`: the transfer broke off (worth a
/// retry); `Ok(None)`: the body ended; `Err`: the request or the store failed.
fn fetch_rest(
    client: &Client,
    path: &str,
    size: u64,
    mut out: Out<'_, '_>,
    progress: &Progress,
    line: usize,
) -> Result<Option<RegistryError>, RegistryError> {
    let from = out.writer.len();
    let range = format!("bytes={from}-");
    let headers: &[(&str, &str)] = if from > 0 { &[("Range", &range)] } else { &[] };
    let resp = client.send("GET", path, headers, &Body::Empty, &[])?;
    let resumed = resp.status() == 206
        && resp
            .header("Content-Range")
            .is_some_and(|r| r.starts_with(&format!("bytes {from}-")));
    if !resumed {
        out.writer.restart()?;
    }
    // Never read past the descriptor's size (a registry streaming forever fills no disk):
    // one byte more than it says is enough to refuse the blob.
    let mut reader = Counting {
        inner: resp.into_reader().take(size + 1 - out.writer.len()),
        progress,
        index: line,
        verb: "Downloading",
        total: size,
        done: out.writer.len(),
    };
    // The HTTP reader hands out a few KiB per read; fill the buffer before writing, so the
    // store and the unpacker see a few large chunks rather than many small ones.
    let mut buf = vec![0; BUF_SIZE];
    loop {
        let (filled, end) = fill(&mut reader, &mut buf);
        out.write(&buf[..filled])?;
        match end {
            None => {}
            Some(Ok(())) => return Ok(None),
            Some(Err(e)) => {
                return Ok(Some(RegistryError::Transport {
                    method: "GET".into(),
                    url: client.url(path),
                    reason: format!("{e} after {} of {size} bytes", out.writer.len()),
                }))
            }
        }
    }
}

/// Reads into `buf` until it is full (`None`), the body ends (`Some(Ok)`) or a read fails
/// (`Some(Err)`); returns the bytes read either way.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> (usize, Option<std::io::Result<()>>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return (filled, Some(Ok(()))),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(Err(e))),
        }
    }
    (filled, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_selection() {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"digest": "sha256:aa", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
                {"digest": "sha256:bb", "platform": {"os": "linux", "architecture": "arm64"}},
                {"digest": "sha256:cc", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"digest": "sha256:dd", "platform": {"os": "windows", "architecture": "amd64"}},
                {"digest": "sha256:ee", "platform": {"os": "linux", "architecture": "amd64"}},
                {"digest": "sha256:ff", "platform": {"os": "unknown", "architecture": "unknown"}},
            ]
        });
        for (platform, want) in [
            ("linux/amd64", Some("sha256:ee")),
            ("windows/amd64", Some("sha256:dd")),
            ("linux/arm64", Some("sha256:bb")),
            ("linux/arm64/v8", Some("sha256:cc")),
            ("linux/arm/v7", Some("sha256:aa")),
            ("linux/arm/v6", None),
            ("linux/s390x", None),
            ("linux", None),
        ] {
            assert_eq!(
                select_platform(&index, platform).as_deref(),
                want,
                "{platform}"
            );
        }
        assert_eq!(select_platform(&serde_json::json!({}), "linux/amd64"), None);
    }

    #[test]
    fn docker_schema2_parses_as_a_manifest() {
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": format!("sha256:{}", "a".repeat(64)),
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2,
                "digest": format!("sha256:{}", "b".repeat(64)),
            }]
        });
        let m: ImageManifest = serde_json::from_value(doc).unwrap();
        assert_eq!(m.layers().len(), 1);
        assert_eq!(m.config().size(), 1469);
        assert_eq!(
            m.layers()[0].digest().to_string(),
            format!("sha256:{}", "b".repeat(64))
        );
    }
}
