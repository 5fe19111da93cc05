//! `berth create`, and the container flags `run` shares, with Docker's spellings.

use std::collections::BTreeMap;

use berth_engine::config::{
    Container, DeviceMapping, Healthcheck, LogConfig, Mount, RestartPolicy,
};
use berth_engine::engine::CreateRequest;
use berth_engine::limits::{parse_pids_limit, parse_ulimit};
use berth_engine::resources::{parse_bytes, parse_cpus, parse_swap};
use berth_engine::{Engine, Error};

/// The flags of `create` and `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct CreateFlags {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name.
    #[arg(long)]
    pub domainname: Option<String>,
    /// Bind mount a volume (host-path:ctr-path[:ro] or name:ctr-path).
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=..,target=..[,readonly]).
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory (path[:options]).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// IPC mode to use (private, shareable, host, container:NAME).
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use (host, container:NAME).
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use (host).
    #[arg(long)]
    pub uts: Option<String>,
    /// Cgroup namespace to use (host|private).
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// User namespace to use (host, auto, auto:size=N).
    #[arg(long)]
    pub userns: Option<String>,
    /// Map container uids to host uids in a new user namespace (CONTAINER:HOST:SIZE).
    #[arg(long)]
    pub uidmap: Vec<String>,
    /// Map container gids to host gids (CONTAINER:HOST:SIZE; default: as --uidmap).
    #[arg(long)]
    pub gidmap: Vec<String>,
    /// Connect a container to a network (bridge, NAME, none, host, container:NAME).
    #[arg(long, alias = "net", env = "BERTH_NETWORK", default_value = "bridge")]
    pub network: String,
    /// IPv4 address (e.g., 172.30.100.104) on a user-defined network.
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33) on a user-defined network with IPv6.
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add a network-scoped alias for the container.
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Memory limit.
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Disable OOM Killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Number of CPUs.
    #[arg(long, allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set 0 or -1 for unlimited; default: `berth info`).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Add a host device to the container (host[:ctr[:perms]]).
    #[arg(long)]
    pub device: Vec<String>,
    /// Ulimit options (name=soft[:hard]; defaults: `berth info`).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Sysctl options (key=value).
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm.
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Security options.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Set meta data on a container (key=value).
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Restart policy to apply when a container exits (no, on-failure[:N], always, unless-stopped).
    #[arg(long)]
    pub restart: Option<String>,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Log driver options (max-size=10m, max-file=3).
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Logging driver for the container (json-file, none).
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run.
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries.
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Optional parent cgroup for the container.
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Runtime to use for this container (berth, or a runc-compatible binary).
    #[arg(long)]
    pub runtime: Option<String>,
    /// Publish a container's port(s) to the host: `[[ip:][hostPort]:]containerPort[/proto]`.
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish every exposed port to a free host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// The image, then the command and its arguments. One positional, so that everything
    /// after the image is the command's, even `-c` (which would otherwise be taken for
    /// `--cpu-shares`): flag parsing stops at the image, as in Docker.
    #[arg(trailing_var_arg = true, required = true, value_name = "IMAGE")]
    pub image_and_cmd: Vec<String>,
}

/// `-p` values as Docker's `PortBindings` (`"80/tcp": [{HostIp, HostPort}]`; empty
/// strings for every address and a free port).
fn port_bindings(
    values: &[String],
) -> Result<BTreeMap<String, Vec<berth_engine::config::PortBinding>>, Error> {
    let mut out: BTreeMap<String, Vec<berth_engine::config::PortBinding>> = BTreeMap::new();
    for v in values {
        for s in berth_network::ports::parse(v)? {
            let show = |set: bool, x: String| if set { x } else { String::new() };
            out.entry(format!("{}/{}", s.container_port, s.proto))
                .or_default()
                .push(berth_engine::config::PortBinding {
                    host_ip: show(!s.host_ip.is_unspecified(), s.host_ip.to_string()),
                    host_port: show(s.host_port != 0, s.host_port.to_string()),
                });
        }
    }
    Ok(out)
}

fn kv(flag: &'static str, s: &str) -> Result<(String, String), Error> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Error::invalid(flag, s, "expected key=value"))
}

