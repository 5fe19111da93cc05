//! `list`.

use berth_runtime::state::Root;

/// `list` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only ids.
    #[arg(short, long)]
    quiet: bool,
    /// table or json.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// Print the containers.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    let all = berth_runtime::container::query::list(root)?;
    if a.quiet {
        for s in &all {
            crate::outln!("{}", s.id);
        }
    } else if a.format == "json" {
        crate::outln!("{}", serde_json::to_string(&all)?);
    } else {
        crate::outln!(
            "{:<20} {:<8} {:<10} {:<40} {:<31} OWNER",
            "ID",
            "PID",
            "STATUS",
            "BUNDLE",
            "CREATED"
        );
        for s in &all {
            crate::outln!(
                "{:<20} {:<8} {:<10} {:<40} {:<31} {}",
                s.id,
                s.pid,
                s.status.to_string(),
                s.bundle,
                s.created,
                s.owner
            );
        }
    }
    Ok(0)
}
