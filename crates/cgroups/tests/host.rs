//! Root tests against the host's real cgroup hierarchies.
//!
//! Every test works under its own parent, `berth-test-<pid>-<n>`, in each
//! hierarchy, and a [`Fixture`] removes all of it (after thawing and killing
//! the test's children) even when the test fails. Nothing outside those
//! parents is written. Tests that need cgroup v2 controllers skip with a
//! message on a v1/hybrid host; v2's core (procs, freeze, kill, eBPF device
//! filter) is exercised on a hybrid host's cgroup2 mount, inside a parent of
//! our own, since none of it needs a controller.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_cgroups::{detect, Error, Layout, LinuxResources, Manager};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One test's cgroup parent in every hierarchy, and its child processes.
struct Fixture {
    name: String,
    layout: Layout,
    children: Vec<Child>,
}

fn host_layout() -> Layout {
    detect(&fs::read_to_string("/proc/self/mountinfo").unwrap()).unwrap()
}

/// Every hierarchy mount point of `layout`, cgroup2 last.
fn mounts(layout: &Layout) -> Vec<PathBuf> {
    match layout {
        Layout::V1 { hierarchies } => hierarchies.iter().map(|h| h.mount_point.clone()).collect(),
        Layout::Hybrid {
            hierarchies,
            unified,
        } => {
            let mut v: Vec<PathBuf> = hierarchies.iter().map(|h| h.mount_point.clone()).collect();
            v.push(unified.clone());
            v
        }
        Layout::V2 { root } => vec![root.clone()],
    }
}

impl Fixture {
    /// None (the test skips) when not root.
    fn new() -> Option<Fixture> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Some(Fixture {
            name: format!("berth-test-{}-{n}", std::process::id()),
            layout: host_layout(),
            children: Vec::new(),
        })
    }

    fn is_v2(&self) -> bool {
        matches!(self.layout, Layout::V2 { .. })
    }

    /// `/berth-test-<pid>-<n>/<leaf>`.
    fn rel(&self, leaf: &str) -> PathBuf {
        PathBuf::from(format!("/{}/{leaf}", self.name))
    }

    fn manager(&self, leaf: &str) -> Box<dyn Manager> {
        self.layout.manager(Some(&self.rel(leaf)), "c").unwrap()
    }

    /// The container's directory in the hierarchy mounted at `mount`.
    fn dir(&self, mount: &str, leaf: &str) -> PathBuf {
        Path::new(mount).join(&self.name).join(leaf)
    }

    /// Spawns `sh -c script` that first waits for a line on stdin, so the
    /// test can move it into a cgroup before it does anything.
    fn spawn_gated(&mut self, script: &str) -> i32 {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }

    fn spawn_sleep(&mut self) -> i32 {
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }

    /// Lets the gated child `pid` go and waits for it: (status, stdout+stderr).
    fn release(&mut self, pid: i32) -> (std::process::ExitStatus, String) {
        let i = self
            .children
            .iter()
            .position(|c| c.id() as i32 == pid)
            .unwrap();
        let mut child = self.children.remove(i);
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let status = child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (status, out)
    }

    /// Lets the gated child `pid` go and waits for the first line it
    /// prints, leaving it running.
    fn release_until_line(&mut self, pid: i32) -> String {
        let child = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        let out = child.stdout.as_mut().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    }

    fn wait(&mut self, pid: i32) -> std::process::ExitStatus {
        let i = self
            .children
            .iter()
            .position(|c| c.id() as i32 == pid)
            .unwrap();
        self.children.remove(i).wait().unwrap()
    }

    /// Thaws every cgroup under our parents, so killed children can die.
    fn thaw_all(&self, dir: &Path) {
        let _ = fs::write(dir.join("freezer.state"), "THAWED");
        let _ = fs::write(dir.join("cgroup.freeze"), "0");
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                self.thaw_all(&e.path());
            }
        }
    }
}

/// SIGKILLs every process in the cgroup `dir` and below.
fn kill_tree(dir: &Path) {
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            kill_tree(&e.path());
        }
    }
}

/// rmdir deepest first, retrying while exiting tasks leave.
fn remove_tree(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&e.path());
        }
    }
    let start = Instant::now();
    while fs::remove_dir(dir).is_err() && dir.exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let parents: Vec<PathBuf> = mounts(&self.layout)
            .iter()
            .map(|m| m.join(&self.name))
            .collect();
        for p in &parents {
            self.thaw_all(p);
        }
        // Anything still in our cgroups (grandchildren included) goes.
        for p in &parents {
            kill_tree(p);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for p in &parents {
            remove_tree(p);
        }
    }
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The first whole disk's "major:minor", for throttling tests.
fn some_disk() -> Option<String> {
    let mut disks: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("dev")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    disks.sort();
    disks.into_iter().next()
}

