//! Namespaces: new ones, host ones (absent from the config), joined by path, user
//! namespace id mappings, time offsets, cgroup namespace, hostname/domainname, sysctl.

mod common;

use std::fs;
use std::time::Duration;

use common::{host_ns, ns_inode, unique, wait_for_text, Bundle, Kind, NetNs, NsHolder, Runtime};
use serde_json::json;

const T: Duration = Duration::from_secs(5);

/// OCI namespace type → /proc/self/ns name.
const NS: [(&str, &str); 6] = [
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
];

#[test]
fn all_namespaces_new() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]);
    let r = rt.report(&mut b, &[]);
    for (_, ns) in NS {
        assert_ne!(
            r["namespaces"][ns],
            host_ns(ns),
            "{ns} namespace must be new: {}",
            r["namespaces"]
        );
    }
    assert_eq!(
        r["namespaces"]["user"],
        host_ns("user"),
        "no user namespace was asked for"
    );
    assert_eq!(r["pid"], 1, "init of a new pid namespace is pid 1");
    assert_eq!(r["ppid"], 0);
}

#[test]
fn absent_namespaces_are_the_hosts() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.namespaces(&["mount"]);
    // A hostname needs a private uts namespace (see errors.rs).
    b.spec.as_object_mut().unwrap().remove("hostname");
    let r = rt.report(&mut b, &[]);
    for ns in ["pid", "net", "ipc", "uts", "cgroup", "user"] {
        assert_eq!(r["namespaces"][ns], host_ns(ns), "{ns} must be the host's");
    }
    assert_ne!(r["namespaces"]["mnt"], host_ns("mnt"));
    assert_ne!(r["pid"], 1, "host pid namespace: not pid 1");
}

#[test]
fn join_namespaces_by_path() {
    let rt = Runtime::under_test();
    let netns = NetNs::new();
    let holder = NsHolder::new();
    let mut b = Bundle::new();
    b.set(
        "/linux/namespaces",
        json!([
            {"type": "network", "path": netns.path()},
            {"type": "pid", "path": holder.ns_path("pid")},
            {"type": "uts", "path": holder.ns_path("uts")},
            {"type": "ipc", "path": holder.ns_path("ipc")},
            {"type": "cgroup", "path": holder.ns_path("cgroup")},
            {"type": "mount"}
        ]),
    );
    // The holder's uts namespace keeps its own hostname; do not set one.
    b.spec.as_object_mut().unwrap().remove("hostname");
    let r = rt.report(&mut b, &[]);
    assert_eq!(
        r["namespaces"]["net"],
        ns_inode(&netns.path()),
        "joined netns"
    );
    for ns in ["pid", "uts", "ipc", "cgroup"] {
        assert_eq!(
            r["namespaces"][ns],
            ns_inode(&holder.ns_path(ns)),
            "joined {ns}"
        );
    }
    assert_ne!(
        r["pid"], 1,
        "the holder is pid 1 of the joined pid namespace"
    );
    assert_ne!(r["namespaces"]["mnt"], host_ns("mnt"));
}

fn userns_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.user_namespace(100000, 200000);
    b
}

#[test]
fn user_namespace_mappings() {
    let rt = Runtime::under_test();
    let mut b = userns_bundle();
    let r = rt.report(&mut b, &[]);
    assert_ne!(r["namespaces"]["user"], host_ns("user"));
    assert_eq!(r["uid_map"], json!([[0, 100000, 65536]]));
    assert_eq!(r["gid_map"], json!([[0, 200000, 65536]]));
    assert_eq!(r["uid"], 0);
    assert_eq!(r["gid"], 0);
    assert_eq!(
        r["capabilities"]["effective"],
        json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"])
    );
}

