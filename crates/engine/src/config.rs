//! What a container is made of, as stored on disk and shown by `inspect`: Docker's field
//! names (`Config`, `HostConfig`, `State`), so templates written for `docker inspect` work.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The container's own configuration (`.Config` in Docker's inspect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    /// Hostname (`-h`); the short id when unset.
    pub hostname: String,
    /// NIS domain name (`--domainname`).
    pub domainname: String,
    /// `user[:group]` (`-u`).
    pub user: String,
    /// Attach stdin (`-i`).
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Allocate a pty (`-t`).
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub open_stdin: bool,
    /// Close stdin when the first attached client detaches.
    pub stdin_once: bool,
    /// `KEY=value` pairs: the image's, then `-e`/`--env-file`.
    pub env: Vec<String>,
    /// The command (image's `Cmd` unless given).
    pub cmd: Option<Vec<String>>,
    /// Health check (`--health-cmd` ...).
    pub healthcheck: Option<Healthcheck>,
    /// The image as the user named it.
    pub image: String,
    /// Working directory (`-w`).
    pub working_dir: String,
    /// Entrypoint (`--entrypoint` or the image's).
    pub entrypoint: Option<Vec<String>>,
    /// Labels (`--label`, and the image's).
    pub labels: BTreeMap<String, String>,
    /// Signal `stop` sends first (`--stop-signal`).
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (`--stop-timeout`).
    pub stop_timeout: Option<i64>,
    /// Ports the image exposes (`"80/tcp": {}`).
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
}

/// A health check, as Docker stores it (durations in nanoseconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    /// `["CMD-SHELL", "..."]`, `["CMD", ...]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Between checks.
    pub interval: i64,
    /// A check running longer fails.
    pub timeout: i64,
    /// Failures in a row that make the container unhealthy.
    pub retries: i64,
    /// Failures during this time after start do not count.
    pub start_period: i64,
}

/// How the container is run on the host (`.HostConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v host:ctr[:opts]` and `-v volume:ctr[:opts]`.
    pub binds: Vec<String>,
    /// Where the container's logs go (`json-file` with `max-size`/`max-file`).
    pub log_config: LogConfig,
    /// `--network`.
    pub network_mode: String,
    /// `-p`.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `-P`: every exposed port to a free host port.
    pub publish_all_ports: bool,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--cgroupns`.
    pub cgroupns_mode: String,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--add-host`.
    pub extra_hosts: Vec<String>,
    /// `--ipc`.
    pub ipc_mode: String,
    /// `--pid`.
    pub pid_mode: String,
    /// `--privileged`.
    pub privileged: bool,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--security-opt` (a `seccomp=PATH` profile is stored inline, as Docker's CLI sends
    /// it); `null` when none, as Docker shows it.
    #[serde(serialize_with = "null_if_empty", deserialize_with = "null_as_empty")]
    pub security_opt: Vec<String>,
    /// `--tmpfs path[:opts]`.
    pub tmpfs: BTreeMap<String, String>,
    /// `--uts`.
    pub uts_mode: String,
    /// `--shm-size`, bytes.
    pub shm_size: i64,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// The runtime that runs it (`berth` in process, or a runc-compatible binary).
    pub runtime: String,
    /// `--init`.
    pub init: Option<bool>,
    /// `--mount`.
    pub mounts: Vec<Mount>,
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `--memory`, bytes.
    pub memory: i64,
    /// `--cgroup-parent`.
    pub cgroup_parent: String,
    /// `--blkio-weight`.
    pub blkio_weight: u16,
    /// `--cpu-period`, µs.
    pub cpu_period: i64,
    /// `--cpu-quota`, µs.
    pub cpu_quota: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--device`.
    pub devices: Vec<DeviceMapping>,
    /// `--memory-reservation`, bytes.
    pub memory_reservation: i64,
    /// `--memory-swap`, bytes (-1: unlimited).
    pub memory_swap: i64,
    /// `--cpus` × 1e9.
    pub nano_cpus: i64,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--pids-limit` (0: unset, -1: unlimited).
    pub pids_limit: i64,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--userns`: `host` (or empty), `auto`, `auto:size=N`; `private` for `--uidmap`.
    pub userns_mode: String,
    /// The user namespace's maps (`--uidmap`/`--gidmap`, or the range `auto` took).
    #[serde(rename = "IDMappings")]
    pub id_mappings: crate::userns::IdMappings,
}

fn null_if_empty<S: serde::Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `--log-opt` and the log driver.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// `json-file` or `none`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `max-size`, `max-file`.
    pub config: BTreeMap<String, String>,
}

/// One published port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host address ("" for all).
    pub host_ip: String,
    /// Host port.
    pub host_port: String,
}

/// `--restart`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always`, `unless-stopped` ("" = no).
    pub name: String,
    /// For `on-failure:N`.
    pub maximum_retry_count: i64,
}

