//! `state`.

use berth_runtime::state::Root;

/// `state` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Container id.
    id: String,
}

/// Print the OCI state JSON.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    let st = berth_runtime::container::query::state(root, &a.id)?;
    crate::outln!("{}", serde_json::to_string_pretty(&st)?);
    Ok(0)
}
