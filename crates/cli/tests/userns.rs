//! User namespaces per container: `--userns=auto[:size=N]`, `--uidmap`/`--gidmap`.
//!
//! Every test gives berth subordinate id files of its own (`BERTH_SUBUID_FILE`,
//! `BERTH_SUBGID_FILE`), so the host's /etc/subuid and /etc/subgid are never read or
//! written, and the ranges are per test (distinct starts, so tests running at once never
//! map the same host ids).

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::containers::Ct;
use common::{expect_ok, p};

/// A container world with subordinate id files of its own.
struct Us {
    ct: Ct,
    sub: tempfile::TempDir,
    chown: bool,
}

impl Us {
    /// `berth:START:COUNT` in both files (no entry at all when `count` is 0).
    fn new(start: u64, count: u64) -> Us {
        let sub = tempfile::tempdir().unwrap();
        let line = if count == 0 {
            "someone:100000:65536\n".to_string()
        } else {
            format!("someone:100000:65536\nberth:{start}:{count}\n")
        };
        for f in ["subuid", "subgid"] {
            std::fs::write(sub.path().join(f), &line).unwrap();
        }
        let u = Us {
            ct: Ct::new(),
            sub,
            chown: false,
        };
        u.import_bbu();
        u
    }

    /// `bbu`: `bb` with /home/app owned by app (1000:1000), a setuid copy of busybox at
    /// /bin/suid and, where setcap exists, berth-check with cap_net_raw at /bin/capped.
    /// True when the capability was set.
    fn import_bbu(&self) -> bool {
        let rootfs = self.ct.env.work.path().join("rootfs");
        let run = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
        run(Command::new("chown").args(["1000:1000", p(&rootfs.join("home/app"))]));
        std::fs::copy(rootfs.join("bin/busybox"), rootfs.join("bin/suid")).unwrap();
        run(Command::new("chmod").args(["4750", p(&rootfs.join("bin/suid"))]));
        let capped = rootfs.join("bin/capped");
        std::fs::copy(rootfs.join("bin/berth-check"), &capped).unwrap();
        let caps = common::have("setcap", "libcap2-bin");
        if caps {
            run(Command::new("setcap").args(["cap_net_raw+ep", p(&capped)]));
        } else {
            eprintln!("no setcap: file capabilities are not checked");
        }
        let tar = self.ct.env.work.path().join("bbu.tar");
        run(Command::new("tar")
            .args(["--xattrs", "--xattrs-include=security.capability", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        self.ok(&["import", "-c", "CMD [\"sh\"]", p(&tar), "bbu"]);
        caps
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.ct.cmd(args);
        c.env("BERTH_SUBUID_FILE", self.sub.path().join("subuid"))
            .env("BERTH_SUBGID_FILE", self.sub.path().join("subgid"))
            .env_remove("BERTH_USERNS_USER")
            .stdin(Stdio::null());
        if self.chown {
            c.env("BERTH_IDMAP", "chown");
        }
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run berth")
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        expect_ok(args, self.out(args))
    }

    #[track_caller]
    fn inspect(&self, name: &str, f: &str) -> String {
        self.ok(&["inspect", "-f", f, name]).trim().to_string()
    }

    /// `exec NAME sh -c SCRIPT`, trimmed.
    #[track_caller]
    fn sh(&self, name: &str, script: &str) -> String {
        self.ok(&["exec", name, "sh", "-c", script])
            .trim()
            .to_string()
    }

    fn pid(&self, name: &str) -> i32 {
        self.inspect(name, "{{.State.Pid}}").parse().unwrap()
    }
}

/// (container, host, size) of the single line of a /proc uid_map.
fn map_line(text: &str) -> (u64, u64, u64) {
    let n: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(n.len(), 3, "one map line: {text}");
    (n[0], n[1], n[2])
}

fn uid_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .uid()
}

#[test]
fn auto_container_is_root_inside_and_its_range_outside() {
    let u = Us::new(1_310_720, 1 << 20);
    u.ok(&[
        "run",
        "-d",
        "--name",
        "ca",
        "--userns=auto",
        "--tmpfs",
        "/scratch",
        "bbu",
        "sleep",
        "60",
    ]);
    assert_eq!(u.sh("ca", "id -u; id -g"), "0\n0");
    let (inside, host, size) = map_line(&u.sh("ca", "cat /proc/self/uid_map"));
    assert_eq!((inside, host, size), (0, 1_310_720, 65536));
    assert_eq!(
        map_line(&u.sh("ca", "cat /proc/self/gid_map")),
        (0, 1_310_720, 65536)
    );
    assert_eq!(u.inspect("ca", "{{.HostConfig.UsernsMode}}"), "auto");
    assert_eq!(
        u.inspect("ca", "{{json .HostConfig.IDMappings}}"),
        r#"{"GidMap":["0:1310720:65536"],"UidMap":["0:1310720:65536"]}"#
    );
    assert_eq!(
        u.inspect("ca", "{{json .Berth.Security.IDMappings}}"),
        r#"{"GidMap":["0:1310720:65536"],"UidMap":["0:1310720:65536"]}"#
    );
    // The image's files: root's inside, the range's first id outside.
    assert_eq!(
        u.sh("ca", "stat -c %u:%g /bin/busybox /etc /"),
        "0:0\n0:0\n0:0"
    );
    assert_eq!(u.sh("ca", "stat -c %u /home/app"), "1000");
    let root = PathBuf::from(format!("/proc/{}/root", u.pid("ca")));
    assert_eq!(uid_of(&root.join("bin/busybox")), 1_310_720);
    assert_eq!(uid_of(&root.join("home/app")), 1_311_720);
    // What it writes lands in its upper dir with the mapped owner.
    u.sh(
        "ca",
        "echo x > /new && chown 1000 /etc/passwd && echo y >> /etc/hosts",
    );
    let upper = PathBuf::from(u.inspect("ca", "{{.GraphDriver.Data.UpperDir}}"));
    assert_eq!(uid_of(&upper.join("new")), 1_310_720);
    assert_eq!(uid_of(&upper.join("etc/passwd")), 1_311_720);
    assert_eq!(
        uid_of(&upper),
        1_310_720,
        "the upper's root is the mapped root's"
    );
    // The kernel's files work in the namespace.
    let probe =
        "echo ok > /dev/null && head -c1 /dev/zero | wc -c && ls /sys/class/net >/dev/null \
                 && echo s > /dev/shm/s && echo t > /scratch/t && ls -d /dev/mqueue /proc/self/ns/user >/dev/null \
                 && grep -c . /proc/self/mountinfo >/dev/null && echo fine";
    assert_eq!(u.sh("ca", probe), "1\nfine");
    // This kernel idmaps the layers (no chowned copy was made) ...
    let id = u.inspect("ca", "{{.Id}}");
    let snap = u.ct.env.root.path().join("overlay/containers").join(&id);
    assert!(snap.join("upper").is_dir() && !snap.join("idlower").exists());
    // ... and does again at the next start: the same owners, the same files.
    u.ok(&["stop", "-t", "0", "ca"]);
    u.ok(&["start", "ca"]);
    assert_eq!(
        u.sh("ca", "stat -c %u /new /bin/busybox /etc/passwd"),
        "0\n0\n1000"
    );
    assert_eq!(
        map_line(&u.sh("ca", "cat /proc/self/uid_map")),
        (0, 1_310_720, 65536)
    );
    // The namespace's root is not the host's: no module loading, no host devices.
    assert_eq!(u.sh("ca", "berth-check try mknod /tmp/n || true"), "EPERM");
    u.ok(&["rm", "-f", "ca"]);
}

#[test]
fn missing_entry_is_appended_after_the_others() {
    let u = Us::new(0, 0);
    let out = u.ok(&[
        "run",
        "--rm",
        "--userns=auto",
        "bbu",
        "cat",
        "/proc/self/uid_map",
    ]);
    // After someone:100000:65536, rounded up to 65536: 196608, 2^26 ids.
    assert_eq!(map_line(&out), (0, 196_608, 65536));
    for f in ["subuid", "subgid"] {
        let text = std::fs::read_to_string(u.sub.path().join(f)).unwrap();
        assert_eq!(text, "someone:100000:65536\nberth:196608:67108864\n", "{f}");
    }
}

#[test]
fn auto_ranges_are_never_shared_and_come_back_at_rm() {
    let u = Us::new(2_621_440, 65536 * 3);
    let a = u.ok(&[
        "create",
        "--name",
        "ca",
        "--userns=auto",
        "bbu",
        "sleep",
        "60",
    ]);
    u.ok(&[
        "run",
        "-d",
        "--name",
        "cb",
        "--userns=auto",
        "bbu",
        "sleep",
        "60",
    ]);
    u.ok(&[
        "run",
        "-d",
        "--name",
        "cc",
        "--userns=auto:size=1000",
        "bbu",
        "sleep",
        "60",
    ]);
    let maps = |n: &str| u.inspect(n, "{{index .HostConfig.IDMappings.UidMap 0}}");
    assert_eq!(
        maps("ca"),
        "0:2621440:65536",
        "a created container holds its range"
    );
    assert_eq!(maps("cb"), "0:2686976:65536");
    assert_eq!(maps("cc"), "0:2752512:1000");
    assert_eq!(
        map_line(&u.sh("cc", "cat /proc/self/uid_map")),
        (0, 2_752_512, 1000)
    );
    // The range is taken from the store: kill -9 of everything leaves b's still held.
    let b_pid = u.pid("cb");
    let _ = Command::new("kill")
        .args(["-9", &b_pid.to_string()])
        .status();
    let err = u.out(&["create", "--userns=auto", "bbu", "true"]);
    assert!(!err.status.success(), "a fourth range does not exist");
    let line = String::from_utf8_lossy(&err.stderr);
    assert!(
        line.contains("--userns") && line.contains("no free range"),
        "{line}"
    );
    u.ok(&["rm", "-f", a.trim()]);
    u.ok(&["rm", "-f", "cc"]);
    // Creates at once never take the same range: the two free ones go to two of them.
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| u.out(&["create", "--userns=auto", "bbu", "true"])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ids: Vec<String> = outs
        .iter()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "two free ranges, two creates succeed");
    let mut got: Vec<String> = ids.iter().map(|i| maps(i)).collect();
    got.sort();
    assert_eq!(got, ["0:2621440:65536", "0:2752512:65536"]);
    for i in &ids {
        u.ok(&["rm", i]);
    }
    let d = u.ok(&["create", "--name", "cd", "--userns=auto", "bbu", "true"]);
    assert_eq!(maps(d.trim()), "0:2621440:65536", "rm gave a's range back");
}

#[test]
fn kill_9_of_create_never_leaks_a_range() {
    let u = Us::new(6_553_600, 65536 * 2);
    for i in 0..12u64 {
        let mut child = u
            .cmd(&["create", "--userns=auto", "bbu", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(i * 37 % 90));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever was left holds its range until it is removed.
        for id in u.ok(&["ps", "-aq"]).split_whitespace() {
            u.ok(&["rm", "-f", id]);
        }
    }
    assert_eq!(u.ct.store_left(), Vec::<PathBuf>::new());
    for want in ["0:6553600:65536", "0:6619136:65536"] {
        let id = u.ok(&["create", "--userns=auto", "bbu", "true"]);
        let got = u.inspect(id.trim(), "{{index .HostConfig.IDMappings.UidMap 0}}");
        assert_eq!(got, want, "every range came back");
    }
}

#[test]
fn explicit_maps_as_podman() {
    let u = Us::new(3_000_000, 65536);
    let out = u.ok(&[
        "run",
        "--rm",
        "--uidmap",
        "0:3100000:1000",
        "--uidmap",
        "1000:3200000:1",
        "--gidmap",
        "0:3300000:2000",
        "bbu",
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /home/app",
    ]);
    let lines: Vec<Vec<u64>> = out
        .lines()
        .take(3)
        .map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec![0, 3_100_000, 1000],
            vec![1000, 3_200_000, 1],
            vec![0, 3_300_000, 2000]
        ]
    );
    assert_eq!(out.lines().nth(3), Some("1000:1000"));
    let id = u.ok(&["create", "--uidmap", "0:3400000:65536", "bbu"]);
    assert_eq!(
        u.inspect(id.trim(), "{{.HostConfig.UsernsMode}}"),
        "private"
    );
    assert_eq!(
        u.inspect(id.trim(), "{{json .HostConfig.IDMappings}}"),
        r#"{"GidMap":["0:3400000:65536"],"UidMap":["0:3400000:65536"]}"#,
        "--gidmap defaults to --uidmap"
    );
}

