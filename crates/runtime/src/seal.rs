//! CVE-2019-5736: a container must never get a writable handle on the host's runtime binary.
//!
//! Every process of ours that enters a container is non-dumpable until it execs, so the
//! kernel refuses container processes /proc/PID/exe of it, unless they hold CAP_SYS_PTRACE
//! (ptrace access checks let that capability through). For containers granted it, the
//! runtime first re-executes itself from a sealed memfd copy, as runc always does: what a
//! container could then reach is an immutable anonymous copy. Others skip the copy (~3 MB).

use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

/// Set in the environment of the sealed copy, so it does not seal again.
const SEALED_ENV: &str = "_BERTH_RUNTIME_SEALED";

/// True when this process already runs from a sealed copy.
pub fn is_sealed() -> bool {
    std::env::var_os(SEALED_ENV).is_some()
}

/// Whether a process with these capability names could reach our binary despite being
/// non-dumpable.
pub fn needed_for(caps: &[String]) -> bool {
    caps.iter().any(|c| c == "CAP_SYS_PTRACE")
}

/// Copy /proc/self/exe into a sealed memfd and exec it with the same arguments.
/// Returns only on failure.
pub fn reexec_sealed() -> io::Error {
    match try_reexec() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_reexec() -> io::Result<std::convert::Infallible> {
    let fd = memfd_create(
        c"berth-runtime",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut exe = std::fs::File::open("/proc/self/exe")?;
    let mut out = std::fs::File::from(fd);
    io::copy(&mut exe, &mut out)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(out.as_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.into_encoded_bytes()).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            CString::new(
                [
                    k.into_encoded_bytes(),
                    b"=".to_vec(),
                    v.into_encoded_bytes(),
                ]
                .concat(),
            )
            .ok()
        })
        .collect();
    env.extend(CString::new(format!("{SEALED_ENV}=1")).ok());
    Ok(nix::unistd::fexecve(out.as_fd(), &args, &env)?)
}

/// Every capability name a spec's process may hold (any of its five sets).
pub fn process_caps(process: &serde_json::Value) -> Vec<String> {
    let caps = &process["capabilities"];
    [
        "bounding",
        "effective",
        "permitted",
        "inheritable",
        "ambient",
    ]
    .iter()
    .filter_map(|set| caps[set].as_array())
    .flatten()
    .filter_map(|c| c.as_str().map(String::from))
    .collect()
}

/// Re-exec sealed if a container with `caps` could otherwise reach our binary.
pub fn ensure_for(caps: &[String]) -> io::Result<()> {
    if is_sealed() || !needed_for(caps) {
        return Ok(());
    }
    Err(reexec_sealed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ptrace_needs_the_copy() {
        let p = serde_json::json!({"capabilities": {"bounding": ["CAP_KILL"], "ambient": ["CAP_SYS_PTRACE"]}});
        assert!(needed_for(&process_caps(&p)));
        let p = serde_json::json!({"capabilities": {"bounding": ["CAP_KILL", "CAP_SYS_ADMIN"]}});
        assert!(!needed_for(&process_caps(&p)));
    }
}
