//! `create`: set up the container up to the user's program and leave init waiting for start.
//!
//! The parent's side of the choreography in process/: claim the id, snapshot the spec,
//! compile seccomp, fork; put the intermediate in the cgroup, write id maps when asked,
//! run prestart/createRuntime hooks when asked, forward a seccomp listener, and on Ready
//! record the state. Any failure undoes everything through [`Cleanup`].

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use crate::error::{self, Error, Result};
use crate::hooks::{self, HookState};
use crate::namespaces::Plan;
use crate::process::channel::{Channel, Msg, Sequence};
use crate::process::{intermediate, Bootstrap};
use crate::state::{Record, Root};

/// Options of `create` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Write init's pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here (process.terminal).
    pub console_socket: Option<PathBuf>,
    /// An already-connected console socket (used by `run -t` in the foreground).
    pub console_fd: Option<std::sync::Arc<OwnedFd>>,
    /// MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Do not give the container its own session keyring.
    pub no_new_keyring: bool,
    /// Pass fds 3..3+n to the container.
    pub preserve_fds: u32,
}

/// Undo a half-made container: processes, cgroup, state directory.
struct Cleanup<'a> {
    root: &'a Root,
    id: String,
    pids: Vec<i32>,
    cgroup: Option<std::rc::Rc<dyn berth_cgroups::Manager>>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for &pid in &self.pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        let _ = self.root.remove(&self.id);
    }
}

/// Create container `opts.id` from `opts.bundle`.
pub fn create(root: &Root, opts: &CreateOpts) -> Result<Record> {
    crate::state::validate_id(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle)
        .map_err(error::sys("open bundle", opts.bundle.display()))?;
    let spec = crate::spec::load_bundle(&bundle)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    check_console(opts, terminal)?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => crate::seccomp::compile_cached(s, &root.seccomp_cache())?,
        None => None,
    };
    let dir = root.claim(&opts.id)?;
    let mut cleanup = Cleanup {
        root,
        id: opts.id.clone(),
        pids: vec![],
        cgroup: None,
        armed: true,
    };
    root.write_json(&opts.id, "config.json", &spec)?;
    let cgroup = make_cgroup(&spec, &opts.id, &mut cleanup)?;
    let boot = Bootstrap {
        id: opts.id.clone(),
        rootfs: spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default(),
        plan: Plan::from_spec(&spec).map_err(|source| Error::Child {
            id: opts.id.clone(),
            source,
        })?,
        fifo: Some(make_fifo(&dir, root_host_ids(&spec))?),
        console: open_console(opts, terminal)?,
        runtime_hooks: spec.hooks().as_ref().is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
        }),
        spec,
        bundle,
        seccomp,
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        cgroup_path: cgroup.path(),
        cgroup,
        new_keyring: !opts.no_new_keyring,
    };
    let (ours, child) = spawn(&boot, &mut cleanup)?;
    let listener = boot
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_path().clone());
    let init = drive(&boot, &ours, child, &mut cleanup, listener.as_deref())?;
    let rec = record(&boot, init, terminal);
    root.write_json(&opts.id, "state.json", &rec)?;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, init)?;
    }
    cleanup.armed = false;
    Ok(rec)
}

/// A terminal needs a console socket (or our own pair), and a socket needs a terminal.
fn check_console(opts: &CreateOpts, terminal: bool) -> Result<()> {
    let has_console = opts.console_socket.is_some() || opts.console_fd.is_some();
    if terminal && !has_console {
        return Err(Error::Usage {
            what: "process.terminal",
            reason: "is true, so --console-socket is required",
        });
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Usage {
            what: "--console-socket",
            reason: "needs process.terminal set to true",
        });
    }
    Ok(())
}

fn open_console(opts: &CreateOpts, terminal: bool) -> Result<Option<OwnedFd>> {
    Ok(match (&opts.console_fd, &opts.console_socket) {
        _ if !terminal => None,
        (Some(fd), _) => Some(
            fd.try_clone()
                .map_err(error::sys("dup", "console socket"))?,
        ),
        (None, Some(p)) => Some(
            crate::tty::connect(p).map_err(error::sys("connect console socket", p.display()))?,
        ),
        _ => None,
    })
}

