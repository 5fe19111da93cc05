//! OCI `linux.seccomp` values -> libseccomp terms, validated field by field.
//!
//! Everything here runs before libseccomp builds anything, so an error names the JSON
//! field and the value (`seccomp: linux.seccomp.syscalls[1].args[0].index: 6 is out of
//! range 0..=5`) instead of surfacing as a libseccomp errno. The policy choices are
//! listed in the `seccomp` module docs.

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};

use berth_sys::seccomp as sys;

use super::{tables, SeccompError};

/// Linux syscalls take at most six arguments.
const MAX_ARGS: usize = 6;
/// Largest `errnoRet`: `SECCOMP_RET_DATA` is 16 bits wide.
const MAX_ERRNO_RET: u32 = 0xffff;
/// Syscalls the init uses to hand the listener fd out after loading the filter (its sync
/// channel sends with sendmsg); routing them to the agent, which only gets the fd from
/// that hand-off, would hang the container.
const NOTIFY_FORBIDDEN: [&str; 2] = ["write", "sendmsg"];

/// What [`compile_with`](super::compile_with) does with a syscall name that libseccomp
/// knows for no architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownSyscalls {
    /// Leave it out and list it in
    /// [`CompiledFilter::unknown_syscalls`](super::CompiledFilter::unknown_syscalls).
    Skip,
    /// Fail with [`SeccompError::UnknownSyscall`].
    Error,
}

/// One libseccomp rule to add: `action` for `syscall` when all of one `conds` set match.
pub(crate) struct Rule<'a> {
    pub(crate) field: String,
    pub(crate) name: &'a str,
    pub(crate) syscall: ScmpSyscall,
    pub(crate) action: ScmpAction,
    pub(crate) conds: Vec<Vec<ScmpArgCompare>>,
}

/// A [`SeccompError::Invalid`] for `field` holding `value`.
pub(crate) fn invalid(
    field: impl Into<String>,
    value: impl ToString,
    reason: &'static str,
) -> SeccompError {
    SeccompError::Invalid {
        field: field.into(),
        value: value.to_string(),
        reason,
    }
}

/// The libseccomp action for an OCI action and its `errnoRet` (EPERM when absent, as in
/// runc and crun). `SCMP_ACT_KILL` is the historical name of KILL_THREAD.
pub(crate) fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<ScmpAction, SeccompError> {
    let ret = match errno_ret {
        Some(v) if v > MAX_ERRNO_RET => {
            return Err(invalid(errno_field, v, "is out of range 0..=65535"));
        }
        Some(v) => v as u16,
        None => libc::EPERM as u16,
    };
    let action = match act {
        LinuxSeccompAction::ScmpActErrno => return Ok(ScmpAction::Errno(i32::from(ret))),
        LinuxSeccompAction::ScmpActTrace => return Ok(ScmpAction::Trace(ret)),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    };
    match errno_ret {
        Some(v) => Err(invalid(
            errno_field,
            v,
            "is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
        )),
        None => Ok(action),
    }
}

/// The filter's architectures: the native one first (libseccomp always includes it), then
/// the listed ones in order, without duplicates.
pub(crate) fn arches(s: &LinuxSeccomp) -> Result<Vec<ScmpArch>, SeccompError> {
    let native = ScmpArch::native();
    let mut out = vec![native];
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let scmp = match tables::scmp_arch(*arch) {
            ScmpArch::Native => native,
            other => other,
        };
        if !tables::arch_supported(scmp) {
            return Err(invalid(
                format!("linux.seccomp.architectures[{i}]"),
                arch,
                "is not supported by libseccomp on this host",
            ));
        }
        if !out.contains(&scmp) {
            out.push(scmp);
        }
    }
    Ok(out)
}

