//! Archives out: docker-archive (as `docker save` writes it) or an OCI layout in a tar.
//!
//! Members are written with fixed owners, modes and mtime, so the same images give the same
//! bytes. Blobs and layers shared between the images are written once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::str::FromStr;

use super::{
    decompress, diff_id_of, ArchiveError, Format, CONTAINERD_NAME, OCI_INDEX, OCI_MANIFEST,
    REF_NAME,
};
use crate::image::Image;
use crate::reference::Reference;
use crate::store::Store;

/// Writes `images` as one archive to `out`. Each image comes with the names to record for it,
/// in the store's full form (`docker.io/library/busybox:latest`); names that are not
/// references (the store's `@<id>` entries) are skipped, and an image with none is saved by id
/// only. docker-archive layers are written uncompressed (decompressed from the store and
/// checked against the config's diff ids); an OCI layout carries the blobs as stored.
pub fn save(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut w = Writer {
        tar: tar::Builder::new(out),
        written: BTreeSet::new(),
    };
    match format {
        Format::DockerArchive => docker_archive(store, images, &mut w)?,
        Format::OciArchive => oci_archive(store, images, &mut w)?,
    }
    let mut out = w.tar.into_inner().map_err(|e| write_err("<end>", e))?;
    out.flush().map_err(|e| write_err("<end>", e))
}

/// The references among `names`, skipping `@<id>` entries.
fn references(names: &[String]) -> Vec<Reference> {
    names
        .iter()
        .filter_map(|n| Reference::from_str(n).ok())
        .collect()
}

fn hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, h)| h)
}

/// `manifest.json`, `repositories`, `<id>.json` and `<diff id>/{VERSION,json,layer.tar}`.
fn docker_archive(
    store: &Store,
    images: &[(Image, Vec<String>)],
    w: &mut Writer<impl Write>,
) -> Result<(), ArchiveError> {
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (image, names) in images {
        let diff_ids = image.config.rootfs().diff_ids();
        let layers = image.manifest.layers();
        if diff_ids.len() != layers.len() {
            return Err(ArchiveError::Invalid {
                member: image.manifest_digest.clone(),
                reason: format!(
                    "{} layers but {} diff ids in the config",
                    layers.len(),
                    diff_ids.len()
                ),
            });
        }
        let mut paths = Vec::new();
        let mut parent: Option<&str> = None;
        for (desc, diff_id) in layers.iter().zip(diff_ids) {
            let dir = hex(diff_id);
            let path = format!("{dir}/layer.tar");
            if w.first(&path) {
                w.dir(&format!("{dir}/"))?;
                w.bytes(&format!("{dir}/VERSION"), b"1.0")?;
                let json = serde_json::json!({"id": dir, "parent": parent});
                w.bytes(&format!("{dir}/json"), json.to_string().as_bytes())?;
                layer_tar(store, w, &path, desc.digest().as_ref(), diff_id)?;
            }
            paths.push(path);
            parent = Some(dir);
        }
        let config = format!("{}.json", hex(&image.id()));
        if w.first(&config) {
            w.bytes(&config, &store.read_blob(&image.id())?)?;
        }
        let refs = references(names);
        for r in &refs {
            let familiar = r.familiar();
            if let (Some(tag), Some(top)) = (r.tag(), parent) {
                let repo = familiar
                    .strip_suffix(&format!(":{tag}"))
                    .unwrap_or(&familiar);
                let tags = repositories.entry(repo.to_owned()).or_default();
                tags.insert(tag.to_owned(), top.to_owned());
            }
        }
        let tags: Vec<String> = refs.iter().map(Reference::familiar).collect();
        manifest.push(serde_json::json!({
            "Config": config,
            "RepoTags": (!tags.is_empty()).then_some(tags),
            "Layers": paths,
        }));
    }
    w.bytes(
        "manifest.json",
        serde_json::json!(manifest).to_string().as_bytes(),
    )?;
    if !repositories.is_empty() {
        let repos = serde_json::json!(repositories).to_string();
        w.bytes("repositories", repos.as_bytes())?;
    }
    Ok(())
}

