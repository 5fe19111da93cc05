//! `berth rm`.

use berth_engine::{lifecycle, Engine};

/// `rm` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    volumes: bool,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Removes each container.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let mut failed = 0;
    for key in &a.containers {
        let config = eng
            .containers
            .resolve(key)
            .and_then(|id| eng.containers.config(&id));
        match lifecycle::remove(eng, key, a.force) {
            Ok(_) => {
                if let (true, Ok(c)) = (a.volumes, &config) {
                    if let Err(e) = berth_engine::volume::remove_anonymous(eng, c) {
                        eprintln!("berth: Error response from daemon: {e}");
                        failed = 1;
                    }
                }
                println!("{key}")
            }
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                failed = 1;
            }
        }
    }
    Ok(failed)
}
