//! Load `config.json` once at the boundary and validate it, so every later phase can trust it.
//!
//! The error for each rule names the field and the value, e.g.
//! `config.json: linux.namespaces[2]: duplicate namespace type "pid"`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// A spec that failed to load or failed a rule.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// JSON syntax or a value of the wrong type or name; `field` is the JSON path.
    #[error("{file}: {field}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// JSON path of the offending value, e.g. `process.capabilities.bounding[3]`.
        field: String,
        /// serde's description of what was wrong.
        message: String,
    },
    /// A rule of the OCI runtime spec (or of this runtime) is broken.
    #[error("config.json: {field}: {reason} {value:?}")]
    Invalid {
        /// JSON path of the offending value.
        field: String,
        /// What is wrong with it.
        reason: &'static str,
        /// The value.
        value: String,
    },
}

fn invalid(field: impl Into<String>, reason: &'static str, value: impl ToString) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        reason,
        value: value.to_string(),
    }
}

/// Parse JSON text into `T`, reporting the JSON path of the first bad value.
pub fn parse_json<T: serde::de::DeserializeOwned>(file: &str, text: &[u8]) -> Result<T, SpecError> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let message = strip_position(&inner.to_string());
        SpecError::Parse {
            file: file.to_string(),
            field,
            message,
        }
    })
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => format!("{} ({})", &msg[..i], &msg[i + 1..]),
        None => msg.to_string(),
    }
}

/// Read and validate `<bundle>/config.json`; the rootfs path is made absolute.
pub fn load_bundle(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let mut spec: Spec = parse_json("config.json", &text)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "is required", "null"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(invalid("root.path", "is not a directory", rootfs.display()));
    }
    let mut root = root.clone();
    root.set_path(rootfs);
    spec.set_root(Some(root));
    validate(&spec)?;
    Ok(spec)
}

/// Which namespace types the spec asks for (new or joined).
pub fn namespace_types(spec: &Spec) -> HashSet<LinuxNamespaceType> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(|v| v.iter().map(|n| n.typ()).collect())
        .unwrap_or_default()
}

/// Apply every rule that does not depend on the host's state.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "is required", "null"))?;
    match process.args() {
        Some(a) if !a.is_empty() => {}
        _ => return Err(invalid("process.args", "must name a program", "[]")),
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            "must be absolute",
            process.cwd().display(),
        ));
    }
    validate_namespaces(spec)?;
    validate_mounts(spec)?;
    validate_sysctl(spec)?;
    validate_seccomp_names(spec)?;
    validate_lsm(spec)
}

/// A seccomp rule none of whose names any architecture knows is refused (it could only be a
/// typo). Unknown names next to known ones are skipped, as runc and crun do, so profiles
/// written for newer kernels (statmount, mseal, ...) still load on this libseccomp.
fn validate_seccomp_names(spec: &Spec) -> Result<(), SpecError> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let names = rule.names();
        if !names.is_empty()
            && names
                .iter()
                .all(|n| libseccomp::ScmpSyscall::from_name(n).is_err())
        {
            return Err(invalid(
                format!("linux.seccomp.syscalls[{i}].names"),
                "unknown syscall",
                &names[0],
            ));
        }
    }
    Ok(())
}

fn validate_namespaces(spec: &Spec) -> Result<(), SpecError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                "duplicate namespace type",
                ns.typ(),
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() || !p.exists() {
                return Err(invalid(
                    format!("linux.namespaces[{i}].path"),
                    "no such namespace file",
                    p.display(),
                ));
            }
        }
    }
    let userns = seen.contains(&LinuxNamespaceType::User);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let joins_user = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    if userns && !joins_user && !has_maps {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs mappings, got",
            "[]",
        ));
    }
    if !userns && has_maps {
        return Err(invalid(
            "linux.uidMappings",
            "mappings need a user namespace",
            "set",
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !seen.contains(&LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "hostname",
            "needs a new uts namespace",
            spec.hostname().clone().unwrap_or_default(),
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !seen.contains(&LinuxNamespaceType::Time)
    {
        return Err(invalid(
            "linux.timeOffsets",
            "needs a time namespace",
            "set",
        ));
    }
    Ok(())
}

const KNOWN_FS: &[&str] = &[
    "bind",
    "rbind",
    "none",
    "tmpfs",
    "proc",
    "sysfs",
    "mqueue",
    "devpts",
    "cgroup",
    "cgroup2",
    "overlay",
    "ramfs",
    "securityfs",
    "debugfs",
    "tracefs",
    "hugetlbfs",
    "fusectl",
    "binfmt_misc",
];

fn validate_mounts(spec: &Spec) -> Result<(), SpecError> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(invalid(
                format!("mounts[{i}].destination"),
                "must be absolute",
                m.destination().display(),
            ));
        }
        let is_bind = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
        let typ = m
            .typ()
            .as_deref()
            .unwrap_or(if is_bind { "bind" } else { "" });
        if !is_bind && !KNOWN_FS.contains(&typ) && !filesystem_known(typ) {
            return Err(invalid(
                format!("mounts[{i}].type"),
                "unknown filesystem type",
                typ,
            ));
        }
        let idmap = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap");
        if idmap && !namespace_types(spec).contains(&LinuxNamespaceType::User) {
            return Err(invalid(
                format!("mounts[{i}].options"),
                "needs a user namespace:",
                "idmap",
            ));
        }
        if idmap && !is_bind {
            return Err(invalid(
                format!("mounts[{i}].options"),
                "idmap works on bind mounts only, not",
                typ,
            ));
        }
        if is_bind && m.source().is_none() {
            return Err(invalid(
                format!("mounts[{i}].source"),
                "a bind mount needs a source",
                "null",
            ));
        }
        for o in m.options().iter().flatten() {
            // Unknown words are passed to the filesystem as data, as runc does.
            if o.is_empty() || o.contains(char::is_whitespace) {
                return Err(invalid(
                    format!("mounts[{i}].options"),
                    "invalid mount option",
                    o,
                ));
            }
        }
    }
    Ok(())
}

