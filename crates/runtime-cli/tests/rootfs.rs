//! Rootfs options beyond the default set: --no-pivot, rootfsPropagation, nosymfollow and
//! idmapped bind mounts.

mod common;

use common::{Bundle, Kind, Runtime};
use serde_json::json;

#[test]
fn no_pivot_moves_the_rootfs_and_chroots() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.check(&["report"]);
    let id = common::unique("nopivot");
    b.write_config(&id);
    let out = rt
        .cmd(&[
            "run",
            "--no-pivot",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ])
        .ok();
    rt.forget(&id);
    let r = out.json();
    let root = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["target"] == "/")
        .cloned()
        .unwrap_or_default();
    assert!(
        root.is_object(),
        "a mount at / after MS_MOVE: {}",
        r["mounts"]
    );
    assert_eq!(r["cwd"], "/");
}

#[test]
fn rootfs_propagation_is_applied() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    b.set("/linux/rootfsPropagation", json!("rprivate"));
    let r = rt.report(&mut b, &[]);
    let root = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["target"] == "/")
        .cloned()
        .expect("root mount");
    let prop = root["propagation"].to_string();
    assert!(
        !prop.contains("shared") && !prop.contains("master"),
        "rprivate root: {root}"
    );
}

#[test]
fn nosymfollow_mount_refuses_symlinks() {
    let rt = Runtime::under_test();
    let mut b = Bundle::new();
    let host = b.host_dir("links");
    std::fs::write(host.join("target"), "data").unwrap();
    std::os::unix::fs::symlink("target", host.join("link")).unwrap();
    b.mount(
        "/mnt",
        "bind",
        host.to_str().unwrap(),
        &["rbind", "nosymfollow"],
    );
    assert_eq!(
        rt.run_check(&mut b, &["try", "open", "/mnt/target", "r"])
            .stdout
            .trim(),
        "ok"
    );
    assert_eq!(
        rt.run_check(&mut b, &["try", "open", "/mnt/link", "r"])
            .stdout
            .trim(),
        "ELOOP"
    );
}

#[test]
fn idmapped_bind_mount_shows_host_owners_mapped() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!("skip: runc 1.1 has no idmapped mounts");
        return;
    }
    let mut b = Bundle::new();
    b.user_namespace(100000, 100000);
    let host = b.host_dir("owned");
    std::fs::write(host.join("f"), "x").unwrap(); // owned by host root (0)
                                                  // Root of a user namespace cannot create directories in the host-owned rootfs.
    std::fs::create_dir_all(b.rootfs().join("plain")).unwrap();
    std::fs::create_dir_all(b.rootfs().join("mapped")).unwrap();
    b.mount("/plain", "bind", host.to_str().unwrap(), &["rbind"]);
    b.mount(
        "/mapped",
        "bind",
        host.to_str().unwrap(),
        &["rbind", "idmap"],
    );
    let r = rt.report(&mut b, &["--path", "/plain/f", "--path", "/mapped/f"]);
    // Without idmapping the host's root is unmapped in the container: the overflow uid.
    assert_eq!(r["paths"]["/plain/f"]["uid"], 65534, "{}", r["paths"]);
    // Idmapped through the container's own mapping, the host's 0 is shifted to 100000,
    // which the container sees as its root.
    assert_eq!(r["paths"]["/mapped/f"]["uid"], 0, "{}", r["paths"]);
}

#[test]
fn tmpcopyup_fills_the_tmpfs_from_the_image() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth {
        eprintln!(
            "skip: tmpcopyup is a runc/Podman extension not in runc 1.1's spec handling here"
        );
        return;
    }
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("seed/sub")).unwrap();
    std::fs::write(b.rootfs().join("seed/sub/file"), "from-image").unwrap();
    b.mount("/seed", "tmpfs", "tmpfs", &["nosuid", "tmpcopyup"]);
    let out = rt.run_check(&mut b, &["cat", "/seed/sub/file"]).ok();
    assert_eq!(out.stdout.trim(), "from-image", "{out}");
    let r = rt.run_check(&mut b, &["try", "write", "/seed/new", "x"]);
    assert_eq!(
        r.stdout.trim(),
        "ok",
        "the tmpfs is writable though the rootfs is not: {r}"
    );
    assert!(
        !b.rootfs().join("seed/new").exists(),
        "writes stay in the tmpfs"
    );
}
