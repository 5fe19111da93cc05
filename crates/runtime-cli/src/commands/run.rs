//! `run`: create + start; in the foreground, wait for the container and delete it.

use std::os::fd::AsFd;

use berth_runtime::container::{
    delete::delete, start::start, wait::forward_until_exit, wait::proxy_until_exit,
};
use berth_runtime::state::Root;

use super::create::CreateFlags;

/// `run` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    flags: CreateFlags,
    /// Detach: return once the container runs.
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits (foreground only).
    #[arg(long)]
    keep: bool,
    /// Container id.
    id: String,
}

/// Run the container; in the foreground the exit code is the container's.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    a.flags.seal_if_needed()?;
    if !a.detach {
        // Init is forked by an intermediate that exits; as subreaper we inherit it and can
        // wait for it and forward signals, as runc does as init's parent.
        nix::sys::prctl::set_child_subreaper(true)?;
    }
    let mut opts = a.flags.opts(a.id.clone());
    // In the foreground without a console socket we are the terminal's other end.
    let ours = if !a.detach && opts.console_socket.is_none() {
        let (ours, theirs) = berth_runtime::tty::pair()?;
        opts.console_fd = Some(std::sync::Arc::new(theirs));
        Some(ours)
    } else {
        None
    };
    let rec = berth_runtime::container::create::create(root, &opts)?;
    let master = match (&ours, rec.terminal) {
        (Some(sock), true) => Some(berth_runtime::tty::recv_master(sock.as_fd())?),
        _ => None,
    };
    match start(root, &a.id) {
        Ok(Some(w)) => eprintln!("berth-runtime: warning: {w}"),
        Ok(None) => {}
        Err(e) => {
            let _ = delete(root, &a.id, true);
            return Err(e.into());
        }
    }
    if a.detach {
        return Ok(0);
    }
    let code = match master {
        Some(m) => proxy_until_exit(rec.pid, m),
        None => forward_until_exit(rec.pid),
    };
    if !a.keep {
        if let Some(w) = delete(root, &a.id, true)? {
            eprintln!("berth-runtime: warning: {w}");
        }
    }
    Ok(code)
}
