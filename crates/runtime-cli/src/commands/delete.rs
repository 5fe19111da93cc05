//! `delete`.

use berth_runtime::state::Root;

/// `delete` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kill a running container first.
    #[arg(short, long)]
    force: bool,
    /// Container id.
    id: String,
}

/// Delete the container.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    berth_runtime::container::delete::delete(root, &a.id, a.force)?;
    Ok(0)
}
