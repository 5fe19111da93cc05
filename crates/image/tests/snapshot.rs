//! Overlay snapshots on the real kernel (run as root): whiteouts, copy-up into the upper dir,
//! layers shared between containers, 130 lower layers, concurrent preparation of one layer,
//! clean-up, and refusal of ids that are not safe path components.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use berth_image::snapshot::{SnapshotError, Snapshotter};
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

/// A snapshotter over its own temp root; dropping it unmounts every snapshot's merged dir
/// (even when the test failed), then the temp dir deletes everything.
struct Fixture {
    snap: Snapshotter,
    /// Deleted after `drop` has unmounted everything under it.
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self::under("")
    }

    /// A fixture whose root is `<temp>/<sub>/overlay`.
    fn under(sub: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let snap = Snapshotter::open(dir.path().join(sub).join("overlay")).expect("open");
        Fixture { snap, _dir: dir }
    }

    /// Unpacks a layer whose files are `(path, contents)`, with `whiteouts` as 0:0 char
    /// devices (overlay's mark for a deleted lower file).
    fn layer(&self, n: usize, files: &[(&str, &str)], whiteouts: &[&str]) -> String {
        let chain_id = chain(n);
        let slot = self
            .snap
            .prepare_layer(&chain_id)
            .expect("prepare")
            .expect("new layer");
        for (name, data) in files {
            fs::write(slot.staging().join(name), data).expect("write layer file");
        }
        for name in whiteouts {
            mknod(
                &slot.staging().join(name),
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o000),
                makedev(0, 0),
            )
            .expect("mknod whiteout");
        }
        let diff = slot.commit().expect("commit");
        assert_eq!(diff, self.snap.layer_dir(&chain_id).unwrap());
        chain_id
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.snap.root().join(rel)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Ok(entries) = fs::read_dir(self.path("containers")) else {
            return;
        };
        for entry in entries.flatten() {
            let merged = entry.path().join("merged");
            for _ in 0..8 {
                if umount2(&merged, MntFlags::MNT_DETACH).is_err() {
                    break;
                }
            }
        }
    }
}

