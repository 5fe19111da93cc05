//! Bad input: each case must exit non-zero, say why in exactly one stderr line, and leave
//! nothing behind (no state under --root, no cgroup, no process).

mod common;

use std::time::Duration;

use common::{assert_no_leftovers, unique, Bundle, Kind, Runtime};
use serde_json::json;

/// Runs `create` with the bundle as edited by `edit`; asserts a clean refusal and
/// returns the error line.
#[track_caller]
fn refused(edit: impl FnOnce(&mut Bundle)) -> String {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    edit(&mut b);
    let id = unique("err");
    let out = rt.create(&b, &id).failed();
    let line = out.one_error_line();
    assert_no_leftovers(&rt, &id, &b);
    rt.cmd(&["state", &id]).failed();
    line
}

#[test]
fn malformed_json() {
    refused(|b| b.raw_config = Some("{\"ociVersion\": \"1.0.2\", \"process\": {".into()));
}

#[test]
fn wrong_json_types() {
    refused(|b| {
        b.set("/process/args", json!("not-an-array"));
    });
}

#[test]
fn missing_config() {
    let rt = Runtime::under_test();
    let b = Bundle::new();
    let id = unique("err");
    let out = rt
        .cmd_to(
            &["create", "--bundle", b.path().to_str().unwrap(), &id],
            &b.stdout_path(),
            &b.stderr_path(),
        )
        .failed();
    out.one_error_line();
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn unknown_namespace_type() {
    refused(|b| {
        b.push("/linux/namespaces", json!({"type": "bogus"}));
    });
}

#[test]
fn duplicate_namespace_type() {
    refused(|b| {
        b.push("/linux/namespaces", json!({"type": "network"}));
    });
}

#[test]
fn namespace_path_is_not_a_namespace() {
    refused(|b| {
        b.set(
            "/linux/namespaces",
            json!([{"type": "mount"}, {"type": "network", "path": "/etc/hostname"}]),
        );
    });
}

#[test]
fn missing_rootfs() {
    refused(|b| {
        b.set("/root/path", json!("no-such-rootfs"));
    });
}

#[test]
fn unknown_capability() {
    let rt = Runtime::under_test();
    if rt.kind() == Kind::Runc {
        eprintln!("skip: runc 1.1 ignores unknown capabilities with a warning");
        return;
    }
    refused(|b| {
        b.push("/process/capabilities/bounding", json!("CAP_NOT_A_CAP"));
    });
}

#[test]
fn unknown_syscall_in_seccomp() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!(
            "skip: {} ignores syscall names libseccomp does not know",
            rt.name()
        );
        return;
    }
    refused(|b| {
        b.set(
            "/linux/seccomp",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["not_a_syscall"], "action": "SCMP_ACT_ERRNO"}]}),
        );
    });
}

#[test]
fn unknown_seccomp_action() {
    refused(|b| {
        b.set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_BOGUS"}));
    });
}

#[test]
fn unknown_rlimit() {
    refused(|b| {
        b.push(
            "/process/rlimits",
            json!({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}),
        );
    });
}

#[test]
fn hostname_without_uts_namespace() {
    refused(|b| {
        b.namespaces(&["pid", "mount"]);
        b.set("/hostname", json!("nope"));
    });
}

#[test]
fn sysctl_outside_the_containers_namespaces() {
    refused(|b| {
        b.set("/linux/sysctl", json!({"vm.swappiness": "10"}));
    });
}

#[test]
fn relative_cwd() {
    refused(|b| {
        b.set("/process/cwd", json!("tmp"));
    });
}

#[test]
fn missing_executable() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.args(&["/bin/does-not-exist"]);
    let id = unique("err");
    // Runtimes check at create (runc) or fail at start; either way it must fail before
    // the container runs and leave nothing after delete.
    let created = rt.create(&b, &id);
    if created.success() {
        rt.start(&id).failed().one_error_line();
        let _ = rt.delete_force(&id);
    } else {
        created.one_error_line();
    }
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn empty_args() {
    refused(|b| {
        b.set("/process/args", json!([]));
    });
}

#[test]
fn invalid_ids() {
    let rt = Runtime::under_test();
    let b = Bundle::new();
    // A name of our own beside --root, so a stray `x` left there by anyone else does not
    // look like an escape.
    let escape = format!("berth-escape-{}", std::process::id());
    let up = format!("../{escape}");
    for id in [up.as_str(), "a/b", "..", "has space", ""] {
        b.write_config("invalid");
        let bundle = b.path().to_str().unwrap();
        let out = rt.cmd_to(
            &["create", "--bundle", bundle, id],
            &b.stdout_path(),
            &b.stderr_path(),
        );
        assert!(!out.success(), "id {id:?} must be refused: {out}");
        assert!(!out.stderr.trim().is_empty(), "id {id:?}: no error message");
        let _ = std::fs::remove_file(b.stderr_path());
    }
    assert!(
        !b.path().parent().unwrap().join(&escape).exists(),
        "`{up}` escaped --root"
    );
    let entries: Vec<_> = std::fs::read_dir(rt.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "nothing may be created under --root: {entries:?}"
    );
    assert!(common::processes_in(&b).is_empty());
}

#[test]
fn duplicate_id() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("err");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].clone();
    let b2 = Bundle::new();
    let out = rt.create(&b2, &id).failed();
    out.one_error_line();
    let st = rt.state(&id);
    assert_eq!(
        st["status"], "created",
        "the first container is untouched: {st}"
    );
    assert_eq!(st["pid"], pid);
    assert!(common::processes_in(&b2).is_empty());
}

#[test]
fn start_of_a_stopped_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["exit", "0"]);
    let id = unique("err");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    rt.start(&id).failed().one_error_line();
    assert_eq!(rt.status(&id), "stopped");
}

#[test]
fn start_of_a_running_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("err");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    rt.start(&id).failed().one_error_line();
    assert_eq!(rt.status(&id), "running");
}

#[test]
fn commands_on_a_missing_container() {
    let rt = Runtime::under_test();
    let id = unique("err");
    for args in [
        vec!["state", id.as_str()],
        vec!["start", id.as_str()],
        vec!["kill", id.as_str(), "KILL"],
        vec!["delete", id.as_str()],
        vec!["exec", id.as_str(), "/bin/true"],
        vec!["pause", id.as_str()],
    ] {
        rt.cmd(&args).failed().one_error_line();
    }
}

#[test]
fn kill_with_unknown_signal() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("err");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    rt.kill(&id, "SIGBOGUS").failed().one_error_line();
    assert_eq!(rt.status(&id), "running");
}
