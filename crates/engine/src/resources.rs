//! Resource limits: Docker's spellings (`100m`, `0.5` cpus, `1g` swap) parsed into
//! `HostConfig`, and `HostConfig` turned into the OCI `linux.resources` object.

use serde_json::{json, Map, Value};

use crate::config::HostConfig;
use crate::error::{Error, Result};

/// The CFS period Docker uses for `--cpus`.
pub const CPU_PERIOD: i64 = 100_000;

/// Parses a size as Docker does: a number with an optional `b`, `k`, `m`, `g`, `t` suffix
/// (binary multiples, case-insensitive, optional trailing `b` as in `100mb`).
pub fn parse_bytes(flag: &'static str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| !r.is_empty()).unwrap_or(&t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 1i64 << 10),
        Some((i, 'm')) => (&t[..i], 1 << 20),
        Some((i, 'g')) => (&t[..i], 1 << 30),
        Some((i, 't')) => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    let bad = || Error::invalid(flag, s, "expected a size like 512k, 100m or 1g");
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok((v * mult as f64) as i64)
}

/// `--memory-swap`: a size, or -1 for unlimited.
pub fn parse_swap(s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    parse_bytes("--memory-swap", s)
}

/// `--cpus 1.5` → nano cpus.
pub fn parse_cpus(s: &str, online: usize) -> Result<i64> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| Error::invalid("--cpus", s, "expected a number like 0.5 or 2"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(Error::invalid("--cpus", s, "must be a positive number"));
    }
    if v > online as f64 {
        return Err(Error::invalid(
            "--cpus",
            s,
            format!("range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs available"),
        ));
    }
    Ok((v * 1e9).round() as i64)
}

/// Checks values that parse but make no sense together; run at create and update.
pub fn validate(h: &HostConfig) -> Result<()> {
    if h.memory > 0 && h.memory < 6 << 20 {
        return Err(Error::invalid(
            "--memory",
            h.memory.to_string(),
            "minimum memory limit allowed is 6MB",
        ));
    }
    if h.memory_swap > 0 && h.memory > 0 && h.memory_swap < h.memory {
        return Err(Error::invalid(
            "--memory-swap",
            h.memory_swap.to_string(),
            "must be larger than --memory (it is memory plus swap)",
        ));
    }
    if h.memory_swap > 0 && h.memory == 0 {
        return Err(Error::invalid(
            "--memory-swap",
            h.memory_swap.to_string(),
            "needs --memory as well",
        ));
    }
    if h.nano_cpus > 0 && (h.cpu_quota > 0 || h.cpu_period > 0) {
        return Err(Error::invalid(
            "--cpus",
            h.nano_cpus.to_string(),
            "conflicts with --cpu-quota/--cpu-period",
        ));
    }
    if h.blkio_weight != 0 && !(10..=1000).contains(&h.blkio_weight) {
        return Err(Error::invalid(
            "--blkio-weight",
            h.blkio_weight.to_string(),
            "must be 0 or between 10 and 1000",
        ));
    }
    if h.cpu_quota != 0 && h.cpu_quota < 1000 && h.cpu_quota != -1 {
        return Err(Error::invalid(
            "--cpu-quota",
            h.cpu_quota.to_string(),
            "must be at least 1000 (1 ms)",
        ));
    }
    Ok(())
}

/// Drops what this host's cgroups cannot do, as Docker's daemon does, and returns the
/// warnings to show: cgroup v2 has no switch to turn the OOM killer off (v1's
/// memory.oom_control), so `--oom-kill-disable` is discarded there rather than failing
/// every start.
pub fn discard_unsupported(h: &mut HostConfig) -> Vec<String> {
    let mut warnings = vec![];
    if h.oom_kill_disable && cgroup_v2() {
        h.oom_kill_disable = false;
        warnings
            .push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
    } else if h.oom_kill_disable && h.memory == 0 {
        warnings.push(
            "OOM killer is disabled for the container, but no memory limit is set, \
             this can result in the system running out of resources."
                .into(),
        );
    }
    warnings
}

