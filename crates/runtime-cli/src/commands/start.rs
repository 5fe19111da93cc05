//! `start`.

use berth_runtime::state::Root;

/// `start` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Start the container.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    if let Some(w) = berth_runtime::container::start::start(root, &a.id)? {
        eprintln!("berth-runtime: warning: {w}");
    }
    Ok(0)
}