#[test]
fn v1_limits_stats_freeze_kill_destroy() {
    let Some(mut f) = Fixture::new() else { return };
    if f.is_v2() {
        eprintln!("skipped: cgroup v1 test on a v2 host");
        return;
    }
    let m = f.manager("c");
    // Burn a little CPU and memory inside the cgroup, then idle.
    let work = r#"i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; x=$(head -c 1m /dev/zero | tr "\0" a); echo ready; exec sleep 1000"#;
    let pid = f.spawn_gated(work);
    m.apply(pid).unwrap();
    assert_eq!(f.release_until_line(pid), "ready");
    let disk = some_disk();
    let throttle = disk.as_ref().map_or(String::new(), |d| {
        let (maj, min) = d.split_once(':').unwrap();
        format!(r#","blockIO":{{"throttleReadBpsDevice":[{{"major":{maj},"minor":{min},"rate":1048576}}]}}"#)
    });
    let r = res(&format!(
        r#"{{"memory":{{"limit":67108864,"swap":134217728,"reservation":33554432,"swappiness":10}},
            "cpu":{{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"}},
            "pids":{{"limit":50}}{throttle}}}"#
    ));
    m.set(&r).unwrap();
    let fs_root = "/sys/fs/cgroup";
    let cases = [
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.memsw.limit_in_bytes", "134217728"),
        ("memory", "memory.soft_limit_in_bytes", "33554432"),
        ("memory", "memory.swappiness", "10"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "50"),
    ];
    for (ctrl, file, want) in cases {
        assert_eq!(
            read(f.dir(&format!("{fs_root}/{ctrl}"), "c").join(file)),
            want,
            "{file}"
        );
    }
    if let Some(d) = &disk {
        let got = read(
            f.dir(&format!("{fs_root}/blkio"), "c")
                .join("blkio.throttle.read_bps_device"),
        );
        assert_eq!(got, format!("{d} 1048576"));
    }
    // Every hierarchy, the named one and the hybrid cgroup2 mount included.
    for mount in mounts(&f.layout) {
        let procs = read(mount.join(&f.name).join("c/cgroup.procs"));
        assert_eq!(procs, pid.to_string(), "{}", mount.display());
    }
    assert_eq!(m.pids().unwrap(), vec![pid]);
    let s = m.stats().unwrap();
    assert_eq!((s.pids.current, s.pids.limit), (1, 50));
    assert_eq!(s.memory.usage.limit, 67108864);
    assert!(
        s.memory.usage.max > 0 && s.memory.raw.contains_key("rss"),
        "{:?}",
        s.memory
    );
    assert!(s.cpu.usage.total > 0, "{:?}", s.cpu);
    serde_json::to_string(&s).unwrap();
    assert_eq!(m.oom_kill_count().unwrap(), 0);

    m.freeze(true).unwrap();
    assert_eq!(
        read(
            f.dir(&format!("{fs_root}/freezer"), "c")
                .join("freezer.state")
        ),
        "FROZEN"
    );
    m.freeze(false).unwrap();
    assert_eq!(
        read(
            f.dir(&format!("{fs_root}/freezer"), "c")
                .join("freezer.state")
        ),
        "THAWED"
    );

    m.kill_all(libc::SIGTERM).unwrap();
    assert_eq!(f.wait(pid).signal(), Some(libc::SIGTERM));
    m.destroy().unwrap();
    for mount in mounts(&f.layout) {
        assert!(
            !mount.join(&f.name).join("c").exists(),
            "{}",
            mount.display()
        );
    }
    m.destroy().unwrap();
}

#[test]
fn v1_update_lowers_memory_and_swap_in_order() {
    let Some(mut f) = Fixture::new() else { return };
    if f.is_v2() {
        eprintln!("skipped: cgroup v1 test on a v2 host");
        return;
    }
    let m = f.manager("c");
    m.apply(f.spawn_sleep()).unwrap();
    let dir = f.dir("/sys/fs/cgroup/memory", "c");
    let steps = [
        (
            r#"{"memory":{"limit":67108864,"swap":134217728}}"#,
            "67108864",
            "134217728",
        ),
        // lowering both below the old limit needs memory first
        (
            r#"{"memory":{"limit":16777216,"swap":16777216}}"#,
            "16777216",
            "16777216",
        ),
        // raising both above the old memsw needs memsw first
        (
            r#"{"memory":{"limit":268435456,"swap":536870912}}"#,
            "268435456",
            "536870912",
        ),
        (
            r#"{"memory":{"limit":-1}}"#,
            "9223372036854771712",
            "9223372036854771712",
        ),
    ];
    for (json, limit, memsw) in steps {
        m.set(&res(json)).unwrap();
        assert_eq!(read(dir.join("memory.limit_in_bytes")), limit, "{json}");
        assert_eq!(
            read(dir.join("memory.memsw.limit_in_bytes")),
            memsw,
            "{json}"
        );
    }
    // A limit below usage can be refused up front. Charges stay where a
    // task was when it allocated, so allocate inside the cgroup first.
    let pid =
        f.spawn_gated(r#"x=$(head -c 4m /dev/zero | tr "\0" a); echo ready; exec sleep 1000"#);
    m.apply(pid).unwrap();
    assert_eq!(f.release_until_line(pid), "ready");
    let e = m
        .set(&res(
            r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#,
        ))
        .unwrap_err();
    assert!(matches!(e, Error::MemoryBelowUsage { .. }), "{e}");
}

#[test]
fn v1_missing_features_are_clear_errors() {
    let Some(f) = Fixture::new() else { return };
    let Layout::Hybrid { hierarchies, .. } = &f.layout else {
        eprintln!("skipped: written for this v1 hybrid host layout");
        return;
    };
    let has = |c: &str| hierarchies.iter().any(|h| h.has(c));
    let m = f.manager("c");
    let mut cases: Vec<(&str, &str)> = vec![
        (
            r#"{"unified":{"memory.high":"1"}}"#,
            "not supported on cgroup v1",
        ),
        // No CFQ, so no leaf weights.
        (
            r#"{"blockIO":{"leafWeight":500}}"#,
            "blkio.leaf_weight` does not exist",
        ),
    ];
    if !has("net_cls") {
        cases.push((
            r#"{"network":{"classID":1048577}}"#,
            "net_cls controller is not available",
        ));
    }
    if !has("net_prio") {
        cases.push((
            r#"{"network":{"priorities":[{"name":"lo","priority":1}]}}"#,
            "net_prio controller",
        ));
    }
    for (json, want) in cases {
        let msg = m.set(&res(json)).unwrap_err().to_string();
        assert!(msg.contains(want), "{json}: {msg}");
    }
    // The weight goes to whichever weight file the I/O schedulers provide
    // (BFQ's here, only in non-root cgroups), or fails naming blkio.weight.
    let dir = f.dir("/sys/fs/cgroup/blkio", "c");
    match m.set(&res(r#"{"blockIO":{"weight":500}}"#)) {
        Ok(()) => assert_eq!(read(dir.join("blkio.bfq.weight")), "500"),
        Err(e) => assert!(
            e.to_string().contains("blkio.weight` does not exist"),
            "{e}"
        ),
    }
    m.destroy().unwrap();
}

/// mknod's a node for `major:minor` in a temp dir and opens it from a gated
/// child inside the cgroup; returns whether the open worked.
fn can_open(f: &mut Fixture, m: &dyn Manager, major: u32, minor: u32) -> bool {
    let t = tempfile::tempdir().unwrap();
    let node = t.path().join("dev");
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        mode,
        nix::sys::stat::makedev(major.into(), minor.into()),
    )
    .unwrap();
    let pid = f.spawn_gated(&format!("exec 3<'{}' && echo opened", node.display()));
    m.apply(pid).unwrap();
    let (status, out) = f.release(pid);
    let opened = out.contains("opened");
    assert_eq!(opened, status.success(), "{out}");
    if !opened {
        assert!(out.contains("ermitted"), "expected EPERM: {out}");
    }
    opened
}

/// The same device rules, whichever backend `m` is.
fn check_device_rules(f: &mut Fixture, m: &dyn Manager) {
    // c 1:11 is /dev/kmsg: not in the default list.
    m.set(&res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#))
        .unwrap();
    assert!(can_open(f, m, 1, 7), "/dev/full is a default device");
    assert!(!can_open(f, m, 1, 11), "kmsg must be denied");
    m.set(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":11,"access":"r"}]}"#))
        .unwrap();
    assert!(can_open(f, m, 1, 11), "kmsg allowed by rule");
    // A later deny of the same node wins.
    m.set(&res(
        r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":11,"access":"r"}]}"#,
    ))
    .unwrap();
    assert!(!can_open(f, m, 1, 11), "kmsg denied again");
}

#[test]
fn v1_devices() {
    let Some(mut f) = Fixture::new() else { return };
    if f.is_v2() {
        eprintln!("skipped: cgroup v1 test on a v2 host");
        return;
    }
    let m = f.manager("c");
    check_device_rules(&mut f, m.as_ref());
    let list = read(f.dir("/sys/fs/cgroup/devices", "c").join("devices.list"));
    assert!(
        list.contains("c 1:3 rwm") && list.contains("c 136:* rwm"),
        "{list}"
    );
    // The last rules allowed kmem rwm, then denied r: v1 keeps "wm".
    assert!(list.contains("c 1:11 wm"), "{list}");
    m.destroy().unwrap();
}

#[test]
fn oom_kill_is_counted() {
    let Some(mut f) = Fixture::new() else { return };
    let m = f.manager("c");
    let r = res(r#"{"memory":{"limit":8388608,"swap":8388608}}"#);
    let pid = f.spawn_gated(r#"x=$(head -c 64m /dev/zero | tr "\0" a); echo survived"#);
    m.apply(pid).unwrap();
    if let Err(e) = m.set(&r) {
        if f.is_v2() {
            eprintln!("skipped: {e}");
            return;
        }
        panic!("{e}");
    }
    let (status, out) = f.release(pid);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{out}");
    assert!(m.oom_kill_count().unwrap() >= 1);
    m.destroy().unwrap();
}

#[test]
fn kill_all_reaches_forked_children() {
    let Some(mut f) = Fixture::new() else { return };
    let m = f.manager("c");
    let pid = f.spawn_gated("sleep 1000 & sleep 1000 & wait");
    m.apply(pid).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let i = f
        .children
        .iter()
        .position(|c| c.id() as i32 == pid)
        .unwrap();
    let mut child = f.children.remove(i);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let start = Instant::now();
    while m.pids().unwrap().len() < 3 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(m.pids().unwrap().len(), 3);
    std::thread::spawn(move || tx.send(child.wait().unwrap()).unwrap());
    m.kill_all(libc::SIGKILL).unwrap();
    let status = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // The orphaned sleeps were SIGKILLed too; destroy waits for them to go.
    m.destroy().unwrap();
    assert!(m.pids().is_err());
}

#[test]
fn v1_realtime_bandwidth() {
    let Some(mut f) = Fixture::new() else { return };
    if f.is_v2() || !Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        eprintln!("skipped: needs v1 cpu with RT group scheduling");
        return;
    }
    // RT time must be granted level by level; a top-level cgroup draws
    // directly on the root's budget.
    let rel = format!("/{}", f.name);
    let m = f.layout.manager(Some(Path::new(&rel)), "c").unwrap();
    m.apply(f.spawn_sleep()).unwrap();
    m.set(&res(
        r#"{"cpu":{"realtimePeriod":1000000,"realtimeRuntime":10000}}"#,
    ))
    .unwrap();
    let dir = Path::new("/sys/fs/cgroup/cpu").join(&f.name);
    assert_eq!(read(dir.join("cpu.rt_runtime_us")), "10000");
    assert_eq!(read(dir.join("cpu.rt_period_us")), "1000000");
}

#[test]
fn v1_idle_and_burst() {
    let Some(mut f) = Fixture::new() else { return };
    if f.is_v2() {
        eprintln!("skipped: cgroup v1 test on a v2 host");
        return;
    }
    let m = f.manager("c");
    m.apply(f.spawn_sleep()).unwrap();
    let dir = f.dir("/sys/fs/cgroup/cpu", "c");
    if dir.join("cpu.idle").exists() {
        m.set(&res(r#"{"cpu":{"idle":1}}"#)).unwrap();
        assert_eq!(read(dir.join("cpu.idle")), "1");
    }
    if dir.join("cpu.cfs_burst_us").exists() {
        m.set(&res(
            r#"{"cpu":{"quota":20000,"period":100000,"burst":10000}}"#,
        ))
        .unwrap();
        assert_eq!(read(dir.join("cpu.cfs_burst_us")), "10000");
    }
}

#[test]
fn hybrid_hugetlb_through_unified_mount() {
    let Some(f) = Fixture::new() else { return };
    let Layout::Hybrid {
        unified,
        hierarchies,
    } = &f.layout
    else {
        eprintln!("skipped: only for hybrid hosts");
        return;
    };
    if hierarchies.iter().any(|h| h.has("hugetlb")) {
        eprintln!("skipped: this host mounts hugetlb on v1");
        return;
    }
    let on = fs::read_to_string(unified.join("cgroup.subtree_control")).unwrap_or_default();
    if !on.split_whitespace().any(|c| c == "hugetlb") {
        // Enabling it would write the root cgroup2's subtree_control, which
        // these tests never touch; the path is unit-tested on a fake tree.
        eprintln!(
            "skipped: hugetlb not enabled in {}/cgroup.subtree_control",
            unified.display()
        );
        return;
    }
    let m = f.manager("c");
    m.set(&res(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
    ))
    .unwrap();
    assert_eq!(
        read(unified.join(&f.name).join("c/hugetlb.2MB.max")),
        "4194304"
    );
    assert!(m.stats().unwrap().hugetlb.contains_key("2MB"));
}

/// The v2 backend on a cgroup2 mount. On a hybrid host that mount has no
/// controllers, so only the cgroup2 core is tested, under a root of our own.
fn v2_manager(f: &Fixture) -> Option<(Box<dyn Manager>, PathBuf)> {
    let (root, layout) = match &f.layout {
        Layout::V2 { root } => (root.clone(), f.layout.clone()),
        Layout::Hybrid { unified, .. } => {
            let own = unified.join(&f.name);
            fs::create_dir_all(&own).unwrap();
            (own.clone(), Layout::V2 { root: own })
        }
        Layout::V1 { .. } => return None,
    };
    let rel = if f.is_v2() {
        f.rel("c")
    } else {
        PathBuf::from("/c")
    };
    let m = layout.manager(Some(&rel), "c").unwrap();
    let dir = root.join(rel.strip_prefix("/").unwrap());
    Some((m, dir))
}

#[test]
fn v2_core_freeze_kill_destroy() {
    let Some(mut f) = Fixture::new() else { return };
    let Some((m, dir)) = v2_manager(&f) else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    let pid = f.spawn_sleep();
    m.apply(pid).unwrap();
    assert_eq!(read(dir.join("cgroup.procs")), pid.to_string());
    assert_eq!(m.pids().unwrap(), vec![pid]);
    m.freeze(true).unwrap();
    assert!(read(dir.join("cgroup.events")).contains("frozen 1"));
    m.freeze(false).unwrap();
    assert!(read(dir.join("cgroup.events")).contains("frozen 0"));
    let s = m.stats().unwrap();
    assert!(s.cpu.usage.total > 0, "{:?}", s.cpu);
    m.kill_all(libc::SIGTERM).unwrap();
    assert_eq!(f.wait(pid).signal(), Some(libc::SIGTERM));
    let pid = f.spawn_sleep();
    m.apply(pid).unwrap();
    m.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(f.wait(pid).signal(), Some(libc::SIGKILL));
    m.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn v2_devices_ebpf() {
    let Some(mut f) = Fixture::new() else { return };
    let Some((m, dir)) = v2_manager(&f) else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    check_device_rules(&mut f, m.as_ref());
    // Each set replaced the previous program rather than stacking on it.
    let cg = fs::File::open(&dir).unwrap();
    let attached = berth_sys::bpf::query_cgroup_device(std::os::fd::AsFd::as_fd(&cg)).unwrap();
    assert_eq!(attached.len(), 1, "{attached:?}");
    drop(cg);
    m.destroy().unwrap();
}

#[test]
fn v2_controllers() {
    let Some(mut f) = Fixture::new() else { return };
    if !f.is_v2() {
        eprintln!(
            "skipped: v2 memory/cpu/pids/io limits need a cgroup v2 host (covered in the qemu VM)"
        );
        return;
    }
    let m = f.manager("c");
    m.apply(f.spawn_sleep()).unwrap();
    m.set(&res(
        r#"{"memory":{"limit":67108864,"swap":134217728,"reservation":1048576},
            "cpu":{"shares":1024,"quota":50000,"period":100000},"pids":{"limit":40}}"#,
    ))
    .unwrap();
    let dir = f.dir(&mounts(&f.layout)[0].to_string_lossy(), "c");
    let cases = [
        ("memory.max", "67108864"),
        ("memory.low", "1048576"),
        ("cpu.weight", "100"),
        ("cpu.max", "50000 100000"),
        ("pids.max", "40"),
    ];
    for (file, want) in cases {
        assert_eq!(read(dir.join(file)), want, "{file}");
    }
    if dir.join("memory.swap.max").exists() {
        assert_eq!(read(dir.join("memory.swap.max")), "67108864");
    }
    let s = m.stats().unwrap();
    assert_eq!(s.pids.limit, 40);
    assert!(s.memory.usage.usage > 0);
}

#[test]
fn default_and_systemd_paths() {
    let layout = host_layout();
    let m = layout.manager(None, "web").unwrap();
    assert_eq!(m.path(), "/berth/web");
    let e = berth_cgroups::create_manager(Some(Path::new("system.slice:berth:web")), "web")
        .err()
        .unwrap();
    assert!(e.to_string().contains("systemd"), "{e}");
}
