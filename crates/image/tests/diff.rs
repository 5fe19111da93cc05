//! diff and export on a real overlay mount (run as root): the upper dir of a snapshot whose
//! merged view had files deleted, a directory replaced, files added and changed, turned into
//! a layer that recreates the same merged view over the same lower; and the merged view
//! exported as a flat tar that `tar` lists.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use berth_image::layer::diff::diff;
use berth_image::layer::export::export;
use berth_image::layer::{unpack, UnpackOptions};
use berth_image::snapshot::Snapshotter;
use berth_sys::xattr::lgetxattr;
use nix::mount::{umount2, MntFlags};

/// A snapshotter over its own temp root; dropping it unmounts every snapshot's merged dir
/// (even when the test failed), then the temp dir deletes everything.
struct Fixture {
    snap: Snapshotter,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let snap = Snapshotter::open(dir.path().join("overlay")).expect("open");
        Fixture { snap, _dir: dir }
    }

    /// A layer `n` whose contents `fill` writes into its staging dir.
    fn layer(&self, n: usize, fill: impl FnOnce(&Path)) -> String {
        let chain_id = format!("sha256:{n:064x}");
        let slot = self.snap.prepare_layer(&chain_id).unwrap().unwrap();
        fill(&slot.staging());
        slot.commit().expect("commit layer");
        chain_id
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Ok(entries) = fs::read_dir(self.snap.root().join("containers")) else {
            return;
        };
        for entry in entries.flatten() {
            let merged = entry.path().join("merged");
            while umount2(&merged, MntFlags::MNT_DETACH).is_ok() {}
        }
    }
}

fn lower(dir: &Path) {
    for d in ["etc", "keep", "opq/sub", "gone-dir/inner"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    for (f, data) in [
        ("etc/hosts", "127.0.0.1 localhost\n"),
        ("etc/deleted", "bye"),
        ("etc/changed", "old"),
        ("keep/a", "a"),
        ("opq/old", "old"),
        ("opq/sub/deep", "deep"),
        ("gone-dir/inner/f", "f"),
    ] {
        fs::write(dir.join(f), data).unwrap();
    }
    fs::hard_link(dir.join("keep/a"), dir.join("keep/a-link")).unwrap();
    symlink("hosts", dir.join("etc/hosts-link")).unwrap();
}

/// The container's changes, made through the merged view.
fn change(merged: &Path) {
    let p = |rel: &str| merged.join(rel);
    fs::remove_file(p("etc/deleted")).unwrap();
    fs::write(p("etc/changed"), "new contents").unwrap();
    fs::set_permissions(p("etc/hosts"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_dir_all(p("opq")).unwrap();
    fs::create_dir(p("opq")).unwrap();
    fs::write(p("opq/fresh"), "fresh").unwrap();
    fs::remove_dir_all(p("gone-dir")).unwrap();
    fs::create_dir_all(p("new/dir")).unwrap();
    fs::write(p("new/dir/file"), "added").unwrap();
    fs::hard_link(p("new/dir/file"), p("new/file-link")).unwrap();
    symlink("/etc/shadow", p("new/abs-link")).unwrap();
    std::os::unix::fs::chown(p("new/dir"), Some(1234), Some(5678)).unwrap();
}

/// Type, mode, owner, contents or target (and mtime, for non-directories) of every entry.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let md = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let ft = md.file_type();
            let what = if ft.is_dir() {
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("-> {}", fs::read_link(&path).unwrap().display())
            } else {
                let data = fs::read(&path).unwrap();
                format!("{:?} mtime {}", String::from_utf8_lossy(&data), md.mtime())
            };
            let line = format!("{:o} {}:{} {what}", md.mode(), md.uid(), md.gid());
            out.insert(rel, line);
            if ft.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn diff_of_an_upper_dir_recreates_the_merged_view() {
    let f = Fixture::new();
    let base = f.layer(1, lower);
    f.snap
        .create("c1", std::slice::from_ref(&base))
        .expect("create c1");
    let merged = f.snap.mount("c1").expect("mount c1");
    change(&merged);
    let upper = f.snap.upper_dir("c1").unwrap();
    assert_eq!(
        lgetxattr(&upper.join("opq"), "trusted.overlay.opaque").unwrap(),
        b"y"
    );

    let mut layer = Vec::new();
    let stats = diff(&upper, &mut layer, true).expect("diff");
    let mut plain = Vec::new();
    assert_eq!(diff(&upper, &mut plain, false).unwrap(), stats);
    let names = tar_names(&plain);
    for want in [
        "etc/.wh.deleted",
        "opq/.wh..wh..opq",
        ".wh.gone-dir",
        "etc/changed",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("keep")),
        "unchanged lower files: {names:?}"
    );

    let top = f.layer(2, |dir| {
        let got = unpack(layer.as_slice(), dir, &UnpackOptions::default()).expect("unpack");
        assert_eq!(got.diff_id, stats.diff_id);
    });
    f.snap.create("c2", &[top, base]).expect("create c2");
    let again = f.snap.mount("c2").expect("mount c2");
    let (want, got) = (tree(&merged), tree(&again));
    assert_eq!(got, want);
    assert!(want.contains_key("opq/fresh") && !want.contains_key("opq/old"));
    let ino = |p: &str| fs::symlink_metadata(again.join(p)).unwrap().ino();
    assert_eq!(ino("new/dir/file"), ino("new/file-link"));
}

#[test]
fn export_of_a_merged_view_lists_exactly_its_files() {
    let f = Fixture::new();
    let base = f.layer(1, lower);
    f.snap.create("c1", &[base]).expect("create");
    let merged = f.snap.mount("c1").expect("mount");
    change(&merged);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("export.tar");
    let bytes = export(&merged, fs::File::create(&out).unwrap()).expect("export");
    assert_eq!(bytes, fs::metadata(&out).unwrap().len());

    let verbose = Command::new("tar").arg("-tvf").arg(&out).output().unwrap();
    assert!(verbose.status.success(), "{verbose:?}");
    let listing = String::from_utf8(verbose.stdout).unwrap();
    assert!(!listing.contains(".wh."), "{listing}");
    assert!(
        listing.contains("new/file-link link to new/dir/file"),
        "{listing}"
    );
    let mut listed: Vec<String> = tar_names(&fs::read(&out).unwrap())
        .into_iter()
        .map(|n| n.trim_end_matches('/').to_string())
        .collect();
    listed.sort();
    let files: Vec<String> = tree(&merged).into_keys().collect();
    assert_eq!(listed, files, "each merged file once, nothing else");
}

/// Entry names as GNU tar reads them (`tar -tf`), in archive order.
fn tar_names(archive: &[u8]) -> Vec<String> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    fs::write(tmp.path(), archive).unwrap();
    let out = Command::new("tar")
        .arg("-tf")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}
