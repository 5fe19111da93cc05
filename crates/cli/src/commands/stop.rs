//! `berth stop` and `berth restart`.

use berth_engine::{lifecycle, Engine};

/// `stop` / `restart` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    time: Option<i64>,
    /// Signal to send to the container.
    #[arg(short, long)]
    signal: Option<String>,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// The `--signal` as a number (checked before any container is touched).
fn signal(a: &Args) -> anyhow::Result<Option<i32>> {
    a.signal
        .as_deref()
        .map(|s| {
            berth_runtime::container::signals::parse(s)
                .ok_or_else(|| anyhow::anyhow!("invalid --signal `{s}`: unknown signal"))
        })
        .transpose()
}

/// Stops each container.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let sig = signal(&a)?;
    Ok(super::each::each(&a.containers, |key| {
        lifecycle::stop(eng, key, a.time, sig)
    }))
}

/// Stops then starts each container.
pub fn restart(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let sig = signal(&a)?;
    Ok(super::each::each(&a.containers, |key| {
        lifecycle::stop(eng, key, a.time, sig)?;
        match lifecycle::start(eng, key)? {
            Some(s) => s.go(eng).map(drop),
            None => Ok(()),
        }
    }))
}
