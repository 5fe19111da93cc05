//! Container escapes: what a default `berth run` container must not do, each with the exact
//! errno Docker's defaults give (its capability set, its seccomp profile, its masked and
//! read-only paths, its device rules), and the reverse, that the same probe works once
//! `--privileged`, `--cap-add` or `seccomp=unconfined` allows it, so no check passes by
//! accident. Probes run inside with `berth-check try ...` (`ok` or the errno's name).
//! The same default probes go through runc as a differential. CVE-2019-5736 (the runtime
//! binary through /proc/PID/exe) and CVE-2021-30465 (symlinked mount targets) are tried
//! for real.

mod common;

use common::containers::{probes, Ct};

/// (probe, errno from a default container). Docker's answers: its seccomp profile refuses
/// with EPERM every syscall it does not list or ties to a capability the default set lacks;
/// /proc/sys, /proc/sysrq-trigger and /sys are read-only; the device rules let any node be
/// made (CAP_MKNOD is a default) but not opened.
const DEFAULT: [(&str, &str); 27] = [
    ("mount tmpfs /tmp", "EPERM"),
    ("unshare user", "EPERM"),
    ("unshare mnt", "EPERM"),
    ("unshare net", "EPERM"),
    ("setns /proc/1/ns/uts", "EPERM"),
    ("clone mnt", "EPERM"),
    ("clone user", "EPERM"),
    ("clone pid,net", "EPERM"),
    ("keyctl", "EPERM"),
    ("add-key", "EPERM"),
    ("bpf", "EPERM"),
    ("perf-event-open", "EPERM"),
    ("userfaultfd", "EPERM"),
    ("open-by-handle-at", "EPERM"),
    ("kexec-load", "EPERM"),
    ("reboot", "EPERM"),
    ("init-module", "EPERM"),
    ("finit-module", "EPERM"),
    ("sethostname escaped", "EPERM"),
    // Docker's default set has CAP_NET_RAW.
    ("raw-socket", "ok"),
    // Opened for writing only (nothing is written): read-only mounts refuse at open.
    // /proc/sysrq-trigger joins these where the kernel has it (`sysrq_probe`).
    ("open /proc/sys/kernel/domainname w", "EROFS"),
    ("open /proc/sys/kernel/core_pattern w", "EROFS"),
    ("open /sys/kernel/profiling w", "EROFS"),
    // A block device node (8:0, a disk) can be made, as in Docker, but not opened.
    ("mknod-dev /tmp/sda b 8:0", "ok"),
    ("open /tmp/sda r", "EPERM"),
    ("mknod-dev /tmp/mem c 1:1", "ok"),
    ("open /tmp/mem r", "EPERM"),
];

/// Writing /proc/sysrq-trigger, where this kernel has it (CONFIG_MAGIC_SYSRQ); it is
/// only opened, never written.
fn sysrq_probe() -> Option<(&'static str, &'static str)> {
    if std::path::Path::new("/proc/sysrq-trigger").exists() {
        Some(("open /proc/sysrq-trigger w", "EROFS"))
    } else {
        eprintln!("skipped /proc/sysrq-trigger: this kernel has none");
        None
    }
}

/// The container's cgroup mounts are read-only. On a cgroup v1 host they sit on a tmpfs
/// of the container's own, which stays writable as runc leaves it (Docker's containers
/// can mkdir there too; nothing outside the container sees it).
fn cgroup_probes() -> Vec<(&'static str, &'static str)> {
    if std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
        vec![
            ("mkdir /sys/fs/cgroup/memory/escaped", "EROFS"),
            ("mkdir /sys/fs/cgroup/escaped", "ok"),
        ]
    } else {
        vec![("mkdir /sys/fs/cgroup/escaped", "EROFS")]
    }
}

