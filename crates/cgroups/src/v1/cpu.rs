//! v1 cpu controller: CFS shares and bandwidth, RT bandwidth, idle
//! (Documentation/scheduler/sched-bwc.rst, sched-rt-group.rst).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::CpuStats;

/// Whether `c` asks for anything this controller does (cpus/mems are
/// cpuset's).
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.burst().is_some()
        || c.realtime_runtime().is_some_and(|v| v != 0)
        || c.realtime_period().is_some_and(|v| v != 0)
        || c.idle().is_some()
}

/// Writes a file that must exist for the resource asked for.
fn write_required(dir: &Path, file: &str, resource: &'static str, value: &str) -> Result<()> {
    if !cgfs::exists(dir, file) {
        return Err(Error::MissingFile {
            resource,
            path: dir.join(file),
        });
    }
    cgfs::write(dir, file, value)
}

/// Writes a period and the value bounded by it. The kernel checks each
/// write against the other's current value, so a new period can be refused
/// (EINVAL) until the new runtime/quota is in; then it is retried after
/// (runc `SetRtSched` and the CFS counterpart).
fn period_then_value(
    dir: &Path,
    period: (&str, Option<u64>),
    value: (&str, Option<i64>),
) -> Result<()> {
    let mut retry_period = None;
    if let Some(p) = period.1.filter(|p| *p != 0) {
        match cgfs::write(dir, period.0, &p.to_string()) {
            Err(e) if e.errno() == Some(libc::EINVAL) && value.1.is_some_and(|v| v != 0) => {
                retry_period = Some(p);
            }
            other => other?,
        }
    }
    if let Some(v) = value.1.filter(|v| *v != 0) {
        cgfs::write(dir, value.0, &v.to_string())?;
    }
    if let Some(p) = retry_period {
        cgfs::write(dir, period.0, &p.to_string())?;
    }
    Ok(())
}

/// Writes every cpu limit in `c`.
pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        cgfs::write(dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps silently to [2, 262144]; say so instead.
        let got = cgfs::read_u64(dir, "cpu.shares")?;
        if got != shares {
            return Err(Error::InvalidValue {
                resource: "cpu.shares",
                value: shares.to_string(),
                reason: "outside the range the kernel accepts (2 to 262144)",
            });
        }
    }
    period_then_value(
        dir,
        ("cpu.cfs_period_us", c.period()),
        ("cpu.cfs_quota_us", c.quota()),
    )?;
    if let Some(burst) = c.burst() {
        write_required(dir, "cpu.cfs_burst_us", "cpu.burst", &burst.to_string())?;
    }
    period_then_value(
        dir,
        ("cpu.rt_period_us", c.realtime_period()),
        ("cpu.rt_runtime_us", c.realtime_runtime()),
    )?;
    if let Some(idle) = c.idle() {
        write_required(dir, "cpu.idle", "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// Fills the throttling counters from cpu.stat (throttled_time is in ns).
pub(crate) fn stats(dir: &Path, s: &mut CpuStats) -> Result<()> {
    let Some(text) = cgfs::read_opt(dir, "cpu.stat")? else {
        return Ok(());
    };
    for (k, v) in cgfs::parse_flat_keyed(&dir.join("cpu.stat"), &text)? {
        match k.as_str() {
            "nr_periods" => s.throttling.periods = v,
            "nr_throttled" => s.throttling.throttled_periods = v,
            "throttled_time" => s.throttling.throttled_time = v,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    fn tree() -> FakeTree {
        let t = FakeTree::new();
        let files = [
            "cpu.shares",
            "cpu.cfs_period_us",
            "cpu.cfs_quota_us",
            "cpu.cfs_burst_us",
            "cpu.rt_period_us",
            "cpu.rt_runtime_us",
            "cpu.idle",
        ];
        t.files("c", &files);
        t
    }

    #[test]
    fn writes_each_cpu_file() {
        let cases = [
            (r#"{"shares":512}"#, "cpu.shares", "512"),
            (
                r#"{"quota":50000,"period":100000}"#,
                "cpu.cfs_quota_us",
                "50000",
            ),
            (
                r#"{"quota":50000,"period":100000}"#,
                "cpu.cfs_period_us",
                "100000",
            ),
            (r#"{"quota":-1}"#, "cpu.cfs_quota_us", "-1"),
            (r#"{"burst":1000}"#, "cpu.cfs_burst_us", "1000"),
            (
                r#"{"realtimeRuntime":950,"realtimePeriod":1000}"#,
                "cpu.rt_runtime_us",
                "950",
            ),
            (
                r#"{"realtimeRuntime":950,"realtimePeriod":1000}"#,
                "cpu.rt_period_us",
                "1000",
            ),
            (r#"{"idle":1}"#, "cpu.idle", "1"),
        ];
        for (json, file, want) in cases {
            let t = tree();
            let c: LinuxCpu = serde_json::from_str(json).unwrap();
            assert!(requested(&c), "{json}");
            set(&t.path("c"), &c).unwrap();
            assert_eq!(t.read(&format!("c/{file}")), want, "{json}");
        }
        let only_cpuset: LinuxCpu = serde_json::from_str(r#"{"cpus":"0"}"#).unwrap();
        assert!(!requested(&only_cpuset));
    }

    #[test]
    fn missing_optional_files_are_named() {
        let t = FakeTree::new();
        t.files("c", &["cpu.shares"]);
        let c: LinuxCpu = serde_json::from_str(r#"{"idle":1}"#).unwrap();
        let e = set(&t.path("c"), &c).unwrap_err();
        assert!(e.to_string().contains("cpu.idle` does not exist"), "{e}");
    }

    #[test]
    fn reads_throttling() {
        let t = FakeTree::new();
        t.file(
            "c/cpu.stat",
            "nr_periods 10\nnr_throttled 3\nthrottled_time 5000\nnr_bursts 0\n",
        );
        let mut s = CpuStats::default();
        stats(&t.path("c"), &mut s).unwrap();
        assert_eq!(
            (
                s.throttling.periods,
                s.throttling.throttled_periods,
                s.throttling.throttled_time
            ),
            (10, 3, 5000)
        );
    }
}
