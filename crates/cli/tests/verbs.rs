//! `top`, `stats`, `cp`, `commit`, `export`, `diff`, `update` and `port` against real
//! containers (root, overlayfs, cgroups). Each test has its own store, a short state dir
//! under /tmp (unix socket paths are short) and its own cgroup parent; all of it, and
//! every container, is removed when the test ends, passed or failed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{p, sh, Env};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A store, state dir and cgroup parent of one test, with the busybox image `bb`.
struct World {
    env: Env,
    state: tempfile::TempDir,
    cgroup: String,
}

impl World {
    fn new() -> World {
        let cgroup = format!(
            "/berth-verbs-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let state = tempfile::Builder::new()
            .prefix("bv")
            .tempdir_in("/tmp")
            .unwrap();
        let w = World {
            env: Env::new(),
            state,
            cgroup,
        };
        let tar = w.env.rootfs_tar(false);
        w.ok(&["import", "-c", r#"CMD ["/bin/sh"]"#, p(&tar), "bb"]);
        w
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(&["--state", p(self.state.path())]);
        c.args(args).env("BERTH_CGROUP_PARENT", &self.cgroup);
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        common::expect_ok(args, self.berth(args))
    }

    /// Fails with one error line, which is returned.
    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        common::expect_one_error(args, self.berth(args), None)
    }

    /// `run -d --name NAME [flags] bb ARGS...`; the container id.
    fn run_d(&self, name: &str, flags: &[&str], args: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--name", name];
        a.extend_from_slice(flags);
        a.push("bb");
        a.extend_from_slice(args);
        self.ok(&a).trim().to_string()
    }

    /// A file of container `id`'s cgroup: `v1` = (controller, file), `v2` = file.
    fn cgroup_file(&self, id: &str, v1: (&str, &str), v2: &str) -> String {
        let base = Path::new("/sys/fs/cgroup");
        let rel = format!("{}/{id}", self.cgroup.trim_start_matches('/'));
        let path = if base.join(v1.0).is_dir() {
            base.join(v1.0).join(&rel).join(v1.1)
        } else {
            base.join(&rel).join(v2)
        };
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .trim()
            .to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.env.path(name)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Ok(o) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            for id in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
        // Our cgroup parent in every hierarchy (v1 controllers, the unified one).
        let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        let rel = self.cgroup.trim_start_matches('/');
        let mut roots: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        roots.push(PathBuf::from("/sys/fs/cgroup"));
        for root in roots {
            let dir = root.join(rel);
            if dir.is_dir() && !dir.is_symlink() {
                remove_cgroup(&dir);
            }
        }
    }
}

/// rmdir of a cgroup and its children, deepest first.
fn remove_cgroup(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Whether the store has `id`'s overlay mounted.
fn mounted(w: &World, id: &str) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = std::fs::canonicalize(w.env.root.path()).unwrap();
    let merged = root.join("overlay/containers").join(id).join("merged");
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(merged.to_str().unwrap()))
}

fn tar_list(tar: &[u8]) -> String {
    let mut c = Command::new("tar")
        .arg("-t")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), tar).unwrap();
    drop(c.stdin.take());
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

const SLEEP: &[&str] = &["busybox", "sleep", "1000"];

#[test]
fn top_lists_the_container_processes() {
    let w = World::new();
    w.run_d("tp", &[], &["sh", "-c", "busybox sleep 1000; true"]);
    let out = w.ok(&["top", "tp"]);
    let mut lines = out.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows.iter().any(|r| r.ends_with("busybox sleep 1000")),
        "{out}"
    );
    // ps options, as `docker top t -o pid,comm`.
    let out = w.ok(&["container", "top", "tp", "-o", "pid,comm"]);
    assert!(out
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .eq(["PID", "COMMAND"]));
    assert!(out.contains("busybox"), "{out}");
    w.fails(&["top", "nope"]);
    w.fails(&["top", "tp", "-o", "comm"]);
    w.ok(&["stop", "-t", "0", "tp"]);
    w.fails(&["top", "tp"]);
}

