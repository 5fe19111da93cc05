//! A container's configuration turned into the OCI spec its runtime runs, the way Docker
//! fills one in: default capabilities, mounts, masked paths and device rules, then the
//! user's options on top.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::config::{Container, HostConfig};
use crate::error::{Error, Result};
use crate::user::Ids;

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's masked paths.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Default /dev/shm size (Docker's 64 MiB).
pub const DEFAULT_SHM: i64 = 64 << 20;

/// Where the built-in init is mounted for `--init`.
pub const INIT_PATH: &str = "/sbin/berth-init";

/// Namespaces to join instead of making new ones: `--pid/--ipc/--network container:X` give
/// X's init pid.
#[derive(Debug, Default, Clone)]
pub struct Joined {
    /// Share this process's pid namespace.
    pub pid: Option<i32>,
    /// Share this process's ipc namespace.
    pub ipc: Option<i32>,
    /// Share this process's network namespace.
    pub net: Option<i32>,
}

/// Everything besides the container's config that the spec depends on.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The mounted rootfs.
    pub rootfs: &'a Path,
    /// The container's directory (hostname, hosts, resolv.conf live there).
    pub dir: &'a Path,
    /// The resolved user.
    pub ids: &'a Ids,
    /// `linux.cgroupsPath`.
    pub cgroups_path: String,
    /// Namespaces shared with other containers.
    pub joined: Joined,
    /// The host's `--init` binary, when asked for.
    pub init: Option<PathBuf>,
    /// Capabilities the host's bounding set has (what `--privileged` grants).
    pub host_caps: Vec<String>,
    /// Resolved `-v`/`--mount` sources: (source on the host, target, read-only, propagation).
    pub binds: Vec<Bind>,
    /// A host directory to bind at /dev/shm (`--ipc shareable|host|container:X`).
    pub shm: Option<PathBuf>,
}

/// One bind mount, resolved to a host path.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    /// Host path.
    pub source: PathBuf,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// `rprivate`, `rshared`, ...
    pub propagation: String,
    /// Idmapped into the container's user namespace (named volumes, `-v ...:idmap`).
    pub idmap: bool,
}

/// Builds the OCI spec of `c`.
pub fn build(c: &Container, i: &Inputs) -> Result<Value> {
    let h = &c.host_config;
    let argv = c.argv();
    if argv.is_empty() {
        return Err(Error::invalid(
            "command",
            "",
            "no command specified (the image has no Cmd or Entrypoint)",
        ));
    }
    let args = match (h.init.unwrap_or(false), &i.init) {
        (true, Some(_)) => std::iter::once(INIT_PATH.to_string())
            .chain(std::iter::once("--".into()))
            .chain(argv)
            .collect(),
        _ => argv,
    };
    let caps = capabilities(h, &i.host_caps)?;
    let security = crate::security::SecurityOpts::parse(&h.security_opt)?;
    let hostname = hostname(c);
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": c.config.tty,
            "user": {"uid": i.ids.uid, "gid": i.ids.gid, "additionalGids": i.ids.additional},
            "args": args,
            "env": env(c, i.ids),
            "cwd": if c.config.working_dir.is_empty() { "/" } else { &c.config.working_dir },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": rlimits(h)?,
            "noNewPrivileges": security.no_new_privileges,
        },
        "root": {"path": i.rootfs, "readonly": h.readonly_rootfs},
        // Only a UTS namespace of the container's own gets one (the runtime refuses it
        // otherwise: it would rename the host).
        "hostname": (h.uts_mode != "host").then_some(hostname),
        "mounts": mounts(c, i)?,
        "linux": {
            "namespaces": namespaces(h, &i.joined)?,
            "resources": crate::resources::to_oci(h)?,
            "cgroupsPath": i.cgroups_path,
            "sysctl": h.sysctls,
            "devices": devices(h)?,
        },
    });
    if !c.config.domainname.is_empty() {
        spec["domainname"] = json!(c.config.domainname);
    }
    let masked = security.masked_paths(h.privileged);
    if !masked.is_empty() {
        spec["linux"]["maskedPaths"] = json!(masked);
    }
    let readonly = security.readonly_paths(h.privileged);
    if !readonly.is_empty() {
        spec["linux"]["readonlyPaths"] = json!(readonly);
    }
    lsm_labels(&mut spec, &security, crate::security::Lsm::host());
    if let Some(seccomp) = crate::security::section(h, &caps)? {
        spec["linux"]["seccomp"] = seccomp;
    }
    crate::userns::apply(c, &mut spec)?;
    Ok(spec)
}

