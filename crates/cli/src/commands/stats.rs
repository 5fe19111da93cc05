//! `berth stats`: a live table of containers' usage, redrawn every second as Docker's, or
//! one reading with `--no-stream`.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use berth_engine::inspect::{list, Listed};
use berth_engine::stats::{sample, Sample};
use berth_engine::Engine;
use serde_json::{json, Value};

use crate::template::Template;

/// `stats` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// `table`, `json`, or a Go template (`table {{.Name}}\t{{.CPUPerc}}`).
    #[arg(long, default_value = "table")]
    format: String,
    /// Containers (default: all running ones).
    containers: Vec<String>,
}

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Shows the table once, or every second until interrupted.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let template = match a.format.as_str() {
        "table" => Template::parse(DEFAULT)?,
        "json" => Template::parse("{{json .}}")?,
        f => Template::parse(f)?,
    };
    let mut prev: HashMap<String, Sample> = HashMap::new();
    for (key, l) in watched(eng, &a)? {
        prev.insert(key, sample(eng, &l.container, &l.state));
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let mut rows = vec![];
        let mut next = HashMap::new();
        for (key, l) in watched(eng, &a)? {
            let now = sample(eng, &l.container, &l.state);
            rows.push(row(&key, &l, prev.get(&key), &now, a.no_trunc));
            next.insert(key, now);
        }
        prev = next;
        let text = template.render_all(&rows, header)?;
        let mut out = std::io::stdout().lock();
        if !a.no_stream {
            // Docker's redraw: clear the screen, cursor home.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        if a.no_stream {
            return Ok(0);
        }
    }
}

/// The containers to show, keyed as the user named them (or by id): the ones named, or
/// every running one (every one with `--all`), looked up afresh each round.
fn watched(eng: &Engine, a: &Args) -> anyhow::Result<Vec<(String, Listed)>> {
    let all = list(eng)?;
    if a.containers.is_empty() {
        return Ok(all
            .into_iter()
            .filter(|l| a.all || l.state.running)
            .filter(|l| !l.container.created.is_empty())
            .map(|l| (l.container.id.clone(), l))
            .collect());
    }
    let mut out = vec![];
    for key in &a.containers {
        let id = eng.containers.resolve(key)?;
        let l = all
            .iter()
            .find(|l| l.container.id == id)
            .ok_or_else(|| berth_engine::Error::NoSuchContainer(key.clone()))?;
        out.push((key.clone(), l.clone()));
    }
    Ok(out)
}

fn row(key: &str, l: &Listed, prev: Option<&Sample>, now: &Sample, no_trunc: bool) -> Value {
    let c = &l.container;
    let cpu = prev.map(|p| now.cpu_percent(p)).unwrap_or(0.0);
    let id = if no_trunc {
        c.id.as_str()
    } else {
        c.short_id()
    };
    json!({
        "Container": key,
        "ID": id,
        "Name": c.short_name(),
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", binary(now.mem_usage), binary(now.mem_limit)),
        "MemPerc": format!("{:.2}%", now.mem_percent()),
        "NetIO": format!("{} / {}", decimal(now.net_rx), decimal(now.net_tx)),
        "BlockIO": format!("{} / {}", decimal(now.blk_read), decimal(now.blk_write)),
        "PIDs": now.pids.to_string(),
    })
}

fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => return other.to_ascii_uppercase(),
    }
    .into()
}

/// `v` with `digits` significant digits and no trailing zeros, as Go's `%.Ng` for the
/// magnitudes these sizes take (below 10^digits).
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = (v.abs().log10().floor() as i32 + 1).max(1);
    let decimals = (digits - int_digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn scaled(bytes: u64, base: f64, units: &[&str], digits: i32) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", significant(v, digits), units[i])
}

/// Docker's `units.BytesSize`: binary units, 4 significant digits (`1.195MiB`).
fn binary(bytes: u64) -> String {
    scaled(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// Docker's `units.HumanSizeWithPrecision(v, 3)`: decimal units (`1.2kB`).
fn decimal(bytes: u64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker_stats() {
        assert_eq!(binary(0), "0B");
        assert_eq!(binary(1_253_376), "1.195MiB");
        assert_eq!(binary(64 << 20), "64MiB");
        assert_eq!(binary(25_275_219_968), "23.54GiB");
        assert_eq!(decimal(0), "0B");
        assert_eq!(decimal(1234), "1.23kB");
        assert_eq!(decimal(999), "999B");
        assert_eq!(decimal(12_500_000), "12.5MB");
    }

    #[test]
    fn headers() {
        assert_eq!(header("CPUPerc"), "CPU %");
        assert_eq!(header("MemUsage"), "MEM USAGE / LIMIT");
        assert_eq!(header("PIDs"), "PIDS");
    }
}