/// The container's cgroup, with its limits set while it is still empty, so no process
/// ever runs in it unlimited.
fn make_cgroup(
    spec: &Spec,
    id: &str,
    cleanup: &mut Cleanup<'_>,
) -> Result<std::rc::Rc<dyn berth_cgroups::Manager>> {
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let cg: std::rc::Rc<dyn berth_cgroups::Manager> =
        berth_cgroups::create_manager(cgroups_path.as_deref(), id)?.into();
    cleanup.cgroup = Some(cg.clone());
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        cg.set(r)?;
    }
    Ok(cg)
}

/// Fork the intermediate; returns our end of the channel and its pid.
fn spawn(boot: &Bootstrap, cleanup: &mut Cleanup<'_>) -> Result<(Channel, i32)> {
    let (ours, theirs) = Channel::pair().map_err(error::nix("socketpair", "sync channel"))?;
    let forked =
        crate::process::fork_in(&*boot.cgroup).map_err(error::sys("fork", "intermediate"))?;
    let child = match forked {
        (berth_sys::process::Forked::Child, cloned_in) => {
            drop(ours);
            intermediate::run(boot, &theirs, cloned_in)
        }
        (berth_sys::process::Forked::Parent(pid), _) => pid,
    };
    drop(theirs);
    cleanup.pids.push(child);
    Ok((ours, child))
}

fn record(boot: &Bootstrap, init: i32, terminal: bool) -> Record {
    Record {
        id: boot.id.clone(),
        pid: init,
        pid_start: crate::state::process_start_time(init).unwrap_or(0),
        bundle: boot.bundle.clone(),
        rootfs: boot.rootfs.clone(),
        created: crate::state::rfc3339(std::time::SystemTime::now()),
        owner: "root".into(),
        cgroup_path: boot.cgroup_path.clone(),
        cgroups_path_spec: boot
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone()),
        annotations: boot.spec.annotations().clone().unwrap_or_default(),
        terminal,
        oci_version: boot.spec.version().clone(),
        late_hooks: boot.spec.hooks().as_ref().is_some_and(|h| {
            h.poststart().as_ref().is_some_and(|v| !v.is_empty())
                || h.poststop().as_ref().is_some_and(|v| !v.is_empty())
        }),
    }
}

/// The host uid and gid that the container's root maps to (0, 0 without a user namespace).
fn root_host_ids(spec: &Spec) -> (u32, u32) {
    let linux = spec.linux().as_ref();
    let find = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .find(|m| m.container_id() == 0)
            .map(|m| m.host_id())
            .unwrap_or(0)
    };
    (
        find(linux.and_then(|l| l.uid_mappings().as_ref())),
        find(linux.and_then(|l| l.gid_mappings().as_ref())),
    )
}

/// The fifo init blocks on until `start`; owned by the container's root so that init can
/// open it for writing from inside a user namespace (mode 0600: nobody else may).
fn make_fifo(dir: &Path, (uid, gid): (u32, u32)) -> Result<OwnedFd> {
    let path = dir.join("exec.fifo");
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
        .map_err(error::nix("mkfifo", path.display()))?;
    nix::unistd::chown(&path, Some(uid.into()), Some(gid.into()))
        .map_err(error::nix("chown", path.display()))?;
    let fd = nix::fcntl::open(
        &path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(error::nix("open", path.display()))?;
    Ok(fd)
}

/// Answer the children until init is Ready; returns init's pid.
fn drive(
    b: &Bootstrap,
    chan: &Channel,
    child: i32,
    cleanup: &mut Cleanup<'_>,
    listener: Option<&Path>,
) -> Result<i32> {
    let id = &b.id;
    let chan_err = |source| Error::Channel {
        id: id.clone(),
        source,
    };
    let mut seq = Sequence::create(b.plan.new_user, b.runtime_hooks, listener.is_some());
    let mut init = 0;
    while !seq.done() {
        let (msg, fd) = chan.recv_fd(seq.expected()).map_err(chan_err)?;
        seq.accept(&msg).map_err(chan_err)?;
        match msg {
            Msg::NeedIdMaps => {
                write_id_maps(&b.spec, child)?;
                send_idmap_trees(b, chan, child)?;
                chan.send(&Msg::Go).map_err(chan_err)?;
            }
            Msg::InitPid(pid) => {
                init = pid;
                cleanup.pids.insert(0, pid);
                // Init builds its rootfs meanwhile; it waits for this before it forks,
                // makes its cgroup namespace or execs.
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None);
            }
            Msg::RunHooks => {
                let st = hook_state(b, "creating", init);
                let h = b.spec.hooks().as_ref();
                hooks::run_all(
                    "prestart",
                    h.and_then(|h| h.prestart().as_deref()).unwrap_or_default(),
                    &st,
                )?;
                hooks::run_all(
                    "createRuntime",
                    h.and_then(|h| h.create_runtime().as_deref())
                        .unwrap_or_default(),
                    &st,
                )?;
                chan.send(&Msg::Go).map_err(chan_err)?;
            }
            Msg::SeccompListener => {
                if let (Some(path), Some(fd)) = (listener, fd) {
                    let state = listener_state(b, init);
                    crate::seccomp::send_listener(path, fd, &state)?;
                }
            }
            Msg::Ready => {}
            Msg::Failed(source) => {
                return Err(Error::Child {
                    id: id.clone(),
                    source,
                })
            }
            Msg::Go | Msg::IdmapTree(_) => {}
        }
    }
    Ok(init)
}