/// What `berth-check try PROBE` answers on the host, as root with every capability and
/// no filter: what a probe that passed every wall of the container gets from the kernel.
fn on_host(probe: &str) -> String {
    let out = std::process::Command::new(common::containers::checker())
        .arg("try")
        .args(probe.split_whitespace())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn names(list: &[(&str, &str)]) -> Vec<String> {
    list.iter().map(|(p, _)| p.to_string()).collect()
}

fn want(list: &[(&str, &str)]) -> Vec<String> {
    list.iter().map(|(_, e)| e.to_string()).collect()
}

/// Pairs each probe with its answer, for messages that say which one differs.
fn table(list: &[String], got: &[String]) -> Vec<String> {
    list.iter()
        .zip(got)
        .map(|(p, g)| format!("{p} -> {g}"))
        .collect()
}

#[track_caller]
fn check(ct: &Ct, opts: &[&str], list: &[(&str, &str)]) {
    let probes_ = names(list);
    let refs: Vec<&str> = probes_.iter().map(String::as_str).collect();
    let got = probes(ct, opts, &refs);
    assert_eq!(
        table(&probes_, &got),
        table(&probes_, &want(list)),
        "{opts:?}"
    );
}

#[test]
fn default_container_refuses_each_escape_with_dockers_errno() {
    let ct = Ct::new();
    let host = nix::unistd::gethostname().unwrap();
    // A host process the container cannot see: ESRCH, not EPERM.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = sleeper.id().to_string();
    let mut list = DEFAULT.to_vec();
    let ptrace = format!("ptrace {pid}");
    list.push((&ptrace, "ESRCH"));
    list.extend(sysrq_probe());
    list.extend(cgroup_probes());
    check(&ct, &[], &list);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(nix::unistd::gethostname().unwrap(), host);
    // The host's UTS namespace: still no CAP_SYS_ADMIN, so the same EPERM.
    check(&ct, &["--uts", "host"], &[("sethostname escaped", "EPERM")]);
    assert_eq!(nix::unistd::gethostname().unwrap(), host);
    let inside = ct.ok(&["run", "--rm", "--uts", "host", "bb", "hostname"]);
    assert_eq!(
        inside.trim(),
        host.to_string_lossy(),
        "--uts host shows the host's name"
    );
}

#[test]
fn dropped_capabilities_refuse_with_eperm() {
    let ct = Ct::new();
    check(&ct, &["--cap-drop", "NET_RAW"], &[("raw-socket", "EPERM")]);
    check(
        &ct,
        &["--cap-drop", "MKNOD"],
        &[
            ("mknod-dev /tmp/sda b 8:0", "EPERM"),
            ("mknod-dev /tmp/mem c 1:1", "EPERM"),
        ],
    );
    check(
        &ct,
        &["--cap-drop", "CHOWN"],
        &[("chown /tmp 1:1", "EPERM")],
    );
    check(&ct, &[], &[("chown /tmp 1:1", "ok")]);
}

/// The reverse: each wall comes from a setting, and lifting the setting lifts the wall.
/// Probes that pass the privilege checks fail on their harmless arguments instead
/// (EINVAL, EFAULT, EBADF, ENOEXEC), which shows the call reached the kernel's own code.
#[test]
fn the_same_probes_work_when_the_wall_is_lifted() {
    let ct = Ct::new();
    // The kernel's own answers: EINVAL, EFAULT, EBADF, or ENOSYS where this kernel was
    // built without modules or kexec (seen here); never EPERM.
    let host: Vec<(&str, String)> = [
        "bpf",
        "perf-event-open",
        "open-by-handle-at",
        "kexec-load",
        "reboot",
        "init-module",
        "finit-module",
    ]
    .into_iter()
    .map(|p| (p, on_host(p)))
    .collect();
    for (p, answer) in &host {
        assert!(
            !["EPERM", "ok", ""].contains(&answer.as_str()),
            "{p} on the host: {answer}"
        );
    }
    let mut privileged = vec![
        ("mount tmpfs /tmp", "ok"),
        ("unshare mnt", "ok"),
        ("setns /proc/1/ns/uts", "ok"),
        ("clone mnt", "ok"),
        ("clone pid,net", "ok"),
        ("keyctl", "ok"),
        ("open /proc/sys/kernel/domainname w", "ok"),
        ("open /sys/kernel/profiling w", "ok"),
        ("mknod-dev /tmp/null c 1:3", "ok"),
        ("open /tmp/null r", "ok"),
        ("mknod-dev /tmp/sda b 8:0", "ok"),
        // Every device is allowed, so the open reaches the driver: no such disk here.
        ("open /tmp/sda r", "ENXIO"),
    ];
    privileged.extend(host.iter().map(|(p, a)| (*p, a.as_str())));
    check(&ct, &["--privileged"], &privileged);
    check(
        &ct,
        &["--security-opt", "seccomp=unconfined"],
        &[
            ("unshare user", "ok"),
            ("clone user", "ok"),
            ("keyctl", "ok"),
            ("add-key", "ok"),
            ("userfaultfd", "ok"),
            // Without CAP_SYS_ADMIN the kernel itself refuses.
            ("unshare mnt", "EPERM"),
            ("mount tmpfs /tmp", "EPERM"),
        ],
    );
    // Docker's profile ties these syscalls to single capabilities.
    let by_cap = [
        ("DAC_READ_SEARCH", "open-by-handle-at"),
        ("SYS_BOOT", "reboot"),
        ("SYS_MODULE", "init-module"),
        ("SYS_MODULE", "finit-module"),
    ];
    for (cap, probe) in by_cap {
        let answer = &host.iter().find(|(p, _)| *p == probe).unwrap().1;
        check(&ct, &["--cap-add", cap], &[(probe, answer)]);
    }
    check(
        &ct,
        &["--cap-add", "SYS_ADMIN"],
        &[
            ("mount tmpfs /tmp", "ok"),
            ("unshare mnt", "ok"),
            ("setns /proc/1/ns/uts", "ok"),
            ("clone mnt", "ok"),
            ("sethostname inside", "ok"),
        ],
    );
}

/// ptrace of a process of another uid inside the container needs CAP_SYS_PTRACE; a
/// sibling container's process is not visible at all, whatever the capabilities.
#[test]
fn ptrace_reaches_only_what_the_capabilities_allow() {
    let ct = Ct::new();
    let sibling = ct.detached(&["--name", "sib", "bb", "sleep", "60"]);
    let sib_pid = ct.inspect(&sibling, "{{.State.Pid}}");
    let app =
        "su app -s /bin/sh -c 'exec sleep 30' & sleep 0.5; berth-check try ptrace $!; kill $!";
    for (opts, want) in [(&[][..], "EPERM"), (&["--cap-add", "SYS_PTRACE"][..], "ok")] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(opts);
        args.extend(["bb", "sh", "-c", app]);
        assert_eq!(ct.ok(&args).trim(), want, "{opts:?}");
        let sib = format!("ptrace {sib_pid}");
        check(&ct, opts, &[(&sib, "ESRCH")]);
    }
    ct.ok(&["rm", "-f", "sib"]);
    ct.assert_clean("after ptrace");
}

