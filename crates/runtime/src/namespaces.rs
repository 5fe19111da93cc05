//! Namespaces: which to create, which to join, and the order to do it in.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::process::channel::{ChildError, Step, StepExt};

/// CLONE_NEWTIME (nix does not name it).
pub const CLONE_NEWTIME: CloneFlags = CloneFlags::from_bits_retain(0x80);

/// The clone flag for a namespace type.
pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CLONE_NEWTIME,
    }
}

/// The /proc/PID/ns file name for a clone flag.
pub fn proc_name(f: CloneFlags) -> &'static str {
    match f {
        CloneFlags::CLONE_NEWNS => "mnt",
        CloneFlags::CLONE_NEWCGROUP => "cgroup",
        CloneFlags::CLONE_NEWUTS => "uts",
        CloneFlags::CLONE_NEWIPC => "ipc",
        CloneFlags::CLONE_NEWUSER => "user",
        CloneFlags::CLONE_NEWPID => "pid",
        CloneFlags::CLONE_NEWNET => "net",
        _ => "time",
    }
}

/// Join order. The user namespace comes first so the others are joined with its
/// credentials; mnt comes last because after it host paths (other ns files) are gone.
const ORDER: [CloneFlags; 8] = [
    CloneFlags::CLONE_NEWUSER,
    CloneFlags::CLONE_NEWIPC,
    CloneFlags::CLONE_NEWUTS,
    CloneFlags::CLONE_NEWNET,
    CloneFlags::CLONE_NEWPID,
    CloneFlags::CLONE_NEWCGROUP,
    CLONE_NEWTIME,
    CloneFlags::CLONE_NEWNS,
];

/// Namespaces to join (fds opened in the parent, before any of them is entered) and to create.
#[derive(Debug)]
pub struct Plan {
    /// Existing namespaces, in join order.
    pub join: Vec<(CloneFlags, OwnedFd)>,
    /// New namespaces to unshare (except user, which is `new_user`).
    pub new: CloneFlags,
    /// Create a new user namespace (the parent writes its id maps).
    pub new_user: bool,
}

impl Plan {
    fn empty() -> Self {
        Plan {
            join: Vec::new(),
            new: CloneFlags::empty(),
            new_user: false,
        }
    }

    /// Build the plan from the spec, opening every path now.
    pub fn from_spec(spec: &Spec) -> Result<Self, ChildError> {
        let mut plan = Plan::empty();
        let nss = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for f in ORDER {
            let Some(ns) = nss.iter().find(|n| flag(n.typ()) == f) else {
                continue;
            };
            match ns.path() {
                Some(p) => plan.join.push((f, open_ns(p)?)),
                None if f == CloneFlags::CLONE_NEWUSER => plan.new_user = true,
                None => plan.new |= f,
            }
        }
        Ok(plan)
    }

    /// Plan to join every namespace of process `pid` that differs from ours (for exec).
    pub fn of_process(pid: i32) -> Result<Self, ChildError> {
        let mut plan = Plan::empty();
        for f in ORDER {
            let name = proc_name(f);
            let theirs = format!("/proc/{pid}/ns/{name}");
            let ours = format!("/proc/self/ns/{name}");
            let (Ok(a), Ok(b)) = (std::fs::read_link(&theirs), std::fs::read_link(&ours)) else {
                continue;
            };
            if a != b {
                plan.join.push((f, open_ns(Path::new(&theirs))?));
            }
        }
        Ok(plan)
    }

    /// Enter the joined namespaces of the given kinds, in order.
    pub fn join_where(&self, pick: impl Fn(CloneFlags) -> bool) -> Result<(), ChildError> {
        for (f, fd) in self.join.iter().filter(|(f, _)| pick(*f)) {
            nix::sched::setns(fd.as_fd(), *f).step(Step::JoinNamespace, proc_name(*f))?;
        }
        Ok(())
    }

    /// Enters every joined namespace. With a user namespace among them, the others (but
    /// mnt) are tried before it and those refused are entered after it: one shared with the
    /// container by its owner (the host's user namespace, another container's) can only be
    /// entered before, one the container's user namespace owns maybe only after (when we
    /// are not root on the host). runc 1.2's nsexec does the same.
    pub fn join_all(&self) -> Result<(), ChildError> {
        let user = CloneFlags::CLONE_NEWUSER;
        let mut early = vec![];
        if self.joins_user() {
            for (f, fd) in self.join.iter() {
                if *f != user
                    && *f != CloneFlags::CLONE_NEWNS
                    && nix::sched::setns(fd.as_fd(), *f).is_ok()
                {
                    early.push(*f);
                }
            }
        }
        self.join_where(|f| f == user)?;
        self.join_where(|f| f != user && !early.contains(&f))
    }

    /// True if the plan joins an existing user namespace.
    pub fn joins_user(&self) -> bool {
        self.join
            .iter()
            .any(|(f, _)| *f == CloneFlags::CLONE_NEWUSER)
    }
}

fn open_ns(p: &Path) -> Result<OwnedFd, ChildError> {
    let f = std::fs::File::open(p).step(Step::JoinNamespace, p.display())?;
    Ok(f.into())
}

/// Write /proc/self/timens_offsets for a new time namespace (before any process enters it).
pub fn write_time_offsets(spec: &Spec) -> Result<(), ChildError> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in &offsets {
        let id = match clock.as_str() {
            "monotonic" => libc::CLOCK_MONOTONIC,
            "boottime" => libc::CLOCK_BOOTTIME,
            _ => return Err(ChildError::new(Step::TimeOffsets, clock, libc::EINVAL)),
        };
        text.push_str(&format!(
            "{id} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text)
        .step(Step::TimeOffsets, "/proc/self/timens_offsets")
}
