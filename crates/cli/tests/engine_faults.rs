//! Bad input and faults: flags and values berth refuses (one line naming flag and value,
//! nothing left behind), many `run -d` at once against one store, and `kill -9` of
//! `berth run`, of a monitor or of a container's init at seeded random moments, after
//! which `ps -a` tells the truth and `rm -f` cleans up everything. Set `BERTH_KILL_SEED`
//! to replay the delays of a failed run.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::containers::{poll, Ct};
use common::procs::{alive, kill_after, monitors, sigkill, Rng};

/// Everything of containers that a command could leave behind.
fn leftovers(ct: &Ct) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<String>) {
    (ct.store_left(), ct.cgroups_left(), ct.mounts_left())
}

#[test]
fn bad_flags_and_values_fail_in_one_line_and_leave_nothing() {
    let ct = Ct::new();
    ct.ok(&["create", "--name", "taken", "bb", "true"]);
    let before = leftovers(&ct);
    let cases: &[(&[&str], &[&str])] = &[
        (&["run", "--foo", "bb"], &["--foo"]),
        (&["create", "--bogus=1", "bb"], &["--bogus"]),
        (&["run", "--memory", "12x", "bb"], &["--memory", "12x"]),
        (&["run", "-m", "1k", "bb"], &["--memory", "1024"]),
        (&["run", "--cpus", "-1", "bb"], &["--cpus", "-1"]),
        (&["run", "--cpus", "many", "bb"], &["--cpus", "many"]),
        (
            &["run", "--restart", "sometimes", "bb"],
            &["--restart", "sometimes"],
        ),
        (&["run", "-p", "99999:80", "bb"], &["99999"]),
        (
            &["run", "localhost:1/missing:1"],
            &["localhost:1/missing:1"],
        ),
        (&["run", "--name", "taken", "bb", "true"], &["taken"]),
        (&["create", "--name", "taken", "bb"], &["taken"]),
        (
            &["run", "-v", "/no/such/dir:/x", "bb"],
            &["-v", "/no/such/dir"],
        ),
        (
            &["run", "--cap-drop", "NOPE", "bb"],
            &["--cap-drop", "NOPE"],
        ),
        (
            &["run", "--ulimit", "nofile=9:1", "bb"],
            &["--ulimit", "nofile=9:1"],
        ),
        (
            &["run", "--log-opt", "max-file=0", "bb"],
            &["max-file", "0"],
        ),
        (
            &["run", "--ipc", "container:nobody", "bb"],
            &["--ipc", "nobody"],
        ),
    ];
    for (args, words) in cases {
        let (code, out, err) = ct.run(args);
        assert_ne!(code, 0, "{args:?} succeeded: {out}");
        if args[1].starts_with("--foo") || args[1].starts_with("--bogus") {
            assert_eq!(code, 125, "{args:?}: a usage error exits 125, as Docker's");
        }
        // Docker prints the same notice before it tries to pull; it is not the error.
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("Unable to find image"))
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: one error line:\n{err}");
        for w in *words {
            assert!(lines[0].contains(w), "{args:?}: `{w}` not in: {}", lines[0]);
        }
        assert_eq!(leftovers(&ct), before, "{args:?} left something behind");
    }
    // The container whose name was asked for again is untouched.
    assert_eq!(ct.status("taken"), "created");
    ct.ok(&["rm", "taken"]);
    ct.assert_clean("after the bad runs");
}

#[test]
fn twenty_concurrent_runs_against_one_store_all_succeed() {
    let ct = Ct::new();
    let n = 20;
    let children: Vec<_> = (0..n)
        .map(|i| {
            let name = format!("many{i}");
            ct.cmd(&["run", "-d", "--name", &name, "bb", "sleep", "120"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = vec![];
    for c in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "a concurrent run failed: {err}");
        ids.push(String::from_utf8(o.stdout).unwrap().trim().to_string());
    }
    let listed = ct.ok(&[
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.Status}}",
    ]);
    for (i, id) in ids.iter().enumerate() {
        let line = listed.lines().find(|l| l.starts_with(id.as_str()));
        let line = line.unwrap_or_else(|| panic!("{id} not listed:\n{listed}"));
        assert!(line.contains(&format!(" many{i} Up")), "{line}");
    }
    assert_eq!(listed.lines().count(), n);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    ct.ok(&rm);
    ct.assert_clean("after rm -f of the concurrent runs");
}

/// `ps -a` tells the truth about every container: a running one has a live init, and a
/// container that is not running (created, exited, or dead: a create killed half-way) has
/// no process left in its cgroup.
#[track_caller]
fn truthful(ct: &Ct, what: &str) {
    let listed = ct.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}"]);
    for line in listed.lines() {
        let (id, state) = line.split_once(' ').unwrap();
        if state == "running" || state == "paused" {
            let pid: i32 = ct.inspect(id, "{{.State.Pid}}").parse().unwrap();
            assert!(
                pid > 0 && alive(pid),
                "{what}: {id} is {state}, its init is gone"
            );
            continue;
        }
        // A monitor whose `run` went away before saying start deletes the created init
        // itself: give it a moment.
        let procs = ct.cgroup("pids", id).join("cgroup.procs");
        let mut live = vec![];
        let gone = poll(Duration::from_secs(5), || {
            let text = std::fs::read_to_string(&procs).unwrap_or_default();
            live = text
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
            live.retain(|p: &i32| alive(*p));
            live.is_empty()
        });
        assert!(gone, "{what}: {id} is {state}, but {live:?} run in it");
    }
}

