//! `--security-opt` values, parsed in one place with Docker's spellings (and podman's
//! `mask=`/`unmask=`), and what they make of the container's masked and read-only paths
//! and of its LSM labels.
//!
//! - `no-new-privileges`, `no-new-privileges=true|false` (or `:true`);
//! - `seccomp=builtin|unconfined|<inline profile>` (a `seccomp=PATH` is made inline at
//!   create, see `super::prepare`);
//! - `systempaths=unconfined`: no masked or read-only /proc and /sys paths;
//! - `mask=/a:/b`: more masked paths; `unmask=ALL` or `unmask=/proc/kcore:...`: the listed
//!   default masked or read-only paths (all of them for `ALL`) are left alone, as podman;
//! - `label=user:U|role:R|type:T|level:L|filetype:F|disable|nested`: SELinux labels;
//! - `apparmor=PROFILE|unconfined`.
//!
//! Labels and profiles are applied only where their LSM is active: elsewhere they are
//! refused at create, except `label=disable` and `apparmor=unconfined`, which mean what
//! the host already does (Docker accepts them everywhere too).

use crate::error::{Error, Result};
use crate::spec::{MASKED_PATHS, READONLY_PATHS};

use super::Seccomp;

pub(super) const FLAG: &str = "--security-opt";

/// `--security-opt` values, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityOpts {
    /// `no-new-privileges[=true]`.
    pub no_new_privileges: bool,
    /// `seccomp=...`.
    pub seccomp: Seccomp,
    /// `systempaths=unconfined`: no masked or read-only /proc and /sys paths.
    pub systempaths_unconfined: bool,
    /// `mask=`: paths masked on top of the defaults.
    pub mask: Vec<String>,
    /// `unmask=`: default masked or read-only paths left alone.
    pub unmask: Unmask,
    /// `label=`.
    pub label: Label,
    /// `apparmor=`.
    pub apparmor: Option<String>,
}

/// Which default masked and read-only paths `unmask=` leaves alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Unmask {
    /// None.
    #[default]
    None,
    /// These.
    Paths(Vec<String>),
    /// `unmask=ALL`.
    All,
}

/// `label=` parts (SELinux).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Label {
    /// `user:`.
    pub user: Option<String>,
    /// `role:`.
    pub role: Option<String>,
    /// `type:` (the process's domain).
    pub kind: Option<String>,
    /// `level:` (MLS/MCS).
    pub level: Option<String>,
    /// `filetype:` (the type of the container's files).
    pub filetype: Option<String>,
    /// `disable`: no labels at all.
    pub disable: bool,
    /// `nested`: allow containers inside.
    pub nested: bool,
}

impl Label {
    /// Some part was given that only SELinux can apply.
    pub fn needs_selinux(&self) -> bool {
        !self.disable && *self != Label::default()
    }

    /// The process label (`user:role:type:level`), the given parts over the usual
    /// container defaults; `None` when nothing was asked or labels are disabled.
    pub fn process(&self) -> Option<String> {
        if !self.needs_selinux() {
            return None;
        }
        let kind = match (&self.kind, self.nested) {
            (Some(t), _) => t.as_str(),
            (None, true) => "container_engine_t",
            (None, false) => "container_t",
        };
        Some(format!(
            "{}:{}:{kind}:{}",
            self.user.as_deref().unwrap_or("system_u"),
            self.role.as_deref().unwrap_or("system_r"),
            self.level.as_deref().unwrap_or("s0")
        ))
    }

    /// The label of the container's files (`linux.mountLabel`).
    pub fn mount(&self) -> Option<String> {
        self.process()?;
        Some(format!(
            "{}:object_r:{}:{}",
            self.user.as_deref().unwrap_or("system_u"),
            self.filetype.as_deref().unwrap_or("container_file_t"),
            self.level.as_deref().unwrap_or("s0")
        ))
    }
}

/// The Linux security modules active on the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lsm {
    /// AppArmor is enabled.
    pub apparmor: bool,
    /// SELinux is enabled.
    pub selinux: bool,
}

impl Lsm {
    /// What the running host has (the runtime's own test, so both agree).
    pub fn host() -> Lsm {
        Lsm {
            apparmor: berth_runtime::lsm::apparmor_enabled(),
            selinux: berth_runtime::lsm::selinux_enabled(),
        }
    }
}

impl SecurityOpts {
    /// Parse the options as Docker's daemon accepts them (`key=value`, or the older
    /// `key:value`); anything else is one error naming the option.
    pub fn parse(opts: &[String]) -> Result<SecurityOpts> {
        let mut out = SecurityOpts {
            no_new_privileges: false,
            seccomp: Seccomp::Builtin,
            systempaths_unconfined: false,
            mask: vec![],
            unmask: Unmask::None,
            label: Label::default(),
            apparmor: None,
        };
        for o in opts {
            out.apply(o)
                .map_err(|reason| Error::invalid(FLAG, o, reason))?;
        }
        Ok(out)
    }

