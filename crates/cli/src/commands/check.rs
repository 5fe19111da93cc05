//! `berth system check`, with podman's flags: the image store and snapshotter, then the
//! networks (leases, published ports, names, links and nftables rules against the
//! containers; see `berth_network::check`).

use std::time::Duration;

use berth_engine::engine::Engine;
use berth_image::check::{check, CheckOptions};
use berth_image::snapshot::{Snapshotter, STORE_DIR};

/// `system check` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove what is damaged or left over, and whatever then dangles.
    #[arg(short, long)]
    repair: bool,
    /// With --repair, also remove snapshots (containers' layers) whose layers are gone.
    #[arg(short, long)]
    force: bool,
    /// Do not hash every blob (skips the slowest check).
    #[arg(short, long)]
    quick: bool,
    /// Unreferenced blobs and layers younger than this are left alone (a pull may be
    /// under way), e.g. `24h`, `30m`, `0s`.
    #[arg(short, long, default_value = "24h", value_parser = humantime::parse_duration)]
    max: Duration,
}

/// Check, print one line per problem, and exit 1 when any is left unrepaired.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let store = &eng.images;
    let snaps = Snapshotter::open(store.root().join(STORE_DIR))?;
    let opts = CheckOptions {
        repair: a.repair,
        force: a.force,
        quick: a.quick,
        max_age: a.max,
    };
    let report = check(store, &snaps, &opts)?;
    let mut lines: Vec<(String, bool)> = report
        .findings
        .iter()
        .map(|f| (f.problem.to_string(), f.repaired))
        .collect();
    let nets = berth_engine::netcheck::check(eng, a.repair)?;
    lines.extend(nets.iter().map(|f| (f.problem.to_string(), f.repaired)));
    for (problem, repaired) in &lines {
        let mark = if *repaired { " (repaired)" } else { "" };
        println!("{problem}{mark}");
    }
    let left = lines.iter().filter(|(_, r)| !r).count();
    match (lines.len(), left) {
        (0, _) => println!("No problems found"),
        (n, 0) => println!("{n} problems found, all repaired"),
        (n, left) => {
            let hint = if a.repair { "" } else { " (run with --repair)" };
            println!("{n} problems found, {left} not repaired{hint}");
        }
    }
    Ok(if left == 0 { 0 } else { 1 })
}