/// The AppArmor profile and SELinux labels asked for, where their LSM is active (create
/// refused them elsewhere; a host that lost its LSM since runs the container without).
fn lsm_labels(spec: &mut Value, o: &crate::security::SecurityOpts, lsm: crate::security::Lsm) {
    if let Some(p) = o.apparmor_profile(lsm) {
        spec["process"]["apparmorProfile"] = json!(p);
    }
    if lsm.selinux {
        if let (Some(p), Some(m)) = (o.label.process(), o.label.mount()) {
            spec["process"]["selinuxLabel"] = json!(p);
            spec["linux"]["mountLabel"] = json!(m);
        }
    }
}

/// What `build` would refuse at start that can be checked at create: capability names,
/// namespace modes and security options (a `seccomp=PATH` profile is read into `h` here),
/// so that a bad value leaves no container behind.
pub fn validate(h: &mut HostConfig) -> Result<()> {
    let caps = final_caps(h)?;
    namespaces(h, &Joined::default())?;
    crate::security::prepare(h, &caps)
}

/// The container's bounding set: Docker's defaults with `--cap-add`/`--cap-drop`, or the
/// host's whole set for `--privileged` and `--cap-add ALL`.
pub fn final_caps(h: &HostConfig) -> Result<Vec<String>> {
    let all = h.privileged || h.cap_add.iter().any(|a| a.eq_ignore_ascii_case("all"));
    capabilities(h, &if all { host_caps() } else { vec![] })
}