fn duration_ns(flag: &'static str, s: &str) -> Result<i64, Error> {
    humantime::parse_duration(s)
        .map(|d| d.as_nanos() as i64)
        .map_err(|e| Error::invalid(flag, s, e.to_string()))
}

impl CreateFlags {
    /// The engine's create request.
    pub fn request(&self, online_cpus: usize) -> Result<CreateRequest, Error> {
        let mut c = Container::default();
        self.fill_config(&mut c)?;
        self.fill_host(&mut c, online_cpus)?;
        if self.ip.is_some() || self.ip6.is_some() || !self.network_alias.is_empty() {
            let mut e = berth_engine::config::EndpointSettings::default();
            e.ipam_config.ipv4_address = self.ip.clone().unwrap_or_default();
            e.ipam_config.ipv6_address = self.ip6.clone().unwrap_or_default();
            e.aliases = self.network_alias.clone();
            c.networking_config
                .endpoints_config
                .insert(self.network.clone(), e);
        }
        Ok(CreateRequest {
            container: c,
            name: self.name.clone().unwrap_or_default(),
            entrypoint_given: self.entrypoint.is_some(),
        })
    }

    fn fill_config(&self, c: &mut Container) -> Result<(), Error> {
        let cfg = &mut c.config;
        let (image, cmd) = self
            .image_and_cmd
            .split_first()
            .map(|(i, c)| (i.clone(), c.to_vec()))
            .unwrap_or_default();
        cfg.image = image;
        cfg.tty = self.tty;
        cfg.open_stdin = self.interactive;
        cfg.stdin_once = self.interactive;
        cfg.attach_stdin = self.interactive;
        cfg.attach_stdout = true;
        cfg.attach_stderr = true;
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::invalid("--env-file", f, e.to_string()))?;
            for l in text.lines().map(str::trim) {
                if !l.is_empty() && !l.starts_with('#') {
                    cfg.env.push(env_entry(l));
                }
            }
        }
        cfg.env.extend(self.env.iter().map(|e| env_entry(e)));
        if !cmd.is_empty() {
            cfg.cmd = Some(cmd);
        }
        if let Some(e) = &self.entrypoint {
            cfg.entrypoint = if e.is_empty() {
                None
            } else {
                Some(vec![e.clone()])
            };
        }
        cfg.working_dir = self.workdir.clone().unwrap_or_default();
        if !cfg.working_dir.is_empty() && !cfg.working_dir.starts_with('/') {
            return Err(Error::invalid(
                "--workdir",
                &cfg.working_dir,
                "the working directory must be an absolute path",
            ));
        }
        cfg.user = self.user.clone().unwrap_or_default();
        cfg.hostname = self.hostname.clone().unwrap_or_default();
        cfg.domainname = self.domainname.clone().unwrap_or_default();
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            cfg.labels.insert(k.into(), v.into());
        }
        if let Some(s) = &self.stop_signal {
            if berth_runtime::container::signals::parse(s).is_none() {
                return Err(Error::invalid("--stop-signal", s, "unknown signal"));
            }
            cfg.stop_signal = Some(s.clone());
        }
        cfg.stop_timeout = self.stop_timeout;
        cfg.healthcheck = self.healthcheck()?;
        Ok(())
    }

    fn healthcheck(&self) -> Result<Option<Healthcheck>, Error> {
        if self.no_healthcheck {
            return Ok(Some(Healthcheck {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        let Some(cmd) = &self.health_cmd else {
            return Ok(None);
        };
        let d = |flag, v: &Option<String>, def: i64| match v {
            Some(s) => duration_ns(flag, s),
            None => Ok(def),
        };
        Ok(Some(Healthcheck {
            test: vec!["CMD-SHELL".into(), cmd.clone()],
            interval: d("--health-interval", &self.health_interval, 30_000_000_000)?,
            timeout: d("--health-timeout", &self.health_timeout, 30_000_000_000)?,
            retries: self.health_retries.unwrap_or(3),
            start_period: d("--health-start-period", &self.health_start_period, 0)?,
        }))
    }

    fn fill_host(&self, c: &mut Container, online_cpus: usize) -> Result<(), Error> {
        let h = &mut c.host_config;
        h.binds = self.volume.clone();
        for v in &self.volume {
            // `-v /path` alone is an anonymous volume (the engine names it).
            if v.split(':').count() < 2 && !v.starts_with('/') {
                return Err(Error::invalid(
                    "-v",
                    v,
                    "expected SOURCE:TARGET[:OPTIONS] or an absolute path",
                ));
            }
        }
        h.mounts = self
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<_, _>>()?;
        for t in &self.tmpfs {
            let (p, o) = t.split_once(':').unwrap_or((t, ""));
            if !p.starts_with('/') {
                return Err(Error::invalid("--tmpfs", t, "the path must be absolute"));
            }
            h.tmpfs.insert(p.into(), o.into());
        }
        h.readonly_rootfs = self.read_only;
        h.init = self.init.then_some(true);
        h.ipc_mode = self.ipc.clone().unwrap_or_else(|| "private".into());
        h.pid_mode = self.pid.clone().unwrap_or_default();
        h.uts_mode = self.uts.clone().unwrap_or_default();
        h.cgroupns_mode = self.cgroupns.clone().unwrap_or_default();
        h.userns_mode = self.userns.clone().unwrap_or_default();
        h.id_mappings.uid_map = self.uidmap.clone();
        h.id_mappings.gid_map = self.gidmap.clone();
        h.network_mode = self.network.clone();
        h.dns = self.dns.clone();
        h.extra_hosts = self.add_host.clone();
        self.fill_resources(h, online_cpus)?;
        h.cap_add = self.cap_add.clone();
        h.cap_drop = self.cap_drop.clone();
        h.privileged = self.privileged;
        h.security_opt = self.security_opt.clone();
        for s in &self.sysctl {
            let (k, v) = kv("--sysctl", s)?;
            h.sysctls.insert(k, v);
        }
        h.restart_policy = parse_restart(self.restart.as_deref().unwrap_or("no"))?;
        if self.rm && !matches!(h.restart_policy.name.as_str(), "" | "no") {
            return Err(Error::invalid(
                "--restart",
                &h.restart_policy.name,
                "conflicts with --rm",
            ));
        }
        h.auto_remove = self.rm;
        h.log_config = LogConfig {
            kind: self
                .log_driver
                .clone()
                .unwrap_or_else(|| "json-file".into()),
            config: self
                .log_opt
                .iter()
                .map(|o| kv("--log-opt", o))
                .collect::<Result<BTreeMap<_, _>, _>>()?,
        };
        if !matches!(h.log_config.kind.as_str(), "json-file" | "none") {
            return Err(Error::invalid(
                "--log-driver",
                &h.log_config.kind,
                "only json-file and none are available",
            ));
        }
        h.cgroup_parent = self.cgroup_parent.clone().unwrap_or_default();
        h.runtime = self.runtime.clone().unwrap_or_default();
        h.port_bindings = port_bindings(&self.publish)?;
        h.publish_all_ports = self.publish_all;
        // A published port is an exposed one too (Docker's `ExposedPorts`).
        for k in c.host_config.port_bindings.keys() {
            c.config
                .exposed_ports
                .entry(k.clone())
                .or_insert(serde_json::json!({}));
        }
        Ok(())
    }

    fn fill_resources(
        &self,
        h: &mut berth_engine::config::HostConfig,
        online_cpus: usize,
    ) -> Result<(), Error> {
        if let Some(m) = &self.memory {
            h.memory = parse_bytes("--memory", m)?;
        }
        if let Some(m) = &self.memory_swap {
            h.memory_swap = parse_swap(m)?;
        }
        if let Some(m) = &self.memory_reservation {
            h.memory_reservation = parse_bytes("--memory-reservation", m)?;
        }
        h.oom_kill_disable = self.oom_kill_disable;
        if let Some(c) = &self.cpus {
            h.nano_cpus = parse_cpus(c, online_cpus)?;
        }
        h.cpu_shares = self.cpu_shares.unwrap_or(0);
        h.cpu_quota = self.cpu_quota.unwrap_or(0);
        h.cpu_period = self.cpu_period.unwrap_or(0);
        h.cpuset_cpus = self.cpuset_cpus.clone().unwrap_or_default();
        h.cpuset_mems = self.cpuset_mems.clone().unwrap_or_default();
        h.pids_limit = match &self.pids_limit {
            Some(p) => parse_pids_limit("--pids-limit", p)?,
            None => 0,
        };
        h.blkio_weight = self.blkio_weight.unwrap_or(0);
        if let Some(s) = &self.shm_size {
            h.shm_size = parse_bytes("--shm-size", s)?;
        }
        h.devices = self
            .device
            .iter()
            .map(|d| parse_device(d))
            .collect::<Result<_, _>>()?;
        h.ulimits = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit("--ulimit", u))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

/// `-e KEY` takes the value from our environment, as Docker does.
fn env_entry(e: &str) -> String {
    if e.contains('=') {
        e.to_string()
    } else {
        format!("{e}={}", std::env::var(e).unwrap_or_default())
    }
}

/// `--restart`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy, Error> {
    let (name, n) = s.split_once(':').unwrap_or((s, ""));
    match name {
        "no" | "always" | "unless-stopped" if n.is_empty() => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: 0,
        }),
        "on-failure" => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: if n.is_empty() {
                0
            } else {
                n.parse()
                    .ok()
                    .filter(|n: &i64| *n >= 0)
                    .ok_or_else(|| Error::invalid("--restart", s, "bad retry count"))?
            },
        }),
        _ => Err(Error::invalid(
            "--restart",
            s,
            "expected no, always, unless-stopped or on-failure[:N]",
        )),
    }
}

