//! `berth pause` and `berth unpause`.

use berth_engine::{lifecycle, Engine};

/// `pause` / `unpause` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Freezes (`true`) or thaws each container.
pub fn run(a: Args, eng: &Engine, paused: bool) -> anyhow::Result<i32> {
    Ok(super::each::each(&a.containers, |key| {
        lifecycle::pause(eng, key, paused)
    }))
}
