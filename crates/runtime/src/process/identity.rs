//! The last steps before execve, shared by a container's init and by `exec`:
//! limits, scheduling, then privileges in the fixed order runc uses (finalizeNamespace):
//! bounding set, keep-caps, groups/gid/uid, then the other capability sets, then
//! no_new_privs and seccomp (seccomp first when it needs CAP_SYS_ADMIN, i.e. without NNP).

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, Process};

use super::channel::{ChildError, Step, StepExt};
use crate::seccomp::CompiledFilter;

/// Parse OCI capability names into the caps crate's type.
pub fn cap_set(names: &Option<oci_spec::runtime::Capabilities>) -> HashSet<Capability> {
    names
        .iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().and_then(|s| Capability::from_str(s).ok()))
        .collect()
}

/// rlimits, umask, oom_score_adj, io priority, scheduler: things set while still root.
pub fn set_limits(p: &Process) -> Result<(), ChildError> {
    for r in p.rlimits().iter().flatten() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let res = rlimit_resource(&name)
            .ok_or_else(|| ChildError::new(Step::Rlimit, &name, libc::EINVAL))?;
        nix::sys::resource::setrlimit(res, r.soft(), r.hard()).step(Step::Rlimit, &name)?;
    }
    if let Some(adj) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).step(Step::OomScoreAdj, adj)?;
    }
    if let Some(io) = p.io_priority() {
        let class = match serde_json::to_value(io.class())
            .ok()
            .as_ref()
            .and_then(|v| v.as_str())
        {
            Some("IOPRIO_CLASS_RT") => 1,
            Some("IOPRIO_CLASS_BE") => 2,
            _ => 3,
        };
        berth_sys::process::ioprio_set_self(class, io.priority() as u32)
            .step(Step::IoPriority, io.priority())?;
    }
    if let Some(s) = p.scheduler() {
        super::sched::apply(s)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        p.user().umask().unwrap_or(0o022),
    ));
    Ok(())
}

fn rlimit_resource(name: &str) -> Option<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource::*;
    Some(match name {
        "RLIMIT_AS" => RLIMIT_AS,
        "RLIMIT_CORE" => RLIMIT_CORE,
        "RLIMIT_CPU" => RLIMIT_CPU,
        "RLIMIT_DATA" => RLIMIT_DATA,
        "RLIMIT_FSIZE" => RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => RLIMIT_NICE,
        "RLIMIT_NOFILE" => RLIMIT_NOFILE,
        "RLIMIT_NPROC" => RLIMIT_NPROC,
        "RLIMIT_RSS" => RLIMIT_RSS,
        "RLIMIT_RTPRIO" => RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => RLIMIT_STACK,
        _ => return None,
    })
}

/// Find `args[0]` as execve would with the process's PATH; fail early (at create) if absent.
pub fn find_executable(p: &Process) -> Result<CString, ChildError> {
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![PathBuf::from(&arg0)]
    } else {
        let path = p
            .env()
            .iter()
            .flatten()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(&arg0))
            .collect()
    };
    for c in candidates {
        if let Ok(m) = std::fs::metadata(&c) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return CString::new(c.into_os_string().into_encoded_bytes())
                    .map_err(|_| ChildError::new(Step::FindExecutable, &arg0, libc::EINVAL));
            }
        }
    }
    Err(ChildError::new(Step::FindExecutable, arg0, libc::ENOENT))
}

