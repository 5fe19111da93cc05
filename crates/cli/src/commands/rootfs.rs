//! `berth rootfs` (hidden): an overlay snapshot of an image, or its removal, for benches and
//! tests until the engine's `create` lands. Prints the snapshot's upper dir.

use berth_image::image::{create_rootfs, resolve};
use berth_image::snapshot::{Snapshotter, STORE_DIR};
use berth_image::store::Store;

/// `rootfs` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove snapshot ID instead.
    #[arg(long)]
    rm: bool,
    /// The snapshot id.
    id: String,
    /// The image (name or id); not needed with --rm.
    image: Option<String>,
}

/// Create (unpacking layers as needed) or remove one snapshot.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let snaps = Snapshotter::open(store.root().join(STORE_DIR))?;
    if a.rm {
        snaps.remove(&a.id)?;
        return Ok(0);
    }
    let name = a
        .image
        .ok_or_else(|| anyhow::anyhow!("rootfs `{}`: no image given", a.id))?;
    let image = resolve(store, &name)?;
    let snap = create_rootfs(store, &snaps, &image, &a.id)?;
    println!("{}", snap.upper.display());
    Ok(0)
}