    fn apply(&mut self, o: &str) -> std::result::Result<(), String> {
        if o == "no-new-privileges" {
            self.no_new_privileges = true;
            return Ok(());
        }
        let kv = o.split_once('=').or_else(|| o.split_once(':'));
        let Some((key, value)) = kv.filter(|(_, v)| !v.is_empty()) else {
            return Err("expected KEY=VALUE".into());
        };
        match key {
            "no-new-privileges" => {
                self.no_new_privileges = parse_bool(value).ok_or("expected true or false")?
            }
            "seccomp" => {
                self.seccomp =
                    match value {
                        "unconfined" => Seccomp::Unconfined,
                        "builtin" => Seccomp::Builtin,
                        v if v.trim_start().starts_with('{') => Seccomp::Profile(v.to_string()),
                        _ => return Err(
                            "the profile file was not read at create (give its path to run/create)"
                                .into(),
                        ),
                    }
            }
            "systempaths" if value == "unconfined" => self.systempaths_unconfined = true,
            "systempaths" => return Err("the only value is `unconfined`".into()),
            "mask" => {
                for p in value.split(':') {
                    check_path(p)?;
                    if !self.mask.iter().any(|m| m == p) {
                        self.mask.push(p.to_string());
                    }
                }
            }
            "unmask" if value == "ALL" => self.unmask = Unmask::All,
            "unmask" => self.unmask_paths(value)?,
            "label" => self.label_part(value)?,
            "apparmor" => self.apparmor = Some(value.to_string()),
            _ => {
                return Err(
                    "unknown option (known: no-new-privileges, seccomp=, systempaths=unconfined, \
                            mask=, unmask=, label=, apparmor=)"
                        .into(),
                )
            }
        }
        Ok(())
    }

    fn unmask_paths(&mut self, value: &str) -> std::result::Result<(), String> {
        for p in value.split(':') {
            check_path(p)?;
            if !MASKED_PATHS.contains(&p) && !READONLY_PATHS.contains(&p) {
                return Err(format!(
                    "`{p}` is not a masked or read-only path (masked: {}; read-only: {})",
                    MASKED_PATHS.join(":"),
                    READONLY_PATHS.join(":")
                ));
            }
            match &mut self.unmask {
                Unmask::All => {}
                Unmask::None => self.unmask = Unmask::Paths(vec![p.to_string()]),
                Unmask::Paths(v) => v.push(p.to_string()),
            }
        }
        Ok(())
    }

    fn label_part(&mut self, value: &str) -> std::result::Result<(), String> {
        let l = &mut self.label;
        match value.split_once(':') {
            None if value == "disable" => l.disable = true,
            None if value == "nested" => l.nested = true,
            Some((k, v)) if !v.is_empty() => {
                let slot = match k {
                    "user" => &mut l.user,
                    "role" => &mut l.role,
                    "type" => &mut l.kind,
                    "level" => &mut l.level,
                    "filetype" => &mut l.filetype,
                    _ => return Err(format!("unknown label part `{k}`")),
                };
                *slot = Some(v.to_string());
            }
            _ => {
                return Err(
                    "expected user:U, role:R, type:T, level:L, filetype:F, disable or nested"
                        .into(),
                )
            }
        }
        Ok(())
    }

    /// The options that `lsm` cannot apply, refused with the option as the user gave it.
    pub fn check_lsm(opts: &[String], lsm: Lsm) -> Result<()> {
        for o in opts {
            let one = SecurityOpts::parse(std::slice::from_ref(o))?;
            if one.label.needs_selinux() && !lsm.selinux {
                return Err(Error::invalid(
                    FLAG,
                    o,
                    "SELinux is not enabled on this host (only label=disable is accepted)",
                ));
            }
            if one.apparmor.as_deref().is_some_and(|p| p != "unconfined") && !lsm.apparmor {
                return Err(Error::invalid(
                    FLAG,
                    o,
                    "AppArmor is not enabled on this host (only apparmor=unconfined is accepted)",
                ));
            }
        }
        Ok(())
    }

    /// The AppArmor profile to put in the spec: only where AppArmor runs.
    pub fn apparmor_profile(&self, lsm: Lsm) -> Option<String> {
        self.apparmor.clone().filter(|_| lsm.apparmor)
    }

