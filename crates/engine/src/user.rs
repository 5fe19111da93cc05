//! `-u user[:group]` resolved against the container's own `/etc/passwd` and `/etc/group`,
//! read inside the rootfs (symlinks cannot lead out of it), as Docker does.

use std::path::Path;

use crate::error::{Error, Result};

/// The ids a container process runs with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups (the user's memberships in /etc/group).
    pub additional: Vec<u32>,
    /// The home directory from /etc/passwd, if the user is listed.
    pub home: Option<String>,
}

fn read_in_root(rootfs: &Path, path: &str) -> String {
    let Ok(root) = std::fs::File::open(rootfs) else {
        return String::new();
    };
    match berth_sys::fd::openat2(
        std::os::fd::AsFd::as_fd(&root),
        Path::new(path),
        libc::O_RDONLY,
        0,
        berth_sys::fd::RESOLVE_IN_ROOT,
    ) {
        Ok(fd) => {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut s);
            s
        }
        Err(_) => String::new(),
    }
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`...) in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<Ids> {
    let passwd = read_in_root(rootfs, "etc/passwd");
    let group = read_in_root(rootfs, "etc/group");
    resolve_in(&passwd, &group, spec)
}

/// [`resolve`] over the files' contents.
pub fn resolve_in(passwd: &str, group: &str, spec: &str) -> Result<Ids> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .find(|f| f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user));
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse()
                .map_err(|_| Error::invalid("--user", spec, "bad uid in /etc/passwd"))?,
            f[3].parse()
                .map_err(|_| Error::invalid("--user", spec, "bad gid in /etc/passwd"))?,
            Some(f[0].to_string()),
            f.get(5).map(|h| h.to_string()),
        ),
        (None, Ok(n)) => (n, 0, None, None),
        (None, Err(_)) => {
            return Err(Error::invalid(
                "--user",
                spec,
                format!("no matching entries in passwd file for user `{user}`"),
            ))
        }
    };
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_id(group, g).ok_or_else(|| {
                Error::invalid(
                    "--user",
                    spec,
                    format!("no matching entries in group file for group `{g}`"),
                )
            })?,
        };
    }
    let mut additional = vec![];
    if let (Some(name), None) = (&name, grp) {
        for f in group.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !additional.contains(&g) {
                        additional.push(g);
                    }
                }
            }
        }
    }
    Ok(Ids {
        uid,
        gid,
        additional,
        home,
    })
}

fn group_id(group: &str, name: &str) -> Option<u32> {
    group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == name)
        .and_then(|f| f[2].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,bob\n";

    #[test]
    fn names_numbers_and_groups() {
        let r = resolve_in(PASSWD, GROUP, "").unwrap();
        assert_eq!((r.uid, r.gid), (0, 0));
        assert_eq!(r.home.as_deref(), Some("/root"));
        let w = resolve_in(PASSWD, GROUP, "www").unwrap();
        assert_eq!((w.uid, w.gid, w.additional.clone()), (33, 33, vec![50]));
        let n = resolve_in(PASSWD, GROUP, "1000:1000").unwrap();
        assert_eq!((n.uid, n.gid), (1000, 1000));
        assert!(n.additional.is_empty());
        let g = resolve_in(PASSWD, GROUP, "www:staff").unwrap();
        assert_eq!((g.uid, g.gid), (33, 50));
        assert_eq!(resolve_in(PASSWD, GROUP, "33").unwrap().gid, 33);
    }

    #[test]
    fn unknown_names_are_one_clear_error() {
        let e = resolve_in(PASSWD, GROUP, "nobody").unwrap_err().to_string();
        assert!(e.contains("--user") && e.contains("nobody"), "{e}");
        let e = resolve_in(PASSWD, GROUP, "www:nogroup")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nogroup"), "{e}");
    }
}