/// `--mount` (and `--tmpfs`, `-v` once parsed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path or volume name.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// tmpfs size in bytes (0: the kernel's default).
    pub tmpfs_size: i64,
    /// tmpfs mode (0: 1777).
    pub tmpfs_mode: u32,
    /// Bind propagation (`rprivate` default).
    pub bind_propagation: String,
}

/// `--device host[:ctr[:perms]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    /// Device on the host.
    pub path_on_host: String,
    /// Where it appears in the container.
    pub path_in_container: String,
    /// `rwm` subset.
    pub cgroup_permissions: String,
}

/// `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// Everything `create` decides, stored as `config.json` in the container's directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    /// 64 hex digits.
    pub id: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The command line's program (entrypoint + cmd, first element).
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The image id (`sha256:...` of its config).
    pub image: String,
    /// The image's manifest digest (to find its layers).
    pub image_manifest: String,
    /// `/name`, as Docker shows it.
    pub name: String,
    /// `.Config`.
    pub config: Config,
    /// `.HostConfig`.
    pub host_config: HostConfig,
    /// What was asked of the container's network (`--ip`), by network name.
    pub networking_config: NetworkingConfig,
    /// berth's own: `network disconnect` took the container off its last network. Its
    /// mode is then `none`, but not the user's `--network none`: `network connect` may
    /// give it a network again (it becomes its first), as Docker allows.
    #[serde(
        rename = "BerthNetworkDetached",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub network_detached: bool,
}

/// `.NetworkingConfig` of Docker's create request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Per network.
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// One network's requested settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    /// Requested addresses.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: EndpointIpamConfig,
    /// `--network-alias`: more names the network's responder answers for.
    pub aliases: Vec<String>,
}

/// `--ip`, `--ip6`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    /// The IPv4 address asked for (empty: any).
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// `--ip6`: the IPv6 address asked for (empty: the one that goes with the IPv4 one).
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
}

impl Container {
    /// The name without Docker's leading slash.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// The process to run: entrypoint then cmd.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.config.entrypoint.clone().unwrap_or_default();
        v.extend(self.config.cmd.clone().unwrap_or_default());
        v
    }
}

/// The container's health, as Docker shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    /// Failures in a row.
    pub failing_streak: i64,
    /// The last few checks.
    pub log: Vec<HealthLog>,
}

/// One health check run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthLog {
    /// Start time.
    pub start: String,
    /// End time.
    pub end: String,
    /// Exit code (0 healthy).
    pub exit_code: i64,
    /// The first 4 KiB of its output.
    pub output: String,
}

/// The container's runtime state (`.State`), stored as `state.json` and updated by the
/// command that changes it or by the monitor.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct State {
    /// `created`, `running`, `paused`, `restarting`, `exited`, `dead`.
    pub status: String,
    /// Running (or paused).
    pub running: bool,
    /// Frozen.
    pub paused: bool,
    /// Between an exit and the restart the policy asks for.
    pub restarting: bool,
    /// The cgroup's OOM killer killed a process of this run.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Could not be cleaned up.
    pub dead: bool,
    /// Init's pid on the host (0 when not running).
    pub pid: i32,
    /// The last exit code (128+n for signal n).
    pub exit_code: i32,
    /// Why the last start failed.
    pub error: String,
    /// Last start (RFC 3339; Docker's zero time when never).
    pub started_at: String,
    /// Last exit.
    pub finished_at: String,
    /// Health check results, when the container has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// berth's own bookkeeping (not in Docker's output).
    #[serde(rename = "Berth")]
    pub berth: Bookkeeping,
}

/// What berth needs besides Docker's fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Bookkeeping {
    /// The monitor process (0: none).
    pub monitor_pid: i32,
    /// Its start time in clock ticks (pid reuse guard).
    pub monitor_start: u64,
    /// Init's start time in clock ticks.
    pub pid_start: u64,
    /// Restarts done by the policy.
    pub restart_count: i64,
    /// A user stopped it: the policy must not restart it.
    pub stopped_by_user: bool,
}

/// Docker's "never" time.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl State {
    /// A fresh state for a created container.
    pub fn created() -> State {
        State {
            status: "created".into(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            ..State::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opt_is_null_when_empty_and_reads_back() {
        let h = HostConfig::default();
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["SecurityOpt"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<HostConfig>(v).unwrap(), h);
        let h = HostConfig {
            security_opt: vec!["seccomp=unconfined".into()],
            ..Default::default()
        };
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["SecurityOpt"], serde_json::json!(["seccomp=unconfined"]));
        assert_eq!(serde_json::from_value::<HostConfig>(v).unwrap(), h);
        let old: HostConfig = serde_json::from_str(r#"{"SecurityOpt": []}"#).unwrap();
        assert!(old.security_opt.is_empty());
    }
}
