//! One file per verb.

mod attach;
mod check;
mod create;
mod df;
mod each;
mod exec;
mod history;
mod images;
mod import;
mod inspect;
mod kill;
mod load;
mod login;
mod logout;
mod logs;
mod pause;
mod prune;
mod ps;
mod pull;
mod push;
mod rename;
mod rm;
mod rmi;
mod rootfs;
mod run;
mod save;
mod start;
mod stop;
mod tag;
mod wait;

// What a container runs, uses and holds: top, stats, cp, commit, export, diff, update, port.
mod commit;
mod cp;
mod diff;
mod export;
mod port;
mod stats;
mod top;
mod update;
// Management verbs: volumes, prune, info, version, completion.
mod completion;
mod container_prune;
mod info;
mod network;
mod system_prune;
mod version;
mod volume;

use berth_engine::{Engine, Options};
use berth_image::store::Store;
use clap::Subcommand;
pub use network::NetworkCommand;
pub use volume::VolumeCommand;

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image.
    Run(run::Args),
    /// Create a new container.
    Create(create::Args),
    /// Start one or more stopped containers.
    Start(start::Args),
    /// Stop one or more running containers.
    Stop(stop::Args),
    /// Restart one or more containers.
    Restart(stop::Args),
    /// Kill one or more running containers.
    Kill(kill::Args),
    /// Remove one or more containers.
    Rm(rm::Args),
    /// List containers.
    Ps(ps::Args),
    /// Execute a command in a running container.
    Exec(exec::Args),
    /// Fetch the logs of a container.
    Logs(logs::Args),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(wait::Args),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(attach::Args),
    /// Pause all processes within one or more containers.
    Pause(pause::Args),
    /// Unpause all processes within one or more containers.
    Unpause(pause::Args),
    /// Rename a container.
    Rename(rename::Args),
    // What a container runs, uses and holds.
    /// Display the running processes of a container.
    Top(top::Args),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::Args),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::Args),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Export a container's filesystem as a tar archive.
    Export(export::Args),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::Args),
    /// Update configuration of one or more containers.
    Update(update::Args),
    /// List port mappings or a specific mapping for the container.
    Port(port::Args),
    /// Manage containers (`container ls`, `container rm`, ...).
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Import the contents from a tarball (file or `-` for stdin) to create a filesystem image.
    Import(import::Args),
    /// List images.
    Images(images::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(tag::Args),
    /// Remove one or more images.
    Rmi(rmi::Args),
    /// Return low-level information on containers and images.
    Inspect(inspect::Args),
    /// Show the history of an image.
    History(history::Args),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(save::Args),
    /// Load an image from a tar archive or STDIN (docker-archive or OCI layout).
    Load(load::Args),
    /// Download an image from a registry.
    Pull(pull::Args),
    /// Upload an image to a registry.
    Push(push::Args),
    /// Log in to a registry (credentials are stored for pull and push).
    Login(login::Args),
    /// Log out from a registry.
    Logout(logout::Args),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// An overlay snapshot of an image (for benches until the engine's `create`).
    #[command(hide = true)]
    Rootfs(rootfs::Args),
    /// Manage berth (disk usage, prune, info, store check).
    #[command(subcommand)]
    System(SystemCommand),
    // Management verbs.
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Display system-wide information.
    Info(info::Args),
    /// Show the berth version information.
    Version(version::Args),
    /// Generate the autocompletion script for the specified shell.
    Completion(completion::Args),
}

/// `berth container ...`, Docker's management-command spellings.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image.
    Run(run::Args),
    /// Create a new container.
    Create(create::Args),
    /// Start one or more stopped containers.
    Start(start::Args),
    /// Stop one or more running containers.
    Stop(stop::Args),
    /// Restart one or more containers.
    Restart(stop::Args),
    /// Kill one or more running containers.
    Kill(kill::Args),
    /// Remove one or more containers.
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// List containers.
    #[command(alias = "list", alias = "ps")]
    Ls(ps::Args),
    /// Execute a command in a running container.
    Exec(exec::Args),
    /// Fetch the logs of a container.
    Logs(logs::Args),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(wait::Args),
    /// Attach to a running container.
    Attach(attach::Args),
    /// Pause all processes within one or more containers.
    Pause(pause::Args),
    /// Unpause all processes within one or more containers.
    Unpause(pause::Args),
    /// Rename a container.
    Rename(rename::Args),
    /// Display detailed information on one or more containers.
    Inspect(inspect::Args),
    // What a container runs, uses and holds.
    /// Display the running processes of a container.
    Top(top::Args),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::Args),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::Args),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Export a container's filesystem as a tar archive.
    Export(export::Args),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::Args),
    /// Update configuration of one or more containers.
    Update(update::Args),
    /// List port mappings or a specific mapping for the container.
    Port(port::Args),
    /// Remove all stopped containers.
    Prune(container_prune::Args),
}

