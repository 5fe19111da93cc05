//! Lifecycle: create → start → stopped, kill, delete, list, state, run, exec, pause,
//! ps, events, features, spec. Runs against the runtime under test
//! (`BERTH_TEST_RUNTIME`, default berth-runtime).

mod common;

use std::fs;
use std::time::Duration;

use common::{alive, assert_no_leftovers, unique, wait_for_text, Bundle, Runtime};
use serde_json::json;

const T: Duration = Duration::from_secs(5);

/// Creates a container running `berth-check wait-signal`, starts it and waits until it
/// has blocked its signals.
fn running(rt: &Runtime, bundle: &mut Bundle) -> String {
    bundle.check(&["wait-signal"]);
    let id = unique("life");
    rt.create(bundle, &id).ok();
    rt.start(&id).ok();
    wait_for_text(&bundle.stdout_path(), "ready", T);
    id
}

#[test]
fn created_running_stopped() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["wait-signal"]);
    let id = unique("life");
    rt.create(&b, &id).ok();

    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().expect("created state has a pid");
    assert!(pid > 0 && alive(pid), "init {pid} must exist while created");
    assert_eq!(b.stdout(), "", "the user process must not run before start");

    rt.start(&id).ok();
    wait_for_text(&b.stdout_path(), "ready", T);
    assert_eq!(rt.status(&id), "running");
    assert_eq!(
        rt.state(&id)["pid"].as_i64(),
        Some(pid),
        "start keeps the init pid"
    );

    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped", T);
    assert!(!alive(pid), "init {pid} must be gone when stopped");

    rt.delete(&id).ok();
    rt.cmd(&["state", &id]).failed();
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn state_json_fields() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/annotations", json!({"org.berth.test": "yes"}));
    b.check(&["sleep", "30"]);
    let id = unique("life");
    rt.create(&b, &id).ok();
    let st = rt.state(&id);
    assert_eq!(st["id"], id.as_str(), "{st}");
    assert_eq!(st["status"], "created", "{st}");
    assert!(
        st["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "ociVersion: {st}"
    );
    let bundle = fs::canonicalize(b.path()).unwrap();
    assert_eq!(
        st["bundle"],
        bundle.to_str().unwrap(),
        "bundle must be the absolute path: {st}"
    );
    assert!(st["pid"].as_i64().is_some_and(|p| p > 0), "{st}");
    assert_eq!(
        st["annotations"]["org.berth.test"], "yes",
        "annotations from config.json: {st}"
    );
}

#[test]
fn pid_file_matches_state() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("life");
    let pid_file = b.path().join("init.pid");
    rt.create_with(&b, &id, &["--pid-file", pid_file.to_str().unwrap()])
        .ok();
    let written: i64 = fs::read_to_string(&pid_file)
        .expect("pid file written")
        .trim()
        .parse()
        .expect("pid file is a number");
    assert_eq!(Some(written), rt.state(&id)["pid"].as_i64());
}

#[test]
fn kill_by_name_and_number() {
    let rt = Runtime::under_test();
    for (sig, want) in [
        ("USR1", "SIGUSR1"),
        ("SIGUSR2", "SIGUSR2"),
        ("10", "SIGUSR1"),
        ("HUP", "SIGHUP"),
    ] {
        let mut b = Bundle::new();
        let id = running(&rt, &mut b);
        rt.kill(&id, sig).ok();
        wait_for_text(&b.stdout_path(), &format!("signal {want}"), T);
        rt.wait_status(&id, "stopped", T);
        rt.delete(&id).ok();
    }
}

#[test]
fn kill_default_signal_is_term() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    rt.cmd(&["kill", &id]).ok();
    wait_for_text(&b.stdout_path(), "signal SIGTERM", T);
    rt.wait_status(&id, "stopped", T);
}

