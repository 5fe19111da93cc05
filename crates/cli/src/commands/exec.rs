//! `berth exec`.

use berth_engine::exec::{exec, ExecOptions};
use berth_engine::Engine;

/// `exec` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Set environment variables.
    #[arg(short, long)]
    env: Vec<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    privileged: bool,
    /// The container.
    container: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    cmd: Vec<String>,
}

/// Runs the command; in the foreground its exit code is ours.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let o = ExecOptions {
        cmd: a.cmd,
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        user: a.user.unwrap_or_default(),
        workdir: a.workdir.unwrap_or_default(),
        env: a.env,
        privileged: a.privileged,
    };
    Ok(exec(eng, &a.container, &o)?)
}
