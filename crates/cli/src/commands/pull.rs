//! `berth pull`.

use std::str::FromStr;

use berth_image::reference::Reference;
use berth_image::registry::{pull, PullOptions};
use berth_image::store::Store;

/// `pull` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print no progress.
    #[arg(short, long)]
    quiet: bool,
    /// The platform to pick from a multi-platform image, `os/arch[/variant]`.
    #[arg(long)]
    platform: Option<String>,
    /// The image, `name[:tag|@digest]`.
    name: String,
}

/// Pull, then print the digest and the full name.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let reference = Reference::from_str(&a.name)?;
    let mut opts = PullOptions {
        quiet: a.quiet,
        ..PullOptions::default()
    };
    if let Some(p) = a.platform {
        opts.platform = p;
    }
    let image = pull(store, &reference, &opts)?;
    if !a.quiet {
        println!("Digest: {}", image.manifest_digest);
    }
    println!("{reference}");
    Ok(0)
}
