//! `berth login`.

use std::io::BufRead;

use berth_image::registry::{config_path, login, normalize_registry, Credentials};

/// `login` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// User name.
    #[arg(short, long)]
    username: String,
    /// Password (prefer `--password-stdin`).
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from stdin (also done when `-p` is not given).
    #[arg(long)]
    password_stdin: bool,
    /// The registry, `host[:port]`; Docker Hub when left out.
    server: Option<String>,
}

/// Check the credentials against the registry and store them.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let password = match a.password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    if password.is_empty() {
        anyhow::bail!("login: empty password");
    }
    let registry = normalize_registry(a.server.as_deref());
    let credentials = Credentials {
        username: a.username,
        password,
    };
    login(&registry, &credentials)?;
    eprintln!("credentials stored in {}", config_path().display());
    println!("Login Succeeded");
    Ok(0)
}
