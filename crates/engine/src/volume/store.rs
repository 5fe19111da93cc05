//! The volumes' part of the store: `<root>/volumes/<name>/_data` holds a volume's files and
//! `volume.json` beside it what `volume inspect` shows.
//!
//! A volume appears whole: it is made under a staging name (`.creating-<name>-<pid>`) and
//! renamed into place, so a killed `berth` leaves no half-made volume under its name. It
//! goes whole too: renamed to `.removing-<name>-<pid>` first, then deleted. Staging and
//! removal dirs of dead processes are swept by [`Volumes::sweep`]. A volume directory
//! without `volume.json` (made by a killed writer of the metadata, or by an older berth) is
//! still a volume; its metadata is written again on first use.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Volume, VolumeError};

const META: &str = "volume.json";
const DATA: &str = "_data";

/// The volume store under one root.
#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { op, path, source }
}

impl Volumes {
    /// The volumes under `<root>/volumes` (made on first write).
    pub fn open(root: &Path) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
        }
    }

    /// `<root>/volumes`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where volume `name`'s files live (its Mountpoint).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join(DATA)
    }

    /// Whether volume `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        crate::names::valid(name) && self.data_dir(name).is_dir()
    }

    /// Creates volume `name` with `labels`; an existing volume of that name is returned as
    /// it is (as Docker's `volume create` does).
    pub fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume, VolumeError> {
        check_name(name)?;
        if self.exists(name) {
            return self.get(name);
        }
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        let v = Volume {
            name: name.to_string(),
            driver: "local".into(),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            labels,
            options,
        };
        let stage = self
            .dir
            .join(format!(".creating-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&stage);
        let made = (|| {
            fs::create_dir(&stage).map_err(io_err("create directory", &stage))?;
            let data = stage.join(DATA);
            fs::create_dir(&data).map_err(io_err("create directory", &data))?;
            write_meta(&stage.join(META), &v)?;
            let target = self.dir.join(name);
            match fs::rename(&stage, &target) {
                Ok(()) => Ok(v.clone()),
                // Another process made it first: theirs stands.
                Err(e) if target.join(DATA).is_dir() => {
                    let _ = e;
                    let _ = fs::remove_dir_all(&stage);
                    self.get(name)
                }
                Err(e) => Err(io_err("rename", &target)(e)),
            }
        })();
        if made.is_err() {
            let _ = fs::remove_dir_all(&stage);
        }
        made
    }

    /// The data dir of volume `name`, creating the volume if it does not exist (a volume
    /// named by `-v` or `--mount` is made on first use, as Docker's are).
    pub fn ensure(&self, name: &str) -> Result<PathBuf, VolumeError> {
        if !self.exists(name) {
            self.create(name, BTreeMap::new(), BTreeMap::new())?;
        } else if !self.dir.join(name).join(META).exists() {
            self.get(name)?;
        }
        Ok(self.data_dir(name))
    }

    /// Volume `name`'s metadata (written again when it is missing).
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        if !self.exists(name) {
            return Err(VolumeError::NotFound(name.into()));
        }
        let path = self.dir.join(name).join(META);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| VolumeError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let created = fs::metadata(self.data_dir(name))
                    .and_then(|m| m.modified())
                    .unwrap_or_else(|_| std::time::SystemTime::now());
                let v = Volume {
                    name: name.into(),
                    driver: "local".into(),
                    created_at: humantime::format_rfc3339_seconds(created).to_string(),
                    ..Volume::default()
                };
                write_meta(&path, &v)?;
                Ok(v)
            }
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err("read directory", &self.dir)(e)),
        };
        for e in entries {
            let e = e.map_err(io_err("read directory", &self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if self.exists(&name) {
                out.push(self.get(&name)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes volume `name` and its files (the caller checked that nothing uses it).
    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        if !self.exists(name) {
            return Err(VolumeError::NotFound(name.into()));
        }
        let dir = self.dir.join(name);
        let doomed = self
            .dir
            .join(format!(".removing-{name}-{}", std::process::id()));
        fs::rename(&dir, &doomed).map_err(io_err("rename", &dir))?;
        fs::remove_dir_all(&doomed).map_err(io_err("remove", &doomed))
    }

    /// Removes staging and removal dirs whose process is gone.
    pub fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name
                .strip_prefix(".creating-")
                .or_else(|| name.strip_prefix(".removing-"))
            else {
                continue;
            };
            let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Docker's rule for volume names.
fn check_name(name: &str) -> Result<(), VolumeError> {
    if crate::names::valid(name) {
        Ok(())
    } else {
        Err(VolumeError::InvalidName(name.into()))
    }
}

fn write_meta(path: &Path, v: &Volume) -> Result<(), VolumeError> {
    crate::store::write_json(path, v).map_err(|e| VolumeError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_list_remove() {
        let t = tempfile::tempdir().unwrap();
        let vols = Volumes::open(t.path());
        assert!(vols.list().unwrap().is_empty());
        let labels: BTreeMap<String, String> = [("k".into(), "v".into())].into();
        let v = vols
            .create("data", labels.clone(), BTreeMap::new())
            .unwrap();
        assert_eq!((v.driver.as_str(), &v.labels), ("local", &labels));
        // A second create returns the first one unchanged.
        let again = vols
            .create("data", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(again, v);
        assert!(vols.data_dir("data").is_dir());
        vols.create("other", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        let names: Vec<String> = vols.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["data", "other"]);
        vols.remove("data").unwrap();
        assert!(matches!(vols.get("data"), Err(VolumeError::NotFound(_))));
        assert!(matches!(vols.remove("data"), Err(VolumeError::NotFound(_))));
        assert!(matches!(
            vols.create("a/b", BTreeMap::new(), BTreeMap::new()),
            Err(VolumeError::InvalidName(_))
        ));
    }

    #[test]
    fn a_bare_directory_gets_metadata_and_debris_is_swept() {
        let t = tempfile::tempdir().unwrap();
        let vols = Volumes::open(t.path());
        fs::create_dir_all(vols.data_dir("old")).unwrap();
        assert_eq!(vols.ensure("old").unwrap(), vols.data_dir("old"));
        assert!(vols.dir().join("old").join(META).exists());
        assert_eq!(vols.get("old").unwrap().driver, "local");
        let debris = vols.dir().join(".creating-x-999999999");
        fs::create_dir_all(debris.join(DATA)).unwrap();
        vols.sweep();
        assert!(!debris.exists());
        assert_eq!(vols.list().unwrap().len(), 1);
    }
}
