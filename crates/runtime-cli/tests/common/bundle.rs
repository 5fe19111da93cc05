//! An OCI bundle in a temp dir: a busybox-static rootfs with berth-check at
//! /bin/berth-check, and a config.json held as JSON so tests can edit any field.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// Users in the rootfs's /etc/passwd.
const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
berth:x:1000:1000:berth:/home/berth:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";
/// Groups in /etc/group; `extra` lists `berth` as a member.
const GROUP: &str = "\
root:x:0:
tty:x:5:
berth:x:1000:
extra:x:2000:berth
nogroup:x:65534:
";

/// A bundle directory; removed on drop.
pub struct Bundle {
    dir: tempfile::TempDir,
    /// The config that [`Bundle::write_config`] writes; edit freely.
    pub spec: Value,
    /// When set, written verbatim instead of `spec` (for malformed-config tests).
    pub raw_config: Option<String>,
    /// When false, `write_config` leaves `linux.cgroupsPath` as the test set it.
    pub default_cgroups_path: bool,
}

impl Bundle {
    /// A fresh bundle whose process runs `berth-check report`.
    pub fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .expect("tempdir for bundle");
        // Other users (a user-namespace root mapped to 100000) must reach the rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        let b = Bundle {
            dir,
            spec: default_spec(),
            raw_config: None,
            default_cgroups_path: true,
        };
        make_rootfs(&b.rootfs());
        b
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Where the container's stdout goes for `create` and `run -d`.
    pub fn stdout_path(&self) -> PathBuf {
        self.dir.path().join("ctr.out")
    }

    /// Where the container's stderr (and the runtime's, on `create`) goes.
    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("ctr.err")
    }

    /// What the detached container has written to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = json!(args);
        self
    }

    /// Sets `process.args` to `/bin/berth-check ARGS...`.
    pub fn check(&mut self, args: &[&str]) -> &mut Self {
        let mut a = vec!["/bin/berth-check"];
        a.extend_from_slice(args);
        self.args(&a)
    }

    /// Sets the value at a JSON pointer (`/process/user/uid`), creating objects on the way.
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let mut cur = &mut self.spec;
        for key in pointer.trim_start_matches('/').split('/') {
            if !cur.is_object() {
                *cur = json!({});
            }
            cur = cur
                .as_object_mut()
                .expect("object")
                .entry(key.to_string())
                .or_insert(Value::Null);
        }
        *cur = value;
        self
    }

    /// Appends to the array at a JSON pointer (created if missing).
    pub fn push(&mut self, pointer: &str, value: Value) -> &mut Self {
        if !self
            .spec
            .pointer(pointer)
            .map(Value::is_array)
            .unwrap_or(false)
        {
            self.set(pointer, json!([]));
        }
        self.spec
            .pointer_mut(pointer)
            .and_then(Value::as_array_mut)
            .expect("array")
            .push(value);
        self
    }

    /// Adds a mount entry.
    pub fn mount(
        &mut self,
        destination: &str,
        typ: &str,
        source: &str,
        options: &[&str],
    ) -> &mut Self {
        self.push(
            "/mounts",
            json!({"destination": destination, "type": typ, "source": source, "options": options}),
        )
    }

    /// Every namespace but cgroup and time new, including a user namespace that maps
    /// container ids 0..65536 to host uids from `uid_base` and gids from `gid_base`. The
    /// /sys/fs/cgroup mount goes: a user namespace that does not own the cgroup namespace
    /// cannot mount a v1 hierarchy.
    pub fn user_namespace(&mut self, uid_base: u32, gid_base: u32) -> &mut Self {
        self.namespaces(&["pid", "network", "ipc", "uts", "mount", "user"]);
        self.set(
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": uid_base, "size": 65536}]),
        );
        self.set(
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": gid_base, "size": 65536}]),
        );
        let mounts: Vec<Value> = self.spec["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter(|m| m["destination"] != "/sys/fs/cgroup")
            .cloned()
            .collect();
        self.set("/mounts", json!(mounts))
    }

    /// Replaces `linux.namespaces` with these types (all new).
    pub fn namespaces(&mut self, types: &[&str]) -> &mut Self {
        let list: Vec<Value> = types.iter().map(|t| json!({"type": t})).collect();
        self.set("/linux/namespaces", json!(list))
    }

    /// A directory inside the bundle, world-writable, for bind mounts and hook output.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let d = self.dir.path().join(name);
        fs::create_dir_all(&d).expect("mkdir host dir");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).expect("chmod host dir");
        d
    }

    /// Writes config.json for container `id`: its cgroup is `/<id>` unless the test
    /// turned `default_cgroups_path` off.
    pub fn write_config(&self, id: &str) {
        let text = match &self.raw_config {
            Some(raw) => raw.clone(),
            None => {
                let mut spec = self.spec.clone();
                if self.default_cgroups_path && spec["linux"].is_object() {
                    spec["linux"]["cgroupsPath"] = json!(format!("/{id}"));
                }
                serde_json::to_string_pretty(&spec).expect("serialize spec")
            }
        };
        fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }
}

/// runc 1.1's `runc spec` output, with `terminal` off and berth-check as the process.
pub fn default_spec() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/berth-check", "report"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

fn applets() -> &'static [String] {
    static LIST: OnceLock<Vec<String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let out = std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("run /bin/busybox --list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox")
            .map(String::from)
            .collect()
    })
}

fn make_rootfs(root: &Path) {
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "mnt",
        "root",
        "home/berth",
        "run",
        "var",
    ] {
        fs::create_dir_all(root.join(d)).expect("mkdir rootfs dir");
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("copy /bin/busybox (apt-get install busybox-static)");
    let check = root.join("bin/berth-check");
    fs::write(&check, super::checker_bytes()).expect("write berth-check");
    fs::set_permissions(&check, fs::Permissions::from_mode(0o755)).expect("chmod berth-check");
    for a in applets() {
        let _ = symlink("busybox", root.join("bin").join(a));
    }
    fs::write(root.join("etc/passwd"), PASSWD).expect("write passwd");
    fs::write(root.join("etc/group"), GROUP).expect("write group");
    fs::write(root.join("etc/hostname"), "berth\n").expect("write hostname");
}