/// Checks the truth, removes everything with `rm -f`, checks nothing is left.
#[track_caller]
fn cleans_up(ct: &Ct, what: &str) {
    truthful(ct, what);
    let ids = ct.ok(&["ps", "-aq", "--no-trunc"]);
    for id in ids.split_whitespace() {
        let (code, _, err) = ct.run(&["rm", "-f", id]);
        assert_eq!(code, 0, "{what}: rm -f {id}: {err}");
    }
    ct.assert_clean(what);
}

/// Waits for `child`; panics (after killing it) when it takes longer than `limit`.
fn finishes(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_9_of_a_foreground_run_at_any_moment() {
    let ct = Ct::new();
    let mut rng = Rng::from_env();
    for round in 0..8 {
        // Every other round within create, where the name and the snapshot are made.
        let delay = Duration::from_millis(rng.below(if round % 2 == 0 { 60 } else { 700 }));
        let args = ["run", "--name", "fg", "bb", "sh", "-c", "echo up; sleep 30"];
        let mut cmd = ct.cmd(&args);
        cmd.stdin(Stdio::null());
        kill_after(cmd, delay);
        cleans_up(&ct, &format!("round {round}: run killed after {delay:?}"));
    }
    // Killed once it is surely running: the container keeps running, as with docker.
    let mut child = ct
        .cmd(&["run", "--name", "fg", "bb", "sh", "-c", "echo up; sleep 30"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let up = poll(Duration::from_secs(10), || {
        ct.run(&["logs", "fg"]).1.contains("up")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(up, "the container never said up");
    assert_eq!(ct.status("fg"), "running");
    cleans_up(&ct, "run killed while its container runs");
}

#[test]
fn kill_9_of_a_monitor_at_any_moment() {
    let ct = Ct::new();
    let mut rng = Rng::from_env();
    for round in 0..8 {
        // Every other round within run -d's own time, where the handshake is.
        let delay = Duration::from_millis(rng.below(if round % 2 == 0 { 120 } else { 600 }));
        let mut child = ct
            .cmd(&["run", "-d", "--name", "mon", "bb", "sleep", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let killed = monitors(ct.env.root.path());
        killed.iter().for_each(|p| sigkill(*p));
        let run = finishes(&mut child, Duration::from_secs(20));
        eprintln!("round {round}: after {delay:?} killed monitor {killed:?}; run -d: {run}");
        cleans_up(
            &ct,
            &format!("round {round}: monitor {killed:?} killed after {delay:?}"),
        );
    }
    // The monitor of a running container dies; its init lives on: still running. Then
    // init dies too: exited, with nobody left to say how.
    let id = ct.detached(&["--name", "orphan", "bb", "sleep", "30"]);
    let pid: i32 = ct.inspect(&id, "{{.State.Pid}}").parse().unwrap();
    // Once `run -d` is back the monitor execs its relay: kill that.
    let relay = |p: &i32| {
        std::fs::read_link(format!("/proc/{p}/exe"))
            .is_ok_and(|e| e.to_string_lossy().ends_with("berth-monitor"))
    };
    assert!(poll(Duration::from_secs(5), || monitors(
        ct.env.root.path()
    )
    .iter()
    .any(relay)));
    let running = monitors(ct.env.root.path());
    assert_eq!(running.len(), 1, "the running container's monitor");
    running.iter().for_each(|p| sigkill(*p));
    assert!(poll(Duration::from_secs(5), || monitors(
        ct.env.root.path()
    )
    .is_empty()));
    assert_eq!(ct.status("orphan"), "running");
    truthful(&ct, "monitor killed");
    sigkill(pid);
    assert!(poll(Duration::from_secs(5), || ct.status("orphan") == "exited"));
    cleans_up(&ct, "monitor, then init killed");
    // Only the monitor killed: rm -f stops the orphaned init itself.
    ct.detached(&["--name", "orphan2", "bb", "sleep", "30"]);
    monitors(ct.env.root.path())
        .iter()
        .for_each(|p| sigkill(*p));
    cleans_up(&ct, "monitor killed, init running");
}

#[test]
fn kill_9_of_the_containers_init_at_any_moment() {
    let ct = Ct::new();
    let mut rng = Rng::from_env();
    for round in 0..4 {
        let id = ct.detached(&["bb", "sh", "-c", "sleep 30"]);
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        let pid: i32 = ct.inspect(&id, "{{.State.Pid}}").parse().unwrap();
        sigkill(pid);
        assert!(
            poll(Duration::from_secs(10), || ct.status(&id) == "exited"),
            "round {round}"
        );
        assert_eq!(
            ct.inspect(&id, "{{.State.ExitCode}}"),
            "137",
            "round {round}"
        );
        cleans_up(&ct, &format!("round {round}: init killed"));
    }
    // With a restart policy the monitor starts it again.
    let id = ct.detached(&["--restart", "always", "bb", "sleep", "30"]);
    let pid = ct.inspect(&id, "{{.State.Pid}}");
    sigkill(pid.parse().unwrap());
    assert!(poll(Duration::from_secs(10), || {
        ct.inspect(&id, "{{.RestartCount}}") == "1" && ct.status(&id) == "running"
    }));
    assert_ne!(ct.inspect(&id, "{{.State.Pid}}"), pid);
    cleans_up(&ct, "init killed under --restart always");
}
