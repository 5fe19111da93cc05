//! The container process: user, groups, umask, rlimits, oomScoreAdj, noNewPrivileges,
//! capability sets, cwd, env, args, inherited fds, terminal over --console-socket,
//! personality, scheduler and I/O priority.

mod common;

use std::time::Duration;

use common::{unique, Bundle, ConsoleSocket, Kind, Runtime};
use serde_json::{json, Value};

#[track_caller]
fn caps(r: &Value, set: &str) -> Vec<String> {
    let mut v: Vec<String> = r["capabilities"][set]
        .as_array()
        .unwrap_or_else(|| panic!("no {set} in {r}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn user_group_and_additional_gids() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/process/user",
        json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000]}),
    );
    let r = rt.report(&mut b, &[]);
    for k in ["uid", "euid"] {
        assert_eq!(r[k], 1000, "{k}");
    }
    for k in ["gid", "egid"] {
        assert_eq!(r[k], 1000, "{k}");
    }
    assert_eq!(
        r["status_uid"],
        json!([1000, 1000, 1000, 1000]),
        "real, effective, saved, fs uid"
    );
    let mut groups: Vec<u64> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    groups.sort();
    groups.dedup();
    groups.retain(|g| *g != 1000);
    assert_eq!(
        groups,
        [2000, 3000],
        "additionalGids are the supplementary groups: {}",
        r["groups"]
    );
}

#[test]
fn root_user_has_no_stray_groups() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let r = rt.report(&mut b, &[]);
    assert_eq!(r["uid"], 0);
    let groups = r["groups"].as_array().unwrap();
    assert!(
        groups.iter().all(|g| g == 0),
        "root with no additionalGids: {groups:?}"
    );
}

#[test]
fn home_from_passwd() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let r = rt.report(&mut b, &[]);
    assert!(
        r["env"]
            .as_array()
            .unwrap()
            .contains(&json!("HOME=/home/berth")),
        "HOME from /etc/passwd: {}",
        r["env"]
    );
}

#[test]
fn umask() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/user/umask", json!(0o077));
    assert_eq!(rt.report(&mut b, &[])["umask"], "0077");
    let mut b = Bundle::new();
    assert_eq!(rt.report(&mut b, &[])["umask"], "0022", "default umask");
}

#[test]
fn rlimits() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192}
        ]),
    );
    let r = rt.report(&mut b, &[]);
    let l = &r["rlimits"];
    assert_eq!(l["RLIMIT_NOFILE"], json!({"soft": 100, "hard": 200}));
    assert_eq!(l["RLIMIT_CORE"], json!({"soft": 0, "hard": 0}));
    assert_eq!(l["RLIMIT_NPROC"], json!({"soft": 512, "hard": 1024}));
    assert_eq!(l["RLIMIT_MSGQUEUE"], json!({"soft": 4096, "hard": 8192}));
}

#[test]
fn oom_score_adj() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/oomScoreAdj", json!(500));
    assert_eq!(rt.report(&mut b, &[])["oom_score_adj"], 500);
    // Only raise it: lowering below the runtime's own score needs CAP_SYS_RESOURCE,
    // which the development sandboxes do not grant.
    b.set("/process/oomScoreAdj", json!(100));
    assert_eq!(rt.report(&mut b, &[])["oom_score_adj"], 100);
}

#[test]
fn no_new_privileges() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    assert_eq!(rt.report(&mut b, &[])["no_new_privs"], 1);
    b.set("/process/noNewPrivileges", json!(false));
    assert_eq!(rt.report(&mut b, &[])["no_new_privs"], 0);
}

#[test]
fn capability_sets_for_root() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_ADMIN"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"]
        }),
    );
    let r = rt.report(&mut b, &[]);
    assert_eq!(
        caps(&r, "bounding"),
        sorted(&[
            "CAP_CHOWN",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_KILL",
            "CAP_SYS_ADMIN"
        ])
    );
    assert_eq!(caps(&r, "effective"), sorted(&["CAP_CHOWN", "CAP_KILL"]));
    // execve as root with no_new_privs keeps permitted as set (it cannot grow to the
    // bounding set) and makes effective equal to it.
    assert_eq!(caps(&r, "permitted"), sorted(&["CAP_CHOWN", "CAP_KILL"]));
    assert_eq!(caps(&r, "inheritable"), sorted(&["CAP_KILL"]));
    assert_eq!(caps(&r, "ambient"), Vec::<String>::new());
    // The effective set is what the kernel enforces: CAP_SYS_ADMIN is only bounding.
    let out = rt.run_check(&mut b, &["try", "sethostname", "x"]);
    assert_eq!(out.stdout.trim(), "EPERM", "{out}");
    let out = rt.run_check(&mut b, &["try", "chown", "/tmp", "1:1"]);
    assert_eq!(
        out.stdout.trim(),
        "EROFS",
        "CAP_CHOWN passes the permission check, the ro rootfs stops it: {out}"
    );
}

