//! `berth-check report`: one JSON object describing what the process sees.
//!
//! Every field is read, never changed: the report must not disturb what it describes
//! (the umask comes from /proc/self/status rather than umask(2) for that reason).
//! A value that cannot be read is `null`, so a missing /proc shows up as nulls rather
//! than as a crash.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::resource::{getrlimit, Resource};
use nix::sys::stat::Mode;
use nix::unistd;
use serde_json::{json, Map, Value};

use crate::parse;

/// Options of `report`: extra sysctls and paths to describe.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) sysctls: Vec<String>,
    pub(crate) paths: Vec<String>,
}

/// Builds the whole report.
pub(crate) fn report(opts: &Options) -> Value {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let sf = |k: &str| parse::status_field(&status, k).map(str::to_string);
    let uts = nix::sys::utsname::uname().ok();
    let mut r = Map::new();
    r.insert("pid".into(), json!(unistd::getpid().as_raw()));
    r.insert("ppid".into(), json!(unistd::getppid().as_raw()));
    r.insert("uid".into(), json!(unistd::getuid().as_raw()));
    r.insert("gid".into(), json!(unistd::getgid().as_raw()));
    r.insert("euid".into(), json!(unistd::geteuid().as_raw()));
    r.insert("egid".into(), json!(unistd::getegid().as_raw()));
    let groups = unistd::getgroups().map(|g| g.iter().map(|g| g.as_raw()).collect::<Vec<_>>());
    r.insert("groups".into(), json!(groups.ok()));
    r.insert("status_uid".into(), json!(sf("Uid").map(split_ws)));
    r.insert("status_gid".into(), json!(sf("Gid").map(split_ws)));
    r.insert("umask".into(), json!(sf("Umask")));
    r.insert(
        "cwd".into(),
        json!(unistd::getcwd().ok().map(|p| p.display().to_string())),
    );
    let host = uts
        .as_ref()
        .map(|u| u.nodename().to_string_lossy().into_owned());
    r.insert("hostname".into(), json!(host));
    let domain = uts
        .as_ref()
        .map(|u| u.domainname().to_string_lossy().into_owned());
    r.insert("domainname".into(), json!(domain));
    r.insert("namespaces".into(), namespaces());
    r.insert(
        "uid_map".into(),
        json!(read("/proc/self/uid_map").map(|t| parse::id_map(&t))),
    );
    r.insert(
        "gid_map".into(),
        json!(read("/proc/self/gid_map").map(|t| parse::id_map(&t))),
    );
    r.insert("capabilities".into(), capabilities(&status));
    r.insert(
        "no_new_privs".into(),
        json!(sf("NoNewPrivs").and_then(|v| v.parse::<u8>().ok())),
    );
    r.insert(
        "seccomp".into(),
        json!(sf("Seccomp").and_then(|v| v.parse::<u8>().ok())),
    );
    let filters = sf("Seccomp_filters").and_then(|v| v.parse::<u64>().ok());
    r.insert("seccomp_filters".into(), json!(filters));
    r.insert("cpus_allowed".into(), json!(sf("Cpus_allowed_list")));
    r.insert("rlimits".into(), rlimits());
    let oom = read("/proc/self/oom_score_adj").and_then(|v| v.trim().parse::<i64>().ok());
    r.insert("oom_score_adj".into(), json!(oom));
    r.insert(
        "mounts".into(),
        json!(read("/proc/self/mountinfo").map(|t| parse::mountinfo(&t))),
    );
    r.insert("cgroup".into(), cgroup());
    r.insert(
        "env".into(),
        json!(std::env::vars_os().map(env_pair).collect::<Vec<_>>()),
    );
    r.insert(
        "args".into(),
        json!(std::env::args_os().map(lossy).collect::<Vec<_>>()),
    );
    r.insert("fds".into(), json!(fds()));
    r.insert("tty".into(), tty());
    // /proc/self/personality holds the whole value; nix's Persona drops domain bits such
    // as PER_LINUX32 (0x0008) that are not flags.
    let persona = std::fs::read_to_string("/proc/self/personality")
        .ok()
        .and_then(|s| i64::from_str_radix(s.trim(), 16).ok());
    r.insert("personality".into(), json!(persona));
    r.insert("sched".into(), sched());
    // Through berth-sys, where the project's syscall wrappers live (nix has no ioprio).
    let ioprio = berth_sys::process::ioprio_get_self().ok();
    r.insert(
        "ioprio".into(),
        json!(ioprio.map(|(class, level)| json!({"class": class, "level": level}))),
    );
    r.insert("sysctl".into(), sysctls(&opts.sysctls));
    r.insert("paths".into(), paths(&opts.paths));
    Value::Object(r)
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn split_ws(s: String) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

fn lossy(s: std::ffi::OsString) -> String {
    s.to_string_lossy().into_owned()
}

fn env_pair((k, v): (std::ffi::OsString, std::ffi::OsString)) -> String {
    format!("{}={}", k.to_string_lossy(), v.to_string_lossy())
}

/// Inode of each `/proc/self/ns/*` link; a kernel without the namespace gives null.
fn namespaces() -> Value {
    let mut m = Map::new();
    for ns in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        let link = fs::read_link(format!("/proc/self/ns/{ns}")).ok();
        let ino = link.and_then(|l| parse::ns_inode(&l.to_string_lossy()));
        m.insert(ns.into(), json!(ino));
    }
    Value::Object(m)
}

