//! `berth load`.

use std::io::IsTerminal;
use std::path::PathBuf;

use berth_image::archive::load;
use berth_image::store::Store;

/// `load` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read from this archive file instead of stdin.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output (accepted for Docker compatibility; berth shows no progress).
    #[arg(short, long)]
    quiet: bool,
}

/// Load a docker-archive or OCI layout tar and print what was loaded.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let loaded = match &a.input {
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| anyhow::anyhow!("open `{}`: {e}", path.display()))?;
            load(store, std::io::BufReader::new(f))?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                anyhow::bail!(
                    "requested load from stdin, but stdin is a terminal; use -i or redirect"
                );
            }
            load(store, stdin.lock())?
        }
    };
    for item in loaded {
        match item.starts_with("sha256:") {
            true => println!("Loaded image ID: {item}"),
            false => println!("Loaded image: {item}"),
        }
    }
    Ok(0)
}
