//! Mounts: readonly rootfs, the default /proc /dev /sys set with their flags, bind and
//! tmpfs mounts with options, masked and read-only paths, /dev contents and devices.

mod common;

use std::fs;

use common::{unique, Bundle, Runtime};
use serde_json::{json, Value};

/// The mountinfo entry for `target` (the last one: the visible mount).
fn mount<'a>(r: &'a Value, target: &str) -> &'a Value {
    r["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .rev()
        .find(|m| m["target"] == target)
        .unwrap_or_else(|| panic!("no mount at {target}: {}", targets(r)))
}

fn targets(r: &Value) -> String {
    r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn has(list: &Value, opt: &str) -> bool {
    list.as_array().is_some_and(|a| a.iter().any(|o| o == opt))
}

#[track_caller]
fn assert_opts(r: &Value, target: &str, per_mount: &[&str], super_opts: &[&str]) {
    let m = mount(r, target);
    for o in per_mount {
        assert!(
            has(&m["options"], o),
            "{target}: want mount option {o} in {}",
            m["options"]
        );
    }
    for o in super_opts {
        assert!(
            has(&m["super_options"], o),
            "{target}: want superblock option {o} in {}",
            m["super_options"]
        );
    }
}

#[test]
fn readonly_rootfs() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let r = rt.report(&mut b, &[]);
    assert!(
        has(&mount(&r, "/")["options"], "ro"),
        "root.readonly: {}",
        mount(&r, "/")
    );
    let out = rt.run_check(&mut b, &["try", "write", "/newfile", "x"]);
    assert_eq!(out.stdout.trim(), "EROFS", "{out}");
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn writable_rootfs() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    let r = rt.report(&mut b, &[]);
    assert!(has(&mount(&r, "/")["options"], "rw"));
    rt.run_check(&mut b, &["try", "write", "/newfile", "from-container"])
        .ok();
    assert_eq!(
        fs::read_to_string(b.rootfs().join("newfile")).unwrap(),
        "from-container"
    );
}

#[test]
fn default_mount_set_and_flags() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let r = rt.report(&mut b, &[]);
    let fstype = |t: &str| mount(&r, t)["fstype"].as_str().unwrap().to_string();
    assert_eq!(fstype("/proc"), "proc");
    assert_eq!(fstype("/dev"), "tmpfs");
    assert_eq!(fstype("/dev/pts"), "devpts");
    assert_eq!(fstype("/dev/shm"), "tmpfs");
    assert_eq!(fstype("/dev/mqueue"), "mqueue");
    assert_eq!(fstype("/sys"), "sysfs");
    assert_opts(&r, "/dev", &["nosuid"], &["mode=755", "size=65536k"]);
    assert_opts(
        &r,
        "/dev/pts",
        &["nosuid", "noexec"],
        &["mode=620", "ptmxmode=666", "gid=5"],
    );
    assert_opts(
        &r,
        "/dev/shm",
        &["nosuid", "noexec", "nodev"],
        &["size=65536k"],
    );
    assert_opts(&r, "/dev/mqueue", &["nosuid", "noexec", "nodev"], &[]);
    assert_opts(&r, "/sys", &["ro", "nosuid", "noexec", "nodev"], &[]);
    // Mounts made in the container stay out of the host's mount table.
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(b.rootfs().join("proc").to_str().unwrap()),
        "container mounts leaked to the host"
    );
}

