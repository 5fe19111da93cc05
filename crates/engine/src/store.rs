//! The containers' part of the store: one directory per container under
//! `<root>/containers/<id>/`, a name index under `<root>/names/`, and a lock per container.
//!
//! Every file is written whole (temp file, fsync, rename), so a command killed at any point
//! leaves either the old or the new version. A container directory without a readable
//! `config.json` is a creation that was killed half-way: it is listed as `dead` and `rm`
//! removes it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::config::{Container, State};
use crate::error::{Error, Result};

/// The container store under one root.
#[derive(Debug, Clone)]
pub struct Containers {
    root: PathBuf,
}

/// An exclusive lock on one container, held until dropped.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

impl Containers {
    /// Opens (creating) `<root>/containers` and `<root>/names`.
    pub fn open(root: &Path) -> Result<Containers> {
        let c = Containers {
            root: root.to_path_buf(),
        };
        for d in [c.root.join("containers"), c.root.join("names")] {
            fs::create_dir_all(&d).map_err(Error::io("create directory", &d))?;
        }
        Ok(c)
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Every container id in the store (directories, complete or not).
    pub fn ids(&self) -> Result<Vec<String>> {
        let dir = self.root.join("containers");
        let mut ids = vec![];
        for e in fs::read_dir(&dir).map_err(Error::io("read directory", &dir))? {
            let e = e.map_err(Error::io("read directory", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if is_id(&name) {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// Locks container `id` (blocking while another command holds it).
    pub fn lock(&self, id: &str) -> Result<Lock> {
        let path = self.dir(id).join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NoSuchContainer(id.to_string()),
                _ => Error::Io {
                    op: "open",
                    path: path.clone(),
                    source: e,
                },
            })?;
        let f = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("lock", &path)(e.into()))?;
        Ok(Lock(f))
    }

    /// Reads container `id`'s configuration.
    pub fn config(&self, id: &str) -> Result<Container> {
        read_json(&self.dir(id).join("config.json"))
    }

    /// Reads container `id`'s state (a container whose state file is missing is `dead`).
    pub fn state(&self, id: &str) -> Result<State> {
        match read_json(&self.dir(id).join("state.json")) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(State {
                    status: "dead".into(),
                    dead: true,
                    ..State::created()
                })
            }
            r => r,
        }
    }

    /// Writes container `id`'s configuration.
    pub fn write_config(&self, c: &Container) -> Result<()> {
        write_json(&self.dir(&c.id).join("config.json"), c)
    }

    /// Writes container `id`'s state (callers hold its lock).
    pub fn write_state(&self, id: &str, s: &State) -> Result<()> {
        write_json(&self.dir(id).join("state.json"), s)
    }

    /// Reserves `name` for `id`; fails when another container has it.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let path = self.root.join("names").join(name);
        // The record appears whole or not at all: written in the container's own
        // directory (which `rm` removes), then linked into place. A create killed
        // between making an empty file and writing it left a name nobody could free.
        let draft = self.dir(id).join(".name");
        fs::write(&draft, id).map_err(Error::io("write", &draft))?;
        let linked = fs::hard_link(&draft, &path);
        let _ = fs::remove_file(&draft);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(&path).unwrap_or_default();
                let owner = owner.trim();
                // A reservation whose container is gone (a killed create or rm), or an
                // empty one an older berth left, is taken over.
                if !is_id(owner) || !self.dir(owner).exists() {
                    write_file(&path, id.as_bytes())?;
                    return Ok(());
                }
                Err(Error::NameInUse {
                    name: name.into(),
                    id: owner.into(),
                })
            }
            Err(e) => Err(Error::io("create", &path)(e)),
        }
    }

    /// Frees `name` if `id` holds it.
    pub fn release_name(&self, name: &str, id: &str) {
        let path = self.root.join("names").join(name);
        if fs::read_to_string(&path).is_ok_and(|o| o.trim() == id) {
            let _ = fs::remove_file(path);
        }
    }

    /// Frees every name `id` holds.
    pub fn release_names_of(&self, id: &str) {
        let dir = self.root.join("names");
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if fs::read_to_string(e.path()).is_ok_and(|o| o.trim() == id) {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// The id of the container named `name`.
    pub fn by_name(&self, name: &str) -> Option<String> {
        let id = fs::read_to_string(self.root.join("names").join(name)).ok()?;
        let id = id.trim().to_string();
        self.dir(&id).exists().then_some(id)
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(Error::NoSuchContainer(key.into()));
        }
        if is_id(key) && self.dir(key).exists() {
            return Ok(key.into());
        }
        if let Some(id) = self.by_name(key.trim_start_matches('/')) {
            return Ok(id);
        }
        if key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|i| i.starts_with(key))
                .collect();
            match hits.len() {
                1 => return Ok(hits.into_iter().next().unwrap_or_default()),
                0 => {}
                _ => return Err(Error::Ambiguous(key.into())),
            }
        }
        Err(Error::NoSuchContainer(key.into()))
    }
}

