//! `berth system prune`.

use berth_engine::filter::Filters;
use berth_engine::prune::{self, SystemPrune};
use berth_engine::Engine;

use crate::format;

/// `system prune` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove all unused images not just dangling ones (and with --volumes, all unused
    /// volumes, not just anonymous ones).
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes.
    #[arg(long)]
    volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>").
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// Prunes containers, volumes (with --volumes) and images, and prints what went.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let req = SystemPrune {
        all: a.all,
        volumes: a.volumes,
        filters: Filters::parse(&a.filter, prune::CONTAINER_FILTERS)?,
    };
    if !a.force && !crate::prompt::confirm(&warning(&req))? {
        return Ok(0);
    }
    let p = prune::system(eng, &req)?;
    for (title, items) in [
        ("Deleted Containers:", &p.containers),
        ("Deleted Volumes:", &p.volumes),
        ("Deleted Images:", &p.images),
    ] {
        if !items.is_empty() {
            println!("{title}");
            items.iter().for_each(|i| println!("{i}"));
            println!();
        }
    }
    println!("Total reclaimed space: {}", format::size(p.reclaimed));
    Ok(0)
}

fn warning(req: &SystemPrune) -> String {
    let mut w = String::from("WARNING! This will remove:\n  - all stopped containers");
    if req.volumes {
        w.push_str(if req.all {
            "\n  - all volumes not used by at least one container"
        } else {
            "\n  - all anonymous volumes not used by at least one container"
        });
    }
    w.push_str(if req.all {
        "\n  - all images without at least one container associated to them"
    } else {
        "\n  - all dangling images"
    });
    w.push('\n');
    w
}
