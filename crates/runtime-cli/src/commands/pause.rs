//! `pause` and `resume`.

use berth_runtime::state::Root;

/// `pause`/`resume` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Freeze or thaw.
pub fn run(a: Args, root: &Root, pause: bool) -> anyhow::Result<i32> {
    berth_runtime::container::set_paused(root, &a.id, pause)?;
    Ok(0)
}
