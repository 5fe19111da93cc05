//! `image inspect` and `history`, with Docker's field names.

use serde_json::{json, Value};

use super::Image;

/// Docker's `image inspect` document for `image`, known by `names`.
pub fn inspect(image: &Image, names: &[String]) -> Value {
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
        "GraphDriver": {"Name": "overlay", "Data": Value::Null},
        "Metadata": {"LastTagTime": ""},
    })
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