/// Validate every syscall entry and resolve its names; rules equal to the default action
/// are dropped. Also returns the names skipped under [`UnknownSyscalls::Skip`].
pub(crate) fn rules(
    s: &LinuxSeccomp,
    default: ScmpAction,
    unknown: UnknownSyscalls,
) -> Result<(Vec<Rule<'_>>, Vec<String>), SeccompError> {
    let mut out = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret(), &format!("{field}.errnoRet"))?;
        let conds = conditions(sc, &field)?;
        let names_field = format!("{field}.names");
        for name in sc.names() {
            if name.is_empty() {
                return Err(invalid(
                    names_field.clone(),
                    "\"\"",
                    "is not a syscall name",
                ));
            }
            if act == ScmpAction::Notify && NOTIFY_FORBIDDEN.contains(&name.as_str()) {
                return Err(invalid(
                    names_field.clone(),
                    format!("{name:?}"),
                    "cannot use SCMP_ACT_NOTIFY: the init needs it to hand out the listener",
                ));
            }
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                if unknown == UnknownSyscalls::Error {
                    return Err(SeccompError::UnknownSyscall {
                        field: names_field.clone(),
                        name: name.clone(),
                    });
                }
                if !skipped.contains(name) {
                    skipped.push(name.clone());
                }
                continue;
            };
            if act == default {
                continue;
            }
            out.push(Rule {
                field: field.clone(),
                name,
                syscall,
                action: act,
                conds: conds.clone(),
            });
        }
    }
    Ok((out, skipped))
}

/// The argument conditions of one entry as sets of comparisons; each set becomes one
/// libseccomp rule. libseccomp cannot compare one argument twice in a rule, so when an
/// index repeats every condition becomes its own rule (matching any of them), which is
/// what runc and crun do.
fn conditions(sc: &LinuxSyscall, field: &str) -> Result<Vec<Vec<ScmpArgCompare>>, SeccompError> {
    let args = sc.args().as_deref().unwrap_or_default();
    let mut seen = [0usize; MAX_ARGS];
    let mut conds = Vec::with_capacity(args.len());
    for (j, arg) in args.iter().enumerate() {
        let index = arg.index();
        if index >= MAX_ARGS {
            return Err(invalid(
                format!("{field}.args[{j}].index"),
                index,
                "is out of range 0..=5",
            ));
        }
        seen[index] += 1;
        let (op, datum) = tables::compare_op(arg.op(), arg.value(), arg.value_two());
        conds.push(ScmpArgCompare::new(index as u32, op, datum));
    }
    if conds.is_empty() {
        Ok(vec![Vec::new()])
    } else if seen.iter().any(|n| *n > 1) {
        Ok(conds.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![conds])
    }
}

