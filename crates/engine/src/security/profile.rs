//! Docker's seccomp profile format, turned into the OCI `linux.seccomp` for one container.
//!
//! The format (moby `profiles/seccomp`): `defaultAction`, `defaultErrnoRet`,
//! `architectures` or `archMap` (the native architecture's entry and its
//! `subArchitectures`), `flags`, `listenerPath`, `listenerMetadata`, and `syscalls`, each
//! with `names` (or the older single `name`), `action`, `errnoRet`, `args` (`index`,
//! `value`, `valueTwo`, `op`), `comment`, and `includes`/`excludes` conditions:
//! - `caps`: includes needs every listed capability in the container's bounding set,
//!   excludes drops the rule when any of them is there;
//! - `arches`: Go's names (`amd64`, `arm64`, `x32`, ...) matched against the native one;
//! - `minKernel`: `MAJOR.MINOR` compared with the running kernel.
//!
//! Resolving these against the container gives a plain list of rules, which the runtime
//! compiles. Names are checked here so a mistake is reported against the profile's own
//! field (`syscalls[3].action`); syscall names are not checked: as in Docker, a name the
//! runtime's libseccomp does not know is skipped (the runtime's ENOSYS stub then covers it
//! when its number is above libseccomp's table).

use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

/// A profile as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(deserialize_with = "nullable")]
    architectures: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    arch_map: Vec<ArchMap>,
    #[serde(deserialize_with = "nullable")]
    flags: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    listener_path: String,
    #[serde(deserialize_with = "nullable")]
    listener_metadata: String,
    #[serde(deserialize_with = "nullable")]
    syscalls: Vec<Syscall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ArchMap {
    architecture: String,
    #[serde(deserialize_with = "nullable")]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Syscall {
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(deserialize_with = "nullable")]
    args: Vec<Arg>,
    #[serde(deserialize_with = "nullable")]
    includes: Filter,
    #[serde(deserialize_with = "nullable")]
    excludes: Filter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Arg {
    index: u32,
    value: u64,
    value_two: u64,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Filter {
    #[serde(deserialize_with = "nullable")]
    caps: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    arches: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    min_kernel: String,
}

/// Go writes empty lists and objects as `null`; read that as empty.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What the rules are resolved against.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The container's bounding set (`CAP_*` names).
    pub caps: &'a [String],
    /// libseccomp's name of the native architecture (`SCMP_ARCH_X86_64`).
    pub scmp_arch: &'a str,
    /// Go's name of it (`amd64`).
    pub go_arch: &'a str,
    /// The running kernel's (major, minor).
    pub kernel: (u32, u32),
}

impl Target<'_> {
    /// This machine's architecture names and kernel version, with `caps`.
    pub fn host(caps: &[String]) -> Target<'_> {
        let (scmp_arch, go_arch) = native_arch();
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Target {
            caps,
            scmp_arch,
            go_arch,
            kernel: kernel_version(&release).unwrap_or((0, 0)),
        }
    }
}

/// (libseccomp name, Go name) of the architecture this binary runs on.
fn native_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "x86" => ("SCMP_ARCH_X86", "386"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "arm" => ("SCMP_ARCH_ARM", "arm"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "powerpc64" if cfg!(target_endian = "little") => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        "powerpc64" => ("SCMP_ARCH_PPC64", "ppc64"),
        "loongarch64" => ("SCMP_ARCH_LOONGARCH64", "loong64"),
        "mips64" if cfg!(target_endian = "little") => ("SCMP_ARCH_MIPSEL64", "mips64le"),
        "mips64" => ("SCMP_ARCH_MIPS64", "mips64"),
        other => (other, other),
    }
}

/// `6.18.0-1-amd64` -> (6, 18).
fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

