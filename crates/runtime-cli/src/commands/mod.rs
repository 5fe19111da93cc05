//! One file per verb; each parses its flags and calls one library function.

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

use berth_runtime::state::Root;
use clap::Subcommand;

use crate::logging::Log;

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(create::Args),
    /// Start a created container's process.
    Start(start::Args),
    /// Create and start a container.
    Run(run::Args),
    /// Print a container's OCI state as JSON.
    State(state::Args),
    /// List containers.
    #[command(alias = "ls")]
    List(list::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Delete a container and everything it owns.
    Delete(delete::Args),
    /// Run a new process inside a container.
    Exec(exec::Args),
    /// List a container's processes.
    Ps(ps::Args),
    /// Freeze every process of a container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(pause::Args),
    /// Change a container's resource limits.
    Update(update::Args),
    /// Stream a container's events (stats, oom).
    Events(events::Args),
    /// Print the features this runtime supports (OCI features JSON).
    Features(features::Args),
    /// Write a default config.json.
    Spec(spec::Args),
}

/// Run one verb; the result is the process exit code.
pub fn run(cmd: Command, root: &Root, log: &Log) -> anyhow::Result<i32> {
    log.debug(&format!("{cmd:?}"));
    match cmd {
        Command::Create(a) => create::run(a, root),
        Command::Start(a) => start::run(a, root),
        Command::Run(a) => run::run(a, root),
        Command::State(a) => state::run(a, root),
        Command::List(a) => list::run(a, root),
        Command::Kill(a) => kill::run(a, root),
        Command::Delete(a) => delete::run(a, root),
        Command::Exec(a) => exec::run(a, root),
        Command::Ps(a) => ps::run(a, root),
        Command::Pause(a) => pause::run(a, root, true),
        Command::Resume(a) => pause::run(a, root, false),
        Command::Update(a) => update::run(a, root),
        Command::Events(a) => events::run(a, root),
        Command::Features(a) => features::run(a),
        Command::Spec(a) => spec::run(a),
    }
}
