//! `berth image prune`.

use berth_engine::Engine;

use crate::format;

/// `image prune` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation (berth never asks here; accepted for scripts).
    #[arg(short, long)]
    force: bool,
}

/// Prune and print what went; images containers use are kept.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let _ = a.force;
    let (lines, freed) = berth_engine::images::prune(eng, a.all)?;
    if !lines.is_empty() {
        println!("Deleted Images:");
        lines.iter().for_each(|l| println!("{l}"));
        println!();
    }
    println!("Total reclaimed space: {}", format::size(freed));
    Ok(0)
}