#[test]
fn kill_created_container() {
    // A created container can be killed before start (OCI: kill in created or running).
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("life");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped", T);
    assert!(!alive(pid));
    rt.delete(&id).ok();
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_force_running() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.delete_force(&id).ok();
    rt.cmd(&["state", &id]).failed();
    assert!(
        common::wait_until(T, || !alive(pid)),
        "init {pid} survived delete --force"
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn delete_running_without_force_fails() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    let out = rt.delete(&id).failed();
    out.one_error_line();
    assert_eq!(
        rt.status(&id),
        "running",
        "a refused delete must leave the container alone"
    );
}

#[test]
fn delete_created_container() {
    // Deleting a created (never started) container is allowed and kills its init.
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let id = unique("life");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.delete(&id).ok();
    assert!(
        common::wait_until(T, || !alive(pid)),
        "init {pid} survived delete"
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn list_shows_containers() {
    let rt = Runtime::under_test();
    let mut b1 = Bundle::new();
    let mut b2 = Bundle::new();
    b1.check(&["sleep", "30"]);
    b2.check(&["sleep", "30"]);
    let (id1, id2) = (unique("life"), unique("life"));
    rt.create(&b1, &id1).ok();
    rt.create(&b2, &id2).ok();
    rt.start(&id2).ok();

    let quiet = rt.cmd(&["list", "-q"]).ok();
    let mut ids: Vec<&str> = quiet
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    ids.sort();
    let mut want = vec![id1.as_str(), id2.as_str()];
    want.sort();
    assert_eq!(ids, want, "list -q prints one id per line");

    let list = rt.cmd(&["list", "--format", "json"]).ok().json();
    let arr = list.as_array().expect("list --format json is an array");
    assert_eq!(arr.len(), 2, "{list}");
    let find = |id: &str| {
        arr.iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing in {list}"))
    };
    assert_eq!(find(&id1)["status"], "created");
    assert_eq!(find(&id2)["status"], "running");
    assert!(find(&id2)["pid"].as_i64().is_some_and(|p| p > 0));
    let bundle = fs::canonicalize(b2.path()).unwrap();
    assert_eq!(find(&id2)["bundle"], bundle.to_str().unwrap());
}

#[test]
fn list_empty_root() {
    let rt = Runtime::under_test();
    let out = rt.cmd(&["list", "--format", "json"]).ok();
    let v = out.json();
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "empty list: {out}"
    );
    assert_eq!(rt.cmd(&["list", "-q"]).ok().stdout.trim(), "");
}

#[test]
fn run_foreground_returns_exit_code_and_cleans_up() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["exit", "7"]);
    let id = unique("life");
    let out = rt.run(&b, &id);
    assert_eq!(
        out.code(),
        Some(7),
        "run exits with the container's status: {out}"
    );
    rt.cmd(&["state", &id]).failed();
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn run_foreground_passes_stdout() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.args(&["/bin/echo", "hello from the container"]);
    let id = unique("life");
    let out = rt.run(&b, &id).ok();
    assert_eq!(out.stdout, "hello from the container\n");
}

#[test]
fn run_detached() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["wait-signal"]);
    let id = unique("life");
    rt.run_detached(&b, &id).ok();
    wait_for_text(&b.stdout_path(), "ready", T);
    assert_eq!(rt.status(&id), "running");
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped", T);
}

#[test]
fn exec_joins_the_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/hostname", json!("exec-host"));
    let id = running(&rt, &mut b);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let r = rt.exec(&id, &["/bin/berth-check", "report"]).ok().json();
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        let init = common::ns_inode(&format!("/proc/{pid}/ns/{ns}"));
        assert_eq!(
            r["namespaces"][ns], init,
            "exec must join the init's {ns} namespace"
        );
    }
    assert_eq!(r["hostname"], "exec-host");
    assert_eq!(r["cwd"], "/");
    assert_ne!(r["pid"], 1, "exec'd process is not the init");
    assert_eq!(
        r["no_new_privs"], 1,
        "exec inherits process.noNewPrivileges from config"
    );
    assert_eq!(
        r["capabilities"]["effective"],
        json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"])
    );
}

#[test]
fn exec_exit_code_and_options() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    assert_eq!(
        rt.exec(&id, &["/bin/berth-check", "exit", "3"]).code(),
        Some(3)
    );
    let r = rt
        .cmd(&[
            "exec",
            "--cwd",
            "/tmp",
            "--env",
            "BERTH_X=1",
            "--user",
            "1000:1000",
            &id,
            "/bin/berth-check",
            "report",
        ])
        .ok()
        .json();
    assert_eq!(r["cwd"], "/tmp");
    assert_eq!(r["uid"], 1000);
    assert_eq!(r["gid"], 1000);
    assert!(
        r["env"].as_array().unwrap().contains(&json!("BERTH_X=1")),
        "{}",
        r["env"]
    );
}

#[test]
fn exec_process_file() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["/bin/berth-check", "report"],
        "env": ["PATH=/bin", "FROM_PROCESS_JSON=yes"],
        "cwd": "/mnt"
    });
    let f = b.path().join("process.json");
    fs::write(&f, process.to_string()).unwrap();
    let r = rt
        .cmd(&["exec", "--process", f.to_str().unwrap(), &id])
        .ok()
        .json();
    assert_eq!(r["cwd"], "/mnt");
    // Runtimes add HOME from /etc/passwd when the process has none (runc, crun do).
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    let own: Vec<&str> = env
        .iter()
        .copied()
        .filter(|e| !e.starts_with("HOME="))
        .collect();
    assert_eq!(
        own,
        ["PATH=/bin", "FROM_PROCESS_JSON=yes"],
        "process.json env replaces the config's"
    );
    assert!(
        env.iter()
            .all(|e| !e.starts_with("HOME=") || *e == "HOME=/root"),
        "{env:?}"
    );
}