#[test]
fn volumes_are_idmapped_host_dirs_only_when_asked() {
    let u = Us::new(3_932_160, 1 << 20);
    let host = u.ct.env.path("hostdir");
    std::fs::create_dir(&host).unwrap();
    let secret = host.join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let plain = format!("{}:/plain", p(&host));
    let mapped = format!("{}:/mapped:idmap", p(&host));
    u.ok(&[
        "run",
        "-d",
        "--name",
        "cv",
        "--userns=auto",
        "-v",
        "data:/data",
        "-v",
        &plain,
        "-v",
        &mapped,
        "bbu",
        "sleep",
        "60",
    ]);
    // A named volume is idmapped (podman's `:idmap`): root inside writes root's files.
    u.sh(
        "cv",
        "touch /data/made && chown 1000 /data && touch /mapped/made",
    );
    let vol = u.ct.env.root.path().join("volumes/data/_data");
    assert_eq!(uid_of(&vol.join("made")), 0);
    assert_eq!(uid_of(&vol), 1000);
    assert_eq!(
        uid_of(&host.join("made")),
        0,
        "an idmapped bind writes as root"
    );
    assert_eq!(u.sh("cv", "cat /mapped/secret"), "s3cret");
    // Without idmap the container's root is host uid 3932160: host root's 0600 file is
    // neither readable nor writable, and the directory not writable.
    assert_eq!(u.sh("cv", "stat -c %u /plain/secret"), "65534");
    assert_eq!(
        u.sh("cv", "berth-check try open /plain/secret r || true"),
        "EACCES"
    );
    assert_eq!(
        u.sh("cv", "berth-check try open /plain/secret w || true"),
        "EACCES"
    );
    assert_eq!(
        u.sh("cv", "berth-check try write /plain/new x || true"),
        "EACCES"
    );
    assert!(!host.join("new").exists());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "s3cret\n");
}

