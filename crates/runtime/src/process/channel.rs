//! The typed sync channel between the runtime and the processes it forks.
//!
//! One SOCK_SEQPACKET pair: each message is one datagram of JSON, so a message can never be
//! split or merged. Errors travel as [`ChildError`] (a step, an object and an errno), never as
//! a preformatted string, and the parent checks the order of what arrives with [`Sequence`].

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{self, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

/// A phase of container set-up, named in errors that cross the fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Step {
    JoinNamespace,
    Unshare,
    SetIds,
    Fork,
    Mount,
    Propagation,
    MountTarget,
    PivotRoot,
    Device,
    MaskPath,
    ReadonlyPath,
    Hostname,
    Domainname,
    Sysctl,
    VerifyProc,
    Rlimit,
    OomScoreAdj,
    IoPriority,
    Scheduler,
    Personality,
    TimeOffsets,
    Console,
    FindExecutable,
    Seccomp,
    Capabilities,
    Lsm,
    Chdir,
    Hook,
    ExecFifo,
    Exec,
    Cgroup,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push(' ');
            }
            out.push(c.to_ascii_lowercase());
        }
        f.write_str(&out)
    }
}

/// A failure inside a forked process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{step} `{object}`: {}", describe(*.errno, .detail.as_deref()))]
pub struct ChildError {
    /// What was being done.
    pub step: Step,
    /// On what (a path, a name, a number).
    pub object: String,
    /// errno, or 0 when `detail` says it all.
    pub errno: i32,
    /// Extra structured detail from a typed error below (e.g. seccomp's own message).
    pub detail: Option<String>,
}

fn describe(errno: i32, detail: Option<&str>) -> String {
    match (errno, detail) {
        (_, Some(d)) => d.to_string(),
        (0, None) => "failed".into(),
        (e, None) => std::io::Error::from_raw_os_error(e).to_string(),
    }
}

impl ChildError {
    /// A failure with an errno.
    pub fn new(step: Step, object: impl ToString, errno: i32) -> Self {
        Self {
            step,
            object: object.to_string(),
            errno,
            detail: None,
        }
    }
}

/// Attach a step and object to syscall errors.
pub trait StepExt<T> {
    /// Map the error to a [`ChildError`].
    fn step(self, step: Step, object: impl ToString) -> Result<T, ChildError>;
}

impl<T> StepExt<T> for nix::Result<T> {
    fn step(self, step: Step, object: impl ToString) -> Result<T, ChildError> {
        self.map_err(|e| ChildError::new(step, object, e as i32))
    }
}

impl<T> StepExt<T> for std::io::Result<T> {
    fn step(self, step: Step, object: impl ToString) -> Result<T, ChildError> {
        self.map_err(|e| ChildError::new(step, object, e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

/// One message on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Parent to child: go on (the step asked for is done).
    Go,
    /// Intermediate to parent: I unshared the user namespace; write my id maps.
    NeedIdMaps,
    /// Init (or exec's intermediate) to parent: the pid in the parent's pid namespace.
    InitPid(i32),
    /// Parent to intermediate: the idmapped tree for mount number N travels with this.
    IdmapTree(usize),
    /// Init to parent: run prestart and createRuntime hooks now.
    RunHooks,
    /// Init to parent: the seccomp listener fd travels with this message.
    SeccompListener,
    /// Init to parent: set-up is done; init now waits for start.
    Ready,
    /// Any child to parent: set-up failed.
    Failed(ChildError),
}

/// Channel failures.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The socket call failed.
    #[error("sync channel {op}: {errno}")]
    Sys {
        /// send or recv.
        op: &'static str,
        /// The error.
        errno: nix::Error,
    },
    /// The peer closed the channel (it exited) before saying what it was asked to.
    #[error("sync channel: the container process exited during set-up (expected {expected})")]
    Closed {
        /// What we waited for.
        expected: &'static str,
    },
    /// A message out of order or malformed.
    #[error("sync channel: expected {expected}, got {got}")]
    Protocol {
        /// What the sequence allowed.
        expected: &'static str,
        /// What arrived.
        got: String,
    },
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(OwnedFd);

impl Channel {
    /// A connected pair (both ends close-on-exec).
    pub fn pair() -> nix::Result<(Channel, Channel)> {
        let (a, b) = socket::socketpair(
            socket::AddressFamily::Unix,
            socket::SockType::SeqPacket,
            None,
            socket::SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel(a), Channel(b)))
    }

    /// Send `msg`, optionally with one fd.
    pub fn send_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).expect("messages always serialize");
        let iov = [IoSlice::new(&bytes)];
        let fds = fd.map(|f| [f]);
        let cmsg: Vec<ControlMessage> = fds
            .as_ref()
            .map(|f| vec![ControlMessage::ScmRights(f)])
            .unwrap_or_default();
        socket::sendmsg::<()>(self.0.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .map_err(|errno| ChannelError::Sys { op: "send", errno })?;
        Ok(())
    }

    /// Send `msg`.
    pub fn send(&self, msg: &Msg) -> Result<(), ChannelError> {
        self.send_fd(msg, None)
    }

    /// Receive one message and any fd that came with it; `expected` names it in errors.
    pub fn recv_fd(&self, expected: &'static str) -> Result<(Msg, Option<OwnedFd>), ChannelError> {
        let mut buf = [0u8; 8 * 1024];
        let mut cbuf = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match socket::recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(r) => {
                    let mut fd = None;
                    for c in r.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            fd = fds.first().map(|&f| berth_sys::fd::adopt(f));
                        }
                    }
                    break (r.bytes, fd);
                }
                Err(nix::Error::EINTR) => continue,
                Err(errno) => return Err(ChannelError::Sys { op: "recv", errno }),
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed { expected });
        }
        let msg = serde_json::from_slice(&buf[..n]).map_err(|_| ChannelError::Protocol {
            expected,
            got: String::from_utf8_lossy(&buf[..n]).into(),
        })?;
        Ok((msg, fd))
    }

    /// Receive one message (any fd is closed).
    pub fn recv(&self, expected: &'static str) -> Result<Msg, ChannelError> {
        Ok(self.recv_fd(expected)?.0)
    }

    /// Wait for [`Msg::Go`]; anything else is a protocol error.
    pub fn wait_go(&self) -> Result<(), ChannelError> {
        match self.recv("go")? {
            Msg::Go => Ok(()),
            other => Err(ChannelError::Protocol {
                expected: "go",
                got: format!("{other:?}"),
            }),
        }
    }
}

