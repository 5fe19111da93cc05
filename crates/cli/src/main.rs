//! berth: Docker's verbs and flags on berth's on-disk store, with no daemon.
//!
//! Each verb is one file under commands/ that parses its flags and calls the library.
//! Errors are printed once, here.

mod commands;
mod format;
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
    /// The verb.
    #[command(subcommand)]
    pub command: commands::Command,
}

fn main() {
    berth_sys::process::default_sigpipe();
    let cli = Cli::parse();
    match commands::run(cli.command, &cli.root) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth: {e}");
            std::process::exit(1);
        }
    }
}
