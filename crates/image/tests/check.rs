//! `system check` over a real store and snapshotter: each kind of damage a killed process or
//! a bad disk leaves is found, one problem each, and repair leaves a store that checks clean
//! and that the next command uses.

use std::fs;
use std::path::Path;
use std::time::Duration;

use berth_image::check::{check, CheckOptions};
use berth_image::image::{import, list, load, unpack_layers, Image, ImportOptions};
use berth_image::snapshot::{Snapshotter, STORE_DIR};
use berth_image::store::Store;

fn layer(name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(name.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, name.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

/// A store with images `a:1` and `b:1`, both unpacked, and a snapshot `c1` over `a:1`.
struct World {
    _dir: tempfile::TempDir,
    store: Store,
    snaps: Snapshotter,
    a: Image,
    b: Image,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let snaps = Snapshotter::open(dir.path().join(STORE_DIR)).unwrap();
        let named = |n: &str| ImportOptions {
            reference: Some(n.parse().unwrap()),
            ..Default::default()
        };
        let a = import(&store, &layer("a")[..], &named("a:1")).unwrap();
        let b = import(&store, &layer("b")[..], &named("b:1")).unwrap();
        let lowers = unpack_layers(&store, &snaps, &a).unwrap();
        unpack_layers(&store, &snaps, &b).unwrap();
        snaps.create("c1", &lowers).unwrap();
        World {
            _dir: dir,
            store,
            snaps,
            a,
            b,
        }
    }

    fn blob(&self, digest: &str) -> std::path::PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.store.root().join("blobs/sha256").join(hex)
    }

    /// Checks with `opts`; returns the problems' lines and how many stayed unrepaired.
    fn check(&self, opts: &CheckOptions) -> (Vec<String>, usize) {
        let r = check(&self.store, &self.snaps, opts).unwrap();
        let lines = r.findings.iter().map(|f| f.problem.to_string()).collect();
        (lines, r.unrepaired())
    }

    /// Report, then repair, then a clean check.
    #[track_caller]
    fn repairs(&self, opts: CheckOptions) -> Vec<String> {
        let (lines, left) = self.check(&opts);
        assert_eq!(left, lines.len(), "nothing repaired without --repair");
        assert!(!lines.is_empty(), "a problem is found");
        let repair = CheckOptions {
            repair: true,
            ..opts.clone()
        };
        let (again, left) = self.check(&repair);
        assert_eq!(again, lines, "repair finds the same");
        assert_eq!(left, 0, "{again:?}");
        assert_eq!(self.check(&opts), (vec![], 0), "clean after repair");
        lines
    }
}

fn now() -> CheckOptions {
    CheckOptions {
        max_age: Duration::ZERO,
        ..Default::default()
    }
}

#[test]
fn a_sound_store_has_no_problems() {
    let w = World::new();
    assert_eq!(w.check(&now()), (vec![], 0));
}

#[test]
fn temp_files_of_dead_writers_go_and_live_ones_stay() {
    let w = World::new();
    fs::write(w.store.root().join("tmp/123-0-0.tmp"), b"half a blob").unwrap();
    let live = w.store.blob_writer().unwrap();
    let lines = w.repairs(now());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("temp file `") && lines[0].contains("123-0-0.tmp"));
    assert!(live.path().exists(), "a live writer's file stays");
}

#[test]
fn a_corrupt_layer_takes_its_image_and_what_then_dangles() {
    let w = World::new();
    let layer = w.a.manifest.layers()[0].digest().to_string();
    fs::write(w.blob(&layer), b"bit rot").unwrap();
    let lines = w.repairs(now());
    assert!(lines[0].starts_with(&format!("blob `{layer}`: content hashes to sha256:")));
    assert_eq!(
        lines[1],
        format!("image `docker.io/library/a:1`: layer `{layer}` is missing")
    );
    // The broken image's manifest and config go at once, whatever their age.
    assert!(lines.contains(&format!(
        "blob `{}`: referenced by no image",
        w.a.manifest_digest
    )));
    assert!(!w.blob(&w.a.manifest_digest).exists());
    assert_eq!(list(&w.store).unwrap().len(), 1);
    load(&w.store, &w.b.manifest_digest).unwrap();
}

#[test]
fn quick_skips_hashing() {
    let w = World::new();
    let layer = w.a.manifest.layers()[0].digest().to_string();
    fs::write(w.blob(&layer), b"bit rot").unwrap();
    let quick = CheckOptions {
        quick: true,
        ..now()
    };
    assert_eq!(w.check(&quick), (vec![], 0));
}

