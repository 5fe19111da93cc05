//! Security knobs as a container sees them: `--security-opt` (no-new-privileges, masked
//! and read-only paths with mask=/unmask=/systempaths=, LSM labels refused where their
//! LSM is absent), `--cap-add`/`--cap-drop` spellings, the default pids limit and ulimits
//! (and changing them per container and globally), what `inspect` and `info` show, and
//! bad values failing in one line with nothing left. Everything is checked from inside
//! with busybox reading /proc and /sys.

mod common;

use common::containers::Ct;

/// `run --rm OPTS bb sh -c SCRIPT`: its stdout (the run must succeed).
#[track_caller]
fn inside(ct: &Ct, opts: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend(["bb", "sh", "-c", script]);
    ct.ok(&args)
}

/// The value of `field` in /proc/self/status inside a container run with `opts`.
#[track_caller]
fn status_field(ct: &Ct, opts: &[&str], field: &str) -> String {
    let out = inside(ct, opts, &format!("grep '^{field}:' /proc/self/status"));
    out.split_whitespace().nth(1).unwrap_or("").to_string()
}

/// The mount points inside a container run with `opts` (field 5 of mountinfo).
#[track_caller]
fn mount_points(ct: &Ct, opts: &[&str]) -> Vec<String> {
    inside(ct, opts, "cat /proc/self/mountinfo")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .collect()
}