fn parse_mount(s: &str) -> Result<Mount, Error> {
    let mut m = Mount::default();
    for part in s.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            "type" => m.kind = v.into(),
            "source" | "src" => m.source = v.into(),
            "target" | "destination" | "dst" => m.target = v.into(),
            "readonly" | "ro" => m.read_only = v.is_empty() || v == "true" || v == "1",
            "bind-propagation" => m.bind_propagation = v.into(),
            "tmpfs-size" => m.tmpfs_size = parse_bytes("--mount tmpfs-size", v)?,
            "tmpfs-mode" => {
                m.tmpfs_mode = u32::from_str_radix(v, 8)
                    .map_err(|_| Error::invalid("--mount", s, "tmpfs-mode must be octal"))?
            }
            _ => return Err(Error::invalid("--mount", s, format!("unknown key `{k}`"))),
        }
    }
    if m.kind.is_empty() {
        m.kind = "volume".into();
    }
    if !matches!(m.kind.as_str(), "bind" | "volume" | "tmpfs") {
        return Err(Error::invalid(
            "--mount",
            s,
            "type must be bind, volume or tmpfs",
        ));
    }
    if !m.target.starts_with('/') {
        return Err(Error::invalid(
            "--mount",
            s,
            "target must be an absolute path",
        ));
    }
    if m.kind == "bind" && m.source.is_empty() {
        return Err(Error::invalid("--mount", s, "source is required"));
    }
    Ok(m)
}

