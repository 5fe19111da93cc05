//! `berth run`: create + start; in the foreground, attached until the container exits.

use berth_engine::{attach as proto, lifecycle, Engine};

use super::attach::{session, Ended, Session};
use super::create::{online_cpus, CreateFlags};

/// `run` arguments.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"
)]
pub struct Args {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID.
    #[arg(short, long)]
    detach: bool,
    /// Proxy received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    #[command(flatten)]
    flags: CreateFlags,
}

/// Runs the container; in the foreground the exit code is the container's.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    let req = a.flags.request(online_cpus())?;
    let c = eng.create(req)?;
    let removing = c.host_config.auto_remove;
    let started = match lifecycle::start(eng, &c.id) {
        Ok(Some(s)) => s,
        Ok(None) => unreachable!("a new container is not running"),
        Err(e) => {
            if removing {
                let _ = lifecycle::remove(eng, &c.id, true);
            }
            return Err(e.into());
        }
    };
    if a.detach {
        started.go(eng)?;
        println!("{}", c.id);
        return Ok(0);
    }
    let sock = proto::connect(&eng.dir(&c.id))?;
    started.go(eng)?;
    let s = Session {
        stdin: a.flags.interactive,
        tty: a.flags.tty,
        sig_proxy: a.sig_proxy && !a.flags.tty,
    };
    match session(eng, &c.id, sock, &s)? {
        Ended::Exited(code) => Ok(code),
        Ended::Detached => Ok(0),
    }
}