/// The five capability sets, each as its hex mask and its sorted names.
fn capabilities(status: &str) -> Value {
    let mut m = Map::new();
    for (key, name) in [
        ("CapInh", "inheritable"),
        ("CapPrm", "permitted"),
        ("CapEff", "effective"),
        ("CapBnd", "bounding"),
        ("CapAmb", "ambient"),
    ] {
        let hex = parse::status_field(status, key);
        m.insert(name.into(), json!(hex.and_then(parse::decode_caps)));
        m.insert(format!("{name}_hex"), json!(hex));
    }
    Value::Object(m)
}

const RLIMITS: [(&str, Resource); 16] = [
    ("RLIMIT_AS", Resource::RLIMIT_AS),
    ("RLIMIT_CORE", Resource::RLIMIT_CORE),
    ("RLIMIT_CPU", Resource::RLIMIT_CPU),
    ("RLIMIT_DATA", Resource::RLIMIT_DATA),
    ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", Resource::RLIMIT_NICE),
    ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
    ("RLIMIT_RSS", Resource::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", Resource::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", Resource::RLIMIT_STACK),
];

/// Every rlimit as `{"soft": n, "hard": n}`; RLIM_INFINITY is u64::MAX, as in the OCI spec.
fn rlimits() -> Value {
    let mut m = Map::new();
    for (name, res) in RLIMITS {
        let v = getrlimit(res)
            .ok()
            .map(|(soft, hard)| json!({"soft": soft, "hard": hard}));
        m.insert(name.into(), json!(v));
    }
    Value::Object(m)
}

/// Limit files read for each cgroup version; (controller, file).
const V1_FILES: [(&str, &str); 12] = [
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.soft_limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("memory", "memory.swappiness"),
    ("memory", "memory.kmem.tcp.limit_in_bytes"),
    ("pids", "pids.max"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpu", "cpu.shares"),
    ("cpuset", "cpuset.cpus"),
    ("cpuset", "cpuset.mems"),
    ("blkio", "blkio.weight"),
];
const V2_FILES: [&str; 11] = [
    "memory.max",
    "memory.high",
    "memory.low",
    "memory.min",
    "memory.swap.max",
    "pids.max",
    "cpu.max",
    "cpu.weight",
    "cpuset.cpus",
    "cpuset.mems",
    "io.weight",
];

/// Cgroup membership and the limits readable through /sys/fs/cgroup.
///
/// Without a cgroup namespace /proc/self/cgroup shows the full host path while the
/// runtime may have mounted only the container's own directory at /sys/fs/cgroup, so
/// each file is looked up at the joined path first and at the mount root second.
fn cgroup() -> Value {
    let paths = read("/proc/self/cgroup")
        .map(|t| parse::proc_cgroup(&t))
        .unwrap_or_default();
    let v2 = fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok();
    let mut limits = Map::new();
    let lookup = |dir: &str, rel: Option<&str>, file: &str| -> Option<String> {
        let joined = rel.map(|p| format!("{dir}{}/{file}", p.trim_end_matches('/')));
        let root = format!("{dir}/{file}");
        joined
            .into_iter()
            .chain([root])
            .find_map(|p| read(&p))
            .map(|s| s.trim().to_string())
    };
    if v2 {
        let rel = paths.get("").and_then(Value::as_str);
        for file in V2_FILES {
            limits.insert(file.into(), json!(lookup("/sys/fs/cgroup", rel, file)));
        }
    } else {
        for (ctl, file) in V1_FILES {
            let rel = paths.get(ctl).and_then(Value::as_str);
            let dir = format!("/sys/fs/cgroup/{ctl}");
            limits.insert(file.into(), json!(lookup(&dir, rel, file)));
        }
    }
    json!({"version": if v2 { 2 } else { 1 }, "paths": paths, "limits": limits})
}

/// Open fds with their link targets, leaving out the fd used to list them.
pub(crate) fn fds() -> Vec<(i32, String)> {
    let Ok(mut dir) = Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    ) else {
        return Vec::new();
    };
    let own = dir.as_raw_fd();
    let mut out: Vec<(i32, String)> = dir
        .iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().ok()?.parse::<i32>().ok())
        .filter(|fd| *fd != own)
        .map(|fd| {
            let target = fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|e| format!("?{e}"));
            (fd, target)
        })
        .collect();
    out.sort();
    out
}

