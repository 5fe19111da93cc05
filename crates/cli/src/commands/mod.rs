//! One file per verb.

mod check;
mod df;
mod history;
mod images;
mod import;
mod inspect;
mod load;
mod login;
mod logout;
mod prune;
mod pull;
mod push;
mod rmi;
mod rootfs;
mod save;
mod tag;

use std::path::Path;

use berth_image::store::Store;
use clap::Subcommand;

/// The verbs (images so far; containers, networks and volumes come with the engine).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a flat rootfs tarball (file or `-` for stdin) as an image.
    Import(import::Args),
    /// List images.
    Images(images::Args),
    /// Give an image another name.
    Tag(tag::Args),
    /// Remove images.
    Rmi(rmi::Args),
    /// Show low-level information on images.
    Inspect(inspect::Args),
    /// Show the history of an image.
    History(history::Args),
    /// Save images to a tar archive (docker-archive or OCI layout).
    Save(save::Args),
    /// Load images from a tar archive (docker-archive or OCI layout).
    Load(load::Args),
    /// Download an image from a registry.
    Pull(pull::Args),
    /// Upload an image to a registry.
    Push(push::Args),
    /// Log in to a registry (credentials are stored for pull and push).
    Login(login::Args),
    /// Log out from a registry.
    Logout(logout::Args),
    /// Manage images (`image ls`, `image rm`, `image inspect`, ...).
    #[command(subcommand)]
    Image(ImageCommand),
    /// An overlay snapshot of an image (for benches until the engine's `create`).
    #[command(hide = true)]
    Rootfs(rootfs::Args),
    /// berth itself (`system df`, `system check`).
    #[command(subcommand)]
    System(SystemCommand),
}

/// `berth system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage.
    Df(df::Args),
    /// Check the store for inconsistencies (and with --repair, fix them).
    Check(check::Args),
}

/// `berth image ...`, Docker's management-command spellings.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(images::Args),
    /// Remove images.
    #[command(alias = "remove")]
    Rm(rmi::Args),
    /// Show low-level information on images.
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
    /// Remove unused images (dangling ones, or with -a all of them).
    Prune(prune::Args),
}

/// Run one verb; the result is the process exit code.
pub fn run(cmd: Command, root: &Path) -> anyhow::Result<i32> {
    let cmd = match cmd {
        Command::Login(a) => return login::run(a),
        Command::Logout(a) => return logout::run(a),
        cmd => cmd,
    };
    let store = Store::open(root)?;
    match cmd {
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => import::run(a, &store),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(a, &store),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::run(a, &store),
        Command::Login(_) | Command::Logout(_) => unreachable!("handled above"),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::run(a, &store),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => tag::run(a, &store),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => rmi::run(a, &store),
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => inspect::run(a, &store),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => history::run(a, &store),
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => save::run(a, &store),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => load::run(a, &store),
        Command::Image(ImageCommand::Prune(a)) => prune::run(a, &store),
        Command::Rootfs(a) => rootfs::run(a, &store),
        Command::System(SystemCommand::Df(a)) => df::run(a, &store),
        Command::System(SystemCommand::Check(a)) => check::run(a, &store),
    }
}
