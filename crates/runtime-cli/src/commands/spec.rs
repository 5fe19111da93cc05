//! `spec`: write a default config.json (runc's default, or a rootless one).

use std::path::PathBuf;

use berth_runtime::oci_spec::runtime::{Linux, Spec};

/// `spec` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// A spec for an unprivileged user (user namespace mapping our ids).
    #[arg(long)]
    rootless: bool,
}

/// Write the file; refuses to overwrite one that exists, as runc does.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("spec: `{}` already exists; remove it first", path.display());
    }
    let mut spec = Spec::default();
    spec.set_hostname(Some("berth".into()));
    if a.rootless {
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        spec.set_linux(Some(Linux::rootless(uid, gid)));
    }
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| anyhow::anyhow!("write `{}`: {e}", path.display()))?;
    Ok(0)
}
