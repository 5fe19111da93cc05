//! `events`: OOM kills in the container's cgroup are reported as they happen.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{unique, Bundle, Kind, Runtime};
use serde_json::json;

#[test]
fn oom_kill_is_reported() {
    let rt = Runtime::under_test();
    if rt.kind() == Kind::Crun {
        eprintln!("skip: crun has no events");
        return;
    }
    let mut b = Bundle::new();
    let mib = 1024 * 1024;
    b.set(
        "/linux/resources/memory",
        json!({"limit": 16 * mib, "swap": 16 * mib}),
    );
    // A child blows the limit after `events` had time to start; init lives on.
    b.args(&[
        "/bin/sh",
        "-c",
        "sleep 2; /bin/berth-check alloc 64; sleep 100",
    ]);
    let id = unique("oom");
    rt.run_detached(&b, &id).ok();
    let events = rt
        .command(&["events", "--interval", "1s", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn events");
    // Generous under load: events must be running before the OOM (2 s in), and see it.
    std::thread::sleep(Duration::from_secs(5));
    rt.kill(&id, "KILL").ok();
    let out = events.wait_with_output().expect("events");
    rt.forget(&id);
    let text = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "oom"),
        "no oom event in: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        kinds.iter().any(|k| k == "stats"),
        "stats every second too: {text}"
    );
}
