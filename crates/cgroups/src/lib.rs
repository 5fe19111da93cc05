//! berth-cgroups: a container's cgroups behind one small trait.
//!
//! The host's layout is read once from `/proc/self/mountinfo` ([`detect`]):
//! cgroup v1 (every controller its own hierarchy, or several comounted),
//! v1 "hybrid" (v1 controllers plus a mostly empty cgroup2 mount), or the
//! unified cgroup v2 hierarchy. v1 and hybrid are handled by the v1 backend,
//! v2 by the v2 backend; both implement [`Manager`]. Mount points come from
//! the [`Layout`], so tests can point a manager at a fake tree in a temp dir.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_cgroups::Error> {
//! let m = berth_cgroups::create_manager(None, "web")?; // /berth/web
//! m.apply(std::process::id() as i32)?;
//! # Ok(()) }
//! ```

mod cgfs;
mod devices;
mod error;
mod kill;
mod mountinfo;
mod path;
mod stats;
#[cfg(test)]
mod testfs;
mod v1;
mod v2;

use std::path::{Path, PathBuf};

pub use oci_spec::runtime::LinuxResources;

pub use crate::devices::default_device_rules;
pub use crate::error::Error;
pub use crate::mountinfo::{detect, Hierarchy, Layout};
pub use crate::stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};

/// One container's cgroup, on whichever cgroup version the host runs.
///
/// Every method is safe to call again (idempotent where that makes sense),
/// and none of them touches cgroups outside the container's own directory
/// except to create its missing parents (and, on v2, to enable controllers
/// in them).
pub trait Manager: Send {
    /// Creates the cgroup directories (with missing parents) and moves `pid`
    /// (a whole process) into them.
    fn apply(&self, pid: i32) -> Result<(), Error>;

    /// The cgroup2 directory in which a new process can be started directly with
    /// clone3(CLONE_INTO_CGROUP): the container's directory on v2, its directory in the
    /// cgroup2 hierarchy on a hybrid host, `None` on a pure v1 host. Exists after
    /// [`Manager::set`] or [`Manager::apply`].
    fn clone_target(&self) -> Option<PathBuf>;

    /// Moves the calling process, which must be single-threaded (a freshly forked child),
    /// into the cgroup; `cloned_in` says it was started in [`Manager::clone_target`].
    ///
    /// Moving only the calling thread (`0` into a v1 `tasks` file), the kernel skips the
    /// global threadgroup lock whose first writer waits for an RCU grace period (7-15 ms
    /// here), which every `cgroup.procs` write takes. Together with CLONE_INTO_CGROUP for
    /// the cgroup2 part, no migration of a create waits for one.
    fn join_self(&self, cloned_in: bool) -> Result<(), Error>;

    /// Writes every limit in `r`, leaving absent ones as they are. Used at
    /// create time and by `update`; creates the directories first, so it may
    /// run before or after [`Manager::apply`].
    ///
    /// When `r.devices` is present the device list is reset to "deny all",
    /// then the rules are applied in order, then [`default_device_rules`]
    /// (as runc does). Rules for the spec's `linux.devices` nodes are the
    /// caller's to add.
    fn set(&self, r: &LinuxResources) -> Result<(), Error>;

    /// Reads usage counters; serializes like runc's `events --stats` data.
    fn stats(&self) -> Result<Stats, Error>;

    /// Freezes (`true`) or thaws every process, returning once the kernel
    /// reports the new state.
    fn freeze(&self, frozen: bool) -> Result<(), Error>;

    /// Every process in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<i32>, Error>;

    /// How many processes the OOM killer has killed in this cgroup.
    fn oom_kill_count(&self) -> Result<u64, Error>;

    /// Removes the cgroup directories (children first), waiting briefly for
    /// exiting processes to leave. Directories already gone are fine.
    fn destroy(&self) -> Result<(), Error>;

    /// Sends `sig` to every process: through `cgroup.kill` for SIGKILL on
    /// v2, otherwise one by one while the cgroup is frozen so that no new
    /// process escapes the signal by forking.
    fn kill_all(&self, sig: i32) -> Result<(), Error>;

    /// The container's cgroup path relative to the hierarchy roots, e.g.
    /// `/berth/web`.
    fn path(&self) -> String;
}

impl Layout {
    /// A manager for one container on this layout.
    ///
    /// `cgroups_path` is OCI `linux.cgroupsPath`: absolute or relative, it is
    /// taken under each hierarchy root; `None` means `/berth/<container_id>`.
    /// systemd-style `slice:prefix:name` paths are refused.
    pub fn manager(
        &self,
        cgroups_path: Option<&Path>,
        container_id: &str,
    ) -> Result<Box<dyn Manager>, Error> {
        let rel = path::resolve(cgroups_path, container_id)?;
        Ok(match self {
            Layout::V1 { hierarchies } => Box::new(v1::V1Manager::new(hierarchies, None, rel)),
            Layout::Hybrid {
                hierarchies,
                unified,
            } => Box::new(v1::V1Manager::new(hierarchies, Some(unified), rel)),
            Layout::V2 { root } => Box::new(v2::V2Manager::new(root, rel)),
        })
    }
}

/// A manager for the container on this host's layout (see [`Layout::manager`] for the
/// meaning of the arguments).
pub fn create_manager(
    cgroups_path: Option<&Path>,
    container_id: &str,
) -> Result<Box<dyn Manager>, Error> {
    host_layout()?.manager(cgroups_path, container_id)
}

/// This host's layout, [`detect`]ed from /proc/self/mountinfo once per process. The
/// table has a line per mount, a mount per running container among them, and reading
/// it costs about 5 ms per 1000 lines; a child forked after the first call (a runtime's
/// container init) inherits the answer. Cgroup hierarchies are mounted at boot, so the
/// answer does not go stale; a new mount namespace copies their mount points.
pub fn host_layout() -> Result<Layout, Error> {
    static LAYOUT: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();
    if let Some(l) = LAYOUT.get() {
        return Ok(l.clone());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    let layout = detect(&mountinfo)?;
    Ok(LAYOUT.get_or_init(|| layout).clone())
}