#[test]
fn bind_mounts_rw_and_ro() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let shared = b.host_dir("shared");
    fs::write(shared.join("hello"), "from host").unwrap();
    let src = shared.to_str().unwrap().to_string();
    b.mount("/data", "bind", &src, &["rbind", "rw"]);
    b.mount(
        "/data-ro",
        "bind",
        &src,
        &["rbind", "ro", "nosuid", "nodev"],
    );
    b.check(&["cat", "/data/hello"]);
    assert_eq!(rt.run(&b, &unique("mnt")).ok().stdout, "from host");

    rt.run_check(&mut b, &["try", "write", "/data/back", "from container"])
        .ok();
    assert_eq!(
        fs::read_to_string(shared.join("back")).unwrap(),
        "from container"
    );
    let out = rt.run_check(&mut b, &["try", "write", "/data-ro/no", "x"]);
    assert_eq!(out.stdout.trim(), "EROFS", "{out}");

    let r = rt.report(&mut b, &[]);
    assert_opts(&r, "/data-ro", &["ro", "nosuid", "nodev"], &[]);
    assert!(has(&mount(&r, "/data")["options"], "rw"));
}

#[test]
fn bind_mount_creates_missing_destination() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    let shared = b.host_dir("shared");
    fs::write(shared.join("f"), "file bind").unwrap();
    b.mount("/new/dir/deep", "bind", shared.to_str().unwrap(), &["bind"]);
    b.mount(
        "/new/file",
        "bind",
        shared.join("f").to_str().unwrap(),
        &["bind", "ro"],
    );
    b.check(&["cat", "/new/file"]);
    assert_eq!(rt.run(&b, &unique("mnt")).ok().stdout, "file bind");
    let r = rt.report(&mut b, &[]);
    mount(&r, "/new/dir/deep");
}

#[test]
fn tmpfs_with_options() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.mount(
        "/scratch",
        "tmpfs",
        "tmpfs",
        &["nosuid", "nodev", "noexec", "size=1m", "mode=700"],
    );
    let r = rt.report(&mut b, &["--path", "/scratch"]);
    assert_eq!(mount(&r, "/scratch")["fstype"], "tmpfs");
    assert_opts(
        &r,
        "/scratch",
        &["nosuid", "nodev", "noexec", "rw"],
        &["size=1024k", "mode=700"],
    );
    assert_eq!(r["paths"]["/scratch"]["mode"], "700");
    let out = rt.run_check(&mut b, &["try", "write", "/scratch/f", "x"]);
    assert_eq!(out.stdout.trim(), "ok", "{out}");
}

#[test]
fn proc_and_sysfs_extra_mounts() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.mount("/mnt/proc2", "proc", "proc", &["nosuid", "noexec", "nodev"]);
    b.mount("/mnt/mq", "mqueue", "mqueue", &["nosuid"]);
    let r = rt.report(&mut b, &[]);
    assert_eq!(mount(&r, "/mnt/proc2")["fstype"], "proc");
    assert_opts(&r, "/mnt/proc2", &["nosuid", "noexec", "nodev"], &[]);
    assert_eq!(mount(&r, "/mnt/mq")["fstype"], "mqueue");
}

#[test]
fn masked_paths() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    fs::create_dir_all(b.rootfs().join("mnt/secret")).unwrap();
    fs::write(b.rootfs().join("mnt/secret/key"), "s3cret").unwrap();
    fs::write(b.rootfs().join("etc/token"), "t0ken").unwrap();
    let mut masked = b.spec["linux"]["maskedPaths"].as_array().unwrap().clone();
    masked.extend([
        json!("/mnt/secret"),
        json!("/etc/token"),
        json!("/does/not/exist"),
    ]);
    b.set("/linux/maskedPaths", json!(masked));
    let r = rt.report(
        &mut b,
        &[
            "--path",
            "/proc/keys",
            "--path",
            "/proc/timer_list",
            "--path",
            "/sys/firmware",
            "--path",
            "/mnt/secret",
            "--path",
            "/etc/token",
            "--path",
            "/proc/kcore",
        ],
    );
    let p = &r["paths"];
    for file in ["/proc/keys", "/proc/timer_list", "/etc/token"] {
        if file.starts_with("/proc") && fs::metadata(file).is_err() {
            continue; // this kernel has no such file
        }
        assert_eq!(
            p[file]["type"], "char",
            "{file} is masked with /dev/null: {}",
            p[file]
        );
        assert_eq!(
            p[file]["read"]["bytes"], 0,
            "{file} reads empty: {}",
            p[file]
        );
    }
    for dir in ["/sys/firmware", "/mnt/secret"] {
        assert_eq!(p[dir]["type"], "dir", "{dir}: {}", p[dir]);
        assert_eq!(
            p[dir]["read"]["entries"], 0,
            "{dir} is masked with an empty read-only tmpfs: {}",
            p[dir]
        );
        assert!(
            has(&mount(&r, dir)["options"], "ro"),
            "{dir} mask is read-only"
        );
    }
    if fs::metadata("/proc/kcore").is_ok() {
        assert_eq!(p["/proc/kcore"]["type"], "char");
    }
}

