//! `berth logs`.

use std::io::Write;
use std::time::{Duration, SystemTime};

use berth_engine::logs::{follow, path, read, Entry, ReadOptions};
use berth_engine::Engine;

/// `logs` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Follow log output.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs (or "all").
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since timestamp (RFC 3339) or relative (42m).
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or relative (42m).
    #[arg(long)]
    until: Option<String>,
    /// Show extra details provided to logs.
    #[arg(long)]
    details: bool,
    /// The container.
    container: String,
}

/// A time as `--since` takes it: RFC 3339, a Unix timestamp, or a duration ago.
fn when(flag: &str, s: &str) -> anyhow::Result<SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0)));
    }
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(SystemTime::now() - d);
    }
    anyhow::bail!(
        "invalid {flag} `{s}`: expected an RFC 3339 time, a Unix time or a duration like 10m"
    )
}

fn print(e: &Entry, timestamps: bool) -> bool {
    let text = if timestamps {
        format!("{} {}", e.time, e.log)
    } else {
        e.log.clone()
    };
    let r = if e.stream == "stderr" {
        let mut w = std::io::stderr();
        w.write_all(text.as_bytes()).and_then(|_| w.flush())
    } else {
        let mut w = std::io::stdout();
        w.write_all(text.as_bytes()).and_then(|_| w.flush())
    };
    r.is_ok()
}

/// Prints the container's log; with `-f`, follows it until the container stops.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let id = eng.containers.resolve(&a.container)?;
    let c = eng.containers.config(&id)?;
    if c.host_config.log_config.kind == "none" {
        anyhow::bail!("configured logging driver does not support reading");
    }
    let o =
        ReadOptions {
            tail: match a.tail.as_str() {
                "all" | "-1" => None,
                n => Some(n.parse().map_err(|_| {
                    anyhow::anyhow!("invalid --tail `{n}`: expected a number or all")
                })?),
            },
            since: a.since.as_deref().map(|s| when("--since", s)).transpose()?,
            until: a.until.as_deref().map(|s| when("--until", s)).transpose()?,
        };
    let file = path(&eng.dir(&id), &id);
    for e in read(&file, &o)? {
        if !print(&e, a.timestamps) {
            return Ok(0);
        }
    }
    if a.follow && o.until.is_none() {
        follow(
            &file,
            |e| print(e, a.timestamps),
            || {
                berth_engine::lifecycle::status(eng, &id)
                    .map(|s| !s.running && !s.restarting)
                    .unwrap_or(true)
            },
        )?;
    }
    Ok(0)
}