/// A capability set of this process (`CapBnd`, `CapEff`), as /proc/self/status prints it.
fn host_status_field(field: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn no_new_privileges_is_off_by_default_and_on_with_the_option() {
    let ct = Ct::new();
    assert_eq!(status_field(&ct, &[], "NoNewPrivs"), "0");
    for opt in [
        "no-new-privileges",
        "no-new-privileges=true",
        "no-new-privileges:true",
    ] {
        assert_eq!(
            status_field(&ct, &["--security-opt", opt], "NoNewPrivs"),
            "1",
            "{opt}"
        );
    }
    let off = ["--security-opt", "no-new-privileges=false"];
    assert_eq!(status_field(&ct, &off, "NoNewPrivs"), "0");
    ct.ok(&[
        "create",
        "--name",
        "nnp",
        "--security-opt",
        "no-new-privileges",
        "bb",
        "true",
    ]);
    assert_eq!(
        ct.inspect("nnp", "{{.Berth.Security.NoNewPrivileges}}"),
        "true"
    );
    assert_eq!(
        ct.inspect("nnp", "{{json .HostConfig.SecurityOpt}}"),
        r#"["no-new-privileges"]"#
    );
    ct.ok(&["rm", "nnp"]);
    // Processes exec'd into the container get it too.
    ct.detached(&[
        "--name",
        "nnp2",
        "--security-opt",
        "no-new-privileges",
        "bb",
        "sleep",
        "60",
    ]);
    let out = ct.ok(&["exec", "nnp2", "grep", "^NoNewPrivs:", "/proc/self/status"]);
    assert_eq!(out.split_whitespace().nth(1), Some("1"), "{out}");
    ct.ok(&["rm", "-f", "nnp2"]);
    ct.assert_clean("after the runs");
}

#[test]
fn mask_unmask_and_systempaths_change_what_is_masked_inside() {
    let ct = Ct::new();
    let has = |m: &[String], p: &str| m.iter().any(|x| x == p);
    // Masked: /proc/keys, /proc/timer_list; read-only: /proc/sys, /proc/bus (paths that
    // every kernel has; /proc/kcore and /proc/sysrq-trigger depend on its config).
    let d = mount_points(&ct, &[]);
    let paths = ["/proc/keys", "/proc/timer_list", "/proc/sys", "/proc/bus"];
    for p in paths {
        assert!(has(&d, p), "{p} is masked or read-only by default: {d:?}");
    }
    // unmask= lifts the listed paths only.
    let u = mount_points(&ct, &["--security-opt", "unmask=/proc/keys:/proc/sys"]);
    assert!(!has(&u, "/proc/keys") && !has(&u, "/proc/sys"), "{u:?}");
    assert!(has(&u, "/proc/timer_list") && has(&u, "/proc/bus"), "{u:?}");
    // unmask=ALL, systempaths=unconfined and --privileged lift them all.
    for opts in [
        &["--security-opt", "unmask=ALL"][..],
        &["--security-opt", "systempaths=unconfined"],
        &["--privileged"],
    ] {
        let m = mount_points(&ct, opts);
        for p in paths {
            assert!(!has(&m, p), "{opts:?}: {p} still a mount point");
        }
    }
    // mask= hides more: a file reads empty, a directory is an empty read-only tmpfs.
    let out = inside(
        &ct,
        &["--security-opt", "mask=/etc/group:/tmp"],
        "wc -c < /etc/group; ls -A /tmp | wc -l; touch /tmp/x 2>/dev/null && echo rw || echo ro; \
         grep -c ' /tmp ' /proc/self/mountinfo",
    );
    let got: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(got, ["0", "0", "ro", "1"], "{out}");
    assert!(inside(&ct, &[], "wc -c < /etc/group").trim() != "0");
    ct.assert_clean("after the runs");
}

#[test]
fn inspect_shows_the_resolved_security_settings() {
    let ct = Ct::new();
    ct.ok(&[
        "create",
        "--name",
        "sec",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "chown",
        "--security-opt",
        "unmask=/proc/keys",
        "--security-opt",
        "mask=/etc/group",
        "bb",
        "true",
    ]);
    let f = |t: &str| ct.inspect("sec", t);
    assert_eq!(f("{{json .HostConfig.CapAdd}}"), r#"["chown"]"#);
    assert_eq!(f("{{json .HostConfig.CapDrop}}"), r#"["ALL"]"#);
    assert_eq!(f("{{.HostConfig.Privileged}}"), "false");
    assert_eq!(
        f("{{json .HostConfig.SecurityOpt}}"),
        r#"["unmask=/proc/keys","mask=/etc/group"]"#
    );
    let masked = f("{{json .HostConfig.MaskedPaths}}");
    assert!(!masked.contains("\"/proc/keys\"") && masked.contains("\"/etc/group\""));
    assert!(f("{{json .HostConfig.ReadonlyPaths}}").contains("\"/proc/sys\""));
    assert_eq!(
        f("{{json .Berth.Security.Capabilities}}"),
        r#"["CAP_CHOWN"]"#
    );
    assert_eq!(f("{{.Berth.Security.Seccomp.Mode}}"), "filter");
    assert_eq!(f("{{.Berth.Security.Seccomp.Profile}}"), "builtin");
    assert_eq!(f("{{json .Berth.Security.IDMappings}}"), "null");
    assert_eq!(
        f("{{json .Berth.Security.MaskedPaths}}"),
        f("{{json .HostConfig.MaskedPaths}}")
    );
    ct.ok(&["create", "--name", "priv", "--privileged", "bb", "true"]);
    assert_eq!(ct.inspect("priv", "{{json .HostConfig.MaskedPaths}}"), "[]");
    assert_eq!(
        ct.inspect("priv", "{{.Berth.Security.Seccomp.Mode}}"),
        "disabled"
    );
    ct.ok(&["rm", "sec", "priv"]);
    ct.assert_clean("after inspect");
}

#[test]
fn cap_names_take_any_spelling_and_all() {
    let ct = Ct::new();
    for opts in [
        &["--cap-drop", "ALL", "--cap-add", "CHOWN"][..],
        &["--cap-drop", "all", "--cap-add", "cap_chown"],
        &["--cap-drop=All", "--cap-add=Cap_Chown"],
    ] {
        assert_eq!(
            status_field(&ct, opts, "CapEff"),
            "0000000000000001",
            "{opts:?}"
        );
        assert_eq!(status_field(&ct, opts, "CapBnd"), "0000000000000001");
    }
    // Docker's defaults less one, plus one.
    let def = u64::from_str_radix(&status_field(&ct, &[], "CapEff"), 16).unwrap();
    let tweaked = ["--cap-drop", "net_raw", "--cap-add", "sys_ptrace"];
    let t = u64::from_str_radix(&status_field(&ct, &tweaked, "CapEff"), 16).unwrap();
    assert_eq!(t, (def & !(1 << 13)) | (1 << 19), "{def:x} -> {t:x}");
    // ALL and --privileged give what this host's bounding set has, no more.
    let host = host_status_field("CapBnd");
    assert_eq!(status_field(&ct, &["--cap-add", "ALL"], "CapEff"), host);
    assert_eq!(status_field(&ct, &["--cap-add", "all"], "CapBnd"), host);
    assert_eq!(status_field(&ct, &["--privileged"], "CapEff"), host);
    ct.assert_clean("after the runs");
}

#[test]
fn default_pids_limit_and_ulimits_apply_and_change() {
    let ct = Ct::new();
    let (_, own_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let hard = own_hard.min(524_288);
    let script = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
                  ulimit -Sn; ulimit -Hn";
    let look = |ct: &Ct, opts: &[&str]| -> Vec<String> {
        inside(ct, opts, script)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        look(&ct, &[]),
        ["4096".to_string(), "1024".into(), hard.to_string()]
    );
    ct.ok(&["create", "--name", "dflt", "bb", "true"]);
    assert_eq!(ct.inspect("dflt", "{{.HostConfig.PidsLimit}}"), "4096");
    assert_eq!(
        ct.inspect("dflt", "{{json .HostConfig.Ulimits}}"),
        format!(r#"[{{"Hard":{hard},"Name":"nofile","Soft":1024}}]"#)
    );
    ct.ok(&["rm", "dflt"]);
    // Per container.
    assert_eq!(look(&ct, &["--pids-limit", "100"])[0], "100");
    assert_eq!(look(&ct, &["--pids-limit", "0"])[0], "max");
    assert_eq!(look(&ct, &["--pids-limit", "-1"])[0], "max");
    assert_eq!(
        look(&ct, &["--ulimit", "nofile=512:1024"])[1..],
        ["512", "1024"]
    );
    // `update` lifts and sets it on a running container, 0 meaning unlimited as at create.
    let id = ct.detached(&["bb", "sleep", "60"]);
    let pids_max = || {
        ct.ok(&["exec", &id, "cat", "/sys/fs/cgroup/pids/pids.max"])
            .trim()
            .to_string()
    };
    assert_eq!(pids_max(), "4096");
    ct.ok(&["update", "--pids-limit", "0", &id]);
    assert_eq!(pids_max(), "max");
    assert_eq!(ct.inspect(&id, "{{.HostConfig.PidsLimit}}"), "-1");
    ct.ok(&["update", "--pids-limit", "64", &id]);
    assert_eq!(pids_max(), "64");
    ct.ok(&["rm", "-f", &id]);
    // The limit holds: 30 processes do not fit in 20.
    let (code, out, _) = ct.run(&[
        "run",
        "--rm",
        "--pids-limit",
        "20",
        "bb",
        "berth-check",
        "spawn",
        "30",
    ]);
    assert_eq!(code, 1, "{out}");
    // `spawned K ERRNO`: fork failed with EAGAIN at the limit.
    let words: Vec<&str> = out.split_whitespace().collect();
    let spawned: usize = words[1].parse().unwrap();
    assert!(spawned < 20 && words.get(2) == Some(&"EAGAIN"), "{out}");
    // Globally: flags and environment.
    let mut c = ct.cmd(&[
        "--default-pids-limit",
        "50",
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        script,
    ]);
    let o = c.output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).split_whitespace().next(),
        Some("50")
    );
    let env = |args: &[&str]| {
        let o = ct
            .cmd(args)
            .env("BERTH_DEFAULT_PIDS_LIMIT", "0")
            .env("BERTH_DEFAULT_ULIMITS", "nofile=256:512,nproc=1000:1000")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let out = env(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        &format!("{script}; ulimit -u"),
    ]);
    let got: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(got, ["max", "256", "512", "1000"], "{out}");
    let info = env(&["info"]);
    assert!(info.contains(" Default pids limit: unlimited\n"), "{info}");
    assert!(
        info.contains(" Default ulimits: nofile=256:512 nproc=1000:1000\n"),
        "{info}"
    );
    let info = ct.ok(&["info"]);
    assert!(info.contains(" Default pids limit: 4096\n"), "{info}");
    assert!(
        info.contains(&format!(" Default ulimits: nofile=1024:{hard}\n")),
        "{info}"
    );
    ct.assert_clean("after the runs");
}

#[test]
fn info_reports_the_kernels_security_features() {
    let ct = Ct::new();
    let f = |t: &str| ct.ok(&["info", "-f", t]).trim().to_string();
    assert_eq!(f("{{.SecurityFeatures.Seccomp.Filter}}"), "true");
    let actions = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap();
    assert_eq!(
        f("{{json .SecurityFeatures.Seccomp.Actions}}"),
        serde_json::to_string(&actions.split_whitespace().collect::<Vec<_>>()).unwrap()
    );
    assert_eq!(f("{{.SecurityFeatures.NoNewPrivileges}}"), "true");
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    assert_eq!(
        f("{{.SecurityFeatures.AppArmor.Enabled}}"),
        apparmor.to_string()
    );
    assert_eq!(
        f("{{.SecurityFeatures.SELinux.Enabled}}"),
        selinux.to_string()
    );
    let max_userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    assert_eq!(
        f("{{.SecurityFeatures.UserNamespaces.MaxUserNamespaces}}"),
        max_userns.trim()
    );
    let opts = f("{{json .SecurityOptions}}");
    assert!(opts.contains("\"name=seccomp,profile=builtin\""), "{opts}");
    assert!(opts.contains("\"name=cgroupns\""), "{opts}");
    assert_eq!(opts.contains("name=apparmor"), apparmor, "{opts}");
    let text = ct.ok(&["info"]);
    for line in [
        " Security Features:\n",
        "  Seccomp: filter (actions: ",
        "  No New Privileges: yes\n",
        "  Landlock: ",
        "  Idmapped Mounts: ",
    ] {
        assert!(text.contains(line), "`{line}` not in:\n{text}");
    }
}

#[test]
fn lsm_options_are_refused_where_the_lsm_is_absent() {
    let ct = Ct::new();
    // What Docker accepts everywhere runs here too.
    for opt in ["label=disable", "apparmor=unconfined"] {
        assert_eq!(
            inside(&ct, &["--security-opt", opt], "echo ok").trim(),
            "ok"
        );
    }
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    for (opt, on, lsm) in [
        ("label=type:spc_t", selinux, "SELinux"),
        ("label=level:s0:c1,c2", selinux, "SELinux"),
        ("apparmor=foo", apparmor, "AppArmor"),
    ] {
        if on {
            eprintln!("skipped `{opt}`: {lsm} is enabled on this host, so it would apply");
            continue;
        }
        let (code, _, err) = ct.run(&["create", "--security-opt", opt, "bb", "true"]);
        assert_eq!(code, 1);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!(
                "invalid --security-opt `{opt}`: {lsm} is not enabled"
            )),
            "{err}"
        );
    }
    ct.assert_clean("after the refusals");
}

#[test]
fn bad_values_fail_in_one_line_and_leave_nothing() {
    let ct = Ct::new();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--security-opt", "foo"], &["--security-opt", "`foo`"]),
        (
            &["--security-opt", "bogus=1"],
            &["--security-opt", "`bogus=1`", "unknown option"],
        ),
        (
            &["--security-opt", "label=type:x"],
            &["`label=type:x`", "SELinux"],
        ),
        (
            &["--security-opt", "label=colour:red"],
            &["`label=colour:red`"],
        ),
        (
            &["--security-opt", "apparmor=foo"],
            &["`apparmor=foo`", "AppArmor"],
        ),
        (
            &["--security-opt", "mask=relative"],
            &["`mask=relative`", "absolute"],
        ),
        (
            &["--security-opt", "unmask=/etc/passwd"],
            &["`unmask=/etc/passwd`"],
        ),
        (
            &["--security-opt", "systempaths=confined"],
            &["`systempaths=confined`"],
        ),
        (
            &["--cap-add", "NOPE"],
            &["--cap-add", "NOPE", "unknown capability"],
        ),
        (
            &["--cap-drop", "cap_foo"],
            &["--cap-drop", "cap_foo", "unknown capability"],
        ),
        (&["--pids-limit", "abc"], &["--pids-limit", "`abc`"]),
        (
            &["--ulimit", "nofile=5:3"],
            &["--ulimit", "`nofile=5:3`", "soft limit"],
        ),
        (&["--ulimit", "bogus=1"], &["--ulimit", "`bogus=1`"]),
        // Above berth's own hard limit with no CAP_SYS_RESOURCE to raise it (checked
        // below that this host is like that).
        (
            &["--ulimit", "nofile=1024:unlimited"],
            &["--ulimit", "`nofile=1024:unlimited`", "CAP_SYS_RESOURCE"],
        ),
    ];
    let selinux = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    let (_, own_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let cap_eff = host_status_field("CapEff");
    let lacks_sys_resource =
        u64::from_str_radix(&cap_eff, 16).unwrap() & (1 << 24) == 0 && own_hard != u64::MAX;
    let before = (ct.store_left(), ct.cgroups_left(), ct.mounts_left());
    for verb in ["run", "create"] {
        for (opts, words) in cases {
            if selinux && words.contains(&"SELinux") {
                continue;
            }
            if words.contains(&"CAP_SYS_RESOURCE") && !lacks_sys_resource {
                eprintln!("skipped {opts:?}: this host lets berth raise hard limits");
                continue;
            }
            let mut args = vec![verb];
            args.extend_from_slice(opts);
            args.extend(["bb", "true"]);
            let (code, out, err) = ct.run(&args);
            // `run` fails with Docker's 125 before the container runs, `create` with 1.
            let want = if verb == "run" { 125 } else { 1 };
            assert_eq!(code, want, "{args:?}: {out}{err}");
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 1, "{args:?}: one error line:\n{err}");
            for w in *words {
                assert!(lines[0].contains(w), "{args:?}: `{w}` not in: {}", lines[0]);
            }
            assert_eq!(ct.ok(&["ps", "-aq"]).trim(), "", "{args:?}");
            let after = (ct.store_left(), ct.cgroups_left(), ct.mounts_left());
            assert_eq!(after, before, "{args:?} left something behind");
        }
    }
    // Bad global defaults too.
    for (args, words) in [
        (
            &["--default-pids-limit", "lots", "create", "bb", "true"][..],
            &["--default-pids-limit", "`lots`"][..],
        ),
        (
            &["--default-ulimit", "nofile=9:1", "create", "bb", "true"],
            &["--default-ulimit", "`nofile=9:1`"],
        ),
    ] {
        let (code, _, err) = ct.run(args);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: `{w}` not in {err}");
        }
    }
    ct.assert_clean("after the bad values");
}

