//! The arguments of the two execs between `berth __monitor` and `berth-monitor`.
//!
//! The monitor process keeps its pid across both (the container's init is its child, and
//! the store records that pid), and the fds named here stay open across them: whatever
//! owns an fd clears its close-on-exec flag right before the exec that hands it on.

use std::fmt;

use crate::jsonlog::Limits;

/// What `berth-monitor` needs to relay one run of a container:
/// `--init PID --berth PATH [--out FD] [--err FD] [--in FD] [--master FD] [--listener FD]
/// [--client FD]... [--log PATH --max-size N --max-file N] [--health-ms N
/// --start-period-ms N] --backoff-ms N -- BASE...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Relay {
    /// The container's init.
    pub init: i32,
    /// The `berth` binary to exec back into, and to run health checks with.
    pub berth: String,
    /// Our end of the container's stdout pipe.
    pub out: Option<i32>,
    /// Our end of its stderr pipe.
    pub err: Option<i32>,
    /// Our end of its stdin pipe (`-i`).
    pub input: Option<i32>,
    /// The pty master (`-t`).
    pub master: Option<i32>,
    /// The attach socket, listening.
    pub listener: Option<i32>,
    /// Attached clients.
    pub clients: Vec<i32>,
    /// The json-file log and its limits (none with `--log-driver none`).
    pub log: Option<(String, Limits)>,
    /// Health check interval and start period, in milliseconds.
    pub health: Option<(u64, u64)>,
    /// The restart delay this run started with.
    pub backoff_ms: u64,
    /// `berth __monitor`'s own arguments: ROOT STATE RUNTIME CGROUP_PARENT ID.
    pub base: Vec<String>,
}

/// What `berth __monitor` is told after a run: `BASE... --exited CODE --ran-ms N
/// --backoff-ms N [--listener FD] [--client FD]...`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resume {
    /// Init's exit code (128+signal when killed).
    pub code: i32,
    /// How long the run lasted.
    pub ran_ms: u64,
    /// The restart delay the run started with.
    pub backoff_ms: u64,
    /// The attach socket.
    pub listener: Option<i32>,
    /// Clients still attached (they get the exit code).
    pub clients: Vec<i32>,
}

/// A hand-off argument that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// A required option is missing.
    Missing(&'static str),
    /// An option without a value, or with one that does not parse.
    Bad(String, String),
    /// An option nobody knows.
    Unknown(String),
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Missing(o) => write!(f, "missing option `{o}`"),
            ArgError::Bad(o, v) => write!(f, "option `{o}`: bad value `{v}`"),
            ArgError::Unknown(o) => write!(f, "unknown option `{o}`"),
        }
    }
}

impl std::error::Error for ArgError {}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, ArgError> {
    v.parse()
        .map_err(|_| ArgError::Bad(flag.to_string(), v.to_string()))
}

/// `--flag value` pairs.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// `--flag value` pairs up to `--` (or the end); the rest after `--`.
fn pairs(args: &[String]) -> Result<(Pairs<'_>, &[String]), ArgError> {
    let mut out = vec![];
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--" {
            return Ok((out, &args[i + 1..]));
        }
        let v = args
            .get(i + 1)
            .ok_or_else(|| ArgError::Bad(args[i].clone(), String::new()))?;
        out.push((args[i].as_str(), v.as_str()));
        i += 2;
    }
    Ok((out, &[]))
}

fn push_fd(out: &mut Vec<String>, flag: &str, fd: Option<i32>) {
    if let Some(fd) = fd {
        out.push(flag.into());
        out.push(fd.to_string());
    }
}