/// Drop privileges and load seccomp in the order described at the top of this file.
pub fn drop_privileges(p: &Process, seccomp: Option<&CompiledFilter>) -> Result<(), ChildError> {
    let nnp = p.no_new_privileges().unwrap_or(false);
    if !nnp {
        load_seccomp(seccomp)?;
    }
    let all = LinuxCapabilities::default();
    let c = p.capabilities().as_ref().unwrap_or(&all);
    let bounding = cap_set(c.bounding());
    // One prctl per capability: dropping one that is already gone succeeds, and one the
    // kernel does not know (EINVAL) is only an error if it is somehow still there.
    for cap in caps::all().into_iter().filter(|c| !bounding.contains(c)) {
        if let Err(e) = caps::drop(None, CapSet::Bounding, cap) {
            if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                return Err(caps_err(format!("bounding {cap}"), e));
            }
        }
    }
    nix::sys::prctl::set_keepcaps(true).step(Step::Capabilities, "keepcaps")?;
    set_ids(p)?;
    nix::sys::prctl::set_keepcaps(false).step(Step::Capabilities, "keepcaps")?;
    let set = |which: CapSet, names: &Option<oci_spec::runtime::Capabilities>, label: &str| {
        caps::set(None, which, &cap_set(names)).map_err(|e| caps_err(label, e))
    };
    set(CapSet::Inheritable, c.inheritable(), "inheritable")?;
    set(CapSet::Effective, c.effective(), "effective")?;
    set(CapSet::Permitted, c.permitted(), "permitted")?;
    caps::clear(None, CapSet::Ambient).map_err(|e| caps_err("ambient", e))?;
    // The kernel allows an ambient capability only if it is also permitted and inheritable;
    // runc skips the others rather than failing (its default spec has no inheritable set).
    let allowed: HashSet<Capability> = cap_set(c.permitted())
        .intersection(&cap_set(c.inheritable()))
        .copied()
        .collect();
    for cap in cap_set(c.ambient()).intersection(&allowed).copied() {
        caps::raise(None, CapSet::Ambient, cap)
            .map_err(|e| caps_err(format!("ambient {cap}"), e))?;
    }
    if nnp {
        nix::sys::prctl::set_no_new_privs().step(Step::Capabilities, "no_new_privs")?;
        load_seccomp(seccomp)?;
    }
    Ok(())
}

/// The caps crate reports errors as text; keep the errno it carries (EPERM almost always).
fn caps_err(object: impl ToString, e: caps::errors::CapsError) -> ChildError {
    let errno = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EPERM);
    ChildError {
        step: Step::Capabilities,
        object: object.to_string(),
        errno,
        detail: Some(e.to_string()),
    }
}

fn set_ids(p: &Process) -> Result<(), ChildError> {
    let u = p.user();
    let gid = Gid::from_raw(u.gid());
    let uid = Uid::from_raw(u.uid());
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is denied in a user namespace whose setgroups file says "deny".
    let deny = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !deny {
        nix::unistd::setgroups(&groups)
            .step(Step::SetIds, format!("groups {:?}", u.additional_gids()))?;
    }
    nix::unistd::setresgid(gid, gid, gid).step(Step::SetIds, format!("gid {gid}"))?;
    nix::unistd::setresuid(uid, uid, uid).step(Step::SetIds, format!("uid {uid}"))
}

fn load_seccomp(seccomp: Option<&CompiledFilter>) -> Result<(), ChildError> {
    let Some(f) = seccomp else { return Ok(()) };
    if f.needs_listener() {
        return Ok(()); // loaded earlier, before Ready, so its fd could be handed over
    }
    f.load().map(|_| ()).map_err(|e| ChildError {
        step: Step::Seccomp,
        object: "filter".into(),
        errno: 0,
        detail: Some(e.to_string()),
    })
}

/// The home directory of `uid` in the container's /etc/passwd.
fn home_of(uid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// Set the env, mark every fd past stdio and `preserve_fds` close-on-exec, and execve.
pub fn exec(path: &CString, p: &Process, preserve_fds: u32) -> ChildError {
    let args: Vec<CString> = p
        .args()
        .iter()
        .flatten()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut env: Vec<CString> = p
        .env()
        .iter()
        .flatten()
        .filter_map(|e| CString::new(e.as_bytes()).ok())
        .collect();
    if !p.env().iter().flatten().any(|e| e.starts_with("HOME=")) {
        // As runc: HOME from the container's /etc/passwd for our uid, else "/".
        let home = home_of(p.user().uid()).unwrap_or_else(|| "/".into());
        env.extend(CString::new(format!("HOME={home}")).ok());
    }
    if let Err(e) = berth_sys::fd::cloexec_from(3 + preserve_fds) {
        return ChildError::new(Step::Exec, "close_range", e.raw_os_error().unwrap_or(0));
    }
    // The runtime keeps SIGPIPE ignored (a hook that does not read its state must not kill
    // us), but an ignored signal survives execve: the user's program gets the default.
    berth_sys::process::default_sigpipe();
    let err = nix::unistd::execve(path, &args, &env).unwrap_err();
    ChildError::new(Step::Exec, path.to_string_lossy(), err as i32)
}
