//! Where a container's cgroup lives, relative to each hierarchy's root.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The parent of containers that did not ask for a path.
const DEFAULT_PARENT: &str = "/berth";

fn invalid(path: &str, reason: &'static str) -> Error {
    Error::InvalidPath {
        path: path.to_string(),
        reason,
    }
}

/// Resolves OCI `linux.cgroupsPath` to a clean absolute path such as
/// `/berth/<id>`, to be joined under every hierarchy's mount point.
///
/// Absolute and relative paths are both taken under the hierarchy root (as
/// runc's cgroupfs driver does for a runtime that sits at the root). "..",
/// which could climb out of the hierarchy, is refused, as is the root itself,
/// which is shared by the whole host. A `slice:prefix:name` path is for the
/// systemd driver, which berth does not have.
pub(crate) fn resolve(cgroups_path: Option<&Path>, container_id: &str) -> Result<PathBuf> {
    let given = match cgroups_path {
        Some(p) => p.to_string_lossy().into_owned(),
        None => {
            if container_id.is_empty()
                || container_id.contains('/')
                || container_id.starts_with('.')
            {
                return Err(invalid(container_id, "container id cannot name a cgroup"));
            }
            format!("{DEFAULT_PARENT}/{container_id}")
        }
    };
    if given.contains(':') {
        return Err(invalid(
            &given,
            "systemd cgroup driver is not available (slice:prefix:name)",
        ));
    }
    let mut clean = PathBuf::from("/");
    for c in Path::new(&given).components() {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid(&given, "\"..\" would leave the cgroup hierarchy"));
            }
        }
    }
    if clean == Path::new("/") {
        return Err(invalid(&given, "refusing to manage the root cgroup"));
    }
    Ok(clean)
}

/// `rel` (from [`resolve`]) joined under a hierarchy mount point.
pub(crate) fn under(mount: &Path, rel: &Path) -> PathBuf {
    mount.join(rel.strip_prefix("/").unwrap_or(rel))
}

/// The directories from `mount` (exclusive) down to `mount + rel` (inclusive).
pub(crate) fn chain(mount: &Path, rel: &Path) -> Vec<PathBuf> {
    let mut cur = mount.to_path_buf();
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(n) => {
                cur.push(n);
                Some(cur.clone())
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_validates() {
        let ok: &[(Option<&str>, &str, &str)] = &[
            (None, "abc", "/berth/abc"),
            (Some("/a/b"), "x", "/a/b"),
            (Some("a/b"), "x", "/a/b"),
            (Some("/a//./b/"), "x", "/a/b"),
        ];
        for (p, id, want) in ok {
            assert_eq!(
                resolve(p.map(Path::new), id).unwrap(),
                Path::new(want),
                "{p:?}"
            );
        }
        let bad: &[(Option<&str>, &str, &str)] = &[
            (Some("system.slice:berth:x"), "x", "systemd"),
            (Some("/a/../../etc"), "x", ".."),
            (Some("/"), "x", "root cgroup"),
            (None, "a/b", "container id"),
            (None, "", "container id"),
            (None, "..", "container id"),
        ];
        for (p, id, want) in bad {
            let msg = resolve(p.map(Path::new), id).unwrap_err().to_string();
            assert!(msg.contains(want), "{p:?} {id:?}: {msg}");
        }
    }

    #[test]
    fn joins_and_chains() {
        let m = Path::new("/sys/fs/cgroup/cpuset");
        assert_eq!(
            under(m, Path::new("/a/b")),
            Path::new("/sys/fs/cgroup/cpuset/a/b")
        );
        assert_eq!(
            chain(m, Path::new("/a/b")),
            vec![m.join("a"), m.join("a/b")]
        );
    }
}
