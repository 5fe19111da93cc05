//! v1 freezer controller (Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst).

use std::path::Path;
use std::time::Duration;

use crate::cgfs::{self, Backoff};
use crate::error::{Error, Result};

const STATE: &str = "freezer.state";
/// How long a freeze may take before we give up and thaw again.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Freezes or thaws, returning once freezer.state shows the result.
///
/// Writing FROZEN can leave the cgroup in FREEZING when a task is busy in
/// the kernel (vfork, uninterruptible sleep); writing again retries the
/// tasks that did not stop yet, and a short thaw now and then lets a task
/// stuck waiting on a frozen sibling make progress (runc `FreezerGroup.Set`).
/// On failure the cgroup is thawed, never left half frozen.
pub(crate) fn set(dir: &Path, frozen: bool) -> Result<()> {
    let (want, op) = if frozen {
        ("FROZEN", "freeze")
    } else {
        ("THAWED", "thaw")
    };
    let mut backoff = Backoff::new(TIMEOUT);
    let mut tries = 0u32;
    loop {
        tries += 1;
        if frozen && tries == 50 {
            tries = 0;
            cgfs::write(dir, STATE, "THAWED")?;
        }
        let res = cgfs::write(dir, STATE, want).and_then(|()| cgfs::read(dir, STATE));
        let state = match res {
            Ok(s) => s.trim().to_string(),
            Err(e) => {
                if frozen {
                    let _ = cgfs::write(dir, STATE, "THAWED");
                }
                return Err(e);
            }
        };
        if state == want {
            return Ok(());
        }
        if !backoff.wait() {
            if frozen {
                let _ = cgfs::write(dir, STATE, "THAWED");
            }
            return Err(Error::FreezeTimeout {
                op,
                path: dir.join(STATE),
                state,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn writes_and_confirms_state() {
        // A plain file reads back what was written, i.e. the state settles.
        let t = FakeTree::new();
        t.file("f/freezer.state", "THAWED\n");
        for (frozen, want) in [(true, "FROZEN"), (false, "THAWED")] {
            set(&t.path("f"), frozen).unwrap();
            assert_eq!(t.read("f/freezer.state"), want);
        }
        let e = set(&t.path("missing"), true).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }
}