/// A container id: 64 lowercase hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(Error::io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes a JSON file whole.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_file(path, &bytes)
}

/// Writes a file whole: temp file beside it, fsync, rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_whole(path, bytes, true)
}

/// Writes a file that every start makes again (the bundle's spec, hostname, hosts,
/// resolv.conf): whole (temp file and rename, so a reader never sees half of it) but not
/// fsynced, since after a crash the next start rewrites it anyway.
pub fn write_regenerated(path: &Path, bytes: &[u8]) -> Result<()> {
    write_whole(path, bytes, false)
}

fn write_whole(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(Error::io("create", &tmp))?;
    f.write_all(bytes).map_err(Error::io("write", &tmp))?;
    if sync {
        f.sync_data().map_err(Error::io("sync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(Error::io("rename", path))
}

/// A new random container id.
pub fn new_id() -> Result<String> {
    let mut buf = [0u8; 32];
    let mut f = fs::File::open("/dev/urandom").map_err(Error::io("open", "/dev/urandom"))?;
    std::io::Read::read_exact(&mut f, &mut buf).map_err(Error::io("read", "/dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exclusive_and_released() {
        let t = tempfile::tempdir().unwrap();
        let c = Containers::open(t.path()).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        for id in [&a, &b] {
            fs::create_dir_all(c.dir(id)).unwrap();
            write_json(&c.dir(id).join("config.json"), &Container::default()).unwrap();
        }
        c.reserve_name("web", &a).unwrap();
        assert!(matches!(
            c.reserve_name("web", &b),
            Err(Error::NameInUse { .. })
        ));
        assert_eq!(c.resolve("web").unwrap(), a);
        assert_eq!(c.resolve("/web").unwrap(), a);
        assert_eq!(c.resolve("aaaa").unwrap(), a);
        c.release_name("web", &b);
        assert_eq!(c.by_name("web"), Some(a.clone()));
        c.release_name("web", &a);
        c.reserve_name("web", &b).unwrap();
        c.reserve_name("web2", &b).unwrap();
        c.release_names_of(&b);
        assert_eq!(c.by_name("web"), None);
        assert_eq!(c.by_name("web2"), None);
        assert!(matches!(c.resolve("cc"), Err(Error::NoSuchContainer(_))));
    }

    #[test]
    fn a_name_left_by_a_killed_create_is_taken_over() {
        let t = tempfile::tempdir().unwrap();
        let c = Containers::open(t.path()).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        fs::create_dir_all(c.dir(&a)).unwrap();
        fs::create_dir_all(c.dir(&b)).unwrap();
        c.reserve_name("x", &a).unwrap();
        assert!(matches!(
            c.reserve_name("x", &b),
            Err(Error::NameInUse { .. })
        ));
        fs::remove_dir_all(c.dir(&a)).unwrap();
        c.reserve_name("x", &b).unwrap();
        assert_eq!(fs::read_to_string(t.path().join("names/x")).unwrap(), b);
        // An empty record (a create killed mid-write by an older berth) is taken over.
        fs::write(t.path().join("names/y"), "").unwrap();
        c.reserve_name("y", &b).unwrap();
        assert_eq!(c.by_name("y"), Some(b.clone()));
        assert!(!c.dir(&b).join(".name").exists());
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (new_id().unwrap(), new_id().unwrap());
        assert!(is_id(&a) && is_id(&b) && a != b);
    }
}
