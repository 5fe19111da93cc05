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
    if let Some(w) = berth_runtime::container::delete::delete(root, &a.id, a.force)? {
        eprintln!("berth-runtime: warning: {w}");
    }
    Ok(0)
}
