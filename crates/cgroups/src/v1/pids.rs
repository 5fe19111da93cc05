//! pids controller. Its interface is the same on v1 and v2 (`pids.max`,
//! `pids.current`), so the v2 backend uses this file too.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::cgfs;
use crate::error::Result;
use crate::stats::PidsStats;

/// The value for pids.max: a positive limit as is, a negative one means
/// unlimited, and 0 means "not set" (runc's long-standing reading of the
/// required-but-zero OCI field).
fn max_value(limit: i64) -> Option<String> {
    match limit {
        0 => None,
        l if l < 0 => Some("max".to_string()),
        l => Some(l.to_string()),
    }
}

/// Writes pids.max.
pub(crate) fn set(dir: &Path, p: &LinuxPids) -> Result<()> {
    match max_value(p.limit()) {
        Some(v) => cgfs::write(dir, "pids.max", &v),
        None => Ok(()),
    }
}

/// Fills the process count and limit ("max" reads as 0, no limit).
pub(crate) fn stats(dir: &Path, s: &mut PidsStats) -> Result<()> {
    s.current = cgfs::read_u64_or_zero(dir, "pids.current")?;
    s.limit = match cgfs::read_u64_or_zero(dir, "pids.max")? {
        u64::MAX => 0,
        n => n,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn limit_values() {
        let cases = [
            (0, None),
            (-1, Some("max")),
            (-7, Some("max")),
            (64, Some("64")),
        ];
        for (limit, want) in cases {
            assert_eq!(max_value(limit).as_deref(), want, "{limit}");
        }
    }

    #[test]
    fn writes_and_reads() {
        let t = FakeTree::new();
        t.file("p/pids.max", "max\n").file("p/pids.current", "3\n");
        let mut s = PidsStats::default();
        stats(&t.path("p"), &mut s).unwrap();
        assert_eq!((s.current, s.limit), (3, 0));
        let p: LinuxPids = serde_json::from_str(r#"{"limit":32}"#).unwrap();
        set(&t.path("p"), &p).unwrap();
        stats(&t.path("p"), &mut s).unwrap();
        assert_eq!(s.limit, 32);
    }
}
