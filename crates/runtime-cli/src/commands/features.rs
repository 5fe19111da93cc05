//! `features`.

/// `features` flags (none).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Print the features JSON.
pub fn run(_a: Args) -> anyhow::Result<i32> {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&berth_runtime::features::features_json())?
    );
    Ok(0)
}
