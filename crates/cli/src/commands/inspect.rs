//! `berth inspect` (containers, then images, as Docker looks them up),
//! `berth container inspect` and `berth image inspect`.

use berth_engine::Engine;

/// `inspect` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print each document through this Go template instead (`{{.Id}}`, `{{json .Config}}`).
    #[arg(short, long)]
    format: Option<String>,
    /// Only look up this kind of object (container or image).
    #[arg(long = "type")]
    kind: Option<String>,
    /// Display total file sizes (accepted for Docker compatibility).
    #[arg(short, long)]
    size: bool,
    /// Names or ids.
    #[arg(required = true)]
    names: Vec<String>,
}

/// What to look a name up as.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    /// Containers, then images.
    Any,
    /// Containers only.
    Container,
    /// Images only.
    Image,
}

fn image_doc(eng: &Engine, name: &str) -> anyhow::Result<serde_json::Value> {
    let store = &eng.images;
    let image = berth_image::image::resolve(store, name)?;
    let all = berth_image::image::list(store)?;
    let names = all
        .iter()
        .find(|(i, _)| i.manifest_digest == image.manifest_digest)
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    Ok(berth_image::image::inspect(&image, &names, &eng.snaps))
}

/// Print a JSON array of Docker's documents (or each through `--format`).
pub fn run(a: Args, eng: &Engine, kind: Kind) -> anyhow::Result<i32> {
    let kind = match a.kind.as_deref() {
        None => kind,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some(t) => anyhow::bail!("invalid --type `{t}`: expected container or image"),
    };
    let mut docs = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let doc = match kind {
            Kind::Image => image_doc(eng, n),
            Kind::Container => berth_engine::inspect::inspect(eng, n).map_err(Into::into),
            Kind::Any => berth_engine::inspect::inspect(eng, n)
                .map_err(anyhow::Error::from)
                .or_else(|_| image_doc(eng, n))
                .map_err(|_| anyhow::anyhow!("No such object: {n}")),
        };
        match doc {
            Ok(d) => docs.push(d),
            Err(e) => {
                eprintln!("berth: Error: {e}");
                failed = true;
            }
        }
    }
    if let Some(f) = &a.format {
        let t = crate::template::Template::parse(f)?;
        for d in &docs {
            println!("{}", t.render(d)?);
        }
    } else {
        println!("{}", serde_json::to_string_pretty(&docs)?);
    }
    Ok(i32::from(failed))
}
