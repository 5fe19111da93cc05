//! `--security-opt` and `--privileged` turned into what the runtime enforces. The options
//! are parsed in `opts` (no_new_privs, masked paths, LSM labels); this file is seccomp's.
//!
//! Seccomp, as in Docker (a rule none of whose names libseccomp knows is dropped, as Docker
//! and libseccomp ignore unknown names):
//! - by default the built-in profile (`default-seccomp.json`, Docker's format, the same
//!   rules as moby's `profiles/seccomp/default.json`) resolved against the container's final
//!   bounding set, its architecture and the running kernel;
//! - `seccomp=unconfined` and `--privileged`: no filter;
//! - `seccomp=PATH`: the file is read, checked and stored inline at create, as
//!   `seccomp=<the JSON without whitespace>` (Docker's CLI does the same), so the container
//!   keeps its profile when the file changes or goes, and `inspect` shows what runs.
//!
//! What a denied syscall returns under the built-in profile: a syscall the profile does not
//! allow fails with EPERM (`defaultErrnoRet` 1) when the runtime's libseccomp knows its
//! number for that architecture, and with ENOSYS when its number is above both the largest
//! number libseccomp knows and the largest the profile names (the runtime's stub, see
//! `berth_runtime::seccomp`), so a program probing a syscall newer than the profile falls
//! back as it would on an older kernel. clone3 without CAP_SYS_ADMIN returns ENOSYS by rule,
//! as in Docker, so libc falls back to clone, whose namespace flags the profile can check.

mod opts;
mod profile;
mod summary;

use berth_runtime::oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;
use serde_json::Value;

pub use opts::{Label, Lsm, SecurityOpts, Unmask};
pub use profile::{Profile, Target};
pub use summary::summary;

use crate::config::HostConfig;
use crate::error::{Error, Result};

/// The built-in profile.
pub const DEFAULT_PROFILE: &str = include_str!("default-seccomp.json");

use opts::FLAG;

/// Which seccomp profile a container runs under.
#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// The built-in profile.
    Builtin,
    /// No filter.
    Unconfined,
    /// A profile in Docker's format, inline.
    Profile(String),
}

/// At create: read `seccomp=PATH` files into the options (Docker's inline form), then check
/// every option and the profile that will run with `caps`, so a mistake leaves nothing
/// behind. The error names the option as the user gave it.
pub fn prepare(h: &mut HostConfig, caps: &[String]) -> Result<()> {
    for o in h.security_opt.iter_mut() {
        let Some(path) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        else {
            continue;
        };
        if matches!(path, "unconfined" | "builtin" | "") || path.trim_start().starts_with('{') {
            continue;
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(FLAG, o.as_str(), format!("read profile: {e}")))?;
        check(&text, caps).map_err(|e| Error::invalid(FLAG, o.as_str(), e))?;
        *o = format!("seccomp={}", compact(&text));
    }
    if let Seccomp::Profile(text) = SecurityOpts::parse(&h.security_opt)?.seccomp {
        let shown = format!("seccomp={}", ellipsis(&text));
        check(&text, caps).map_err(|e| Error::invalid(FLAG, &shown, e))?;
    }
    SecurityOpts::check_lsm(&h.security_opt, Lsm::host())
}

/// Everything the runtime would refuse in profile `text` for a container with `caps`.
fn check(text: &str, caps: &[String]) -> std::result::Result<(), String> {
    let section = Profile::parse(text)?.resolve(&Target::host(caps))?;
    let s = oci(&section)?;
    berth_runtime::seccomp::compile(&s).map_err(|e| e.to_string())?;
    Ok(())
}

