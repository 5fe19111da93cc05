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

fn each(a: &Args, mut f: impl FnMut(&str) -> berth_engine::Result<()>) -> anyhow::Result<i32> {
    let mut failed = 0;
    for key in &a.containers {
        match f(key) {
            Ok(()) => println!("{key}"),
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                failed = 1;
            }
        }
    }
    Ok(failed)
}

/// Stops each container.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    if let Some(s) = &a.signal {
        anyhow::ensure!(
            berth_runtime::container::signals::parse(s).is_some(),
            "invalid --signal `{s}`: unknown signal"
        );
    }
    each(&a, |key| lifecycle::stop(eng, key, a.time).map(drop))
}

/// Stops then starts each container.
pub fn restart(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    each(&a, |key| {
        lifecycle::stop(eng, key, a.time)?;
        match lifecycle::start(eng, key)? {
            Some(s) => s.go(eng).map(drop),
            None => Ok(()),
        }
    })
}
