//! Layer unpacking against tars built in memory: every entry type, compression, whiteouts,
//! and hostile input. Each test unpacks into `outer/layer` and checks nothing else appeared.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_sys::xattr::{lgetxattr, llistxattr};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::*;

type B = tar::Builder<Vec<u8>>;

/// An outer temp dir and an empty `outer/layer` to unpack into.
fn dirs() -> (tempfile::TempDir, PathBuf) {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("layer");
    fs::create_dir(&dest).unwrap();
    (outer, dest)
}

/// Everything under `outer` except the layer directory's contents.
fn outside(outer: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() && p.file_name().unwrap() != "layer" {
                walk(&p, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(outer, outer, &mut out);
    out.sort();
    out
}

fn tar_of(f: impl FnOnce(&mut B)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    f(&mut b);
    b.into_inner().unwrap()
}

/// A header with a raw name and link name (the builder refuses `..` and absolute names).
fn hdr(kind: EntryType, name: &[u8], link: &[u8], size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_cksum();
    h
}

fn add(b: &mut B, kind: EntryType, name: &str, link: &str, data: &[u8], mode: u32) {
    let h = hdr(
        kind,
        name.as_bytes(),
        link.as_bytes(),
        data.len() as u64,
        mode,
    );
    b.append(&h, data).unwrap();
}

/// A PAX extended header applying `records` to the next entry.
fn pax(b: &mut B, records: &[(&str, &[u8])]) {
    let mut body = Vec::new();
    for (k, v) in records {
        let rest = 1 + k.len() + 1 + v.len() + 1;
        let mut len = rest + 1;
        while len.to_string().len() + rest != len {
            len = len.to_string().len() + rest;
        }
        write!(body, "{len} {k}=").unwrap();
        body.extend_from_slice(v);
        body.push(b'\n');
    }
    let h = hdr(
        EntryType::XHeader,
        b"PaxHeader",
        b"",
        body.len() as u64,
        0o644,
    );
    b.append(&h, &body[..]).unwrap();
}

fn run(tar: &[u8], dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats, LayerError> {
    unpack(tar, dest, opts)
}

fn sha(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A v2 `security.capability` value granting cap_net_bind_service (bit 10), effective.
const CAP: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn every_type() -> Vec<u8> {
    tar_of(|b| {
        let mut d = hdr(EntryType::Directory, b"d/", b"", 0, 0o750);
        d.set_uid(1000);
        d.set_gid(1001);
        d.set_mtime(1_000_000);
        d.set_cksum();
        b.append(&d, &[][..]).unwrap();
        pax(
            b,
            &[
                ("SCHILY.xattr.security.capability", &CAP),
                ("SCHILY.xattr.user.k", b"v"),
                ("SCHILY.xattr.trusted.t", b"tv"),
            ],
        );
        let mut f = hdr(EntryType::Regular, b"d/f", b"", 5, 0o4755);
        f.set_uid(1000);
        f.set_gid(1001);
        f.set_cksum();
        b.append(&f, &b"hello"[..]).unwrap();
        add(b, EntryType::Symlink, "d/s", "f", b"", 0o777);
        add(b, EntryType::Link, "d/h", "d/f", b"", 0o644);
        let mut c = hdr(EntryType::Char, b"dev/c", b"", 0, 0o666);
        c.set_device_major(1).unwrap();
        c.set_device_minor(3).unwrap();
        c.set_cksum();
        b.append(&c, &[][..]).unwrap();
        let mut k = hdr(EntryType::Block, b"dev/b", b"", 0, 0o660);
        k.set_device_major(7).unwrap();
        k.set_device_minor(0).unwrap();
        k.set_cksum();
        b.append(&k, &[][..]).unwrap();
        add(b, EntryType::Fifo, "p", "", b"", 0o1644);
    })
}

#[test]
fn every_entry_type_round_trips() {
    let (outer, dest) = dirs();
    let tar = every_type();
    let stats = run(&tar, &dest, &UnpackOptions::default()).unwrap();
    assert_eq!(stats.diff_id, sha(&tar));
    assert_eq!(stats.bytes, tar.len() as u64);
    assert_eq!(stats.entries, 7);

    let d = fs::symlink_metadata(dest.join("d")).unwrap();
    assert!(d.is_dir());
    assert_eq!(
        (d.mode() & 0o7777, d.uid(), d.gid(), d.mtime()),
        (0o750, 1000, 1001, 1_000_000)
    );

    let f = fs::symlink_metadata(dest.join("d/f")).unwrap();
    assert_eq!(fs::read(dest.join("d/f")).unwrap(), b"hello");
    assert_eq!(
        (f.mode() & 0o7777, f.uid(), f.gid(), f.mtime()),
        (0o4755, 1000, 1001, 1_600_000_000)
    );
    assert_eq!(
        lgetxattr(&dest.join("d/f"), "security.capability").unwrap(),
        CAP
    );
    assert_eq!(lgetxattr(&dest.join("d/f"), "user.k").unwrap(), b"v");
    assert_eq!(lgetxattr(&dest.join("d/f"), "trusted.t").unwrap(), b"tv");
    let mut names = llistxattr(&dest.join("d/f")).unwrap();
    names.sort();
    assert_eq!(names, ["security.capability", "trusted.t", "user.k"]);

    assert_eq!(fs::read_link(dest.join("d/s")).unwrap(), Path::new("f"));
    let h = fs::symlink_metadata(dest.join("d/h")).unwrap();
    assert_eq!((h.ino(), h.nlink()), (f.ino(), 2));

    let c = fs::symlink_metadata(dest.join("dev/c")).unwrap();
    assert!(c.file_type().is_char_device());
    assert_eq!(
        (c.rdev(), c.mode() & 0o7777),
        (nix::sys::stat::makedev(1, 3), 0o666)
    );
    let k = fs::symlink_metadata(dest.join("dev/b")).unwrap();
    assert!(k.file_type().is_block_device());
    assert_eq!(k.rdev(), nix::sys::stat::makedev(7, 0));
    let p = fs::symlink_metadata(dest.join("p")).unwrap();
    assert!(p.file_type().is_fifo());
    assert_eq!(p.permissions().mode() & 0o7777, 0o1644);
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn gzip_and_zstd_give_the_plain_diff_id() {
    let tar = every_type();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    assert_eq!(detect(&gz), Compression::Gzip);
    assert_eq!(detect(&zst), Compression::Zstd);
    assert_eq!(detect(&tar), Compression::None);
    for blob in [&tar, &gz, &zst] {
        let (_outer, dest) = dirs();
        let stats = run(blob, &dest, &UnpackOptions::default()).unwrap();
        assert_eq!(stats.diff_id, sha(&tar));
        assert_eq!(fs::read(dest.join("d/f")).unwrap(), b"hello");
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let (outer, dest) = dirs();
    let tar = tar_of(|b| {
        add(b, EntryType::Directory, "a/", "", b"", 0o755);
        add(b, EntryType::Regular, "a/.wh.b", "", b"", 0o644);
        add(b, EntryType::Regular, "o/.wh..wh..opq", "", b"", 0o644);
        add(b, EntryType::Regular, ".wh..wh.plnk", "", b"", 0o644);
    });
    run(&tar, &dest, &UnpackOptions::default()).unwrap();
    let wh = fs::symlink_metadata(dest.join("a/b")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!dest.join("a/.wh.b").exists());
    assert_eq!(
        lgetxattr(&dest.join("o"), "trusted.overlay.opaque").unwrap(),
        b"y"
    );
    assert_eq!(fs::read_dir(dest.join("o")).unwrap().count(), 0);
    let mut top: Vec<_> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, ["a", "o"]);
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn dotdot_paths_are_refused() {
    for name in ["../evil", "a/../../evil", "./../layer2/x"] {
        let (outer, dest) = dirs();
        let tar = tar_of(|b| add(b, EntryType::Regular, name, "", b"x", 0o644));
        let err = run(&tar, &dest, &UnpackOptions::default()).unwrap_err();
        assert!(matches!(err, LayerError::BadPath { .. }), "{name}: {err}");
        assert_eq!(
            err.to_string(),
            format!("unpack `{name}`: path climbs out of the layer directory")
        );
        assert_eq!(outside(outer.path()), ["layer"]);
    }
}

#[test]
fn absolute_paths_land_inside_dest() {
    let (outer, dest) = dirs();
    let tar = tar_of(|b| add(b, EntryType::Regular, "/etc/x", "", b"x", 0o644));
    run(&tar, &dest, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(dest.join("etc/x")).unwrap(), b"x");
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn writes_through_symlinks_stay_inside_dest() {
    let (outer, dest) = dirs();
    let host = outer.path().join("outside");
    fs::create_dir(&host).unwrap();
    let host_s = host.to_str().unwrap().to_string();
    // A symlink to a host directory the layer does not contain: refused, not followed.
    let tar = tar_of(|b| {
        add(b, EntryType::Symlink, "link", &host_s, b"", 0o777);
        add(b, EntryType::Regular, "link/x", "", b"x", 0o644);
    });
    let err = run(&tar, &dest, &UnpackOptions::default()).unwrap_err();
    assert!(matches!(err, LayerError::ParentNotDir { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "unpack `link/x`: parent `link` is not a directory inside the layer"
    );
    assert_eq!(outside(outer.path()), ["layer", "outside"]);

    // Absolute and climbing symlinks resolve with dest as root.
    let (outer, dest) = dirs();
    let tar = tar_of(|b| {
        add(b, EntryType::Directory, "inside/", "", b"", 0o755);
        add(b, EntryType::Symlink, "abs", "/inside", b"", 0o777);
        add(b, EntryType::Symlink, "up", "../../../../..", b"", 0o777);
        add(b, EntryType::Regular, "abs/x", "", b"x", 0o644);
        add(b, EntryType::Regular, "up/y", "", b"y", 0o644);
        add(b, EntryType::Regular, "up/inside/z", "", b"z", 0o644);
    });
    run(&tar, &dest, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(dest.join("inside/x")).unwrap(), b"x");
    assert_eq!(fs::read(dest.join("y")).unwrap(), b"y");
    assert_eq!(fs::read(dest.join("inside/z")).unwrap(), b"z");
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn hardlinks_out_of_the_layer_are_refused() {
    let cases = [
        (
            "../../etc/passwd",
            "hardlink `h`: target `../../etc/passwd` climbs out of the layer directory",
        ),
        (
            "/etc/passwd",
            "hardlink `h`: target `/etc/passwd` is not an earlier file of this layer",
        ),
        (
            "later",
            "hardlink `h`: target `later` is not an earlier file of this layer",
        ),
    ];
    for (target, msg) in cases {
        let (outer, dest) = dirs();
        let tar = tar_of(|b| {
            add(b, EntryType::Link, "h", target, b"", 0o644);
            add(b, EntryType::Regular, "later", "", b"x", 0o644);
        });
        let err = run(&tar, &dest, &UnpackOptions::default()).unwrap_err();
        assert!(matches!(err, LayerError::BadLink { .. }), "{err}");
        assert_eq!(err.to_string(), msg);
        assert_eq!(outside(outer.path()), ["layer"]);
        assert!(!dest.join("h").exists());
    }
}

#[test]
fn devices_refused_when_not_allowed() {
    let (outer, dest) = dirs();
    let tar = tar_of(|b| add(b, EntryType::Char, "dev/null", "", b"", 0o666));
    let opts = UnpackOptions {
        allow_devices: false,
        ..Default::default()
    };
    let err = run(&tar, &dest, &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mknod `dev/null`: device nodes are not allowed in this layer"
    );
    assert!(!dest.join("dev/null").exists());
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn diff_id_mismatch_is_reported() {
    let (outer, dest) = dirs();
    let tar = tar_of(|b| add(b, EntryType::Regular, "f", "", b"x", 0o644));
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = unpack_verified(&tar[..], &dest, &UnpackOptions::default(), &wrong).unwrap_err();
    assert!(matches!(&err, LayerError::DiffIdMismatch { actual, .. } if *actual == sha(&tar)));
    assert!(err.to_string().contains("must be discarded"));
    let ok = unpack_verified(&tar[..], &dirs().1, &UnpackOptions::default(), &sha(&tar));
    assert_eq!(ok.unwrap().diff_id, sha(&tar));
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn truncated_gzip_is_an_error() {
    let (outer, dest) = dirs();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&every_type()).unwrap();
    let gz = gz.finish().unwrap();
    for cut in [gz.len() - 4, gz.len() / 2] {
        let err = run(&gz[..cut], &dest, &UnpackOptions::default()).unwrap_err();
        assert!(matches!(err, LayerError::Read { .. }), "{err}");
    }
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn gzip_bomb_stops_at_the_limit() {
    let (outer, dest) = dirs();
    // 200 MiB of zeros as one tar entry: a header member, then 200 identical 1 MiB gzip
    // members of zeros (a multi-member gzip, which Docker reads too).
    let total: u64 = 200 << 20;
    let head = hdr(EntryType::Regular, b"zeros", b"", total, 0o644);
    let gzip = |data: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    };
    let mut blob = gzip(head.as_bytes());
    let mib = gzip(&vec![0; 1 << 20]);
    for _ in 0..200 {
        blob.extend_from_slice(&mib);
    }
    assert!(blob.len() < 1 << 20);
    let opts = UnpackOptions {
        max_bytes: 10 << 20,
        ..Default::default()
    };
    let err = run(&blob, &dest, &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "read layer stream: uncompressed size exceeds the 10485760-byte limit"
    );
    assert!(fs::metadata(dest.join("zeros")).unwrap().len() <= 10 << 20);
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn later_duplicates_win() {
    let (outer, dest) = dirs();
    let tar = tar_of(|b| {
        add(b, EntryType::Regular, "f", "", b"one", 0o644);
        add(b, EntryType::Regular, "f", "", b"two", 0o600);
        add(b, EntryType::Directory, "d/", "", b"", 0o755);
        add(b, EntryType::Regular, "d/x", "", b"x", 0o644);
        add(b, EntryType::Directory, "d/", "", b"", 0o711);
        add(b, EntryType::Regular, "g", "", b"g", 0o644);
        add(b, EntryType::Directory, "g/", "", b"", 0o755);
        add(b, EntryType::Directory, "h/sub/", "", b"", 0o755);
        add(b, EntryType::Regular, "h/sub/y", "", b"y", 0o644);
        add(b, EntryType::Symlink, "h", "d", b"", 0o777);
    });
    run(&tar, &dest, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"two");
    assert_eq!(fs::metadata(dest.join("f")).unwrap().mode() & 0o777, 0o600);
    assert_eq!(fs::read(dest.join("d/x")).unwrap(), b"x");
    assert_eq!(fs::metadata(dest.join("d")).unwrap().mode() & 0o777, 0o711);
    assert!(fs::symlink_metadata(dest.join("g")).unwrap().is_dir());
    assert_eq!(fs::read_link(dest.join("h")).unwrap(), Path::new("d"));
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn escaping_whiteouts_are_refused() {
    for (name, reason) in [
        ("../.wh.x", "path climbs out of the layer directory"),
        ("a/.wh...", "whiteout names no file"),
    ] {
        let (outer, dest) = dirs();
        let tar = tar_of(|b| add(b, EntryType::Regular, name, "", b"", 0o644));
        let err = run(&tar, &dest, &UnpackOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), format!("unpack `{name}`: {reason}"));
        assert_eq!(outside(outer.path()), ["layer"]);
    }
}

#[test]
fn root_entry_and_symlink_owner_are_applied() {
    let (outer, dest) = dirs();
    let tar = tar_of(|b| {
        let mut r = hdr(EntryType::Directory, b"./", b"", 0, 0o751);
        r.set_mtime(42);
        r.set_cksum();
        b.append(&r, &[][..]).unwrap();
        let mut s = hdr(EntryType::Symlink, b"s", b"/nowhere", 0, 0o777);
        s.set_uid(7);
        s.set_gid(8);
        s.set_cksum();
        b.append(&s, &[][..]).unwrap();
    });
    run(&tar, &dest, &UnpackOptions::default()).unwrap();
    let root = fs::metadata(&dest).unwrap();
    assert_eq!((root.mode() & 0o7777, root.mtime()), (0o751, 42));
    let s = fs::symlink_metadata(dest.join("s")).unwrap();
    assert_eq!((s.uid(), s.gid(), s.mtime()), (7, 8, 1_600_000_000));
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn missing_dest_and_garbage_are_clear_errors() {
    let (outer, dest) = dirs();
    let missing = dest.join("nope");
    let err = run(b"", &missing, &UnpackOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("open layer directory `"),
        "{err}"
    );
    let err = run(&[7u8; 1024], &dest, &UnpackOptions::default()).unwrap_err();
    assert!(matches!(err, LayerError::Read { .. }), "{err}");
    assert_eq!(outside(outer.path()), ["layer"]);
}

#[test]
fn plain_names_and_one_owner_when_asked() {
    let (_outer, dest) = dirs();
    fs::write(dest.join("keep"), b"k").unwrap();
    let tar = tar_of(|b| {
        add(b, EntryType::Regular, ".wh.keep", "", b"x", 0o644);
        add(b, EntryType::Directory, "d/", "", b"", 0o755);
        add(b, EntryType::Regular, "d/f", "", b"data", 0o600);
    });
    let opts = UnpackOptions {
        whiteouts: false,
        owner: Some((12, 34)),
        ..Default::default()
    };
    run(&tar, &dest, &opts).unwrap();
    assert_eq!(fs::read(dest.join("keep")).unwrap(), b"k");
    assert_eq!(fs::read(dest.join(".wh.keep")).unwrap(), b"x");
    let m = fs::metadata(dest.join("d/f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (12, 34));
}

#[test]
fn export_entry_names_the_root_as_asked() {
    let (_outer, dest) = dirs();
    fs::create_dir_all(dest.join("src/sub")).unwrap();
    fs::write(dest.join("src/sub/f"), b"hi").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dest.join("src/link")).unwrap();
    let dir = std::fs::File::open(&dest).unwrap();
    let names = |name: Option<&[u8]>, as_name: &[u8]| {
        let mut out = Vec::new();
        export::export_entry(std::os::fd::AsFd::as_fd(&dir), name, as_name, &mut out).unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let mut v: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(Some(b"src"), b"dst"),
        ["dst/", "dst/link", "dst/sub/", "dst/sub/f"]
    );
    assert_eq!(
        names(None, b""),
        ["src/", "src/link", "src/sub/", "src/sub/f"]
    );
}