#[test]
fn new_user_namespace_joins_a_network_namespace_it_does_not_own() {
    // The network namespace belongs to the host's user namespace: it must be joined
    // before the new user namespace is made (from inside it setns gets EPERM), and sysfs,
    // which mounts only for the netns' owner, is bound from the host instead.
    let rt = Runtime::under_test();
    let netns = NetNs::new();
    let mut b = userns_bundle();
    let mut ns = b.spec["linux"]["namespaces"].as_array().unwrap().clone();
    for n in ns.iter_mut().filter(|n| n["type"] == "network") {
        *n = json!({"type": "network", "path": netns.path()});
    }
    b.set("/linux/namespaces", json!(ns));
    let mounts: Vec<serde_json::Value> = b.spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| match m["destination"] == "/sys" {
            true => json!({"destination": "/sys", "type": "bind", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
            false => m.clone(),
        })
        .collect();
    b.set("/mounts", json!(mounts));
    let r = rt.report(&mut b, &[]);
    assert_eq!(
        r["namespaces"]["net"],
        ns_inode(&netns.path()),
        "joined netns"
    );
    assert_ne!(r["namespaces"]["user"], host_ns("user"));
    assert_eq!(r["uid_map"], json!([[0, 100000, 65536]]));
}

#[test]
fn user_namespace_ids_seen_from_host() {
    let rt = Runtime::under_test();
    let mut b = userns_bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.check(&["wait-signal"]);
    let id = unique("ns");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    wait_for_text(&b.stdout_path(), "ready", T);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .unwrap_or("")
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        field("Uid:"),
        "101000",
        "container uid 1000 is host uid 100000+1000"
    );
    assert_eq!(
        field("Gid:"),
        "201000",
        "container gid 1000 is host gid 200000+1000"
    );
    rt.kill(&id, "KILL").ok();
}

#[test]
fn time_namespace_offsets() {
    let rt = Runtime::under_test();
    if rt.kind() == Kind::Runc {
        eprintln!("skip: runc 1.1 has no time namespace support");
        return;
    }
    let mut b = Bundle::new();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "time"]);
    let year = 365 * 86400;
    b.set("/linux/timeOffsets", json!({"monotonic": {"secs": year, "nanosecs": 0}, "boottime": {"secs": year, "nanosecs": 0}}));
    b.check(&["cat", "/proc/uptime"]);
    let out = rt.run(&b, &unique("ns")).ok();
    let uptime: f64 = out
        .stdout
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        uptime > year as f64,
        "boottime offset must show in /proc/uptime: {uptime}"
    );
    let r = rt.report(&mut b, &[]);
    assert_ne!(r["namespaces"]["time"], host_ns("time"));
}

#[test]
fn cgroup_namespace_hides_the_path() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]);
    let r = rt.report(&mut b, &[]);
    for (ctl, path) in r["cgroup"]["paths"].as_object().unwrap() {
        assert_eq!(
            path, "/",
            "controller {ctl:?} path inside a cgroup namespace"
        );
    }
    let mut b = Bundle::new();
    let r = rt.report(&mut b, &[]);
    let mem = r["cgroup"]["paths"]["memory"].as_str().unwrap();
    assert!(
        mem.starts_with("/chk-"),
        "without a cgroup namespace the host path shows: {mem}"
    );
}

#[test]
fn hostname_and_domainname() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/hostname", json!("berth-host"));
    b.set("/domainname", json!("berth.example"));
    let r = rt.report(&mut b, &[]);
    assert_eq!(r["hostname"], "berth-host");
    if rt.kind() == Kind::Runc {
        eprintln!("skip domainname: runc 1.1 ignores it (added in runc 1.2)");
    } else {
        assert_eq!(r["domainname"], "berth.example");
    }
    let host = nix::unistd::gethostname().unwrap();
    assert_ne!(
        host.to_str(),
        Some("berth-host"),
        "the host's hostname must not change"
    );
}

#[test]
fn sysctl_applied_in_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345", "net.ipv4.ping_group_range": "0 0"}));
    let r = rt.report(
        &mut b,
        &[
            "--sysctl",
            "net.ipv4.ip_forward",
            "--sysctl",
            "kernel.msgmax",
            "--sysctl",
            "net.ipv4.ping_group_range",
        ],
    );
    assert_eq!(r["sysctl"]["net.ipv4.ip_forward"], "1");
    assert_eq!(r["sysctl"]["kernel.msgmax"], "12345");
    assert_eq!(r["sysctl"]["net.ipv4.ping_group_range"], "0\t0");
    let host = fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(
        host.trim(),
        "12345",
        "ipc sysctl must stay in the container's ipc namespace"
    );
}
