//! v1 memory controller (Documentation/admin-guide/cgroup-v1/memory.rst).
//!
//! OCI `memory.swap` is memory+swap, exactly v1's `memory.memsw.*`, so no
//! conversion is needed here. Kernel memory limits are ignored: the kmem
//! files are gone from current kernels and were never a good idea.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::{MemoryEntry, MemoryStats};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

/// Whether `m` asks for anything this controller does.
pub(crate) fn requested(m: &LinuxMemory) -> bool {
    m.limit().is_some_and(|v| v != 0)
        || m.swap().is_some_and(|v| v != 0)
        || m.reservation().is_some_and(|v| v != 0)
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
}

fn invalid(resource: &'static str, value: i64, reason: &'static str) -> Error {
    Error::InvalidValue {
        resource,
        value: value.to_string(),
        reason,
    }
}

/// The writes for a memory limit and a memory+swap limit, in an order the
/// kernel accepts: memsw may never be below the memory limit, so when
/// raising, memsw goes first, and when lowering, the memory limit goes
/// first (runc `setMemoryAndSwap`). 0 means "leave alone", -1 "unlimited".
/// `unlimited swap` follows an unlimited memory limit when swap is unset.
fn plan(limit: i64, swap: i64, current: u64, has_memsw: bool) -> Result<Vec<(&'static str, i64)>> {
    if limit < -1 {
        return Err(invalid(
            "memory.limit",
            limit,
            "must be positive, or -1 for unlimited",
        ));
    }
    if swap < -1 {
        return Err(invalid(
            "memory.swap",
            swap,
            "must be positive, or -1 for unlimited",
        ));
    }
    if limit > 0 && swap > 0 && swap < limit {
        return Err(invalid(
            "memory.swap",
            swap,
            "memory+swap must not be below the memory limit",
        ));
    }
    let swap = if limit == -1 && swap == 0 && has_memsw {
        -1
    } else {
        swap
    };
    let raise_swap_first = limit != 0 && swap != 0 && (swap == -1 || current < swap as u64);
    let mut out = Vec::new();
    if raise_swap_first {
        out.push((MEMSW, swap));
    }
    if limit != 0 {
        out.push((LIMIT, limit));
    }
    if swap != 0 && !raise_swap_first {
        out.push((MEMSW, swap));
    }
    Ok(out)
}

/// Writes a limit; EBUSY means it is below current usage, which deserves a
/// clearer message than the errno.
fn write_limit(dir: &Path, file: &'static str, value: i64) -> Result<()> {
    if file == MEMSW && !cgfs::exists(dir, MEMSW) {
        return Err(Error::MissingFile {
            resource: "memory.swap",
            path: dir.join(MEMSW),
        });
    }
    match cgfs::write(dir, file, &value.to_string()) {
        Err(e) if e.errno() == Some(libc::EBUSY) => Err(Error::MemoryBelowUsage {
            path: dir.join(file),
            limit: value,
            usage: cgfs::read_u64(dir, "memory.usage_in_bytes")?,
        }),
        other => other,
    }
}

/// `checkBeforeUpdate`: refuse a limit at or below current usage instead of
/// letting the kernel reclaim or OOM-kill to get there.
fn check_usage(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    for (file, usage_file, value) in [
        (LIMIT, "memory.usage_in_bytes", m.limit()),
        (MEMSW, "memory.memsw.usage_in_bytes", m.swap()),
    ] {
        let Some(limit) = value.filter(|v| *v > 0) else {
            continue;
        };
        let usage = cgfs::read_u64_or_zero(dir, usage_file)?;
        if limit as u64 <= usage {
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
    let (limit, swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
    let current = if limit != 0 && swap != 0 {
        cgfs::read_u64(dir, LIMIT)?
    } else {
        0
    };
    for (file, value) in plan(limit, swap, current, cgfs::exists(dir, MEMSW))? {
        write_limit(dir, file, value)?;
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        cgfs::write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(invalid(
                "memory.swappiness",
                s as i64,
                "must be between 0 and 100",
            ));
        }
        cgfs::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(disable) = m.disable_oom_killer() {
        cgfs::write(dir, "memory.oom_control", if disable { "1" } else { "0" })?;
    }
    Ok(())
}

/// Usage, peak, limit and failcnt of `prefix` ("memory", "memory.memsw",
/// ...); all zero when the files do not exist.
fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    if !cgfs::exists(dir, &format!("{prefix}.usage_in_bytes")) {
        return Ok(MemoryEntry::default());
    }
    let get = |suffix: &str| cgfs::read_u64_or_zero(dir, &format!("{prefix}.{suffix}"));
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?,
        usage: get("usage_in_bytes")?,
        max: get("max_usage_in_bytes")?,
        failcnt: get("failcnt")?,
    })
}

/// Fills memory statistics.
pub(crate) fn stats(dir: &Path, s: &mut MemoryStats) -> Result<()> {
    s.raw = cgfs::read_flat_keyed(dir, "memory.stat")?
        .into_iter()
        .collect();
    s.cache = s.raw.get("cache").copied().unwrap_or(0);
    s.usage = entry(dir, "memory")?;
    s.swap = entry(dir, "memory.memsw")?;
    s.kernel = entry(dir, "memory.kmem")?;
    s.kernel_tcp = entry(dir, "memory.kmem.tcp")?;
    Ok(())
}

