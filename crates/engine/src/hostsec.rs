//! The running kernel's security features, as `info` shows them: Docker's
//! `SecurityOptions` list and berth's own `SecurityFeatures` section.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

/// What the kernel offers for confining containers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// CONFIG_SECCOMP: /proc/self/status has a `Seccomp:` line.
    pub seccomp: bool,
    /// Filter mode (CONFIG_SECCOMP_FILTER): the kernel lists the filter actions it has.
    pub seccomp_filter: bool,
    /// /proc/sys/kernel/seccomp/actions_avail.
    pub seccomp_actions: Vec<String>,
    /// prctl(PR_SET_NO_NEW_PRIVS) exists (3.5+): /proc/self/status has `NoNewPrivs:`.
    pub no_new_privs: bool,
    /// /proc/sys/user/max_user_namespaces (None: no user namespaces).
    pub max_user_namespaces: Option<u64>,
    /// Debian's and Ubuntu's kernel.unprivileged_userns_clone, where the kernel has it.
    pub unprivileged_userns_clone: Option<bool>,
    /// The Landlock ABI version.
    pub landlock_abi: Option<u32>,
    /// Why there is none.
    pub landlock_reason: String,
    /// AppArmor is enabled.
    pub apparmor: bool,
    /// SELinux: None when off, else whether it enforces.
    pub selinux: Option<bool>,
    /// Cgroup namespaces (4.6+).
    pub cgroupns: bool,
    /// mount_setattr(2) and so idmapped mounts (5.12+).
    pub idmapped_mounts: bool,
}

impl Features {
    /// Reads the running host.
    pub fn read() -> Features {
        let text = |p: &str| fs::read_to_string(p).ok();
        let status = text("/proc/self/status").unwrap_or_default();
        let has = |field: &str| status.lines().any(|l| l.starts_with(field));
        let actions = text("/proc/sys/kernel/seccomp/actions_avail");
        let landlock = berth_sys::lsm::landlock_abi_version();
        let landlock_reason = match landlock.as_ref().err().map(|e| e.raw_os_error()) {
            None => String::new(),
            Some(Some(libc::EOPNOTSUPP)) => "disabled at boot".into(),
            Some(Some(libc::ENOSYS)) => "not in this kernel".into(),
            Some(_) => landlock.as_ref().unwrap_err().to_string(),
        };
        Features {
            seccomp: has("Seccomp:"),
            seccomp_filter: actions.is_some() || has("Seccomp_filters:"),
            seccomp_actions: actions
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect(),
            no_new_privs: has("NoNewPrivs:"),
            max_user_namespaces: Path::new("/proc/self/ns/user")
                .exists()
                .then(|| number(text("/proc/sys/user/max_user_namespaces")))
                .flatten(),
            unprivileged_userns_clone: number(text("/proc/sys/kernel/unprivileged_userns_clone"))
                .map(|n| n != 0),
            landlock_abi: landlock.ok(),
            landlock_reason,
            apparmor: berth_runtime::lsm::apparmor_enabled(),
            selinux: berth_runtime::lsm::selinux_enabled()
                .then(|| number(text("/sys/fs/selinux/enforce")) == Some(1)),
            cgroupns: Path::new("/proc/self/ns/cgroup").exists(),
            idmapped_mounts: berth_sys::lsm::has_mount_setattr(),
        }
    }

    /// User namespaces can be made (by root at least).
    pub fn userns(&self) -> bool {
        self.max_user_namespaces.is_some_and(|n| n > 0)
    }

    /// Docker's `SecurityOptions` entries (`name=seccomp,profile=builtin`, ...).
    pub fn security_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.apparmor {
            out.push("name=apparmor".to_string());
        }
        if self.seccomp_filter {
            out.push("name=seccomp,profile=builtin".to_string());
        }
        if self.selinux.is_some() {
            out.push("name=selinux".to_string());
        }
        if self.userns() {
            out.push("name=userns".to_string());
        }
        if self.cgroupns {
            out.push("name=cgroupns".to_string());
        }
        out
    }

    /// `SecurityFeatures`: every feature, for `--format` and the text section.
    pub fn to_json(&self) -> Value {
        json!({
            "Seccomp": {
                "Enabled": self.seccomp,
                "Filter": self.seccomp_filter,
                "Actions": self.seccomp_actions,
            },
            "NoNewPrivileges": self.no_new_privs,
            "UserNamespaces": {
                "Enabled": self.userns(),
                "MaxUserNamespaces": self.max_user_namespaces,
                "UnprivilegedUsernsClone": self.unprivileged_userns_clone,
            },
            "Landlock": {
                "Enabled": self.landlock_abi.is_some(),
                "ABI": self.landlock_abi,
                "Reason": self.landlock_reason,
            },
            "AppArmor": {"Enabled": self.apparmor},
            "SELinux": {"Enabled": self.selinux.is_some(), "Enforcing": self.selinux.unwrap_or(false)},
            "CgroupNamespaces": self.cgroupns,
            "IDMappedMounts": self.idmapped_mounts,
        })
    }
}

fn number(s: Option<String>) -> Option<u64> {
    s?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_options_list_what_the_host_has() {
        let h = Features {
            seccomp: true,
            seccomp_filter: true,
            cgroupns: true,
            max_user_namespaces: Some(0),
            landlock_reason: "not in this kernel".into(),
            ..Features::default()
        };
        assert_eq!(
            h.security_options(),
            ["name=seccomp,profile=builtin", "name=cgroupns"]
        );
        let all = Features {
            apparmor: true,
            selinux: Some(false),
            max_user_namespaces: Some(10),
            ..h.clone()
        };
        assert_eq!(all.security_options().len(), 5);
        let j = h.to_json();
        assert_eq!(j["Landlock"]["Enabled"], false);
        assert_eq!(j["Landlock"]["Reason"], "not in this kernel");
        assert_eq!(j["UserNamespaces"]["Enabled"], false);
    }

    #[test]
    fn this_host_reads() {
        let f = Features::read();
        // Every kernel berth supports has seccomp filters and no_new_privs.
        assert!(f.seccomp && f.seccomp_filter && f.no_new_privs, "{f:?}");
        assert!(f.seccomp_actions.contains(&"errno".to_string()), "{f:?}");
    }
}
