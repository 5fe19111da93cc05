//! Resource usage of a container, shaped like the `data` object of
//! `runc events --stats` (runc `types/events.go`) so tools that read runc's
//! output read ours. Fields runc omits when zero are omitted here too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Usage of every controller we report on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Memory and swap.
    pub memory: MemoryStats,
    /// Process count.
    pub pids: PidsStats,
    /// Block I/O.
    pub blkio: BlkioStats,
    /// Huge page usage keyed by page size ("2MB", "1GB").
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    /// Time spent on CPUs.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CPU time, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Total CPU time per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Kernel-mode time per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// User-mode time per CPU (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Kernel-mode time.
    pub kernel: u64,
    /// User-mode time.
    pub user: u64,
}

/// CFS bandwidth throttling counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods that elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// Memory statistics, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Page cache.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (as v1's memsw; on v2 the sum is computed).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 kernels that still have `memory.kmem.*`).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (same).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every counter of `memory.stat`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Usage, peak and limit of one memory counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryEntry {
    /// The limit; `u64::MAX` for "max" on v2.
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Process count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    /// Processes and threads now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// The limit; 0 when there is none.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O counters per device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BlkioStats {
    /// Bytes transferred.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Requests completed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One device/operation counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard" or "Total".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The counter.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Huge page usage for one page size.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HugetlbStats {
    /// Current usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage in bytes (v1 only).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations that failed because of the limit.
    pub failcnt: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_runc_field_names() {
        let mut s = Stats::default();
        s.cpu.throttling.throttled_periods = 2;
        s.memory.kernel_tcp.limit = 1;
        s.blkio.io_service_bytes_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 4096,
        });
        s.hugetlb.insert("2MB".into(), HugetlbStats::default());
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cpu"]["throttling"]["throttledPeriods"], 2);
        assert_eq!(v["memory"]["kernelTCP"]["limit"], 1);
        assert_eq!(v["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
        assert_eq!(v["hugetlb"]["2MB"]["failcnt"], 0);
        // omitempty fields stay out, like runc's
        assert!(v["pids"].get("current").is_none());
        assert!(v["memory"].get("raw").is_none());
        let back: Stats = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
