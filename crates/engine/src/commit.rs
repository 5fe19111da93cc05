//! `commit`: a container's changes as a new image, built on the same store pieces as
//! `import`: the image's layers plus one more, the snapshot's upper dir written as a layer
//! ([`berth_image::layer::diff::diff`]), a config from the container's, a history entry.
//!
//! The order: everything that can be refused (reference, `--change`) is checked before the
//! container is touched; then the container is frozen (`--pause`, as Docker, so the upper
//! dir holds still while it is read), the layer is written, the container thawed; blobs go
//! in before the manifest, and the name is set last, so a killed commit leaves at worst
//! unreferenced blobs that `system check` collects.

use std::str::FromStr;

use berth_image::image::{load, parse_change, Image};
use berth_image::reference::Reference;
use berth_image::store::BlobWriter;
use serde_json::{json, Value};

use crate::config::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::rootfs::FsError;

/// `commit` options, Docker's.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `-a`.
    pub author: String,
    /// `-m`.
    pub message: String,
    /// `-c`: Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// `--pause` (Docker's default: true).
    pub pause: bool,
    /// `REPOSITORY[:TAG]`.
    pub reference: Option<String>,
}

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Commits container `key`; the new image.
pub fn commit(eng: &Engine, key: &str, o: &CommitOptions) -> Result<Image> {
    let reference = o
        .reference
        .as_deref()
        .map(|r| Reference::from_str(r).map_err(|e| Error::invalid("repository", r, e.to_string())))
        .transpose()?;
    let id = eng.containers.resolve(key)?;
    let _lock = eng.containers.lock(&id)?;
    let c = eng.containers.config(&id)?;
    let image = load(&eng.images, &c.image_manifest)?;
    let now = crate::lifecycle::now();
    let mut config = new_config(&image, &c, o, &now)?;
    let (layer, diff_id) = {
        let _frozen = Frozen::new(eng, &c, o.pause)?;
        write_layer(eng, &id)?
    };
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .ok_or_else(|| corrupt(&image, "rootfs.diff_ids is not a list"))?
        .push(json!(diff_id));
    let config_bytes = serde_json::to_vec(&config).map_err(|e| corrupt(&image, &e.to_string()))?;
    let config_digest = eng.images.put_blob(None, &config_bytes[..])?;
    let manifest = new_manifest(&image, &config_digest, config_bytes.len(), &layer)?;
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| corrupt(&image, &e.to_string()))?;
    let manifest_digest = eng.images.put_blob(None, &manifest_bytes[..])?;
    let new = load(&eng.images, &manifest_digest)?;
    let name = match reference {
        Some(r) => r.to_string(),
        None => format!("@{}", new.id()),
    };
    eng.images.set_tag(&name, &manifest_digest)?;
    Ok(new)
}

fn corrupt(image: &Image, reason: &str) -> Error {
    Error::Corrupt {
        path: image.manifest_digest.clone().into(),
        reason: reason.to_string(),
    }
}

/// The image's config with the container's on top, the changes applied, a history entry.
fn new_config(image: &Image, c: &Container, o: &CommitOptions, now: &str) -> Result<Value> {
    let mut v = serde_json::to_value(&image.config).map_err(|e| corrupt(image, &e.to_string()))?;
    let mut cfg = v.get("config").cloned().unwrap_or_else(|| json!({}));
    if !cfg.is_object() {
        cfg = json!({});
    }
    let cc = &c.config;
    let set = |cfg: &mut Value, k: &str, val: Value| cfg[k] = val;
    set(&mut cfg, "Env", json!(cc.env));
    set(&mut cfg, "Cmd", json!(cc.cmd));
    set(&mut cfg, "Entrypoint", json!(cc.entrypoint));
    set(&mut cfg, "WorkingDir", json!(cc.working_dir));
    set(&mut cfg, "User", json!(cc.user));
    set(&mut cfg, "Labels", json!(cc.labels));
    set(&mut cfg, "ExposedPorts", json!(cc.exposed_ports));
    if let Some(s) = &cc.stop_signal {
        set(&mut cfg, "StopSignal", json!(s));
    }
    for ch in &o.changes {
        parse_change(ch, &mut cfg)?;
    }
    v["config"] = cfg;
    v["created"] = json!(now);
    if !o.author.is_empty() {
        v["author"] = json!(o.author);
    }
    if !v["rootfs"]["diff_ids"].is_array() {
        return Err(corrupt(image, "the image config has no rootfs.diff_ids"));
    }
    let entry = json!({
        "created": now,
        "created_by": std::iter::once(c.path.as_str())
            .chain(c.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        "author": o.author,
        "comment": o.message,
    });
    match v["history"].as_array_mut() {
        Some(h) => h.push(entry),
        None => v["history"] = json!([entry]),
    }
    Ok(v)
}

/// The new layer as stored: its descriptor digest and size, and its diff_id.
struct Layer {
    digest: String,
    size: u64,
}

/// The image's manifest with the new config and the new layer on top.
fn new_manifest(image: &Image, config: &str, config_len: usize, layer: &Layer) -> Result<Value> {
    let mut m =
        serde_json::to_value(&image.manifest).map_err(|e| corrupt(image, &e.to_string()))?;
    let docker = m["mediaType"].as_str() == Some(DOCKER_MANIFEST);
    m["config"]["digest"] = json!(config);
    m["config"]["size"] = json!(config_len);
    let layers = m["layers"]
        .as_array_mut()
        .ok_or_else(|| corrupt(image, "the manifest has no layers"))?;
    layers.push(json!({
        "mediaType": if docker { DOCKER_LAYER } else { OCI_LAYER },
        "digest": layer.digest,
        "size": layer.size,
    }));
    Ok(m)
}

/// The upper dir as a gzip layer blob in the store; the layer and its diff_id.
fn write_layer(eng: &Engine, id: &str) -> Result<(Layer, String)> {
    // With a user namespace the upper holds host ids: the layer gets the container's.
    let view = eng.snaps.upper_view(id)?;
    let upper = match &view {
        Some(v) => v.path(),
        None => eng.snaps.upper_dir(id)?,
    };
    let mut w = ToBlob(eng.images.blob_writer()?, None);
    let stats = berth_image::layer::diff::diff(&upper, &mut w, true).map_err(FsError::from)?;
    if let Some(e) = w.1 {
        return Err(e.into());
    }
    let size = w.0.len();
    let digest = w.0.commit(None)?;
    Ok((Layer { digest, size }, stats.diff_id))
}

/// `io::Write` into a store blob; the store's own error is kept for the caller.
struct ToBlob(BlobWriter, Option<berth_image::store::StoreError>);

impl std::io::Write for ToBlob {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                let msg = e.to_string();
                self.1 = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running container frozen for the commit, thawed on drop.
struct Frozen<'a> {
    eng: &'a Engine,
    c: &'a Container,
    thaw: bool,
}

impl<'a> Frozen<'a> {
    fn new(eng: &'a Engine, c: &'a Container, pause: bool) -> Result<Frozen<'a>> {
        let st = crate::lifecycle::status(eng, &c.id)?;
        let thaw = pause && st.running && !st.paused;
        if thaw {
            eng.runtime_for(c).pause(&c.id, true)?;
        }
        Ok(Frozen { eng, c, thaw })
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        if self.thaw {
            let _ = self.eng.runtime_for(self.c).pause(&self.c.id, false);
        }
    }
}
