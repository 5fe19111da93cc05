//! `berth kill`.

use berth_engine::{lifecycle, Engine};

/// `kill` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Signals each container.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let Some(sig) = berth_runtime::container::signals::parse(&a.signal) else {
        anyhow::bail!("invalid --signal `{}`: unknown signal", a.signal);
    };
    Ok(super::each::each(&a.containers, |key| {
        lifecycle::kill(eng, key, sig)
    }))
}
