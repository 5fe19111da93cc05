//! `berth push`.

use std::str::FromStr;

use berth_image::reference::Reference;
use berth_image::registry::push;
use berth_image::store::Store;

/// `push` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print no progress.
    #[arg(short, long)]
    quiet: bool,
    /// The image to push, named as it is to be in the registry: `registry/repo[:tag]`.
    name: String,
}

/// Push, then print `<tag>: digest: <digest> size: <bytes>` as Docker does.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let target = Reference::from_str(&a.name)?;
    let pushed = push(store, &target.to_string(), &target, a.quiet)?;
    let tag = target.tag().unwrap_or("latest");
    println!("{tag}: digest: {} size: {}", pushed.digest, pushed.size);
    Ok(0)
}
