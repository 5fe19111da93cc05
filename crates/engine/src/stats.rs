//! `stats` and `top`: a running container's usage and processes, read from its cgroup.
//!
//! The figures are Docker's (docker/cli `container/stats_helpers.go`):
//! - CPU %: CPU time used between two samples over the wall time between them, × 100, so
//!   one busy core is 100% (Docker divides by the system's time over all CPUs and multiplies
//!   by their number, which is the same);
//! - memory: usage minus the inactive page cache (`total_inactive_file` on v1,
//!   `inactive_file` on v2), as `docker stats` has shown it since 20.10; the limit is the
//!   cgroup's, or the host's MemTotal when that is smaller (no limit);
//! - NET I/O: the interfaces of the container's network namespace except `lo`
//!   (`/proc/PID/net/dev`); nothing for `--network host`;
//! - BLOCK I/O: the bytes of the blkio/io controller's Read and Write counters;
//! - PIDS: the pids controller's count (tasks: threads included).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use berth_cgroups::Manager;

use crate::config::{Container, State};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// One reading of a container's counters.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// CPU time used so far, ns.
    pub cpu_ns: u64,
    /// Memory in use without the inactive page cache, bytes.
    pub mem_usage: u64,
    /// The memory limit, bytes.
    pub mem_limit: u64,
    /// Bytes received over the network.
    pub net_rx: u64,
    /// Bytes sent.
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub blk_read: u64,
    /// Bytes written.
    pub blk_write: u64,
    /// Tasks in the cgroup.
    pub pids: u64,
}

impl Sample {
    /// A stopped container's (all zero).
    pub fn zero() -> Sample {
        Sample {
            at: Instant::now(),
            cpu_ns: 0,
            mem_usage: 0,
            mem_limit: 0,
            net_rx: 0,
            net_tx: 0,
            blk_read: 0,
            blk_write: 0,
            pids: 0,
        }
    }

    /// CPU % between `prev` and this sample.
    pub fn cpu_percent(&self, prev: &Sample) -> f64 {
        let wall = self.at.saturating_duration_since(prev.at).as_nanos() as f64;
        let used = self.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
        if wall <= 0.0 || self.cpu_ns == 0 {
            return 0.0;
        }
        used / wall * 100.0
    }

    /// MEM %.
    pub fn mem_percent(&self) -> f64 {
        if self.mem_limit == 0 {
            return 0.0;
        }
        self.mem_usage as f64 / self.mem_limit as f64 * 100.0
    }
}

/// The cgroup of container `c`: the path in its bundle's spec, or the engine's default.
pub fn cgroup(eng: &Engine, c: &Container) -> Result<Box<dyn Manager>> {
    let spec = eng.dir(&c.id).join("bundle/config.json");
    let from_spec = crate::store::read_json::<serde_json::Value>(&spec)
        .ok()
        .and_then(|v| v["linux"]["cgroupsPath"].as_str().map(String::from));
    let path = from_spec
        .unwrap_or_else(|| format!("{}/{}", eng.opts.cgroup_parent.trim_end_matches('/'), c.id));
    berth_cgroups::create_manager(Some(Path::new(&path)), &c.id)
        .map_err(|e| Error::Runtime(format!("cgroup of {}: {e}", c.short_id())))
}

/// Reads container `c`'s counters now (zeros when it does not run).
pub fn sample(eng: &Engine, c: &Container, st: &State) -> Sample {
    if !st.running {
        return Sample::zero();
    }
    let at = Instant::now();
    let Ok(s) = cgroup(eng, c).and_then(|m| {
        m.stats()
            .map_err(|e| Error::Runtime(format!("stats of {}: {e}", c.short_id())))
    }) else {
        return Sample::zero();
    };
    let mem = &s.memory;
    let inactive = mem
        .raw
        .get("total_inactive_file")
        .or_else(|| mem.raw.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let usage = mem.usage.usage;
    let host = host_memory();
    let limit = match mem.usage.limit {
        0 => host,
        l => l.min(host),
    };
    let blk = |op: &str| {
        s.blkio
            .io_service_bytes_recursive
            .iter()
            .filter(|e| e.op.eq_ignore_ascii_case(op))
            .map(|e| e.value)
            .sum()
    };
    let (net_rx, net_tx) = if c.host_config.network_mode == "host" {
        (0, 0)
    } else {
        net_io(st.pid)
    };
    Sample {
        at,
        cpu_ns: s.cpu.usage.total,
        mem_usage: if inactive < usage {
            usage - inactive
        } else {
            usage
        },
        mem_limit: limit,
        net_rx,
        net_tx,
        blk_read: blk("read"),
        blk_write: blk("write"),
        pids: s.pids.current,
    }
}

/// The host's MemTotal in bytes (`u64::MAX` when unreadable).
fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(u64::MAX)
}

/// Received and sent bytes of every interface but `lo` in `pid`'s network namespace.
fn net_io(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    parse_net_dev(&text)
}

fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// `top`'s answer: `ps`'s column titles and the rows of the container's processes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Top {
    /// Column titles.
    pub titles: Vec<String>,
    /// One row per process, as many fields as titles (the last one keeps its spaces).
    pub processes: Vec<Vec<String>>,
}

/// `top`: runs the host's `ps` with `args` (Docker's default `-ef`) and keeps the lines of
/// the processes in the container's cgroup, as dockerd does.
pub fn top(eng: &Engine, key: &str, args: &[String]) -> Result<Top> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id)?;
    let st = crate::lifecycle::status(eng, &id)?;
    if !st.running {
        return Err(Error::State {
            id: key.into(),
            status: st.status,
            what: "the container is not running",
        });
    }
    let pids = cgroup(eng, &c)?
        .pids()
        .map_err(|e| Error::Runtime(format!("cgroup of {}: {e}", c.short_id())))?;
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(Error::io("run", "ps"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ps failed");
        return Err(Error::invalid("ps options", args.join(" "), first.trim()));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
        .ok_or_else(|| Error::invalid("ps options", args.join(" "), "ps output has no PID column"))
}

/// Keeps the lines of `ps` output whose PID is in `pids`.
fn parse_ps(text: &str, pids: &[i32]) -> Option<Top> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines.next()?.split_whitespace().map(String::from).collect();
    let at = titles.iter().position(|t| t == "PID")?;
    let mut processes = vec![];
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < titles.len() {
            continue;
        }
        let Ok(pid) = f[at].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = f[..last].iter().map(|s| s.to_string()).collect();
        row.push(f[last..].join(" "));
        processes.push(row);
    }
    Some(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_of_the_cgroup_only() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                    root 42 1 0 10:01 ? 00:00:00 sh -c sleep 100\n";
        let t = parse_ps(text, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0][1], "42");
        assert_eq!(t.processes[0][7], "sh -c sleep 100");
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_none());
    }

    #[test]
    fn net_dev_skips_lo() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 2000 3 0 0 0 0 0 0 500 2 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), (2000, 500));
    }

    #[test]
    fn cpu_percent_is_per_core() {
        let a = Sample::zero();
        let b = Sample {
            at: a.at + std::time::Duration::from_secs(1),
            cpu_ns: 500_000_000,
            ..a
        };
        assert!((b.cpu_percent(&a) - 50.0).abs() < 0.01);
        let m = Sample {
            mem_usage: 25,
            mem_limit: 100,
            ..a
        };
        assert!((m.mem_percent() - 25.0).abs() < 0.01);
    }
}