/// Whether stdin/stdout/stderr are terminals, and the terminal of stdin.
fn tty() -> Value {
    let name = unistd::ttyname(std::io::stdin())
        .ok()
        .map(|p| p.display().to_string());
    json!({
        "stdin": unistd::isatty(std::io::stdin()).unwrap_or(false),
        "stdout": unistd::isatty(std::io::stdout()).unwrap_or(false),
        "stderr": unistd::isatty(std::io::stderr()).unwrap_or(false),
        "stdin_name": name,
    })
}

fn sched() -> Value {
    match read("/proc/self/stat")
        .as_deref()
        .and_then(parse::stat_sched)
    {
        Some((nice, rt_priority, policy)) => json!({
            "policy": parse::sched_policy_name(policy),
            "rt_priority": rt_priority,
            "nice": nice,
        }),
        None => Value::Null,
    }
}

fn sysctls(names: &[String]) -> Value {
    let mut m = Map::new();
    for name in names {
        let v = read(&parse::sysctl_path(name)).map(|s| s.trim().to_string());
        m.insert(name.clone(), json!(v));
    }
    Value::Object(m)
}

/// For each asked path: whether it exists, its type, and what reading it gives.
/// Masked paths show up as an empty character device (/dev/null) or an empty directory.
fn paths(list: &[String]) -> Value {
    let mut m = Map::new();
    for p in list {
        let v = match fs::symlink_metadata(p) {
            Err(e) => json!({"exists": false, "error": crate::errno_name(&e)}),
            Ok(md) => {
                use std::os::unix::fs::{FileTypeExt, MetadataExt};
                let ft = md.file_type();
                let kind = if ft.is_dir() {
                    "dir"
                } else if ft.is_symlink() {
                    "symlink"
                } else if ft.is_char_device() {
                    "char"
                } else if ft.is_block_device() {
                    "block"
                } else if ft.is_fifo() {
                    "fifo"
                } else if ft.is_socket() {
                    "socket"
                } else {
                    "file"
                };
                let read_result = if ft.is_dir() {
                    match fs::read_dir(p) {
                        Ok(rd) => json!({"entries": rd.count()}),
                        Err(e) => json!({"error": crate::errno_name(&e)}),
                    }
                } else {
                    read_prefix(p)
                };
                json!({
                    "exists": true,
                    "type": kind,
                    "mode": format!("{:o}", md.mode() & 0o7777),
                    "uid": md.uid(),
                    "gid": md.gid(),
                    "rdev": md.rdev(),
                    "read": read_result,
                })
            }
        };
        m.insert(p.clone(), v);
    }
    Value::Object(m)
}

/// Reads at most 4 KiB so that /dev/zero or a large /proc file cannot stall the report.
fn read_prefix(path: &str) -> Value {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path);
    match f.and_then(|mut f| f.read(&mut buf)) {
        Ok(n) => json!({"bytes": n}),
        Err(e) => json!({"error": crate::errno_name(&e)}),
    }
}
