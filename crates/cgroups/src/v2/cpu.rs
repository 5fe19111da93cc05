//! v2 cpu controller: cpu.weight, cpu.max, cpu.max.burst, cpu.idle.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::CpuStats;

/// Whether `c` asks for anything this controller does (realtime is refused
/// by the manager, cpus/mems are cpuset's).
pub(crate) fn requested(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|v| v != 0)
        || c.quota().is_some_and(|v| v != 0)
        || c.period().is_some_and(|v| v != 0)
        || c.burst().is_some()
        || c.idle().is_some()
}

/// v1 cpu.shares [2, 262144] (default 1024) to v2 cpu.weight [1, 10000]
/// (default 100). Not linear: a quadratic in log2(shares) through the three
/// points min->min, 1024->100 and max->max, so default containers keep the
/// default weight (the formula runc and crun both switched to in 2025).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        s => {
            let l = (s as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// The cpu.max line. One number alone updates only the quota; a period
/// without a quota keeps the current quota (`current`) rather than
/// resetting it to "max".
fn cpu_max(
    quota: Option<i64>,
    period: Option<u64>,
    current: impl FnOnce() -> Result<String>,
) -> Result<Option<String>> {
    let q = |q: i64| {
        if q > 0 {
            q.to_string()
        } else {
            "max".to_string()
        }
    };
    Ok(
        match (quota.filter(|q| *q != 0), period.filter(|p| *p != 0)) {
            (None, None) => None,
            (Some(quota), None) => Some(q(quota)),
            (Some(quota), Some(p)) => Some(format!("{} {p}", q(quota))),
            (None, Some(p)) => {
                let cur = current()?;
                let quota = cur.split_whitespace().next().unwrap_or("max");
                Some(format!("{quota} {p}"))
            }
        },
    )
}

fn write_required(dir: &Path, file: &str, resource: &'static str, value: &str) -> Result<()> {
    if !cgfs::exists(dir, file) {
        return Err(Error::MissingFile {
            resource,
            path: dir.join(file),
        });
    }
    cgfs::write(dir, file, value)
}

/// Writes every cpu setting in `c`.
pub(crate) fn set(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(idle) = c.idle() {
        write_required(dir, "cpu.idle", "cpu.idle", &idle.to_string())?;
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        cgfs::write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    // A burst above the old quota is refused (EINVAL) until the new quota
    // is in; then it is written again after cpu.max.
    let mut retry_burst = None;
    if let Some(burst) = c.burst() {
        match write_required(dir, "cpu.max.burst", "cpu.burst", &burst.to_string()) {
            Err(e) if e.errno() == Some(libc::EINVAL) && c.quota().is_some_and(|q| q != 0) => {
                retry_burst = Some(burst);
            }
            other => other?,
        }
    }
    if let Some(line) = cpu_max(c.quota(), c.period(), || cgfs::read(dir, "cpu.max"))? {
        cgfs::write(dir, "cpu.max", &line)?;
    }
    if let Some(burst) = retry_burst {
        cgfs::write(dir, "cpu.max.burst", &burst.to_string())?;
    }
    Ok(())
}

/// Fills usage and throttling from cpu.stat (µs, reported in ns). cpu.stat
/// exists even without the cpu controller, with the usage lines only.
pub(crate) fn stats(dir: &Path, s: &mut CpuStats) -> Result<()> {
    let Some(text) = cgfs::read_opt(dir, "cpu.stat")? else {
        return Ok(());
    };
    for (k, v) in cgfs::parse_flat_keyed(&dir.join("cpu.stat"), &text)? {
        match k.as_str() {
            "usage_usec" => s.usage.total = v * 1000,
            "user_usec" => s.usage.user = v * 1000,
            "system_usec" => s.usage.kernel = v * 1000,
            "nr_periods" => s.throttling.periods = v,
            "nr_throttled" => s.throttling.throttled_periods = v,
            "throttled_usec" => s.throttling.throttled_time = v * 1000,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn converts_shares_to_weight() {
        // Reference values computed with the same formula in Python (math.pow).
        let cases = [
            (0, 0),
            (1, 1),
            (2, 1),
            (1024, 100),
            (262_144, 10_000),
            (300_000, 10_000),
            (100, 17),
            (512, 59),
            (2048, 174),
            (100_000, 4340),
        ];
        for (shares, want) in cases {
            assert_eq!(shares_to_weight(shares), want, "{shares}");
        }
        // Monotonic over the whole range.
        let mut last = 0;
        for s in (2..262_144).step_by(97) {
            let w = shares_to_weight(s);
            assert!(w >= last && (1..=10_000).contains(&w), "{s} -> {w}");
            last = w;
        }
    }

    #[test]
    fn builds_cpu_max() {
        let cur = || Ok("20000 100000\n".to_string());
        let cases: &[(Option<i64>, Option<u64>, Option<&str>)] = &[
            (None, None, None),
            (Some(0), Some(0), None),
            (Some(50_000), None, Some("50000")),
            (Some(50_000), Some(200_000), Some("50000 200000")),
            (Some(-1), Some(100_000), Some("max 100000")),
            (None, Some(50_000), Some("20000 50000")),
        ];
        for (q, p, want) in cases {
            assert_eq!(
                cpu_max(*q, *p, cur).unwrap().as_deref(),
                *want,
                "{q:?} {p:?}"
            );
        }
    }

    #[test]
    fn writes_each_cpu_file() {
        let cases = [
            (r#"{"shares":1024}"#, "cpu.weight", "100"),
            (
                r#"{"quota":50000,"period":100000}"#,
                "cpu.max",
                "50000 100000",
            ),
            (r#"{"burst":1000,"quota":5000}"#, "cpu.max.burst", "1000"),
            (r#"{"idle":1}"#, "cpu.idle", "1"),
        ];
        for (json, file, want) in cases {
            let t = FakeTree::new();
            t.files("c", &["cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle"]);
            let c: LinuxCpu = serde_json::from_str(json).unwrap();
            assert!(requested(&c));
            set(&t.path("c"), &c).unwrap();
            assert_eq!(t.read(&format!("c/{file}")), want, "{json}");
        }
    }

    #[test]
    fn reads_cpu_stat() {
        let t = FakeTree::new();
        t.file(
            "c/cpu.stat",
            "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n",
        );
        let mut s = CpuStats::default();
        stats(&t.path("c"), &mut s).unwrap();
        assert_eq!(
            (s.usage.total, s.usage.user, s.usage.kernel),
            (10_000, 6_000, 4_000)
        );
        assert_eq!(
            (
                s.throttling.periods,
                s.throttling.throttled_periods,
                s.throttling.throttled_time
            ),
            (5, 2, 7_000)
        );
    }
}
