//! berth-runtime: an OCI runtime with runc's command line.
//!
//! Each verb is one file under commands/ that parses its flags and calls one function of the
//! `berth_runtime` library. Errors are printed once, here, as one line.

mod commands;
mod logging;

use std::path::PathBuf;

use clap::Parser;

/// Global flags, as runc spells them.
#[derive(Debug, Parser)]
#[command(
    name = "berth-runtime",
    version,
    about = "berth's OCI runtime (runc-compatible command line)"
)]
pub struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = berth_runtime::state::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Write errors (and debug output) to this file instead of stderr.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Debug output.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroups.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility; checkpointing is not supported.
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// The verb.
    #[command(subcommand)]
    pub command: commands::Command,
}

fn main() {
    let cli = Cli::parse();
    let log = logging::Log::new(cli.log.clone(), &cli.log_format, cli.debug);
    if cli.systemd_cgroup {
        log.error("--systemd-cgroup: the systemd cgroup driver is not available in this build; use cgroupfs (omit the flag)");
        std::process::exit(1);
    }
    let root = berth_runtime::state::Root::new(&cli.root);
    match commands::run(cli.command, &root, &log) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            log.error(&format!("{e}"));
            std::process::exit(1);
        }
    }
}
