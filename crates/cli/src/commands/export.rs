//! `berth export`.

use std::io::Write;
use std::path::PathBuf;

use berth_engine::{cp, Engine};

/// `export` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The container.
    container: String,
}

/// Streams the container's filesystem as a flat tar.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    match &a.output {
        Some(path) => {
            // A temp file renamed into place: a failed export leaves no half tar behind.
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
            let f = std::fs::File::create(&tmp)
                .map_err(|e| anyhow::anyhow!("create `{}`: {e}", tmp.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let done = cp::export(eng, &a.container, &mut w)
                .map_err(anyhow::Error::from)
                .and_then(|_| Ok(w.flush()?));
            if let Err(e) = done.and_then(|()| Ok(std::fs::rename(&tmp, path)?)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                anyhow::bail!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                );
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            cp::export(eng, &a.container, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}