    /// The masked paths: Docker's defaults (none when privileged or
    /// `systempaths=unconfined`) less `unmask=`, plus `mask=`.
    pub fn masked_paths(&self, privileged: bool) -> Vec<String> {
        let mut out = self.defaults(&MASKED_PATHS, privileged);
        for m in &self.mask {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }

    /// The read-only paths: Docker's defaults (none when privileged or
    /// `systempaths=unconfined`) less `unmask=`.
    pub fn readonly_paths(&self, privileged: bool) -> Vec<String> {
        self.defaults(&READONLY_PATHS, privileged)
    }

    fn defaults(&self, list: &[&str], privileged: bool) -> Vec<String> {
        if privileged || self.systempaths_unconfined {
            return vec![];
        }
        list.iter()
            .filter(|p| match &self.unmask {
                Unmask::None => true,
                Unmask::All => false,
                Unmask::Paths(v) => !v.iter().any(|u| u == *p),
            })
            .map(|p| p.to_string())
            .collect()
    }
}

/// An absolute path with no `..` (the runtime resolves it inside the rootfs).
fn check_path(p: &str) -> std::result::Result<(), String> {
    if !p.starts_with('/') || p.split('/').any(|c| c == "..") || p == "/" {
        return Err(format!(
            "`{p}` must be an absolute path below / without `..`"
        ));
    }
    Ok(())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Result<SecurityOpts> {
        SecurityOpts::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn docker_spellings_parse() {
        let o = opts(&["no-new-privileges", "seccomp=unconfined", "label=disable"]).unwrap();
        assert!(o.no_new_privileges && o.seccomp == Seccomp::Unconfined && o.label.disable);
        assert!(
            !opts(&["no-new-privileges:false"])
                .unwrap()
                .no_new_privileges
        );
        assert!(opts(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(opts(&["no-new-privileges:true"]).unwrap().no_new_privileges);
        assert!(
            opts(&["systempaths=unconfined"])
                .unwrap()
                .systempaths_unconfined
        );
        let l = opts(&[
            "label=user:u",
            "label:role:r",
            "label=type:t",
            "label=level:s0:c1,c2",
        ])
        .unwrap()
        .label;
        assert_eq!(l.process().as_deref(), Some("u:r:t:s0:c1,c2"));
        assert_eq!(
            l.mount().as_deref(),
            Some("u:object_r:container_file_t:s0:c1,c2")
        );
        assert_eq!(opts(&["label=disable"]).unwrap().label.process(), None);
        assert_eq!(
            opts(&["apparmor=unconfined"]).unwrap().apparmor.as_deref(),
            Some("unconfined")
        );
    }

    #[test]
    fn bad_options_name_themselves() {
        for bad in [
            "bogus=1",
            "nokey",
            "foo",
            "no-new-privileges=maybe",
            "systempaths=confined",
            "mask=relative",
            "mask=/proc/../etc",
            "unmask=/etc/passwd",
            "label=color:red",
            "label=user:",
            "label=enable",
            "seccomp=",
        ] {
            let e = opts(&[bad]).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid --security-opt `{bad}`: ")),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn masked_and_readonly_paths() {
        let d = opts(&[]).unwrap();
        assert_eq!(d.masked_paths(false), strings(&MASKED_PATHS));
        assert_eq!(d.readonly_paths(false), strings(&READONLY_PATHS));
        assert!(d.masked_paths(true).is_empty() && d.readonly_paths(true).is_empty());
        let o = opts(&[
            "mask=/etc/secret:/proc/kcore",
            "unmask=/proc/kcore:/proc/sys",
        ])
        .unwrap();
        let m = o.masked_paths(false);
        assert!(m.contains(&"/etc/secret".to_string()));
        assert!(
            m.contains(&"/proc/kcore".to_string()),
            "mask= wins over unmask="
        );
        assert!(!o.readonly_paths(false).contains(&"/proc/sys".to_string()));
        let o = opts(&["unmask=/proc/keys"]).unwrap();
        assert!(!o.masked_paths(false).contains(&"/proc/keys".to_string()));
        assert_eq!(o.masked_paths(false).len(), MASKED_PATHS.len() - 1);
        let all = opts(&["unmask=ALL", "mask=/x"]).unwrap();
        assert_eq!(all.masked_paths(false), ["/x"]);
        assert!(all.readonly_paths(false).is_empty());
        let sp = opts(&["systempaths=unconfined", "mask=/x"]).unwrap();
        assert_eq!(sp.masked_paths(false), ["/x"]);
        assert!(sp.readonly_paths(false).is_empty());
    }

    #[test]
    fn lsm_options_need_their_lsm() {
        let none = Lsm::default();
        let both = Lsm {
            apparmor: true,
            selinux: true,
        };
        for ok in ["label=disable", "apparmor=unconfined", "no-new-privileges"] {
            SecurityOpts::check_lsm(&strings(&[ok]), none).unwrap();
        }
        for (bad, lsm) in [
            ("label=type:spc_t", "SELinux"),
            ("label=nested", "SELinux"),
            ("apparmor=docker-default", "AppArmor"),
        ] {
            let e = SecurityOpts::check_lsm(&strings(&[bad]), none)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!(
                    "invalid --security-opt `{bad}`: {lsm} is not enabled"
                )),
                "{e}"
            );
            SecurityOpts::check_lsm(&strings(&[bad]), both).unwrap();
        }
        let o = opts(&["apparmor=p"]).unwrap();
        assert_eq!(o.apparmor_profile(none), None);
        assert_eq!(o.apparmor_profile(both).as_deref(), Some("p"));
    }
}
