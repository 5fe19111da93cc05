//! v1 cpuacct controller: CPU time accounting (statistics only).

use std::path::Path;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::CpuStats;

/// cpuacct.stat counts in USER_HZ ticks, which the kernel ABI fixes at 100
/// per second on every architecture that has cgroup v1 in practice (runc
/// `system.GetClockTicks` makes the same assumption).
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

fn numbers(path: &Path, text: &str) -> Result<Vec<u64>> {
    text.split_whitespace()
        .map(|n| cgfs::parse_u64(path, n))
        .collect()
}

/// Splits cpuacct.usage_all ("cpu user system" header, then one row per
/// CPU, in ns) into per-CPU user and kernel times.
fn usage_all(path: &Path, text: &str) -> Result<(Vec<u64>, Vec<u64>)> {
    let (mut user, mut kernel) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let n = numbers(path, line)?;
        let [_, u, k] = n[..] else {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                content: line.to_string(),
            });
        };
        user.push(u);
        kernel.push(k);
    }
    Ok((user, kernel))
}

/// Fills CPU usage.
pub(crate) fn stats(dir: &Path, s: &mut CpuStats) -> Result<()> {
    s.usage.total = cgfs::read_u64_or_zero(dir, "cpuacct.usage")?;
    if let Some(t) = cgfs::read_opt(dir, "cpuacct.usage_percpu")? {
        s.usage.percpu = numbers(&dir.join("cpuacct.usage_percpu"), &t)?;
    }
    if let Some(t) = cgfs::read_opt(dir, "cpuacct.usage_all")? {
        let (user, kernel) = usage_all(&dir.join("cpuacct.usage_all"), &t)?;
        s.usage.percpu_user = user;
        s.usage.percpu_kernel = kernel;
    }
    if let Some(t) = cgfs::read_opt(dir, "cpuacct.stat")? {
        for (k, v) in cgfs::parse_flat_keyed(&dir.join("cpuacct.stat"), &t)? {
            match k.as_str() {
                "user" => s.usage.user = v * NS_PER_TICK,
                "system" => s.usage.kernel = v * NS_PER_TICK,
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn reads_usage() {
        let t = FakeTree::new();
        t.file("a/cpuacct.usage", "3000\n")
            .file("a/cpuacct.usage_percpu", "1000 2000 \n");
        t.file(
            "a/cpuacct.usage_all",
            "cpu user system\n0 600 400\n1 1500 500\n",
        );
        t.file("a/cpuacct.stat", "user 2\nsystem 1\n");
        let mut s = CpuStats::default();
        stats(&t.path("a"), &mut s).unwrap();
        assert_eq!(s.usage.total, 3000);
        assert_eq!(s.usage.percpu, vec![1000, 2000]);
        assert_eq!(s.usage.percpu_user, vec![600, 1500]);
        assert_eq!(s.usage.percpu_kernel, vec![400, 500]);
        assert_eq!((s.usage.user, s.usage.kernel), (20_000_000, 10_000_000));
    }

    #[test]
    fn rejects_malformed_rows() {
        assert!(usage_all(Path::new("/f"), "cpu user system\n0 1\n").is_err());
    }
}
