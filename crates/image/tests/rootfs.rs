//! An image's layers become a container's root: unpacked once, shared, whiteouts applied.
//! Root only (real overlayfs mounts); each test unmounts and removes what it made.

use std::io::Write;

use berth_image::image::{create_rootfs, import, load, ImportOptions};
use berth_image::snapshot::Snapshotter;
use berth_image::store::Store;

/// A tar with `files` (path, contents) and `whiteouts` (paths to delete below).
fn tar(files: &[(&str, &str)], whiteouts: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    for (p, c) in files {
        add(p, c.as_bytes());
    }
    for w in whiteouts {
        let (dir, name) = w
            .rsplit_once('/')
            .map(|(d, n)| (format!("{d}/"), n))
            .unwrap_or((String::new(), *w));
        add(&format!("{dir}.wh.{name}"), b"");
    }
    b.into_inner().unwrap()
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// Store a two-layer image by hand: layer 2 deletes `etc/old` and adds `etc/new`.
fn two_layer_image(store: &Store) -> String {
    let l1 = tar(&[("etc/old", "old"), ("etc/keep", "keep")], &[]);
    let l2 = tar(&[("etc/new", "new")], &["etc/old"]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&l2).unwrap();
    let l2gz = gz.finish().unwrap();
    let d1 = store.put_blob(None, &l1[..]).unwrap();
    let d2 = store.put_blob(None, &l2gz[..]).unwrap();
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha(&l1), sha(&l2)]}});
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = store.put_blob(None, &cb[..]).unwrap();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cb.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d1, "size": l1.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d2, "size": l2gz.len()}]});
    let mb = serde_json::to_vec(&manifest).unwrap();
    store.put_blob(None, &mb[..]).unwrap()
}

struct Cleanup(Snapshotter, Vec<&'static str>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.1 {
            let _ = self.0.remove(id);
        }
    }
}

#[test]
fn layers_are_unpacked_once_shared_and_whiteouts_apply() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let snaps = Snapshotter::open(dir.path().join("overlay")).unwrap();
    let guard = Cleanup(snaps.clone(), vec!["c1", "c2"]);
    let image = load(&store, &two_layer_image(&store)).unwrap();
    let s1 = create_rootfs(&store, &snaps, &image, "c1").unwrap();
    let s2 = create_rootfs(&store, &snaps, &image, "c2").unwrap();
    let layers = std::fs::read_dir(dir.path().join("overlay/layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 2, "two layers, unpacked once for both containers");
    assert_eq!(s1.lowers, s2.lowers);
    let merged = snaps.mount("c1").unwrap();
    assert_eq!(
        std::fs::read_to_string(merged.join("etc/new")).unwrap(),
        "new"
    );
    assert_eq!(
        std::fs::read_to_string(merged.join("etc/keep")).unwrap(),
        "keep"
    );
    assert!(
        !merged.join("etc/old").exists(),
        "the upper layer's whiteout hides etc/old"
    );
    std::fs::write(merged.join("etc/mine"), "c1").unwrap();
    let merged2 = snaps.mount("c2").unwrap();
    assert!(
        !merged2.join("etc/mine").exists(),
        "each container writes to its own upper"
    );
    drop(guard);
}

#[test]
fn imported_rootfs_mounts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let snaps = Snapshotter::open(dir.path().join("overlay")).unwrap();
    let guard = Cleanup(snaps.clone(), vec!["imp"]);
    let t = tar(&[("bin/hello", "#!/bin/sh\necho hi\n")], &[]);
    let image = import(&store, &t[..], &ImportOptions::default()).unwrap();
    create_rootfs(&store, &snaps, &image, "imp").unwrap();
    let merged = snaps.mount("imp").unwrap();
    assert!(merged.join("bin/hello").is_file());
    drop(guard);
}

#[test]
fn a_layer_that_is_not_what_the_config_says_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let snaps = Snapshotter::open(dir.path().join("overlay")).unwrap();
    let mut image = load(&store, &two_layer_image(&store)).unwrap();
    let mut rootfs = image.config.rootfs().clone();
    rootfs.set_diff_ids(vec![
        format!("sha256:{}", "0".repeat(64)),
        rootfs.diff_ids()[1].clone(),
    ]);
    image.config.set_rootfs(rootfs);
    let e = create_rootfs(&store, &snaps, &image, "bad")
        .unwrap_err()
        .to_string();
    assert!(e.contains("diff"), "{e}");
    assert!(
        !snaps.has_layer(&format!("sha256:{}", "0".repeat(64))),
        "nothing committed"
    );
}
