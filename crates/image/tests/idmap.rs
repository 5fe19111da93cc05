//! Snapshots of containers with a user namespace, on the real kernel (run as root): layers
//! idmapped into the range, the chowned-copy fallback, and the views with the container's
//! own ids (what cp, export and commit read).

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_image::snapshot::{IdMapping, IdRange, IdmapMethod, Snapshotter};
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

const BASE: u32 = 7_000_000;

fn map() -> IdMapping {
    let r = vec![IdRange {
        container: 0,
        host: BASE,
        size: 65536,
    }];
    IdMapping {
        uid: r.clone(),
        gid: r,
    }
}

struct Fixture {
    snap: Snapshotter,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Two layers: the lower with a file of app (1000), a setuid file, two hard links, a
    /// fifo, a symlink and a `user.` xattr; the upper deleting `gone`.
    fn new(chown_only: bool) -> Option<Fixture> {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skip: needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut snap = Snapshotter::open(dir.path().join("overlay")).unwrap();
        snap.set_chown_only(chown_only);
        let f = Fixture { snap, dir };
        f.layer(1, |d| {
            fs::write(d.join("app"), "app").unwrap();
            std::os::unix::fs::chown(d.join("app"), Some(1000), Some(1000)).unwrap();
            fs::write(d.join("suid"), "s").unwrap();
            fs::set_permissions(d.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
            fs::write(d.join("one"), "linked").unwrap();
            fs::hard_link(d.join("one"), d.join("two")).unwrap();
            nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
            std::os::unix::fs::symlink("app", d.join("link")).unwrap();
            fs::write(d.join("gone"), "x").unwrap();
            berth_sys::xattr::lsetxattr(&d.join("app"), "user.note", b"kept").unwrap();
        });
        f.layer(2, |d| {
            let wh = d.join("gone");
            mknod(&wh, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
        });
        f.snap
            .create("c1", &[chain(2), chain(1)])
            .expect("create snapshot");
        f.snap.set_idmap("c1", &map()).unwrap();
        Some(f)
    }

    fn layer(&self, n: usize, fill: impl FnOnce(&Path)) {
        let slot = self.snap.prepare_layer(&chain(n)).unwrap().unwrap();
        fill(&slot.staging());
        slot.commit().unwrap();
    }

    fn merged(&self) -> PathBuf {
        self.snap.mount("c1").expect("mount")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.snap.unmount("c1");
    }
}

fn chain(n: usize) -> String {
    format!("sha256:{n:064x}")
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

#[test]
fn layers_are_idmapped_and_an_overlay_mount_is_not() {
    let Some(f) = Fixture::new(false) else { return };
    let m = f.merged();
    assert_eq!(f.snap.idmap_method("c1"), Some(IdmapMethod::Idmapped));
    assert!(!f.dir.path().join("overlay/containers/c1/idlower").exists());
    assert_eq!(owner(&m.join("app")), (BASE + 1000, BASE + 1000));
    assert_eq!(owner(&m.join("suid")), (BASE, BASE));
    assert_eq!(
        owner(&m),
        (BASE, BASE),
        "the upper's root is the mapped root's"
    );
    assert!(
        !m.join("gone").exists(),
        "the upper layer's whiteout applies"
    );
    // Copy-up keeps the idmapped owner: the upper holds host ids.
    fs::write(m.join("app"), "changed").unwrap();
    let upper = f.snap.upper_dir("c1").unwrap();
    assert_eq!(owner(&upper.join("app")), (BASE + 1000, BASE + 1000));
    // What Linux does with an overlay mount itself (6.18: EINVAL, overlayfs does not
    // allow idmapped mounts; the layers are what can be idmapped).
    let userns = berth_sys::userns::with_maps("0 7000000 65536\n", "0 7000000 65536\n").unwrap();
    let root = fs::File::open("/").unwrap();
    let tree =
        berth_sys::mount::open_tree(root.as_fd(), &m, berth_sys::mount::OPEN_TREE_CLONE).unwrap();
    let idmapped = berth_sys::mount::setattr(tree.as_fd(), 0, 0, Some(userns.as_fd()), false);
    eprintln!("idmapping the overlay mount itself: {idmapped:?}");
    assert_eq!(
        idmapped.map_err(|e| e.raw_os_error()),
        Err(Some(libc::EINVAL)),
        "this kernel idmaps overlay mounts now: the layer trick could go"
    );
}

#[test]
fn the_chowned_copy_keeps_modes_links_devices_and_xattrs() {
    let Some(f) = Fixture::new(true) else { return };
    let m = f.merged();
    assert_eq!(f.snap.idmap_method("c1"), Some(IdmapMethod::Chown));
    let copy = f.dir.path().join("overlay/containers/c1/idlower");
    for p in [&m, &copy] {
        assert_eq!(owner(&p.join("app")), (BASE + 1000, BASE + 1000));
        assert_eq!(
            owner(&p.join("link")),
            (BASE, BASE),
            "symlinks are chowned too"
        );
        let suid = fs::metadata(p.join("suid")).unwrap();
        assert_eq!(
            suid.mode() & 0o7777,
            0o4755,
            "chown cleared set-id, chmod restored"
        );
        assert!(!p.join("gone").exists());
    }
    let (one, two) = (
        fs::metadata(copy.join("one")).unwrap(),
        fs::metadata(copy.join("two")).unwrap(),
    );
    assert_eq!(one.ino(), two.ino(), "hard links stay links");
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(copy.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(fs::read_link(copy.join("link")).unwrap(), Path::new("app"));
    let note = berth_sys::xattr::lgetxattr(&copy.join("app"), "user.note").unwrap();
    assert_eq!(note, b"kept");
    let lower = f.snap.layer_dir(&chain(1)).unwrap();
    assert_eq!(
        fs::metadata(copy.join("app")).unwrap().mtime(),
        fs::metadata(lower.join("app")).unwrap().mtime()
    );
    // Mounted again, the copy is reused.
    f.snap.unmount("c1").unwrap();
    assert_eq!(owner(&f.merged().join("app")), (BASE + 1000, BASE + 1000));
}

#[test]
fn views_show_the_containers_own_ids() {
    let Some(f) = Fixture::new(false) else { return };
    let m = f.merged();
    fs::write(m.join("new"), "n").unwrap();
    std::os::unix::fs::chown(m.join("new"), Some(BASE + 5), Some(BASE + 6)).unwrap();
    let up = f
        .snap
        .upper_view("c1")
        .unwrap()
        .expect("a snapshot with maps");
    assert_eq!(owner(&up.path().join("new")), (5, 6));
    assert_eq!(owner(&up.path()), (0, 0));
    let all = f.snap.rootfs_view("c1").unwrap().unwrap();
    assert_eq!(owner(&all.path().join("new")), (5, 6));
    assert_eq!(owner(&all.path().join("app")), (1000, 1000));
    assert!(!all.path().join("gone").exists());
    assert!(
        fs::write(all.path().join("x"), "").is_err(),
        "the view is read-only"
    );
    drop(all);
    umount2(&m, MntFlags::MNT_DETACH).unwrap();
    f.snap.create("plain", &[chain(1)]).unwrap();
    assert!(
        f.snap.upper_view("plain").unwrap().is_none(),
        "no maps, no view"
    );
}