/// /proc/kcore is masked (reads nothing), /proc/kallsyms shows no address, no fd of the
/// host reaches pid 1 or an exec'd process, and /proc/1/root is the container's root.
#[test]
fn no_kernel_addresses_no_leaked_fds_and_own_root() {
    let ct = Ct::new();
    let out = ct.ok(&[
        "run",
        "--rm",
        "bb",
        "sh",
        "-c",
        "head -n 50 /proc/kallsyms | cut -d' ' -f1 | sort -u",
    ]);
    assert_eq!(out.trim(), "0000000000000000", "kallsyms shows addresses");
    // Masked: an empty file (/dev/null bound over it) where the host has one.
    for masked in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
        if !std::path::Path::new(masked).exists() {
            eprintln!("skipped {masked}: this kernel has none");
            continue;
        }
        let wc = format!("wc -c < {masked}");
        let n = ct.ok(&["run", "--rm", "bb", "sh", "-c", &wc]);
        assert_eq!(n.trim(), "0", "{masked} is not masked");
    }

    ct.detached(&["--name", "fds", "bb", "berth-check", "sleep", "60"]);
    let pid1 = ct.ok(&[
        "exec",
        "fds",
        "sh",
        "-c",
        "ls /proc/1/fd | sort -n | tr '\\n' ' '",
    ]);
    assert_eq!(pid1.trim(), "0 1 2", "pid 1's fds");
    let exec = ct.ok(&["exec", "fds", "berth-check", "ls-fds"]);
    let fds: Vec<&str> = exec.lines().collect();
    assert_eq!(fds.len(), 3, "exec'd process: {exec}");
    for l in fds {
        let target = l.split_once(' ').unwrap().1;
        assert!(
            target.starts_with("pipe:") || target == "/dev/null" || target.starts_with("/dev/pts/"),
            "fd pointing outside: {l}"
        );
    }
    let targets = ct.ok(&[
        "exec",
        "fds",
        "sh",
        "-c",
        "readlink /proc/1/fd/*; readlink /proc/1/cwd",
    ]);
    for t in targets.lines() {
        assert!(
            t.starts_with("pipe:") || t == "/dev/null" || t == "/",
            "pid 1 holds {t}"
        );
    }
    let root = ct.ok(&[
        "exec",
        "fds",
        "sh",
        "-c",
        "readlink /proc/1/root; [ /proc/1/root/ -ef / ] && echo same",
    ]);
    assert_eq!(root.trim(), "/\nsame");
    ct.ok(&["rm", "-f", "fds"]);
}

