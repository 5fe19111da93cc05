//! `berth rmi`.

use berth_engine::Engine;

/// `rmi` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Force removal of the image (one several names point at, or one a stopped container
    /// uses).
    #[arg(short, long)]
    force: bool,
    /// Images (names or ids).
    #[arg(required = true)]
    images: Vec<String>,
}

/// Remove each; the exit code is 1 if any failed (the others are still removed).
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let mut code = 0;
    for i in &a.images {
        match berth_engine::images::remove(eng, i, a.force) {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
