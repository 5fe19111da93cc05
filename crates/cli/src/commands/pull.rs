//! `berth pull`.

use std::str::FromStr;

use berth_image::reference::Reference;
use berth_image::registry::{pull_unpacked, PullOptions};
use berth_image::snapshot::{Snapshotter, STORE_DIR};
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

/// Pull, unpack the layers (as Docker and Podman do, so that the first container starts at
/// once), then print the digest and the full name.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let reference = Reference::from_str(&a.name)?;
    let mut opts = PullOptions {
        quiet: a.quiet,
        ..PullOptions::default()
    };
    if let Some(p) = a.platform {
        opts.platform = p;
    }
    let snaps = Snapshotter::open(store.root().join(STORE_DIR))?;
    let image = pull_unpacked(store, &snaps, &reference, &opts)?;
    if !a.quiet {
        println!("Digest: {}", image.manifest_digest);
    }
    println!("{reference}");
    Ok(0)
}
