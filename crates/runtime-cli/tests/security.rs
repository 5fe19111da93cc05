//! Seccomp (errnoRet, default errno, argument filters, kill), the effect of the default
//! capability set on privileged operations, and no_new_privs with seccomp.

mod common;

use common::{Bundle, Runtime};
use serde_json::{json, Value};

const EXDEV: u32 = 18;

fn seccomp(syscalls: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": syscalls})
}

#[track_caller]
fn probe(rt: &Runtime, b: &mut Bundle, args: &[&str]) -> String {
    let mut a = vec!["try"];
    a.extend_from_slice(args);
    let out = rt.run_check(b, &a);
    assert!(
        matches!(out.code(), Some(0 | 1)),
        "probe {args:?} did not run: {out}"
    );
    out.stdout.trim().to_string()
}

#[test]
fn no_seccomp_by_default() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    assert_eq!(rt.report(&mut b, &[])["seccomp"], 0);
}

#[test]
fn seccomp_errno_ret() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/linux/seccomp",
        seccomp(json!([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV}])),
    );
    let r = rt.report(&mut b, &[]);
    assert_eq!(r["seccomp"], 2, "filter mode");
    assert!(r["cwd"].is_null(), "getcwd must fail in the report too");
    assert_eq!(probe(&rt, &mut b, &["syscall", "getcwd"]), "EXDEV");
    assert_eq!(
        probe(&rt, &mut b, &["syscall", "uname"]),
        "ok",
        "other syscalls are allowed"
    );
}

#[test]
fn seccomp_errno_defaults_to_eperm() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/linux/seccomp",
        seccomp(json!([{"names": ["getcwd", "uname"], "action": "SCMP_ACT_ERRNO"}])),
    );
    assert_eq!(probe(&rt, &mut b, &["syscall", "getcwd"]), "EPERM");
    assert_eq!(probe(&rt, &mut b, &["syscall", "uname"]), "EPERM");
    assert_eq!(probe(&rt, &mut b, &["syscall", "getsid"]), "ok");
}

#[test]
fn seccomp_argument_filter() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // personality(0xffffffff) queries; only that exact argument is refused.
    b.set(
        "/linux/seccomp",
        seccomp(json!([{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]
        }])),
    );
    assert_eq!(probe(&rt, &mut b, &["syscall", "personality"]), "EXDEV");
    let mut b2 = Bundle::new();
    b2.set(
        "/linux/seccomp",
        seccomp(json!([{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV,
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
        }])),
    );
    assert_eq!(
        probe(&rt, &mut b2, &["syscall", "personality"]),
        "ok",
        "a different argument passes"
    );
}

#[test]
fn seccomp_default_errno_with_allowlist_rules() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // Deny-by-default with a tiny allowlist would also have to cover the runtime's own
    // last syscalls before execve; instead: default ERRNO only for a syscall nothing
    // else names, via an allow-all rule list plus a trailing deny.
    b.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV},
                {"names": ["mkdirat"], "action": "SCMP_ACT_ALLOW"}
            ]
        }),
    );
    b.set("/root/readonly", json!(false));
    assert_eq!(probe(&rt, &mut b, &["syscall", "mkdir"]), "EXDEV");
    assert_eq!(probe(&rt, &mut b, &["syscall", "mkdirat"]), "ok");
}

#[test]
fn seccomp_kill_action() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/linux/seccomp",
        seccomp(json!([{"names": ["getcwd"], "action": "SCMP_ACT_KILL"}])),
    );
    let out = rt.run_check(&mut b, &["try", "syscall", "getcwd"]);
    assert_eq!(out.code(), Some(128 + 31), "killed by SIGSYS: {out}");
}

#[test]
fn seccomp_without_no_new_privs() {
    // Without no_new_privs the runtime must load the filter while it still has
    // CAP_SYS_ADMIN.
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // The filter is then in force while the runtime finishes (it still needs getcwd,
    // setuid, capset...), so block a syscall the runtime has no use for at that point.
    b.set("/process/noNewPrivileges", json!(false));
    b.set(
        "/linux/seccomp",
        seccomp(json!([{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": EXDEV}])),
    );
    let r = rt.report(&mut b, &[]);
    assert_eq!(r["seccomp"], 2);
    assert_eq!(r["no_new_privs"], 0);
    assert_eq!(probe(&rt, &mut b, &["syscall", "uname"]), "EXDEV");
}

#[test]
fn default_capabilities_deny_privileged_operations() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    for (args, want) in [
        (&["mount", "tmpfs", "/mnt"][..], "EPERM"),
        (&["mknod", "/tmp/node"][..], "EPERM"),
        (&["unshare", "net"][..], "EPERM"),
        (&["sethostname", "x"][..], "EPERM"),
        (&["chroot", "/tmp"][..], "EPERM"),
        (&["chown", "/tmp", "1:1"][..], "EPERM"),
    ] {
        assert_eq!(
            probe(&rt, &mut b, args),
            want,
            "try {args:?} with the default caps"
        );
    }
}

#[test]
fn granted_capabilities_allow_them() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    let caps = json!(["CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_CHOWN", "CAP_SYS_CHROOT"]);
    b.set(
        "/process/capabilities",
        json!({"bounding": caps, "effective": caps, "permitted": caps}),
    );
    for args in [
        &["mount", "tmpfs", "/mnt"][..],
        &["unshare", "net"][..],
        &["sethostname", "x"][..],
        &["chroot", "/tmp"][..],
        &["chown", "/tmp", "1:1"][..],
    ] {
        assert_eq!(
            probe(&rt, &mut b, args),
            "ok",
            "try {args:?} with the capability granted"
        );
    }
    // CAP_MKNOD lets mknod through, the device cgroup does not stop creating nodes.
    assert_eq!(probe(&rt, &mut b, &["mknod", "/tmp/node"]), "ok");
}

/// Every syscall name the kernel headers list (linux-libc-dev).
fn all_syscall_names() -> Option<Vec<String>> {
    let text = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.strip_prefix("#define __NR_"))
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect(),
    )
}

#[test]
fn unknown_syscalls_get_enosys_under_a_deny_by_default_profile() {
    let rt = Runtime::under_test();
    let Some(mut names) = all_syscall_names() else {
        eprintln!("skip: no /usr/include/x86_64-linux-gnu/asm/unistd_64.h (linux-libc-dev)");
        return;
    };
    names.retain(|n| n != "getsid");
    let mut b = Bundle::new();
    // Docker-style: deny by default (EPERM), allow every syscall the profile knows but one.
    b.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}),
    );
    // A known syscall left out gets the default action...
    assert_eq!(probe(&rt, &mut b, &["syscall", "getsid"]), "EPERM");
    // ...but one newer than the filter knows gets ENOSYS, so a libc falls back to an
    // older call instead of failing (runc's patchbpf; berth builds the same stub).
    assert_eq!(probe(&rt, &mut b, &["unknown-syscall", "1024"]), "ENOSYS");
}