#[test]
fn stats_show_cpu_memory_and_pids() {
    let w = World::new();
    let id = w.run_d(
        "busy",
        &["--memory", "64m"],
        &["sh", "-c", "while :; do :; done"],
    );
    w.run_d("idle", &[], SLEEP);
    let f = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.PIDs}}|{{.ID}}";
    let out = w.ok(&["stats", "--no-stream", "--format", f, "busy"]);
    let cols: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(cols[0], "busy", "{out}");
    let cpu: f64 = cols[1].trim_end_matches('%').parse().unwrap();
    // A busy loop on a loaded 2-core machine: well above idle.
    assert!(cpu > 5.0, "cpu {cpu}: {out}");
    assert!(cols[2].ends_with(" / 64MiB"), "{out}");
    assert!(cols[3].ends_with('%'));
    assert_eq!(cols[4], "1");
    assert_eq!(cols[5], &id[..12]);
    // The default table lists every running container.
    let out = w.ok(&["stats", "--no-stream", "--no-trunc"]);
    let head: Vec<&str> = out
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|s| !s.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        head,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains(&id), "{out}");
    let json = w.ok(&[
        "container",
        "stats",
        "--no-stream",
        "--format",
        "json",
        "idle",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], "idle");
    // --all adds stopped containers, with zeros.
    w.ok(&["stop", "-t", "0", "idle"]);
    let out = w.ok(&[
        "stats",
        "--no-stream",
        "--all",
        "--format",
        "{{.Name}} {{.PIDs}}",
    ]);
    assert!(out.lines().any(|l| l == "idle 0"), "{out}");
    w.fails(&["stats", "--no-stream", "nope"]);
}

