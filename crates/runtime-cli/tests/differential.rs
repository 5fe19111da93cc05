//! Differential: the same bundle through the runtime under test, runc and crun; the
//! `berth-check report`s must agree on everything the OCI spec fixes: which namespaces
//! are new or joined, the mount set and flags, capability sets, seccomp mode,
//! no_new_privs, cgroup limits, rlimits, ids, umask, cwd, env, hostname, sysctls and
//! masked paths. Fields that legitimately differ (pids, inode numbers, mount ids,
//! cgroup paths named after the container id) are normalised away first.

mod common;

use std::collections::BTreeMap;

use common::{host_ns, ns_inode, Bundle, NetNs, NsHolder, Runtime};
use serde_json::{json, Map, Value};

const MIB: u64 = 1 << 20;

/// Paths whose masking is compared (they exist on most kernels).
const PROBED_PATHS: [&str; 8] = [
    "/proc/keys",
    "/proc/timer_list",
    "/proc/kcore",
    "/sys/firmware",
    "/proc/acpi",
    "/proc/scsi",
    "/etc/secret",
    "/mnt/hidden",
];
/// Default devices, bind-mounted from the host when a user namespace forbids mknod.
const DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];
const SYSCTLS: [&str; 2] = ["net.ipv4.ip_forward", "kernel.msgmax"];

/// The comparable view of a report. `joined` names namespace files the container was
/// told to join, so "joined <path>" can be told apart from "new".
///
/// How a path is masked (a /dev/null bind from the container's /dev or the host's, a
/// read-only tmpfs) and the flags on default device binds under a user namespace are
/// the runtime's choice, so those mounts are compared by target only and masked paths
/// by what reading them gives.
fn normalize(r: &Value, joined: &[(&str, String)], masked: &[String]) -> Value {
    let mut n = Map::new();
    let mut ns = Map::new();
    for (name, ino) in r["namespaces"].as_object().unwrap() {
        let ino = ino.as_u64();
        let kind = if ino.is_none() {
            "absent".to_string()
        } else if ino == Some(host_ns(name)) {
            "host".to_string()
        } else if let Some((_, p)) = joined.iter().find(|(_, p)| Some(ns_inode(p)) == ino) {
            format!("joined {p}")
        } else {
            "new".to_string()
        };
        ns.insert(name.clone(), json!(kind));
    }
    n.insert("namespaces".into(), Value::Object(ns));

    let flags = ["ro", "rw", "nosuid", "nodev", "noexec"];
    let mut mounts: Vec<String> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let target = m["target"].as_str().unwrap();
            if masked.iter().any(|p| p == target) {
                return format!("{target} <masked>");
            }
            if DEVICES.contains(&target) {
                return format!("{target} <device>");
            }
            let opts: Vec<&str> = m["options"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|o| o.as_str())
                .filter(|o| flags.contains(o))
                .collect();
            format!(
                "{target} {} {}",
                m["fstype"].as_str().unwrap(),
                opts.join(",")
            )
        })
        .collect();
    mounts.sort();
    n.insert("mounts".into(), json!(mounts));

    for k in [
        "uid",
        "gid",
        "euid",
        "egid",
        "status_uid",
        "status_gid",
        "umask",
        "cwd",
        "hostname",
        "capabilities",
        "no_new_privs",
        "seccomp",
        "rlimits",
        "oom_score_adj",
        "uid_map",
        "gid_map",
        "sysctl",
        "tty",
        "personality",
        "cpus_allowed",
    ] {
        n.insert(k.into(), r[k].clone());
    }
    let mut groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    groups.sort();
    groups.dedup();
    n.insert("groups".into(), json!(groups));
    let mut env: Vec<String> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str().map(String::from))
        .collect();
    env.sort();
    n.insert("env".into(), json!(env));
    n.insert("pid_is_1".into(), json!(r["pid"] == 1));
    n.insert("fds".into(), json!(r["fds"].as_array().unwrap().len()));
    n.insert("cgroup_limits".into(), r["cgroup"]["limits"].clone());
    n.insert("cgroup_version".into(), r["cgroup"]["version"].clone());
    // Inside a cgroup namespace every path is "/"; outside it ends in the container's id.
    let paths: BTreeMap<String, String> = r["cgroup"]["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if v == "/" {
                    "/".into()
                } else {
                    "<container>".into()
                },
            )
        })
        .collect();
    n.insert("cgroup_paths".into(), json!(paths));
    let paths: Map<String, Value> = r["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, v)| {
            (
                p.clone(),
                json!({"exists": v["exists"], "type": v["type"], "read": v["read"]}),
            )
        })
        .collect();
    n.insert("paths".into(), Value::Object(paths));
    Value::Object(n)
}

