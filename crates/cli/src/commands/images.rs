//! `berth images`.

use berth_image::reference::Reference;
use berth_image::store::Store;

use crate::format;

/// `images` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Full ids.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Show intermediate images too (accepted; berth keeps none).
    #[arg(short, long)]
    all: bool,
    /// `table`, `json` (one object per line), or a Go template (`{{.Repository}}:{{.Tag}}`,
    /// `table {{.ID}}\t{{.Size}}`).
    #[arg(long, default_value = "table")]
    format: String,
    /// Only images of this repository (`busybox`, `localhost:5000/x`).
    repository: Option<String>,
}

/// One row.
struct Row {
    repository: String,
    tag: String,
    digest: String,
    id: String,
    created: String,
    size: u64,
}

/// Print the images.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let _ = a.all;
    let mut rows = Vec::new();
    for (image, names) in berth_image::image::list(store)? {
        let created = image.config.created().clone().unwrap_or_default();
        let id = if a.no_trunc {
            image.id()
        } else {
            image.short_id()
        };
        for n in &names {
            let (repository, tag) = match n.parse::<Reference>() {
                Ok(r) => {
                    let fam = r.familiar();
                    let repo = fam.split_once('@').map(|(r, _)| r).unwrap_or(&fam);
                    let repo = repo
                        .rsplit_once(':')
                        .filter(|(_, t)| !t.contains('/'))
                        .map(|(r, _)| r)
                        .unwrap_or(repo);
                    (repo.to_string(), r.tag().unwrap_or("<none>").to_string())
                }
                Err(_) => ("<none>".into(), "<none>".into()),
            };
            rows.push(Row {
                repository,
                tag,
                digest: image.manifest_digest.clone(),
                id: id.clone(),
                created: created.clone(),
                size: image.size(),
            });
        }
    }
    if let Some(repo) = &a.repository {
        let want = repo
            .parse::<Reference>()
            .map(|r| r.familiar())
            .unwrap_or(repo.clone());
        let want = want
            .rsplit_once(':')
            .map(|(r, _)| r.to_string())
            .unwrap_or(want);
        rows.retain(|r| r.repository == want || &r.repository == repo);
    }
    print(&a, &rows)
}

fn print(a: &Args, rows: &[Row]) -> anyhow::Result<i32> {
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in rows.iter().filter(|r| seen.insert(r.id.clone())) {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    let docs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({"Repository": r.repository, "Tag": r.tag, "Digest": r.digest, "ID": r.id,
            "CreatedAt": r.created, "CreatedSince": format::ago(&r.created), "Size": format::size(r.size)}))
        .collect();
    if a.format == "json" {
        docs.iter().for_each(|v| println!("{v}"));
        return Ok(0);
    }
    if a.format != "table" {
        let t = crate::template::Template::parse(&a.format)?;
        let header = |f: &str| match f {
            "ID" => "IMAGE ID".to_string(),
            "CreatedSince" => "CREATED".to_string(),
            "CreatedAt" => "CREATED AT".to_string(),
            other => other.to_uppercase(),
        };
        print!("{}", t.render_all(&docs, header)?);
        return Ok(0);
    }
    let digest_col = if a.digests {
        format!("{:<72}  ", "DIGEST")
    } else {
        String::new()
    };
    println!(
        "{:<40}  {:<10}  {digest_col}{:<12}  {:<20}  SIZE",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
    );
    for r in rows {
        let d = if a.digests {
            format!("{:<72}  ", r.digest)
        } else {
            String::new()
        };
        println!(
            "{:<40}  {:<10}  {d}{:<12}  {:<20}  {}",
            r.repository,
            r.tag,
            r.id,
            format::ago(&r.created),
            format::size(r.size)
        );
    }
    Ok(0)
}
