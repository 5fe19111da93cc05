//! berth-check: runs inside a container and reports what the container sees.
//!
//! It is built static so it runs in a busybox rootfs (or a bare VM initramfs) without
//! libraries. The test suite in `crates/runtime-cli/tests` runs it as the container
//! process and compares its JSON between runtimes. Output is for machines: `report`
//! prints one JSON object, probes print `ok` or an errno name (`EPERM`), and the exit
//! status says which (0 ok, 1 failed, 2 usage error).

mod escape;
mod parse;
mod probe;
mod report;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};

const USAGE: &str = "\
usage: berth-check COMMAND
  report [--sysctl NAME]... [--path PATH]... [--pretty]
  try OP ARGS...            (berth-check try --help)
  syscalls                  names and numbers `try syscall` accepts
  sleep SECONDS
  exit CODE
  cat PATH
  ls-fds
  wait-signal               block signals, print `ready`, then `signal NAME` for the
                            first one and exit 128+signo
  alloc MIB                 allocate and touch MIB MiB, then print `allocated`
  spawn N                   start N children (sleeping), print `spawned K`, exit 1 if K<N
  spin SECONDS              burn CPU
  udp-echo PORT             answer every datagram on udp PORT with the same bytes";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("berth-check: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let need = |i: usize| arg(i).ok_or_else(|| format!("{}: missing argument", args[0]));
    match arg(0) {
        Some("report") => cmd_report(&args[1..]),
        Some("try") if matches!(arg(1), None | Some("--help")) => {
            println!("{}\n{}", probe::USAGE, escape::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        Some("try") => match probe::run(&args[1..])? {
            Ok(()) => {
                println!("ok");
                Ok(ExitCode::SUCCESS)
            }
            Err(errno) => {
                println!("{errno:?}");
                Ok(ExitCode::from(1))
            }
        },
        Some("syscalls") => {
            for (name, nr) in probe::SYSCALLS {
                println!("{nr} {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("sleep") => {
            let secs: f64 = need(1)?
                .parse()
                .map_err(|_| "sleep: bad SECONDS".to_string())?;
            std::thread::sleep(Duration::from_secs_f64(secs));
            Ok(ExitCode::SUCCESS)
        }
        Some("exit") => {
            let code: u8 = need(1)?
                .parse()
                .map_err(|_| "exit: CODE must be 0..255".to_string())?;
            Ok(ExitCode::from(code))
        }
        Some("cat") => cmd_cat(need(1)?),
        Some("ls-fds") => {
            for (fd, target) in report::fds() {
                println!("{fd} {target}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("wait-signal") => cmd_wait_signal(),
        Some("alloc") => {
            let mib: usize = need(1)?.parse().map_err(|_| "alloc: bad MIB".to_string())?;
            let mut v = vec![0u8; mib << 20];
            // Touch every page so the memory is charged, not just reserved.
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            println!("allocated {} MiB", std::hint::black_box(&v).len() >> 20);
            Ok(ExitCode::SUCCESS)
        }
        Some("spawn") => cmd_spawn(need(1)?.parse().map_err(|_| "spawn: bad N".to_string())?),
        Some("spin") => {
            let secs: f64 = need(1)?
                .parse()
                .map_err(|_| "spin: bad SECONDS".to_string())?;
            let end = Instant::now() + Duration::from_secs_f64(secs);
            let mut x = 0u64;
            while Instant::now() < end {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("udp-echo") => cmd_udp_echo(need(1)?),
        Some("--help" | "help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(format!("unknown command `{other}`")),
        None => Err("missing command".into()),
    }
}

fn cmd_report(args: &[String]) -> Result<ExitCode, String> {
    let mut opts = report::Options::default();
    let mut pretty = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sysctl" => opts
                .sysctls
                .push(it.next().ok_or("--sysctl needs NAME")?.clone()),
            "--path" => opts
                .paths
                .push(it.next().ok_or("--path needs PATH")?.clone()),
            "--pretty" => pretty = true,
            other => return Err(format!("report: unknown option `{other}`")),
        }
    }
    let r = report::report(&opts);
    let text = if pretty {
        serde_json::to_string_pretty(&r)
    } else {
        serde_json::to_string(&r)
    };
    println!("{}", text.map_err(|e| e.to_string())?);
    Ok(ExitCode::SUCCESS)
}

fn cmd_cat(path: &str) -> Result<ExitCode, String> {
    let mut buf = Vec::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut buf)) {
        Ok(_) => {
            let _ = io::stdout().write_all(&buf);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}", errno_name(&e));
            Ok(ExitCode::from(1))
        }
    }
}

/// Waits for a signal with all of them blocked and sigwait(2), rather than a handler: a
/// pid-namespace init drops signals it has no handler for, but blocked signals are
/// always queued (kernel/signal.c `sig_ignored`), and this needs no `unsafe`.
fn cmd_wait_signal() -> Result<ExitCode, String> {
    let mut set = SigSet::all();
    for s in [Signal::SIGCHLD, Signal::SIGWINCH, Signal::SIGURG] {
        set.remove(s);
    }
    set.thread_block()
        .map_err(|e| format!("sigprocmask: {e}"))?;
    println!("ready");
    let _ = io::stdout().flush();
    let sig = set.wait().map_err(|e| format!("sigwait: {e}"))?;
    println!("signal {}", sig.as_str());
    let _ = io::stdout().flush();
    Ok(ExitCode::from(128 + sig as u8))
}

fn cmd_spawn(n: usize) -> Result<ExitCode, String> {
    let exe = std::env::current_exe().unwrap_or_else(|_| "/bin/berth-check".into());
    let mut children = Vec::new();
    let mut first_error = None;
    for _ in 0..n {
        match std::process::Command::new(&exe)
            .args(["sleep", "30"])
            .spawn()
        {
            Ok(c) => children.push(c),
            Err(e) => {
                first_error = Some(errno_name(&e));
                break;
            }
        }
    }
    let spawned = children.len();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    match first_error {
        None => println!("spawned {spawned}"),
        Some(e) => println!("spawned {spawned} {e}"),
    }
    Ok(ExitCode::from(u8::from(spawned < n)))
}

/// `EPERM` for an OS error, the message otherwise.
pub(crate) fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("{:?}", Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// A signal from `KILL`, `SIGKILL` or `9`.
pub(crate) fn signal_by_name(s: &str) -> Result<Signal, String> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("unknown signal `{s}`"));
    }
    let full = if s.starts_with("SIG") {
        s.to_string()
    } else {
        format!("SIG{s}")
    };
    Signal::from_str(&full.to_ascii_uppercase()).map_err(|_| format!("unknown signal `{s}`"))
}

/// Echoes datagrams on `port` forever (busybox's nc has no udp mode).
fn cmd_udp_echo(port: &str) -> Result<ExitCode, String> {
    let port: u16 = port.parse().map_err(|_| "udp-echo: bad PORT".to_string())?;
    let sock =
        std::net::UdpSocket::bind(("0.0.0.0", port)).map_err(|e| format!("udp-echo: bind: {e}"))?;
    let mut buf = [0u8; 2048];
    loop {
        let (n, from) = sock
            .recv_from(&mut buf)
            .map_err(|e| format!("udp-echo: recv: {e}"))?;
        let _ = sock.send_to(&buf[..n], from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name() {
        assert_eq!(signal_by_name("KILL"), Ok(Signal::SIGKILL));
        assert_eq!(signal_by_name("SIGUSR1"), Ok(Signal::SIGUSR1));
        assert_eq!(signal_by_name("term"), Ok(Signal::SIGTERM));
        assert_eq!(signal_by_name("15"), Ok(Signal::SIGTERM));
        assert!(signal_by_name("NOPE").is_err());
        assert!(signal_by_name("99").is_err());
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(&io::Error::from_raw_os_error(1)), "EPERM");
        assert_eq!(errno_name(&io::Error::from_raw_os_error(30)), "EROFS");
    }
}
