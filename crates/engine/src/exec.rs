//! `exec`: another process in a running container, in all its namespaces and its cgroup
//! (the runtime's exec), like nsenter; in the foreground its stdio is ours, or a pty.

use std::os::fd::AsFd;
use std::path::Path;

use berth_runtime::oci_spec::runtime::{Process, Spec};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// `exec` options, Docker's.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command.
    pub cmd: Vec<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-d`.
    pub detach: bool,
    /// `-u`.
    pub user: String,
    /// `-w`.
    pub workdir: String,
    /// `-e`.
    pub env: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
}

/// The process to exec: the container's own process with the options on top.
pub fn process(eng: &Engine, id: &str, o: &ExecOptions) -> Result<Process> {
    let path = eng.dir(id).join("bundle/config.json");
    let spec: Spec = crate::store::read_json(&path)?;
    let mut p = spec.process().clone().unwrap_or_default();
    if o.cmd.is_empty() {
        return Err(Error::invalid("exec", "", "no command given"));
    }
    p.set_args(Some(o.cmd.clone()));
    p.set_terminal(Some(o.tty && !o.detach));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &o.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if !o.workdir.is_empty() {
        p.set_cwd(o.workdir.clone().into());
    }
    if !o.user.is_empty() {
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default();
        let ids = crate::user::resolve(Path::new(&rootfs), &o.user)?;
        let mut u = p.user().clone();
        u.set_uid(ids.uid);
        u.set_gid(ids.gid);
        u.set_additional_gids(Some(ids.additional));
        p.set_user(u);
    }
    if o.privileged {
        let caps: Vec<String> = crate::spec::host_caps();
        let v = serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps});
        let caps = serde_json::from_value(v).map_err(|e| Error::Runtime(e.to_string()))?;
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// Runs `o.cmd` in container `key`. Detached: returns 0 once it runs. In the foreground:
/// waits and returns its exit code. The caller must be single-threaded.
pub fn exec(eng: &Engine, key: &str, o: &ExecOptions) -> Result<i32> {
    let id = eng.containers.resolve(key)?;
    let c = eng.containers.config(&id)?;
    let st = crate::lifecycle::status(eng, &id)?;
    if !st.running {
        return Err(Error::State {
            id: key.into(),
            status: st.status,
            what: "cannot exec in a container that is not running",
        });
    }
    if st.paused {
        return Err(Error::State {
            id: key.into(),
            status: "paused".into(),
            what: "unpause it before exec",
        });
    }
    let p = process(eng, &id, o)?;
    let rt = eng.runtime_for(&c);
    if o.detach {
        let nulls = crate::monitor::Stdio::nulls();
        crate::monitor::in_child(Some(&nulls), || {
            rt.exec(&id, &p, None).map(|pid| pid.to_string())
        })?;
        return Ok(0);
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
    if !o.interactive {
        if let Ok(null) = std::fs::File::open("/dev/null") {
            let _ = nix::unistd::dup2_stdin(null.as_fd());
        }
    }
    if o.tty {
        let path = eng.console_path(&id, &format!("exec{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener =
            std::os::unix::net::UnixListener::bind(&path).map_err(Error::io("bind", &path))?;
        let pid = rt.exec(&id, &p, Some(&path));
        let _ = std::fs::remove_file(&path);
        let pid = pid?;
        let (conn, _) = listener.accept().map_err(Error::io("accept", &path))?;
        let master = berth_runtime::tty::recv_master(conn.as_fd())
            .map_err(Error::io("receive pty master", &path))?;
        return Ok(berth_runtime::container::wait::proxy_until_exit(
            pid, master,
        ));
    }
    let pid = rt.exec(&id, &p, None)?;
    Ok(berth_runtime::container::wait::forward_until_exit(pid))
}