/// One layer, uncompressed: the blob as is when it is its own diff id, else decompressed
/// (hashed once to learn the size the tar header needs and to check it, then streamed).
fn layer_tar(
    store: &Store,
    w: &mut Writer<impl Write>,
    path: &str,
    digest: &str,
    diff_id: &str,
) -> Result<(), ArchiveError> {
    if digest == diff_id {
        return w.file(path, store.blob_size(digest)?, store.open_blob(digest)?);
    }
    let (actual, size) = diff_id_of(store, digest, digest)?;
    if actual != diff_id {
        return Err(ArchiveError::DiffIdMismatch {
            member: digest.to_owned(),
            expected: diff_id.to_owned(),
            actual,
        });
    }
    let reader = decompress(store.open_blob(digest)?, digest)?;
    w.file(path, size, reader)
}

/// `oci-layout`, `blobs/sha256/<hex>` and `index.json` with one entry per name.
fn oci_archive(
    store: &Store,
    images: &[(Image, Vec<String>)],
    w: &mut Writer<impl Write>,
) -> Result<(), ArchiveError> {
    w.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    let mut entries = Vec::new();
    for (image, names) in images {
        let mut digests = vec![image.manifest_digest.clone(), image.id()];
        digests.extend(
            image
                .manifest
                .layers()
                .iter()
                .map(|l| l.digest().to_string()),
        );
        for digest in &digests {
            let path = format!("blobs/sha256/{}", hex(digest));
            if w.first(&path) {
                w.file(&path, store.blob_size(digest)?, store.open_blob(digest)?)?;
            }
        }
        let media_type = image
            .manifest
            .media_type()
            .as_ref()
            .map_or_else(|| OCI_MANIFEST.to_owned(), |m| m.to_string());
        let descriptor = serde_json::json!({
            "mediaType": media_type,
            "digest": image.manifest_digest,
            "size": store.blob_size(&image.manifest_digest)?,
        });
        let refs = references(names);
        if refs.is_empty() {
            entries.push(descriptor.clone());
        }
        for r in refs {
            let mut d = descriptor.clone();
            let tag = r.tag().map_or_else(|| r.familiar(), str::to_owned);
            d["annotations"] = serde_json::json!({CONTAINERD_NAME: r.to_string(), REF_NAME: tag});
            entries.push(d);
        }
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    });
    w.bytes("index.json", index.to_string().as_bytes())
}

fn write_err(member: &str, source: std::io::Error) -> ArchiveError {
    ArchiveError::Write {
        member: member.to_owned(),
        source,
    }
}

/// The tar being written, and which paths it already has.
struct Writer<W: Write> {
    tar: tar::Builder<W>,
    written: BTreeSet<String>,
}

impl<W: Write> Writer<W> {
    /// Records `path`; true the first time only.
    fn first(&mut self, path: &str) -> bool {
        self.written.insert(path.to_owned())
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.tar
            .append_data(&mut h, path, std::io::empty())
            .map_err(|e| write_err(path, e))
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<(), ArchiveError> {
        self.file(path, data.len() as u64, data)
    }

    /// A regular file of exactly `size` bytes from `data`; fewer is an error (the tar would
    /// be corrupt), and so is a read error such as a blob failing its digest check.
    fn file(&mut self, path: &str, size: u64, data: impl Read) -> Result<(), ArchiveError> {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, size);
        self.tar
            .append_data(
                &mut h,
                path,
                Exact {
                    inner: data,
                    left: size,
                },
            )
            .map_err(|e| write_err(path, e))
    }
}

/// Hands on exactly `left` bytes of `inner`, then makes sure `inner` ends there: a short or
/// long member is an error, not a corrupt tar (the builder pads whatever it gets).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // Read on to the end, so that a verifying reader checks its digest there.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                return Err(std::io::Error::other("more bytes than the size recorded"));
            }
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}
