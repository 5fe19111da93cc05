//! The processes a create forks: parent -> intermediate -> init.
//!
//! The intermediate joins and creates namespaces (user first, so the parent can write its id
//! maps) and forks init, which is then the first process of any new pid and time namespace.
//! Init sets up the rootfs and identity, reports Ready, waits on the exec fifo for `start`,
//! and execs the user's program. Nothing here starts a thread, so fork stays safe.

pub mod channel;
pub mod identity;
pub mod init;
pub mod intermediate;
pub mod sched;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::namespaces::Plan;

/// Fork a child that starts in `cgroup`'s cgroup2 directory when the kernel allows
/// (clone3 CLONE_INTO_CGROUP), else a plain fork. The bool says which: the child then
/// joins the rest with [`berth_cgroups::Manager::join_self`].
pub fn fork_in(
    cgroup: &dyn berth_cgroups::Manager,
) -> std::io::Result<(berth_sys::process::Forked, bool)> {
    let watch = berth_sys::process::ThreadWatch::open()?;
    if let Some(dir) = cgroup.clone_target() {
        if let Ok(fd) = std::fs::File::open(&dir) {
            use std::os::fd::AsFd;
            if let Ok(f) = berth_sys::process::fork_into_cgroup(&watch, fd.as_fd()) {
                return Ok((f, true));
            }
        }
    }
    Ok((berth_sys::process::fork_watched(&watch)?, false))
}
use crate::seccomp::CompiledFilter;

/// Everything the forked processes need, prepared in the parent before the fork.
pub struct Bootstrap {
    /// Container id.
    pub id: String,
    /// The validated spec.
    pub spec: Spec,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Namespaces to join and create.
    pub plan: Plan,
    /// The compiled seccomp program, if any.
    pub seccomp: Option<CompiledFilter>,
    /// O_PATH fd of the exec fifo (reopened for writing through /proc/self/fd).
    pub fifo: Option<OwnedFd>,
    /// Connection to the caller's console socket when process.terminal is set.
    pub console: Option<OwnedFd>,
    /// Extra fds (3..3+n) passed to the container.
    pub preserve_fds: u32,
    /// MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The container's cgroup path relative to each hierarchy root.
    pub cgroup_path: String,
    /// The container's cgroup, which the intermediate joins first thing.
    pub cgroup: std::rc::Rc<dyn berth_cgroups::Manager>,
    /// The parent must run prestart/createRuntime hooks mid-way.
    pub runtime_hooks: bool,
    /// Give the container its own session keyring.
    pub new_keyring: bool,
}
