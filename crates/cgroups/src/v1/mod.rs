//! The cgroup v1 backend: one directory per mounted hierarchy.
//!
//! Each controller gets its own file with `set` and `stats` functions taking
//! the container's directory in that controller's hierarchy. Comounted
//! controllers ("cpu,cpuacct") simply share a directory. Named hierarchies
//! (name=systemd) and, on hybrid hosts, the cgroup2 mount are joined too,
//! as runc does, so the container sits at the same path everywhere.

mod blkio;
mod cpu;
mod cpuacct;
mod cpuset;
mod devices;
mod freezer;
mod hugetlb;
mod memory;
mod net_cls;
mod net_prio;
pub(crate) mod pids;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxHugepageLimit, LinuxResources};

use crate::cgfs;
use crate::error::{Error, Result};
use crate::kill;
use crate::mountinfo::Hierarchy;
use crate::path;
use crate::stats::Stats;
use crate::v2;
use crate::Manager;

const BACKEND: &str = "cgroup v1";

/// The container's directory in one hierarchy.
#[derive(Debug)]
struct Dir {
    controllers: Vec<String>,
    mount: PathBuf,
    path: PathBuf,
}

/// A container's cgroups on a v1 (or hybrid) host.
#[derive(Debug)]
pub(crate) struct V1Manager {
    rel: PathBuf,
    dirs: Vec<Dir>,
    /// Hybrid hosts: (cgroup2 mount point, container directory in it).
    unified: Option<(PathBuf, PathBuf)>,
}

impl V1Manager {
    /// A manager for the cgroup `rel` (from `path::resolve`).
    pub(crate) fn new(hierarchies: &[Hierarchy], unified: Option<&Path>, rel: PathBuf) -> Self {
        let dirs = hierarchies
            .iter()
            .map(|h| Dir {
                controllers: h.controllers.clone(),
                mount: h.mount_point.clone(),
                path: path::under(&h.mount_point, &rel),
            })
            .collect();
        let unified = unified.map(|u| (u.to_path_buf(), path::under(u, &rel)));
        V1Manager { rel, dirs, unified }
    }

    /// The container's directory for `controller`, if that is mounted.
    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// Like [`Self::dir`], but a missing controller is an error naming the
    /// resource that needed it.
    fn need(&self, controller: &'static str, resource: &'static str) -> Result<&Path> {
        self.dir(controller).ok_or(Error::ControllerMissing {
            controller,
            resource,
        })
    }

    /// mkdir -p in every hierarchy. New cpuset directories start with empty
    /// cpus/mems, in which no task may run, so those are filled in from the
    /// parent level by level.
    fn create(&self) -> Result<()> {
        for d in &self.dirs {
            if d.controllers.iter().any(|c| c == "cpuset") {
                cpuset::create(&d.mount, &self.rel)?;
            } else {
                cgfs::mkdir_all(&d.path)?;
            }
        }
        if let Some((_, u)) = &self.unified {
            cgfs::mkdir_all(u)?;
        }
        Ok(())
    }

