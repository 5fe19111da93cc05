//! `berth-check try ...`: attempt one operation, print `ok` or the errno name.
//!
//! Each probe undoes what it did when it succeeded (unmounts, removes the node) where that
//! is possible, so probes can be chained in one container without affecting each other.

use std::fs;
use std::io::Write;

use nix::errno::Errno;
use nix::fcntl::{OFlag, AT_FDCWD};
use nix::mount::{mount, umount, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::kill;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::sys::stat::{mkdirat, mknod, Mode, SFlag};
use nix::unistd::{self, Gid, Pid, Uid};

use crate::parse;

/// Outcome of a probe that ran: success or the errno the kernel gave.
pub(crate) type Outcome = Result<(), Errno>;

/// Usage text for `try`.
pub(crate) const USAGE: &str = "\
try mount [FSTYPE [TARGET [DATA]]]   mount (default tmpfs on /tmp), then unmount
try umount TARGET
try unshare NS[,NS...]               mnt uts ipc user pid net cgroup time
try chown PATH [UID[:GID]]           default 1:1
try sethostname NAME
try mknod [PATH]                     char 1:3, default /tmp/.berth-mknod; removed after
try open PATH MODE                   MODE: r w rw, plus c(reate) t(runc) a(ppend) d(irectory)
try write PATH DATA                  open O_WRONLY|O_CREAT|O_TRUNC and write DATA
try mkdir PATH                       removed after
try syscall NAME|NR                  see `berth-check syscalls`
try kill PID [SIGNAL]                default signal 0
try setuid UID | setgid GID
try chroot PATH
try socket unix|inet|inet6|netlink|packet
try keyctl                           join a new session keyring (keyctl(2))
try personality PERSONA              personality(2) with a number, e.g. 0 or 0x0040000
try newer-syscall                    listmount(2) (Linux 6.8, nr 458), null request: EFAULT
                                     from the kernel, ENOSYS from a filter that predates it
try shmget KEY [create]              SysV shared memory segment KEY in this IPC namespace:
                                     ENOENT when none; `create` makes it (it is kept)";

/// Runs the probe named by `args[0]`; `Err(String)` is a usage error.
pub(crate) fn run(args: &[String]) -> Result<Outcome, String> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let need =
        |i: usize, what: &str| arg(i).ok_or_else(|| format!("try {}: missing {what}", args[0]));
    let Some(op) = arg(0) else {
        return Err("try: missing operation".into());
    };
    Ok(match op {
        "mount" => try_mount(arg(1).unwrap_or("tmpfs"), arg(2).unwrap_or("/tmp"), arg(3)),
        "umount" => umount(need(1, "TARGET")?),
        "unshare" => {
            let bits = parse::unshare_flags(need(1, "NS")?)?;
            nix::sched::unshare(CloneFlags::from_bits_retain(bits))
        }
        "chown" => {
            let (u, g) = parse::owner(arg(2).unwrap_or("1:1"))?;
            unistd::chown(
                need(1, "PATH")?,
                Some(Uid::from_raw(u)),
                Some(Gid::from_raw(g)),
            )
        }
        "sethostname" => unistd::sethostname(need(1, "NAME")?),
        "mknod" => try_mknod(arg(1).unwrap_or("/tmp/.berth-mknod")),
        "open" => try_open(need(1, "PATH")?, need(2, "MODE")?)?,
        "write" => try_write(need(1, "PATH")?, need(2, "DATA")?),
        "mkdir" => {
            let p = need(1, "PATH")?;
            unistd::mkdir(p, Mode::from_bits_truncate(0o755)).map(|()| {
                let _ = fs::remove_dir(p);
            })
        }
        "syscall" | "syscall-nr" => syscall(need(1, "NAME|NR")?)?,
        // A syscall number no kernel knows (>= 1024): ENOSYS unless a filter says otherwise.
        "unknown-syscall" => {
            let nr: i64 = arg(1)
                .unwrap_or("1024")
                .parse()
                .map_err(|_| "try unknown-syscall: bad NR".to_string())?;
            let e = berth_sys::process::unassigned_syscall(nr);
            Err(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }
        "kill" => {
            let pid: i32 = need(1, "PID")?
                .parse()
                .map_err(|_| "try kill: bad PID".to_string())?;
            let sig = match arg(2) {
                None | Some("0") => None,
                Some(s) => Some(crate::signal_by_name(s)?),
            };
            kill(Pid::from_raw(pid), sig)
        }
        "setuid" => unistd::setuid(Uid::from_raw(number(need(1, "UID")?)?)),
        "setgid" => unistd::setgid(Gid::from_raw(number(need(1, "GID")?)?)),
        "chroot" => unistd::chroot(need(1, "PATH")?),
        "socket" => {
            let family = match need(1, "FAMILY")? {
                "unix" => AddressFamily::Unix,
                "inet" => AddressFamily::Inet,
                "inet6" => AddressFamily::Inet6,
                "netlink" => AddressFamily::Netlink,
                "packet" => AddressFamily::Packet,
                other => return Err(format!("try socket: unknown family `{other}`")),
            };
            let ty = if family == AddressFamily::Netlink || family == AddressFamily::Packet {
                SockType::Raw
            } else {
                SockType::Stream
            };
            socket(family, ty, SockFlag::SOCK_CLOEXEC, None).map(drop)
        }
        "keyctl" => berth_sys::process::join_session_keyring("berth-check")
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0))),
        "personality" => {
            let v = need(1, "PERSONA")?;
            let n = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => v.parse(),
            }
            .map_err(|_| format!("try personality: bad PERSONA `{v}`"))?;
            berth_sys::process::personality(n)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }
        "newer-syscall" => Err(Errno::from_raw(
            berth_sys::process::listmount_null()
                .raw_os_error()
                .unwrap_or(0),
        )),
        "shmget" => {
            let key: i32 = need(1, "KEY")?
                .parse()
                .map_err(|_| "try shmget: bad KEY".to_string())?;
            berth_sys::process::shmget(key, arg(2) == Some("create"))
                .map(drop)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }
        other => {
            return crate::escape::run(args)
                .unwrap_or_else(|| Err(format!("try: unknown operation `{other}`")))
        }
    })
}

