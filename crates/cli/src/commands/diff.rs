//! `berth diff`.

use berth_engine::{changes, Engine};

/// `diff` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The container.
    container: String,
}

/// Prints `A`, `C` and `D` lines for the container's changes to its image's files.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    for (kind, path) in changes::changes(eng, &a.container)? {
        println!("{} {path}", kind.letter());
    }
    Ok(0)
}
