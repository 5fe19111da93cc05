//! Management verbs against a store in a temp dir: `volume create/ls/inspect/rm/prune`
//! (with containers using volumes, anonymous volumes and copy-up from the image),
//! `container prune`, `system prune`, `rmi` of an image containers use, `system df`,
//! `info`, `version` and `completion`. Containers run under a cgroup parent of their own,
//! removed with everything else when a test ends, even when it fails.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{p, sh, Env};

/// A store plus a cgroup parent of its own; containers and cgroups go on drop.
struct World {
    env: Env,
    cgroup: String,
}

impl World {
    fn new() -> World {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        World {
            env: Env::new(),
            cgroup: format!("/berth-mgmt-{}-{n}", std::process::id()),
        }
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.env
            .cmd(args)
            .env("BERTH_CGROUP_PARENT", &self.cgroup)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run berth")
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        common::expect_ok(args, self.berth(args))
    }

    /// Fails with exit 1 and exactly one error line, which is returned.
    #[track_caller]
    /// Fails with one error line: exit 1, or 125 for `run` (Docker's code for its own
    /// errors there).
    fn fails(&self, args: &[&str]) -> String {
        let want = if args.first() == Some(&"run") { 125 } else { 1 };
        common::expect_one_error(args, self.berth(args), Some(want))
    }

    fn lines(&self, args: &[&str]) -> Vec<String> {
        self.ok(args).lines().map(str::to_string).collect()
    }

    /// An image `name` of busybox plus `/etc/app` (a file owned 5:6 mode 640, a symlink and
    /// a hard link) with `VOLUME /vol` and `CMD ["/bin/sh"]`.
    fn import_app(&self, name: &str) -> String {
        let dir = self.env.path("app-rootfs");
        let app = dir.join("etc/app");
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(&app).unwrap();
        std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
        std::fs::write(app.join("conf"), "from the image\n").unwrap();
        std::os::unix::fs::chown(app.join("conf"), Some(5), Some(6)).unwrap();
        std::fs::set_permissions(
            app.join("conf"),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("conf", app.join("link")).unwrap();
        std::fs::hard_link(app.join("conf"), app.join("hard")).unwrap();
        let tar = self.env.path("app.tar");
        sh(std::process::Command::new("tar")
            .arg("-C")
            .arg(&dir)
            .arg("-cf")
            .arg(&tar)
            .arg("."));
        let changes = ["import", "-c", "CMD [\"/bin/sh\"]", "-c", "VOLUME /vol"];
        let mut args = changes.to_vec();
        args.extend([p(&tar), name]);
        self.ok(&args).trim().to_string()
    }

    fn volume_dir(&self, name: &str) -> std::path::PathBuf {
        self.env
            .root
            .path()
            .join("volumes")
            .join(name)
            .join("_data")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
        }
        remove_cgroup(&self.cgroup);
    }
}