#[test]
fn exec_into_stopped_container_fails() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped", T);
    rt.exec(&id, &["/bin/true"]).failed().one_error_line();
}

/// The freezer state of container `id`'s cgroup (cgroupsPath `/<id>`), v1 or v2.
fn freezer_state(id: &str) -> &'static str {
    let v2 = fs::read_to_string(format!("/sys/fs/cgroup/{id}/cgroup.freeze"));
    let v1 = fs::read_to_string(format!("/sys/fs/cgroup/freezer/{id}/freezer.state"));
    match (v2.as_deref().map(str::trim), v1.as_deref().map(str::trim)) {
        (Ok("1"), _) | (_, Ok("FROZEN")) => "frozen",
        (Ok("0"), _) | (_, Ok("THAWED")) => "thawed",
        _ => "unknown",
    }
}

#[test]
fn pause_and_resume() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    rt.cmd(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
    rt.cmd(&["resume", &id]).ok();
    assert_eq!(rt.status(&id), "running");
    rt.cmd(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(
        freezer_state(&id),
        "frozen",
        "pause must freeze the container's cgroup"
    );
    // A paused process receives no signal until resumed.
    rt.kill(&id, "USR1").ok();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !b.stdout().contains("signal"),
        "paused container handled a signal"
    );
    rt.cmd(&["resume", &id]).ok();
    assert_eq!(freezer_state(&id), "thawed");
    wait_for_text(&b.stdout_path(), "signal SIGUSR1", T);
    rt.wait_status(&id, "stopped", T);
}

#[test]
fn ps_lists_container_processes() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let v = rt.cmd(&["ps", "--format", "json", &id]).ok().json();
    assert_eq!(v, json!([pid]), "ps --format json lists host pids");
}

#[test]
fn events_stats_once() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    let out = rt.cmd(&["events", "--stats", &id]).ok();
    let v = out.json();
    assert_eq!(v["type"], "stats", "{out}");
    assert_eq!(v["id"], id.as_str(), "{out}");
    assert!(
        v["data"]["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0),
        "memory usage: {out}"
    );
    assert!(
        v["data"]["pids"]["current"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "pids.current: {out}"
    );
}

#[test]
fn features_json() {
    let rt = Runtime::under_test();
    let v = rt.cmd(&["features"]).ok().json();
    assert!(
        v["ociVersionMin"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.0")),
        "{v}"
    );
    assert!(
        v["ociVersionMax"]
            .as_str()
            .is_some_and(|s| s.starts_with("1.")),
        "{v}"
    );
    let ns = v["linux"]["namespaces"]
        .as_array()
        .expect("linux.namespaces");
    for want in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(&json!(want)), "namespace {want} missing in {v}");
    }
    let caps = v["linux"]["capabilities"]
        .as_array()
        .expect("linux.capabilities");
    assert!(caps.contains(&json!("CAP_SYS_ADMIN")));
    assert!(v["linux"]["seccomp"]["enabled"].as_bool().is_some(), "{v}");
    assert!(
        v["hooks"]
            .as_array()
            .is_some_and(|h| h.contains(&json!("createRuntime"))),
        "{v}"
    );
    assert!(
        v["mountOptions"]
            .as_array()
            .is_some_and(|m| m.contains(&json!("rbind"))),
        "{v}"
    );
}

#[test]
fn spec_writes_a_usable_config() {
    let rt = Runtime::under_test();
    let dir = tempfile::tempdir().unwrap();
    rt.cmd(&["spec", "--bundle", dir.path().to_str().unwrap()])
        .ok();
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    assert!(spec["ociVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("1.")));
    assert_eq!(spec["root"]["path"], "rootfs");
    assert!(spec["process"]["args"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    let ns: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&want), "default spec lacks {want} namespace");
    }
    let dests: Vec<&str> = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    for want in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"] {
        assert!(dests.contains(&want), "default spec lacks mount {want}");
    }
    // A second `spec` must not clobber the existing file.
    rt.cmd(&["spec", "--bundle", dir.path().to_str().unwrap()])
        .failed();

    // The generated spec runs once given a rootfs (terminal off: no console here).
    let mut b = Bundle::new();
    b.spec = spec;
    b.set("/process/terminal", json!(false));
    b.args(&["/bin/true"]);
    rt.run(&b, &unique("life")).ok();
}

