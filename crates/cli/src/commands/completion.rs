//! `berth completion bash|zsh|fish`: a shell completion script on stdout.

/// `completion` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Writes the script for `shell` for the command line `cmd` describes.
pub fn run(a: Args, cmd: &mut clap::Command) -> anyhow::Result<i32> {
    clap_complete::generate(a.shell, cmd, "berth", &mut std::io::stdout());
    Ok(0)
}
