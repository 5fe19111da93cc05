//! What `inspect` and `ps` show of a container, in Docker's shapes.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::config::{Container, State};
use crate::engine::Engine;
use crate::error::Result;

/// One container as listed: its configuration and its (reconciled) state.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Configuration (default for a half-created container).
    pub container: Container,
    /// State.
    pub state: State,
}

/// Every container, newest first.
pub fn list(eng: &Engine) -> Result<Vec<Listed>> {
    let mut out = vec![];
    for id in eng.containers.ids()? {
        let container = match eng.containers.config(&id) {
            Ok(c) => c,
            Err(_) => Container {
                id: id.clone(),
                ..Default::default()
            },
        };
        let state = match crate::lifecycle::status(eng, &id) {
            Ok(s) if !container.created.is_empty() => s,
            _ => State {
                status: "dead".into(),
                dead: true,
                ..State::created()
            },
        };
        out.push(Listed { container, state });
    }
    out.sort_by(|a, b| b.container.created.cmp(&a.container.created));
    Ok(out)
}

/// Docker's inspect document of container `key`.
pub fn inspect(eng: &Engine, key: &str) -> Result<Value> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id)?;
    let st = crate::lifecycle::status(eng, &id)?;
    let dir = eng.dir(&id);
    let mut state = serde_json::to_value(&st).unwrap_or_default();
    if let Some(o) = state.as_object_mut() {
        o.remove("Berth");
    }
    let lowers: Vec<String> = eng
        .snaps
        .lower_dirs(&id)
        .unwrap_or_default()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let path = |r: std::result::Result<std::path::PathBuf, _>| {
        r.map(|p: std::path::PathBuf| p.display().to_string())
            .unwrap_or_default()
    };
    let security = crate::security::summary(&c.host_config, crate::security::Lsm::host());
    // Docker's HostConfig shows the masked and read-only paths the container runs with.
    let mut host_config = serde_json::to_value(&c.host_config).unwrap_or_default();
    host_config["MaskedPaths"] = security["MaskedPaths"].clone();
    host_config["ReadonlyPaths"] = security["ReadonlyPaths"].clone();
    Ok(json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state,
        "Image": c.image,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": crate::logs::path(&dir, &id),
        "Name": c.name,
        "RestartCount": st.berth.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": security["MountLabel"],
        "ProcessLabel": security["SELinuxLabel"],
        "AppArmorProfile": security["AppArmorProfile"],
        "ExecIDs": Value::Null,
        "HostConfig": host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": lowers.join(":"),
                "MergedDir": path(eng.snaps.merged_dir(&id)),
                "UpperDir": path(eng.snaps.upper_dir(&id)),
                "WorkDir": path(eng.snaps.work_dir(&id)),
            },
            "Name": "overlay2",
        },
        "Mounts": mounts(eng, &c),
        "Config": c.config,
        "NetworkSettings": crate::network::settings(eng, &id),
        "Namespaces": namespaces(st.pid),
        "Berth": {
            "Seccomp": crate::spec::final_caps(&c.host_config)
                .map(|caps| crate::security::describe(&c.host_config, &caps))
                .unwrap_or_default(),
            "Security": security,
        },
    }))
}

fn mounts(eng: &Engine, c: &Container) -> Vec<Value> {
    let binds = crate::monitor::binds(eng, c, false).unwrap_or_default();
    binds
        .iter()
        .map(|b| {
            let volume = b
                .source
                .strip_prefix(eng.root().join("volumes"))
                .ok()
                .and_then(|p| p.iter().next())
                .map(|n| n.to_string_lossy().into_owned());
            json!({
                "Type": if volume.is_some() { "volume" } else { "bind" },
                "Name": volume.clone().unwrap_or_default(),
                "Source": b.source,
                "Destination": b.target,
                "Driver": if volume.is_some() { "local" } else { "" },
                "Mode": if b.read_only { "ro" } else { "" },
                "RW": !b.read_only,
                "Propagation": if volume.is_some() { "" } else { b.propagation.as_str() },
            })
        })
        .collect()
}

/// The inode numbers of init's namespaces, as `lsns` shows them.
fn namespaces(pid: i32) -> Value {
    let mut m = serde_json::Map::new();
    if pid <= 0 {
        return Value::Object(m);
    }
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        let link = std::fs::read_link(format!("/proc/{pid}/ns/{ns}"));
        let inode = link.ok().and_then(|l| {
            let s = l.to_string_lossy().into_owned();
            s.split_once('[')
                .and_then(|(_, r)| r.trim_end_matches(']').parse::<u64>().ok())
        });
        if let Some(n) = inode {
            m.insert(ns.into(), json!(n));
        }
    }
    Value::Object(m)
}

/// Docker's `ps` STATUS column.
pub fn status_text(st: &State, now: SystemTime) -> String {
    let ago = |t: &str| {
        humantime::parse_rfc3339_weak(t)
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .map(human_duration)
            .unwrap_or_else(|| "Less than a second".into())
    };
    match st.status.as_str() {
        "running" | "paused" => {
            let mut s = format!("Up {}", ago(&st.started_at));
            if let Some(h) = &st.health {
                s.push_str(&format!(
                    " ({})",
                    if h.status == "starting" {
                        "health: starting"
                    } else {
                        &h.status
                    }
                ));
            }
            if st.paused {
                s.push_str(" (Paused)");
            }
            s
        }
        "restarting" => format!("Restarting ({}) {} ago", st.exit_code, ago(&st.finished_at)),
        "exited" => format!("Exited ({}) {} ago", st.exit_code, ago(&st.finished_at)),
        "created" => "Created".into(),
        "dead" => "Dead".into(),
        other => other.to_string(),
    }
}

/// Docker's human durations ("3 seconds", "About a minute", "2 hours").
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h, days) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{days} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", days / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    }
}

/// The COMMAND column: the command line, quoted, cut to 20 characters unless `full`.
pub fn command_text(c: &Container, full: bool) -> String {
    let mut cmd = std::iter::once(c.path.clone())
        .chain(c.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    if !full && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    format!("\"{cmd}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        let d = |s| human_duration(Duration::from_secs(s));
        assert_eq!(d(0), "Less than a second");
        assert_eq!(d(5), "5 seconds");
        assert_eq!(d(70), "About a minute");
        assert_eq!(d(300), "5 minutes");
        assert_eq!(d(3700), "About an hour");
        assert_eq!(d(7300), "2 hours");
        assert_eq!(d(86400 * 3), "3 days");
    }

    #[test]
    fn status_column() {
        let now = SystemTime::now();
        let t = humantime::format_rfc3339(now - Duration::from_secs(5)).to_string();
        let mut st = State {
            status: "exited".into(),
            exit_code: 3,
            finished_at: t.clone(),
            ..State::created()
        };
        assert_eq!(status_text(&st, now), "Exited (3) 5 seconds ago");
        st.status = "paused".into();
        st.paused = true;
        st.started_at = t;
        assert_eq!(status_text(&st, now), "Up 5 seconds (Paused)");
        assert_eq!(status_text(&State::created(), now), "Created");
    }

    #[test]
    fn command_is_cut_to_twenty() {
        let c = Container {
            path: "sh".into(),
            args: vec!["-c".into(), "while true; do sleep 1; done".into()],
            ..Default::default()
        };
        assert_eq!(command_text(&c, false).chars().count(), 22);
        assert!(command_text(&c, true).contains("done"));
    }
}
