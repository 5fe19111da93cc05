//! `berth logout`.

use berth_image::registry::{logout, normalize_registry};

/// `logout` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The registry, `host[:port]`; Docker Hub when left out.
    server: Option<String>,
}

/// Remove the stored credentials.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let registry = normalize_registry(a.server.as_deref());
    if logout(&registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(0)
}
