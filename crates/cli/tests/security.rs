//! Seccomp as a container sees it: the built-in profile (Docker's rules), the syscalls
//! that capabilities unlock, `--security-opt seccomp=unconfined|PATH`, `--privileged`,
//! what `inspect` shows, the compiled-program cache, bad options, and the same errnos
//! through runc. Probes run inside with `berth-check try ...`, which prints `ok` or the
//! errno's name.

mod common;

use common::containers::{probes, Ct};
use common::p;

/// The `Seccomp:` mode of /proc/self/status inside a container: 0 none, 2 filter.
fn seccomp_mode(ct: &Ct, opts: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend(["bb", "grep", "^Seccomp:", "/proc/self/status"]);
    ct.ok(&args)
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

/// The running kernel has listmount(2) (6.8+), so an unfiltered call answers EFAULT.
fn kernel_has_listmount() -> bool {
    let u = nix::sys::utsname::uname().unwrap();
    let r = u.release().to_string_lossy().into_owned();
    let mut it = r.split(['.', '-']).map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (6, 8)
}

const DEFAULT_PROBES: [&str; 11] = [
    "unshare user",
    "unshare mnt",
    "mount tmpfs /tmp",
    "keyctl",
    "personality 0x0040000",
    "personality 0",
    "unknown-syscall 1024",
    "newer-syscall",
    "socket inet",
    "mkdir /tmp/d",
    "chroot /",
];

/// What the built-in profile answers, then what the same probes get unconfined.
#[test]
fn builtin_profile_denies_with_eperm_and_unknown_syscalls_get_enosys() {
    let ct = Ct::new();
    assert_eq!(seccomp_mode(&ct, &[]), "2");
    let got = probes(&ct, &[], &DEFAULT_PROBES);
    let want = [
        "EPERM",  // unshare: needs CAP_SYS_ADMIN in the profile
        "EPERM",  //
        "EPERM",  // mount: the same
        "EPERM",  // keyctl: not in Docker's list (the kernel alone would allow it)
        "EPERM",  // personality(ADDR_NO_RANDOMIZE): only Linux personas are allowed
        "ok",     // personality(PER_LINUX)
        "ENOSYS", // a number no architecture assigns: the runtime's stub
        "ENOSYS", // listmount (458): above libseccomp's table, so ENOSYS and not EPERM
        "ok",     // socket(AF_INET)
        "ok",     // mkdir
        "ok",     // chroot: CAP_SYS_CHROOT is a default capability
    ];
    assert_eq!(got, want);

    let free = probes(
        &ct,
        &["--security-opt", "seccomp=unconfined"],
        &DEFAULT_PROBES,
    );
    assert_eq!(
        seccomp_mode(&ct, &["--security-opt", "seccomp=unconfined"]),
        "0"
    );
    assert_eq!(free[0], "ok", "unshare --user works without the filter");
    assert_eq!(free[3], "ok", "keyctl works without the filter");
    assert_eq!(free[4], "ok", "personality works without the filter");
    assert_eq!(free[6], "ENOSYS", "the kernel's own answer");
    if kernel_has_listmount() {
        assert_eq!(free[7], "EFAULT", "the kernel has listmount");
    }
    // Without CAP_SYS_ADMIN the kernel itself refuses these.
    assert_eq!(&free[1..3], ["EPERM", "EPERM"]);

    // exec'd processes run under the container's filter too.
    ct.detached(&["--name", "c1", "bb", "sleep", "60"]);
    let (_, out, _) = ct.run(&["exec", "c1", "berth-check", "try", "keyctl"]);
    assert_eq!(out.trim(), "EPERM");
    ct.ok(&["rm", "-f", "c1"]);
    ct.assert_clean("after the runs");
}

/// Capabilities unlock the profile's conditional rules, resolved against the final set.
#[test]
fn cap_add_unlocks_the_syscalls_docker_ties_to_capabilities() {
    let ct = Ct::new();
    let admin = probes(
        &ct,
        &["--cap-add", "SYS_ADMIN"],
        &["unshare mnt", "mount tmpfs /tmp", "unshare user", "keyctl"],
    );
    assert_eq!(admin, ["ok", "ok", "ok", "EPERM"]);
    let dropped = probes(
        &ct,
        &["--cap-add", "SYS_ADMIN", "--cap-drop", "SYS_CHROOT"],
        &["chroot /", "unshare mnt"],
    );
    assert_eq!(dropped, ["EPERM", "ok"]);
    // The default set has no CAP_SYS_ADMIN: clone3 answers ENOSYS by rule, so fork works
    // through clone; `sh -c` forking a child shows it.
    assert_eq!(
        ct.ok(&["run", "--rm", "bb", "sh", "-c", "echo $(echo forked)"])
            .trim(),
        "forked"
    );
}

/// `--privileged` runs without a filter, as in Docker, even with a profile given.
#[test]
fn privileged_has_no_filter() {
    let ct = Ct::new();
    assert_eq!(seccomp_mode(&ct, &["--privileged"]), "0");
    let prof = ct.path("deny.json");
    std::fs::write(&prof, r#"{"defaultAction": "SCMP_ACT_KILL"}"#).unwrap();
    let opt = format!("seccomp={}", p(&prof));
    assert_eq!(
        seccomp_mode(&ct, &["--privileged", "--security-opt", &opt]),
        "0"
    );
    let c = ct.ok(&["create", "--privileged", "bb", "true"]);
    let d = ct.inspect(c.trim(), "{{json .Berth.Seccomp}}");
    assert_eq!(d, r#"{"Profile":"unconfined (privileged)","Sha256":""}"#);
}

/// A profile file in Docker's format: read at create, kept inline (inspect shows it, the
/// file can go), resolved with the container's capabilities, cached by its hash.
#[test]
fn profile_file_is_read_at_create_and_kept_inline() {
    let ct = Ct::new();
    let prof = ct.path("p.json");
    std::fs::write(
        &prof,
        r#"{
          "defaultAction": "SCMP_ACT_ALLOW",
          "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "comment": "no new directories"},
            {"name": "chroot", "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}
          ]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", p(&prof));
    let got = probes(
        &ct,
        &["--security-opt", &opt],
        &["mkdir /tmp/d", "chroot /", "keyctl"],
    );
    assert_eq!(got, ["EACCES", "EPERM", "ok"]);
    let admin = probes(
        &ct,
        &["--security-opt", &opt, "--cap-add", "SYS_ADMIN"],
        &["chroot /"],
    );
    assert_eq!(admin, ["ok"]);

    let id = ct.ok(&[
        "create",
        "--name",
        "cc",
        "--security-opt",
        &opt,
        "bb",
        "berth-check",
        "try",
        "mkdir",
        "/x",
    ]);
    std::fs::remove_file(&prof).unwrap();
    let opts = ct.inspect("cc", "{{json .HostConfig.SecurityOpt}}");
    let opts: Vec<String> = serde_json::from_str(&opts).unwrap();
    assert_eq!(opts.len(), 1);
    assert!(
        opts[0].starts_with(
            r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"]"#
        ),
        "{opts:?}"
    );
    let (_, out, _) = ct.run(&["start", "-a", "cc"]);
    assert_eq!(out.trim(), "EACCES", "the profile outlives its file");
    let d: serde_json::Value =
        serde_json::from_str(&ct.inspect("cc", "{{json .Berth.Seccomp}}")).unwrap();
    assert_eq!(d["Profile"], "custom");
    let sha = d["Sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    let cached = ct.state.path().join(format!("runtime/@seccomp/{sha}.bpf"));
    assert!(
        cached.is_file(),
        "{} missing (id {})",
        cached.display(),
        id.trim()
    );

    let c2 = ct.ok(&[
        "create",
        "--security-opt",
        "seccomp=unconfined",
        "bb",
        "true",
    ]);
    assert_eq!(
        ct.inspect(c2.trim(), "{{json .HostConfig.SecurityOpt}}"),
        r#"["seccomp=unconfined"]"#
    );
    let c3 = ct.ok(&["create", "bb", "true"]);
    assert_eq!(
        ct.inspect(c3.trim(), "{{json .HostConfig.SecurityOpt}}"),
        "null"
    );
    assert_eq!(
        ct.inspect(c3.trim(), "{{.Berth.Seccomp.Profile}}"),
        "builtin"
    );
}

/// The built-in profile's defaultErrnoRet and the profile file's own one both reach the
/// container: the built-in profile with defaultErrnoRet 13 denies keyctl with EACCES.
#[test]
fn default_errno_ret_of_a_profile_file() {
    let ct = Ct::new();
    let builtin = include_str!("../../engine/src/security/default-seccomp.json");
    let mut v: serde_json::Value = serde_json::from_str(builtin).unwrap();
    v["defaultErrnoRet"] = 13.into();
    let prof = ct.path("p.json");
    std::fs::write(&prof, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let opt = format!("seccomp={}", p(&prof));
    let got = probes(
        &ct,
        &["--security-opt", &opt],
        &["keyctl", "unknown-syscall 1024", "mkdir /tmp/d"],
    );
    assert_eq!(got, ["EACCES", "ENOSYS", "ok"]);
}

#[test]
fn bad_security_opts_fail_in_one_line_and_leave_nothing() {
    let ct = Ct::new();
    let write = |name: &str, text: &str| {
        let path = ct.path(name);
        std::fs::write(&path, text).unwrap();
        format!("seccomp={}", p(&path))
    };
    let malformed = write("malformed.json", "{\"defaultAction\": ");
    let action = write(
        "action.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}"#,
    );
    let op = write(
        "op.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#,
    );
    let flag = write(
        "flag.json",
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}"#,
    );
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "seccomp=/missing.json".into(),
            vec!["seccomp=/missing.json", "No such file"],
        ),
        (malformed.clone(), vec![&malformed, "EOF"]),
        (
            action.clone(),
            vec![&action, "syscalls[0].action", "SCMP_ACT_MAYBE"],
        ),
        (
            op.clone(),
            vec![&op, "syscalls[0].args[0].op", "SCMP_CMP_ALMOST"],
        ),
        (flag.clone(), vec!["SECCOMP_FILTER_FLAG_NOPE"]),
        ("bogus=1".into(), vec!["bogus=1", "unknown option"]),
        (
            "apparmor=docker-default".into(),
            vec!["apparmor=docker-default"],
        ),
        (
            "no-new-privileges=maybe".into(),
            vec!["no-new-privileges=maybe"],
        ),
    ];
    let before = (ct.store_left(), ct.cgroups_left(), ct.mounts_left());
    for verb in ["run", "create"] {
        for (opt, words) in &cases {
            let args = [verb, "--security-opt", opt.as_str(), "bb", "true"];
            let (code, out, err) = ct.run(&args);
            assert_ne!(code, 0, "{args:?} succeeded: {out}");
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 1, "{args:?}: one error line:\n{err}");
            assert!(lines[0].contains("--security-opt"), "{}", lines[0]);
            for w in words {
                assert!(lines[0].contains(w), "{args:?}: `{w}` not in: {}", lines[0]);
            }
            let after = (ct.store_left(), ct.cgroups_left(), ct.mounts_left());
            assert_eq!(after, before, "{args:?} left something behind");
        }
    }
    ct.assert_clean("after the bad options");
}

/// The runtime binary `name` on this host, when installed.
fn runtime_binary(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

/// The OCI section berth writes gives the same errnos through runc (libseccomp too).
/// ENOSYS for syscalls newer than the profile is berth's stub, so those probes are left out.
#[test]
fn same_errnos_through_runc() {
    let Some(runc) = runtime_binary("runc") else {
        eprintln!("skipped: runc is not installed");
        return;
    };
    let ours = Ct::new();
    let theirs = Ct::with_runtime(&runc);
    let prof = ours.path("p.json");
    std::fs::write(
        &prof,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap();
    let custom = format!("seccomp={}", p(&prof));
    let list = [
        "unshare user",
        "unshare mnt",
        "mount tmpfs /tmp",
        "keyctl",
        "personality 0x0040000",
        "personality 8",
        "personality 0",
        "socket inet",
        "mkdir /tmp/d",
        "chroot /",
    ];
    let cases: [&[&str]; 4] = [
        &[],
        &["--cap-add", "SYS_ADMIN"],
        &["--security-opt", "seccomp=unconfined"],
        &["--security-opt", &custom],
    ];
    for opts in cases {
        let a = probes(&ours, opts, &list);
        let b = probes(&theirs, opts, &list);
        assert_eq!(a, b, "{opts:?}: berth vs runc");
    }
    assert_eq!(seccomp_mode(&theirs, &["--privileged"]), "0");
}
