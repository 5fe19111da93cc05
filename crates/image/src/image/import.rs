//! `berth import`: a flat rootfs tar (plain or compressed) becomes a one-layer image.
//!
//! The tar is streamed once: hashed uncompressed (the diff id) and gzip-compressed into
//! the layer blob at the same time; then the config and the manifest are stored and the
//! name is pointed at the manifest.

use std::io::Read;

use flate2::read::GzEncoder;
use sha2::{Digest as _, Sha256};

use super::{load, Image, ImageError};
use crate::reference::Reference;
use crate::store::Store;

/// Options of [`import`].
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Name to give the image (`None`: untagged... berth names it by id only).
    pub reference: Option<Reference>,
    /// Dockerfile-style instructions applied to the config (`CMD ["sh"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    /// History comment (`-m`).
    pub message: Option<String>,
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Import the flat tar `input` as a new image.
pub fn import(store: &Store, input: impl Read, opts: &ImportOptions) -> Result<Image, ImageError> {
    let mut config = serde_json::json!({});
    for c in &opts.changes {
        parse_change(c, &mut config)?;
    }
    let decompressed = decompress(input)?;
    let hashing = Hashing {
        inner: decompressed,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut gz = GzEncoder::new(hashing, flate2::Compression::fast());
    let layer_digest = store.put_blob(None, &mut gz)?;
    let hashing = gz.into_inner();
    let diff_id = format!("sha256:{:x}", hashing.hasher.finalize());
    let layer_size = store.blob_size(&layer_digest)?;
    let created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
    let config_json = serde_json::json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{
            "created": created,
            "created_by": "berth import",
            "comment": opts.message.clone().unwrap_or_default(),
        }],
    });
    let config_bytes = serde_json::to_vec(&config_json).map_err(|e| build("config", e))?;
    let config_digest = store.put_blob(None, &config_bytes[..])?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_size,
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| build("manifest", e))?;
    let manifest_digest = store.put_blob(None, &manifest_bytes[..])?;
    let image = load(store, &manifest_digest)?;
    let name = match &opts.reference {
        Some(r) => r.to_string(),
        // Untagged imports are kept by their id, as `<none>` in `images`.
        None => format!("@{}", image.id()),
    };
    store.set_tag(&name, &manifest_digest)?;
    Ok(image)
}

fn build(what: &'static str, e: serde_json::Error) -> ImageError {
    ImageError::Build {
        what,
        reason: e.to_string(),
    }
}

/// Look at the first bytes and undo gzip or zstd compression.
fn decompress<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut input = std::io::BufReader::new(input);
    let head = std::io::BufRead::fill_buf(&mut input).map_err(|source| ImageError::Io {
        op: "read input",
        source,
    })?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(input)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|source| ImageError::Io { op: "zstd", source })?,
        ),
        _ => Box::new(input),
    })
}

/// Apply one Dockerfile-style instruction to an image config's `config` object.
pub fn parse_change(change: &str, config: &mut serde_json::Value) -> Result<(), ImageError> {
    let bad = |reason| ImageError::Change {
        change: change.into(),
        reason,
    };
    let (word, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("expected INSTRUCTION arguments"))?;
    let rest = rest.trim();
    let obj = config
        .as_object_mut()
        .ok_or_else(|| bad("config is not an object"))?;
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            obj.insert("Cmd".into(), command(rest).ok_or_else(|| bad("CMD needs a JSON array or a command"))?);
        }
        "ENTRYPOINT" => {
            obj.insert("Entrypoint".into(), command(rest).ok_or_else(|| bad("ENTRYPOINT needs a JSON array or a command"))?);
        }
        "ENV" => {
            let (k, v) = rest.split_once('=').or_else(|| rest.split_once(' ')).ok_or_else(|| bad("ENV needs KEY=VALUE"))?;
            let env = obj.entry("Env").or_insert_with(|| serde_json::json!([]));
            let list = env.as_array_mut().ok_or_else(|| bad("Env is not a list"))?;
            list.retain(|e| e.as_str().and_then(|s| s.split('=').next()) != Some(k.trim()));
            list.push(format!("{}={}", k.trim(), v.trim().trim_matches('"')).into());
        }
        "WORKDIR" if rest.starts_with('/') => {
            obj.insert("WorkingDir".into(), rest.into());
        }
        "WORKDIR" => return Err(bad("WORKDIR must be an absolute path")),
        "USER" => {
            obj.insert("User".into(), rest.into());
        }
        "LABEL" => {
            let (k, v) = rest.split_once('=').ok_or_else(|| bad("LABEL needs KEY=VALUE"))?;
            let labels = obj.entry("Labels").or_insert_with(|| serde_json::json!({}));
            labels[k.trim()] = v.trim().trim_matches('"').into();
        }
        "EXPOSE" => {
            let ports = obj.entry("ExposedPorts").or_insert_with(|| serde_json::json!({}));
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                ports[p] = serde_json::json!({});
            }
        }
        "STOPSIGNAL" => {
            obj.insert("StopSignal".into(), rest.into());
        }
        "VOLUME" => {
            let vols = obj.entry("Volumes").or_insert_with(|| serde_json::json!({}));
            // `VOLUME ["/a", "/b"]` or `VOLUME /a /b` (paths, not a shell command).
            let paths: Vec<String> = if rest.starts_with('[') {
                serde_json::from_str(rest).map_err(|_| bad("VOLUME needs a JSON array or paths"))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in paths {
                vols[v.as_str()] = serde_json::json!({});
            }
        }
        _ => return Err(bad("unknown instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL, VOLUME)")),
    }
    Ok(())
}

/// `["a","b"]` (exec form) or `a b` (shell form: `/bin/sh -c "a b"`).
fn command(s: &str) -> Option<serde_json::Value> {
    if s.starts_with('[') {
        let v: Vec<String> = serde_json::from_str(s).ok()?;
        return Some(v.into());
    }
    (!s.is_empty()).then(|| serde_json::json!(["/bin/sh", "-c", s]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = serde_json::json!({});
        for ch in [
            "CMD [\"sh\", \"-c\", \"echo hi\"]",
            "ENTRYPOINT /bin/init",
            "ENV A=1",
            "ENV A=2",
            "ENV B x",
            "WORKDIR /srv",
            "USER 1000:1000",
            "LABEL k=v",
            "EXPOSE 80 53/udp",
            "VOLUME [\"/data\"]",
            "VOLUME /a /b",
        ] {
            parse_change(ch, &mut c).unwrap();
        }
        assert_eq!(c["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
        assert_eq!(
            c["Entrypoint"],
            serde_json::json!(["/bin/sh", "-c", "/bin/init"])
        );
        assert_eq!(c["Env"], serde_json::json!(["A=2", "B=x"]));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["User"], "1000:1000");
        assert_eq!(c["Labels"]["k"], "v");
        assert!(c["ExposedPorts"]["80/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
        assert!(c["Volumes"]["/data"].is_object());
        let vols: Vec<&String> = c["Volumes"].as_object().unwrap().keys().collect();
        assert_eq!(vols, ["/a", "/b", "/data"], "paths, not a shell command");
        for bad in ["FROM x", "WORKDIR rel", "ENV", "CMD", "LABEL nokv"] {
            let e = parse_change(bad, &mut c).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