/// The host's cgroups are one unified v2 hierarchy (a hybrid host is managed as v1): a
/// cgroup2 filesystem at /sys/fs/cgroup, as Docker checks. One statfs, where the mount
/// table (a line per running container) would cost milliseconds to read.
pub fn cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The OCI `linux.resources` of `h`.
pub fn to_oci(h: &HostConfig) -> Result<Value> {
    validate(h)?;
    let mut r = Map::new();
    let mut mem = Map::new();
    if h.memory > 0 {
        mem.insert("limit".into(), json!(h.memory));
        // Docker: no --memory-swap means swap may be as large as memory (2x in total).
        let swap = match h.memory_swap {
            0 => h.memory * 2,
            s => s,
        };
        mem.insert("swap".into(), json!(swap));
    }
    if h.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(h.memory_reservation));
    }
    if h.oom_kill_disable {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if h.nano_cpus > 0 {
        cpu.insert("period".into(), json!(CPU_PERIOD));
        cpu.insert(
            "quota".into(),
            json!(h.nano_cpus * CPU_PERIOD / 1_000_000_000),
        );
    } else {
        if h.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(h.cpu_quota));
        }
        if h.cpu_period > 0 {
            cpu.insert("period".into(), json!(h.cpu_period));
        }
    }
    if !h.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(h.cpuset_cpus));
    }
    if !h.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(h.cpuset_mems));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if h.pids_limit != 0 {
        r.insert("pids".into(), json!({"limit": h.pids_limit}));
    }
    if h.blkio_weight > 0 {
        r.insert("blockIO".into(), json!({"weight": h.blkio_weight}));
    }
    r.insert("devices".into(), devices(h));
    Ok(Value::Object(r))
}

fn devices(h: &HostConfig) -> Value {
    if h.privileged {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    for d in &h.devices {
        if let Ok(meta) = nix::sys::stat::stat(d.path_on_host.as_str()) {
            let kind = if meta.st_mode & libc::S_IFMT == libc::S_IFBLK {
                "b"
            } else {
                "c"
            };
            let access = if d.cgroup_permissions.is_empty() {
                "rwm"
            } else {
                &d.cgroup_permissions
            };
            rules.push(json!({
                "allow": true, "type": kind,
                "major": libc::major(meta.st_rdev), "minor": libc::minor(meta.st_rdev),
                "access": access,
            }));
        }
    }
    Value::Array(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_bytes("--memory", "100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("--memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("--memory", "64mb").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("--memory", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("--memory", "1.5g").unwrap(), 3 << 29);
        for bad in ["12x", "", "-1m", "m", "abc"] {
            let e = parse_bytes("--memory", bad).unwrap_err().to_string();
            assert!(e.contains("--memory") && e.contains(bad), "{e}");
        }
        assert_eq!(parse_swap("-1").unwrap(), -1);
    }

    #[test]
    fn cpus_parse_and_become_a_quota() {
        assert_eq!(parse_cpus("0.5", 2).unwrap(), 500_000_000);
        assert!(parse_cpus("-1", 2).is_err());
        assert!(parse_cpus("3", 2).is_err());
        assert!(parse_cpus("x", 2).is_err());
        let h = HostConfig {
            nano_cpus: 500_000_000,
            ..Default::default()
        };
        let r = to_oci(&h).unwrap();
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["cpu"]["period"], 100_000);
    }

    #[test]
    fn memory_gets_docker_swap_default_and_checks() {
        let h = HostConfig {
            memory: 100 << 20,
            ..Default::default()
        };
        let r = to_oci(&h).unwrap();
        assert_eq!(r["memory"]["limit"], 100 << 20);
        assert_eq!(r["memory"]["swap"], 200 << 20);
        let small = HostConfig {
            memory: 1 << 20,
            ..Default::default()
        };
        assert!(to_oci(&small).is_err());
        let swap = HostConfig {
            memory: 100 << 20,
            memory_swap: 50 << 20,
            ..Default::default()
        };
        assert!(to_oci(&swap).is_err());
    }
}