/// seccomp(2) flags from `linux.seccomp.flags`, adjusted for the listener (see the
/// `seccomp` module docs): NEW_LISTENER is added when a rule notifies, TSYNC is dropped
/// then, and WAIT_KILLABLE_RECV is dropped when none does. Only flags that stay are
/// checked against the running kernel.
pub(crate) fn flags(s: &LinuxSeccomp, notify: bool) -> Result<u32, SeccompError> {
    let mut bits = if notify { sys::FLAG_NEW_LISTENER } else { 0 };
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        let bit = tables::flag_bit(*flag);
        let dropped = if notify {
            sys::FLAG_TSYNC
        } else {
            sys::FLAG_WAIT_KILLABLE_RECV
        };
        if bit == dropped {
            continue;
        }
        if !tables::flag_supported(*flag) {
            return Err(invalid(
                format!("linux.seccomp.flags[{i}]"),
                flag,
                "is not supported by the running kernel",
            ));
        }
        bits |= bit;
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::seccomp::{compile, compile_with, CompiledFilter};

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("profile json")
    }

    fn compiled(v: serde_json::Value) -> CompiledFilter {
        compile(&profile(v)).expect("compile").expect("a filter")
    }

    fn err(v: serde_json::Value) -> String {
        compile(&profile(v)).expect_err("must fail").to_string()
    }

    #[test]
    fn invalid_values_name_field_and_value() {
        let base = || json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []});
        let with = |patch: serde_json::Value| {
            let mut p = base();
            for (k, v) in patch.as_object().expect("object") {
                p[k] = v.clone();
            }
            p
        };
        let sys = |rule: serde_json::Value| with(json!({"syscalls": [rule]}));
        let cases = [
            (
                sys(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                           "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]})),
                "seccomp: linux.seccomp.syscalls[0].args[0].index: 6 is out of range 0..=5",
            ),
            (
                sys(json!({"names": ["kill"], "action": "SCMP_ACT_LOG", "errnoRet": 5})),
                "seccomp: linux.seccomp.syscalls[0].errnoRet: 5 is only valid with \
                 SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
            ),
            (
                sys(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000})),
                "seccomp: linux.seccomp.syscalls[0].errnoRet: 70000 is out of range 0..=65535",
            ),
            (
                with(json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1})),
                "seccomp: linux.seccomp.defaultErrnoRet: 1 is only valid with \
                 SCMP_ACT_ERRNO or SCMP_ACT_TRACE",
            ),
            (
                with(json!({"defaultAction": "SCMP_ACT_NOTIFY"})),
                "seccomp: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default \
                 action (the init could not hand out the listener)",
            ),
            (
                sys(json!({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"})),
                "seccomp: linux.seccomp.listenerPath: \"\" is required by SCMP_ACT_NOTIFY",
            ),
            (
                with(json!({"listenerPath": "/a.sock",
                            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]})),
                "seccomp: linux.seccomp.syscalls[0].names: \"write\" cannot use \
                 SCMP_ACT_NOTIFY: the init needs it to hand out the listener",
            ),
            (
                sys(json!({"names": [""], "action": "SCMP_ACT_ALLOW"})),
                "seccomp: linux.seccomp.syscalls[0].names: \"\" is not a syscall name",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(err(p.clone()), want, "{p}");
        }
        if !tables::arch_supported(ScmpArch::Loongarch64) {
            let p = with(json!({"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_LOONGARCH64"]}));
            assert_eq!(
                err(p),
                "seccomp: linux.seccomp.architectures[1]: SCMP_ARCH_LOONGARCH64 is not \
                 supported by libseccomp on this host"
            );
        }
    }

    #[test]
    fn unknown_strings_are_rejected_when_the_spec_is_parsed() {
        // Typed oci-spec values cannot hold an unknown name; serde refuses it while
        // parsing config.json (spec.rs adds the JSON path), naming the value.
        let cases = [
            json!({"defaultAction": "SCMP_ACT_FOO"}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_FOO"]}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FOO"]}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["kill"],
                   "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1,
                   "op": "SCMP_CMP_FOO"}]}]}),
        ];
        for p in cases {
            let e = serde_json::from_value::<LinuxSeccomp>(p.clone()).expect_err("must fail");
            assert!(e.to_string().contains("_FOO"), "{p}: {e}");
        }
    }

    #[test]
    fn unknown_syscall_names() {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mmap2", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["getpid", "foo", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
            ],
        }));
        let f = compile(&p).expect("skip policy").expect("filter");
        // `mmap2` exists only on 32-bit arches: some arch knows it, so it is not unknown.
        assert_eq!(f.unknown_syscalls(), ["no_such_call", "foo"]);
        assert!(f.program().len() > 1);
        let e = compile_with(&p, UnknownSyscalls::Error).expect_err("error policy");
        assert_eq!(
            e.to_string(),
            "seccomp: unknown syscall \"no_such_call\" in linux.seccomp.syscalls[2].names"
        );
        // The first unknown name is reported with the index of its entry.
        let p = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["foo"], "action": "SCMP_ACT_ALLOW"},
        ]}));
        let e = compile_with(&p, UnknownSyscalls::Error).expect_err("error policy");
        assert_eq!(
            e.to_string(),
            "seccomp: unknown syscall \"foo\" in linux.seccomp.syscalls[3].names"
        );
    }

    #[test]
    fn flags_reach_the_load_call() {
        let cases = [
            (json!(["SECCOMP_FILTER_FLAG_LOG"]), None, sys::FLAG_LOG),
            (
                json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
                None,
                sys::FLAG_SPEC_ALLOW,
            ),
            (json!(["SECCOMP_FILTER_FLAG_TSYNC"]), None, sys::FLAG_TSYNC),
            // TSYNC and NEW_LISTENER exclude each other; TSYNC goes.
            (
                json!(["SECCOMP_FILTER_FLAG_TSYNC"]),
                Some("getppid"),
                sys::FLAG_NEW_LISTENER,
            ),
            // WAIT_KILLABLE_RECV only means something with a listener.
            (json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]), None, 0),
            (
                json!([
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
                    "SECCOMP_FILTER_FLAG_LOG"
                ]),
                Some("getppid"),
                sys::FLAG_NEW_LISTENER | sys::FLAG_WAIT_KILLABLE_RECV | sys::FLAG_LOG,
            ),
        ];
        for (flags, notify, want) in cases {
            let mut rules = vec![json!({"names": ["getcwd"], "action": "SCMP_ACT_LOG"})];
            if let Some(name) = notify {
                rules.push(json!({"names": [name], "action": "SCMP_ACT_NOTIFY"}));
            }
            let f = compiled(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": "/run/agent.sock",
                "flags": flags,
                "syscalls": rules,
            }));
            assert_eq!(f.flags(), want, "{flags} notify={notify:?}");
        }
    }
}
