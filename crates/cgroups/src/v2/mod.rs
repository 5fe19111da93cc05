//! The cgroup v2 backend: one directory in the unified hierarchy
//! (<https://docs.kernel.org/admin-guide/cgroup-v2.html>).
//!
//! Controllers must be enabled top-down: a controller's files appear in a
//! cgroup only when its parent lists it in `cgroup.subtree_control`. So
//! creating the container's directory also enables, in every ancestor from
//! the root down, whatever that ancestor has available (as runc's
//! `CreateCgroupPath` does). Freezing, killing and device filtering are part
//! of the cgroup2 core and need no controller.

mod cpu;
mod cpuset;
mod devices;
mod freezer;
pub(crate) mod hugetlb;
mod io;
mod memory;
pub(crate) mod rdma;
mod unified;

use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::kill;
use crate::path;
use crate::stats::Stats;
use crate::v1::pids;
use crate::Manager;

pub(crate) const BACKEND: &str = "cgroup v2";

/// The controllers available in `dir` (its `cgroup.controllers`).
pub(crate) fn available(dir: &Path) -> Result<Vec<String>> {
    Ok(cgfs::read_opt(dir, "cgroup.controllers")?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Enables `wanted` in `dir/cgroup.subtree_control`, skipping ones already
/// enabled. All at once first; if the kernel refuses the batch (one
/// controller can fail alone, e.g. EBUSY for a domain controller on a
/// cgroup with processes), one by one, returning the first failure.
fn enable(dir: &Path, wanted: &[String]) -> Result<()> {
    let on = cgfs::read_opt(dir, "cgroup.subtree_control")?.unwrap_or_default();
    let on: Vec<&str> = on.split_whitespace().collect();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !on.contains(&c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() || cgfs::write(dir, "cgroup.subtree_control", &missing.join(" ")).is_ok()
    {
        return Ok(());
    }
    let mut first = None;
    for m in &missing {
        if let Err(e) = cgfs::write(dir, "cgroup.subtree_control", m) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Enables `only` in the root and every ancestor of `root + rel`, creating
/// the ancestors as needed. Used by the v1 backend on hybrid hosts.
pub(crate) fn enable_in_ancestors(root: &Path, rel: &Path, only: &[&str]) -> Result<()> {
    let wanted: Vec<String> = only.iter().map(|c| c.to_string()).collect();
    let mut levels = vec![root.to_path_buf()];
    levels.extend(path::chain(root, rel));
    levels.pop();
    for dir in levels {
        cgfs::mkdir_all(&dir)?;
        enable(&dir, &wanted)?;
    }
    Ok(())
}

/// A container's cgroup on a v2 host.
#[derive(Debug)]
pub(crate) struct V2Manager {
    root: PathBuf,
    rel: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    /// A manager for `root + rel` (`rel` from `path::resolve`).
    pub(crate) fn new(root: &Path, rel: PathBuf) -> Self {
        let dir = path::under(root, &rel);
        V2Manager {
            root: root.to_path_buf(),
            rel,
            dir,
        }
    }

    /// mkdir -p, enabling every available controller on the way down.
    /// Failures to enable are ignored here (a parent we do not own may have
    /// processes, or be threaded); a limit that needs a missing controller
    /// fails later, naming it.
    fn create(&self) -> Result<()> {
        let mut parent = self.root.clone();
        for dir in path::chain(&self.root, &self.rel) {
            let _ = enable(&parent, &available(&parent)?);
            cgfs::mkdir_all(&dir)?;
            parent = dir;
        }
        Ok(())
    }

    /// The leaf's directory if `controller` is enabled there.
    fn need(&self, controller: &'static str, resource: &'static str) -> Result<&Path> {
        if available(&self.dir)?.iter().any(|c| c == controller) {
            Ok(&self.dir)
        } else {
            Err(Error::ControllerMissing {
                controller,
                resource,
            })
        }
    }

    /// Refuses what v2 cannot do before anything is written.
    fn check_supported(r: &LinuxResources) -> Result<()> {
        let unsupported = |resource| {
            Err(Error::Unsupported {
                resource,
                backend: BACKEND,
            })
        };
        if r.memory().as_ref().and_then(|m| m.disable_oom_killer()) == Some(true) {
            return unsupported("memory.disableOOMKiller");
        }
        if let Some(n) = r.network() {
            if n.class_id().is_some() {
                return unsupported("network.classID");
            }
            if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                return unsupported("network.priorities");
            }
        }
        if let Some(c) = r.cpu() {
            if c.realtime_runtime().is_some_and(|v| v != 0)
                || c.realtime_period().is_some_and(|v| v != 0)
            {
                return unsupported("cpu.realtimeRuntime/realtimePeriod");
            }
        }
        if let Some(b) = r.block_io() {
            let leaf = b
                .weight_device()
                .iter()
                .flatten()
                .any(|d| d.leaf_weight().is_some());
            if b.leaf_weight().is_some() || leaf {
                return unsupported("blockIO.leafWeight");
            }
        }
        if let Some(u) = r.unified() {
            unified::validate(u)?;
        }
        Ok(())
    }
}

impl Manager for V2Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        self.create()?;
        cgfs::add_pid(&self.dir, pid)
    }

    fn clone_target(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn join_self(&self, cloned_in: bool) -> Result<()> {
        if cloned_in {
            return Ok(());
        }
        self.create()?;
        cgfs::add_pid(&self.dir, 0)
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        Self::check_supported(r)?;
        self.create()?;
        if let Some(p) = r.pids() {
            pids::set(self.need("pids", "pids")?, p)?;
        }
        if let Some(m) = r.memory().as_ref().filter(|m| memory::requested(m)) {
            memory::set(self.need("memory", "memory")?, m)?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| io::requested(b)) {
            io::set(self.need("io", "blockIO")?, b)?;
        }
        if let Some(c) = r.cpu() {
            if cpu::requested(c) {
                cpu::set(self.need("cpu", "cpu")?, c)?;
            }
            if cpuset::requested(c) {
                cpuset::set(self.need("cpuset", "cpu.cpus/mems")?, c)?;
            }
        }
        if let Some(rules) = r.devices() {
            devices::set(&self.dir, rules)?;
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            hugetlb::set(self.need("hugetlb", "hugepageLimits")?, h)?;
        }
        if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
            rdma::set(self.need("rdma", "rdma")?, rd)?;
        }
        if let Some(u) = r.unified() {
            unified::set(&self.dir, u)?;
        }
        Ok(())
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        cpu::stats(&self.dir, &mut s.cpu)?;
        memory::stats(&self.dir, &mut s.memory)?;
        pids::stats(&self.dir, &mut s.pids)?;
        io::stats(&self.dir, &mut s.blkio)?;
        hugetlb::stats(&self.dir, &mut s.hugetlb)?;
        Ok(s)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        freezer::set(&self.dir, frozen)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        cgfs::pids_recursive(&self.dir)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        // memory.events (not .local) counts the whole subtree.
        cgfs::read_key(&self.dir, "memory.events", "oom_kill")
    }

    fn destroy(&self) -> Result<()> {
        cgfs::remove_tree(&self.dir)
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        // cgroup.kill (5.14+) kills the whole subtree atomically, forks
        // included, so neither listing nor freezing is needed.
        let sig = kill::signal(sig)?;
        if sig == Signal::SIGKILL && cgfs::exists(&self.dir, "cgroup.kill") {
            return cgfs::write(&self.dir, "cgroup.kill", "1");
        }
        if !cgfs::exists(&self.dir, "cgroup.freeze") {
            // Before 5.2 there is no freezer on v2: signal as we list.
            return kill::signal_each(&self.pids()?, sig);
        }
        freezer::set(&self.dir, true)?;
        let res = self.pids().and_then(|p| kill::signal_each(&p, sig));
        let thaw = freezer::set(&self.dir, false);
        res.and(thaw)
    }

    fn path(&self) -> String {
        self.rel.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;
    use crate::Layout;

    fn tree() -> FakeTree {
        let t = FakeTree::new();
        t.file("cg/cgroup.controllers", "cpu io memory pids\n")
            .file("cg/cgroup.subtree_control", "cpu\n");
        t.file("cg/a/cgroup.controllers", "cpu io memory pids\n")
            .file("cg/a/cgroup.subtree_control", "");
        t.file("cg/a/c/cgroup.controllers", "cpu memory pids\n");
        t.files(
            "cg/a/c",
            &[
                "cgroup.procs",
                "cgroup.freeze",
                "cgroup.kill",
                "memory.max",
                "pids.max",
            ],
        );
        t.file("cg/a/c/cgroup.events", "populated 1\nfrozen 0\n");
        t
    }

    fn manager(t: &FakeTree) -> Box<dyn Manager> {
        let layout = Layout::V2 { root: t.path("cg") };
        layout.manager(Some(Path::new("a/c")), "c").unwrap()
    }

    #[test]
    fn apply_enables_controllers_top_down() {
        let t = tree();
        let m = manager(&t);
        m.apply(9).unwrap();
        assert_eq!(t.read("cg/a/c/cgroup.procs"), "9");
        // already-enabled cpu is not written again
        assert_eq!(t.read("cg/cgroup.subtree_control"), "+io +memory +pids");
        assert_eq!(
            t.read("cg/a/cgroup.subtree_control"),
            "+cpu +io +memory +pids"
        );
        assert_eq!(m.path(), "/a/c");
    }

    #[test]
    fn set_writes_and_refuses() {
        let t = tree();
        let m = manager(&t);
        let r: LinuxResources =
            serde_json::from_str(r#"{"memory":{"limit":8388608},"pids":{"limit":5}}"#).unwrap();
        m.set(&r).unwrap();
        assert_eq!(t.read("cg/a/c/memory.max"), "8388608");
        assert_eq!(t.read("cg/a/c/pids.max"), "5");
        let cases = [
            (
                r#"{"memory":{"disableOOMKiller":true}}"#,
                "not supported on cgroup v2",
            ),
            (r#"{"network":{"classID":1}}"#, "network.classID"),
            (r#"{"cpu":{"realtimeRuntime":5}}"#, "realtime"),
            (r#"{"blockIO":{"leafWeight":10}}"#, "leafWeight"),
            (r#"{"blockIO":{"weight":10}}"#, "io controller"),
            (
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}"#,
                "hugetlb controller",
            ),
            (r#"{"unified":{"../x":"1"}}"#, "unified"),
        ];
        for (json, want) in cases {
            let r: LinuxResources = serde_json::from_str(json).unwrap();
            let msg = m.set(&r).unwrap_err().to_string();
            assert!(msg.contains(want), "{json}: {msg}");
        }
    }

    #[test]
    fn kill_uses_cgroup_kill_for_sigkill() {
        let t = tree();
        let m = manager(&t);
        m.kill_all(Signal::SIGKILL as i32).unwrap();
        assert_eq!(t.read("cg/a/c/cgroup.kill"), "1");
        // An invalid signal is refused before anything is frozen.
        std::fs::remove_file(t.path("cg/a/c/cgroup.kill")).unwrap();
        assert!(m.kill_all(12345).is_err());
    }

    #[test]
    fn oom_count_and_pids() {
        let t = tree();
        t.file(
            "cg/a/c/memory.events",
            "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n",
        );
        t.file("cg/a/c/cgroup.procs", "5\n");
        let m = manager(&t);
        assert_eq!(m.oom_kill_count().unwrap(), 2);
        assert_eq!(m.pids().unwrap(), vec![5]);
    }

    #[test]
    fn hybrid_helper_enables_only_what_is_asked() {
        let t = tree();
        enable_in_ancestors(&t.path("cg"), Path::new("/a/c"), &["memory"]).unwrap();
        assert_eq!(t.read("cg/cgroup.subtree_control"), "+memory");
        assert_eq!(t.read("cg/a/cgroup.subtree_control"), "+memory");
    }
}
