//! `berth save`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::str::FromStr;

use berth_image::archive::{save, Format};
use berth_image::image::{resolve, Image};
use berth_image::reference::Reference;
use berth_image::store::Store;

/// Archive formats `--format` accepts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ArchiveFormat {
    /// `docker save`'s format (what `docker load` reads).
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
}

/// `save` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "docker-archive")]
    format: ArchiveFormat,
    /// Images to save, by name or id.
    #[arg(required = true)]
    images: Vec<String>,
}

/// Save the images to the file or stdout.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let mut images: Vec<(Image, Vec<String>)> = Vec::new();
    for arg in &a.images {
        let image = resolve(store, arg)?;
        // A name records itself; an id records no name, as `docker save <id>`.
        let name = Reference::from_str(arg)
            .ok()
            .map(|r| r.to_string())
            .filter(|n| store.tag(n).ok().flatten().as_deref() == Some(&image.manifest_digest));
        match images
            .iter_mut()
            .find(|(i, _)| i.manifest_digest == image.manifest_digest)
        {
            Some((_, names)) => names.extend(name),
            None => images.push((image, name.into_iter().collect())),
        }
    }
    let format = match a.format {
        ArchiveFormat::DockerArchive => Format::DockerArchive,
        ArchiveFormat::OciArchive => Format::OciArchive,
    };
    match &a.output {
        Some(path) => {
            // Written next to the destination and renamed, so a failed save leaves no file.
            let mut tmp = path.clone().into_os_string();
            tmp.push(format!(".berth-tmp-{}", std::process::id()));
            let tmp = PathBuf::from(tmp);
            let result = write_file(store, &images, format, &tmp)
                .and_then(|()| Ok(std::fs::rename(&tmp, path)?));
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                anyhow::bail!("save to `{}`: {e}", path.display());
            }
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!("refusing to write to a terminal, use -o FILE or redirect stdout");
            }
            save(
                store,
                &images,
                format,
                std::io::BufWriter::new(stdout.lock()),
            )?;
        }
    }
    Ok(0)
}

/// The archive into a new file at `path`, flushed and synced.
fn write_file(
    store: &Store,
    images: &[(Image, Vec<String>)],
    format: Format,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    save(store, images, format, std::io::BufWriter::new(&file))?;
    file.sync_all()?;
    Ok(())
}
