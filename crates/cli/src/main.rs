//! berth: Docker's verbs and flags on berth's on-disk store, with no daemon.
//!
//! Each verb is one file under commands/ that parses its flags and calls the library.
//! Errors are printed once, here.

mod commands;
mod format;
mod prompt;
mod template;

use std::path::PathBuf;

use clap::Parser;

/// Global flags.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "berth: containers and images, daemonless"
)]
pub struct Cli {
    /// Where images, layers and containers live.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub root: PathBuf,
    /// Where runtime state and sockets live (lost at reboot by design).
    #[arg(long, global = true, env = "BERTH_STATE", default_value = "/run/berth")]
    pub state: PathBuf,
    /// The OCI runtime new containers get unless `--runtime` says otherwise: `berth` (built
    /// in) or the path of a runc-compatible binary.
    #[arg(
        long = "default-runtime",
        global = true,
        env = "BERTH_RUNTIME",
        default_value = "berth"
    )]
    pub default_runtime: String,
    /// The cgroup under which containers' cgroups are made.
    #[arg(
        long = "default-cgroup-parent",
        global = true,
        env = "BERTH_CGROUP_PARENT",
        default_value = "/berth",
        hide = true
    )]
    pub default_cgroup_parent: String,
    /// The pids limit of containers created without `--pids-limit` (0 or -1: none;
    /// default 4096, see `berth info`).
    #[arg(
        long = "default-pids-limit",
        global = true,
        env = "BERTH_DEFAULT_PIDS_LIMIT",
        allow_hyphen_values = true
    )]
    pub default_pids_limit: Option<String>,
    /// The ulimits of containers created without a `--ulimit` of the same name
    /// (name=soft[:hard], repeated or comma-separated; `none` for none; default
    /// nofile=1024:524288, see `berth info`).
    #[arg(
        long = "default-ulimit",
        global = true,
        env = "BERTH_DEFAULT_ULIMITS",
        value_delimiter = ','
    )]
    pub default_ulimit: Vec<String>,
    /// The verb.
    #[command(subcommand)]
    pub command: commands::Command,
}

/// Runs the rest from a read-only view of this binary, so no container can reach it for
/// writing (CVE-2019-5736; see berth_runtime::seal). Re-executes this process: returns
/// only when already done, or, after an error, to go on as before with a warning.
fn read_only_self() {
    if let Err(e) = berth_runtime::seal::ensure_read_only() {
        eprintln!("berth: warning: cannot run from a read-only copy of this binary: {e}");
    }
}

fn main() {
    berth_sys::process::default_sigpipe();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(berth_engine::monitor::ARG) {
        read_only_self();
        std::process::exit(berth_engine::monitor::main(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some(berth_engine::monitor::handoff::HEALTH_ARG) {
        // A health check enters the container: the same guard as `exec`.
        read_only_self();
        std::process::exit(berth_engine::monitor::health_main(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some(berth_network::dns::ARG) {
        std::process::exit(berth_network::dns::main(&args[2..]));
    }
    let cli = Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    if cli.command.enters_containers() {
        read_only_self();
    }
    let g = commands::Globals {
        root: cli.root,
        state: cli.state,
        runtime: cli.default_runtime,
        cgroup_parent: cli.default_cgroup_parent,
        default_pids_limit: cli.default_pids_limit,
        default_ulimits: cli.default_ulimit,
    };
    match commands::run(cli.command, &g) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth: {e}");
            std::process::exit(1);
        }
    }
}

/// Help and version print as clap makes them; a usage error is one line naming the flag
/// and the value, as Docker's `unknown flag: --foo`, and Docker's exit code for it, 125.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ErrorKind};
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let line = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(arg)) => format!("unknown flag: {arg}"),
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_string()
        }
    };
    eprintln!("berth: {line}");
    std::process::exit(125)
}