impl Profile {
    /// Parse `text`; errors name the field (`syscalls[2].args[0].value: invalid type ...`).
    pub fn parse(text: &str) -> Result<Profile, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("not a seccomp profile: {inner}")
            } else {
                format!("{path}: {inner}")
            }
        })
    }

    /// The OCI `linux.seccomp` object for `t`, or an error naming the profile's field.
    pub fn resolve(&self, t: &Target) -> Result<Value, String> {
        let actions = berth_runtime::seccomp::known_actions();
        let ops = berth_runtime::seccomp::known_operators();
        if !actions.contains(&self.default_action) {
            return Err(format!(
                "defaultAction: unknown action {:?} (one of {})",
                self.default_action,
                actions.join(", ")
            ));
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err("both `architectures` and `archMap` are given; use one".into());
        }
        let mut out = Map::new();
        out.insert("defaultAction".into(), json!(self.default_action));
        if let Some(e) = self.default_errno_ret {
            out.insert("defaultErrnoRet".into(), json!(e));
        }
        let arches = self.arches(t);
        if !arches.is_empty() {
            out.insert("architectures".into(), json!(arches));
        }
        if !self.flags.is_empty() {
            out.insert("flags".into(), json!(self.flags));
        }
        if !self.listener_path.is_empty() {
            out.insert("listenerPath".into(), json!(self.listener_path));
        }
        if !self.listener_metadata.is_empty() {
            out.insert("listenerMetadata".into(), json!(self.listener_metadata));
        }
        let mut rules = vec![];
        for (i, sc) in self.syscalls.iter().enumerate() {
            if let Some(r) = sc.resolve(i, t, &actions, &ops)? {
                rules.push(r);
            }
        }
        out.insert("syscalls".into(), Value::Array(rules));
        Ok(Value::Object(out))
    }

    /// `architectures` as given, or the native entry of `archMap` with its sub-arches.
    fn arches(&self, t: &Target) -> Vec<String> {
        if !self.architectures.is_empty() {
            return self.architectures.clone();
        }
        self.arch_map
            .iter()
            .filter(|m| m.architecture == t.scmp_arch)
            .flat_map(|m| std::iter::once(&m.architecture).chain(&m.sub_architectures))
            .cloned()
            .collect()
    }
}

impl Syscall {
    /// Rule `i` checked, and as the OCI rule when it applies to `t` (`None`: left out).
    fn resolve(
        &self,
        i: usize,
        t: &Target,
        actions: &[String],
        ops: &[String],
    ) -> Result<Option<Value>, String> {
        let at = |field: &str| format!("syscalls[{i}].{field}");
        if !actions.contains(&self.action) {
            return Err(format!(
                "{}: unknown action {:?}",
                at("action"),
                self.action
            ));
        }
        for (j, a) in self.args.iter().enumerate() {
            if !ops.contains(&a.op) {
                return Err(format!(
                    "{}: unknown operator {:?} (one of {})",
                    at(&format!("args[{j}].op")),
                    a.op,
                    ops.join(", ")
                ));
            }
            if a.index > 5 {
                return Err(format!(
                    "{}: {} is not a syscall argument (0-5)",
                    at(&format!("args[{j}].index")),
                    a.index
                ));
            }
        }
        let names: Vec<&str> = match (self.name.as_str(), self.names.as_slice()) {
            ("", []) => return Err(format!("{}: no syscall named", at("names"))),
            ("", n) => n.iter().map(String::as_str).collect(),
            (n, []) => vec![n],
            _ => return Err(format!("{}: give `name` or `names`, not both", at("name"))),
        };
        if !applies(&self.includes, &self.excludes, t, &at)? {
            return Ok(None);
        }
        // Docker and libseccomp ignore names they do not know; the runtime refuses a rule
        // made only of such names, so it is left out here (names unknown next to known ones
        // stay: the runtime skips them, and a newer libseccomp may know them).
        if !names
            .iter()
            .any(|n| berth_runtime::seccomp::syscall_known(n))
        {
            return Ok(None);
        }
        let mut r = Map::new();
        r.insert("names".into(), json!(names));
        r.insert("action".into(), json!(self.action));
        if let Some(e) = self.errno_ret {
            r.insert("errnoRet".into(), json!(e));
        }
        if !self.args.is_empty() {
            let args: Vec<Value> = self
                .args
                .iter()
                .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                .collect();
            r.insert("args".into(), Value::Array(args));
        }
        Ok(Some(Value::Object(r)))
    }
}