/// The "oom_kill" counter of memory.oom_control (kernel 4.13+).
pub(crate) fn oom_kill_count(dir: &Path) -> Result<u64> {
    cgfs::read_key(dir, "memory.oom_control", "oom_kill")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    const M: i64 = 1 << 20;

    #[test]
    fn plans_limit_and_swap_order() {
        type Case = (i64, i64, u64, bool, Vec<(&'static str, i64)>);
        let cases: Vec<Case> = vec![
            (0, 0, 0, true, vec![]),
            (8 * M, 0, 0, true, vec![(LIMIT, 8 * M)]),
            (0, 16 * M, 0, true, vec![(MEMSW, 16 * M)]),
            // raising: swap first
            (
                8 * M,
                16 * M,
                4 << 20,
                true,
                vec![(MEMSW, 16 * M), (LIMIT, 8 * M)],
            ),
            // lowering below the old limit: memory first
            (
                8 * M,
                8 * M,
                64 << 20,
                true,
                vec![(LIMIT, 8 * M), (MEMSW, 8 * M)],
            ),
            (8 * M, -1, 64 << 20, true, vec![(MEMSW, -1), (LIMIT, 8 * M)]),
            // unlimited memory drags swap along, when the kernel has swap accounting
            (-1, 0, 0, true, vec![(MEMSW, -1), (LIMIT, -1)]),
            (-1, 0, 0, false, vec![(LIMIT, -1)]),
        ];
        for (limit, swap, cur, memsw, want) in cases {
            assert_eq!(
                plan(limit, swap, cur, memsw).unwrap(),
                want,
                "{limit} {swap} {cur}"
            );
        }
        for (limit, swap) in [(-2, 0), (0, -5), (16 * M, 8 * M)] {
            assert!(plan(limit, swap, 0, true).is_err(), "{limit} {swap}");
        }
    }

    fn tree() -> FakeTree {
        let t = FakeTree::new();
        let files = [
            LIMIT,
            MEMSW,
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
        ];
        t.files("m", &files);
        t.file("m/memory.limit_in_bytes", "9223372036854771712\n");
        t.file("m/memory.usage_in_bytes", "1048576\n");
        t
    }

    fn mem(json: &str) -> LinuxMemory {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn writes_each_memory_file() {
        let cases = [
            (r#"{"limit":8388608,"swap":8388608}"#, LIMIT, "8388608"),
            (r#"{"limit":8388608,"swap":8388608}"#, MEMSW, "8388608"),
            (
                r#"{"reservation":4096}"#,
                "memory.soft_limit_in_bytes",
                "4096",
            ),
            (r#"{"swappiness":0}"#, "memory.swappiness", "0"),
            (r#"{"disableOOMKiller":true}"#, "memory.oom_control", "1"),
            (r#"{"limit":-1}"#, MEMSW, "-1"),
        ];
        for (json, file, want) in cases {
            let t = tree();
            let m = mem(json);
            assert!(requested(&m));
            set(&t.path("m"), &m).unwrap();
            assert_eq!(t.read(&format!("m/{file}")), want, "{json}");
        }
        assert!(!requested(&mem(r#"{"kernel":1000,"limit":0}"#)));
    }

    #[test]
    fn refuses_bad_values_and_missing_swap_accounting() {
        let t = tree();
        let cases = [
            (r#"{"swappiness":101}"#, "between 0 and 100"),
            (
                r#"{"limit":1048576,"checkBeforeUpdate":true}"#,
                "current usage is 1048576",
            ),
        ];
        for (json, want) in cases {
            let msg = set(&t.path("m"), &mem(json)).unwrap_err().to_string();
            assert!(msg.contains(want), "{json}: {msg}");
        }
        std::fs::remove_file(t.path("m").join(MEMSW)).unwrap();
        let e = set(&t.path("m"), &mem(r#"{"swap":8388608}"#)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::MissingFile {
                    resource: "memory.swap",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn reads_stats_and_oom_count() {
        let t = FakeTree::new();
        t.file("m/memory.stat", "cache 4096\nrss 8192\n");
        t.file("m/memory.usage_in_bytes", "12288\n")
            .file("m/memory.max_usage_in_bytes", "20000\n");
        t.file("m/memory.limit_in_bytes", "8388608\n")
            .file("m/memory.failcnt", "3\n");
        t.file("m/memory.memsw.usage_in_bytes", "12288\n");
        t.file(
            "m/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
        );
        let mut s = MemoryStats::default();
        stats(&t.path("m"), &mut s).unwrap();
        assert_eq!((s.cache, s.raw["rss"]), (4096, 8192));
        assert_eq!(
            (s.usage.usage, s.usage.max, s.usage.limit, s.usage.failcnt),
            (12288, 20000, 8388608, 3)
        );
        assert_eq!(s.swap.usage, 12288);
        assert_eq!(s.kernel, MemoryEntry::default());
        assert_eq!(oom_kill_count(&t.path("m")).unwrap(), 4);
    }
}
