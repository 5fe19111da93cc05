//! The intermediate process: namespaces, then fork init.
//!
//! 1. Join the container's cgroup ourselves, so init and everything it forks are accounted
//!    from their first instruction and a new cgroup namespace is rooted there (see youki
//!    container_intermediate_process.rs on cgroups before userns). The parent started us
//!    in the cgroup2 part already (clone3 CLONE_INTO_CGROUP); for v1 we are single-threaded
//!    and move through `tasks` with "0". Neither takes the global lock whose first writer
//!    waits for an RCU grace period (7-15 ms here), which a cgroup.procs write pays: that
//!    wait used to be the largest cost of a create.
//! 2. Join the given namespaces. Creating a user namespace, join them all first, while
//!    still privileged over their owners (from inside the new one setns would need
//!    CAP_SYS_ADMIN over them), as runc's nsexec does; then unshare it and have the parent
//!    write our id maps. Joining one, see [`namespaces::Plan::join_all`] for the order.
//!    With a user namespace, become its root.
//! 3. Unshare the new namespaces; pid and time namespaces apply to children, so init is
//!    forked after.
//! 4. Fork init (which reports its own pid first), exit.

use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};

use super::channel::{Channel, ChildError, Msg, Step, StepExt};
use super::Bootstrap;
use crate::namespaces::{self, CLONE_NEWTIME};
use crate::rootfs::mounts::IdmapTrees;

/// Run the intermediate; never returns.
pub fn run(b: &Bootstrap, chan: &Channel, cloned_in: bool) -> ! {
    let code = match steps(b, chan, cloned_in) {
        Ok(()) => 0,
        Err(e) => {
            let _ = chan.send(&Msg::Failed(e));
            1
        }
    };
    std::process::exit(code)
}

/// After the id maps, the parent sends one idmapped mount tree per `idmap` mount (only
/// the host side may idmap a host mount), then Go.
fn receive_idmap_trees(chan: &Channel) -> Result<IdmapTrees, ChildError> {
    let mut trees = IdmapTrees::new();
    loop {
        match chan.recv_fd("go") {
            Ok((Msg::Go, _)) => return Ok(trees),
            Ok((Msg::IdmapTree(i), Some(fd))) => {
                trees.insert(i, fd);
            }
            _ => return Err(ChildError::new(Step::SetIds, "id maps", libc::EPIPE)),
        }
    }
}

fn steps(b: &Bootstrap, chan: &Channel, cloned_in: bool) -> Result<(), ChildError> {
    let mut idmaps = IdmapTrees::new();
    // Non-dumpable until exec: other processes in the container cannot ptrace us or open
    // our /proc files (and through them host fds) while we still hold them.
    nix::sys::prctl::set_dumpable(false).step(Step::Fork, "dumpable")?;
    let watch = berth_sys::process::ThreadWatch::open().step(Step::Fork, "/proc/self/task")?;
    b.cgroup.join_self(cloned_in).map_err(|e| ChildError {
        step: Step::Cgroup,
        object: b.cgroup_path.clone(),
        errno: 0,
        detail: Some(e.to_string()),
    })?;
    if !b.plan.new_user {
        b.plan.join_all()?;
    } else {
        b.plan.join_where(|f| f != CloneFlags::CLONE_NEWUSER)?;
        nix::sched::unshare(CloneFlags::CLONE_NEWUSER).step(Step::Unshare, "user")?;
        chan.send(&Msg::NeedIdMaps)
            .map_err(|_| ChildError::new(Step::SetIds, "id maps", libc::EPIPE))?;
        idmaps = receive_idmap_trees(chan)?;
    }
    if b.plan.new_user || b.plan.joins_user() {
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .step(Step::SetIds, "gid 0")?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .step(Step::SetIds, "uid 0")?;
    }
    nix::sched::unshare(b.plan.new).step(Step::Unshare, format!("{:?}", b.plan.new))?;
    if b.plan.new.contains(CLONE_NEWTIME) {
        namespaces::write_time_offsets(&b.spec)?;
    }
    match berth_sys::process::fork_watched(&watch).step(Step::Fork, "init")? {
        berth_sys::process::Forked::Child => super::init::run(b, chan, &idmaps),
        // Init reports its own pid, so its messages reach the parent in order.
        berth_sys::process::Forked::Parent(_) => Ok(()),
    }
}
