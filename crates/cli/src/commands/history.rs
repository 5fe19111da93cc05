//! `berth history`.

use berth_image::store::Store;

use crate::format;

/// `history` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Don't truncate.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only ids.
    #[arg(short, long)]
    quiet: bool,
    /// The image.
    image: String,
}

/// Print the history.
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let image = berth_image::image::resolve(store, &a.image)?;
    let rows = berth_image::image::history(&image);
    let id = |s: &str| {
        if a.no_trunc || s == "<missing>" {
            s.to_string()
        } else {
            berth_image::image::short(s)
        }
    };
    if a.quiet {
        rows.iter().for_each(|r| println!("{}", id(&r.id)));
        return Ok(0);
    }
    println!(
        "{:<12}  {:<20}  {:<45}  {:<8}  COMMENT",
        "IMAGE", "CREATED", "CREATED BY", "SIZE"
    );
    for r in &rows {
        let by: String = if a.no_trunc {
            r.created_by.clone()
        } else {
            r.created_by.chars().take(45).collect()
        };
        println!(
            "{:<12}  {:<20}  {:<45}  {:<8}  {}",
            id(&r.id),
            format::ago(&r.created),
            by,
            format::size(r.size),
            r.comment
        );
    }
    Ok(0)
}