fn parse_device(s: &str) -> Result<DeviceMapping, Error> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if c.chars().all(|x| "rwm".contains(x)) => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => {
            return Err(Error::invalid(
                "--device",
                s,
                "expected host[:container[:rwm]]",
            ))
        }
    };
    if !perms.chars().all(|x| "rwm".contains(x)) || perms.is_empty() {
        return Err(Error::invalid(
            "--device",
            s,
            "permissions must be a subset of rwm",
        ));
    }
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: ctr.into(),
        cgroup_permissions: perms.into(),
    })
}

/// `create` arguments.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"
)]
pub struct Args {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    flags: CreateFlags,
}

/// Creates the container and prints its id.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let req = a.flags.request(online_cpus())?;
    let c = eng.create(req)?;
    println!("{}", c.id);
    Ok(0)
}

/// How many CPUs the host has online.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        assert_eq!(
            parse_restart("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:3").is_err());
    }

    #[test]
    fn mounts_and_devices() {
        let m = parse_mount("type=bind,source=/tmp,target=/x,readonly").unwrap();
        assert!(m.read_only && m.kind == "bind");
        assert!(parse_mount("type=bind,target=/x").is_err());
        assert!(parse_mount("type=tmpfs,target=rel").is_err());
        let d = parse_device("/dev/null:/dev/n:r").unwrap();
        assert_eq!(d.cgroup_permissions, "r");
        assert_eq!(
            parse_device("/dev/null:rw").unwrap().path_in_container,
            "/dev/null"
        );
    }
}
