//! What the runtime's verbs do: create, start, kill, delete, exec, and the queries.

pub mod create;
pub mod delete;
pub mod exec;
pub mod query;
pub mod signals;
pub mod start;
pub mod wait;

use std::os::fd::AsFd;

use crate::error::Result;
use crate::state::{Record, Root, StateError, Status};

/// The live status of a recorded container.
pub fn status(root: &Root, rec: &Record) -> Status {
    let dir = root.container_dir(&rec.id);
    if !rec.init_alive() {
        Status::Stopped
    } else if dir.join("exec.fifo").exists() {
        Status::Created
    } else if dir.join("paused").exists() {
        Status::Paused
    } else {
        Status::Running
    }
}

/// The cgroup manager of a recorded container.
pub fn manager(rec: &Record) -> Result<Box<dyn berth_cgroups::Manager>> {
    Ok(berth_cgroups::create_manager(
        rec.cgroups_path_spec.as_deref(),
        &rec.id,
    )?)
}

/// Load `id` and check its status is one of `allowed`.
pub fn load_in(
    root: &Root,
    id: &str,
    command: &'static str,
    allowed: &[Status],
    wanted: &'static str,
) -> Result<(Record, Status)> {
    let rec = root.load(id)?;
    let st = status(root, &rec);
    if !allowed.contains(&st) {
        return Err(StateError::WrongStatus {
            id: id.into(),
            status: st,
            command,
            wanted,
        }
        .into());
    }
    Ok((rec, st))
}

/// Send `sig` to the container's init (by pidfd, after checking it is still our process),
/// or with `all` to every process in its cgroup.
pub fn kill(root: &Root, id: &str, sig: i32, all: bool) -> Result<()> {
    let allowed = [Status::Created, Status::Running, Status::Paused];
    let (rec, _) = load_in(root, id, "kill", &allowed, "created, running or paused")?;
    if all {
        return Ok(manager(&rec)?.kill_all(sig)?);
    }
    let fd = berth_sys::process::pidfd_open(rec.pid)
        .map_err(crate::error::sys("pidfd_open", rec.pid))?;
    // The pidfd pins the process; check it is still the one we started before signalling.
    if !rec.init_alive() {
        return Err(StateError::WrongStatus {
            id: id.into(),
            status: Status::Stopped,
            command: "kill",
            wanted: "running",
        }
        .into());
    }
    berth_sys::process::pidfd_send_signal(fd.as_fd(), sig)
        .map_err(crate::error::sys("kill", rec.pid))
}

/// Freeze (`pause`) or thaw (`resume`) the container's cgroup.
pub fn set_paused(root: &Root, id: &str, paused: bool) -> Result<()> {
    let (rec, _) = if paused {
        load_in(root, id, "pause", &[Status::Running], "running")?
    } else {
        load_in(root, id, "resume", &[Status::Paused], "paused")?
    };
    manager(&rec)?.freeze(paused)?;
    let marker = root.container_dir(id).join("paused");
    let res = if paused {
        std::fs::write(&marker, b"")
    } else {
        std::fs::remove_file(&marker)
    };
    res.map_err(crate::error::sys("write", marker.display()))
}
