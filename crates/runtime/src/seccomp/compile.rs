//! `linux.seccomp` -> libseccomp filter -> exported cBPF program (+ the -ENOSYS stub).
//!
//! Runs in the parent before fork. `rules.rs` validates and translates every field first;
//! this file drives libseccomp, exports its program and puts the stub in front.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};
use nix::sys::memfd::{memfd_create, MFdFlags};
use oci_spec::runtime::LinuxSeccomp;

use berth_sys::seccomp::{self as sys, SockFilter};

use super::rules::{self, invalid, Rule, UnknownSyscalls};
use super::{enosys, CompiledFilter, SeccompError};

/// Above this many rules ask libseccomp for a binary-tree program instead of a linear
/// one. runc uses the same cut-off: libseccomp <= 2.5.4 misbehaves with the tree and no
/// rules, and builds nodes of four syscalls.
const TREE_AFTER: usize = 32;

/// Compile `s`, skipping syscall names no architecture knows (see the module docs of
/// `seccomp` for why). `Ok(None)` means the filter would allow everything, so there is
/// nothing to load.
pub fn compile(s: &LinuxSeccomp) -> Result<Option<CompiledFilter>, SeccompError> {
    compile_with(s, UnknownSyscalls::Skip)
}

/// Compile `s`, choosing what happens to syscall names no architecture knows.
pub fn compile_with(
    s: &LinuxSeccomp,
    unknown: UnknownSyscalls,
) -> Result<Option<CompiledFilter>, SeccompError> {
    let default = rules::action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default == ScmpAction::Notify {
        return Err(invalid(
            "linux.seccomp.defaultAction",
            s.default_action(),
            "cannot be the default action (the init could not hand out the listener)",
        ));
    }
    let arches = rules::arches(s)?;
    let (rules, unknown_names) = rules::rules(s, default, unknown)?;
    if default == ScmpAction::Allow && rules.is_empty() {
        return Ok(None);
    }
    let notify = rules.iter().any(|r| r.action == ScmpAction::Notify);
    let has_listener = s
        .listener_path()
        .as_ref()
        .is_some_and(|p| !p.as_os_str().is_empty());
    if notify && !has_listener {
        return Err(invalid(
            "linux.seccomp.listenerPath",
            "\"\"",
            "is required by SCMP_ACT_NOTIFY",
        ));
    }
    let flags = rules::flags(s, notify)?;

    let ctx = build(default, &arches, &rules)?;
    let mut program = if needs_stub(default) {
        let names: Vec<&str> = rules.iter().map(|r| r.name).collect();
        enosys::stub(&arches, &names)?
    } else {
        Vec::new()
    };
    program.extend(export(&ctx)?);
    if program.len() > sys::MAX_INSNS {
        return Err(SeccompError::TooLong {
            len: program.len(),
            max: sys::MAX_INSNS,
        });
    }
    Ok(Some(CompiledFilter {
        program,
        flags,
        unknown: unknown_names,
    }))
}

/// Build the libseccomp filter.
fn build(
    default: ScmpAction,
    arches: &[ScmpArch],
    rules: &[Rule<'_>],
) -> Result<ScmpFilterContext, SeccompError> {
    let lib = |op: &'static str, object: String| {
        move |source| SeccompError::Libseccomp { op, object, source }
    };
    let mut ctx =
        ScmpFilterContext::new(default).map_err(lib("create filter", format!("{default:?}")))?;
    for arch in arches {
        let present = ctx
            .is_arch_present(*arch)
            .map_err(lib("query arch", format!("{arch:?}")))?;
        if !present {
            ctx.add_arch(*arch)
                .map_err(lib("add arch", format!("{arch:?}")))?;
        }
    }
    if rules.len() > TREE_AFTER {
        // An optimisation only; older libseccomp without it still builds a valid program.
        let _ = ctx.set_ctl_optimize(2);
    }
    for rule in rules {
        for conds in &rule.conds {
            ctx.add_rule_conditional(rule.action, rule.syscall, conds)
                .map_err(|source| SeccompError::Rule {
                    field: rule.field.clone(),
                    name: rule.name.to_string(),
                    source,
                })?;
        }
    }
    Ok(ctx)
}

