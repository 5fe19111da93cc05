//! `berth system df`.

use berth_engine::df::Row;
use berth_engine::Engine;

use crate::format;

/// `system df` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Format output using a custom template ("table", "json" or a Go template).
    #[arg(long, default_value = "table")]
    format: String,
}

/// Print disk usage of images, containers and local volumes.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let u = berth_engine::df::usage(eng)?;
    let rows: Vec<serde_json::Value> = [
        ("Images", u.images),
        ("Containers", u.containers),
        ("Local Volumes", u.volumes),
    ]
    .iter()
    .map(|(t, r)| row(t, r))
    .collect();
    let format = match a.format.as_str() {
        "table" => "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
        "json" => "{{json .}}",
        f => f,
    };
    let t = crate::template::Template::parse(format)?;
    let header = |f: &str| match f {
        "TotalCount" => "TOTAL".to_string(),
        other => other.to_uppercase(),
    };
    print!("{}", t.render_all(&rows, header)?);
    Ok(0)
}

fn row(kind: &str, r: &Row) -> serde_json::Value {
    let pct = (r.reclaimable * 100).checked_div(r.size).unwrap_or(0);
    serde_json::json!({"Type": kind, "TotalCount": r.total, "Active": r.active,
        "Size": format::size(r.size),
        "Reclaimable": format!("{} ({pct}%)", format::size(r.reclaimable))})
}
