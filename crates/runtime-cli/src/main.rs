//! berth-runtime: an OCI runtime with runc's command line.
//!
//! Each verb is one file under commands/ that parses its flags and calls one function of the
//! `berth_runtime` library. Errors are printed once, here, as one line.

mod commands;
mod logging;

/// `println!` for the verbs' output. A reader that went away (`berth-runtime list | head
/// -1`) ends the runtime quietly with 141, as SIGPIPE would; SIGPIPE itself stays ignored
/// so that the runtime's own pipes to its children report EPIPE instead of killing it.
macro_rules! outln {
    ($($t:tt)*) => { $crate::out(format_args!($($t)*)) };
}
pub(crate) use outln;

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

/// Writes one line of output; see [`outln`].
pub(crate) fn out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|()| o.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("berth-runtime: write stdout: {e}");
        std::process::exit(1);
    }
}
