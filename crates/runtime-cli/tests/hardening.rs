//! The hardening runc learned the hard way; each test fails without its protection.
//!
//! - CVE-2019-5736: the runtime binary must not be reachable from inside the container.
//!   Until it execs the user's program, init is berth-runtime itself and is pid 1 of the
//!   container; it is non-dumpable, so /proc/1/exe cannot be opened by the container.
//! - CVE-2024-21626: no host fd and no host working directory reaches the container.
//! - CVE-2021-30465 class: mount destinations resolve inside the rootfs.
//! - /proc is checked to be procfs before sysctls are written through it.

mod common;

use std::os::fd::AsRawFd;

use common::{unique, Bundle, Kind, Runtime};
use serde_json::json;

#[test]
fn init_is_not_dumpable_until_exec() {
    use std::os::unix::fs::MetadataExt;
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    // In a user namespace the kernel shows the difference from outside: /proc/PID of a
    // dumpable process belongs to its (mapped) uid, of a non-dumpable one to the host's root.
    b.user_namespace(100000, 100000);
    b.check(&["sleep", "100"]);
    let id = unique("dump");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let owner = |what: &str| {
        std::fs::metadata(format!("/proc/{pid}/{what}"))
            .map(|m| m.uid())
            .unwrap_or(u32::MAX)
    };
    // Waiting for start, init is still the runtime's binary: its exe must stay out of reach.
    assert_eq!(
        owner("exe"),
        0,
        "init (the runtime binary) is dumpable while created"
    );
    // Container root cannot open it either (EACCES from the ptrace access check).
    let out = rt.exec(
        &id,
        &["/bin/berth-check", "try", "open", "/proc/1/exe", "r"],
    );
    assert_eq!(
        out.stdout.trim(),
        "EACCES",
        "open /proc/1/exe while created: {out}"
    );
    // The control: after start pid 1 is the user's program, and the same probe succeeds,
    // so the EACCES above came from init's state, not from the probe's own limits.
    rt.start(&id).ok();
    rt.wait_status(&id, "running", std::time::Duration::from_secs(5));
    let out = rt.exec(
        &id,
        &["/bin/berth-check", "try", "open", "/proc/1/exe", "r"],
    );
    assert_eq!(
        out.stdout.trim(),
        "ok",
        "open /proc/1/exe once running: {out}"
    );
    rt.forget(&id);
}

#[test]
fn no_host_fd_or_cwd_reaches_the_container() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let host = b.host_dir("secret");
    // An fd the caller forgot to mark close-on-exec, pointing at a host directory.
    let leaked = nix::fcntl::open(
        &host,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .expect("open host dir");
    b.check(&["report"]);
    let id = unique("fds");
    b.write_config(&id);
    let out = rt
        .command(&["run", "--bundle", b.path().to_str().unwrap(), &id])
        .current_dir(&host)
        .output()
        .expect("run");
    rt.forget(&id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report json");
    let fds: Vec<i64> = r["fds"]
        .as_array()
        .expect("fds")
        .iter()
        .filter_map(|e| e[0].as_i64())
        .collect();
    assert_eq!(
        fds,
        vec![0, 1, 2],
        "fd {} leaked: {}",
        leaked.as_raw_fd(),
        r["fds"]
    );
    assert_eq!(r["cwd"], "/", "cwd: {}", r["cwd"]);
}

#[test]
fn mount_destination_symlink_stays_inside_rootfs() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let host = b.host_dir("outside");
    // The image points /escape at a host path; a mount at /escape/inner must land at
    // <rootfs>/<that path>/inner, never on the host.
    std::os::unix::fs::symlink(&host, b.rootfs().join("escape")).unwrap();
    b.mount("/escape/inner", "tmpfs", "tmpfs", &["nosuid"]);
    b.set("/root/readonly", json!(false));
    let out = rt.run_check(&mut b, &["try", "write", "/escape/inner/f", "x"]);
    assert_eq!(out.stdout.trim(), "ok", "{out}");
    assert!(
        !host.join("inner").exists(),
        "mount target created on the host"
    );
    let inside = b
        .rootfs()
        .join(host.strip_prefix("/").unwrap())
        .join("inner");
    assert!(
        inside.is_dir(),
        "target made inside the rootfs: {}",
        inside.display()
    );
}

#[test]
fn fake_proc_is_refused_before_sysctls() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        return;
    }
    let mut b = Bundle::new();
    // A directory posing as /proc, with a file where a sysctl would be written.
    let fake = b.host_dir("fakeproc");
    std::fs::create_dir_all(fake.join("sys/kernel")).unwrap();
    std::fs::write(fake.join("sys/kernel/shmmax"), "untouched").unwrap();
    let mounts: Vec<serde_json::Value> = b.spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] != "/proc")
        .cloned()
        .collect();
    b.set("/mounts", json!(mounts));
    b.mount("/proc", "bind", fake.to_str().unwrap(), &["rbind"]);
    b.set("/linux/sysctl", json!({"kernel.shmmax": "65536"}));
    let id = unique("proc");
    let out = rt.create(&b, &id).failed();
    let line = out.one_error_line();
    assert!(line.contains("verify proc `/proc`"), "{line}");
    assert_eq!(
        std::fs::read_to_string(fake.join("sys/kernel/shmmax")).unwrap(),
        "untouched"
    );
    common::assert_no_leftovers(&rt, &id, &b);
}

/// Without CAP_SYS_PTRACE, init waits for start running from a read-only view of the
/// runtime binary (a detached read-only mount of the file): were the container to reach
/// it (a `#!/proc/self/exe` program on a kernel that allows that exec), no write.
#[test]
fn init_runs_from_a_read_only_view_of_the_runtime() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        return;
    }
    let mut b = Bundle::new();
    b.check(&["sleep", "100"]);
    let id = unique("roview");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let write = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"))
        .map(drop)
        .map_err(|e| e.raw_os_error());
    // statvfs(2) through the magic link: the flags of the mount init's binary is on.
    let st = nix::sys::statvfs::statvfs(format!("/proc/{pid}/exe").as_str());
    rt.forget(&id);
    // ETXTBSY first (init runs it); the read-only mount is checked after that, so the
    // mount's flags are what shows the view.
    assert_eq!(write, Err(Some(libc::ETXTBSY)));
    assert!(
        st.expect("statvfs")
            .flags()
            .contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "init's binary is not on a read-only mount"
    );
}

#[test]
fn ptrace_capable_containers_get_a_sealed_runtime_copy() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        return;
    }
    let mut b = Bundle::new();
    // CAP_SYS_PTRACE passes the ptrace access check even against a non-dumpable process,
    // so such a container could open its waiting init's exe: it must be a sealed copy.
    let caps = json!(["CAP_SYS_PTRACE", "CAP_KILL"]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), caps.clone());
    }
    b.check(&["sleep", "100"]);
    let id = unique("seal");
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().expect("pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("readlink exe");
    let out = rt.exec(
        &id,
        &["/bin/berth-check", "try", "open", "/proc/1/exe", "w"],
    );
    rt.forget(&id);
    assert!(
        exe.to_string_lossy().starts_with("/memfd:berth-runtime"),
        "init runs {}",
        exe.display()
    );
    assert_eq!(
        out.stdout.trim(),
        "ETXTBSY",
        "the sealed copy cannot be written: {out}"
    );
}