#[test]
fn spec_rootless_has_user_namespace() {
    let rt = Runtime::under_test();
    let dir = tempfile::tempdir().unwrap();
    rt.cmd(&[
        "spec",
        "--rootless",
        "--bundle",
        dir.path().to_str().unwrap(),
    ])
    .ok();
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let ns = spec["linux"]["namespaces"].as_array().unwrap();
    assert!(
        ns.iter().any(|n| n["type"] == "user"),
        "rootless spec needs a user namespace"
    );
    assert!(
        !ns.iter().any(|n| n["type"] == "network"),
        "rootless spec keeps the host network"
    );
    assert_eq!(spec["linux"]["uidMappings"][0]["containerID"], 0);
    assert_eq!(spec["linux"]["gidMappings"][0]["containerID"], 0);
}

#[test]
fn global_log_flags_as_containerd_passes_them() {
    // containerd runs every command as `runtime --root R --log F --log-format json ...`
    // and, on failure, reads the last error's `msg` from F.
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["sleep", "30"]);
    let log = b.path().join("runtime.log");
    let l = log.to_str().unwrap().to_string();
    let id = unique("life");
    let with_log = |args: &[&str]| {
        let mut a = vec!["--log", l.as_str(), "--log-format", "json"];
        a.extend_from_slice(args);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    b.write_config(&id);
    let bundle = b.path().to_str().unwrap().to_string();
    for args in [
        with_log(&["create", "--bundle", &bundle, &id]),
        with_log(&["start", &id]),
        with_log(&["state", &id]),
        with_log(&["kill", &id, "KILL"]),
    ] {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = if a.contains(&"create") {
            rt.cmd_to(&a, &b.stdout_path(), &b.stderr_path())
        } else {
            rt.cmd(&a)
        };
        out.ok();
    }
    rt.wait_status(&id, "stopped", T);
    rt.cmd(
        &with_log(&["delete", &id])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .ok();
    let missing = unique("missing");
    rt.cmd(
        &with_log(&["state", &missing])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .failed();
    let text = fs::read_to_string(&log).expect("--log file written on error");
    let entries: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l:?}"))
        })
        .collect();
    let last_error = entries
        .iter()
        .rev()
        .find(|e| e["level"] == "error")
        .unwrap_or_else(|| panic!("no error entry in {text}"));
    assert!(
        last_error["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "error entries carry msg: {last_error}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["msg"].is_string() && e["level"].is_string()),
        "{text}"
    );
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // The init forks a child that outlives nothing: both must die from one kill --all.
    b.args(&[
        "/bin/sh",
        "-c",
        "/bin/berth-check sleep 30 & echo child $!; exec /bin/berth-check wait-signal",
    ]);
    let id = unique("life");
    rt.create(&b, &id).ok();
    rt.start(&id).ok();
    wait_for_text(&b.stdout_path(), "ready", T);
    let pids = rt.cmd(&["ps", "--format", "json", &id]).ok().json();
    let pids: Vec<i64> = pids
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_i64())
        .collect();
    assert_eq!(pids.len(), 2, "init and its child: {pids:?}");
    rt.cmd(&["kill", "--all", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped", T);
    assert!(
        common::wait_until(T, || pids.iter().all(|p| !alive(*p))),
        "kill --all left some of {pids:?}"
    );
}

#[test]
fn exec_detached_with_pid_file_as_containerd_does() {
    // containerd: `exec --process F --detach --pid-file P ID`.
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let id = running(&rt, &mut b);
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": ["/bin/berth-check", "sleep", "30"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    });
    let f = b.path().join("process.json");
    fs::write(&f, process.to_string()).unwrap();
    let pid_file = b.path().join("exec.pid");
    let t0 = std::time::Instant::now();
    rt.cmd(&[
        "exec",
        "--process",
        f.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "exec --detach must not wait for the process"
    );
    let pid: i64 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(alive(pid), "exec'd process {pid} runs");
    let init = rt.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(
        common::ns_inode(&format!("/proc/{pid}/ns/pid")),
        common::ns_inode(&format!("/proc/{init}/ns/pid")),
        "in the container's pid namespace"
    );
    let ps = rt.cmd(&["ps", "--format", "json", &id]).ok().json();
    assert!(
        ps.as_array().unwrap().contains(&json!(pid)),
        "ps lists the exec'd process: {ps}"
    );
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped", T);
}

/// Output into a pipe nobody reads (`berth-runtime features | head -0`) ends the runtime
/// quietly, as SIGPIPE ends runc: no panic message, status 141. The read end is closed
/// before the runtime starts (python3 holds the pipe), so the write always fails.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let bin = env!("CARGO_BIN_EXE_berth-runtime");
    let script = "import os, subprocess, sys\n\
        r, w = os.pipe()\n\
        os.close(r)\n\
        p = subprocess.run([sys.argv[1], 'features'], stdout=w, stderr=subprocess.PIPE)\n\
        print(p.returncode, p.stderr.decode().strip())\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, bin])
        .output()
        .expect("python3 (scripts/test.sh installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "141");
}
