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
///
/// Failures exit as `docker run`'s do: 127 when the command is not found, 126 when it
/// cannot be executed, 125 for any other error of berth's own.
pub fn run(a: Args, eng: &Engine) -> anyhow::Result<i32> {
    match run_inner(a, eng) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("berth: {e}");
            Ok(failure_code(&e.to_string()))
        }
    }
}

/// The exit code for a failed `run` with error text `e`.
fn failure_code(e: &str) -> i32 {
    if e.contains("find executable") || e.contains("executable file not found") {
        127
    } else if e.contains("exec") && e.contains("Permission denied") {
        126
    } else {
        125
    }
}

fn run_inner(a: Args, eng: &Engine) -> anyhow::Result<i32> {
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

#[cfg(test)]
mod tests {
    use super::failure_code;

    #[test]
    fn exit_codes_follow_docker_run() {
        assert_eq!(
            failure_code("container x: find executable `nope`: No such file"),
            127
        );
        assert_eq!(
            failure_code("exec `/etc/passwd`: Permission denied (os error 13)"),
            126
        );
        assert_eq!(failure_code("invalid --memory `12x`: expected a size"), 125);
    }
}
