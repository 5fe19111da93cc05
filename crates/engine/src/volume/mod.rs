//! Named volumes as Docker's `local` driver keeps them: a directory per volume under
//! `<root>/volumes`, made by `volume create` or on first use by `-v name:/path`, anonymous
//! ones made for `-v /path` (and the image's `VOLUME`s), filled from the image on first
//! use ([`copy`]), and removed only when no container names them.

mod copy;
mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use copy::populate;
pub use store::Volumes;

use crate::config::Container;
use crate::engine::Engine;
use crate::error::Result;
use crate::filter::Filters;

/// The label that marks a volume made for `-v /path` (Docker 23+ prunes only these unless
/// `prune -a`).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What is kept of a volume (`volume.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// Driver options (`-o`; none are taken yet).
    pub options: BTreeMap<String, String>,
}

impl Volume {
    /// Made for `-v /path`.
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What can go wrong with volumes.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A file operation failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        /// What was done.
        op: &'static str,
        /// To which file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `volume.json` does not parse.
    #[error("`{}` is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// No volume by that name.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Containers name it.
    #[error("remove {name}: volume is in use - [{}]", containers.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// Ids of the containers that use it.
        containers: Vec<String>,
    },
    /// A name Docker would refuse.
    #[error("create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    InvalidName(String),
    /// A driver other than `local`, or driver options.
    #[error("create {name}: {reason}")]
    Unsupported {
        /// The volume.
        name: String,
        /// What is not supported.
        reason: String,
    },
    /// Copying the image's files into a new volume failed.
    #[error("copy `{}` into volume {name}: {source}", from.display())]
    Populate {
        /// The volume.
        name: String,
        /// The directory in the container's rootfs.
        from: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A volume as one container mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedMount {
    /// The volume.
    pub name: String,
    /// Where it is mounted.
    pub target: String,
    /// `nocopy`: do not fill it from the image.
    pub nocopy: bool,
}

/// The named volumes container `c` mounts (`-v name:/path`, `--mount type=volume`).
pub fn named_mounts(c: &Container) -> Vec<NamedMount> {
    let mut out = Vec::new();
    for b in &c.host_config.binds {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 || parts[0].starts_with('/') {
            continue;
        }
        let opts = parts.get(2).copied().unwrap_or("");
        out.push(NamedMount {
            name: parts[0].to_string(),
            target: parts[1].to_string(),
            nocopy: opts.split(',').any(|o| o == "nocopy"),
        });
    }
    for m in &c.host_config.mounts {
        if m.kind == "volume" && !m.source.is_empty() {
            out.push(NamedMount {
                name: m.source.clone(),
                target: m.target.clone(),
                nocopy: false,
            });
        }
    }
    out
}

/// Gives every anonymous volume of `c` a name: `-v /path`, `--mount type=volume` without a
/// source, and the image's `VOLUME`s nothing else mounts. Returns the new names.
pub fn anonymize(c: &mut Container, image_volumes: &[String]) -> Result<Vec<String>> {
    let mut made = Vec::new();
    for b in c.host_config.binds.iter_mut() {
        if b.starts_with('/') && !b.contains(':') {
            let name = crate::store::new_id()?;
            *b = format!("{name}:{b}");
            made.push(name);
        }
    }
    for m in c.host_config.mounts.iter_mut() {
        if m.kind == "volume" && m.source.is_empty() {
            m.source = crate::store::new_id()?;
            made.push(m.source.clone());
        }
    }
    let taken: Vec<String> = c
        .host_config
        .binds
        .iter()
        .filter_map(|b| b.split(':').nth(1).map(str::to_string))
        .chain(c.host_config.mounts.iter().map(|m| m.target.clone()))
        .chain(c.host_config.tmpfs.keys().cloned())
        .collect();
    for target in image_volumes {
        if target.starts_with('/') && !taken.iter().any(|t| t == target) {
            let name = crate::store::new_id()?;
            c.host_config.binds.push(format!("{name}:{target}"));
            made.push(name);
        }
    }
    Ok(made)
}

/// Makes the volumes container `c` names (as `create` does); `anonymous` ones get the label.
pub fn create_for(eng: &Engine, c: &Container, anonymous: &[String]) -> Result<()> {
    let vols = Volumes::open(eng.root());
    for m in named_mounts(c) {
        let labels = if anonymous.contains(&m.name) {
            [(ANONYMOUS_LABEL.to_string(), String::new())].into()
        } else {
            BTreeMap::new()
        };
        vols.create(&m.name, labels, BTreeMap::new())?;
    }
    Ok(())
}

/// Volume name → the ids of every container (any state) that names it.
pub fn users(eng: &Engine) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in eng.containers.ids()? {
        let Ok(c) = eng.containers.config(&id) else {
            continue;
        };
        for m in named_mounts(&c) {
            out.entry(m.name).or_default().push(id.clone());
        }
    }
    Ok(out)
}

/// `volume create`: `driver` must be `local` and no driver options are taken yet (the
/// local driver's `type`/`device`/`o` mounts are refused rather than silently ignored).
pub fn create(
    eng: &Engine,
    name: Option<&str>,
    driver: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> Result<Volume> {
    let name = match name {
        Some(n) => n.to_string(),
        None => crate::store::new_id()?,
    };
    if driver != "local" {
        return Err(VolumeError::Unsupported {
            name,
            reason: format!("error looking up volume plugin {driver}: plugin \"{driver}\" not found (only the local driver is built in)"),
        }
        .into());
    }
    if let Some(k) = options.keys().next() {
        return Err(VolumeError::Unsupported {
            name,
            reason: format!("driver option `{k}`: the local driver's mount options (type, device, o) are not supported yet"),
        }
        .into());
    }
    Ok(Volumes::open(eng.root()).create(&name, labels, options)?)
}

/// One volume as `volume ls`/`inspect` show it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The volume.
    pub volume: Volume,
    /// Its data dir.
    pub mountpoint: PathBuf,
    /// Ids of the containers that use it.
    pub users: Vec<String>,
}

