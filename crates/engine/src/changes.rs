//! `diff`: what a container changed in its image's files, read from its snapshot's upper
//! directory as Docker's overlay2 driver reads it (moby `pkg/archive/changes.go`,
//! `overlayDeletedFile`):
//! - an overlay whiteout (a 0:0 character device) is `D`;
//! - a name that some lower layer has is `C`, one that none has is `A`; so a directory that
//!   holds an added, changed or deleted name shows as `C` (overlay copies the parents of every
//!   change up), as Docker lists the parents;
//! - an opaque directory (`trusted.overlay.opaque=y`) hides what the layers below had in it:
//!   those names are `D`.
//!
//! - the mount points the runtime made for the container (`/proc`, `/dev`, `/etc/hosts`, ...,
//!   and the directories made only to hold them) are left out: Docker keeps them in a
//!   separate init layer that `diff` does not show.
//!
//! The lowers are looked at top first, a whiteout in one hiding the name below it;
//! opacity in the image's own layers is not considered. Every name is resolved through fds
//! (RESOLVE_IN_ROOT) so a symlink in a layer never leads out of it.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use berth_sys::fd::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS};
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, FileStat};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// One change, as `docker diff` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `C`: changed.
    Changed,
    /// `A`: added.
    Added,
    /// `D`: deleted.
    Deleted,
}

impl Kind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            Kind::Changed => 'C',
            Kind::Added => 'A',
            Kind::Deleted => 'D',
        }
    }
}

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The changes of container `key`, sorted by path.
pub fn changes(eng: &Engine, key: &str) -> Result<Vec<(Kind, String)>> {
    let id = eng.containers.resolve(key)?;
    let upper = eng.snaps.upper_dir(&id)?;
    let mut lowers = vec![];
    for l in eng.snaps.lower_dirs(&id)? {
        lowers.push(open_dir(&l)?);
    }
    let mut w = Walk {
        lowers,
        out: BTreeMap::new(),
    };
    let root = open_dir(&upper)?;
    w.dir(root.as_fd(), "")?;
    let spec = eng.dir(&id).join("bundle/config.json");
    let mounts: Vec<String> = crate::store::read_json::<serde_json::Value>(&spec)
        .ok()
        .and_then(|v| v["mounts"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["destination"].as_str().map(String::from))
        .collect();
    hide_mount_points(&mut w.out, &mounts);
    Ok(w.out.into_iter().map(|(p, k)| (k, p)).collect())
}

/// Drops the added mount points in `mounts`, then the added directories that held nothing
/// else.
fn hide_mount_points(out: &mut BTreeMap<String, Kind>, mounts: &[String]) {
    let mut parents = std::collections::BTreeSet::new();
    for m in mounts {
        let m = format!("/{}", crate::rootfs::clean(m).join("/"));
        if out.get(&m) == Some(&Kind::Added) {
            out.remove(&m);
            let mut p = m.as_str();
            while let Some((up, _)) = p.rsplit_once('/').filter(|(up, _)| !up.is_empty()) {
                parents.insert(up.to_string());
                p = up;
            }
        }
    }
    // Deepest first, so a parent is judged after its emptied children.
    for p in parents.iter().rev() {
        let prefix = format!("{p}/");
        let holds = out
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix));
        if out.get(p) == Some(&Kind::Added) && !holds {
            out.remove(p);
        }
    }
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(p).map_err(Error::io("open", p))?;
    Ok(f.into())
}

fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(OsStr::from_bytes(name))
}

