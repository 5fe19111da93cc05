//! `berth image prune`.

use berth_image::store::Store;

use crate::format;

/// `image prune` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove every unused image, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (berth never asks; accepted for scripts).
    #[arg(short, long)]
    force: bool,
}

/// Prune and print what went.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let _ = a.force;
    let (lines, freed) = berth_image::image::prune(store, a.all, &[])?;
    if !lines.is_empty() {
        println!("Deleted Images:");
        lines.iter().for_each(|l| println!("{l}"));
        println!();
    }
    println!("Total reclaimed space: {}", format::size(freed));
    Ok(0)
}