#[test]
fn chown_fallback_keeps_modes_setuid_and_capabilities() {
    let mut u = Us::new(4_980_736, 1 << 20);
    u.chown = true;
    let caps = common::have("setcap", "libcap2-bin");
    u.ok(&[
        "run",
        "-d",
        "--name",
        "cf",
        "--userns=auto",
        "bbu",
        "sleep",
        "60",
    ]);
    assert_eq!(
        u.sh(
            "cf",
            "stat -c '%a %u:%g' /bin/suid /bin/busybox /tmp /home/app"
        ),
        "4750 0:0\n755 0:0\n1777 0:0\n755 1000:1000"
    );
    let root = PathBuf::from(format!("/proc/{}/root", u.pid("cf")));
    let lower = u.ct.env.root.path().join("overlay/containers");
    let id = u.inspect("cf", "{{.Id}}");
    let idlower = lower.join(&id).join("idlower");
    assert!(idlower.is_dir(), "the fallback made its copy");
    assert_eq!(uid_of(&idlower.join("bin/suid")), 4_980_736);
    assert_eq!(uid_of(&root.join("home/app")), 4_981_736);
    if caps {
        let got = Command::new("getcap")
            .arg(idlower.join("bin/capped"))
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&got.stdout);
        assert!(got.contains("cap_net_raw=ep"), "{got}");
        // The capability holds in the container (so its root id is the namespace's root):
        // an unprivileged user gets it from the file.
        let eff = |prog: &str| {
            let out = u.ok(&["exec", "-u", "1000", "cf", prog, "cat", "/proc/self/status"]);
            let line = out.lines().find(|l| l.starts_with("CapEff:")).unwrap();
            line.split_whitespace().last().unwrap().to_string()
        };
        assert_eq!(eff("/bin/berth-check"), "0000000000000000");
        assert_eq!(
            eff("/bin/capped"),
            "0000000000002000",
            "cap_net_raw from the file"
        );
    }
}