#[test]
fn ambient_capabilities_for_non_root() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let set = json!(["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
    b.set("/process/capabilities", json!({"bounding": set, "effective": set, "permitted": set, "inheritable": set, "ambient": set}));
    let r = rt.report(&mut b, &[]);
    let want = sorted(&["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
    for s in [
        "ambient",
        "effective",
        "permitted",
        "inheritable",
        "bounding",
    ] {
        assert_eq!(caps(&r, s), want, "{s} for uid 1000 with ambient caps");
    }
}

#[test]
fn non_root_without_ambient_has_no_effective_caps() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let set = json!(["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
    b.set(
        "/process/capabilities",
        json!({"bounding": set, "effective": set, "permitted": set}),
    );
    let r = rt.report(&mut b, &[]);
    // execve(2) as non-root clears permitted and effective unless the caps are ambient.
    assert_eq!(caps(&r, "effective"), Vec::<String>::new());
    assert_eq!(caps(&r, "permitted"), Vec::<String>::new());
    assert_eq!(
        caps(&r, "bounding"),
        sorted(&["CAP_NET_BIND_SERVICE", "CAP_KILL"])
    );
}

#[test]
fn cwd_env_and_args() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/cwd", json!("/home/berth"));
    b.set(
        "/process/env",
        json!(["PATH=/bin", "A=1", "B=two words", "HOME=/nowhere"]),
    );
    b.check(&["report", "--path", "/"]);
    let r = rt.run(&b, &unique("proc")).ok().json();
    assert_eq!(r["cwd"], "/home/berth");
    assert_eq!(
        r["env"],
        json!(["PATH=/bin", "A=1", "B=two words", "HOME=/nowhere"]),
        "env exactly as configured"
    );
    assert_eq!(
        r["args"],
        json!(["/bin/berth-check", "report", "--path", "/"])
    );
}

#[test]
fn args_resolved_through_path() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.args(&["berth-check", "exit", "0"]);
    rt.run(&b, &unique("proc")).ok();
}

#[test]
fn only_stdio_fds_are_inherited() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let r = rt.report(&mut b, &[]);
    let fds: Vec<i64> = r["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[0].as_i64().unwrap())
        .collect();
    assert_eq!(
        fds,
        [0, 1, 2],
        "runtime fds leaked into the container: {}",
        r["fds"]
    );
}

#[test]
fn terminal_over_console_socket() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/terminal", json!(true));
    b.check(&["report"]);
    let sock = ConsoleSocket::new(b.path());
    let id = unique("tty");
    rt.create_with(
        &b,
        &id,
        &["--console-socket", sock.path().to_str().unwrap()],
    )
    .ok();
    rt.start(&id).ok();
    let console = sock.wait(Duration::from_secs(10));
    assert!(
        console.target.ends_with("ptmx"),
        "the fd passed is a pty master: {}",
        console.target
    );
    let text = console.output.replace("\r\n", "\n");
    let r: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("report over the tty ({e}): {text:?}"));
    assert_eq!(r["tty"]["stdin"], true);
    assert_eq!(r["tty"]["stdout"], true);
    assert_eq!(r["tty"]["stderr"], true);
    assert!(
        r["tty"]["stdin_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("/dev/pts/")),
        "{}",
        r["tty"]
    );
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
}

#[test]
fn terminal_without_console_socket_fails() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/process/terminal", json!(true));
    b.check(&["exit", "0"]);
    let id = unique("tty");
    let out = rt.create(&b, &id).failed();
    out.one_error_line();
    common::assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn personality() {
    let rt = Runtime::under_test();
    if rt.kind() == Kind::Runc {
        eprintln!("skip: runc 1.1 has no linux.personality");
        return;
    }
    let mut b = Bundle::new();
    b.set("/linux/personality", json!({"domain": "LINUX32"}));
    assert_eq!(rt.report(&mut b, &[])["personality"], 0x0008);
}

#[test]
fn io_priority() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!("skip: {} predates process.ioPriority", rt.name());
        return;
    }
    let mut b = Bundle::new();
    b.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}),
    );
    assert_eq!(
        rt.report(&mut b, &[])["ioprio"]["class"],
        3,
        "IDLE is class 3"
    );
    b.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    let r = rt.report(&mut b, &[]);
    assert_eq!(
        (r["ioprio"]["class"].clone(), r["ioprio"]["level"].clone()),
        (json!(2), json!(6))
    );
}

#[test]
fn scheduler_policy() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!("skip: {} predates process.scheduler", rt.name());
        return;
    }
    let mut b = Bundle::new();
    b.set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 5}),
    );
    let r = rt.report(&mut b, &[]);
    assert_eq!(r["sched"]["policy"], "SCHED_BATCH");
    assert_eq!(r["sched"]["nice"], 5);
}

#[test]
fn exec_with_terminal_over_console_socket() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("tty");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    let sock = ConsoleSocket::new(&b.host_dir("exec-console"));
    let s = sock.path().to_str().unwrap().to_string();
    // runc only passes a console with --detach (containerd's shape).
    rt.cmd(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        &s,
        &id,
        "/bin/berth-check",
        "report",
    ])
    .ok();
    let console = sock.wait(Duration::from_secs(10));
    assert!(console.target.ends_with("ptmx"), "{}", console.target);
    let text = console.output.replace("\r\n", "\n");
    let r: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("report over the tty ({e}): {text:?}"));
    assert_eq!(r["tty"]["stdin"], true);
    assert_eq!(r["tty"]["stdout"], true);
    assert_ne!(r["pid"], 1);
}

/// SIGPIPE is not ignored in the container: an ignored disposition survives execve, and a
/// runtime written in Rust starts with SIGPIPE ignored unless it puts it back (then
/// `yes | head` in the container would spin on EPIPE instead of ending).
#[test]
fn sigpipe_is_not_ignored_in_the_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // busybox's cat, not the checker: a Rust program ignores SIGPIPE itself at start.
    b.args(&["/bin/cat", "/proc/self/status"]);
    let id = common::unique("sig");
    let out = rt.run(&b, &id);
    rt.forget(&id);
    let ign = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(str::trim)
        .unwrap_or("missing");
    let mask = u64::from_str_radix(ign, 16).unwrap_or_else(|_| panic!("SigIgn {ign:?}: {out}"));
    assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "SigIgn {ign}: {out}");
}
