//! `events`: stats and OOM notifications as JSON lines.

use std::time::Duration;

use berth_runtime::state::Root;

/// `events` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one stats event and exit.
    #[arg(long)]
    stats: bool,
    /// Stats interval in seconds (e.g. 5, 0.5, or 5s).
    #[arg(long, default_value = "5s")]
    interval: String,
    /// Container id.
    id: String,
}

/// Print events.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    if a.stats {
        let ev = berth_runtime::container::query::stats(root, &a.id)?;
        crate::outln!("{}", serde_json::to_string(&ev)?);
        return Ok(0);
    }
    let secs: f64 = a
        .interval
        .trim_end_matches('s')
        .parse()
        .map_err(|_| anyhow::anyhow!("events: --interval {:?}: not a duration", a.interval))?;
    let interval = Duration::from_secs_f64(secs.max(0.01));
    berth_runtime::container::query::events(root, &a.id, interval, |ev| {
        if let Ok(s) = serde_json::to_string(ev) {
            crate::outln!("{s}");
        }
    })?;
    Ok(0)
}