fn chain(n: usize) -> String {
    format!("sha256:{n:064x}")
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn mounted(dir: &Path) -> bool {
    let parent = dir.parent().unwrap();
    fs::metadata(dir).unwrap().dev() != fs::metadata(parent).unwrap().dev()
}

/// Bottom layer: a.txt and gone.txt; top layer: b.txt and a whiteout for gone.txt.
fn two_layers(f: &Fixture) -> Vec<String> {
    let bottom = f.layer(1, &[("a.txt", "a"), ("gone.txt", "x")], &[]);
    let top = f.layer(2, &[("b.txt", "b")], &["gone.txt"]);
    vec![top, bottom]
}

#[test]
fn merged_view_applies_layers_and_whiteouts() {
    let f = Fixture::new();
    let lowers = two_layers(&f);
    let snapshot = f.snap.create("c1", &lowers).expect("create");
    assert_eq!(
        snapshot.lowers,
        vec![
            f.snap.layer_dir(&lowers[0]).unwrap(),
            f.snap.layer_dir(&lowers[1]).unwrap()
        ]
    );
    assert_eq!(f.snap.lower_dirs("c1").unwrap(), snapshot.lowers);
    let merged = f.snap.mount("c1").expect("mount");
    assert_eq!(merged, snapshot.merged);
    assert!(mounted(&merged));
    assert_eq!(read(&merged.join("a.txt")), "a");
    assert_eq!(read(&merged.join("b.txt")), "b");
    assert!(
        !merged.join("gone.txt").exists(),
        "whiteout hides the lower file"
    );
    // Mounting again is a no-op that returns the same dir.
    assert_eq!(f.snap.mount("c1").unwrap(), merged);
    f.snap.unmount("c1").expect("unmount");
    assert!(!mounted(&merged));
    f.snap.unmount("c1").expect("unmount twice");
}

#[test]
fn writes_go_to_the_upper_dir_only() {
    let f = Fixture::new();
    let lowers = two_layers(&f);
    let snapshot = f.snap.create("c1", &lowers).expect("create");
    let merged = f.snap.mount("c1").expect("mount");
    fs::write(merged.join("new.txt"), "new").unwrap();
    fs::write(merged.join("a.txt"), "changed").unwrap();
    fs::remove_file(merged.join("b.txt")).unwrap();
    assert_eq!(read(&merged.join("a.txt")), "changed");
    assert_eq!(read(&snapshot.upper.join("new.txt")), "new");
    assert_eq!(read(&snapshot.upper.join("a.txt")), "changed");
    let whiteout = fs::symlink_metadata(snapshot.upper.join("b.txt")).unwrap();
    assert_eq!(
        whiteout.rdev(),
        0,
        "deleting a lower file leaves a whiteout"
    );
    let bottom = f.snap.layer_dir(&lowers[1]).unwrap();
    let top = f.snap.layer_dir(&lowers[0]).unwrap();
    assert_eq!(read(&bottom.join("a.txt")), "a", "layer untouched");
    assert_eq!(read(&top.join("b.txt")), "b", "layer untouched");
    assert!(!bottom.join("new.txt").exists() && !top.join("new.txt").exists());
    assert_eq!(f.snap.upper_dir("c1").unwrap(), snapshot.upper);
    assert_eq!(f.snap.work_dir("c1").unwrap(), snapshot.work);
}

#[test]
fn two_containers_share_one_copy_of_each_layer() {
    let f = Fixture::new();
    let lowers = two_layers(&f);
    // A second preparation of the same layer is skipped: it is unpacked once.
    assert!(f.snap.prepare_layer(&lowers[0]).unwrap().is_none());
    f.snap.create("c1", &lowers).expect("create c1");
    f.snap.create("c2", &lowers).expect("create c2");
    let m1 = f.snap.mount("c1").expect("mount c1");
    let m2 = f.snap.mount("c2").expect("mount c2");
    assert_eq!(
        f.snap.lower_dirs("c1").unwrap(),
        f.snap.lower_dirs("c2").unwrap()
    );
    let layer_count = fs::read_dir(f.path("layers")).unwrap().count();
    assert_eq!(layer_count, 2, "no per-container copies of layers");
    let lower_a = fs::metadata(f.snap.layer_dir(&lowers[1]).unwrap().join("a.txt")).unwrap();
    for m in [&m1, &m2] {
        // Overlay reports the inode number of the one lower file it reads through.
        assert_eq!(fs::metadata(m.join("a.txt")).unwrap().ino(), lower_a.ino());
    }
    fs::write(m1.join("only-c1"), "1").unwrap();
    assert!(!m2.join("only-c1").exists(), "uppers are separate");
}

#[test]
fn one_hundred_thirty_layers_mount() {
    many_layers_mount(&Fixture::new());
}

/// Under a root whose paths exceed fsconfig's 256-byte values, the mount(2) fallback with
/// paths relative to the root is used; 130 lowers still fit its one-page option limit.
#[test]
fn one_hundred_thirty_layers_mount_under_a_long_root() {
    let f = Fixture::under(&"r".repeat(250));
    assert!(f.path("l").as_os_str().len() > 256);
    let merged = many_layers_mount(&f);
    let mountinfo = read(Path::new("/proc/self/mountinfo"));
    let line = mountinfo
        .lines()
        .find(|l| l.contains(merged.to_str().unwrap()))
        .expect("merged in mountinfo");
    assert!(line.contains("lowerdir=l/"), "relative short links: {line}");
}

fn many_layers_mount(f: &Fixture) -> std::path::PathBuf {
    const N: usize = 130;
    let mut lowers: Vec<String> = (0..N)
        .map(|i| {
            let name = format!("f{i}");
            let data = i.to_string();
            f.layer(i + 1, &[(&name, "x"), ("top", &data)], &[])
        })
        .collect();
    lowers.reverse(); // top first: the last layer made is on top
    f.snap.create("many", &lowers).expect("create");
    let merged = f.snap.mount("many").expect("mount 130 layers");
    for i in 0..N {
        assert_eq!(
            read(&merged.join(format!("f{i}"))),
            "x",
            "file of layer {i}"
        );
    }
    assert_eq!(
        read(&merged.join("top")),
        (N - 1).to_string(),
        "top layer wins"
    );
    let lower = read(&f.path("containers/many/lower"));
    assert_eq!(lower.split(':').count(), N);
    assert!(lower
        .split(':')
        .all(|e| e.len() == 28 && e.starts_with("l/")));
    merged
}

#[test]
fn concurrent_prepares_of_one_layer_unpack_it_once() {
    const THREADS: usize = 4;
    let f = Fixture::new();
    let unpacked = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (snap, unpacked, barrier) = (f.snap.clone(), unpacked.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                if let Some(slot) = snap.prepare_layer(&chain(7)).expect("prepare") {
                    unpacked.fetch_add(1, Ordering::SeqCst);
                    fs::write(slot.staging().join("file"), "data").unwrap();
                    // Hold the lock a while so the others really wait on it.
                    std::thread::sleep(Duration::from_millis(100));
                    slot.commit().expect("commit");
                }
                assert!(snap.has_layer(&chain(7)));
                read(&snap.layer_dir(&chain(7)).unwrap().join("file"))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), "data");
    }
    assert_eq!(unpacked.load(Ordering::SeqCst), 1);
    let names: Vec<_> = fs::read_dir(f.path("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no staging leftovers: {names:?}");
}