fn is_whiteout(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

struct Walk {
    lowers: Vec<OwnedFd>,
    out: BTreeMap<String, Kind>,
}

impl Walk {
    /// Records every name of the upper directory `dir` (at `path`, `""` for the root).
    fn dir(&mut self, dir: BorrowedFd<'_>, path: &str) -> Result<()> {
        let shown = if path.is_empty() { "/" } else { path };
        let rd =
            std::fs::read_dir(proc_path(dir, b".")).map_err(Error::io("read directory", shown))?;
        let mut names = vec![];
        for e in rd {
            names.push(
                e.map_err(Error::io("read directory", shown))?
                    .file_name()
                    .into_vec(),
            );
        }
        for name in names {
            let child = format!("{path}/{}", String::from_utf8_lossy(&name));
            let st = match fstatat(dir, OsStr::from_bytes(&name), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(e) => return Err(Error::io("stat", &child)(e.into())),
            };
            if is_whiteout(&st) {
                self.out.insert(child, Kind::Deleted);
                continue;
            }
            let existed = self.in_lowers(&child);
            let kind = if existed { Kind::Changed } else { Kind::Added };
            self.out.insert(child.clone(), kind);
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                continue;
            }
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            let resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
            let sub = openat2(dir, Path::new(OsStr::from_bytes(&name)), flags, 0, resolve)
                .map_err(Error::io("open", &child))?;
            let opaque = berth_sys::xattr::lgetxattr(&proc_path(dir, &name), OPAQUE_XATTR)
                .is_ok_and(|v| v == b"y");
            if opaque && existed {
                self.hidden(&child);
            }
            self.dir(sub.as_fd(), &child)?;
        }
        Ok(())
    }

    /// Whether `path` is visible in the image: the topmost layer that has it is not a whiteout.
    fn in_lowers(&self, path: &str) -> bool {
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        for l in &self.lowers {
            let Ok(dir) = open_in(l.as_fd(), parent) else {
                continue;
            };
            match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => return !is_whiteout(&st),
                Err(_) => continue,
            }
        }
        false
    }

    /// Marks deleted what the lowers had in the opaque directory `path`; the upper's own
    /// names are recorded after this and win.
    fn hidden(&mut self, path: &str) {
        for l in &self.lowers {
            let Ok(dir) = open_in(l.as_fd(), path) else {
                continue;
            };
            let Ok(rd) = std::fs::read_dir(proc_path(dir.as_fd(), b".")) else {
                continue;
            };
            for e in rd.flatten() {
                let child = format!("{path}/{}", e.file_name().to_string_lossy());
                let whiteout = e
                    .metadata()
                    .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()));
                if !whiteout {
                    self.out.entry(child).or_insert(Kind::Deleted);
                }
            }
        }
    }
}

/// Opens the directory `path` (absolute, `""` for the root) under the layer `root`. No
/// symlink is followed: overlay looks a name up in each layer without following any.
fn open_in(root: BorrowedFd<'_>, path: &str) -> std::io::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let flags = libc::O_RDONLY | libc::O_DIRECTORY;
    let resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
    openat2(root, Path::new(rel), flags, 0, resolve)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(upper: &Path, lowers: &[&Path]) -> Vec<String> {
        let mut w = Walk {
            lowers: lowers.iter().map(|l| open_dir(l).unwrap()).collect(),
            out: BTreeMap::new(),
        };
        w.dir(open_dir(upper).unwrap().as_fd(), "").unwrap();
        w.out
            .into_iter()
            .map(|(p, k)| format!("{} {p}", k.letter()))
            .collect()
    }

    #[test]
    fn mount_points_are_not_changes() {
        let mut out: BTreeMap<String, Kind> = [
            ("/data", Kind::Added),
            ("/dev", Kind::Added),
            ("/etc", Kind::Added),
            ("/etc/hosts", Kind::Added),
            ("/run", Kind::Added),
            ("/run/x", Kind::Added),
            ("/run/secrets", Kind::Added),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_string(), k))
        .collect();
        let mounts = ["/dev", "/etc/hosts", "/run/secrets"].map(String::from);
        hide_mount_points(&mut out, &mounts);
        let left: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(left, ["/data", "/run", "/run/x"]);
    }

    #[test]
    fn added_changed_deleted_like_docker() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        for d in ["etc", "bin"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        std::fs::write(lower.join("etc/passwd"), "x").unwrap();
        std::fs::write(lower.join("bin/sh"), "x").unwrap();
        // A symlink in the layer that would lead out of it if it were followed.
        std::os::unix::fs::symlink("/", lower.join("escape")).unwrap();
        std::fs::create_dir_all(upper.join("etc/new")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "y").unwrap();
        std::fs::write(upper.join("etc/new/f"), "y").unwrap();
        std::fs::create_dir_all(upper.join("escape")).unwrap();
        std::fs::write(upper.join("escape/etc"), "y").unwrap();
        nix::sys::stat::mknod(
            &upper.join("bin"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let got = walk(&upper, &[&lower]);
        assert_eq!(
            got,
            [
                "D /bin",
                "C /escape",
                "A /escape/etc",
                "C /etc",
                "A /etc/new",
                "A /etc/new/f",
                "C /etc/passwd"
            ]
        );
    }
}