impl Command {
    /// Verbs that send processes into containers from this process (the runtime runs in
    /// process): they must run from a read-only view of our binary. Monitors, which start
    /// containers, are spawned through such a view (engine::lifecycle::monitor_exe).
    pub fn enters_containers(&self) -> bool {
        matches!(
            self,
            Command::Exec(_) | Command::Container(ContainerCommand::Exec(_))
        )
    }
}

/// `berth system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show berth disk usage.
    Df(df::Args),
    /// Check the store for inconsistencies (and with --repair, fix them).
    Check(check::Args),
    /// Remove unused data.
    Prune(system_prune::Args),
    /// Display system-wide information.
    Info(info::Args),
}

/// `berth image ...`, Docker's management-command spellings.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(images::Args),
    /// Remove one or more images.
    #[command(alias = "remove")]
    Rm(rmi::Args),
    /// Display detailed information on one or more images.
    Inspect(inspect::Args),
    /// Show the history of an image.
    History(history::Args),
    /// Give an image another name.
    Tag(tag::Args),
    /// Import a flat rootfs tarball.
    Import(import::Args),
    /// Download an image from a registry.
    Pull(pull::Args),
    /// Upload an image to a registry.
    Push(push::Args),
    /// Save images to a tar archive (docker-archive or OCI layout).
    Save(save::Args),
    /// Load images from a tar archive (docker-archive or OCI layout).
    Load(load::Args),
    /// Remove unused images.
    Prune(prune::Args),
}

