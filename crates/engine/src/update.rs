//! `update`: new resource limits and restart policy for a container, stored in its
//! configuration (the next start uses them) and, when it runs, written to its cgroup now
//! through the runtime's `update`.
//!
//! The order: the new `HostConfig` is validated as a whole (`--memory-swap` against the
//! memory that will be in force, `--cpus` against a quota already set), then applied live,
//! then stored; a limit the kernel refuses leaves the stored configuration as it was.

use berth_runtime::oci_spec::runtime::LinuxResources;

use crate::config::{HostConfig, RestartPolicy};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What `update` changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// `--memory`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`, bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpus` × 1e9.
    pub nano_cpus: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<i64>,
    /// `--cpu-quota`, µs.
    pub cpu_quota: Option<i64>,
    /// `--cpu-period`, µs.
    pub cpu_period: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit` (-1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--blkio-weight`.
    pub blkio_weight: Option<u16>,
    /// `--restart`.
    pub restart: Option<RestartPolicy>,
}

impl Update {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        self.memory.is_none()
            && self.memory_swap.is_none()
            && self.memory_reservation.is_none()
            && self.nano_cpus.is_none()
            && self.cpu_shares.is_none()
            && self.cpu_quota.is_none()
            && self.cpu_period.is_none()
            && self.cpuset_cpus.is_none()
            && self.cpuset_mems.is_none()
            && self.pids_limit.is_none()
            && self.blkio_weight.is_none()
            && self.restart.is_none()
    }

    /// `h` with these changes.
    pub fn apply(&self, h: &HostConfig) -> HostConfig {
        let mut h = h.clone();
        let set = |dst: &mut i64, v: Option<i64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut h.memory, self.memory);
        set(&mut h.memory_swap, self.memory_swap);
        set(&mut h.memory_reservation, self.memory_reservation);
        set(&mut h.nano_cpus, self.nano_cpus);
        set(&mut h.cpu_shares, self.cpu_shares);
        set(&mut h.cpu_quota, self.cpu_quota);
        set(&mut h.cpu_period, self.cpu_period);
        set(&mut h.pids_limit, self.pids_limit);
        if let Some(v) = &self.cpuset_cpus {
            h.cpuset_cpus = v.clone();
        }
        if let Some(v) = &self.cpuset_mems {
            h.cpuset_mems = v.clone();
        }
        if let Some(v) = self.blkio_weight {
            h.blkio_weight = v;
        }
        if let Some(r) = &self.restart {
            h.restart_policy = r.clone();
        }
        h
    }
}

/// Checks a `--cpuset-cpus`/`--cpuset-mems` list (`0-2,4`) against `online` CPUs.
pub fn check_cpuset(flag: &'static str, s: &str, online: usize) -> Result<()> {
    let bad = |why: &str| Error::invalid(flag, s, why.to_string());
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (_, b): (usize, usize) = match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) if a <= b => (a, b),
            _ => return Err(bad("expected a list like 0-2,4")),
        };
        if flag == "--cpuset-cpus" && b >= online {
            return Err(bad(&format!(
                "requested CPUs are not available (0-{} online)",
                online.saturating_sub(1)
            )));
        }
    }
    Ok(())
}

/// Updates container `key`; its id.
pub fn update(eng: &Engine, key: &str, u: &Update) -> Result<String> {
    let id = eng.containers.resolve(key)?;
    let _lock = eng.containers.lock(&id)?;
    let mut c = eng.containers.config(&id)?;
    if u.restart
        .as_ref()
        .is_some_and(|r| r.name != "no" && !r.name.is_empty())
        && c.host_config.auto_remove
    {
        return Err(Error::invalid(
            "--restart",
            u.restart
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            "the container was started with --rm (AutoRemove); its restart policy cannot change",
        ));
    }
    let h = u.apply(&c.host_config);
    crate::resources::validate(&h)?;
    let st = crate::lifecycle::status(eng, &id)?;
    if st.running {
        eng.runtime_for(&c).update(&id, &live_resources(&h)?)?;
    }
    c.host_config = h;
    eng.containers.write_config(&c)?;
    Ok(id)
}

/// The OCI resources of `h` without the device list: `update` changes limits only, and
/// rewriting the device cgroup of a running container would briefly deny every device.
fn live_resources(h: &HostConfig) -> Result<LinuxResources> {
    let mut v = crate::resources::to_oci(h)?;
    if let Some(o) = v.as_object_mut() {
        o.remove("devices");
    }
    serde_json::from_value(v)
        .map_err(|e| Error::Runtime(format!("update: resources do not convert: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_settings_change() {
        let h = HostConfig {
            memory: 100 << 20,
            cpu_shares: 512,
            ..Default::default()
        };
        let u = Update {
            pids_limit: Some(20),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let n = u.apply(&h);
        assert_eq!((n.memory, n.cpu_shares, n.pids_limit), (100 << 20, 512, 20));
        assert_eq!(n.cpuset_cpus, "0");
        assert!(Update::default().is_empty() && !u.is_empty());
    }

    #[test]
    fn live_resources_leave_devices_alone() {
        let h = HostConfig {
            memory: 64 << 20,
            pids_limit: 10,
            ..Default::default()
        };
        let r = live_resources(&h).unwrap();
        assert!(r.devices().is_none());
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
    }

    #[test]
    fn cpusets_are_checked() {
        assert!(check_cpuset("--cpuset-cpus", "0-1", 2).is_ok());
        assert!(check_cpuset("--cpuset-cpus", "0,1", 2).is_ok());
        for bad in ["2", "1-0", "x", "0-"] {
            let e = check_cpuset("--cpuset-cpus", bad, 2)
                .unwrap_err()
                .to_string();
            assert!(e.contains("--cpuset-cpus") && e.contains(bad), "{e}");
        }
    }
}