#[test]
fn stats_streams_until_stopped() {
    let w = World::new();
    w.run_d("str", &[], SLEEP);
    let mut child = w
        .cmd(&["stats", "--format", "{{.Name}}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3500));
    child.kill().unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    // One redraw a second, each clearing the screen first.
    assert!(out.matches("\x1b[2J\x1b[H").count() >= 2, "{out:?}");
    assert!(out.matches("str\n").count() >= 2, "{out:?}");
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let w = World::new();
    let id = w.run_d("cpc", &[], &["sh", "-c", "busybox mkdir -p /data/sub; echo hello > /data/f; echo deep > /data/sub/g; busybox sleep 1000"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Out: a file into a directory, a directory under a new name, a tar stream.
    let out = w.path("out");
    std::fs::create_dir(&out).unwrap();
    w.ok(&["cp", "cpc:/data/f", p(&out)]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "hello\n");
    w.ok(&["cp", "cpc:/data", p(&out.join("copy"))]);
    assert_eq!(
        std::fs::read_to_string(out.join("copy/sub/g")).unwrap(),
        "deep\n"
    );
    let o = w.berth(&["cp", "cpc:/data", "-"]);
    assert!(o.status.success());
    let names = tar_list(&o.stdout);
    assert!(names.lines().any(|l| l == "data/sub/g"), "{names}");
    // In: a host file, a directory's contents, a tar stream from stdin.
    let host = w.path("host.txt");
    std::fs::write(&host, "from host\n").unwrap();
    w.ok(&["cp", p(&host), "cpc:/data/"]);
    w.ok(&["cp", p(&host), "cpc:/data/renamed"]);
    let dir = w.path("hd");
    std::fs::create_dir_all(dir.join("x")).unwrap();
    std::fs::write(dir.join("x/y"), "y\n").unwrap();
    w.ok(&["container", "cp", &format!("{}/.", p(&dir)), "cpc:/data"]);
    sh(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(w.path("in.tar"))
        .arg("x"));
    let o = w
        .cmd(&["cp", "-", "cpc:/"])
        .stdin(std::fs::File::open(w.path("in.tar")).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let seen = w.ok(&[
        "exec",
        "cpc",
        "busybox",
        "cat",
        "/data/host.txt",
        "/data/renamed",
        "/data/x/y",
        "/x/y",
    ]);
    assert_eq!(seen, "from host\nfrom host\ny\ny\n");
    // Without -a the copies belong to the container's root.
    let owner = w.ok(&[
        "exec",
        "cpc",
        "busybox",
        "stat",
        "-c",
        "%u:%g",
        "/data/host.txt",
    ]);
    assert_eq!(owner.trim(), "0:0");
    // Stopped: the snapshot is mounted for the copy and unmounted after.
    w.ok(&["stop", "-t", "0", "cpc"]);
    assert!(!mounted(&w, &id));
    w.ok(&["cp", p(&host), "cpc:/data/stopped"]);
    w.ok(&["cp", "cpc:/data/stopped", p(&out.join("back"))]);
    assert_eq!(
        std::fs::read_to_string(out.join("back")).unwrap(),
        "from host\n"
    );
    assert!(!mounted(&w, &id));
    // Refusals and unknowns: one line each, nothing left behind.
    w.fails(&["cp", "cpc:/nope", p(&out)]);
    w.fails(&["cp", p(&host), "cpc:/nope/dir/"]);
    w.fails(&["cp", "cpc:/data", p(&out.join("f"))]);
    w.fails(&["cp", p(&host), p(&out)]);
    w.fails(&["cp", "nope:/x", p(&out)]);
    assert!(!mounted(&w, &id));
}

#[test]
fn cp_never_leaves_the_container_through_symlinks() {
    let w = World::new();
    let marker = format!("berth-verbs-escape-{}", std::process::id());
    w.run_d(
        "esc",
        &[],
        &["sh", "-c", "busybox mkdir -p /tmp; busybox ln -s / /up; busybox ln -s /tmp/secret /abs; echo inside > /tmp/secret; busybox sleep 1000"],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let host = w.path("h");
    std::fs::write(&host, "x\n").unwrap();
    // `/up/tmp/` is the container's /tmp, never the host's.
    w.ok(&["cp", p(&host), &format!("esc:/up/tmp/{marker}")]);
    assert!(!Path::new("/tmp").join(&marker).exists());
    let seen = w.ok(&["exec", "esc", "busybox", "cat", &format!("/tmp/{marker}")]);
    assert_eq!(seen, "x\n");
    // -L follows /abs inside the container; without it the link itself is copied.
    w.ok(&["cp", "-L", "esc:/abs", p(&w.path("followed"))]);
    assert_eq!(
        std::fs::read_to_string(w.path("followed")).unwrap(),
        "inside\n"
    );
    w.ok(&["cp", "esc:/abs", p(&w.path("link"))]);
    assert_eq!(
        std::fs::read_link(w.path("link")).unwrap(),
        Path::new("/tmp/secret")
    );
}

/// The host directory of named volume `name`.
fn volume_dir(w: &World, name: &str) -> PathBuf {
    let doc: serde_json::Value = serde_json::from_str(&w.ok(&["volume", "inspect", name])).unwrap();
    PathBuf::from(doc[0]["Mountpoint"].as_str().unwrap())
}

#[test]
fn cp_goes_through_volumes_and_binds() {
    let w = World::new();
    let (bind, ro) = (w.path("bind"), w.path("ro"));
    std::fs::create_dir(&bind).unwrap();
    std::fs::create_dir(&ro).unwrap();
    let (vb, vr) = (format!("{}:/bind", p(&bind)), format!("{}:/ro:ro", p(&ro)));
    let setup = "echo in-container > /etc/passwd; echo invol > /vol/made; busybox ln -s /etc/passwd /vol/pw; \
                 busybox ln -s ../../../../etc /vol/up; busybox sleep 1000";
    let flags = ["-v", "cpv:/vol", "-v", &vb, "-v", &vr];
    let id = w.run_d("cv", &flags, &["sh", "-c", setup]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let host = w.path("host.txt");
    std::fs::write(&host, "from host\n").unwrap();
    // In: into the named volume and the bind, seen inside and in their host sources.
    w.ok(&["cp", p(&host), "cv:/vol/"]);
    w.ok(&["cp", p(&host), "cv:/bind/in-bind"]);
    let seen = w.ok(&[
        "exec",
        "cv",
        "busybox",
        "cat",
        "/vol/host.txt",
        "/bind/in-bind",
    ]);
    assert_eq!(seen, "from host\nfrom host\n");
    let vol = volume_dir(&w, "cpv");
    assert_eq!(
        std::fs::read_to_string(vol.join("host.txt")).unwrap(),
        "from host\n"
    );
    assert_eq!(
        std::fs::read_to_string(bind.join("in-bind")).unwrap(),
        "from host\n"
    );
    // Out: a file the container made in the volume, and the volume as a tar stream.
    let out = w.path("out");
    std::fs::create_dir(&out).unwrap();
    w.ok(&["cp", "cv:/vol/made", p(&out)]);
    assert_eq!(
        std::fs::read_to_string(out.join("made")).unwrap(),
        "invol\n"
    );
    let o = w.berth(&["cp", "cv:/vol", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tar_list(&o.stdout).lines().any(|l| l == "vol/made"));
    // The hostname file berth binds in, as the container sees it.
    let hostname = w.ok(&["exec", "cv", "busybox", "cat", "/etc/hostname"]);
    w.ok(&["cp", "cv:/etc/hostname", p(&out.join("hostname"))]);
    assert_eq!(
        std::fs::read_to_string(out.join("hostname")).unwrap(),
        hostname
    );
    // Symlinks in a volume resolve in the container's view, never the host's.
    let passwd = w.ok(&["exec", "cv", "busybox", "cat", "/etc/passwd"]);
    assert_ne!(passwd, std::fs::read_to_string("/etc/passwd").unwrap());
    w.ok(&["cp", "-L", "cv:/vol/pw", p(&out.join("pw"))]);
    assert_eq!(std::fs::read_to_string(out.join("pw")).unwrap(), passwd);
    w.ok(&["cp", "cv:/vol/up/passwd", p(&out.join("up"))]);
    assert_eq!(std::fs::read_to_string(out.join("up")).unwrap(), passwd);
    let marker = format!("berth-cpvol-{}", std::process::id());
    w.ok(&["cp", p(&host), &format!("cv:/vol/up/{marker}")]);
    assert!(!Path::new("/etc").join(&marker).exists());
    w.ok(&["exec", "cv", "busybox", "cat", &format!("/etc/{marker}")]);
    // A read-only bind refuses, in one line, and gets nothing.
    let err = w.fails(&["cp", p(&host), "cv:/ro/"]);
    assert!(err.contains("mounted volume is marked read-only"), "{err}");
    let o = w
        .cmd(&["cp", "-", "cv:/ro"])
        .stdin(std::fs::File::open(&host).unwrap())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
    // Stopped: the same view, mounted for the copy only.
    w.ok(&["stop", "-t", "0", "cv"]);
    w.ok(&["cp", p(&host), "cv:/vol/stopped"]);
    w.ok(&["cp", p(&host), "cv:/bind/stopped"]);
    assert_eq!(
        std::fs::read_to_string(vol.join("stopped")).unwrap(),
        "from host\n"
    );
    assert_eq!(
        std::fs::read_to_string(bind.join("stopped")).unwrap(),
        "from host\n"
    );
    w.ok(&["cp", "cv:/vol/made", p(&out.join("made2"))]);
    assert_eq!(
        std::fs::read_to_string(out.join("made2")).unwrap(),
        "invol\n"
    );
    let err = w.fails(&["cp", p(&host), "cv:/ro/x"]);
    assert!(err.contains("mounted volume is marked read-only"), "{err}");
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
    assert!(!mounted(&w, &id));
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !info.contains(p(&bind)) && !info.contains(p(&vol)),
        "{info}"
    );
    w.ok(&["start", "cv"]);
    let seen = w.ok(&[
        "exec",
        "cv",
        "busybox",
        "cat",
        "/vol/stopped",
        "/bind/stopped",
    ]);
    assert_eq!(seen, "from host\nfrom host\n");
    // export still leaves volumes out, as Docker's.
    let o = w.berth(&["export", "cv"]);
    assert!(o.status.success());
    assert!(!tar_list(&o.stdout)
        .lines()
        .any(|l| l.starts_with("vol/made")));
}

#[test]
fn cp_into_a_volume_of_a_container_never_started() {
    let w = World::new();
    let args = ["create", "--name", "nc", "-v", "ncv:/fresh/vol", "bb"];
    w.ok(&[&args[..], SLEEP].concat());
    let host = w.path("h");
    std::fs::write(&host, "h\n").unwrap();
    w.ok(&["cp", p(&host), "nc:/fresh/vol/"]);
    w.ok(&["start", "nc"]);
    assert_eq!(
        w.ok(&["exec", "nc", "busybox", "cat", "/fresh/vol/h"]),
        "h\n"
    );
    assert_eq!(
        std::fs::read_to_string(volume_dir(&w, "ncv").join("h")).unwrap(),
        "h\n"
    );
}

#[test]
fn cp_into_a_volume_of_a_read_only_container() {
    let w = World::new();
    let flags = ["--read-only", "-v", "rov:/data"];
    w.run_d("rc", &flags, SLEEP);
    let host = w.path("h");
    std::fs::write(&host, "h\n").unwrap();
    w.ok(&["cp", p(&host), "rc:/data/"]);
    assert_eq!(w.ok(&["exec", "rc", "busybox", "cat", "/data/h"]), "h\n");
    let err = w.fails(&["cp", p(&host), "rc:/h"]);
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn commit_makes_an_image_that_runs_with_the_file() {
    let w = World::new();
    w.run_d(
        "src",
        &["-e", "FROM_RUN=1"],
        &["sh", "-c", "echo committed > /made; busybox sleep 1000"],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let id = w.ok(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "add /made",
        "-c",
        "ENV COLOR=blue",
        "-c",
        r#"CMD ["sh", "-c", "busybox cat /made; echo $COLOR $FROM_RUN"]"#,
        "src",
        "made:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // Still running, and thawed after the commit.
    let st = w.ok(&["inspect", "-f", "{{.State.Status}}", "src"]);
    assert_eq!(st.trim(), "running");
    let out = w.ok(&["run", "--rm", "made:v1"]);
    assert_eq!(out, "committed\nblue 1\n");
    let v = w.env.inspect("made:v1");
    assert_eq!(v["Author"], "Ann <ann@example.com>");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    let hist = w.ok(&["history", "made:v1"]);
    assert!(hist.contains("add /made"), "{hist}");
    // Untagged, without pausing, from a stopped container.
    w.ok(&["stop", "-t", "0", "src"]);
    let id = w.ok(&["container", "commit", "--pause=false", "src"]);
    let out = w.ok(&["run", "--rm", id.trim(), "busybox", "cat", "/made"]);
    assert_eq!(out, "committed\n");
    w.fails(&["commit", "-c", "FROM x", "src"]);
    w.fails(&["commit", "src", "Bad:Name:x"]);
    w.fails(&["commit", "nope"]);
}

#[test]
fn export_streams_the_merged_view() {
    let w = World::new();
    let id = w.run_d(
        "exp",
        &[],
        &["sh", "-c", "echo hi > /written; busybox sleep 1000"],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = w.berth(&["export", "exp"]);
    assert!(o.status.success());
    let names = tar_list(&o.stdout);
    assert!(names.lines().any(|l| l == "written"), "{names}");
    assert!(names.lines().any(|l| l == "bin/busybox"), "{names}");
    w.ok(&["stop", "-t", "0", "exp"]);
    let file = w.path("x.tar");
    w.ok(&["container", "export", "-o", p(&file), "exp"]);
    let names = tar_list(&std::fs::read(&file).unwrap());
    assert!(names.lines().any(|l| l == "written"), "{names}");
    assert!(!mounted(&w, &id));
    w.fails(&["export", "-o", p(&w.path("no.tar")), "nope"]);
    let left = std::fs::read_dir(w.env.work.path()).unwrap();
    assert!(left
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().contains("no.tar")));
}

#[test]
fn diff_lists_added_changed_and_deleted() {
    let w = World::new();
    w.run_d(
        "dif",
        &[],
        &[
            "sh",
            "-c",
            "busybox mkdir /data; echo > /data/f; busybox rm /bin/sh; busybox sleep 1000",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = w.ok(&["diff", "dif"]);
    assert_eq!(out, "C /bin\nD /bin/sh\nA /data\nA /data/f\n");
    w.ok(&["stop", "-t", "0", "dif"]);
    assert_eq!(w.ok(&["container", "diff", "dif"]), out);
    w.fails(&["diff", "nope"]);
}

#[test]
fn update_applies_live_and_persists() {
    let w = World::new();
    let id = w.run_d("upd", &["--memory", "128m"], SLEEP);
    let out = w.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "50",
        "--cpu-shares",
        "512",
        "--cpus",
        "0.5",
        "--restart",
        "on-failure:3",
        "upd",
    ]);
    assert_eq!(out, "upd\n");
    let mem = w.cgroup_file(&id, ("memory", "memory.limit_in_bytes"), "memory.max");
    assert_eq!(mem, (64 << 20).to_string());
    assert_eq!(w.cgroup_file(&id, ("pids", "pids.max"), "pids.max"), "50");
    assert_eq!(
        w.cgroup_file(&id, ("cpu", "cpu.cfs_quota_us"), "cpu.max")
            .split(' ')
            .next(),
        Some("50000")
    );
    // v2 has a weight instead: 1 + (512 - 2) * 9999 / 262142.
    let shares = w.cgroup_file(&id, ("cpu", "cpu.shares"), "cpu.weight");
    assert!(shares == "512" || shares == "20", "{shares}");
    let f = "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.RestartPolicy.Name}}";
    assert_eq!(
        w.ok(&["inspect", "-f", f, "upd"]).trim(),
        "67108864 50 500000000 on-failure"
    );
    // Stopped: stored, and in force at the next start.
    w.ok(&["stop", "-t", "0", "upd"]);
    w.ok(&["container", "update", "--memory", "96m", "upd"]);
    w.ok(&["start", "upd"]);
    let mem = w.cgroup_file(&id, ("memory", "memory.limit_in_bytes"), "memory.max");
    assert_eq!(mem, (96 << 20).to_string());
    // Bad values: one line naming flag and value; nothing changes.
    for (flag, value) in [
        ("--memory", "12x"),
        ("--cpus", "-1"),
        ("--cpu-shares", "abc"),
        ("--pids-limit", "lots"),
        ("--cpuset-cpus", "99"),
        ("--blkio-weight", "5"),
        ("--restart", "sometimes"),
        ("--memory-swap", "1m"),
    ] {
        let err = w.fails(&["update", flag, value, "upd"]);
        // A swap below memory is named in bytes, after parsing.
        let named = err.contains(value) || flag == "--memory-swap";
        assert!(err.contains(flag) && named, "{err}");
    }
    w.fails(&["update", "upd"]);
    w.fails(&["update", "--memory", "64m", "nope"]);
    assert_eq!(
        w.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "upd"])
            .trim(),
        (96 << 20).to_string()
    );
}

#[test]
fn port_lists_nothing_until_ports_are_published() {
    let w = World::new();
    w.run_d("prt", &[], SLEEP);
    assert_eq!(w.ok(&["port", "prt"]), "");
    assert_eq!(w.ok(&["container", "port", "prt"]), "");
    let err = w.fails(&["port", "prt", "80/tcp"]);
    assert!(err.contains("80/tcp"), "{err}");
    w.fails(&["port", "prt", "99999"]);
    w.fails(&["port", "nope"]);
}
