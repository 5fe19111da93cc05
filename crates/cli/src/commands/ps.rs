//! `berth ps` / `berth container ls`.

use std::time::SystemTime;

use berth_engine::inspect::{command_text, list, status_text, Listed};
use berth_engine::Engine;
use serde_json::{json, Value};

/// `ps` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    size: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    latest: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Filter output based on conditions provided (status=, name=, id=, label=, ancestor=, exited=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// `table`, `json`, or a Go template (`{{.ID}}\t{{.Names}}`).
    #[arg(long, default_value = "table")]
    format: String,
}

fn matches(l: &Listed, f: &str) -> anyhow::Result<bool> {
    let (k, v) = f
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("invalid --filter `{f}`: expected key=value"))?;
    let c = &l.container;
    Ok(match k {
        "status" => l.state.status == v,
        "name" => c.short_name().contains(v),
        "id" => c.id.starts_with(v),
        "exited" => l.state.status == "exited" && l.state.exit_code.to_string() == v,
        "ancestor" => c.config.image == v || c.image.contains(v),
        "label" => match v.split_once('=') {
            Some((lk, lv)) => c.config.labels.get(lk).is_some_and(|x| x == lv),
            None => c.config.labels.contains_key(v),
        },
        _ => anyhow::bail!("invalid --filter `{f}`: unknown key `{k}`"),
    })
}

fn row(eng: &Engine, l: &Listed, a: &Args, now: SystemTime) -> Value {
    let c = &l.container;
    let id = if a.no_trunc {
        c.id.clone()
    } else {
        c.short_id().to_string()
    };
    let size = if a.size {
        let upper = eng.snaps.upper_dir(&c.id).unwrap_or_default();
        let own = dir_size(&upper);
        let image = berth_image::image::load(&eng.images, &c.image_manifest)
            .map(|i| i.size())
            .unwrap_or(0);
        format!(
            "{} (virtual {})",
            crate::format::size(own),
            crate::format::size(own + image)
        )
    } else {
        String::new()
    };
    json!({
        "ID": id,
        "Image": c.config.image,
        "Command": command_text(c, a.no_trunc),
        "CreatedAt": c.created,
        "RunningFor": crate::format::ago(&c.created),
        "Ports": berth_engine::port::ps_column(eng, &c.id),
        "State": l.state.status,
        "Status": status_text(&l.state, now),
        "Size": size,
        "Names": c.short_name(),
        "Labels": c.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Mounts": c.host_config.binds.join(","),
        "Networks": c.host_config.network_mode,
    })
}

/// Bytes of regular files under `dir` (the container's own layer).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}

/// Lists containers.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let mut rows = list(eng)?;
    let explicit_all = a.all || a.latest || a.last >= 0;
    let mut kept = vec![];
    for l in rows.drain(..) {
        let mut ok = explicit_all || l.state.running || l.state.restarting;
        for f in &a.filter {
            if f.starts_with("status=") || f.starts_with("exited=") {
                ok = matches(&l, f)?;
            } else {
                ok = ok && matches(&l, f)?;
            }
        }
        if ok {
            kept.push(l);
        }
    }
    if a.latest {
        kept.truncate(1);
    } else if a.last >= 0 {
        kept.truncate(a.last as usize);
    }
    let now = SystemTime::now();
    if a.quiet {
        for l in &kept {
            let c = &l.container;
            println!(
                "{}",
                if a.no_trunc {
                    c.id.as_str()
                } else {
                    c.short_id()
                }
            );
        }
        return Ok(0);
    }
    let values: Vec<Value> = kept.iter().map(|l| row(eng, l, &a, now)).collect();
    if a.format == "json" {
        for v in &values {
            println!("{v}");
        }
        return Ok(0);
    }
    let format = if a.format == "table" {
        let mut f = String::from(
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
        );
        if a.size {
            f.push_str("\t{{.Size}}");
        }
        f
    } else {
        a.format.clone()
    };
    let t = crate::template::Template::parse(&format)?;
    print!("{}", t.render_all(&values, header)?);
    Ok(0)
}

fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "RunningFor" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        other => other.to_ascii_uppercase(),
    }
}