fn number(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("not a number: `{s}`"))
}

fn try_mount(fstype: &str, target: &str, data: Option<&str>) -> Outcome {
    mount(Some(fstype), target, Some(fstype), MsFlags::empty(), data)?;
    let _ = umount(target);
    Ok(())
}

fn try_mknod(path: &str) -> Outcome {
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )?;
    let _ = fs::remove_file(path);
    Ok(())
}

fn try_open(path: &str, mode: &str) -> Result<Outcome, String> {
    let [r, w, c, t, a, d] = parse::open_mode(mode)?;
    let mut flags = match (r, w) {
        (true, true) => OFlag::O_RDWR,
        (false, true) => OFlag::O_WRONLY,
        _ => OFlag::O_RDONLY,
    };
    for (on, f) in [
        (c, OFlag::O_CREAT),
        (t, OFlag::O_TRUNC),
        (a, OFlag::O_APPEND),
        (d, OFlag::O_DIRECTORY),
    ] {
        if on {
            flags |= f;
        }
    }
    flags |= OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    Ok(nix::fcntl::open(path, flags, Mode::from_bits_truncate(0o644)).map(drop))
}

fn try_write(path: &str, data: &str) -> Outcome {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(path, flags, Mode::from_bits_truncate(0o644))?;
    let mut f = fs::File::from(fd);
    f.write_all(data.as_bytes())
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

/// Syscalls `try syscall` can make, with their x86_64 numbers. Each is called through a
/// nix wrapper with harmless arguments (this crate has no `unsafe`, so no raw syscall(2)).
pub(crate) const SYSCALLS: [(&str, u32); 16] = [
    ("dup", 32),
    ("socket", 41),
    ("kill", 62),
    ("uname", 63),
    ("getcwd", 79),
    ("chdir", 80),
    ("mkdir", 83),
    ("getpgid", 121),
    ("getsid", 124),
    ("personality", 135),
    ("statfs", 137),
    ("sched_yield", 24),
    ("sethostname", 170),
    ("mkdirat", 258),
    ("unshare", 272),
    ("prlimit64", 302),
];

fn syscall(which: &str) -> Result<Outcome, String> {
    let name = match which.parse::<u32>() {
        Ok(nr) => SYSCALLS.iter().find(|(_, n)| *n == nr).map(|(s, _)| *s),
        Err(_) => SYSCALLS.iter().find(|(s, _)| *s == which).map(|(s, _)| *s),
    }
    .ok_or_else(|| format!("try syscall: `{which}` is not one of `berth-check syscalls`"))?;
    let scratch = format!("/tmp/.berth-sc-{}", unistd::getpid());
    let mode = Mode::from_bits_truncate(0o700);
    Ok(match name {
        "dup" => unistd::dup(std::io::stdin()).map(drop),
        "socket" => socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map(drop),
        "kill" => kill(unistd::getpid(), None),
        "uname" => nix::sys::utsname::uname().map(drop),
        "getcwd" => unistd::getcwd().map(drop),
        "chdir" => unistd::chdir("."),
        "mkdir" => unistd::mkdir(scratch.as_str(), mode).map(|()| drop(fs::remove_dir(&scratch))),
        "mkdirat" => {
            mkdirat(AT_FDCWD, scratch.as_str(), mode).map(|()| drop(fs::remove_dir(&scratch)))
        }
        "getpgid" => unistd::getpgid(None).map(drop),
        "getsid" => unistd::getsid(None).map(drop),
        "personality" => nix::sys::personality::get().map(drop),
        "statfs" => nix::sys::statfs::statfs("/").map(drop),
        "sched_yield" => nix::sched::sched_yield(),
        "sethostname" => unistd::gethostname().and_then(unistd::sethostname),
        "unshare" => nix::sched::unshare(CloneFlags::empty()),
        "prlimit64" => {
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map(drop)
        }
        _ => unreachable!("every SYSCALLS entry has an arm"),
    })
}