/// Whether the default action denies, so unknown syscalls should get ENOSYS instead.
/// ALLOW, LOG and TRACE are left alone: they let new syscalls through already (a tracer
/// can answer ENOSYS itself), as in runc. An ERRNO default of ENOSYS needs no stub.
fn needs_stub(default: ScmpAction) -> bool {
    match default {
        ScmpAction::Errno(e) => e != libc::ENOSYS,
        ScmpAction::KillThread | ScmpAction::KillProcess | ScmpAction::Trap => true,
        _ => false,
    }
}

/// Export libseccomp's program through a memfd and parse it into instructions. libseccomp
/// writes the kernel's `struct sock_filter` array in host byte order.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<SockFilter>, SeccompError> {
    let io = |op: &'static str| move |source| SeccompError::Export { op, source };
    let fd = memfd_create(c"berth-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| io("create memfd for")(e.into()))?;
    ctx.export_bpf(fd.as_fd())
        .map_err(|source| SeccompError::Libseccomp {
            op: "export program to",
            object: "memfd".to_string(),
            source,
        })?;
    let mut file = File::from(fd);
    file.seek(SeekFrom::Start(0)).map_err(io("rewind"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io("read"))?;
    parse(&bytes)
}

/// Split raw `struct sock_filter` bytes (host byte order) into instructions.
fn parse(bytes: &[u8]) -> Result<Vec<SockFilter>, SeccompError> {
    if bytes.is_empty() || !bytes.chunks_exact(8).remainder().is_empty() {
        return Err(SeccompError::Malformed { bytes: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use libseccomp::ScmpSyscall;

    use super::*;
    use crate::seccomp::enosys::{largest_known, RET_ENOSYS};
    use crate::seccomp::interp::{run, Data};
    use crate::seccomp::tables;

    const ALLOW: u32 = 0x7fff_0000;
    const LOG: u32 = 0x7ffc_0000;
    const NOTIFY: u32 = 0x7fc0_0000;
    const TRAP: u32 = 0x0003_0000;
    const KILL_THREAD: u32 = 0;
    const KILL_PROCESS: u32 = 0x8000_0000;
    const fn errno(e: u32) -> u32 {
        0x0005_0000 | e
    }
    const fn trace(v: u32) -> u32 {
        0x7ff0_0000 | v
    }
    const EPERM: u32 = libc::EPERM as u32;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("profile json")
    }

    fn compiled(v: serde_json::Value) -> CompiledFilter {
        compile(&profile(v)).expect("compile").expect("a filter")
    }

    fn nr_of(arch: ScmpArch, name: &str) -> u32 {
        ScmpSyscall::from_name_by_arch(name, arch)
            .expect(name)
            .as_raw_syscall() as u32
    }

    /// The verdict for syscall `name` (native arch) with `args`.
    fn verdict(f: &CompiledFilter, name: &str, args: [u64; 6]) -> u32 {
        let native = ScmpArch::native();
        let data = Data::new(tables::audit_arch(native), nr_of(native, name)).with_args(args);
        run(f.program(), &data).expect("interpret")
    }

    fn verdict_nr(f: &CompiledFilter, arch: ScmpArch, nr: u32) -> u32 {
        run(f.program(), &Data::new(tables::audit_arch(arch), nr)).expect("interpret")
    }

    #[test]
    fn every_rule_action() {
        let cases = [
            (json!({"action": "SCMP_ACT_KILL"}), KILL_THREAD),
            (json!({"action": "SCMP_ACT_KILL_THREAD"}), KILL_THREAD),
            (json!({"action": "SCMP_ACT_KILL_PROCESS"}), KILL_PROCESS),
            (json!({"action": "SCMP_ACT_TRAP"}), TRAP),
            (
                json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 1234}),
                errno(1234),
            ),
            (json!({"action": "SCMP_ACT_TRACE", "errnoRet": 7}), trace(7)),
            (json!({"action": "SCMP_ACT_TRACE"}), trace(EPERM)),
            (json!({"action": "SCMP_ACT_LOG"}), LOG),
            (json!({"action": "SCMP_ACT_NOTIFY"}), NOTIFY),
            (json!({"action": "SCMP_ACT_ALLOW"}), ALLOW),
        ];
        for (rule, want) in cases {
            let mut rule = rule;
            rule["names"] = json!(["getcwd"]);
            let f = compiled(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "listenerPath": "/run/agent.sock",
                "syscalls": [rule, {"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
            }));
            assert_eq!(verdict(&f, "getcwd", [0; 6]), want, "{rule}");
            assert_eq!(verdict(&f, "read", [0; 6]), ALLOW, "{rule}");
            assert_eq!(verdict(&f, "mkdirat", [0; 6]), errno(EPERM), "{rule}");
            assert_eq!(f.needs_listener(), want == NOTIFY, "{rule}");
        }
    }

    #[test]
    fn every_default_action_and_the_enosys_stub() {
        let native = ScmpArch::native();
        let above = largest_known(native).expect("native table") as u32 + 1;
        // (default, defaultErrnoRet, verdict for a known unlisted syscall, for `above`)
        let cases = [
            ("SCMP_ACT_ERRNO", None, errno(EPERM), RET_ENOSYS),
            ("SCMP_ACT_ERRNO", Some(13), errno(13), RET_ENOSYS),
            ("SCMP_ACT_ERRNO", Some(38), errno(38), errno(38)),
            ("SCMP_ACT_KILL", None, KILL_THREAD, RET_ENOSYS),
            ("SCMP_ACT_KILL_THREAD", None, KILL_THREAD, RET_ENOSYS),
            ("SCMP_ACT_KILL_PROCESS", None, KILL_PROCESS, RET_ENOSYS),
            ("SCMP_ACT_TRAP", None, TRAP, RET_ENOSYS),
            ("SCMP_ACT_TRACE", Some(9), trace(9), trace(9)),
            ("SCMP_ACT_LOG", None, LOG, LOG),
            ("SCMP_ACT_ALLOW", None, ALLOW, ALLOW),
        ];
        for (default, ret, unlisted, new) in cases {
            let mut p = json!({
                "defaultAction": default,
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1234}],
            });
            if let Some(r) = ret {
                p["defaultErrnoRet"] = json!(r);
            }
            let f = compiled(p);
            assert_eq!(verdict(&f, "getcwd", [0; 6]), errno(1234), "{default}");
            assert_eq!(verdict(&f, "mkdirat", [0; 6]), unlisted, "{default}");
            assert_eq!(verdict_nr(&f, native, above), new, "{default} nr {above}");
            assert_eq!(
                verdict_nr(&f, native, above - 1),
                unlisted,
                "{default} nr {}",
                above - 1
            );
        }
    }

    #[test]
    fn argument_conditions() {
        let mask: u64 = 0x00f0;
        // (op, value, valueTwo, arg0, matches)
        let cases = [
            ("SCMP_CMP_NE", 5u64, None, 5u64, false),
            ("SCMP_CMP_NE", 5, None, 6, true),
            ("SCMP_CMP_LT", 5, None, 4, true),
            ("SCMP_CMP_LT", 5, None, 5, false),
            ("SCMP_CMP_LE", 5, None, 5, true),
            ("SCMP_CMP_LE", 5, None, 6, false),
            ("SCMP_CMP_EQ", 5, None, 5, true),
            ("SCMP_CMP_EQ", 5, None, 4, false),
            ("SCMP_CMP_EQ", 0x1_0000_0005, None, 5, false),
            ("SCMP_CMP_EQ", 0x1_0000_0005, None, 0x1_0000_0005, true),
            ("SCMP_CMP_GE", 5, None, 5, true),
            ("SCMP_CMP_GE", 5, None, 4, false),
            ("SCMP_CMP_GT", 5, None, 6, true),
            ("SCMP_CMP_GT", 5, None, 5, false),
            ("SCMP_CMP_MASKED_EQ", mask, Some(0x30), 0x1234_5639, true),
            ("SCMP_CMP_MASKED_EQ", mask, Some(0x30), 0x40, false),
            ("SCMP_CMP_MASKED_EQ", mask, None, 0x0f, true),
        ];
        for (op, value, value_two, arg0, matches) in cases {
            let mut arg = json!({"index": 0, "value": value, "op": op});
            if let Some(v2) = value_two {
                arg["valueTwo"] = json!(v2);
            }
            let f = compiled(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                              "errnoRet": 1, "args": [arg]}],
            }));
            let want = if matches { errno(1) } else { ALLOW };
            assert_eq!(
                verdict(&f, "personality", [arg0, 0, 0, 0, 0, 0]),
                want,
                "{op} {value:#x} {arg0:#x}"
            );
        }
    }

    #[test]
    fn repeated_index_means_any_distinct_indexes_mean_all() {
        let rule = |args| {
            compiled(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                              "args": args}],
            }))
        };
        let any = rule(json!([
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
        ]));
        let all = rule(json!([
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
        ]));
        let cases = [
            (&any, [1, 0], errno(1)),
            (&any, [2, 0], errno(1)),
            (&any, [3, 0], ALLOW),
            (&all, [1, 2], errno(1)),
            (&all, [1, 3], ALLOW),
            (&all, [2, 2], ALLOW),
        ];
        for (f, [a0, a1], want) in cases {
            assert_eq!(
                verdict(f, "kill", [a0, a1, 0, 0, 0, 0]),
                want,
                "args {a0} {a1}"
            );
        }
    }

    #[test]
    fn architectures() {
        if ScmpArch::native() != ScmpArch::X8664 {
            return; // the syscall numbers below are x86 ones
        }
        let rules = json!([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1234}]);
        let multi = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": rules,
        }));
        let native_only = compiled(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}));
        let x86_getcwd = nr_of(ScmpArch::X86, "getcwd");
        let x32_getcwd = nr_of(ScmpArch::X32, "getcwd");
        let cases = [
            (&multi, ScmpArch::X86, x86_getcwd, errno(1234)),
            (&multi, ScmpArch::X86, nr_of(ScmpArch::X86, "read"), ALLOW),
            (&multi, ScmpArch::X32, x32_getcwd, errno(1234)),
            (&multi, ScmpArch::Aarch64, 17, KILL_THREAD),
            (&native_only, ScmpArch::X86, x86_getcwd, KILL_THREAD),
            (
                &native_only,
                ScmpArch::X8664,
                nr_of(ScmpArch::X8664, "getcwd"),
                errno(1234),
            ),
        ];
        for (f, arch, nr, want) in cases {
            assert_eq!(verdict_nr(f, arch, nr), want, "{arch:?} {nr}");
        }
    }

    #[test]
    fn nothing_to_load() {
        let cases = [
            json!({"defaultAction": "SCMP_ACT_ALLOW"}),
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                   "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}),
            json!({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["no_such_call"], "action": "SCMP_ACT_ERRNO"}]}),
        ];
        for p in cases {
            assert_eq!(compile(&profile(p.clone())).expect("compile"), None, "{p}");
        }
    }

    /// A Docker-sized allowlist: every name libseccomp knows on the native arch, so the
    /// binary-tree program is used too.
    #[test]
    fn large_allowlist_uses_tree_and_keeps_the_stub() {
        let native = ScmpArch::native();
        let max = largest_known(native).expect("table");
        let names: Vec<String> = (0..=max)
            .filter_map(|nr| {
                ScmpSyscall::from_raw_syscall(nr)
                    .get_name_by_arch(native)
                    .ok()
            })
            .filter(|n| n != "getcwd")
            .collect();
        assert!(names.len() > 300);
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": names, "action": "SCMP_ACT_ALLOW"},
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1234},
            ],
        }));
        assert!(f.program().len() < sys::MAX_INSNS);
        for name in ["read", "openat", "clone3", "exit_group"] {
            assert_eq!(verdict(&f, name, [0; 6]), ALLOW, "{name}");
        }
        assert_eq!(verdict(&f, "getcwd", [0; 6]), errno(1234));
        assert_eq!(verdict_nr(&f, native, max as u32 + 1), RET_ENOSYS);
        assert_eq!(verdict_nr(&f, native, 100_000), RET_ENOSYS);
    }

    #[test]
    fn parse_rejects_partial_instructions() {
        assert_eq!(parse(&[0; 16]).expect("two").len(), 2);
        for bytes in [&[][..], &[0; 12][..]] {
            assert!(matches!(parse(bytes), Err(SeccompError::Malformed { .. })));
        }
    }
}
