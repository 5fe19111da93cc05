//! `berth volume create|ls|inspect|rm|prune`.

use std::collections::BTreeMap;

use anyhow::anyhow;
use berth_engine::filter::Filters;
use berth_engine::{volume, Engine};
use clap::Subcommand;

use crate::format;

/// `berth volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes. You cannot remove a volume that is in use by a container.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes.
    Prune(PruneArgs),
}

/// `volume create` flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Specify volume driver name.
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume.
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options.
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Volume name (random when not given).
    name: Option<String>,
    /// Also accepted as `--name`.
    #[arg(long = "name", hide = true, conflicts_with = "name")]
    name_flag: Option<String>,
}

/// `volume ls` flags.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true").
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ("table", "json" or a Go template).
    #[arg(long, default_value = "table")]
    format: String,
}

/// `volume inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format output using a custom template ("json" or a Go template).
    #[arg(short, long)]
    format: Option<String>,
    /// Volumes.
    #[arg(required = true)]
    volumes: Vec<String>,
}

/// `volume rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Do not error when a volume does not exist (a volume in use is still refused).
    #[arg(short, long)]
    force: bool,
    /// Volumes.
    #[arg(required = true)]
    volumes: Vec<String>,
}

/// `volume prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>").
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// Runs one `volume` verb.
pub fn run(cmd: VolumeCommand, eng: &Engine) -> anyhow::Result<i32> {
    match cmd {
        VolumeCommand::Create(a) => create(a, eng),
        VolumeCommand::Ls(a) => ls(a, eng),
        VolumeCommand::Inspect(a) => inspect(a, eng),
        VolumeCommand::Rm(a) => rm(a, eng),
        VolumeCommand::Prune(a) => prune(a, eng),
    }
}

fn key_values(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        if k.is_empty() {
            return Err(anyhow!("invalid {flag} `{i}`: expected KEY[=VALUE]"));
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

fn create(a: CreateArgs, eng: &Engine) -> anyhow::Result<i32> {
    let labels = key_values("--label", &a.label)?;
    let opts = key_values("--opt", &a.opt)?;
    let name = a.name.or(a.name_flag);
    let v = volume::create(eng, name.as_deref(), &a.driver, labels, opts)?;
    println!("{}", v.name);
    Ok(0)
}

fn ls(a: LsArgs, eng: &Engine) -> anyhow::Result<i32> {
    let filters = Filters::parse(&a.filter, &["dangling", "name", "label", "driver"])?;
    let vols = volume::list(eng, &filters)?;
    if a.quiet {
        vols.iter().for_each(|v| println!("{}", v.volume.name));
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = vols
        .iter()
        .map(|v| {
            let labels: Vec<String> = v
                .volume
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            serde_json::json!({"Name": v.volume.name, "Driver": v.volume.driver,
                "Scope": "local", "Mountpoint": v.mountpoint, "Labels": labels.join(","),
                "Links": v.users.len(), "Size": "N/A", "CreatedAt": v.volume.created_at})
        })
        .collect();
    let format = match a.format.as_str() {
        "table" => "table {{.Driver}}\t{{.Name}}",
        "json" => "{{json .}}",
        f => f,
    };
    let t = crate::template::Template::parse(format)?;
    let header = |f: &str| match f {
        "Name" => "VOLUME NAME".to_string(),
        "CreatedAt" => "CREATED AT".to_string(),
        other => other.to_uppercase(),
    };
    print!("{}", t.render_all(&rows, header)?);
    Ok(0)
}

fn inspect(a: InspectArgs, eng: &Engine) -> anyhow::Result<i32> {
    let mut docs = Vec::new();
    let mut code = 0;
    for name in &a.volumes {
        match volume::get(eng, name) {
            Ok(v) => docs.push(v.inspect()),
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    super::each::print_docs(&docs, a.format.as_deref(), code != 0)?;
    Ok(code)
}

fn rm(a: RmArgs, eng: &Engine) -> anyhow::Result<i32> {
    Ok(super::each::each(&a.volumes, |name| {
        volume::remove(eng, name, a.force)
    }))
}

fn prune(a: PruneArgs, eng: &Engine) -> anyhow::Result<i32> {
    let filters = Filters::parse(&a.filter, &["label", "label!", "all"])?;
    let all = a.all || filters.boolean("all")?.unwrap_or(false);
    let what = if all {
        "all local volumes not used by at least one container"
    } else {
        "anonymous local volumes not used by at least one container"
    };
    if !a.force && !crate::prompt::confirm(&format!("WARNING! This will remove {what}."))? {
        return Ok(0);
    }
    let (names, freed) = volume::prune(eng, all, &filters)?;
    if !names.is_empty() {
        println!("Deleted Volumes:");
        names.iter().for_each(|n| println!("{n}"));
        println!();
    }
    println!("Total reclaimed space: {}", format::size(freed));
    Ok(0)
}
