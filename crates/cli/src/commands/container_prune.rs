//! `berth container prune`.

use berth_engine::filter::Filters;
use berth_engine::{prune, Engine};

use crate::format;

/// `container prune` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>").
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// Removes every stopped container and prints what went.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let filters = Filters::parse(&a.filter, prune::CONTAINER_FILTERS)?;
    let warning = "WARNING! This will remove all stopped containers.";
    if !a.force && !crate::prompt::confirm(warning)? {
        return Ok(0);
    }
    let (ids, freed) = prune::containers(eng, &filters)?;
    if !ids.is_empty() {
        println!("Deleted Containers:");
        ids.iter().for_each(|i| println!("{i}"));
        println!();
    }
    println!("Total reclaimed space: {}", format::size(freed));
    Ok(0)
}