#[test]
fn readonly_paths() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/root/readonly", json!(false));
    let mut ro = b.spec["linux"]["readonlyPaths"].as_array().unwrap().clone();
    ro.extend([json!("/home"), json!("/does/not/exist")]);
    b.set("/linux/readonlyPaths", json!(ro));
    for (path, want) in [
        ("/home/berth/f", "EROFS"),
        ("/proc/sys/kernel/domainname", "EROFS"),
        ("/tmp/f", "ok"),
    ] {
        let out = rt.run_check(&mut b, &["try", "write", path, "x"]);
        assert_eq!(out.stdout.trim(), want, "write {path}: {out}");
    }
    let r = rt.report(&mut b, &[]);
    for path in ["/home", "/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"] {
        if path == "/home" || fs::metadata(path).is_ok() {
            assert!(
                has(&mount(&r, path)["options"], "ro"),
                "{path} must be a read-only mount"
            );
        }
    }
}

#[test]
fn dev_has_the_default_devices() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let mut args = vec![
        "--path",
        "/dev/ptmx",
        "--path",
        "/dev/fd",
        "--path",
        "/dev/stdin",
        "--path",
        "/dev/stdout",
        "--path",
        "/dev/stderr",
    ];
    for (d, _, _) in &devs {
        args.extend(["--path", d]);
    }
    let r = rt.report(&mut b, &args);
    let p = &r["paths"];
    for (d, major, minor) in devs {
        assert_eq!(p[d]["type"], "char", "{d}: {}", p[d]);
        assert_eq!(
            p[d]["rdev"],
            nix::sys::stat::makedev(major, minor),
            "{d} device number"
        );
    }
    for link in [
        "/dev/ptmx",
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
    ] {
        assert_eq!(p[link]["type"], "symlink", "{link}: {}", p[link]);
    }
    for d in ["/dev/null", "/dev/zero", "/dev/urandom"] {
        let out = rt.run_check(&mut b, &["try", "open", d, "rw"]);
        assert_eq!(out.stdout.trim(), "ok", "open {d}: {out}");
    }
}

#[test]
fn extra_device_node() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.push("/linux/devices", json!({"path": "/dev/berth-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1000}));
    b.push(
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
    );
    let r = rt.report(&mut b, &["--path", "/dev/berth-null"]);
    let d = &r["paths"]["/dev/berth-null"];
    assert_eq!(d["type"], "char", "{d}");
    assert_eq!(d["rdev"], nix::sys::stat::makedev(1, 3));
    assert_eq!(d["mode"], "640");
    assert_eq!(d["uid"], 1000);
    assert_eq!(d["gid"], 1000);
    // Without CAP_DAC_OVERRIDE only the owner (uid 1000) may open it.
    let out = rt.run_check(&mut b, &["try", "open", "/dev/berth-null", "w"]);
    assert_eq!(out.stdout.trim(), "EACCES", "{out}");
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let out = rt.run_check(&mut b, &["try", "open", "/dev/berth-null", "w"]);
    assert_eq!(out.stdout.trim(), "ok", "{out}");
}
