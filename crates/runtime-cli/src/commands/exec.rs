//! `exec`: a new process in a running container, from `--process FILE` or arguments.

use std::path::PathBuf;

use berth_runtime::container::exec::{exec, ExecOpts};
use std::os::fd::AsFd;

use berth_runtime::container::wait::{forward_until_exit, proxy_until_exit};
use berth_runtime::oci_spec::runtime::{Capability, Process};
use berth_runtime::state::Root;

/// `exec` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// process.json to run instead of arguments.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// Allocate a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Write the process's pid here.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE), repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional group ids, repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability, repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Pass this many extra fds (from 3).
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    apparmor: Option<String>,
    /// Container id.
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Run the process; in the foreground the exit code is the process's.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    let process = build_process(&a, root)?;
    let caps = berth_runtime::seal::process_caps(&serde_json::to_value(&process)?);
    berth_runtime::seal::ensure_for(&caps)?;
    if !a.detach {
        nix::sys::prctl::set_child_subreaper(true)?;
    }
    let terminal = process.terminal().unwrap_or(false);
    let mut opts = ExecOpts {
        id: a.id.clone(),
        process,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        console_fd: None,
        preserve_fds: a.preserve_fds,
    };
    // In the foreground without a console socket we are the terminal's other end.
    let ours = if terminal && !a.detach && opts.console_socket.is_none() {
        let (ours, theirs) = berth_runtime::tty::pair()?;
        opts.console_fd = Some(std::sync::Arc::new(theirs));
        Some(ours)
    } else {
        None
    };
    let pid = exec(root, &opts)?;
    if a.detach {
        return Ok(0);
    }
    match ours {
        Some(sock) => Ok(proxy_until_exit(
            pid,
            berth_runtime::tty::recv_master(sock.as_fd())?,
        )),
        None => Ok(forward_until_exit(pid)),
    }
}

fn build_process(a: &Args, root: &Root) -> anyhow::Result<Process> {
    if let Some(path) = &a.process {
        let text =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("read `{}`: {e}", path.display()))?;
        let name = path.display().to_string();
        let mut p: Process = berth_runtime::spec::parse_json(&name, &text)?;
        if a.tty {
            p.set_terminal(Some(true));
        }
        return Ok(p);
    }
    if a.args.is_empty() {
        anyhow::bail!(
            "exec: no command given for container `{}` (pass arguments or --process)",
            a.id
        );
    }
    let spec = root.load_spec(&a.id)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = u
            .split_once(':')
            .map(|(u, g)| (u, Some(g)))
            .unwrap_or((u, None));
        let uid: u32 = uid
            .parse()
            .map_err(|_| anyhow::anyhow!("exec: --user {u:?}: uid must be a number"))?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            let gid: u32 = g
                .parse()
                .map_err(|_| anyhow::anyhow!("exec: --user {u:?}: gid must be a number"))?;
            p.user_mut().set_gid(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.cap.is_empty() {
        add_caps(&mut p, &a.cap)?;
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    if let Some(l) = &a.apparmor {
        p.set_apparmor_profile(Some(l.clone()));
    }
    Ok(p)
}

fn add_caps(p: &mut Process, names: &[String]) -> anyhow::Result<()> {
    let mut caps = p.capabilities().clone().unwrap_or_default();
    for n in names {
        let name = if n.to_ascii_uppercase().starts_with("CAP_") {
            n.to_ascii_uppercase()
        } else {
            format!("CAP_{}", n.to_ascii_uppercase())
        };
        let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
            .map_err(|_| anyhow::anyhow!("exec: --cap {n:?}: unknown capability"))?;
        let add = |s: Option<std::collections::HashSet<Capability>>| {
            let mut s = s.unwrap_or_default();
            s.insert(cap);
            Some(s)
        };
        caps.set_bounding(add(caps.bounding().clone()));
        caps.set_effective(add(caps.effective().clone()));
        caps.set_permitted(add(caps.permitted().clone()));
    }
    p.set_capabilities(Some(caps));
    Ok(())
}