impl Relay {
    /// The arguments that [`Relay::parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["--init".into(), self.init.to_string()];
        a.extend(["--berth".into(), self.berth.clone()]);
        push_fd(&mut a, "--out", self.out);
        push_fd(&mut a, "--err", self.err);
        push_fd(&mut a, "--in", self.input);
        push_fd(&mut a, "--master", self.master);
        push_fd(&mut a, "--listener", self.listener);
        for c in &self.clients {
            push_fd(&mut a, "--client", Some(*c));
        }
        if let Some((path, l)) = &self.log {
            a.extend(["--log".into(), path.clone()]);
            a.extend(["--max-size".into(), l.max_size.to_string()]);
            a.extend(["--max-file".into(), l.max_file.to_string()]);
        }
        if let Some((interval, start)) = self.health {
            a.extend(["--health-ms".into(), interval.to_string()]);
            a.extend(["--start-period-ms".into(), start.to_string()]);
        }
        a.extend(["--backoff-ms".into(), self.backoff_ms.to_string()]);
        a.push("--".into());
        a.extend(self.base.iter().cloned());
        a
    }

    /// Reads what [`Relay::to_args`] wrote.
    pub fn parse(args: &[String]) -> Result<Relay, ArgError> {
        let (opts, base) = pairs(args)?;
        let mut r = Relay {
            base: base.to_vec(),
            init: -1,
            ..Relay::default()
        };
        let (mut log, mut max_size, mut max_file) = (None, None, None);
        let (mut interval, mut start) = (None, None);
        for (k, v) in opts {
            match k {
                "--init" => r.init = num(k, v)?,
                "--berth" => r.berth = v.to_string(),
                "--out" => r.out = Some(num(k, v)?),
                "--err" => r.err = Some(num(k, v)?),
                "--in" => r.input = Some(num(k, v)?),
                "--master" => r.master = Some(num(k, v)?),
                "--listener" => r.listener = Some(num(k, v)?),
                "--client" => r.clients.push(num(k, v)?),
                "--log" => log = Some(v.to_string()),
                "--max-size" => max_size = Some(num(k, v)?),
                "--max-file" => max_file = Some(num(k, v)?),
                "--health-ms" => interval = Some(num(k, v)?),
                "--start-period-ms" => start = Some(num(k, v)?),
                "--backoff-ms" => r.backoff_ms = num(k, v)?,
                _ => return Err(ArgError::Unknown(k.to_string())),
            }
        }
        if r.init <= 0 {
            return Err(ArgError::Missing("--init"));
        }
        if r.berth.is_empty() {
            return Err(ArgError::Missing("--berth"));
        }
        if let Some(path) = log {
            let max_size = max_size.ok_or(ArgError::Missing("--max-size"))?;
            let max_file = max_file.ok_or(ArgError::Missing("--max-file"))?;
            r.log = Some((path, Limits { max_size, max_file }));
        }
        r.health = interval.map(|i| (i, start.unwrap_or(0)));
        Ok(r)
    }
}

impl Resume {
    /// The arguments (after BASE) that [`Resume::parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["--exited".into(), self.code.to_string()];
        a.extend(["--ran-ms".into(), self.ran_ms.to_string()]);
        a.extend(["--backoff-ms".into(), self.backoff_ms.to_string()]);
        push_fd(&mut a, "--listener", self.listener);
        for c in &self.clients {
            push_fd(&mut a, "--client", Some(*c));
        }
        a
    }

    /// Reads what [`Resume::to_args`] wrote.
    pub fn parse(args: &[String]) -> Result<Resume, ArgError> {
        let (opts, _) = pairs(args)?;
        let mut r = Resume::default();
        let mut code = None;
        for (k, v) in opts {
            match k {
                "--exited" => code = Some(num(k, v)?),
                "--ran-ms" => r.ran_ms = num(k, v)?,
                "--backoff-ms" => r.backoff_ms = num(k, v)?,
                "--listener" => r.listener = Some(num(k, v)?),
                "--client" => r.clients.push(num(k, v)?),
                _ => return Err(ArgError::Unknown(k.to_string())),
            }
        }
        r.code = code.ok_or(ArgError::Missing("--exited"))?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_round_trips() {
        let full = Relay {
            init: 42,
            berth: "/usr/bin/berth".into(),
            out: Some(3),
            err: Some(4),
            input: Some(5),
            master: None,
            listener: Some(6),
            clients: vec![7, 8],
            log: Some((
                "/var/lib/x-json.log".into(),
                Limits {
                    max_size: 10,
                    max_file: 2,
                },
            )),
            health: Some((30000, 0)),
            backoff_ms: 100,
            base: vec!["/root".into(), "--weird".into(), "id".into()],
        };
        assert_eq!(Relay::parse(&full.to_args()).unwrap(), full);
        let bare = Relay {
            init: 1,
            berth: "b".into(),
            ..Relay::default()
        };
        assert_eq!(Relay::parse(&bare.to_args()).unwrap(), bare);
    }

    #[test]
    fn resume_round_trips() {
        let r = Resume {
            code: 137,
            ran_ms: 12,
            backoff_ms: 200,
            listener: Some(3),
            clients: vec![4],
        };
        assert_eq!(Resume::parse(&r.to_args()).unwrap(), r);
    }

    #[test]
    fn nonsense_is_refused() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (args, want) in [
            (s(&["--berth", "b"]), ArgError::Missing("--init")),
            (
                s(&["--init", "x"]),
                ArgError::Bad("--init".into(), "x".into()),
            ),
            (
                s(&["--init"]),
                ArgError::Bad("--init".into(), String::new()),
            ),
            (
                s(&["--init", "1", "--berth", "b", "--colour", "red"]),
                ArgError::Unknown("--colour".into()),
            ),
            (
                s(&["--init", "1", "--berth", "b", "--log", "p"]),
                ArgError::Missing("--max-size"),
            ),
        ] {
            assert_eq!(Relay::parse(&args).unwrap_err(), want, "{args:?}");
        }
        assert_eq!(
            Resume::parse(&[]).unwrap_err(),
            ArgError::Missing("--exited")
        );
    }
}
