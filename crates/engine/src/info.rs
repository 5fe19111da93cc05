//! `system info`: Docker's `docker info` document (same field names, so `--format
//! '{{.CgroupVersion}}'` works), read from the store and the host.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::Result;

/// The engine's version (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Docker's info document for this engine and host.
pub fn info(eng: &Engine) -> Result<Value> {
    let listed = crate::inspect::list(eng)?;
    let paused = listed.iter().filter(|l| l.state.paused).count();
    let running = listed
        .iter()
        .filter(|l| l.state.running && !l.state.paused)
        .count();
    let images = berth_image::image::list(&eng.images)?.len();
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (os, os_version) = os_release(&fs::read_to_string("/etc/os-release").unwrap_or_default());
    let mem = mem_total(&fs::read_to_string("/proc/meminfo").unwrap_or_default());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let security = crate::hostsec::Features::read();
    Ok(json!({
        "ID": engine_id(eng.root()),
        "Containers": listed.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": listed.len() - running - paused,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", backing_fs(eng.root())],
            ["Supports d_type", "true"],
        ],
        "Plugins": {"Volume": ["local"], "Network": ["none"], "Log": ["json-file", "none"]},
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if crate::resources::cgroup_v2() { "2" } else { "1" },
        "KernelVersion": field(|u| u.release()),
        "OperatingSystem": os,
        "OSVersion": os_version,
        "OSType": "linux",
        "Architecture": field(|u| u.machine()),
        "NCPU": cpus,
        "MemTotal": mem,
        "DockerRootDir": eng.root(),
        "Name": field(|u| u.nodename()),
        "ServerVersion": VERSION,
        "Runtimes": runtimes(&eng.opts.runtime),
        "DefaultRuntime": eng.opts.runtime,
        "InitBinary": "berth-init",
        "SecurityOptions": security.security_options(),
        "SecurityFeatures": security.to_json(),
        "DefaultPidsLimit": crate::limits::effective_pids_default(eng.opts.default_pids_limit),
        "DefaultUlimits": crate::limits::effective_defaults(&eng.opts.default_ulimits),
        "Warnings": [],
    }))
}

/// The running kernel's release (`uname -r`).
pub fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A stable id for this store, made on first use (Docker's engine ID).
fn engine_id(root: &Path) -> String {
    let path = root.join("engine-id");
    if let Ok(id) = fs::read_to_string(&path) {
        return id.trim().to_string();
    }
    let id = crate::store::new_id().unwrap_or_default();
    let _ = crate::store::write_file(&path, id.as_bytes());
    fs::read_to_string(&path).map_or(id, |s| s.trim().to_string())
}

/// Docker's name of the filesystem under the store (`extfs`, `xfs`, ...).
fn backing_fs(root: &Path) -> String {
    let Ok(st) = nix::sys::statfs::statfs(root) else {
        return "unknown".into();
    };
    fs_name(st.filesystem_type().0 as u64).into()
}

fn fs_name(magic: u64) -> &'static str {
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6573_5546 => "fuseblk",
        0x5346_544E => "ntfs",
        _ => "unknown",
    }
}

/// `PRETTY_NAME` and `VERSION_ID` of os-release.
fn os_release(text: &str) -> (String, String) {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let pretty = get("PRETTY_NAME");
    (
        if pretty.is_empty() {
            "Linux".into()
        } else {
            pretty
        },
        get("VERSION_ID"),
    )
}

/// `MemTotal` of /proc/meminfo, in bytes.
fn mem_total(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The built-in runtime and any runc-compatible one given or found on PATH.
fn runtimes(default: &str) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("berth".into(), json!({"path": "berth (built in)"}));
    let path = std::env::var("PATH").unwrap_or_default();
    for name in ["runc", "crun", "youki"] {
        if let Some(dir) = path.split(':').find(|d| Path::new(d).join(name).is_file()) {
            m.insert(name.into(), json!({"path": format!("{dir}/{name}")}));
        }
    }
    if default != "berth" && !m.contains_key(default) {
        m.insert(default.into(), json!({"path": default}));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_files_parse() {
        let os = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_release(os),
            ("Debian GNU/Linux 12 (bookworm)".into(), "12".into())
        );
        assert_eq!(os_release("").0, "Linux");
        assert_eq!(
            mem_total("MemTotal:       16318412 kB\nMemFree: 1 kB\n"),
            16_318_412 * 1024
        );
        assert_eq!(mem_total(""), 0);
        assert_eq!((fs_name(0xEF53), fs_name(1)), ("extfs", "unknown"));
    }
}
