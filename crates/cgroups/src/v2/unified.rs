//! OCI `unified`: raw v2 file writes, keyed by file name ("memory.high").

use std::collections::HashMap;
use std::path::Path;

use crate::cgfs;
use crate::error::{Error, Result};

/// Keys must be plain "controller.file" names inside the cgroup directory:
/// no slashes, no leading dot, something on both sides of a dot.
pub(crate) fn validate(u: &HashMap<String, String>) -> Result<()> {
    for k in u.keys() {
        let ok = !k.contains('/')
            && k.split_once('.')
                .is_some_and(|(c, f)| !c.is_empty() && !f.is_empty() && !f.starts_with('.'));
        if !ok {
            return Err(Error::InvalidValue {
                resource: "unified",
                value: k.clone(),
                reason: "keys must be file names of the form controller.file",
            });
        }
    }
    Ok(())
}

/// Writes each key's value, line by line (files such as io.max take one
/// entry per write), keys in sorted order.
pub(crate) fn set(dir: &Path, u: &HashMap<String, String>) -> Result<()> {
    validate(u)?;
    let mut keys: Vec<_> = u.keys().collect();
    keys.sort();
    for k in keys {
        for line in u[k].lines().filter(|l| !l.trim().is_empty()) {
            cgfs::write(dir, k, line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn validates_keys() {
        for ok in ["memory.high", "cgroup.max.depth", "io.bfq.weight"] {
            validate(&HashMap::from([(ok.to_string(), "1".to_string())])).unwrap();
        }
        for bad in [
            "../memory.high",
            "memory",
            ".hidden",
            "memory.",
            "a/b.c",
            "memory..x",
        ] {
            assert!(
                validate(&HashMap::from([(bad.to_string(), "1".to_string())])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn writes_each_key() {
        let t = FakeTree::new();
        t.files("u", &["memory.high", "io.max"]);
        let u = HashMap::from([
            ("memory.high".to_string(), "1048576".to_string()),
            (
                "io.max".to_string(),
                "8:0 rbps=1\n8:16 wbps=2\n".to_string(),
            ),
        ]);
        set(&t.path("u"), &u).unwrap();
        assert_eq!(t.read("u/memory.high"), "1048576");
        assert_eq!(t.read("u/io.max"), "8:16 wbps=2");
        let missing = HashMap::from([("pids.max".to_string(), "1".to_string())]);
        assert_eq!(
            set(&t.path("u"), &missing).unwrap_err().errno(),
            Some(libc::ENOENT)
        );
    }
}