/// Whether a rule with these conditions is kept for `t`.
fn applies(
    inc: &Filter,
    exc: &Filter,
    t: &Target,
    at: &dyn Fn(&str) -> String,
) -> Result<bool, String> {
    let has = |c: &String| t.caps.iter().any(|x| x == c);
    let arch = |list: &[String]| list.iter().any(|a| a == t.go_arch);
    let kernel_at_least = |v: &str, field: &str| match kernel_version(v) {
        Some(min) => Ok(t.kernel >= min),
        None => Err(format!(
            "{}: {v:?} is not a kernel version (MAJOR.MINOR)",
            at(field)
        )),
    };
    if (!exc.arches.is_empty() && arch(&exc.arches)) || exc.caps.iter().any(has) {
        return Ok(false);
    }
    if !exc.min_kernel.is_empty() && kernel_at_least(&exc.min_kernel, "excludes.minKernel")? {
        return Ok(false);
    }
    if (!inc.arches.is_empty() && !arch(&inc.arches)) || !inc.caps.iter().all(has) {
        return Ok(false);
    }
    if !inc.min_kernel.is_empty() && !kernel_at_least(&inc.min_kernel, "includes.minKernel")? {
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64(caps: &[String]) -> Target<'_> {
        Target {
            caps,
            scmp_arch: "SCMP_ARCH_X86_64",
            go_arch: "amd64",
            kernel: (6, 1),
        }
    }

    fn names_of(v: &Value) -> Vec<(String, Value)> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| (n.as_str().unwrap().to_string(), r.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn conditions_resolve_against_caps_arch_and_kernel() {
        let p = Profile::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}],
            "syscalls": [
              {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
              {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
              {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
               "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
              {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
              {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
              {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
              {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9.0"}},
              {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
              {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "includes": null},
              {"names": ["no_such_call", "nor_this"], "action": "SCMP_ACT_ALLOW"}
            ]}"#,
        )
        .unwrap();
        let none: Vec<String> = vec![];
        let admin = vec!["CAP_SYS_ADMIN".to_string()];
        let plain = p.resolve(&amd64(&none)).unwrap();
        let got: Vec<String> = names_of(&plain).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, ["read", "clone", "arch_prctl", "ptrace", "mkdir"]);
        assert_eq!(
            plain["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        assert_eq!(plain["defaultErrnoRet"], 1);
        let clone = &names_of(&plain)[1].1;
        assert_eq!(
            clone["args"],
            json!([{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        assert_eq!(names_of(&plain)[4].1["errnoRet"], 13);
        let with_admin = p.resolve(&amd64(&admin)).unwrap();
        let got: Vec<String> = names_of(&with_admin).into_iter().map(|(n, _)| n).collect();
        assert_eq!(got, ["read", "mount", "arch_prctl", "ptrace", "mkdir"]);
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let none: Vec<String> = vec![];
        let cases = [
            (
                r#"{"defaultAction": "SCMP_ACT_NOPE"}"#,
                "defaultAction: unknown action \"SCMP_ACT_NOPE\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}"#,
                "syscalls[0].action: unknown action \"ALLOW\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}"#,
                "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_BOGUS\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0].args[0].index: 6 is not a syscall argument",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0].name: give `name` or `names`, not both",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW",
                 "includes": {"minKernel": "six"}}]}"#,
                "syscalls[0].includes.minKernel: \"six\" is not a kernel version",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                 "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
                "both `architectures` and `archMap`",
            ),
        ];
        for (text, want) in cases {
            let e = Profile::parse(text)
                .and_then(|p| p.resolve(&amd64(&none)))
                .unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = Profile::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read"}]}"#,
        )
        .unwrap_err();
        assert!(e.starts_with("syscalls[0].names: invalid type"), "{e}");
        let e = Profile::parse("{not json").unwrap_err();
        assert!(e.contains("key must be a string at line 1"), "{e}");
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("5"), None);
        assert!((6, 1) >= (4, 8) && (4, 10) >= (4, 8) && (4, 7) < (4, 8));
    }
}