/// Where the engine keeps things (global flags).
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--root`.
    pub root: std::path::PathBuf,
    /// `--state`.
    pub state: std::path::PathBuf,
    /// `--runtime`.
    pub runtime: String,
    /// `--cgroup-parent`.
    pub cgroup_parent: String,
    /// `--default-pids-limit`, as given (none: berth's default).
    pub default_pids_limit: Option<String>,
    /// `--default-ulimit`, as given (empty: berth's default).
    pub default_ulimits: Vec<String>,
}

/// Run one verb; the result is the process exit code.
pub fn run(cmd: Command, g: &Globals) -> anyhow::Result<i32> {
    let cmd = match cmd {
        Command::Login(a) => return login::run(a),
        Command::Logout(a) => return logout::run(a),
        Command::Container(c) => return container(c, &engine(g)?),
        cmd => cmd,
    };
    // Management verbs.
    let cmd = match cmd {
        Command::Volume(v) => return volume::run(v, &engine(g)?),
        Command::Network(n) => return network::run(n, &engine(g)?),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => {
            return info::run(a, &engine(g)?)
        }
        Command::Version(a) => return version::run(a),
        Command::Completion(a) => {
            return completion::run(a, &mut <crate::Cli as clap::CommandFactory>::command())
        }
        Command::System(SystemCommand::Prune(a)) => return system_prune::run(a, &engine(g)?),
        Command::System(SystemCommand::Df(a)) => return df::run(a, &engine(g)?),
        Command::System(SystemCommand::Check(a)) => return check::run(a, &engine(g)?),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => return rmi::run(a, &engine(g)?),
        Command::Image(ImageCommand::Prune(a)) => return prune::run(a, &engine(g)?),
        cmd => cmd,
    };
    match cmd {
        Command::Run(a) => return run::run(a, &engine(g)?),
        Command::Create(a) => return create::run(a, &engine(g)?),
        Command::Start(a) => return start::run(a, &engine(g)?),
        Command::Stop(a) => return stop::run(a, &engine(g)?),
        Command::Restart(a) => return stop::restart(a, &engine(g)?),
        Command::Kill(a) => return kill::run(a, &engine(g)?),
        Command::Rm(a) => return rm::run(a, &engine(g)?),
        Command::Ps(a) => return ps::run(a, &engine(g)?),
        Command::Exec(a) => return exec::run(a, &engine(g)?),
        Command::Logs(a) => return logs::run(a, &engine(g)?),
        Command::Wait(a) => return wait::run(a, &engine(g)?),
        Command::Attach(a) => return attach::run(a, &engine(g)?),
        Command::Pause(a) => return pause::run(a, &engine(g)?, true),
        Command::Unpause(a) => return pause::run(a, &engine(g)?, false),
        Command::Rename(a) => return rename::run(a, &engine(g)?),
        // What a container runs, uses and holds.
        Command::Top(a) => return top::run(a, &engine(g)?),
        Command::Stats(a) => return stats::run(a, &engine(g)?),
        Command::Cp(a) => return cp::run(a, &engine(g)?),
        Command::Commit(a) => return commit::run(a, &engine(g)?),
        Command::Export(a) => return export::run(a, &engine(g)?),
        Command::Diff(a) => return diff::run(a, &engine(g)?),
        Command::Update(a) => return update::run(a, &engine(g)?),
        Command::Port(a) => return port::run(a, &engine(g)?),
        Command::Inspect(a) => return inspect::run(a, &engine(g)?, inspect::Kind::Any),
        Command::Image(ImageCommand::Inspect(a)) => {
            return inspect::run(a, &engine(g)?, inspect::Kind::Image)
        }
        _ => {}
    }
    let store = Store::open(&g.root)?;
    match cmd {
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => import::run(a, &store),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(a, &store),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::run(a, &store),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(a, &store),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::run(a, &store),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => history::run(a, &store),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::run(a, &store),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(a, &store),
        Command::Rootfs(a) => rootfs::run(a, &store),
        _ => unreachable!("container and management verbs are handled above"),
    }
}

fn engine(g: &Globals) -> anyhow::Result<Engine> {
    use berth_engine::limits;
    Ok(Engine::open(Options {
        root: g.root.clone(),
        state_root: g.state.clone(),
        runtime: g.runtime.clone(),
        cgroup_parent: g.cgroup_parent.clone(),
        default_pids_limit: match &g.default_pids_limit {
            Some(p) => limits::parse_pids_limit("--default-pids-limit", p)?,
            None => limits::DEFAULT_PIDS_LIMIT,
        },
        default_ulimits: if g.default_ulimits.is_empty() {
            limits::default_ulimits()
        } else {
            limits::parse_defaults("--default-ulimit", &g.default_ulimits)?
        },
    })?)
}

fn container(c: ContainerCommand, eng: &Engine) -> anyhow::Result<i32> {
    match c {
        ContainerCommand::Run(a) => run::run(a, eng),
        ContainerCommand::Create(a) => create::run(a, eng),
        ContainerCommand::Start(a) => start::run(a, eng),
        ContainerCommand::Stop(a) => stop::run(a, eng),
        ContainerCommand::Restart(a) => stop::restart(a, eng),
        ContainerCommand::Kill(a) => kill::run(a, eng),
        ContainerCommand::Rm(a) => rm::run(a, eng),
        ContainerCommand::Ls(a) => ps::run(a, eng),
        ContainerCommand::Exec(a) => exec::run(a, eng),
        ContainerCommand::Logs(a) => logs::run(a, eng),
        ContainerCommand::Wait(a) => wait::run(a, eng),
        ContainerCommand::Attach(a) => attach::run(a, eng),
        ContainerCommand::Pause(a) => pause::run(a, eng, true),
        ContainerCommand::Unpause(a) => pause::run(a, eng, false),
        ContainerCommand::Rename(a) => rename::run(a, eng),
        ContainerCommand::Inspect(a) => inspect::run(a, eng, inspect::Kind::Container),
        // What a container runs, uses and holds.
        ContainerCommand::Top(a) => top::run(a, eng),
        ContainerCommand::Stats(a) => stats::run(a, eng),
        ContainerCommand::Cp(a) => cp::run(a, eng),
        ContainerCommand::Commit(a) => commit::run(a, eng),
        ContainerCommand::Export(a) => export::run(a, eng),
        ContainerCommand::Diff(a) => diff::run(a, eng),
        ContainerCommand::Update(a) => update::run(a, eng),
        ContainerCommand::Port(a) => port::run(a, eng),
        ContainerCommand::Prune(a) => container_prune::run(a, eng),
    }
}
