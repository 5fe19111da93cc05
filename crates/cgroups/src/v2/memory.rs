//! v2 memory controller: memory.max, memory.low, memory.swap.max.
//!
//! OCI `memory.swap` is memory+swap (a v1 notion); v2's memory.swap.max is
//! swap alone, so the memory limit is subtracted (runc
//! `ConvertMemorySwapToCgroupV2Value`). swappiness has no v2 file and is
//! ignored, as runc and crun do; disableOOMKiller is refused by the manager.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::{MemoryEntry, MemoryStats};

/// Whether `m` asks for a limit this controller sets.
pub(crate) fn requested(m: &LinuxMemory) -> bool {
    m.limit().is_some_and(|v| v != 0)
        || m.swap().is_some_and(|v| v != 0)
        || m.reservation().is_some_and(|v| v != 0)
}

/// An OCI byte count as v2 writes it: -1 is "max", 0 is "leave alone".
fn value(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

fn invalid(value: i64, reason: &'static str) -> Error {
    Error::InvalidValue {
        resource: "memory.swap",
        value: value.to_string(),
        reason,
    }
}

/// memory.swap.max for OCI (`swap` = memory+swap, `limit`), or None to
/// leave it alone.
pub(crate) fn swap_max(swap: i64, limit: i64) -> Result<Option<String>> {
    match (swap, limit) {
        // Unlimited memory with swap unset: unlimited swap too, as on v1.
        (0, -1) => Ok(Some("max".to_string())),
        (0, _) => Ok(None),
        (-1, _) => Ok(Some("max".to_string())),
        (s, -1) => Ok(Some(s.to_string())),
        (s, 0) => Err(invalid(s, "a memory+swap limit needs a memory limit")),
        (s, l) if l < 0 || s < 0 => Err(invalid(s, "must be positive, or -1 for unlimited")),
        (s, l) if s < l => Err(invalid(s, "memory+swap must not be below the memory limit")),
        (s, l) => Ok(Some((s - l).to_string())),
    }
}

/// `checkBeforeUpdate`: refuse a limit at or below current usage.
fn check_usage(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let usage = cgfs::read_u64_or_zero(dir, "memory.current")?;
    for (file, v) in [("memory.max", m.limit()), ("memory.swap.max", m.swap())] {
        if let Some(limit) = v.filter(|l| *l > 0 && (*l as u64) <= usage) {
            return Err(Error::MemoryBelowUsage {
                path: dir.join(file),
                limit,
                usage,
            });
        }
    }
    Ok(())
}

/// Writes every memory limit in `m`.
pub(crate) fn set(dir: &Path, m: &LinuxMemory) -> Result<()> {
    check_usage(dir, m)?;
    let limit = m.limit().unwrap_or(0);
    if limit < -1 {
        return Err(Error::InvalidValue {
            resource: "memory.limit",
            value: limit.to_string(),
            reason: "must be positive, or -1 for unlimited",
        });
    }
    if let Some(s) = swap_max(m.swap().unwrap_or(0), limit)? {
        // Without swap accounting there is no file; "no swap" and
        // "unlimited swap" then hold already.
        if cgfs::exists(dir, "memory.swap.max") {
            cgfs::write(dir, "memory.swap.max", &s)?;
        } else if s != "max" && s != "0" {
            return Err(Error::MissingFile {
                resource: "memory.swap",
                path: dir.join("memory.swap.max"),
            });
        }
    }
    if let Some(v) = value(limit) {
        cgfs::write(dir, "memory.max", &v)?;
    }
    if let Some(v) = m.reservation().and_then(value) {
        cgfs::write(dir, "memory.low", &v)?;
    }
    Ok(())
}

/// current/max/peak of `prefix` ("memory" or "memory.swap").
fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let get = |s: &str| cgfs::read_u64_or_zero(dir, &format!("{prefix}.{s}"));
    Ok(MemoryEntry {
        limit: get("max")?,
        usage: get("current")?,
        max: get("peak")?,
        failcnt: cgfs::read_key(dir, &format!("{prefix}.events"), "max")?,
    })
}