/// The OCI `linux.seccomp` for a container with bounding set `caps`; `None`: no filter.
pub fn section(h: &HostConfig, caps: &[String]) -> Result<Option<Value>> {
    let opts = SecurityOpts::parse(&h.security_opt)?;
    let text = match (&opts.seccomp, h.privileged) {
        (Seccomp::Unconfined, _) | (_, true) => return Ok(None),
        (Seccomp::Builtin, _) => DEFAULT_PROFILE,
        (Seccomp::Profile(t), _) => t.as_str(),
    };
    let shown = match &opts.seccomp {
        Seccomp::Profile(t) => format!("seccomp={}", ellipsis(t)),
        _ => "seccomp=builtin".to_string(),
    };
    Profile::parse(text)
        .and_then(|p| p.resolve(&Target::host(caps)))
        .map(Some)
        .map_err(|e| Error::invalid(FLAG, &shown, e))
}

/// What `inspect` shows under `.Berth.Seccomp`: the profile's origin and the sha256 of the
/// OCI object the runtime compiles (its cache key, `<runtime root>/@seccomp/<sha256>.bpf`).
pub fn describe(h: &HostConfig, caps: &[String]) -> Value {
    let origin = match SecurityOpts::parse(&h.security_opt).map(|o| o.seccomp) {
        _ if h.privileged => "unconfined (privileged)",
        Ok(Seccomp::Unconfined) => "unconfined",
        Ok(Seccomp::Builtin) => "builtin",
        Ok(Seccomp::Profile(_)) => "custom",
        Err(_) => "invalid",
    };
    let digest = section(h, caps)
        .ok()
        .flatten()
        .and_then(|s| oci(&s).ok())
        .map(|s| berth_runtime::seccomp::digest(&s));
    serde_json::json!({"Profile": origin, "Sha256": digest.unwrap_or_default()})
}

/// JSON without the whitespace between tokens (Go's `json.Compact`, which Docker's CLI uses).
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut esc) = (false, false);
    for c in text.chars() {
        if in_str {
            out.push(c);
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_str = c == '"';
            out.push(c);
        }
    }
    out
}

/// The first 40 characters of an inline profile, for error messages.
fn ellipsis(t: &str) -> String {
    match t.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t.to_string(),
    }
}

/// The OCI type of a resolved section.
fn oci(v: &Value) -> std::result::Result<LinuxSeccomp, String> {
    LinuxSeccomp::deserialize(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings() {
        assert_eq!(
            compact("{ \"a b\" : [1, 2],\n\t\"c\\\" d\": \"x\" }"),
            "{\"a b\":[1,2],\"c\\\" d\":\"x\"}"
        );
    }

    #[test]
    fn builtin_profile_resolves_and_compiles() {
        let h = HostConfig::default();
        let caps: Vec<String> = crate::spec::DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .collect();
        let s = section(&h, &caps).unwrap().expect("a filter");
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(s["defaultErrnoRet"], 1);
        let names = |s: &Value| -> Vec<String> {
            s["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
                .flat_map(|r| r["names"].as_array().unwrap().clone())
                .map(|n| n.as_str().unwrap().to_string())
                .collect()
        };
        let plain = names(&s);
        for n in ["read", "chroot", "clone", "ptrace", "socket"] {
            assert!(plain.contains(&n.to_string()), "{n}");
        }
        for n in [
            "mount",
            "unshare",
            "setns",
            "keyctl",
            "bpf",
            "reboot",
            "io_uring_setup",
        ] {
            assert!(!plain.contains(&n.to_string()), "{n}");
        }
        let mut admin = caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let a = section(&h, &admin).unwrap().unwrap();
        assert!(names(&a).contains(&"mount".to_string()));
        let oci = oci(&s).unwrap();
        assert!(berth_runtime::seccomp::compile(&oci).unwrap().is_some());
        let privileged = HostConfig {
            privileged: true,
            ..Default::default()
        };
        assert_eq!(section(&privileged, &caps).unwrap(), None);
        assert_eq!(describe(&h, &caps)["Profile"], "builtin");
        assert_eq!(describe(&h, &caps)["Sha256"].as_str().unwrap().len(), 64);
    }
}