/// The hostname: `-h`, or the first 12 digits of the id (Docker's default); with
/// `--uts host`, the host's own, which the container shares (and cannot change without
/// CAP_SYS_ADMIN), as Docker shows it.
pub fn hostname(c: &Container) -> String {
    if c.host_config.uts_mode == "host" {
        return nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    if c.config.hostname.is_empty() {
        c.short_id().to_string()
    } else {
        c.config.hostname.clone()
    }
}

fn env(c: &Container, ids: &Ids) -> Vec<String> {
    let mut env: Vec<String> = vec![];
    let has = |env: &Vec<String>, k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    for e in &c.config.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !has(&env, "PATH") {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if !has(&env, "HOSTNAME") {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", hostname(c)));
    }
    if c.config.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!(
            "HOME={}",
            ids.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    env
}

/// Normalises a capability name: `chown`, `CHOWN` and `CAP_CHOWN` are all `CAP_CHOWN`.
pub fn cap_name(s: &str) -> String {
    let up = s.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") || up == "ALL" {
        up
    } else {
        format!("CAP_{up}")
    }
}

fn capabilities(h: &HostConfig, host: &[String]) -> Result<Vec<String>> {
    let known = |c: &str| c == "ALL" || c.parse::<caps_names::Cap>().is_ok();
    for (flag, list) in [("--cap-add", &h.cap_add), ("--cap-drop", &h.cap_drop)] {
        for c in list {
            if !known(&cap_name(c)) {
                return Err(Error::invalid(flag, c, "unknown capability"));
            }
        }
    }
    if h.privileged {
        return Ok(host.to_vec());
    }
    let adds: Vec<String> = h.cap_add.iter().map(|c| cap_name(c)).collect();
    let drops: Vec<String> = h.cap_drop.iter().map(|c| cap_name(c)).collect();
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        host.to_vec()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    for a in adds.iter().filter(|c| *c != "ALL") {
        if !caps.contains(a) {
            caps.push(a.clone());
        }
    }
    if drops.iter().any(|c| c == "ALL") {
        caps.retain(|c| adds.contains(c));
    } else {
        caps.retain(|c| !drops.contains(c));
    }
    Ok(caps)
}

/// Capability names the kernel knows (checked without asking the kernel).
mod caps_names {
    /// A known capability name.
    pub struct Cap;
    use berth_sys::caps::NAMES;
    impl std::str::FromStr for Cap {
        type Err = ();
        fn from_str(s: &str) -> Result<Cap, ()> {
            NAMES.contains(&s).then_some(Cap).ok_or(())
        }
    }
    /// Every name, in kernel order.
    pub fn all() -> &'static [&'static str] {
        &NAMES
    }
}

/// Every capability in this process's bounding set (what `--privileged` can grant).
pub fn host_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    caps_names::all()
        .iter()
        .enumerate()
        .filter(|(n, _)| mask & (1u64 << n) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn rlimits(h: &HostConfig) -> Result<Vec<Value>> {
    h.ulimits
        .iter()
        .map(|u| {
            let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
            // -1 is stored for "unlimited" (RLIM_INFINITY).
            let v = |x: i64| if x < 0 { u64::MAX } else { x as u64 };
            Ok(json!({"type": name, "soft": v(u.soft), "hard": v(u.hard)}))
        })
        .collect()
}

fn ns_mode<'a>(mode: &'a str, flag: &'static str, allowed: &[&str]) -> Result<&'a str> {
    if mode.is_empty() || allowed.contains(&mode) || mode.starts_with("container:") {
        Ok(mode)
    } else {
        Err(Error::invalid(
            flag,
            mode,
            format!("must be one of {} or container:NAME", allowed.join(", ")),
        ))
    }
}

fn namespaces(h: &HostConfig, j: &Joined) -> Result<Vec<Value>> {
    let mut ns = vec![json!({"type": "mount"})];
    let join = |t: &str, pid: Option<i32>, kind: &str| match pid {
        Some(p) => json!({"type": t, "path": format!("/proc/{p}/ns/{kind}")}),
        None => json!({"type": t}),
    };
    let pid = ns_mode(&h.pid_mode, "--pid", &["host", "private"])?;
    if pid != "host" {
        ns.push(join("pid", j.pid, "pid"));
    }
    let ipc = ns_mode(
        &h.ipc_mode,
        "--ipc",
        &["host", "private", "shareable", "none"],
    )?;
    if ipc != "host" {
        ns.push(join("ipc", j.ipc, "ipc"));
    }
    if ns_mode(&h.uts_mode, "--uts", &["host"])? != "host" {
        ns.push(json!({"type": "uts"}));
    }
    let net = h.network_mode.as_str();
    if net != "host" {
        ns.push(join("network", j.net, "net"));
    }
    let cg = ns_mode(&h.cgroupns_mode, "--cgroupns", &["host", "private"])?;
    // Docker makes the cgroup namespace private by default on cgroup v2 hosts only.
    if cg == "private" || (cg.is_empty() && crate::resources::cgroup_v2()) {
        ns.push(json!({"type": "cgroup"}));
    }
    Ok(ns)
}

/// The size of the container's /dev/shm: `--shm-size` or Docker's 64 MiB.
pub fn shm_size(h: &HostConfig) -> i64 {
    if h.shm_size > 0 {
        h.shm_size
    } else {
        DEFAULT_SHM
    }
}

fn mounts(c: &Container, i: &Inputs) -> Result<Vec<Value>> {
    let h = &c.host_config;
    let shm = shm_size(h);
    let sys_ro = if h.privileged { "rw" } else { "ro" };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", sys_ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    if let Some(dir) = &i.shm {
        m[6] = json!({"destination": "/dev/shm", "type": "bind", "source": dir, "options": ["rbind", "nosuid", "noexec", "nodev"]});
    }
    if h.network_mode == "host" {
        // The host's network namespace has no sysfs of our own to show.
        m[3] = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", sys_ro]});
    }
    for f in ["hostname", "hosts", "resolv.conf"] {
        if !h
            .binds
            .iter()
            .any(|b| b.split(':').nth(1) == Some(&format!("/etc/{f}")))
        {
            m.push(json!({"destination": format!("/etc/{f}"), "type": "bind", "source": i.dir.join(f), "options": ["rbind", "rprivate"]}));
        }
    }
    if let Some(init) = &i.init {
        if h.init.unwrap_or(false) {
            m.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["rbind", "ro", "rprivate"]}));
        }
    }
    for b in &i.binds {
        let mut o = vec!["rbind".to_string(), b.propagation.clone()];
        if b.read_only {
            o.push("ro".into());
        }
        if b.idmap && !c.host_config.id_mappings.uid_map.is_empty() {
            o.push("idmap".into());
        }
        m.push(json!({"destination": b.target, "type": "bind", "source": b.source, "options": o}));
    }
    for (target, opts) in &h.tmpfs {
        let mut o = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
        o.extend(opts.split(',').filter(|s| !s.is_empty()).map(String::from));
        m.push(json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    for mt in h.mounts.iter().filter(|m| m.kind == "tmpfs") {
        let mut o = vec!["nosuid".to_string(), "nodev".into()];
        if mt.tmpfs_size > 0 {
            o.push(format!("size={}", mt.tmpfs_size));
        }
        if mt.tmpfs_mode > 0 {
            o.push(format!("mode={:o}", mt.tmpfs_mode));
        }
        if mt.read_only {
            o.push("ro".into());
        }
        m.push(json!({"destination": mt.target, "type": "tmpfs", "source": "tmpfs", "options": o}));
    }
    Ok(m)
}

fn devices(h: &HostConfig) -> Result<Vec<Value>> {
    let mut out = vec![];
    for d in &h.devices {
        let meta = nix::sys::stat::stat(d.path_on_host.as_str()).map_err(|e| {
            Error::invalid("--device", &d.path_on_host, format!("cannot stat: {e}"))
        })?;
        let kind = match meta.st_mode & libc::S_IFMT {
            libc::S_IFCHR => "c",
            libc::S_IFBLK => "b",
            _ => {
                return Err(Error::invalid(
                    "--device",
                    &d.path_on_host,
                    "not a character or block device",
                ))
            }
        };
        let rdev = meta.st_rdev;
        out.push(json!({
            "path": if d.path_in_container.is_empty() { &d.path_on_host } else { &d.path_in_container },
            "type": kind,
            "major": libc::major(rdev),
            "minor": libc::minor(rdev),
            "fileMode": meta.st_mode & 0o7777,
            "uid": 0, "gid": 0,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Container;

    fn caps_of(h: HostConfig) -> Vec<String> {
        capabilities(&h, &["CAP_CHOWN".into(), "CAP_SYS_ADMIN".into()]).unwrap()
    }

    #[test]
    fn capability_arithmetic_follows_docker() {
        let d = caps_of(HostConfig::default());
        assert_eq!(d.len(), 14);
        let h = HostConfig {
            cap_drop: vec!["chown".into()],
            cap_add: vec!["SYS_ADMIN".into()],
            ..Default::default()
        };
        let c = caps_of(h);
        assert!(!c.contains(&"CAP_CHOWN".to_string()) && c.contains(&"CAP_SYS_ADMIN".to_string()));
        let h = HostConfig {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["CAP_KILL".into()],
            ..Default::default()
        };
        assert_eq!(caps_of(h), vec!["CAP_KILL".to_string()]);
        let h = HostConfig {
            privileged: true,
            ..Default::default()
        };
        assert_eq!(caps_of(h).len(), 2);
        let h = HostConfig {
            cap_add: vec!["CAP_NOPE".into()],
            ..Default::default()
        };
        let e = capabilities(&h, &[]).unwrap_err().to_string();
        assert!(e.contains("--cap-add") && e.contains("CAP_NOPE"), "{e}");
    }

    #[test]
    fn lsm_labels_only_where_the_lsm_runs() {
        use crate::security::{Lsm, SecurityOpts};
        let o = SecurityOpts::parse(&[
            "label=type:spc_t".to_string(),
            "apparmor=my-profile".to_string(),
        ])
        .unwrap();
        let mut spec = json!({"process": {}, "linux": {}});
        lsm_labels(&mut spec, &o, Lsm::default());
        assert_eq!(spec, json!({"process": {}, "linux": {}}));
        let both = Lsm {
            apparmor: true,
            selinux: true,
        };
        lsm_labels(&mut spec, &o, both);
        assert_eq!(spec["process"]["apparmorProfile"], "my-profile");
        assert_eq!(
            spec["process"]["selinuxLabel"],
            "system_u:system_r:spc_t:s0"
        );
        assert_eq!(
            spec["linux"]["mountLabel"],
            "system_u:object_r:container_file_t:s0"
        );
        let off = SecurityOpts::parse(&["label=disable".to_string()]).unwrap();
        let mut spec = json!({"process": {}, "linux": {}});
        lsm_labels(&mut spec, &off, both);
        assert_eq!(spec, json!({"process": {}, "linux": {}}));
    }

    #[test]
    fn env_gets_path_hostname_and_term() {
        let mut c = Container {
            id: "0123456789abcdef".repeat(4),
            ..Default::default()
        };
        c.config.env = vec!["A=1".into(), "A=2".into()];
        c.config.tty = true;
        let e = env(&c, &Ids::default());
        assert!(e[0].starts_with("PATH="));
        assert!(e.contains(&"HOSTNAME=0123456789ab".to_string()));
        assert!(e.contains(&"A=2".to_string()) && !e.contains(&"A=1".to_string()));
        assert!(e.contains(&"TERM=xterm".to_string()));
    }

    #[test]
    fn namespace_modes() {
        let h = HostConfig {
            pid_mode: "host".into(),
            ipc_mode: "container:x".into(),
            network_mode: "none".into(),
            ..Default::default()
        };
        let j = Joined {
            ipc: Some(42),
            ..Default::default()
        };
        let ns = namespaces(&h, &j).unwrap();
        let types: Vec<&str> = ns.iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert!(!types.contains(&"pid"));
        assert!(ns.iter().any(|n| n["path"] == "/proc/42/ns/ipc"));
        let bad = HostConfig {
            ipc_mode: "bogus".into(),
            ..Default::default()
        };
        assert!(namespaces(&bad, &Joined::default()).is_err());
    }
}