/// Field-by-field differences between two normalised reports.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y))
            if x.iter().all(Value::is_string) && y.iter().all(Value::is_string) && x != y =>
        {
            let only_a: Vec<&Value> = x.iter().filter(|v| !y.contains(v)).collect();
            let only_b: Vec<&Value> = y.iter().filter(|v| !x.contains(v)).collect();
            out.push(format!(
                "{path}: only in first {only_a:?}, only in second {only_b:?}"
            ));
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// Runs `berth-check report` for the bundle under every runtime and asserts the
/// normalised reports agree with the runtime under test.
fn compare(b: &mut Bundle, joined: &[(&str, String)]) {
    let mut args = vec!["report"];
    for p in PROBED_PATHS {
        args.extend(["--path", p]);
    }
    for s in SYSCTLS {
        args.extend(["--sysctl", s]);
    }
    let masked: Vec<String> = b.spec["linux"]["maskedPaths"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let runtimes = Runtime::differential();
    let reports: Vec<(&str, Value)> = runtimes
        .iter()
        .map(|rt| {
            let out = rt.run_check(b, &args);
            assert!(out.success(), "{}: {out}", rt.name());
            (rt.name(), normalize(&out.json(), joined, &masked))
        })
        .collect();
    let (base_name, base) = &reports[0];
    let mut problems = Vec::new();
    for (name, r) in &reports[1..] {
        let mut d = Vec::new();
        diff(base, r, "", &mut d);
        problems.extend(d.into_iter().map(|x| format!("{base_name} vs {name}: {x}")));
    }
    assert!(
        problems.is_empty(),
        "reports differ:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn default_spec() {
    let mut b = Bundle::new();
    compare(&mut b, &[]);
}

#[test]
fn rich_spec() {
    let mut b = Bundle::new();
    std::fs::write(b.rootfs().join("etc/secret"), "x").unwrap();
    std::fs::create_dir_all(b.rootfs().join("mnt/hidden")).unwrap();
    let shared = b.host_dir("shared");
    let caps = json!([
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID"
    ]);
    b.set("/process/user", json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 0o027}))
        .set("/process/cwd", json!("/tmp"))
        .set("/process/env", json!(["PATH=/bin", "A=1", "HOME=/home/berth"]))
        .set("/process/oomScoreAdj", json!(300))
        .set("/process/noNewPrivileges", json!(true))
        .set("/process/capabilities", json!({"bounding": caps, "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}))
        .set("/process/rlimits", json!([{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
            {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]))
        .set("/hostname", json!("diff-host"))
        .set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "9999"}))
        .set("/linux/resources/memory", json!({"limit": 100 * MIB, "reservation": 50 * MIB}))
        .set("/linux/resources/pids", json!({"limit": 64}))
        .set("/linux/resources/cpu", json!({"quota": 30000, "period": 100000, "shares": 256, "cpus": "0"}))
        .set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]}));
    b.namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]);
    let mut masked = b.spec["linux"]["maskedPaths"].as_array().unwrap().clone();
    masked.extend([json!("/etc/secret"), json!("/mnt/hidden")]);
    b.set("/linux/maskedPaths", json!(masked));
    let mut ro = b.spec["linux"]["readonlyPaths"].as_array().unwrap().clone();
    ro.push(json!("/home"));
    b.set("/linux/readonlyPaths", json!(ro));
    b.mount(
        "/scratch",
        "tmpfs",
        "tmpfs",
        &["nosuid", "nodev", "size=2m"],
    );
    b.mount(
        "/data",
        "bind",
        shared.to_str().unwrap(),
        &["rbind", "ro", "nosuid", "nodev", "noexec"],
    );
    compare(&mut b, &[]);
}

