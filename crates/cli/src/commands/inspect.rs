//! `berth inspect` / `berth image inspect` (images).

use berth_image::snapshot::{Snapshotter, STORE_DIR};
use berth_image::store::Store;

/// `inspect` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print each document through this Go template instead (`{{.Id}}`, `{{json .Config}}`).
    #[arg(short, long)]
    format: Option<String>,
    /// Images (names or ids).
    #[arg(required = true)]
    names: Vec<String>,
}

/// Print a JSON array of Docker's image documents.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let all = berth_image::image::list(store)?;
    let snaps = Snapshotter::open(store.root().join(STORE_DIR))?;
    let mut docs = Vec::new();
    for n in &a.names {
        let image = berth_image::image::resolve(store, n)?;
        let names = all
            .iter()
            .find(|(i, _)| i.manifest_digest == image.manifest_digest)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        docs.push(berth_image::image::inspect(&image, &names, &snaps));
    }
    if let Some(f) = &a.format {
        let t = crate::template::Template::parse(f)?;
        for d in &docs {
            println!("{}", t.render(d)?);
        }
        return Ok(0);
    }
    println!("{}", serde_json::to_string_pretty(&docs)?);
    Ok(0)
}
