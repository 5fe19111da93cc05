//! `kill`.

use berth_runtime::state::Root;

/// `kill` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal every process in the container, not only init.
    #[arg(short, long)]
    all: bool,
    /// Container id.
    id: String,
    /// Signal name (KILL, SIGKILL) or number; default TERM.
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

/// Send the signal.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    let sig = berth_runtime::container::signals::parse(&a.signal)
        .ok_or_else(|| anyhow::anyhow!("kill: invalid signal {:?}", a.signal))?;
    berth_runtime::container::kill(root, &a.id, sig, a.all)?;
    Ok(0)
}
