//! `berth-check try ...` probes of a container's walls: syscalls a container must not
//! make (namespaces, keys, bpf, modules, reboot), ptrace of processes it must not reach,
//! devices, and CVE-2019-5736 (a writable handle on the runtime binary through
//! /proc/PID/exe). The raw syscalls live in `berth_sys::probe`, with harmless arguments.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::Pid;

use crate::parse;
use crate::probe::Outcome;

/// Usage text for these probes (appended to `try --help`).
pub(crate) const USAGE: &str = "\
try clone NS[,NS...]                 clone(2) with namespace flags; the child exits at once
try setns PATH                       setns(2) into the namespace file PATH (/proc/1/ns/uts)
try add-key                          add_key(2) of a user key
try bpf | perf-event-open | userfaultfd | open-by-handle-at
try kexec-load | reboot | init-module | finit-module
                                     with arguments that fail harmlessly (EINVAL, EFAULT,
                                     EBADF) once the privilege checks passed
try ptrace PID                       PTRACE_SEIZE PID (released when the probe exits)
try raw-socket                       socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
try mknod-dev PATH b|c MAJ:MIN       make a device node and keep it
try exe-grab PID|next [SECS]         CVE-2019-5736: open /proc/PID/exe (`next`: the next
                                     process that appears) as soon as it can be opened, wait
                                     until no process runs that file, then open it for
                                     writing (nothing is written); prints the exe on stderr";

/// The probe named by `args[0]`, or `None` when it is not one of these.
pub(crate) fn run(args: &[String]) -> Option<Result<Outcome, String>> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let need =
        |i: usize, what: &str| arg(i).ok_or_else(|| format!("try {}: missing {what}", args[0]));
    let sys = |e: io::Error| Err(errno(&e));
    Some(Ok(match arg(0)? {
        "clone" => match need(1, "NS").and_then(parse::unshare_flags) {
            Ok(bits) => berth_sys::probe::clone_exit(bits as u64).map_err(|e| errno(&e)),
            Err(e) => return Some(Err(e)),
        },
        "setns" => match need(1, "PATH") {
            Ok(p) => nix::fcntl::open(p, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .and_then(|fd| nix::sched::setns(fd, CloneFlags::empty())),
            Err(e) => return Some(Err(e)),
        },
        "add-key" => berth_sys::probe::add_key().map_err(|e| errno(&e)),
        "bpf" => sys(berth_sys::probe::bpf_null()),
        "perf-event-open" => sys(berth_sys::probe::perf_event_open_null()),
        "userfaultfd" => berth_sys::probe::userfaultfd().map_err(|e| errno(&e)),
        "open-by-handle-at" => sys(berth_sys::probe::open_by_handle_null()),
        "kexec-load" => sys(berth_sys::probe::kexec_load_too_many()),
        "reboot" => sys(berth_sys::probe::reboot_bad_magic()),
        "init-module" => sys(berth_sys::probe::init_module_empty()),
        "finit-module" => sys(berth_sys::probe::finit_module_bad_fd()),
        "ptrace" => match need(1, "PID").and_then(pid) {
            Ok(p) => nix::sys::ptrace::seize(p, nix::sys::ptrace::Options::empty()),
            Err(e) => return Some(Err(e)),
        },
        "raw-socket" => socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )
        .map(drop),
        "mknod-dev" => match mknod_args(args) {
            Ok((path, kind, dev)) => mknod(path, kind, Mode::from_bits_truncate(0o666), dev),
            Err(e) => return Some(Err(e)),
        },
        "exe-grab" => {
            let secs = arg(2).and_then(|s| s.parse().ok()).unwrap_or(20.0);
            match need(1, "PID|next") {
                Ok(which) => exe_grab(which, Duration::from_secs_f64(secs)),
                Err(e) => return Some(Err(e)),
            }
        }
        _ => return None,
    }))
}

fn errno(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

fn pid(s: &str) -> Result<Pid, String> {
    s.parse()
        .map(Pid::from_raw)
        .map_err(|_| format!("bad PID `{s}`"))
}

fn mknod_args(args: &[String]) -> Result<(&str, SFlag, u64), String> {
    let usage = || "try mknod-dev: want PATH b|c MAJ:MIN".to_string();
    let [_, path, kind, dev] = args else {
        return Err(usage());
    };
    let kind = match kind.as_str() {
        "b" => SFlag::S_IFBLK,
        "c" => SFlag::S_IFCHR,
        _ => return Err(usage()),
    };
    let (maj, min) = dev.split_once(':').ok_or_else(usage)?;
    let n = |s: &str| s.parse::<u64>().map_err(|_| usage());
    Ok((path, kind, makedev(n(maj)?, n(min)?)))
}

/// The attack of CVE-2019-5736 against whatever process `which` names: grab an O_PATH
/// handle on its exe the moment the kernel allows it, then, once that process is gone,
/// reopen the handle for writing. `next` spins on the next few pids of this pid namespace
/// (from /proc/sys/kernel/ns_last_pid), so a process that lives a millisecond is caught.
/// Gives the errno of the write open (`ok` is the hole), or the last error of the grab.
fn exe_grab(which: &str, limit: Duration) -> Outcome {
    let deadline = Instant::now() + limit;
    let candidates: Vec<i32> = match which {
        "next" => {
            let last = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .ok_or(Errno::ENOENT)?;
            (last + 1..last + 4).collect()
        }
        n => vec![pid(n).map_err(|_| Errno::EINVAL)?.as_raw()],
    };
    let links: Vec<String> = candidates
        .iter()
        .map(|p| format!("/proc/{p}/exe"))
        .collect();
    let mut last = Errno::ETIMEDOUT;
    let handle: OwnedFd = 'grab: loop {
        for link in &links {
            match nix::fcntl::open(
                link.as_str(),
                OFlag::O_PATH | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => break 'grab fd,
                Err(e) => last = e,
            }
        }
        if Instant::now() > deadline {
            return Err(last);
        }
    };
    let reopen = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let exe = std::fs::read_link(&reopen).map(|p| p.display().to_string());
    eprintln!("exe {}", exe.unwrap_or_default());
    // Keep trying while a process still runs the file (ETXTBSY) and time is left.
    loop {
        // O_WRONLY without O_TRUNC: the open alone proves the hole; nothing is written.
        match nix::fcntl::open(
            reopen.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::ETXTBSY) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e),
        }
    }
}
