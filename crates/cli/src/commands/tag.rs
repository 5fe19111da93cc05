//! `berth tag`.

use berth_image::store::Store;

/// `tag` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (name or id).
    source: String,
    /// The new name, `repository[:tag]`.
    target: String,
}

/// Add the name.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    berth_image::image::tag(store, &a.source, &a.target)?;
    Ok(0)
}
