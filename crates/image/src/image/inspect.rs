//! `image inspect` and `history`, with Docker's field names.

use serde_json::{json, Value};

use super::{chain_ids, Image};
use crate::snapshot::Snapshotter;

/// Docker's `image inspect` document for `image`, known by `names`; its layers' dirs in
/// `GraphDriver` are `snaps`'s.
pub fn inspect(image: &Image, names: &[String], snaps: &Snapshotter) -> Value {
    let c = serde_json::to_value(&image.config).unwrap_or_default();
    let tags: Vec<String> = names
        .iter()
        .filter(|n| !n.starts_with('@'))
        .map(|n| familiar(n))
        .collect();
    let repo_digests: Vec<String> = names
        .iter()
        .filter(|n| !n.starts_with('@'))
        .map(|n| {
            format!(
                "{}@{}",
                familiar(n).rsplit_once(':').map(|(r, _)| r).unwrap_or(n),
                image.manifest_digest
            )
        })
        .collect();
    let config = &c["config"];
    json!({
        "Id": image.id(),
        "RepoTags": tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": c["history"].as_array().and_then(|h| h.last()).and_then(|h| h["comment"].as_str()).unwrap_or(""),
        "Created": c["created"],
        "Author": c["author"].as_str().unwrap_or(""),
        "Config": {
            "User": config["User"].as_str().unwrap_or(""),
            "Env": config["Env"],
            "Cmd": config["Cmd"],
            "Entrypoint": config["Entrypoint"],
            "WorkingDir": config["WorkingDir"].as_str().unwrap_or(""),
            "Labels": config["Labels"],
            "ExposedPorts": config["ExposedPorts"],
            "Volumes": config["Volumes"],
            "StopSignal": config["StopSignal"],
        },
        "Architecture": c["architecture"],
        "Os": c["os"],
        "Size": image.size(),
        "RootFS": {"Type": "layers", "Layers": c["rootfs"]["diff_ids"]},
        "GraphDriver": graph_driver(image, snaps),
        "Metadata": {"LastTagTime": ""},
    })
}

/// `GraphDriver` as Docker's overlay2 shows it for an image: the top layer's dir as
/// `UpperDir` (with `WorkDir` and `MergedDir` beside it) and the layers below it, top first,
/// joined by ':' as `LowerDir` (left out for a one-layer image). The paths are where the
/// snapshotter keeps each layer (`layers/<chain id hex>/diff`) whether or not it is unpacked
/// yet: `pull` unpacks, `load` and `import` leave it to the first container, and inspect
/// only reads. An image without layers has `Data: null`.
fn graph_driver(image: &Image, snaps: &Snapshotter) -> Value {
    let chains = chain_ids(image.config.rootfs().diff_ids());
    let dirs: Vec<String> = chains
        .iter()
        .rev()
        .filter_map(|c| snaps.layer_dir(c).ok())
        .map(|d| d.display().to_string())
        .collect();
    let Some((upper, lower)) = dirs.split_first() else {
        return json!({"Name": "overlay2", "Data": Value::Null});
    };
    let beside = |name: &str| upper.strip_suffix("/diff").unwrap_or(upper).to_owned() + "/" + name;
    let mut data = json!({
        "MergedDir": beside("merged"),
        "UpperDir": upper,
        "WorkDir": beside("work"),
    });
    if !lower.is_empty() {
        data["LowerDir"] = lower.join(":").into();
    }
    json!({"Name": "overlay2", "Data": data})
}

/// `docker.io/library/busybox:latest` -> `busybox:latest`.
fn familiar(name: &str) -> String {
    name.parse::<crate::reference::Reference>()
        .map(|r| r.familiar())
        .unwrap_or_else(|_| name.to_string())
}

/// One row of `history`, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    /// The image id on the newest row, `<missing>` below (as Docker shows).
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The command that made it.
    pub created_by: String,
    /// Size of the layer it added (0 for empty layers).
    pub size: u64,
    /// Its comment.
    pub comment: String,
}

/// The image's history, newest first, with each non-empty entry's layer size.
pub fn history(image: &Image) -> Vec<HistoryRow> {
    let c = serde_json::to_value(&image.config).unwrap_or_default();
    let entries = c["history"].as_array().cloned().unwrap_or_default();
    let mut layers = image.manifest.layers().iter().map(|l| l.size());
    let mut rows: Vec<HistoryRow> = entries
        .iter()
        .map(|h| {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            HistoryRow {
                id: "<missing>".into(),
                created: h["created"].as_str().unwrap_or("").into(),
                created_by: h["created_by"].as_str().unwrap_or("").into(),
                size: if empty { 0 } else { layers.next().unwrap_or(0) },
                comment: h["comment"].as_str().unwrap_or("").into(),
            }
        })
        .collect();
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first.id = image.id();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(layers: usize) -> Image {
        let diff_ids: Vec<String> = (0..layers)
            .map(|i| {
                format!(
                    "sha256:{}",
                    char::from(b'a' + i as u8).to_string().repeat(64)
                )
            })
            .collect();
        let config = json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids}});
        let layer = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{}", "0".repeat(64)), "size": 1});
        let manifest = json!({"schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{}", "1".repeat(64)), "size": 1},
            "layers": vec![layer; layers]});
        Image {
            manifest_digest: format!("sha256:{}", "2".repeat(64)),
            manifest: serde_json::from_value(manifest).unwrap(),
            config: serde_json::from_value(config).unwrap(),
        }
    }

    #[test]
    fn graph_driver_is_overlay2_with_the_top_layer_as_upper() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = Snapshotter::open(dir.path().join("overlay")).unwrap();
        let img = image(3);
        let chains = chain_ids(img.config.rootfs().diff_ids());
        let at = |i: usize| snaps.layer_dir(&chains[i]).unwrap().display().to_string();
        let g = &inspect(&img, &[], &snaps)["GraphDriver"];
        assert_eq!(g["Name"], "overlay2");
        assert_eq!(g["Data"]["UpperDir"], at(2));
        assert_eq!(g["Data"]["LowerDir"], format!("{}:{}", at(1), at(0)));
        let top = at(2).strip_suffix("/diff").unwrap().to_owned();
        assert_eq!(g["Data"]["WorkDir"], format!("{top}/work"));
        assert_eq!(g["Data"]["MergedDir"], format!("{top}/merged"));

        let g = &inspect(&image(1), &[], &snaps)["GraphDriver"];
        assert!(g["Data"].get("LowerDir").is_none(), "{g}");
        assert_eq!(g["Data"]["UpperDir"], at(0));
        let g = &inspect(&image(0), &[], &snaps)["GraphDriver"];
        assert_eq!(g["Data"], Value::Null);
    }
}
