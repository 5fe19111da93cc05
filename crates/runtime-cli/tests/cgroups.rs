//! Cgroup limits as the container sees them (v1 files on a v1/hybrid host, v2 files on a
//! unified host), the host-side cgroup directory, `update`, pids and memory enforcement,
//! and the device cgroup.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::{unique, wait_for_text, Bundle, Runtime};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(5);
const MIB: u64 = 1 << 20;

fn host_v2() -> bool {
    fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok()
}

/// Host path of a container cgroup file: `/sys/fs/cgroup/<ctl>/<id>/<file>` on v1.
fn host_file(id: &str, ctl: &str, file: &str) -> PathBuf {
    if host_v2() {
        PathBuf::from(format!("/sys/fs/cgroup/{id}/{file}"))
    } else {
        PathBuf::from(format!("/sys/fs/cgroup/{ctl}/{id}/{file}"))
    }
}

fn read_host(id: &str, ctl: &str, file: &str) -> String {
    let p = host_file(id, ctl, file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The limit the container reads: the v1 file on a v1 host, the v2 file otherwise.
#[track_caller]
fn limit<'a>(r: &'a Value, v1: &str, v2: &str) -> &'a str {
    let key = if r["cgroup"]["version"] == 2 { v2 } else { v1 };
    r["cgroup"]["limits"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} not readable in the container: {}", r["cgroup"]))
}

#[test]
fn memory_limits_visible_inside() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/linux/resources/memory",
        json!({"limit": 64 * MIB, "reservation": 32 * MIB}),
    );
    let r = rt.report(&mut b, &[]);
    assert_eq!(
        limit(&r, "memory.limit_in_bytes", "memory.max"),
        (64 * MIB).to_string()
    );
    assert_eq!(
        limit(&r, "memory.soft_limit_in_bytes", "memory.low"),
        (32 * MIB).to_string()
    );
}

#[test]
fn memory_swap_limit() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/linux/resources/memory",
        json!({"limit": 64 * MIB, "swap": 96 * MIB}),
    );
    let r = rt.report(&mut b, &[]);
    if r["cgroup"]["version"] == 2 {
        // OCI swap is memory+swap; cgroup v2 swap.max is swap alone.
        assert_eq!(limit(&r, "", "memory.swap.max"), (32 * MIB).to_string());
    } else if r["cgroup"]["limits"]["memory.memsw.limit_in_bytes"].is_string() {
        assert_eq!(
            limit(&r, "memory.memsw.limit_in_bytes", ""),
            (96 * MIB).to_string()
        );
    }
}

#[test]
fn pids_limit_visible_and_enforced() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/linux/resources/pids", json!({"limit": 5}));
    let r = rt.report(&mut b, &[]);
    assert_eq!(limit(&r, "pids.max", "pids.max"), "5");
    let out = rt.run_check(&mut b, &["spawn", "10"]);
    assert_eq!(
        out.code(),
        Some(1),
        "10 children cannot fit under pids.max=5: {out}"
    );
    assert!(
        out.stdout.starts_with("spawned 4 EAGAIN"),
        "init + 4 children = 5: {out}"
    );
}

#[test]
fn cpu_limits_visible_inside() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/linux/resources/cpu",
        json!({"quota": 50000, "period": 100000, "shares": 512, "cpus": "0", "mems": "0"}),
    );
    let r = rt.report(&mut b, &[]);
    if r["cgroup"]["version"] == 2 {
        assert_eq!(limit(&r, "", "cpu.max"), "50000 100000");
        // runc's shares→weight conversion: 1 + ((512 - 2) * 9999) / 262142 = 20.
        assert_eq!(limit(&r, "", "cpu.weight"), "20");
    } else {
        assert_eq!(limit(&r, "cpu.cfs_quota_us", ""), "50000");
        assert_eq!(limit(&r, "cpu.cfs_period_us", ""), "100000");
        assert_eq!(limit(&r, "cpu.shares", ""), "512");
    }
    assert_eq!(limit(&r, "cpuset.cpus", "cpuset.cpus"), "0");
    assert_eq!(
        r["cpus_allowed"], "0",
        "the cpuset restricts the task's affinity"
    );
}