#[test]
fn host_and_container_namespaces_alongside_a_user_namespace() {
    let u = Us::new(5_505_024, 1 << 20);
    u.ok(&["run", "-d", "--name", "peer", "bbu", "sleep", "60"]);
    let peer_net = u.sh("peer", "readlink /proc/self/ns/net");
    // Another container's network (joined before the user namespace is made; /sys is the
    // host's, as runc binds it), the host's pid namespace (/proc bound from the host) and
    // ipc namespace.
    let out = u.ok(&[
        "run",
        "--rm",
        "--userns=auto",
        "--network",
        "container:peer",
        "bbu",
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/net; ls /sys/class >/dev/null && echo sys",
    ]);
    assert_eq!(out.trim(), format!("0\n{peer_net}\nsys"));
    // exec joins it too: the peer's network before the container's user namespace.
    u.ok(&[
        "run",
        "-d",
        "--name",
        "cn",
        "--userns=auto",
        "--network",
        "container:peer",
        "bbu",
        "sleep",
        "60",
    ]);
    assert_eq!(
        u.sh("cn", "id -u; readlink /proc/self/ns/net"),
        format!("0\n{peer_net}")
    );
    let out = u.ok(&[
        "run",
        "--rm",
        "--userns=auto",
        "--pid",
        "host",
        "bbu",
        "sh",
        "-c",
        "id -u; test -d /proc/1 && readlink /proc/self/ns/pid",
    ]);
    let host_pid = std::fs::read_link("/proc/self/ns/pid").unwrap();
    assert_eq!(out.trim(), format!("0\n{}", host_pid.display()));
    let out = u.ok(&[
        "run",
        "--rm",
        "--userns=auto",
        "--ipc",
        "host",
        "bbu",
        "sh",
        "-c",
        "readlink /proc/self/ns/ipc",
    ]);
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_eq!(out.trim(), host_ipc.display().to_string());
}