    /// Hugepage limits: the v1 hugetlb hierarchy if mounted, else (hybrid)
    /// the cgroup2 mount when it carries the hugetlb controller.
    fn set_hugetlb(&self, limits: &[LinuxHugepageLimit]) -> Result<()> {
        if let Some(d) = self.dir("hugetlb") {
            return hugetlb::set(d, limits);
        }
        let missing = Error::ControllerMissing {
            controller: "hugetlb",
            resource: "hugepageLimits",
        };
        let Some((mount, dir)) = &self.unified else {
            return Err(missing);
        };
        if !v2::available(mount)?.iter().any(|c| c == "hugetlb") {
            return Err(missing);
        }
        v2::enable_in_ancestors(mount, &self.rel, &["hugetlb"])?;
        v2::hugetlb::set(dir, limits)
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Result<&Path> {
        [
            "pids",
            "freezer",
            "memory",
            "cpu",
            "devices",
            "name=systemd",
        ]
        .iter()
        .find_map(|c| self.dir(c))
        .or(self.dirs.first().map(|d| d.path.as_path()))
        .ok_or(Error::NoCgroupMounts)
    }
}

impl Manager for V1Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        self.create()?;
        for d in &self.dirs {
            cgfs::add_pid(&d.path, pid)?;
        }
        if let Some((_, u)) = &self.unified {
            cgfs::add_pid(u, pid)?;
        }
        Ok(())
    }

    fn clone_target(&self) -> Option<PathBuf> {
        self.unified.as_ref().map(|(_, u)| u.clone())
    }

    fn join_self(&self, cloned_in: bool) -> Result<()> {
        self.create()?;
        for d in &self.dirs {
            cgfs::write(&d.path, "tasks", "0")?;
        }
        match &self.unified {
            Some((_, u)) if !cloned_in => cgfs::add_pid(u, 0),
            _ => Ok(()),
        }
    }

    fn set(&self, r: &LinuxResources) -> Result<()> {
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(Error::Unsupported {
                resource: "unified",
                backend: BACKEND,
            });
        }
        self.create()?;
        if let Some(rules) = r.devices() {
            devices::set(self.need("devices", "devices")?, rules)?;
        }
        if let Some(m) = r.memory().as_ref().filter(|m| memory::requested(m)) {
            memory::set(self.need("memory", "memory")?, m)?;
        }
        if let Some(c) = r.cpu() {
            if cpu::requested(c) {
                cpu::set(self.need("cpu", "cpu")?, c)?;
            }
            if cpuset::requested(c) {
                cpuset::set(self.need("cpuset", "cpu.cpus/mems")?, c)?;
            }
        }
        if let Some(p) = r.pids() {
            pids::set(self.need("pids", "pids")?, p)?;
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| blkio::requested(b)) {
            blkio::set(self.need("blkio", "blockIO")?, b)?;
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            self.set_hugetlb(h)?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                net_cls::set(self.need("net_cls", "network.classID")?, id)?;
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                net_prio::set(self.need("net_prio", "network.priorities")?, p)?;
            }
        }
        if let Some(rd) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
            v2::rdma::set(self.need("rdma", "rdma")?, rd)?;
        }
        Ok(())
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("cpu") {
            cpu::stats(d, &mut s.cpu)?;
        }
        if let Some(d) = self.dir("cpuacct") {
            cpuacct::stats(d, &mut s.cpu)?;
        }
        if let Some(d) = self.dir("memory") {
            memory::stats(d, &mut s.memory)?;
        }
        if let Some(d) = self.dir("pids") {
            pids::stats(d, &mut s.pids)?;
        }
        if let Some(d) = self.dir("blkio") {
            blkio::stats(d, &mut s.blkio)?;
        }
        if let Some(d) = self.dir("hugetlb") {
            hugetlb::stats(d, &mut s.hugetlb)?;
        } else if let Some((_, u)) = &self.unified {
            v2::hugetlb::stats(u, &mut s.hugetlb)?;
        }
        Ok(s)
    }

    fn freeze(&self, frozen: bool) -> Result<()> {
        let resource = if frozen { "freeze" } else { "thaw" };
        freezer::set(self.need("freezer", resource)?, frozen)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        cgfs::pids_recursive(self.procs_dir()?)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        match self.dir("memory") {
            Some(d) => memory::oom_kill_count(d),
            None => Ok(0),
        }
    }

    fn destroy(&self) -> Result<()> {
        let unified = self.unified.iter().map(|(_, u)| u.as_path());
        let mut first = None;
        for d in self.dirs.iter().map(|d| d.path.as_path()).chain(unified) {
            if let Err(e) = cgfs::remove_tree(d) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn kill_all(&self, sig: i32) -> Result<()> {
        // Freeze first so nothing forks between listing and signalling
        // (runc signalAllProcesses); a frozen task still gets the signal
        // once thawed.
        let sig = kill::signal(sig)?;
        // An empty cgroup (the usual case at delete) needs no freeze round trip.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        let Some(freezer) = self.dir("freezer") else {
            return kill::signal_each(&self.pids()?, sig);
        };
        freezer::set(freezer, true)?;
        let res = self.pids().and_then(|p| kill::signal_each(&p, sig));
        let thaw = freezer::set(freezer, false);
        res.and(thaw)
    }

    fn path(&self) -> String {
        self.rel.to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::detect;
    use crate::testfs::FakeTree;
    use crate::Layout;

    const MOUNTS: &str = "\
32 31 0:29 / /cg/cpu rw - cgroup cgroup rw,cpu
33 31 0:30 / /cg/cpuacct rw - cgroup cgroup rw,cpuacct
34 31 0:31 / /cg/cpuset rw - cgroup cgroup rw,cpuset
35 31 0:32 / /cg/memory rw - cgroup cgroup rw,memory
36 31 0:33 / /cg/freezer rw - cgroup cgroup rw,freezer
37 31 0:34 / /cg/pids rw - cgroup cgroup rw,pids
38 31 0:35 / /cg/devices rw - cgroup cgroup rw,devices
40 31 0:37 / /cg/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /cg/unified rw - cgroup2 cgroup2 rw
";

    fn manager(t: &FakeTree) -> Box<dyn Manager> {
        let layout = detect(MOUNTS).unwrap().rebase(t.root());
        assert!(matches!(layout, Layout::Hybrid { .. }));
        layout.manager(Some(Path::new("/p/c")), "c").unwrap()
    }

    fn tree() -> FakeTree {
        let t = FakeTree::new();
        for h in [
            "cpu", "cpuacct", "memory", "freezer", "pids", "devices", "systemd", "unified",
        ] {
            t.file(&format!("cg/{h}/p/c/cgroup.procs"), "")
                .file(&format!("cg/{h}/p/c/tasks"), "");
        }
        t.file("cg/cpuset/cpuset.cpus", "0-3\n")
            .file("cg/cpuset/cpuset.mems", "0\n");
        for lvl in ["p", "p/c"] {
            t.files(
                &format!("cg/cpuset/{lvl}"),
                &["cpuset.cpus", "cpuset.mems", "cgroup.procs", "tasks"],
            );
        }
        t
    }

    #[test]
    fn apply_joins_every_hierarchy_and_fills_cpuset() {
        let t = tree();
        let m = manager(&t);
        m.apply(42).unwrap();
        let v1 = [
            "cpu", "cpuacct", "cpuset", "memory", "freezer", "pids", "devices", "systemd",
        ];
        for h in v1 {
            assert_eq!(t.read(&format!("cg/{h}/p/c/cgroup.procs")), "42", "{h}");
        }
        assert_eq!(t.read("cg/unified/p/c/cgroup.procs"), "42");
        assert_eq!(m.clone_target(), Some(t.path("cg/unified/p/c")));
        assert_eq!(t.read("cg/cpuset/p/cpuset.cpus"), "0-3");
        assert_eq!(t.read("cg/cpuset/p/c/cpuset.mems"), "0");
        assert_eq!(m.path(), "/p/c");
        // join_self moves the calling thread through each v1 `tasks` file; the cgroup2
        // hierarchy only when the process was not cloned into it.
        m.join_self(true).unwrap();
        for h in v1 {
            assert_eq!(t.read(&format!("cg/{h}/p/c/tasks")), "0", "{h}");
        }
        assert_eq!(t.read("cg/unified/p/c/cgroup.procs"), "42");
        m.join_self(false).unwrap();
        assert_eq!(t.read("cg/unified/p/c/cgroup.procs"), "0");
    }

    #[test]
    fn missing_controllers_are_named() {
        let t = tree();
        let m = manager(&t);
        let cases: Vec<(&str, &str)> = vec![
            (r#"{"network":{"classID":5}}"#, "net_cls controller"),
            (
                r#"{"network":{"priorities":[{"name":"eth0","priority":1}]}}"#,
                "net_prio controller",
            ),
            (r#"{"blockIO":{"weight":10}}"#, "blkio controller"),
            (
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#,
                "hugetlb controller",
            ),
            (r#"{"rdma":{"mlx":{"hcaHandles":1}}}"#, "rdma controller"),
            (
                r#"{"unified":{"memory.high":"1"}}"#,
                "not supported on cgroup v1",
            ),
        ];
        for (json, want) in cases {
            let r: LinuxResources = serde_json::from_str(json).unwrap();
            let msg = m.set(&r).unwrap_err().to_string();
            assert!(msg.contains(want), "{json}: {msg}");
        }
        // Empty sections ask for nothing.
        let r: LinuxResources =
            serde_json::from_str(r#"{"hugepageLimits":[],"unified":{}}"#).unwrap();
        m.set(&r).unwrap();
    }

    #[test]
    fn hybrid_hugetlb_goes_through_the_unified_mount() {
        let t = tree();
        t.file("cg/unified/cgroup.controllers", "hugetlb\n")
            .file("cg/unified/cgroup.subtree_control", "");
        t.file("cg/unified/p/cgroup.subtree_control", "");
        t.file("cg/unified/p/c/hugetlb.2MB.max", "max\n");
        let m = manager(&t);
        let r: LinuxResources =
            serde_json::from_str(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#)
                .unwrap();
        m.set(&r).unwrap();
        assert_eq!(t.read("cg/unified/cgroup.subtree_control"), "+hugetlb");
        assert_eq!(t.read("cg/unified/p/cgroup.subtree_control"), "+hugetlb");
        assert_eq!(t.read("cg/unified/p/c/hugetlb.2MB.max"), "4194304");
    }

    #[test]
    fn pids_oom_and_destroy() {
        let t = tree();
        t.file("cg/pids/p/c/cgroup.procs", "7\n8\n");
        t.file(
            "cg/memory/p/c/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        let m = manager(&t);
        assert_eq!(m.pids().unwrap(), vec![7, 8]);
        assert_eq!(m.oom_kill_count().unwrap(), 2);
        // A fake tree's files make rmdir fail, the way a busy cgroup would;
        // an empty one goes away, a missing one is fine.
        assert!(m.destroy().is_err());
        let empty = FakeTree::new();
        std::fs::create_dir_all(empty.path("cg/cpu/p/c/sub")).unwrap();
        let m = manager(&empty);
        m.destroy().unwrap();
        assert!(!empty.path("cg/cpu/p/c").exists());
        assert!(empty.path("cg/cpu/p").exists());
    }
}