/// Removes cgroup `parent` (and the containers' cgroups below it) from every hierarchy.
fn remove_cgroup(parent: &str) {
    let Ok(mounts) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut roots: Vec<std::path::PathBuf> = mounts.flatten().map(|e| e.path()).collect();
    roots.push("/sys/fs/cgroup".into());
    for root in roots {
        let dir = root.join(parent.trim_start_matches('/'));
        if let Ok(children) = std::fs::read_dir(&dir) {
            for c in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(c.path());
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

#[test]
fn volumes_create_list_inspect_remove_prune() {
    let w = World::new();
    assert_eq!(
        w.ok(&["volume", "create", "--label", "tier=db", "data"]),
        "data\n"
    );
    assert_eq!(w.ok(&["volume", "create", "data"]), "data\n", "idempotent");
    let anon = w.ok(&[
        "volume",
        "create",
        "--label",
        "com.docker.volume.anonymous=",
    ]);
    let anon = anon.trim();
    assert_eq!(anon.len(), 64, "a random name: {anon}");
    let mut sorted = [anon, "data"];
    sorted.sort();
    assert_eq!(
        w.lines(&["volume", "ls"]),
        [
            "DRIVER    VOLUME NAME".to_string(),
            format!("local     {}", sorted[0]),
            format!("local     {}", sorted[1]),
        ]
    );
    assert_eq!(w.lines(&["volume", "ls", "-q", "-f", "name=dat"]), ["data"]);
    assert_eq!(
        w.lines(&["volume", "ls", "-q", "--filter", "label=tier=db"]),
        ["data"]
    );
    assert_eq!(
        w.lines(&["volume", "ls", "-q", "-f", "dangling=true"])
            .len(),
        2
    );
    assert_eq!(
        w.ok(&[
            "volume",
            "ls",
            "-f",
            "name=data",
            "--format",
            "{{.Name}}:{{.Driver}}:{{.Labels}}"
        ]),
        "data:local:tier=db\n"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&w.ok(&["volume", "inspect", "data"])).unwrap();
    let v = &doc[0];
    assert_eq!(
        (v["Name"].as_str(), v["Driver"].as_str()),
        (Some("data"), Some("local"))
    );
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["tier"], "db");
    assert_eq!(
        v["Mountpoint"].as_str().map(Path::new),
        Some(w.volume_dir("data").as_path())
    );
    assert!(humantime::parse_rfc3339_weak(v["CreatedAt"].as_str().unwrap()).is_ok());
    assert_eq!(
        w.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{range $k, $v := .Labels}}{{$k}}={{$v}}{{end}} {{.Scope}}",
            "data"
        ]),
        "tier=db local\n"
    );
    // Bad input: one line naming the object, nothing left behind.
    assert!(w.fails(&["volume", "create", "a/b"]).contains("\"a/b\""));
    assert!(w
        .fails(&["volume", "create", "-d", "nfs", "x1"])
        .contains("nfs"));
    assert!(w
        .fails(&["volume", "create", "-o", "type=tmpfs", "x2"])
        .contains("type"));
    assert!(w
        .fails(&["volume", "ls", "-f", "colour=red"])
        .contains("colour"));
    assert!(w.fails(&["volume", "inspect", "nope"]).contains("nope"));
    assert!(w.fails(&["volume", "rm", "nope"]).contains("nope"));
    assert_eq!(w.ok(&["volume", "rm", "-f", "nope"]), "nope\n");
    assert_eq!(
        w.lines(&["volume", "ls", "-q"]).len(),
        2,
        "nothing left behind"
    );
    // prune: anonymous ones by default, every unused one with -a.
    let out = w.ok(&["volume", "prune", "-f"]);
    assert!(
        out.starts_with(&format!("Deleted Volumes:\n{anon}\n\n")),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(w.lines(&["volume", "ls", "-q"]), ["data"]);
    std::fs::write(w.volume_dir("data").join("f"), [0u8; 1500]).unwrap();
    let out = w.ok(&["volume", "prune", "-f", "--filter", "label=tier=web", "-a"]);
    assert_eq!(out, "Total reclaimed space: 0B\n", "label filter keeps it");
    // Without -f the prompt gets end of input: nothing goes.
    let out = w.ok(&["volume", "prune", "-a"]);
    assert!(
        out.starts_with("WARNING! This will remove all local volumes"),
        "{out}"
    );
    assert_eq!(w.lines(&["volume", "ls", "-q"]), ["data"]);
    let out = w.ok(&["volume", "prune", "-af"]);
    assert!(
        out.contains("data\n") && out.contains("Total reclaimed space: 1.5kB"),
        "{out}"
    );
    assert!(w.lines(&["volume", "ls", "-q"]).is_empty());
}