/// The order the parent accepts messages from its children during create.
///
/// `NeedIdMaps` (only with a new user namespace) -> `InitPid` -> `RunHooks` (only with
/// prestart/createRuntime hooks) -> `SeccompListener` (only with a listenerPath) -> `Ready`.
#[derive(Debug, Clone)]
pub struct Sequence {
    pending: Vec<&'static str>,
}

fn name(m: &Msg) -> &'static str {
    match m {
        Msg::Go => "go",
        Msg::IdmapTree(_) => "idmap-tree",
        Msg::NeedIdMaps => "need-id-maps",
        Msg::InitPid(_) => "init-pid",
        Msg::RunHooks => "run-hooks",
        Msg::SeccompListener => "seccomp-listener",
        Msg::Ready => "ready",
        Msg::Failed(_) => "failed",
    }
}

impl Sequence {
    /// The sequence for a create with these options.
    pub fn create(userns: bool, hooks: bool, listener: bool) -> Self {
        let mut pending = vec!["ready"];
        if listener {
            pending.push("seccomp-listener");
        }
        if hooks {
            pending.push("run-hooks");
        }
        pending.push("init-pid");
        if userns {
            pending.push("need-id-maps");
        }
        Self { pending }
    }

    /// What comes next.
    pub fn expected(&self) -> &'static str {
        self.pending.last().copied().unwrap_or("nothing")
    }

    /// Accept `m` if it is next; `Failed` is always accepted (and ends the sequence).
    pub fn accept(&mut self, m: &Msg) -> Result<(), ChannelError> {
        if let Msg::Failed(_) = m {
            self.pending.clear();
            return Ok(());
        }
        if self.pending.last() == Some(&name(m)) {
            self.pending.pop();
            Ok(())
        } else {
            Err(ChannelError::Protocol {
                expected: self.expected(),
                got: name(m).into(),
            })
        }
    }

    /// Nothing more is expected.
    pub fn done(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_accepts_only_the_order() {
        let mut s = Sequence::create(true, true, false);
        assert!(s.accept(&Msg::InitPid(3)).is_err());
        s.accept(&Msg::NeedIdMaps).unwrap();
        s.accept(&Msg::InitPid(3)).unwrap();
        assert!(s.accept(&Msg::Ready).is_err());
        s.accept(&Msg::RunHooks).unwrap();
        s.accept(&Msg::Ready).unwrap();
        assert!(s.done());
        let mut s = Sequence::create(false, false, false);
        s.accept(&Msg::InitPid(1)).unwrap();
        s.accept(&Msg::Failed(ChildError::new(Step::Mount, "/x", 2)))
            .unwrap();
        assert!(s.done());
    }

    #[test]
    fn messages_and_fds_cross() {
        let (a, b) = Channel::pair().unwrap();
        a.send(&Msg::InitPid(42)).unwrap();
        assert_eq!(b.recv("init-pid").unwrap(), Msg::InitPid(42));
        let f = std::fs::File::open("/proc/self/status").unwrap();
        a.send_fd(&Msg::SeccompListener, Some(f.as_raw_fd()))
            .unwrap();
        let (m, fd) = b.recv_fd("seccomp-listener").unwrap();
        assert_eq!(m, Msg::SeccompListener);
        assert!(fd.is_some());
        drop(a);
        assert!(matches!(b.recv("ready"), Err(ChannelError::Closed { .. })));
    }

    #[test]
    fn errors_read_well() {
        let e = ChildError::new(Step::FindExecutable, "foo", libc::ENOENT);
        assert_eq!(
            e.to_string(),
            "find executable `foo`: No such file or directory (os error 2)"
        );
    }
}
