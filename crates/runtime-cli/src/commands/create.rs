//! `create`.

use std::path::PathBuf;

use berth_runtime::container::create::{create, CreateOpts};
use berth_runtime::state::Root;

/// Flags shared by `create` and `run`.
#[derive(Debug, clap::Args)]
pub struct CreateFlags {
    /// Bundle directory (default: the current directory).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's init pid to this file.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (with process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a session keyring for the container.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (from 3) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateFlags {
    /// Re-exec from a sealed copy first if the container may reach our binary.
    pub fn seal_if_needed(&self) -> anyhow::Result<()> {
        let Ok(text) = std::fs::read(self.bundle.join("config.json")) else {
            return Ok(());
        };
        let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&text) else {
            return Ok(());
        };
        Ok(berth_runtime::seal::ensure_for(
            &berth_runtime::seal::process_caps(&spec["process"]),
        )?)
    }

    /// Library options for container `id`.
    pub fn opts(&self, id: String) -> CreateOpts {
        CreateOpts {
            id,
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            console_fd: None,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

/// `create` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    flags: CreateFlags,
    /// Container id.
    id: String,
}

/// Create the container.
pub fn run(a: Args, root: &Root) -> anyhow::Result<i32> {
    a.flags.seal_if_needed()?;
    create(root, &a.flags.opts(a.id))?;
    Ok(0)
}