#[test]
fn remove_cleans_up_snapshots_and_layers() {
    let f = Fixture::new();
    let lowers = two_layers(&f);
    // A slot dropped without commit leaves nothing behind.
    drop(f.snap.prepare_layer(&chain(9)).unwrap().unwrap());
    assert!(!f.snap.has_layer(&chain(9)));
    f.snap.create("c1", &lowers).unwrap();
    let merged = f.snap.mount("c1").unwrap();
    fs::write(merged.join("x"), "x").unwrap();
    match f.snap.remove_layer(&lowers[0]) {
        Err(SnapshotError::LayerInUse { id, .. }) => assert_eq!(id, "c1"),
        other => panic!("want LayerInUse, got {other:?}"),
    }
    f.snap.remove("c1").expect("remove mounted snapshot");
    assert!(!f.path("containers/c1").exists());
    assert_eq!(fs::read_dir(f.path("containers")).unwrap().count(), 0);
    f.snap.remove("c1").expect("remove is idempotent");
    for chain_id in &lowers {
        f.snap.remove_layer(chain_id).expect("remove layer");
        assert!(!f.snap.has_layer(chain_id));
        f.snap.remove_layer(chain_id).expect("remove layer twice");
    }
    assert_eq!(fs::read_dir(f.path("layers")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(f.path("l")).unwrap().count(),
        0,
        "short links gone"
    );
    // The layer can be unpacked again afterwards.
    assert!(f.snap.prepare_layer(&lowers[0]).unwrap().is_some());
}

#[test]
fn bad_ids_and_states_are_refused() {
    let f = Fixture::new();
    let lowers = two_layers(&f);
    for bad in ["", "../x", "a/b", ".hidden", "-x"] {
        assert!(matches!(
            f.snap.create(bad, &lowers),
            Err(SnapshotError::InvalidId(_))
        ));
        assert!(matches!(
            f.snap.mount(bad),
            Err(SnapshotError::InvalidId(_))
        ));
        assert!(matches!(
            f.snap.remove(bad),
            Err(SnapshotError::InvalidId(_))
        ));
        assert!(matches!(
            f.snap.upper_dir(bad),
            Err(SnapshotError::InvalidId(_))
        ));
    }
    let bad_chains = ["sha256:../../etc", "sha256:abc", "layer", &lowers[0][7..]];
    for bad in bad_chains {
        let want = |r: Result<_, SnapshotError>| matches!(r, Err(SnapshotError::InvalidChainId(_)));
        assert!(want(f.snap.prepare_layer(bad).map(|_| ())), "{bad}");
        assert!(want(f.snap.layer_dir(bad).map(|_| ())), "{bad}");
        assert!(want(f.snap.remove_layer(bad)), "{bad}");
        assert!(
            want(f.snap.create("c", &[bad.to_owned()]).map(|_| ())),
            "{bad}"
        );
        assert!(!f.snap.has_layer(bad));
    }
    assert!(matches!(
        f.snap.create("c", &[chain(99)]),
        Err(SnapshotError::LayerMissing { .. })
    ));
    assert!(matches!(
        f.snap.create("c", &[]),
        Err(SnapshotError::NoLowers(_))
    ));
    assert!(matches!(
        f.snap.mount("nope"),
        Err(SnapshotError::NotFound(_))
    ));
    f.snap.create("c", &lowers).unwrap();
    assert!(matches!(
        f.snap.create("c", &lowers),
        Err(SnapshotError::Exists(_))
    ));
    // Failed creates left nothing behind but the one that worked.
    assert_eq!(fs::read_dir(f.path("containers")).unwrap().count(), 1);
}
