//! v1 cpuset controller (Documentation/admin-guide/cgroup-v1/cpusets.rst).
//!
//! A new v1 cpuset directory starts with empty `cpuset.cpus` and
//! `cpuset.mems`, and the kernel refuses to run tasks there (ENOSPC on
//! cgroup.procs). So every directory we create is initialised from its
//! parent, level by level (runc `cpusetEnsureParent`); `cgroup.clone_children`
//! would do the same, but changing it on a parent we do not own is not ours
//! to do.

use std::io;
use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::path;

const CPUS: &str = "cpuset.cpus";
const MEMS: &str = "cpuset.mems";

/// Whether `c` asks for cpus or mems.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.cpus().as_ref().is_some_and(|s| !s.is_empty())
        || c.mems().as_ref().is_some_and(|s| !s.is_empty())
}

/// Copies cpus/mems from the parent into `dir` where they are empty.
fn inherit(dir: &Path, parent: &Path) -> Result<()> {
    for file in [CPUS, MEMS] {
        if cgfs::read(dir, file)?.trim().is_empty() {
            cgfs::write(dir, file, cgfs::read(parent, file)?.trim())?;
        }
    }
    Ok(())
}

/// Creates `mount + rel` and every missing level above it, initialising
/// each from its parent.
pub(crate) fn create(mount: &Path, rel: &Path) -> Result<()> {
    let mut parent = mount.to_path_buf();
    for dir in path::chain(mount, rel) {
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("mkdir", &dir, e)),
        }
        inherit(&dir, &parent)?;
        parent = dir;
    }
    Ok(())
}

/// Writes cpus and mems.
pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        cgfs::write(dir, CPUS, cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        cgfs::write(dir, MEMS, mems)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn create_inherits_level_by_level_and_keeps_existing_values() {
        let t = FakeTree::new();
        t.file("cs/cpuset.cpus", "0-7\n")
            .file("cs/cpuset.mems", "0-1\n");
        t.file("cs/a/cpuset.cpus", "2-3\n")
            .file("cs/a/cpuset.mems", "\n");
        t.files("cs/a/b", &[CPUS, MEMS]);
        create(&t.path("cs"), Path::new("/a/b")).unwrap();
        let cases = [
            ("cs/a/cpuset.cpus", "2-3\n"),
            ("cs/a/cpuset.mems", "0-1"),
            ("cs/a/b/cpuset.cpus", "2-3"),
            ("cs/a/b/cpuset.mems", "0-1"),
        ];
        for (f, want) in cases {
            assert_eq!(t.read(f), want, "{f}");
        }
    }

    #[test]
    fn writes_cpus_and_mems() {
        let t = FakeTree::new();
        t.files("cs", &[CPUS, MEMS]);
        let c: LinuxCpu = serde_json::from_str(r#"{"cpus":"0-1","mems":"0"}"#).unwrap();
        assert!(requested(&c));
        set(&t.path("cs"), &c).unwrap();
        assert_eq!(
            (t.read("cs/cpuset.cpus"), t.read("cs/cpuset.mems")),
            ("0-1".into(), "0".into())
        );
    }
}