/// Fills memory statistics; nothing when the controller is not enabled.
/// `swap` is reported as memory+swap, like v1's memsw.
pub(crate) fn stats(dir: &Path, s: &mut MemoryStats) -> Result<()> {
    if !cgfs::exists(dir, "memory.current") {
        return Ok(());
    }
    s.raw = cgfs::read_flat_keyed(dir, "memory.stat")?
        .into_iter()
        .collect();
    s.cache = s.raw.get("file").copied().unwrap_or(0);
    s.usage = entry(dir, "memory")?;
    let swap = entry(dir, "memory.swap")?;
    s.swap = MemoryEntry {
        limit: swap.limit.saturating_add(s.usage.limit),
        usage: swap.usage + s.usage.usage,
        max: 0,
        failcnt: swap.failcnt,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    const M: i64 = 1 << 20;

    #[test]
    fn converts_oci_swap_to_v2() {
        let ok: &[(i64, i64, Option<&str>)] = &[
            (0, -1, Some("max")),
            (0, 8 * M, None),
            (0, 0, None),
            (-1, 8 * M, Some("max")),
            (16 * M, -1, Some("16777216")),
            (16 * M, 8 * M, Some("8388608")),
            (8 * M, 8 * M, Some("0")),
        ];
        for (swap, limit, want) in ok {
            assert_eq!(
                swap_max(*swap, *limit).unwrap().as_deref(),
                *want,
                "{swap} {limit}"
            );
        }
        for (swap, limit) in [(8 * M, 0), (4 * M, 8 * M), (8 * M, -5), (-3, 8 * M)] {
            assert!(swap_max(swap, limit).is_err(), "{swap} {limit}");
        }
    }

    fn mem(json: &str) -> LinuxMemory {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn writes_each_memory_file() {
        let cases = [
            (
                r#"{"limit":8388608,"swap":16777216}"#,
                "memory.max",
                "8388608",
            ),
            (
                r#"{"limit":8388608,"swap":16777216}"#,
                "memory.swap.max",
                "8388608",
            ),
            (r#"{"limit":-1}"#, "memory.max", "max"),
            (r#"{"limit":-1}"#, "memory.swap.max", "max"),
            (r#"{"reservation":4096}"#, "memory.low", "4096"),
        ];
        for (json, file, want) in cases {
            let t = FakeTree::new();
            t.files("m", &["memory.max", "memory.low", "memory.swap.max"]);
            assert!(requested(&mem(json)));
            set(&t.path("m"), &mem(json)).unwrap();
            assert_eq!(t.read(&format!("m/{file}")), want, "{json}");
        }
        assert!(!requested(&mem(r#"{"swappiness":10}"#)));
    }

    #[test]
    fn swap_without_accounting() {
        let t = FakeTree::new();
        t.files("m", &["memory.max"]);
        // no swap and unlimited swap need no file ...
        set(&t.path("m"), &mem(r#"{"limit":8388608,"swap":8388608}"#)).unwrap();
        set(&t.path("m"), &mem(r#"{"limit":-1}"#)).unwrap();
        // ... but a real swap limit does.
        let e = set(&t.path("m"), &mem(r#"{"limit":8388608,"swap":16777216}"#)).unwrap_err();
        assert!(matches!(e, Error::MissingFile { .. }), "{e}");
        t.file("m/memory.current", "9000000\n");
        let e = set(
            &t.path("m"),
            &mem(r#"{"limit":8388608,"checkBeforeUpdate":true}"#),
        )
        .unwrap_err();
        assert!(
            matches!(e, Error::MemoryBelowUsage { usage: 9000000, .. }),
            "{e}"
        );
    }

    #[test]
    fn reads_stats() {
        let t = FakeTree::new();
        t.file("m/memory.stat", "anon 100\nfile 200\n")
            .file("m/memory.current", "300\n");
        t.file("m/memory.max", "max\n")
            .file("m/memory.peak", "400\n");
        t.file("m/memory.events", "max 2\noom_kill 1\n");
        t.file("m/memory.swap.current", "10\n")
            .file("m/memory.swap.max", "1000\n");
        let mut s = MemoryStats::default();
        stats(&t.path("m"), &mut s).unwrap();
        assert_eq!(
            (s.cache, s.usage.usage, s.usage.max, s.usage.failcnt),
            (200, 300, 400, 2)
        );
        assert_eq!(
            (s.usage.limit, s.swap.limit, s.swap.usage),
            (u64::MAX, u64::MAX, 310)
        );
        let mut none = MemoryStats::default();
        stats(&t.path("nothing"), &mut none).unwrap();
        assert_eq!(none, MemoryStats::default());
    }
}