/// `tar -tv` lines of `tar` as (owner, path).
fn tar_owners(tar: &[u8]) -> Vec<(String, String)> {
    let mut child = Command::new("tar")
        .args(["-tvf", "-", "--numeric-owner"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(tar).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1].to_string(), f[5].trim_end_matches('/').to_string())
        })
        .collect()
}

#[test]
fn cp_export_and_commit_use_the_containers_own_ids() {
    let u = Us::new(6_029_312, 1 << 20);
    u.ok(&[
        "run",
        "-d",
        "--name",
        "cx",
        "--userns=auto",
        "bbu",
        "sleep",
        "60",
    ]);
    u.sh(
        "cx",
        "echo a > /made && chown 1000:1000 /made && rm /bin/sh",
    );
    // export and cp out: the container's ids, not the host's.
    let tar = u.out(&["export", "cx"]).stdout;
    let owners = tar_owners(&tar);
    let of = |p: &str| owners.iter().find(|(_, q)| q == p).map(|(o, _)| o.clone());
    assert_eq!(of("made").as_deref(), Some("1000/1000"), "{owners:?}");
    assert_eq!(of("bin/busybox").as_deref(), Some("0/0"));
    assert_eq!(of("home/app").as_deref(), Some("1000/1000"));
    assert_eq!(of("bin/sh"), None, "removed in the container");
    let tar = u.out(&["cp", "cx:/made", "-"]).stdout;
    assert_eq!(tar_owners(&tar)[0].0, "1000/1000");
    // cp in: owned by the container's root (or, with -a, the archive's ids), mapped.
    let src = u.ct.env.path("in");
    std::fs::write(&src, "in\n").unwrap();
    std::os::unix::fs::chown(&src, Some(1234), Some(1234)).unwrap();
    u.ok(&["cp", p(&src), "cx:/in"]);
    u.ok(&["cp", "-a", p(&src), "cx:/in-a"]);
    let out = u.ok(&["exec", "cx", "stat", "-c", "%u:%g", "/in", "/in-a"]);
    assert_eq!(out.trim(), "0:0\n1234:1234");
    let upper = PathBuf::from(u.inspect("cx", "{{.GraphDriver.Data.UpperDir}}"));
    assert_eq!(uid_of(&upper.join("in")), 6_029_312);
    assert_eq!(uid_of(&upper.join("in-a")), 6_029_312 + 1234);
    // commit: the new layer has the container's ids; a container of it without a user
    // namespace sees them as they were inside.
    u.ok(&["commit", "cx", "cximg"]);
    let out = u.ok(&[
        "run", "--rm", "cximg", "stat", "-c", "%u:%g", "/made", "/in-a", "/",
    ]);
    assert_eq!(out.trim(), "1000:1000\n1234:1234\n0:0");
    let o = u.out(&["run", "--rm", "cximg", "/bin/sh", "-c", "true"]);
    assert!(!o.status.success(), "/bin/sh was removed in the container");
}