#[test]
fn volumes_used_by_containers_are_filled_from_the_image_and_kept() {
    let w = World::new();
    w.import_app("app");
    w.ok(&[
        "run",
        "--name",
        "c0",
        "-v",
        "bare:/etc/app:nocopy",
        "app",
        "sh",
        "-c",
        ":",
    ]);
    w.ok(&["rm", "-v", "c0"]);
    assert!(
        std::fs::read_dir(w.volume_dir("bare"))
            .unwrap()
            .next()
            .is_none(),
        "nocopy leaves the volume empty"
    );
    let out = w.ok(&[
        "run",
        "--name",
        "c1",
        "-v",
        "data:/etc/app",
        "-v",
        "/anon",
        "app",
        "sh",
        "-c",
        "cat /etc/app/conf; echo new > /anon/x",
    ]);
    assert_eq!(out, "from the image\n");
    // Copy-up kept owner, mode, the symlink and the hard link.
    let conf = std::fs::symlink_metadata(w.volume_dir("data").join("conf")).unwrap();
    assert_eq!(
        (conf.uid(), conf.gid(), conf.mode() & 0o7777),
        (5, 6, 0o640)
    );
    let hard = std::fs::metadata(w.volume_dir("data").join("hard")).unwrap();
    assert_eq!(hard.ino(), conf.ino());
    assert_eq!(
        std::fs::read_link(w.volume_dir("data").join("link")).unwrap(),
        Path::new("conf")
    );
    // A second start does not copy over what the container changed.
    std::fs::remove_file(w.volume_dir("data").join("link")).unwrap();
    w.ok(&["start", "-a", "c1"]);
    assert!(!w.volume_dir("data").join("link").exists());
    let names = w.lines(&["volume", "ls", "-q"]);
    assert_eq!(
        names.len(),
        4,
        "data, bare, /anon and the image's /vol: {names:?}"
    );
    let anon: Vec<&String> = names.iter().filter(|n| n.len() == 64).collect();
    assert_eq!(anon.len(), 2);
    let mounts = w.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}",
        "c1",
    ]);
    assert!(
        mounts.contains("data:/etc/app ") && mounts.contains(":/vol "),
        "{mounts}"
    );
    // In use: rm refuses (even -f), prune and dangling=true leave them.
    let err = w.fails(&["volume", "rm", "-f", "data"]);
    assert!(
        err.contains("volume is in use") && err.contains("data"),
        "{err}"
    );
    assert_eq!(
        w.lines(&["volume", "ls", "-q", "-f", "dangling=true"]),
        ["bare"]
    );
    assert_eq!(
        w.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert!(w
        .fails(&["run", "-v", "x:y", "app", "true"])
        .contains("x:y"));
    // rm -v takes the anonymous ones along, named ones stay.
    w.ok(&["rm", "-v", "c1"]);
    let mut left = w.lines(&["volume", "ls", "-q"]);
    left.sort();
    assert_eq!(left, ["bare", "data"]);
    // --rm takes the container's anonymous volumes along (here the image's /vol).
    w.ok(&["run", "-d", "--rm", "app", "sh", "-c", ":"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !w.ok(&["ps", "-aq"]).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(w.lines(&["volume", "ls", "-q"]).len(), 2);
}

#[test]
fn prune_and_rmi_respect_containers() {
    let w = World::new();
    let id = w.env.import_busybox("bb");
    let short_img = &id[7..19];
    let c1 = w.ok(&["create", "--name", "c1", "--label", "keep=1", "bb", "true"]);
    let c1 = c1.trim();
    let c2 = w.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "bb",
        "/bin/busybox",
        "sleep",
        "60",
    ]);
    let c2 = c2.trim();
    let err = w.fails(&["rmi", "bb"]);
    let prefix = "berth: Error response from daemon: conflict: unable to remove repository reference \"bb\" (must force) - container ";
    let rest = err
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{err}"));
    let (container, image) = rest.split_once(" is using its referenced image ").unwrap();
    assert!([&c1[..12], &c2[..12]].contains(&container), "{err}");
    assert_eq!(image, short_img);
    assert!(w.fails(&["rmi", short_img]).contains("is being used by"));
    assert!(w
        .fails(&["rmi", "-f", short_img])
        .contains("(cannot be forced) - image is being used by running container"));
    let out = w.ok(&["image", "prune", "-a"]);
    assert_eq!(out, "Total reclaimed space: 0B\n", "images in use stay");
    let df = w.ok(&["system", "df"]);
    let rows: Vec<Vec<&str>> = df.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    assert_eq!(rows[1][..3], ["Images", "1", "1"]);
    assert_eq!(rows[2][..3], ["Containers", "2", "1"]);
    assert_eq!(rows[3][..4], ["Local", "Volumes", "0", "0"]);
    // container prune: a label filter that matches nothing, then the stopped one only.
    let out = w.ok(&["container", "prune", "-f", "--filter", "label=keep=2"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = w.ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(
        out, "Total reclaimed space: 0B\n",
        "made less than an hour ago"
    );
    assert!(w
        .fails(&["container", "prune", "-f", "--filter", "until=soon"])
        .contains("until=soon"));
    let out = w.ok(&["container", "prune", "-f", "--filter", "label=keep"]);
    assert!(
        out.starts_with(&format!("Deleted Containers:\n{c1}\n\n")),
        "{out}"
    );
    assert_eq!(w.lines(&["ps", "-aq", "--no-trunc"]), [c2]);
    w.ok(&["rm", "-f", c2]);
    // Forced by name while a stopped container uses it: untagged, the image stays.
    w.ok(&["create", "--name", "c3", "bb", "true"]);
    assert_eq!(w.ok(&["rmi", "-f", "bb"]), "Untagged: bb:latest\n");
    assert_eq!(w.lines(&["images", "-q"]), [short_img]);
    let layers = w.env.root.path().join("overlay/layers");
    let count = || std::fs::read_dir(&layers).unwrap().count();
    assert_eq!(count(), 1);
    // system prune: the container, then the now unused dangling image and its layer.
    w.ok(&[
        "volume",
        "create",
        "--label",
        "com.docker.volume.anonymous=",
        "anon1",
    ]);
    let out = w.ok(&["system", "prune", "-f", "--volumes"]);
    for want in [
        "Deleted Containers:\n",
        "Deleted Volumes:\nanon1\n",
        "Deleted Images:\n",
        "Total reclaimed space: ",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
    assert!(w.lines(&["images", "-q"]).is_empty());
    assert_eq!(count(), 0, "the image's unpacked layer went with it");
}

#[test]
fn info_version_and_completion() {
    let w = World::new();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let v2_only = !mountinfo.lines().any(|l| l.contains(" - cgroup "));
    let want = if v2_only { "2" } else { "1" };
    assert_eq!(
        w.ok(&["info", "--format", "{{.CgroupVersion}}"]).trim(),
        want
    );
    let text = w.ok(&["system", "info"]);
    for line in [
        " Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n",
        " Storage Driver: overlay2\n  Backing Filesystem: ",
        " Logging Driver: json-file\n",
        " Cgroup Driver: cgroupfs\n",
        &format!(" Cgroup Version: {want}\n"),
        " Security Options:\n",
        " OSType: linux\n",
        " Default Runtime: berth\n",
        &format!(" Docker Root Dir: {}\n", w.env.root.path().display()),
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let opts = w.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    let opts: Vec<String> = serde_json::from_str(&opts).unwrap();
    let seccomp = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .contains("Seccomp:");
    assert_eq!(
        opts.contains(&"name=seccomp,profile=builtin".to_string()),
        seccomp
    );
    assert_eq!(
        w.ok(&["info", "-f", "{{.NCPU}} {{.Images}}"])
            .split(' ')
            .nth(1),
        Some("0\n")
    );
    assert!(w
        .fails(&["info", "--format", "{{.Nope"])
        .contains("unclosed action"));
    let version = w.ok(&["version"]);
    assert!(
        version.starts_with("Client:\n Version:") && version.contains("\nServer:\n Engine:\n"),
        "{version}"
    );
    assert_eq!(
        w.ok(&["version", "--format", "{{.Client.Version}} {{.Server.Os}}"]),
        format!("{} linux\n", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = w.ok(&["completion", shell]);
        assert!(
            script.contains("run") && script.contains("ps") && script.contains("volume"),
            "{shell}"
        );
    }
    let o = w.berth(&["completion", "tcsh"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("tcsh"));
}
