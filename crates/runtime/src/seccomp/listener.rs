//! Hand a seccomp user-notification fd to the agent at `linux.seccomp.listenerPath`.
//!
//! The runtime spec's protocol: connect to the unix socket, send one message whose payload
//! is the `ContainerProcessState` JSON and whose `SCM_RIGHTS` carries the listener fd, named
//! `"seccompFd"` in `fds`. runc does it in `sendContainerProcessState`
//! (`libcontainer/process_linux.go`); crun in `send_fd_to_socket_with_payload`.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME, VERSION};

use super::SeccompError;

/// The `ContainerProcessState` JSON for the agent: the container `state`, the container
/// process's `pid` as the runtime sees it, the profile's `listenerMetadata`, and
/// `fds: ["seccompFd"]` naming the one fd [`send_listener`] passes.
pub fn process_state_json(
    state: &State,
    pid: i32,
    metadata: Option<&str>,
) -> Result<Vec<u8>, SeccompError> {
    let mut msg = ContainerProcessState::default();
    msg.set_version(VERSION.to_string());
    msg.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    msg.set_pid(pid);
    msg.set_metadata(metadata.map(str::to_string));
    msg.set_state(state.clone());
    serde_json::to_vec(&msg).map_err(|source| SeccompError::Encode { source })
}

/// Connect to the agent's socket at `path` and send `state_json` with `fd` attached
/// (`SCM_RIGHTS`). `fd` is closed on our side once sent.
///
/// The fd travels with the first chunk; if the kernel takes only part of a large payload,
/// the rest follows as plain stream data, so the agent reads one JSON document.
pub fn send_listener(path: &Path, fd: OwnedFd, state_json: &[u8]) -> Result<(), SeccompError> {
    let io_err = |op: &'static str| {
        move |source: std::io::Error| SeccompError::Listener {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut sock = UnixStream::connect(path).map_err(io_err("connect"))?;
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(state_json)];
    let sent = loop {
        match sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(|e| io_err("send to")(e.into()))?,
        }
    };
    sock.write_all(&state_json[sent..])
        .map_err(io_err("send to"))?;
    drop(fd);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{IoSliceMut, Read};
    use std::os::fd::{AsFd, RawFd};
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::UnixListener;

    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use nix::sys::stat::fstat;
    use oci_spec::runtime::ContainerState;

    use super::*;

    /// What the agent got: the payload and the (device, inode) of the passed fd.
    fn agent(listener: UnixListener) -> (Vec<u8>, Vec<(u64, u64)>) {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .expect("recvmsg");
        let n = msg.bytes;
        let fds: Vec<RawFd> = msg
            .cmsgs()
            .expect("cmsgs")
            .flat_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds,
                _ => Vec::new(),
            })
            .collect();
        let ids = fds
            .into_iter()
            .map(|fd| {
                // The magic link resolves to the open file itself (no raw fd wrapping needed).
                let st = std::fs::metadata(format!("/proc/self/fd/{fd}")).expect("stat");
                nix::unistd::close(fd).expect("close");
                (st.dev(), st.ino())
            })
            .collect();
        buf.truncate(n);
        conn.read_to_end(&mut buf).expect("rest of payload");
        (buf, ids)
    }

    #[test]
    fn agent_receives_state_and_fd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind");

        let mut state = State::default();
        state.set_id("c1".into());
        state.set_status(ContainerState::Creating);
        state.set_pid(Some(42));
        let json = process_state_json(&state, 42, Some("meta")).expect("json");

        // Any fd will do as the "listener"; check the agent gets the same open file.
        let (_rd, wr) = nix::unistd::pipe().expect("pipe");
        let st = fstat(wr.as_fd()).expect("fstat");
        let agent = std::thread::spawn(move || agent(listener));
        send_listener(&path, wr, &json).expect("send");
        let (payload, ids) = agent.join().expect("agent");

        assert_eq!(ids, vec![(st.st_dev, st.st_ino)]);
        let v: serde_json::Value = serde_json::from_slice(&payload).expect("payload json");
        assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "meta");
        assert_eq!(v["ociVersion"], VERSION);
        assert_eq!(v["state"]["id"], "c1");
        assert_eq!(v["state"]["status"], "creating");
    }

    #[test]
    fn missing_socket_names_the_path() {
        let (_rd, wr) = nix::unistd::pipe().expect("pipe");
        let err = send_listener(Path::new("/nonexistent/agent.sock"), wr, b"{}").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("seccomp: connect listener `/nonexistent/agent.sock`: "),
            "{msg}"
        );
    }
}
