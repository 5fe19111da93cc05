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
    let mut failed = 0;
    for key in &a.containers {
        match lifecycle::pause(eng, key, paused) {
            Ok(_) => println!("{key}"),
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                failed = 1;
            }
        }
    }
    Ok(failed)
}
