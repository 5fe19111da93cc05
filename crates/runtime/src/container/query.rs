//! `state`, `list`, `ps`, `update`, `events`: reading and adjusting a container.

use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use super::{load_in, manager, status};
use crate::error::Result;
use crate::state::{Record, Root, Status};

/// The OCI state document, plus runc's extra fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDoc {
    /// OCI version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Live status.
    pub status: Status,
    /// Init's pid (0 when stopped).
    pub pid: i32,
    /// Bundle path.
    pub bundle: String,
    /// Rootfs path.
    pub rootfs: String,
    /// Creation time.
    pub created: String,
    /// Owner.
    pub owner: String,
    /// Annotations.
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: std::collections::HashMap<String, String>,
}

/// The state document of `rec`.
pub fn state_doc(root: &Root, rec: &Record) -> StateDoc {
    let st = status(root, rec);
    StateDoc {
        oci_version: rec.oci_version.clone(),
        id: rec.id.clone(),
        status: st,
        pid: if st == Status::Stopped { 0 } else { rec.pid },
        bundle: rec.bundle.display().to_string(),
        rootfs: rec.rootfs.display().to_string(),
        created: rec.created.clone(),
        owner: rec.owner.clone(),
        annotations: rec.annotations.clone(),
    }
}

/// State of container `id`.
pub fn state(root: &Root, id: &str) -> Result<StateDoc> {
    let rec = root.load(id)?;
    Ok(state_doc(root, &rec))
}

/// States of every container (ones whose create is still running are skipped).
pub fn list(root: &Root) -> Result<Vec<StateDoc>> {
    let mut out = Vec::new();
    for id in root.ids()? {
        if let Ok(rec) = root.load(&id) {
            out.push(state_doc(root, &rec));
        }
    }
    Ok(out)
}

/// Pids of every process in the container's cgroup.
pub fn pids(root: &Root, id: &str) -> Result<Vec<i32>> {
    let rec = root.load(id)?;
    if status(root, &rec) == Status::Stopped {
        return Ok(vec![]);
    }
    Ok(manager(&rec)?.pids()?)
}

/// Apply new resource limits to a running, created or paused container and record them.
pub fn update(root: &Root, id: &str, r: &LinuxResources) -> Result<()> {
    let allowed = [Status::Created, Status::Running, Status::Paused];
    let (rec, _) = load_in(root, id, "update", &allowed, "created, running or paused")?;
    manager(&rec)?.set(r)?;
    let mut spec = root.load_spec(id)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_resources(Some(r.clone()));
    }
    Ok(root.write_json(id, "config.json", &spec)?)
}

/// One event as runc's `events` prints it.
#[derive(Debug, Serialize)]
pub struct Event {
    /// `stats` or `oom`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Container id.
    pub id: String,
    /// Stats for `stats` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<berth_cgroups::Stats>,
}

/// Stats of container `id` now.
pub fn stats(root: &Root, id: &str) -> Result<Event> {
    let allowed = [Status::Created, Status::Running, Status::Paused];
    let (rec, _) = load_in(root, id, "events", &allowed, "created, running or paused")?;
    Ok(Event {
        kind: "stats",
        id: id.into(),
        data: Some(manager(&rec)?.stats()?),
    })
}

/// Stream events until the container stops: stats every `interval`, and an `oom` event
/// whenever the cgroup's OOM-kill count grows.
pub fn events(
    root: &Root,
    id: &str,
    interval: Duration,
    mut emit: impl FnMut(&Event),
) -> Result<()> {
    let allowed = [Status::Created, Status::Running, Status::Paused];
    let (rec, _) = load_in(root, id, "events", &allowed, "created, running or paused")?;
    let cg = manager(&rec)?;
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    let tick = Duration::from_millis(100).min(interval);
    let mut since = Duration::ZERO;
    loop {
        let now = cg.oom_kill_count().unwrap_or(ooms);
        if now > ooms {
            emit(&Event {
                kind: "oom",
                id: id.into(),
                data: None,
            });
            ooms = now;
        }
        if !rec.init_alive() {
            return Ok(());
        }
        if since >= interval {
            since = Duration::ZERO;
            if let Ok(s) = cg.stats() {
                emit(&Event {
                    kind: "stats",
                    id: id.into(),
                    data: Some(s),
                });
            }
        }
        super::wait::wait_exit(rec.pid, tick);
        since += tick;
    }
}