fn hook_state<'a>(b: &'a Bootstrap, status: &'a str, pid: i32) -> HookState<'a> {
    HookState {
        oci_version: b.spec.version(),
        id: &b.id,
        status,
        pid: Some(pid),
        bundle: b.bundle.to_str().unwrap_or(""),
        annotations: b.spec.annotations().as_ref().unwrap_or(&crate::EMPTY_MAP),
    }
}

fn listener_state(b: &Bootstrap, pid: i32) -> Vec<u8> {
    let metadata = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .and_then(|s| s.listener_metadata().clone());
    let st = hook_state(b, "creating", pid);
    serde_json::to_vec(&serde_json::json!({
        "ociVersion": b.spec.version(),
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata.unwrap_or_default(),
        "state": st,
    }))
    .expect("state serializes")
}

/// For each `idmap` bind mount, an idmapped clone of its source, sent to the intermediate.
fn send_idmap_trees(b: &Bootstrap, chan: &Channel, child: i32) -> Result<()> {
    use std::os::fd::{AsFd, AsRawFd};
    let mut userns = None;
    for (i, m) in b.spec.mounts().iter().flatten().enumerate() {
        let opts = crate::rootfs::flags::parse_options(m.options().as_deref().unwrap_or_default());
        let Some(recursive) = opts.idmap else {
            continue;
        };
        let ns_path = format!("/proc/{child}/ns/user");
        if userns.is_none() {
            userns = Some(std::fs::File::open(&ns_path).map_err(error::sys("open", &ns_path))?);
        }
        let src = m.source().clone().unwrap_or_default();
        let src = if src.is_absolute() {
            src
        } else {
            b.bundle.join(src)
        };
        let rec = recursive || opts.flags.contains(nix::mount::MsFlags::MS_REC);
        let ns = userns.as_ref().expect("opened above");
        let tree = crate::rootfs::mounts::idmapped_tree(&src, ns.as_fd(), rec)
            .map_err(error::sys("idmap mount", src.display()))?;
        chan.send_fd(&Msg::IdmapTree(i), Some(tree.as_raw_fd()))
            .map_err(|source| Error::Channel {
                id: b.id.clone(),
                source,
            })?;
    }
    Ok(())
}

fn write_id_maps(spec: &Spec, pid: i32) -> Result<()> {
    let linux = spec.linux().as_ref();
    let fmt = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.into_iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let uid = fmt(linux.and_then(|l| l.uid_mappings().as_ref()));
    let gid = fmt(linux.and_then(|l| l.gid_mappings().as_ref()));
    for (file, text) in [("uid_map", uid), ("gid_map", gid)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text.as_bytes()).map_err(error::sys("write", &path))?;
    }
    Ok(())
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("tmp-berth");
    std::fs::write(&tmp, pid.to_string()).map_err(error::sys("write", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(error::sys("rename", path.display()))
}
