//! `berth start`.

use berth_engine::{attach as proto, lifecycle, Engine};

use super::attach::{session, Ended, Session};

/// `start` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    interactive: bool,
    /// Containers.
    #[arg(required = true)]
    containers: Vec<String>,
}

/// Starts each container (printing its name), or with `-a` one container attached.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    if a.attach || a.interactive {
        anyhow::ensure!(
            a.containers.len() == 1,
            "you cannot start and attach multiple containers at once"
        );
        let key = &a.containers[0];
        let Some(s) = lifecycle::start(eng, key)? else {
            anyhow::bail!("container {key} is already running; use `berth attach`");
        };
        let id = s.container.id.clone();
        let tty = s.container.config.tty;
        let stdin = a.interactive && s.container.config.open_stdin;
        let sock = proto::connect(&eng.dir(&id))?;
        s.go(eng)?;
        let sess = Session {
            stdin,
            tty,
            sig_proxy: !tty,
        };
        return match session(eng, &id, sock, &sess)? {
            Ended::Exited(code) => Ok(code),
            Ended::Detached => Ok(0),
        };
    }
    let mut failed = 0;
    for key in &a.containers {
        let r = lifecycle::start(eng, key).and_then(|s| match s {
            Some(s) => s.go(eng).map(drop),
            None => Ok(()),
        });
        match r {
            Ok(()) => println!("{key}"),
            Err(e) => {
                eprintln!("berth: Error response from daemon: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("berth: Error: failed to start containers");
        return Ok(1);
    }
    Ok(0)
}
