//! `berth rmi`.

use berth_image::store::Store;

/// `rmi` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove an image that several names point at.
    #[arg(short, long)]
    force: bool,
    /// Images (names or ids).
    #[arg(required = true)]
    images: Vec<String>,
}

/// Remove each; the exit code is 1 if any failed (the others are still removed).
pub fn run(a: Args, store: &Store) -> anyhow::Result<i32> {
    let mut code = 0;
    for i in &a.images {
        match berth_image::image::remove(store, i, a.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