#[test]
fn host_cgroup_dir_lives_with_the_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/linux/resources/memory", json!({"limit": 48 * MIB}));
    b.set("/linux/resources/pids", json!({"limit": 50}));
    b.check(&["sleep", "30"]);
    let id = unique("cg");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(
        read_host(&id, "memory", "memory.limit_in_bytes").replace("max", ""),
        (48 * MIB).to_string()
    );
    assert_eq!(read_host(&id, "pids", "pids.max"), "50");
    let procs = read_host(&id, "pids", "cgroup.procs");
    assert!(
        procs.lines().any(|p| p == pid.to_string()),
        "init {pid} is in the cgroup before start: {procs}"
    );
    rt.delete_force(&id).ok();
    common::assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn update_changes_limits() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/linux/resources/memory", json!({"limit": 64 * MIB}));
    b.set("/linux/resources/pids", json!({"limit": 10}));
    b.check(&["wait-signal"]);
    let id = unique("cg");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    wait_for_text(&b.stdout_path(), "ready", T);

    let mem = (128 * MIB).to_string();
    rt.cmd(&["update", "--memory", &mem, "--pids-limit", "20", &id])
        .ok();
    let r = rt.exec(&id, &["/bin/berth-check", "report"]).ok().json();
    assert_eq!(limit(&r, "memory.limit_in_bytes", "memory.max"), mem);
    assert_eq!(limit(&r, "pids.max", "pids.max"), "20");

    let res = b.path().join("resources.json");
    fs::write(
        &res,
        json!({"memory": {"limit": 96 * MIB}, "cpu": {"quota": 20000, "period": 100000}})
            .to_string(),
    )
    .unwrap();
    rt.cmd(&["update", "--resources", res.to_str().unwrap(), &id])
        .ok();
    let r = rt.exec(&id, &["/bin/berth-check", "report"]).ok().json();
    assert_eq!(
        limit(&r, "memory.limit_in_bytes", "memory.max"),
        (96 * MIB).to_string()
    );
    if r["cgroup"]["version"] == 2 {
        assert_eq!(limit(&r, "", "cpu.max"), "20000 100000");
    } else {
        assert_eq!(limit(&r, "cpu.cfs_quota_us", ""), "20000");
    }
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn memory_limit_ooms_the_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // memory+swap equal to memory: no swap to escape to.
    b.set(
        "/linux/resources/memory",
        json!({"limit": 16 * MIB, "swap": 16 * MIB}),
    );
    b.check(&["alloc", "64"]);
    let out = rt.run(&b, &unique("cg"));
    assert_eq!(
        out.code(),
        Some(137),
        "killed by SIGKILL from the OOM killer: {out}"
    );
    assert!(!out.stdout.contains("allocated"), "{out}");
}

/// Char major 240 is reserved for local use and has no driver here: once the device
/// cgroup lets an open through, the kernel answers ENXIO; the cgroup itself answers EPERM.
const UNUSED_DEVICE: (u64, u64) = (240, 7);

#[test]
fn device_cgroup_denies_unlisted_devices() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let (major, minor) = UNUSED_DEVICE;
    // A node from linux.devices that linux.resources.devices does not allow: creating
    // the node does not allow it in the device cgroup. runc 1.1 and crun 1.8 both deny
    // the open (run this test with BERTH_TEST_RUNTIME=runc or crun to see).
    b.push("/linux/devices", json!({"path": "/dev/berth-dev", "type": "c", "major": major, "minor": minor, "fileMode": 0o666}));
    let out = rt.run_check(&mut b, &["try", "open", "/dev/berth-dev", "r"]);
    assert_eq!(out.stdout.trim(), "EPERM", "{out}");
    let out = rt.run_check(&mut b, &["try", "open", "/dev/null", "rw"]);
    assert_eq!(out.stdout.trim(), "ok", "{out}");
}

#[test]
fn device_cgroup_allows_listed_devices() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let (major, minor) = UNUSED_DEVICE;
    b.push("/linux/devices", json!({"path": "/dev/berth-dev", "type": "c", "major": major, "minor": minor, "fileMode": 0o666}));
    b.push(
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "r"}),
    );
    let out = rt.run_check(&mut b, &["try", "open", "/dev/berth-dev", "r"]);
    assert_eq!(
        out.stdout.trim(),
        "ENXIO",
        "read access passes the cgroup, then finds no driver: {out}"
    );
    let out = rt.run_check(&mut b, &["try", "open", "/dev/berth-dev", "w"]);
    assert_eq!(
        out.stdout.trim(),
        "EPERM",
        "only read access was allowed: {out}"
    );
}

#[test]
fn update_resources_from_stdin() {
    // containerd: `update --resources - ID` with the LinuxResources JSON on stdin.
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/linux/resources/pids", json!({"limit": 10}));
    b.check(&["sleep", "30"]);
    let id = unique("cg");
    rt.create(&b, &id).ok();
    let res = json!({"pids": {"limit": 33}, "memory": {"limit": 80 * MIB}}).to_string();
    rt.cmd_input(&["update", "--resources", "-", &id], &res)
        .ok();
    assert_eq!(read_host(&id, "pids", "pids.max"), "33");
    let mem = if host_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read_host(&id, "memory", mem), (80 * MIB).to_string());
}
