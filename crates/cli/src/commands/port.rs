//! `berth port`.

use berth_engine::{port, Engine};

/// `port` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The container.
    container: String,
    /// Only this private port (`80`, `80/tcp`).
    private_port: Option<String>,
}

/// Lists the container's published ports, `80/tcp -> 0.0.0.0:8080`.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    for p in port::published(eng, &a.container, a.private_port.as_deref())? {
        if a.private_port.is_some() {
            let ip = if p.host_ip.contains(':') {
                format!("[{}]", p.host_ip)
            } else {
                p.host_ip.clone()
            };
            println!("{ip}:{}", p.host_port);
        } else {
            println!("{p}");
        }
    }
    Ok(0)
}