/// The spec berth writes means the same to runc: the same status fields, masked and
/// read-only mount points and limits inside.
#[test]
fn same_view_through_runc() {
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/bin/runc"]
        .iter()
        .find(|p| std::path::Path::new(p).is_file())
    else {
        eprintln!("skipped: runc is not installed");
        return;
    };
    let ours = Ct::new();
    let theirs = Ct::with_runtime(runc);
    let script = "grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/self/status; \
                  cat /sys/fs/cgroup/pids/pids.max; ulimit -Sn; ulimit -Hn; \
                  grep -oE ' /proc/[a-z_]+ | /etc/group | /sys/firmware ' /proc/self/mountinfo | sort";
    let cases: [&[&str]; 5] = [
        &[],
        &[
            "--security-opt",
            "no-new-privileges",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "chown",
        ],
        &[
            "--security-opt",
            "unmask=/proc/keys:/proc/sys",
            "--security-opt",
            "mask=/etc/group",
        ],
        &[
            "--security-opt",
            "systempaths=unconfined",
            "--pids-limit",
            "77",
        ],
        &["--privileged", "--ulimit", "nofile=100:200"],
    ];
    for opts in cases {
        assert_eq!(
            inside(&ours, opts, script),
            inside(&theirs, opts, script),
            "{opts:?}"
        );
    }
}
