//! `berth system df`.

use berth_image::store::Store;

use crate::format;

/// `system df` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    format: String,
}

/// Print disk usage by type (images so far; containers and volumes come with the engine).
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let u = berth_image::image::usage(store, &[])?;
    let pct = (u.reclaimable * 100).checked_div(u.size).unwrap_or(0);
    if a.format == "json" {
        let v = serde_json::json!({"Type": "Images", "TotalCount": u.total, "Active": u.active,
            "Size": format::size(u.size), "Reclaimable": format!("{} ({pct}%)", format::size(u.reclaimable))});
        println!("{v}");
        return Ok(0);
    }
    println!(
        "{:<16}{:<8}{:<8}{:<12}RECLAIMABLE",
        "TYPE", "TOTAL", "ACTIVE", "SIZE"
    );
    println!(
        "{:<16}{:<8}{:<8}{:<12}{} ({pct}%)",
        "Images",
        u.total,
        u.active,
        format::size(u.size),
        format::size(u.reclaimable)
    );
    Ok(0)
}
