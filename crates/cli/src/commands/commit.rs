//! `berth commit`.

use berth_engine::commit::{commit, CommitOptions};
use berth_engine::Engine;

/// `commit` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long, default_value = "")]
    author: String,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message.
    #[arg(short, long, default_value = "")]
    message: String,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pause: bool,
    /// The container.
    container: String,
    /// Name for the image, `REPOSITORY[:TAG]`.
    repository: Option<String>,
}

/// Commits and prints the new image id.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let o = CommitOptions {
        author: a.author,
        message: a.message,
        changes: a.change,
        pause: a.pause,
        reference: a.repository,
    };
    let image = commit(eng, &a.container, &o)?;
    println!("{}", image.id());
    Ok(0)
}