fn filesystem_known(typ: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|s| s.lines().any(|l| l.split_whitespace().last() == Some(typ)))
        .unwrap_or(false)
}

fn validate_sysctl(spec: &Spec) -> Result<(), SpecError> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let ns = namespace_types(spec);
    for key in sysctl.keys() {
        let needs = if key.starts_with("net.") {
            Some(LinuxNamespaceType::Network)
        } else if key.starts_with("fs.mqueue.")
            || [
                "kernel.msgmax",
                "kernel.msgmnb",
                "kernel.msgmni",
                "kernel.sem",
                "kernel.shmall",
                "kernel.shmmax",
                "kernel.shmmni",
                "kernel.shm_rmid_forced",
            ]
            .contains(&key.as_str())
        {
            Some(LinuxNamespaceType::Ipc)
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            Some(LinuxNamespaceType::Uts)
        } else {
            return Err(invalid(
                format!("linux.sysctl.{key}"),
                "is not namespaced; refusing to change the host's",
                key,
            ));
        };
        if let Some(t) = needs {
            if !ns.contains(&t) {
                return Err(invalid(
                    format!("linux.sysctl.{key}"),
                    "needs its own namespace to be set",
                    key,
                ));
            }
        }
    }
    Ok(())
}

fn validate_lsm(spec: &Spec) -> Result<(), SpecError> {
    if let Some(p) = spec.process() {
        validate_process_lsm(p)?;
    }
    let mount_label = spec.linux().as_ref().and_then(|l| l.mount_label().as_ref());
    if let Some(l) = mount_label.filter(|s| !s.is_empty()) {
        if !crate::lsm::selinux_enabled() {
            return Err(invalid(
                "linux.mountLabel",
                "SELinux is not enabled on this host; cannot apply",
                l,
            ));
        }
    }
    Ok(())
}

/// AppArmor profile and SELinux label of a process (the container's or an exec's) can only
/// be applied when that LSM is active; refuse them clearly otherwise.
pub fn validate_process_lsm(p: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    if let Some(profile) = p.apparmor_profile().as_ref().filter(|s| !s.is_empty()) {
        if !crate::lsm::apparmor_enabled() {
            return Err(invalid(
                "process.apparmorProfile",
                "AppArmor is not enabled on this host; cannot apply",
                profile,
            ));
        }
    }
    if let Some(l) = p.selinux_label().as_ref().filter(|s| !s.is_empty()) {
        if !crate::lsm::selinux_enabled() {
            return Err(invalid(
                "process.selinuxLabel",
                "SELinux is not enabled on this host; cannot apply",
                l,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<(), SpecError> {
        let spec: Spec = parse_json("config.json", v.to_string().as_bytes())?;
        validate(&spec)
    }

    #[test]
    fn table() {
        type Case = (fn(&mut serde_json::Value), Option<&'static str>);
        let cases: Vec<Case> = vec![
            (|_| {}, None),
            (
                |v| v["linux"]["namespaces"][1]["type"] = "pid".into(),
                Some("duplicate namespace type \"pid\""),
            ),
            (
                |v| v["linux"]["namespaces"][1]["type"] = "bogus".into(),
                Some("linux.namespaces[1].type"),
            ),
            (
                |v| v["process"]["args"] = serde_json::json!([]),
                Some("process.args"),
            ),
            (|v| v["process"]["cwd"] = "rel".into(), Some("process.cwd")),
            (
                |v| v["hostname"] = "h".into(),
                Some("needs a new uts namespace"),
            ),
            (
                |v| v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_NOPE"]}),
                Some("process.capabilities.bounding"),
            ),
            (
                |v| v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"}),
                Some("needs its own namespace"),
            ),
            (
                |v| v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"}),
                Some("not namespaced"),
            ),
            (
                |v| v["mounts"] = serde_json::json!([{"destination": "rel", "type": "tmpfs"}]),
                Some("mounts[0].destination"),
            ),
            (
                |v| v["mounts"] = serde_json::json!([{"destination": "/x", "type": "nofs"}]),
                Some("unknown filesystem type \"nofs\""),
            ),
            (
                |v| v["mounts"] = serde_json::json!([{"destination": "/x", "type": "bind", "source": "/tmp", "options": ["rbind", "idmap"]}]),
                Some("mounts[0].options: needs a user namespace: \"idmap\""),
            ),
            (
                |v| v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}]),
                Some("needs mappings"),
            ),
            (
                |v| {
                    v["linux"]["uidMappings"] =
                        serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}])
                },
                Some("need a user namespace"),
            ),
            (
                |v| v["process"]["apparmorProfile"] = "p".into(),
                Some("AppArmor"),
            ),
            (
                |v| v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["nosuchcall"], "action": "SCMP_ACT_ERRNO"}]}),
                Some("linux.seccomp.syscalls[0].names: unknown syscall \"nosuchcall\""),
            ),
            (
                |v| v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd", "nosuchcall"], "action": "SCMP_ACT_ERRNO"}]}),
                None,
            ),
        ];
        for (i, (edit, want)) in cases.into_iter().enumerate() {
            let mut v = base();
            edit(&mut v);
            let got = check(v);
            match (got, want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "case {i}: {e} lacks {w}"),
                (g, w) => panic!("case {i}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn malformed_json_names_position() {
        let e = parse_json::<Spec>("config.json", b"{\"ociVersion\": ").unwrap_err();
        assert!(e.to_string().starts_with("config.json: "), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
