//! The monitor through real containers: while a container runs its monitor is the small
//! `berth-monitor` relay (same pid as the `berth __monitor` that started it), which runs
//! health checks through `berth __monitor-health` and hands each exit back to `berth` for
//! the restart policy. Each test has its own store, state dir and cgroup parent.

mod common;

use std::time::Duration;

use common::containers::{poll, Ct};

/// `inspect ID` as JSON (the first element).
fn inspect(ct: &Ct, id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&ct.ok(&["inspect", id])).unwrap();
    v[0].clone()
}

/// The health state `inspect` shows, and its status.
fn health(ct: &Ct, id: &str) -> (String, serde_json::Value) {
    let h = inspect(ct, id)["State"]["Health"].clone();
    (h["Status"].as_str().unwrap_or("").to_string(), h)
}

/// The monitor pid the store records, and the binary that pid runs now.
fn monitor(ct: &Ct, id: &str) -> (i32, String) {
    let full = ct.inspect(id, "{{.Id}}");
    let path = ct
        .env
        .root
        .path()
        .join("containers")
        .join(full)
        .join("state.json");
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let pid = st["Berth"]["MonitorPid"].as_i64().unwrap() as i32;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    (pid, exe)
}

#[test]
fn health_checks_turn_healthy_and_unhealthy_after_the_retries() {
    let ct = Ct::new();
    let fast = ["--health-interval", "1s", "--health-timeout", "5s"];
    let mut args = vec!["--health-cmd", "exit 0"];
    args.extend(fast);
    args.extend(["bb", "sleep", "60"]);
    let good = ct.detached(&args);
    let mut args = vec![
        "--health-cmd",
        "test -e /tmp/ok && echo fine",
        "--health-retries",
        "2",
    ];
    args.extend(fast);
    args.extend(["bb", "sh", "-c", "touch /tmp/ok; sleep 60"]);
    let flip = ct.detached(&args);
    let mut args = vec![
        "--health-cmd",
        "echo broken; exit 3",
        "--health-retries",
        "2",
    ];
    args.extend(fast);
    args.extend(["bb", "sleep", "60"]);
    let bad = ct.detached(&args);
    let slow = ct.detached(&[
        "--health-cmd",
        "sleep 10",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "1",
        "bb",
        "sleep",
        "60",
    ]);

    // While the container runs, its monitor is the relay.
    let (_, exe) = monitor(&ct, &good);
    assert!(exe.ends_with("berth-monitor"), "monitor runs {exe}");

    assert!(poll(Duration::from_secs(20), || health(&ct, &good).0
        == "healthy"));
    let (_, h) = health(&ct, &good);
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(h["Log"].as_array().unwrap().last().unwrap()["ExitCode"], 0);

    assert!(poll(Duration::from_secs(20), || health(&ct, &flip).0
        == "healthy"));
    assert_eq!(health(&ct, &flip).1["Log"][0]["Output"], "fine\n");
    ct.ok(&["exec", &flip, "rm", "/tmp/ok"]);
    assert!(poll(Duration::from_secs(20), || health(&ct, &flip).0
        == "unhealthy"));
    let (_, h) = health(&ct, &flip);
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"].as_array().unwrap().last().unwrap()["ExitCode"], 1);

    // Failing from the start: `starting` until the second failure, then unhealthy.
    assert!(poll(Duration::from_secs(20), || health(&ct, &bad).0
        == "unhealthy"));
    let (_, h) = health(&ct, &bad);
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() >= 2 && log.len() <= 5, "{h}");
    assert_eq!(log.last().unwrap()["ExitCode"], 3);
    assert_eq!(log.last().unwrap()["Output"], "broken\n");
    // A health check enters the container: it runs from a read-only view of `berth`
    // (CVE-2019-5736), handed down by the relay, like the monitor that started it.
    let root = ct.env.root.path().to_string_lossy().into_owned();
    let mut checked = false;
    assert!(poll(Duration::from_secs(10), || {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            if args.len() > 2 && args[1] == b"__monitor-health" && args[2] == root.as_bytes() {
                if let Ok(v) = nix::sys::statvfs::statvfs(&e.path().join("exe")) {
                    let ro = nix::sys::statvfs::FsFlags::ST_RDONLY;
                    assert!(
                        v.flags().contains(ro),
                        "a health check runs from a writable berth"
                    );
                    checked = true;
                }
            }
        }
        checked
    }));
    // A check past its timeout is killed and counts as a failure.
    assert!(poll(Duration::from_secs(20), || health(&ct, &slow).0
        == "unhealthy"));
    let (_, h) = health(&ct, &slow);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1, "{h}");
    assert_eq!(last["Output"], "Health check exceeded timeout (1s)");

    // The checks kept the container running and the relay in place.
    assert_eq!(ct.status(&bad), "running");
    assert!(monitor(&ct, &bad).1.ends_with("berth-monitor"));
    ct.ok(&["rm", "-f", &good, &flip, &bad, &slow]);
    ct.assert_clean("health checks");
}

#[test]
fn restarts_go_through_the_same_monitor_and_keep_logging() {
    let ct = Ct::new();
    let id = ct.detached(&[
        "--restart",
        "always",
        "bb",
        "sh",
        "-c",
        "echo run; sleep 0.5; exit 5",
    ]);
    let (first, _) = monitor(&ct, &id);
    assert!(poll(Duration::from_secs(20), || {
        ct.inspect(&id, "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    }));
    let (pid, _) = monitor(&ct, &id);
    assert_eq!(pid, first, "one monitor process across restarts");
    assert!(poll(Duration::from_secs(10), || ct.status(&id)
        == "running"
        && monitor(&ct, &id).1.ends_with("berth-monitor")));
    let runs = ct.ok(&["logs", &id]).matches("run\n").count();
    assert!(runs >= 3, "one line per run: {runs}");
    assert_eq!(ct.inspect(&id, "{{.State.ExitCode}}"), "5");

    // stop ends the policy: the monitor records the exit and goes.
    ct.ok(&["stop", "-t", "1", &id]);
    ct.wait_status(&id, "exited", 10);
    assert!(poll(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{first}")).exists()
    }));
    let runs_after = ct.ok(&["logs", &id]).matches("run\n").count();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ct.ok(&["logs", &id]).matches("run\n").count(), runs_after);

    // An attached run through the relay: output, then the exit code.
    let (code, out, _) = ct.run(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 7",
    ]);
    assert_eq!((code, out.as_str()), (7, "hi\n"));
    ct.ok(&["rm", "-f", &id]);
    ct.assert_clean("restarts");
}

#[test]
fn a_missing_relay_binary_fails_the_start_with_one_line() {
    let ct = Ct::new();
    let args = ["run", "-d", "--name", "norelay", "bb", "true"];
    let o = ct
        .cmd(&args)
        .env("BERTH_MONITOR", "/nonexistent/berth-monitor")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = common::expect_one_error(&args, o, None);
    assert!(err.contains("/nonexistent/berth-monitor"), "{err}");
    // Nothing runs; the created container stays, as after any failed start.
    assert_ne!(ct.status("norelay"), "running");
    ct.ok(&["rm", "-f", "norelay"]);
    ct.assert_clean("missing relay");
}
