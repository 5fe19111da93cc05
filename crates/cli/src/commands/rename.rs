//! `berth rename`.

use berth_engine::{lifecycle, Engine};

/// `rename` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The container.
    container: String,
    /// Its new name.
    new_name: String,
}

/// Renames the container.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    lifecycle::rename(eng, &a.container, &a.new_name)?;
    Ok(0)
}
