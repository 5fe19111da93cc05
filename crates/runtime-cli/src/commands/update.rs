//! `update`: new resource limits from flags or `-r resources.json`.

use std::path::PathBuf;

use berth_runtime::oci_spec::runtime::LinuxResources;
use berth_runtime::state::Root;

/// `update` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// resources.json (OCI linux.resources); `-` reads stdin.
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none).
    #[arg(long)]
    memory: Option<String>,
    /// Memory plus swap limit.
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// CFS quota in microseconds.
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPUs allowed (e.g. 0-1).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Maximum number of pids (-1 or 0 for none).
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Container id.
    id: String,
}

/// Parse `64m`, `1g`, `1024`, `-1`.
pub fn parse_bytes(flag: &str, s: &str) -> anyhow::Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("update: {flag} {s:?}: not a size"))?;
    Ok(n * mult)
}

/// Apply the limits.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    let mut r: LinuxResources = match &a.resources {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
                v
            } else {
                std::fs::read(p).map_err(|e| anyhow::anyhow!("read `{}`: {e}", p.display()))?
            };
            berth_runtime::spec::parse_json("resources", &text)?
        }
        None => root
            .load_spec(&a.id)?
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default(),
    };
    let mut mem = r.memory().unwrap_or_default();
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes("--memory", m)?));
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes("--memory-swap", m)?));
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes("--memory-reservation", m)?));
    }
    r.set_memory(Some(mem));
    let mut cpu = r.cpu().clone().unwrap_or_default();
    if let Some(v) = a.cpu_quota {
        cpu.set_quota(Some(v));
    }
    if let Some(v) = a.cpu_period {
        cpu.set_period(Some(v));
    }
    if let Some(v) = a.cpu_shares {
        cpu.set_shares(Some(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
    }
    if let Some(v) = &a.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
    }
    r.set_cpu(Some(cpu));
    if let Some(v) = a.pids_limit {
        let mut p = r.pids().unwrap_or_default();
        p.set_limit(if v <= 0 { -1 } else { v });
        r.set_pids(Some(p));
    }
    berth_runtime::container::query::update(root, &a.id, &r)?;
    Ok(0)
}