#[test]
fn cp_through_a_named_volume_keeps_the_containers_ids() {
    let u = Us::new(7_077_888, 1 << 20);
    let run = [
        "run",
        "-d",
        "--name",
        "cv",
        "--userns=auto",
        "-v",
        "data:/data",
    ];
    u.ok(&[&run[..], &["bbu", "sleep", "60"]].concat());
    u.sh("cv", "echo a > /data/made && chown 1000:1000 /data/made");
    let vol = u.ct.env.root.path().join("volumes/data/_data");
    // Out: the container's ids (the volume holds them as they are inside).
    let tar = u.out(&["cp", "cv:/data/made", "-"]).stdout;
    assert_eq!(tar_owners(&tar)[0].0, "1000/1000");
    // In: through the idmapped volume, root's inside and on disk; -a keeps the archive's.
    let src = u.ct.env.path("in");
    std::fs::write(&src, "in\n").unwrap();
    std::os::unix::fs::chown(&src, Some(1234), Some(1234)).unwrap();
    u.ok(&["cp", p(&src), "cv:/data/in"]);
    u.ok(&["cp", "-a", p(&src), "cv:/data/in-a"]);
    let out = u.ok(&[
        "exec",
        "cv",
        "stat",
        "-c",
        "%u:%g",
        "/data/in",
        "/data/in-a",
    ]);
    assert_eq!(out.trim(), "0:0\n1234:1234");
    assert_eq!(uid_of(&vol.join("in")), 0);
    assert_eq!(uid_of(&vol.join("in-a")), 1234);
    // Stopped: the same view, idmapped the same way.
    u.ok(&["stop", "-t", "0", "cv"]);
    u.ok(&["cp", p(&src), "cv:/data/stopped"]);
    assert_eq!(uid_of(&vol.join("stopped")), 0);
    let tar = u.out(&["cp", "cv:/data/made", "-"]).stdout;
    assert_eq!(tar_owners(&tar)[0].0, "1000/1000");
}

