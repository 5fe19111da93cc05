//! What `inspect` shows under `.Berth.Security`: what the container's process runs with,
//! resolved (not the options as given, which `.HostConfig.SecurityOpt` shows).

use serde_json::{json, Value};

use super::{describe, Lsm, SecurityOpts};
use crate::config::HostConfig;

/// The security section of a container with host config `h`, on a host whose active LSMs
/// are `lsm`:
/// - `Capabilities`: the final set (bounding, permitted and effective of its process);
/// - `Seccomp`: `Mode` (`filter` or `disabled`), `Profile` and `Sha256` (see `describe`);
/// - `NoNewPrivileges`, `AppArmorProfile`, `SELinuxLabel`, `MountLabel` (empty when none);
/// - `MaskedPaths`, `ReadonlyPaths`;
/// - `IDMappings`: the user namespace's mappings, from the config's `IDMappings` when it
///   has one, else null (no user namespace).
///
/// An option that no longer parses (a store written by another version) shows as the
/// defaults rather than failing the whole inspect.
pub fn summary(h: &HostConfig, lsm: Lsm) -> Value {
    let caps = crate::spec::final_caps(h).unwrap_or_default();
    let o =
        SecurityOpts::parse(&h.security_opt).unwrap_or_else(|_| SecurityOpts::parse(&[]).unwrap());
    let mut seccomp = describe(h, &caps);
    let filtered = !seccomp["Sha256"].as_str().unwrap_or("").is_empty();
    seccomp["Mode"] = json!(if filtered { "filter" } else { "disabled" });
    let selinux = |l: Option<String>| l.filter(|_| lsm.selinux).unwrap_or_default();
    let id_mappings = serde_json::to_value(h)
        .ok()
        .and_then(|v| v.get("IDMappings").cloned())
        .filter(|m| m["UidMap"].as_array().is_some_and(|a| !a.is_empty()))
        .unwrap_or(Value::Null);
    json!({
        "Capabilities": caps,
        "Privileged": h.privileged,
        "Seccomp": seccomp,
        "NoNewPrivileges": o.no_new_privileges,
        "AppArmorProfile": o.apparmor_profile(lsm).unwrap_or_default(),
        "SELinuxLabel": selinux(o.label.process()),
        "MountLabel": selinux(o.label.mount()),
        "MaskedPaths": o.masked_paths(h.privileged),
        "ReadonlyPaths": o.readonly_paths(h.privileged),
        "IDMappings": id_mappings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_resolves_the_options() {
        let h = HostConfig {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["chown".into()],
            security_opt: vec![
                "no-new-privileges".into(),
                "unmask=/proc/kcore".into(),
                "seccomp=unconfined".into(),
                "label=type:t".into(),
            ],
            ..Default::default()
        };
        let s = summary(&h, Lsm::default());
        assert_eq!(s["Capabilities"], json!(["CAP_CHOWN"]));
        assert_eq!(s["NoNewPrivileges"], true);
        assert_eq!(s["Seccomp"]["Mode"], "disabled");
        assert_eq!(s["Seccomp"]["Profile"], "unconfined");
        assert_eq!(
            s["SELinuxLabel"], "",
            "no SELinux on this host: nothing applied"
        );
        let with = summary(
            &h,
            Lsm {
                apparmor: false,
                selinux: true,
            },
        );
        assert_eq!(with["SELinuxLabel"], "system_u:system_r:t:s0");
        assert!(!s["MaskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert_eq!(s["IDMappings"], Value::Null);
        let d = summary(&HostConfig::default(), Lsm::default());
        assert_eq!(d["Seccomp"]["Mode"], "filter");
        assert_eq!(d["Capabilities"].as_array().unwrap().len(), 14);
        assert_eq!(d["NoNewPrivileges"], false);
    }
}