impl Listed {
    /// Docker's `volume inspect` document.
    pub fn inspect(&self) -> Value {
        let map = |m: &BTreeMap<String, String>| {
            if m.is_empty() {
                Value::Null
            } else {
                json!(m)
            }
        };
        json!({
            "CreatedAt": self.volume.created_at,
            "Driver": self.volume.driver,
            "Labels": map(&self.volume.labels),
            "Mountpoint": self.mountpoint,
            "Name": self.volume.name,
            "Options": map(&self.volume.options),
            "Scope": "local",
        })
    }
}

/// `volume ls --filter dangling=|name=|label=|driver=`.
pub fn list(eng: &Engine, filters: &Filters) -> Result<Vec<Listed>> {
    let dangling = filters.boolean("dangling")?;
    let vols = Volumes::open(eng.root());
    let mut users = users(eng)?;
    let mut out = Vec::new();
    for v in vols.list()? {
        let u = users.remove(&v.name).unwrap_or_default();
        let keep = dangling.is_none_or(|d| d == u.is_empty())
            && (!filters.has("name") || filters.values("name").any(|n| v.name.contains(n)))
            && (!filters.has("driver") || filters.values("driver").any(|d| d == v.driver))
            && filters.labels_match(&v.labels);
        if keep {
            out.push(Listed {
                mountpoint: vols.data_dir(&v.name),
                volume: v,
                users: u,
            });
        }
    }
    Ok(out)
}

/// `volume inspect NAME`.
pub fn get(eng: &Engine, name: &str) -> Result<Listed> {
    let vols = Volumes::open(eng.root());
    let volume = vols.get(name)?;
    Ok(Listed {
        mountpoint: vols.data_dir(name),
        users: users(eng)?.remove(name).unwrap_or_default(),
        volume,
    })
}

/// `volume rm`: refused while a container (in any state) names it; with `force`, a missing
/// volume is not an error.
pub fn remove(eng: &Engine, name: &str, force: bool) -> Result<()> {
    let vols = Volumes::open(eng.root());
    if !vols.exists(name) {
        return if force {
            Ok(())
        } else {
            Err(VolumeError::NotFound(name.into()).into())
        };
    }
    if let Some(ids) = users(eng)?.remove(name) {
        return Err(VolumeError::InUse {
            name: name.into(),
            containers: ids,
        }
        .into());
    }
    Ok(vols.remove(name)?)
}

/// `rm -v`: the anonymous volumes of container `c` (already removed) that no other
/// container uses.
pub fn remove_anonymous(eng: &Engine, c: &Container) -> Result<()> {
    let vols = Volumes::open(eng.root());
    let users = users(eng)?;
    for m in named_mounts(c) {
        let anon = vols.get(&m.name).is_ok_and(|v| v.anonymous());
        if anon && !users.contains_key(&m.name) {
            vols.remove(&m.name)?;
        }
    }
    Ok(())
}

/// `volume prune`: unused anonymous volumes (with `all`, every unused one) matching the
/// `label` filters. Returns the names removed and the bytes freed.
pub fn prune(eng: &Engine, all: bool, filters: &Filters) -> Result<(Vec<String>, u64)> {
    let vols = Volumes::open(eng.root());
    vols.sweep();
    let users = users(eng)?;
    let mut names = Vec::new();
    let mut freed = 0;
    for v in vols.list()? {
        if users.contains_key(&v.name)
            || !(all || v.anonymous())
            || !filters.labels_match(&v.labels)
        {
            continue;
        }
        let size = crate::df::dir_size(&vols.data_dir(&v.name));
        match vols.remove(&v.name) {
            Ok(()) => {
                freed += size;
                names.push(v.name);
            }
            Err(VolumeError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((names, freed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mount;

    #[test]
    fn anonymous_volumes_get_names_and_named_mounts_are_found() {
        let mut c = Container::default();
        c.host_config.binds = vec![
            "/data".into(),
            "cache:/cache:ro,nocopy".into(),
            "/host:/h".into(),
        ];
        c.host_config.mounts = vec![Mount {
            kind: "volume".into(),
            target: "/m".into(),
            ..Mount::default()
        }];
        let made = anonymize(&mut c, &["/data".into(), "/img".into()]).unwrap();
        assert_eq!(made.len(), 3, "/data, the --mount and the image's /img");
        let mounts = named_mounts(&c);
        let targets: Vec<&str> = mounts.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, ["/data", "/cache", "/img", "/m"]);
        assert!(mounts[1].nocopy && !mounts[0].nocopy);
        assert_eq!(mounts[1].name, "cache");
        assert!(crate::store::is_id(&mounts[0].name));
    }

    #[test]
    fn inspect_has_dockers_fields() {
        let l = Listed {
            volume: Volume {
                name: "v".into(),
                driver: "local".into(),
                created_at: "2024-01-01T00:00:00Z".into(),
                ..Volume::default()
            },
            mountpoint: "/r/volumes/v/_data".into(),
            users: vec![],
        };
        let v = l.inspect();
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Mountpoint"], "/r/volumes/v/_data");
        assert_eq!(v["Labels"], Value::Null);
    }
}
