//! seccomp notify: the listener fd and the container's state reach `linux.seccomp.listenerPath`.

mod common;

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

use common::{unique, Bundle, Kind, Runtime};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

#[test]
fn listener_receives_fd_and_state() {
    let rt = Runtime::under_test();
    if rt.kind() == Kind::Runc {
        eprintln!("skip: runc 1.1 here has no seccomp notify");
        return;
    }
    let mut b = Bundle::new();
    let sock = b.host_dir("agent").join("seccomp.sock");
    let listener = UnixListener::bind(&sock).expect("bind listener");
    b.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.to_str().unwrap(),
            "listenerMetadata": "from-test",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        }),
    );
    b.check(&["sleep", "100"]);
    let id = unique("notify");
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut text = Vec::new();
        let mut got_fd = false;
        loop {
            let mut cbuf = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .expect("recvmsg");
            for c in msg.cmsgs().expect("cmsgs") {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    got_fd |= !fds.is_empty();
                    for fd in fds {
                        let _ = nix::unistd::close(fd);
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
            if serde_json::from_slice::<serde_json::Value>(&text).is_ok() {
                break;
            }
        }
        (got_fd, String::from_utf8_lossy(&text).to_string())
    });
    rt.create(&b, &id).ok();
    let (got_fd, text) = agent.join().expect("agent");
    let pid = rt.state(&id)["pid"].clone();
    rt.forget(&id);
    assert!(got_fd, "no fd with the message: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("state json");
    assert_eq!(v["fds"], json!(["seccompFd"]), "{v}");
    assert_eq!(v["metadata"], "from-test", "{v}");
    assert_eq!(v["state"]["id"], id.as_str(), "{v}");
    assert_eq!(v["pid"], pid, "{v}");
}
