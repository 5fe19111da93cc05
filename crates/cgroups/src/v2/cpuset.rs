//! v2 cpuset controller. Unlike v1, an empty cpuset.cpus/mems means
//! "inherit the parent's", so new directories need no initialisation.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgfs;
use crate::error::Result;

/// Whether `c` asks for cpus or mems.
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.cpus().as_ref().is_some_and(|s| !s.is_empty())
        || c.mems().as_ref().is_some_and(|s| !s.is_empty())
}

/// Writes cpuset.cpus and cpuset.mems.
pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        cgfs::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        cgfs::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn writes_cpus_and_mems() {
        let t = FakeTree::new();
        t.files("cs", &["cpuset.cpus", "cpuset.mems"]);
        let c: LinuxCpu = serde_json::from_str(r#"{"cpus":"1","mems":"0"}"#).unwrap();
        assert!(requested(&c));
        set(&t.path("cs"), &c).unwrap();
        assert_eq!(
            (t.read("cs/cpuset.cpus"), t.read("cs/cpuset.mems")),
            ("1".into(), "0".into())
        );
    }
}
