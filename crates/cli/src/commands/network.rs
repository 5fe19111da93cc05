//! `berth network create|connect|disconnect|ls|inspect|rm|prune`.

use std::collections::BTreeMap;

use anyhow::anyhow;
use berth_engine::Engine;
use clap::Subcommand;

/// `berth network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
}

/// `network create` flags.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Driver to manage the Network (only bridge).
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment (one IPv4, and one IPv6
    /// with --ipv6).
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 Gateway for the master subnet.
    #[arg(long)]
    gateway: Option<String>,
    /// Enable IPv6 networking (dual stack).
    #[arg(long)]
    ipv6: bool,
    /// Allocate container ip from a sub-range (one IPv4, one IPv6 for the IPv6 subnet).
    #[arg(long)]
    ip_range: Vec<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network.
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options (com.docker.network.bridge.name, com.docker.network.driver.mtu).
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Upstream DNS servers of the network's name responder (IP or IP:PORT; default: the host's).
    #[arg(long)]
    dns: Vec<String>,
    /// Network name.
    name: String,
}

/// `network connect` flags.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// IPv4 address.
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address.
    #[arg(long)]
    ip6: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long)]
    alias: Vec<String>,
    /// Network.
    network: String,
    /// Container.
    container: String,
}

/// `network disconnect` flags.
#[derive(Debug, clap::Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    force: bool,
    /// Network.
    network: String,
    /// Container.
    container: String,
}

/// `network ls` flags.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only display network IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output.
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template ("table", "json" or a Go template).
    #[arg(long, default_value = "table")]
    format: String,
}

/// `network inspect` flags.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Format output using a custom template ("json" or a Go template).
    #[arg(short, long)]
    format: Option<String>,
    /// Networks.
    #[arg(required = true)]
    networks: Vec<String>,
}

/// `network rm` flags.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Networks.
    #[arg(required = true)]
    networks: Vec<String>,
}

/// `network prune` flags.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

/// Runs one `network` verb.
pub fn run(cmd: NetworkCommand, eng: &Engine) -> anyhow::Result<i32> {
    match cmd {
        NetworkCommand::Create(a) => create(a, eng),
        NetworkCommand::Connect(a) => {
            let req = berth_engine::connect::ConnectRequest {
                ip: a.ip,
                ip6: a.ip6,
                aliases: a.alias,
            };
            berth_engine::connect::connect(eng, &a.network, &a.container, &req)?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            berth_engine::connect::disconnect(eng, &a.network, &a.container, a.force)?;
            Ok(0)
        }
        NetworkCommand::Ls(a) => ls(a, eng),
        NetworkCommand::Inspect(a) => inspect(a, eng),
        NetworkCommand::Rm(a) => rm(a, eng),
        NetworkCommand::Prune(a) => prune(a, eng),
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
    if a.driver != "bridge" {
        return Err(anyhow!(
            "invalid --driver `{}`: only bridge is available",
            a.driver
        ));
    }
    let (v6, v4): (Vec<String>, Vec<String>) = a.subnet.into_iter().partition(|s| s.contains(':'));
    let one = |mut v: Vec<String>, family: &str| match v.len() {
        0 | 1 => Ok(v.pop()),
        _ => Err(anyhow!(
            "invalid --subnet `{}`: one {family} subnet per network",
            v[1]
        )),
    };
    let (r6, r4): (Vec<String>, Vec<String>) =
        a.ip_range.into_iter().partition(|s| s.contains(':'));
    let one_range = |mut v: Vec<String>, family: &str| match v.len() {
        0 | 1 => Ok(v.pop()),
        _ => Err(anyhow!(
            "invalid --ip-range `{}`: one {family} range per network",
            v[1]
        )),
    };
    let req = berth_network::CreateRequest {
        name: a.name,
        subnet: one(v4, "IPv4")?,
        subnet6: one(v6, "IPv6")?,
        ip_range6: one_range(r6, "IPv6")?,
        ipv6: a.ipv6,
        gateway: a.gateway,
        ip_range: one_range(r4, "IPv4")?,
        internal: a.internal,
        labels: key_values("--label", &a.label)?,
        options: key_values("--opt", &a.opt)?,
        dns: a.dns,
    };
    let net = eng.networks()?.create(&req)?;
    println!("{}", net.id);
    Ok(0)
}

fn ls(a: LsArgs, eng: &Engine) -> anyhow::Result<i32> {
    let nets = eng.networks()?.list()?;
    let id = |s: &str| {
        if a.no_trunc {
            s.to_string()
        } else {
            s[..12.min(s.len())].to_string()
        }
    };
    if a.quiet {
        nets.iter().for_each(|n| println!("{}", id(&n.id)));
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = nets
        .iter()
        .map(|n| {
            let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            serde_json::json!({"ID": id(&n.id), "Name": n.name, "Driver": n.driver,
                "Scope": n.scope, "IPv6": n.enable_ipv6, "Internal": n.internal,
                "Labels": labels.join(","), "CreatedAt": n.created})
        })
        .collect();
    let format = match a.format.as_str() {
        "table" => "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        "json" => "{{json .}}",
        f => f,
    };
    let t = crate::template::Template::parse(format)?;
    let header = |f: &str| match f {
        "ID" => "NETWORK ID".to_string(),
        "CreatedAt" => "CREATED AT".to_string(),
        other => other.to_uppercase(),
    };
    print!("{}", t.render_all(&rows, header)?);
    Ok(0)
}

fn inspect(a: InspectArgs, eng: &Engine) -> anyhow::Result<i32> {
    let mut docs = Vec::new();
    let mut code = 0;
    for n in &a.networks {
        match berth_engine::network::inspect(eng, n) {
            Ok(v) => docs.push(v),
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
    Ok(super::each::each(&a.networks, |n| {
        berth_engine::network::remove(eng, n)
    }))
}

fn prune(a: PruneArgs, eng: &Engine) -> anyhow::Result<i32> {
    if !a.force
        && !crate::prompt::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(0);
    }
    let names = berth_engine::network::prune(eng)?;
    if !names.is_empty() {
        println!("Deleted Networks:");
        names.iter().for_each(|n| println!("{n}"));
    }
    Ok(0)
}