#[test]
fn joined_namespaces() {
    let netns = NetNs::new();
    let holder = NsHolder::new();
    let mut b = Bundle::new();
    b.set(
        "/linux/namespaces",
        json!([
            {"type": "network", "path": netns.path()},
            {"type": "uts", "path": holder.ns_path("uts")},
            {"type": "ipc", "path": holder.ns_path("ipc")},
            {"type": "pid"},
            {"type": "mount"}
        ]),
    );
    b.spec.as_object_mut().unwrap().remove("hostname");
    compare(
        &mut b,
        &[
            ("net", netns.path()),
            ("uts", holder.ns_path("uts")),
            ("ipc", holder.ns_path("ipc")),
        ],
    );
}

#[test]
fn user_namespace() {
    let mut b = Bundle::new();
    b.user_namespace(100000, 100000);
    compare(&mut b, &[]);
}

/// Operations whose outcome the spec fixes (device cgroup, capabilities, seccomp,
/// read-only and masked paths), tried under every runtime with one bundle; the printed
/// errnos must match line by line.
#[test]
fn probes_agree() {
    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    // A node with no allow rule, one with a read-only rule (major 240: no driver, so an
    // open the cgroup lets through ends in ENXIO).
    b.push(
        "/linux/devices",
        json!({"path": "/dev/berth-a", "type": "c", "major": 240, "minor": 7, "fileMode": 0o666}),
    );
    b.push(
        "/linux/devices",
        json!({"path": "/dev/berth-b", "type": "c", "major": 240, "minor": 8, "fileMode": 0o666}),
    );
    b.push(
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": 240, "minor": 8, "access": "r"}),
    );
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}]}),
    );
    let mut ro = b.spec["linux"]["readonlyPaths"].as_array().unwrap().clone();
    ro.push(json!("/home"));
    b.set("/linux/readonlyPaths", json!(ro));
    let probes = [
        "open /dev/berth-a r",
        "open /dev/berth-b r",
        "open /dev/berth-b w",
        "open /dev/null rw",
        "open /dev/zero r",
        "open /dev/full w",
        "open /dev/tty rw",
        "open /proc/keys r",
        "open /proc/kcore r",
        "open /sys/firmware rd",
        "mknod /tmp/node",
        "mount tmpfs /mnt",
        "sethostname other",
        "chroot /tmp",
        "setuid 1000",
        "kill 1 0",
        "unshare net",
        "write /home/berth/f x",
        "write /proc/sys/kernel/domainname x",
        "write /sys/kernel/notes x",
        "write /tmp/f x",
        "syscall uname",
        "syscall getcwd",
        "socket netlink",
        "socket packet",
    ];
    let script = probes
        .iter()
        .map(|p| format!("echo \"{p}: $(berth-check try {p})\""))
        .collect::<Vec<_>>()
        .join("; ");
    b.args(&["/bin/sh", "-c", &script]);
    let runtimes = Runtime::differential();
    let outs: Vec<(&str, String)> = runtimes
        .iter()
        .map(|rt| {
            let out = rt.run(&b, &common::unique("probe"));
            assert!(out.success(), "{}: {out}", rt.name());
            (rt.name(), out.stdout)
        })
        .collect();
    let (base_name, base) = &outs[0];
    let mut problems = Vec::new();
    for (name, out) in &outs[1..] {
        if base.lines().count() != probes.len() || out.lines().count() != probes.len() {
            problems.push(format!(
                "want {} lines:\n{base_name}:\n{base}\n{name}:\n{out}",
                probes.len()
            ));
        }
        for (a, b) in base.lines().zip(out.lines()) {
            if a != b {
                problems.push(format!("{base_name} `{a}` vs {name} `{b}`"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "probe results differ:\n  {}",
        problems.join("\n  ")
    );
}
