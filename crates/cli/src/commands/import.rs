//! `berth import`.

use std::path::PathBuf;
use std::str::FromStr;

use berth_image::image::{import, ImportOptions};
use berth_image::reference::Reference;
use berth_image::store::Store;

/// `import` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, ...).
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Commit message for the history.
    #[arg(short, long)]
    message: Option<String>,
    /// The tarball (plain, gzip or zstd), or `-` for stdin.
    file: PathBuf,
    /// Name for the image, `repository[:tag]`.
    reference: Option<String>,
}

/// Import and print the new image id.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let reference = a
        .reference
        .as_deref()
        .map(Reference::from_str)
        .transpose()?;
    let opts = ImportOptions {
        reference,
        changes: a.change,
        message: a.message,
    };
    let image = if a.file.as_os_str() == "-" {
        import(store, std::io::stdin().lock(), &opts)?
    } else {
        let f = std::fs::File::open(&a.file)
            .map_err(|e| anyhow::anyhow!("open `{}`: {e}", a.file.display()))?;
        import(store, f, &opts)?
    };
    println!("{}", image.id());
    Ok(0)
}
