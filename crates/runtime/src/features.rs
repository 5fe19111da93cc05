//! `berth-runtime features`: the OCI runtime features document.
//!
//! The document tells callers (containerd, CRI-O, Podman) what this runtime understands
//! (runtime-spec `features.md`). Each list is read from the code that implements it rather
//! than written out here, so it cannot drift: seccomp names come from the seccomp
//! compiler's tables, mount options from the rootfs option parser, capabilities from the
//! running kernel. A field is left out when berth cannot tell; the spec reads a missing
//! field as "unknown", never as "unsupported".

use oci_spec::runtime::LinuxNamespaceType;
use serde_json::{json, Value};

use crate::rootfs::flags::parse_option;
use crate::seccomp;

/// Hooks the runtime runs (`prestart` is deprecated in the spec but still honoured).
const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Every mount option word runtimes are known to accept (runc's `KnownMountOptions`
/// plus `defaults`); the document lists those the rootfs parser actually recognises.
const MOUNT_OPTION_CANDIDATES: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Every namespace type in the runtime spec; berth implements all of them.
const NAMESPACES: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Time,
];

/// The features document for this build on this kernel.
pub fn features_json() -> Value {
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "io.berth.runtime.version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        annotations.insert(
            "io.github.seccomp.libseccomp.version".into(),
            format!("{}.{}.{}", v.major, v.minor, v.micro).into(),
        );
    }
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": HOOKS,
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities(),
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false,
            },
            "seccomp": {
                "enabled": true,
                "actions": seccomp::known_actions(),
                "operators": seccomp::known_operators(),
                "archs": seccomp::known_archs(),
                "knownFlags": seccomp::known_flags(),
                "supportedFlags": seccomp::supported_flags(),
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } },
        },
        "annotations": annotations,
    })
}

/// The candidates the rootfs option parser recognises, sorted and without duplicates.
fn mount_options() -> Vec<&'static str> {
    let mut out: Vec<&str> = MOUNT_OPTION_CANDIDATES
        .iter()
        .copied()
        .filter(|w| parse_option(w).is_some())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Capabilities the running kernel knows (probed with PR_CAPBSET_READ), sorted by number.
fn capabilities() -> Vec<String> {
    let mut caps: Vec<_> = caps::runtime::thread_all_supported().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    caps.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_parses_as_oci_features() {
        let doc = features_json();
        let parsed: oci_spec::runtime::Features =
            serde_json::from_value(doc.clone()).expect("oci-spec Features");
        assert_eq!(parsed.oci_version_min(), "1.0.0");
        let linux = parsed.linux().as_ref().expect("linux");
        assert_eq!(linux.namespaces().as_ref().map(Vec::len), Some(8));
        assert_eq!(doc["linux"]["cgroup"]["v1"], true);
        assert_eq!(doc["linux"]["mountExtensions"]["idmap"]["enabled"], true);
        assert_eq!(doc["linux"]["apparmor"]["enabled"], false);
    }

    #[test]
    fn namespaces_use_spec_names() {
        let doc = features_json();
        let want = [
            "mount", "cgroup", "uts", "ipc", "user", "pid", "network", "time",
        ];
        assert_eq!(doc["linux"]["namespaces"], json!(want));
    }

    #[test]
    fn seccomp_lists_come_from_the_compiler_tables() {
        let doc = features_json();
        let sc = &doc["linux"]["seccomp"];
        assert_eq!(sc["actions"], json!(seccomp::known_actions()));
        assert_eq!(sc["operators"], json!(seccomp::known_operators()));
        assert!(sc["archs"]
            .as_array()
            .expect("archs")
            .contains(&json!("SCMP_ARCH_X86_64")));
        let known = sc["knownFlags"].as_array().expect("known");
        for f in sc["supportedFlags"].as_array().expect("supported") {
            assert!(known.contains(f), "{f} supported but not known");
        }
        for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_NOTIFY", "SCMP_ACT_ERRNO"] {
            assert!(
                sc["actions"].as_array().unwrap().contains(&json!(action)),
                "{action}"
            );
        }
    }

    #[test]
    fn every_advertised_arch_compiles() {
        for arch in seccomp::known_archs() {
            let s = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": [arch],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
            }))
            .expect("profile");
            seccomp::compile(&s).unwrap_or_else(|e| panic!("{arch}: {e}"));
        }
    }

    #[test]
    fn every_supported_flag_compiles() {
        for flag in seccomp::supported_flags() {
            let s = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "flags": [flag],
            }))
            .expect("profile");
            seccomp::compile(&s).unwrap_or_else(|e| panic!("{flag}: {e}"));
        }
    }

    #[test]
    fn mount_options_and_capabilities() {
        let doc = features_json();
        let opts = doc["mountOptions"].as_array().expect("mountOptions");
        for o in ["ro", "nosuid", "rbind", "rprivate", "rro", "idmap"] {
            assert!(opts.contains(&json!(o)), "{o} missing");
        }
        for o in opts {
            assert!(
                parse_option(o.as_str().expect("string")).is_some(),
                "{o} not parsed"
            );
        }
        let caps = doc["linux"]["capabilities"]
            .as_array()
            .expect("capabilities");
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.contains(&json!("CAP_SYS_ADMIN")));
        assert_eq!(doc["hooks"].as_array().map(Vec::len), Some(6));
    }
}
