//! A terminal without a console socket: foreground `run` and `exec` are the pty's other
//! end themselves. runc and crun insist on the caller's own /dev/tty; berth also works
//! with plain pipes, which is what these tests use.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{unique, Bundle, Kind, Runtime};
use serde_json::json;

#[test]
fn run_in_the_foreground_proxies_the_terminal() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!("skip: runc and crun need the caller to have a controlling terminal (/dev/tty)");
        return;
    }
    let mut b = Bundle::new();
    b.set("/process/terminal", json!(true));
    b.args(&[
        "/bin/sh",
        "-c",
        "read line; tty; echo \"got $line\"; exit 7",
    ]);
    let id = unique("tty");
    b.write_config(&id);
    let mut child = rt
        .command(&["run", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().expect("wait");
    rt.forget(&id);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("/dev/pts/0"),
        "stdio is the container's pty: {text}"
    );
    assert!(
        text.contains("got hello"),
        "stdin reached it through the pty: {text}"
    );
}

#[test]
fn exec_tty_in_the_foreground() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!("skip: runc and crun need the caller to have a controlling terminal (/dev/tty)");
        return;
    }
    let mut b = Bundle::new();
    b.check(&["sleep", "100"]);
    let id = unique("xtty");
    rt.run_detached(&b, &id).ok();
    let out = rt.exec(&id, &["-t", "/bin/sh", "-c", "tty; exit 4"]);
    rt.forget(&id);
    assert_eq!(out.code(), Some(4), "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
}
