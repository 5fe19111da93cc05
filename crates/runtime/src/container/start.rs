//! `start`: release init from the exec fifo, then run poststart hooks.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::load_in;
use crate::error::{self, Result};
use crate::hooks::{self, HookState};
use crate::state::{Root, StateError, Status};

/// Wait until init has exec'd the user's program (or died): its write end of the fifo is
/// close-on-exec, so the fifo reads end-of-file then.
fn wait_for_exec(f: &mut std::fs::File, rec: &crate::state::Record) {
    let mut buf = [0u8; 16];
    loop {
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        match f.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
        if !rec.init_alive() {
            return;
        }
    }
}

/// Start created container `id`. A failing poststart hook does not fail the start (the
/// OCI spec makes it a warning): it is returned for the caller to report.
pub fn start(root: &Root, id: &str) -> Result<Option<hooks::HookError>> {
    let (rec, _) = load_in(root, id, "start", &[Status::Created], "created")?;
    let path = root.container_dir(id).join("exec.fifo");
    // Non-blocking open of the read side succeeds at once; init's blocking open for writing
    // then returns and it writes one byte.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(error::sys("open", path.display()))?;
    loop {
        let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(100u16))
            .map_err(error::nix("poll", path.display()))?;
        if n > 0 {
            let mut b = [0u8; 1];
            if matches!(f.read(&mut b), Ok(1)) {
                break;
            }
        }
        if !rec.init_alive() {
            let _ = std::fs::remove_file(&path);
            return Err(StateError::WrongStatus {
                id: id.into(),
                status: Status::Stopped,
                command: "start",
                wanted: "created",
            }
            .into());
        }
    }
    std::fs::remove_file(&path).map_err(error::sys("remove", path.display()))?;
    if !rec.late_hooks {
        return Ok(None);
    }
    wait_for_exec(&mut f, &rec);
    let spec = root.load_spec(id)?;
    let list = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.poststart().clone())
        .unwrap_or_default();
    let st = HookState {
        oci_version: spec.version(),
        id,
        status: "running",
        pid: Some(rec.pid),
        bundle: rec.bundle.to_str().unwrap_or(""),
        annotations: &rec.annotations,
    };
    Ok(hooks::run_all("poststart", &list, &st).err())
}
