//! `delete`: remove a stopped (or, with force, any) container and everything it owned.

use std::time::Duration;

use super::{manager, status, wait::wait_exit};
use crate::error::Result;
use crate::hooks::{self, HookState};
use crate::state::{Root, StateError, Status};

/// Delete container `id`; with `force` a running one is killed first.
/// A failing poststop hook does not fail the delete (OCI: a warning); it is returned.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<Option<hooks::HookError>> {
    let rec = match root.load(id) {
        Ok(r) => r,
        Err(StateError::NotFound(_)) if force && root.container_dir(id).exists() => {
            // A create that died half-way: nothing recorded but the directory.
            return Ok(root.remove(id).map(|()| None)?);
        }
        Err(StateError::NotFound(_)) if force => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let st = status(root, &rec);
    let cg = manager(&rec)?;
    match st {
        Status::Stopped | Status::Creating => {}
        Status::Created => kill_and_wait(&*cg, rec.pid, false),
        Status::Running | Status::Paused if force => {
            kill_and_wait(&*cg, rec.pid, st == Status::Paused)
        }
        _ => {
            return Err(StateError::WrongStatus {
                id: id.into(),
                status: st,
                command: "delete",
                wanted: "stopped (or use --force)",
            }
            .into())
        }
    }
    // Processes left in a shared pid namespace outlive init; the cgroup knows them all.
    let _ = cg.kill_all(libc::SIGKILL);
    cg.destroy()?;
    let spec = if rec.late_hooks {
        root.load_spec(id).ok()
    } else {
        None
    };
    root.remove(id)?;
    if let Some(spec) = spec {
        let list = spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .unwrap_or_default();
        let st = HookState {
            oci_version: spec.version(),
            id,
            status: "stopped",
            pid: None,
            bundle: rec.bundle.to_str().unwrap_or(""),
            annotations: &rec.annotations,
        };
        return Ok(hooks::run_all("poststop", &list, &st).err());
    }
    Ok(None)
}

fn kill_and_wait(cg: &dyn berth_cgroups::Manager, pid: i32, thaw: bool) {
    let _ = cg.kill_all(libc::SIGKILL);
    if thaw {
        let _ = cg.freeze(false);
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_exit(pid, Duration::from_secs(10));
}
