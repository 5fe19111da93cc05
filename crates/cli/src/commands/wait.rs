//! `berth wait`.

use berth_engine::{lifecycle, Engine};

/// `wait` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Prints each container's exit code once it stops.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    for key in &a.containers {
        println!("{}", lifecycle::wait(eng, key)?);
    }
    Ok(0)
}