/// The runtime binary `name` on this host, when installed.
fn runtime_binary(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

/// The same default probes through runc (with the spec berth writes): the same errnos.
#[test]
fn same_errnos_through_runc() {
    let Some(runc) = runtime_binary("runc") else {
        eprintln!("skipped: runc is not installed");
        return;
    };
    let theirs = Ct::with_runtime(&runc);
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let ptrace = format!("ptrace {}", sleeper.id());
    let mut list = DEFAULT.to_vec();
    list.push((&ptrace, "ESRCH"));
    list.extend(sysrq_probe());
    list.extend(cgroup_probes());
    check(&theirs, &[], &list);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    check(
        &theirs,
        &["--cap-drop", "NET_RAW"],
        &[("raw-socket", "EPERM")],
    );
    check(
        &theirs,
        &["--cap-drop", "MKNOD"],
        &[("mknod-dev /tmp/sda b 8:0", "EPERM")],
    );
}

/// An image `name`: `bb` plus `files` (path, contents, mode) and `links` (path, target).
fn image_with(ct: &Ct, name: &str, files: &[(&str, &str, u32)], links: &[(&str, &str)]) {
    use std::os::unix::fs::PermissionsExt;
    let dir = ct.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    common::containers::image_tar(&dir);
    let root = dir.join("rootfs");
    for (path, text, mode) in files {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    for (path, target) in links {
        std::os::unix::fs::symlink(target, root.join(path.trim_start_matches('/'))).unwrap();
    }
    let tar = dir.join("image.tar");
    common::sh(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    ct.ok(&["import", "-c", "CMD [\"sh\"]", common::p(&tar), name]);
}

/// A private copy of the berth binary, so that no other test's berth keeps it busy
/// (ETXTBSY would hide the hole), and `berth ARGS` through it in `ct`'s world.
fn berth_copy(ct: &Ct) -> std::path::PathBuf {
    let copy = ct.path("berth-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_berth"), &copy).unwrap();
    copy
}

fn via(ct: &Ct, bin: &std::path::Path, args: &[&str]) -> std::process::Output {
    let c = ct.cmd(args);
    let mut mine = std::process::Command::new(bin);
    mine.args(c.get_args()).stdin(std::process::Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => mine.env(k, v),
            None => mine.env_remove(k),
        };
    }
    mine.output().expect("run the berth copy")
}

fn sha(path: &std::path::Path) -> String {
    common::sh(std::process::Command::new("sha256sum").arg(path))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The attacker's answer (`ok` is the hole) and the exe it grabbed, from its logs.
fn grab_result(ct: &Ct, name: &str) -> (String, String) {
    ct.ok(&["wait", name]);
    let o = ct.berth(&["logs", name]);
    (
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).trim().to_string(),
    )
}

/// CVE-2019-5736 for real, against a container with CAP_SYS_PTRACE (which passes the
/// kernel's ptrace access check even against our non-dumpable entering process): a process
/// inside grabs /proc/PID/exe of the process berth sends in, before it execs the user's
/// program, waits until no process runs that file any more, and opens it for writing.
/// Through `berth exec` and through `berth run` (a container in the attacker's pid
/// namespace), each with a private copy of the binary. berth runs from a read-only view of
/// its binary: EROFS, and the binary is unchanged.
///
/// The other half of the CVE, an image whose program is a script starting
/// `#!/proc/self/exe`, cannot even start on this kernel (6.18): it refuses to exec a
/// /proc/PID/exe that lies outside the caller's root (ENOENT, also for runc and nsenter).
/// Where a kernel lets it through, the same attack must meet the read-only view.
#[test]
fn runtime_binary_cannot_be_overwritten_through_proc_exe() {
    let ct = Ct::new();
    image_with(&ct, "evil", &[("/evil", "#!/proc/self/exe\n", 0o755)], &[]);
    let copy = berth_copy(&ct);
    let before = sha(&copy);

    ct.detached(&["--name", "cc", "evil", "sleep", "60"]);
    let o = via(&ct, &copy, &["exec", "cc", "/evil"]);
    let err = String::from_utf8_lossy(&o.stderr);
    ct.ok(&["rm", "-f", "cc"]);
    if err.contains("No such file") {
        eprintln!("this kernel refuses to exec a /proc/self/exe outside the root: {err}");
    } else {
        // The kernel ran our binary inside: it must be the read-only view.
        let (answer, exe) = attack(&ct, "evil", |_| {
            via(&ct, &copy, &["exec", "attacker", "/evil"]);
        });
        assert_eq!(answer, "EROFS", "#!/proc/self/exe: {answer} on {exe}");
    }

    let (answer, exe) = attack(&ct, "bb", |_| {
        via(&ct, &copy, &["exec", "attacker", "sleep", "0.2"]);
    });
    assert_eq!(answer, "EROFS", "exec: the attacker got {answer} on {exe}");
    let (answer, exe) = attack(&ct, "bb", |_| {
        let pid = [
            "run",
            "--rm",
            "--pid",
            "container:attacker",
            "bb",
            "sleep",
            "0.2",
        ];
        via(&ct, &copy, &pid);
    });
    assert_eq!(answer, "EROFS", "run: the attacker got {answer} on {exe}");
    assert_eq!(sha(&copy), before, "the binary changed");
    ct.assert_clean("after the attack");
}

/// Starts the attacker (`exe-grab next`, with CAP_SYS_PTRACE), lets `enter` send a process
/// in, and returns the attacker's answer and the exe it grabbed. The attacker may see the
/// process only after it exec'd the user's program (busybox): then it tries again.
fn attack(ct: &Ct, image: &str, enter: impl Fn(&Ct)) -> (String, String) {
    for _ in 0..5 {
        ct.detached(&[
            "--name",
            "attacker",
            "--cap-add",
            "SYS_PTRACE",
            image,
            "berth-check",
            "try",
            "exe-grab",
            "next",
            "15",
        ]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        enter(ct);
        let got = grab_result(ct, "attacker");
        ct.ok(&["rm", "-f", "attacker"]);
        if !got.1.ends_with("busybox") {
            return got;
        }
    }
    panic!("the attacker never saw the runtime's process before it exec'd");
}

/// CVE-2021-30465 class: a mount target under a symlink the image (or a shared volume,
/// swapped while the container starts) points at the host's `/` or `/etc` lands inside
/// the container's rootfs, and the host path stays untouched.
#[test]
fn mount_targets_under_symlinks_stay_in_the_rootfs() {
    let ct = Ct::new();
    image_with(
        &ct,
        "links",
        &[],
        &[("/lnroot", "/"), ("/lnetc", "../../../../etc")],
    );
    let src = ct.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("marker"), "inside\n").unwrap();
    let name = format!("berth-escape-{}", std::process::id());
    for (link, lands) in [("/lnroot", ""), ("/lnetc", "/etc")] {
        let vol = format!("{}:{link}/{name}", common::p(&src));
        let cat = format!("{lands}/{name}/marker");
        let out = ct.ok(&["run", "--rm", "-v", &vol, "links", "cat", &cat]);
        assert_eq!(out, "inside\n", "{vol}");
        let host = format!("{lands}/{name}");
        assert!(
            !std::path::Path::new(&host).exists(),
            "{host} made on the host"
        );
    }

    // The race: one container flips a directory of a shared volume into a symlink to `/`
    // while others start with a mount below it.
    ct.ok(&["volume", "create", "shared"]);
    ct.detached(&[
        "--name",
        "flipper",
        "-v",
        "shared:/v",
        "bb",
        "sh",
        "-c",
        "while :; do mkdir -p /v/d; rm -rf /v/d; ln -s / /v/d; rm -f /v/d; done",
    ]);
    let target = format!("/v/d/{name}");
    let vol = format!("{}:{target}", common::p(&src));
    for _ in 0..10 {
        // Either start fails (the target vanished) or the mount is inside.
        let _ = ct.run(&["run", "--rm", "-v", "shared:/v", "-v", &vol, "bb", "true"]);
        assert!(
            !std::path::Path::new(&format!("/{name}")).exists(),
            "/{name} made on the host"
        );
    }
    assert!(!common::containers::mount_points()
        .iter()
        .any(|m| m.contains(&name)));
    ct.ok(&["rm", "-f", "flipper"]);
}