#[test]
fn a_tag_naming_a_missing_manifest_or_config_goes() {
    let w = World::new();
    fs::remove_file(w.blob(&w.b.id())).unwrap();
    fs::remove_file(w.blob(&w.a.manifest_digest)).unwrap();
    let lines = w.repairs(now());
    let want_a = format!(
        "image `docker.io/library/a:1`: manifest `{}` is missing",
        w.a.manifest_digest
    );
    let want_b = format!(
        "image `docker.io/library/b:1`: config `{}` is missing",
        w.b.id()
    );
    assert!(
        lines.contains(&want_a) && lines.contains(&want_b),
        "{lines:?}"
    );
    assert!(w.store.tags().unwrap().is_empty());
}

#[test]
fn unreferenced_blobs_wait_for_max_age() {
    let w = World::new();
    let stray = w.store.put_blob(None, &b"from a killed pull"[..]).unwrap();
    assert_eq!(w.check(&CheckOptions::default()), (vec![], 0));
    let lines = w.repairs(now());
    assert_eq!(lines, [format!("blob `{stray}`: referenced by no image")]);
}

#[test]
fn a_bad_file_name_and_a_corrupt_index_are_found() {
    let w = World::new();
    fs::write(w.store.root().join("blobs/sha256/junk"), b"x").unwrap();
    fs::write(w.store.root().join("index/tags.json"), b"{\"tags\":").unwrap();
    let repair = CheckOptions {
        repair: true,
        ..CheckOptions::default()
    };
    let (lines, left) = w.check(&repair);
    assert_eq!(left, 0);
    assert!(
        lines[0].starts_with("blob file `")
            && lines[0].ends_with("junk`: not named by a sha256 digest")
    );
    assert!(lines[1].starts_with("tag index `"), "{lines:?}");
    assert!(w.store.root().join("index/tags.json.corrupt").exists());
    assert_eq!(w.check(&CheckOptions::default()), (vec![], 0));
}

#[test]
fn a_killed_unpack_and_half_removed_dirs_are_debris() {
    let w = World::new();
    let layers = w.snaps.root().join("layers");
    let hex = "f".repeat(64);
    fs::create_dir_all(layers.join(format!(".staging-{hex}/diff"))).unwrap();
    fs::create_dir_all(layers.join(format!(".removing-{hex}/diff"))).unwrap();
    fs::create_dir_all(w.snaps.root().join("containers/.removing-c9/upper")).unwrap();
    let link = w.snaps.root().join("l/AAAAAAAAAAAAAAAAAAAAAAAAAA");
    std::os::unix::fs::symlink(format!("../layers/{hex}/diff"), &link).unwrap();
    let lines = w.repairs(now());
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[..3]
        .iter()
        .all(|l| l.contains("left by a killed unpack or removal")));
    assert_eq!(
        lines[3],
        format!("short link `{}`: layer is gone", link.display())
    );
}

#[test]
fn layers_links_and_snapshots() {
    let w = World::new();
    let chain = |i: &Image| i.config.rootfs().diff_ids()[0].clone();
    let (a, b) = (chain(&w.a), chain(&w.b));
    let diff_a = w.snaps.layer_dir(&a).unwrap();
    let short = fs::read_to_string(diff_a.parent().unwrap().join("link")).unwrap();
    fs::remove_file(w.snaps.root().join("l").join(&short)).unwrap();
    let lines = w.repairs(now());
    assert_eq!(lines, [format!("layer `{a}`: short link missing")]);

    // A layer whose diff dir is gone: incomplete, removed; the snapshot over it is broken
    // and only goes with force.
    fs::remove_dir_all(&diff_a).unwrap();
    let repair = CheckOptions {
        repair: true,
        ..now()
    };
    let (lines, left) = w.check(&repair);
    assert_eq!(lines[0], format!("layer `{a}`: incomplete (no diff dir)"));
    // Its short link went with it, so the snapshot's lower entry no longer resolves.
    assert!(
        lines[1].starts_with("snapshot `c1`: lower layer `l/"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(left, 1);
    assert!(w.snaps.root().join("containers/c1").exists());
    let force = CheckOptions {
        force: true,
        ..repair
    };
    assert_eq!(w.check(&force).1, 0);
    assert!(!w.snaps.root().join("containers/c1").exists());

    // A layer no image or snapshot uses (its image was removed).
    berth_image::image::remove(&w.store, "b:1", false).unwrap();
    let lines = w.repairs(now());
    assert_eq!(
        lines,
        [format!("layer `{b}`: used by no image or snapshot")]
    );
    assert!(!Path::new(&w.snaps.layer_dir(&b).unwrap()).exists());
}
