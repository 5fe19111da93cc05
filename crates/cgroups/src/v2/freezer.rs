//! v2 freezer: `cgroup.freeze` (5.2+) with the result in `cgroup.events`.

use std::path::Path;
use std::time::Duration;

use crate::cgfs::{self, Backoff};
use crate::error::{Error, Result};

/// How long the kernel may take to report the new state.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Freezes or thaws, returning once cgroup.events shows "frozen 1"/"0".
/// The write only starts the transition; tasks stop (or resume) as they
/// next return to user space. A failed freeze is undone.
pub(crate) fn set(dir: &Path, frozen: bool) -> Result<()> {
    let (value, op) = if frozen {
        ("1", "freeze")
    } else {
        ("0", "thaw")
    };
    if !cgfs::exists(dir, "cgroup.freeze") {
        return Err(Error::MissingFile {
            resource: op,
            path: dir.join("cgroup.freeze"),
        });
    }
    cgfs::write(dir, "cgroup.freeze", value)?;
    let want = u64::from(frozen);
    let mut backoff = Backoff::new(TIMEOUT);
    loop {
        let state = cgfs::read_flat_keyed(dir, "cgroup.events")?
            .into_iter()
            .find(|(k, _)| k == "frozen")
            .map(|(_, v)| v);
        if state == Some(want) {
            return Ok(());
        }
        if !backoff.wait() {
            if frozen {
                let _ = cgfs::write(dir, "cgroup.freeze", "0");
            }
            return Err(Error::FreezeTimeout {
                op,
                path: dir.join("cgroup.events"),
                state: format!(
                    "frozen {}",
                    state.map_or("?".to_string(), |s| s.to_string())
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn waits_for_events() {
        let t = FakeTree::new();
        t.file("f/cgroup.freeze", "0\n")
            .file("f/cgroup.events", "populated 1\nfrozen 1\n");
        set(&t.path("f"), true).unwrap();
        assert_eq!(t.read("f/cgroup.freeze"), "1");
        let e = set(&t.path("none"), true).unwrap_err();
        assert!(matches!(e, Error::MissingFile { .. }));
    }
}