#[test]
fn bad_userns_input_fails_in_one_line_and_leaves_nothing() {
    let u = Us::new(5_242_880, 65536);
    let before = u.ct.store_left();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "--userns=bogus", "bbu", "true"],
            &["--userns", "bogus"],
        ),
        (
            &["run", "--userns=auto:size=x", "bbu", "true"],
            &["--userns", "size"],
        ),
        (
            &["run", "--uidmap", "0:x:1", "bbu", "true"],
            &["--uidmap", "0:x:1"],
        ),
        (
            &["run", "--uidmap", "0:1", "bbu", "true"],
            &["--uidmap", "0:1"],
        ),
        (
            &["run", "--uidmap", "1:400000:10", "bbu", "true"],
            &["--uidmap", "1:400000:10", "id 0"],
        ),
        (
            &[
                "run",
                "--uidmap",
                "0:100000:10",
                "--uidmap",
                "5:300000:10",
                "bbu",
                "true",
            ],
            &["--uidmap", "5:300000:10", "overlaps"],
        ),
        (
            &["run", "--gidmap", "0:4294967290:10", "bbu", "true"],
            &["--gidmap", "2^32"],
        ),
        (
            &["run", "--userns=auto", "--uidmap", "0:1:1", "bbu", "true"],
            &["--userns", "conflicts"],
        ),
        (
            &["run", "--userns=auto:size=65537", "bbu", "true"],
            &["--userns", "exceed", "berth"],
        ),
        (
            &["run", "-v", "/tmp:/t:idmap", "bbu", "true"],
            &["-v", "/tmp:/t:idmap", "user namespace"],
        ),
        (
            &[
                "run",
                "--userns=auto",
                "--pid",
                "container:other",
                "bbu",
                "true",
            ],
            &["--pid", "container:other", "user namespace"],
        ),
    ];
    for (args, words) in cases {
        let o = u.out(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: one error line:\n{err}"
        );
        for w in *words {
            assert!(err.contains(w), "{args:?}: `{w}` not in: {err}");
        }
        assert_eq!(u.ct.store_left(), before, "{args:?} left something behind");
        assert_eq!(u.ok(&["ps", "-aq"]).trim(), "", "{args:?}: ps -a");
    }
    // A runtime that makes no idmapped mounts (runc before 1.2) cannot run volumes in a
    // user namespace: refused at create, not mounted plain.
    let runc_idmaps = Command::new("runc")
        .arg("features")
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .map(|f| f["linux"]["mountExtensions"]["idmap"]["enabled"] == true);
    if runc_idmaps == Some(false) || runc_idmaps.is_none() && common::have("runc", "runc") {
        let runc = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v runc"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let args = [
            "run",
            "--runtime",
            runc.trim(),
            "--userns=auto",
            "-v",
            "vol:/v",
            "bbu",
            "true",
        ];
        let o = u.out(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.trim().lines().count() == 1,
            "{err}"
        );
        assert!(err.contains("--runtime") && err.contains("idmap"), "{err}");
        assert_eq!(u.ct.store_left(), before);
    } else {
        eprintln!("runc makes idmapped mounts (or is missing): no runtime to refuse");
    }
    // The one range taken, the next `auto` finds none: still one line, nothing made.
    u.ok(&["create", "--name", "holder", "--userns=auto", "bbu", "true"]);
    let before = u.ct.store_left();
    let o = u.out(&["run", "--userns=auto", "bbu", "true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(err.contains("no free range"), "{err}");
    assert_eq!(u.ct.store_left(), before);
    assert_eq!(u.ok(&["ps", "-aq"]).trim().lines().count(), 1);
}
