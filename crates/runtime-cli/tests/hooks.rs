//! Hooks: each kind runs at its lifecycle point, in order, with the OCI state on stdin,
//! its own args and env; a failing or hung createRuntime hook aborts create cleanly; a
//! failing poststop hook does not stop delete.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_no_leftovers, unique, wait_for_text, Bundle, Kind, Runtime};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(5);

/// A hook that saves its stdin to `<dir>/<name>.json`, its env to `<name>.env`, and
/// appends its name to `<dir>/order`.
fn recorder(sh: &str, dir: &str, name: &str) -> Value {
    json!({
        "path": sh,
        "args": ["sh", "-c", format!("cat > {dir}/{name}.json; env > {dir}/{name}.env; echo {name} >> {dir}/order"), name],
        "env": [format!("BERTH_HOOK={name}"), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    })
}

fn state(dir: &Path, name: &str) -> Value {
    let text = fs::read_to_string(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} hook got no JSON state on stdin ({e}): {text:?}"))
}

fn order(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn hooks_run_in_order_with_state() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let dir = b.host_dir("hooks");
    let d = dir.to_str().unwrap().to_string();
    b.mount("/hooks", "bind", &d, &["rbind", "rw"]);
    b.set(
        "/hooks",
        json!({
            "createRuntime": [recorder("/bin/sh", &d, "createRuntime")],
            "createContainer": [recorder("/bin/sh", &d, "createContainer")],
            // startContainer runs inside the container: container paths.
            "startContainer": [recorder("/bin/sh", "/hooks", "startContainer")],
            "poststart": [recorder("/bin/sh", &d, "poststart")],
            "poststop": [recorder("/bin/sh", &d, "poststop")]
        }),
    );
    b.check(&["wait-signal"]);
    let id = unique("hook");
    rt.create(&b, &id).ok();
    let mut after_create = order(&dir);
    if rt.kind() == Kind::Runc {
        // runc 1.1 runs poststart hooks at create (fixed in runc 1.2).
        after_create.retain(|h| h != "poststart");
    }
    assert_eq!(
        after_create,
        ["createRuntime", "createContainer"],
        "after create"
    );
    let pid = rt.state(&id)["pid"].clone();
    let bundle = fs::canonicalize(b.path()).unwrap();
    for name in ["createRuntime", "createContainer"] {
        let s = state(&dir, name);
        assert_eq!(s["id"], id.as_str(), "{name}: {s}");
        if !(rt.kind() != Kind::Berth && name == "createContainer") {
            // runc 1.1 passes the pid seen inside the container (1), crun 1.8 passes 0.
            assert_eq!(s["pid"], pid, "{name}: the host pid of the init: {s}");
        }
        assert_eq!(s["bundle"], bundle.to_str().unwrap(), "{name}: {s}");
        assert!(s["ociVersion"].is_string(), "{name}: {s}");
        let env = fs::read_to_string(dir.join(format!("{name}.env"))).unwrap();
        assert!(
            env.lines().any(|l| l == format!("BERTH_HOOK={name}")),
            "{name} env: {env}"
        );
    }

    rt.start(&id).ok();
    wait_for_text(&b.stdout_path(), "ready", T);
    assert!(
        common::wait_until(T, || order(&dir).len() == 4),
        "{:?}",
        order(&dir)
    );
    if rt.kind() == Kind::Runc {
        assert_eq!(order(&dir)[2..], ["poststart", "startContainer"]);
    } else {
        assert_eq!(order(&dir)[2..], ["startContainer", "poststart"]);
    }
    assert_eq!(state(&dir, "startContainer")["id"], id.as_str());
    assert_eq!(state(&dir, "poststart")["pid"], pid);

    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped", T);
    rt.delete(&id).ok();
    assert_eq!(order(&dir).last().map(String::as_str), Some("poststop"));
    assert_eq!(state(&dir, "poststop")["id"], id.as_str());
}

#[test]
fn hooks_with_run() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let dir = b.host_dir("hooks");
    let d = dir.to_str().unwrap().to_string();
    b.set(
        "/hooks",
        json!({
            "createRuntime": [recorder("/bin/sh", &d, "createRuntime")],
            "poststart": [recorder("/bin/sh", &d, "poststart")],
            "poststop": [recorder("/bin/sh", &d, "poststop")]
        }),
    );
    b.check(&["exit", "0"]);
    rt.run(&b, &unique("hook")).ok();
    assert_eq!(order(&dir), ["createRuntime", "poststart", "poststop"]);
}

#[test]
fn failing_create_runtime_hook_aborts_create() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/hooks/createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]),
    );
    b.check(&["sleep", "30"]);
    let id = unique("hook");
    let out = rt.create(&b, &id).failed();
    assert!(!out.stderr.trim().is_empty(), "an error message: {out}");
    assert_no_leftovers(&rt, &id, &b);
    rt.cmd(&["state", &id]).failed();
}

#[test]
fn hook_timeout_aborts_create() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/hooks/createRuntime",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 30"], "timeout": 1}]),
    );
    b.check(&["sleep", "30"]);
    let id = unique("hook");
    let t0 = Instant::now();
    rt.create(&b, &id).failed();
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "a 1 s hook timeout took {:?}",
        t0.elapsed()
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn failing_poststop_hook_does_not_stop_delete() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set(
        "/hooks/poststop",
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}]),
    );
    b.check(&["sleep", "30"]);
    let id = unique("hook");
    rt.create(&b, &id).ok();
    rt.delete_force(&id).ok();
    rt.cmd(&["state", &id]).failed();
    assert_no_leftovers(&rt, &id, &b);
}
