//! diff and export against trees built here (root: devices, owners, trusted.* xattrs): every
//! entry type round-trips through [`super::super::unpack`], whiteouts and opaque dirs are
//! converted, and the output is deterministic.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use berth_sys::xattr::{lgetxattr, llistxattr, lsetxattr};
use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{chown, Gid, Uid};
use sha2::{Digest, Sha256};

use super::super::{unpack, UnpackOptions};
use super::*;
use crate::layer::export::export;

/// A file capability granting cap_net_bind_service (VFS_CAP_REVISION_2, effective).
const CAP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
const LONG_DIR: &str = "a-directory-name-long-enough-that-the-path-needs-a-gnu-long-name-record";

fn set_owner(p: &Path, uid: u32, gid: u32) {
    chown(p, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).unwrap();
}

fn set_mtime(p: &Path, secs: i64) {
    let ts = TimeSpec::new(secs, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &ts,
        &ts,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// Every entry type, an overlay whiteout, an opaque dir, overlay-private xattrs and a socket.
fn build_tree(root: &Path) {
    let p = |rel: &str| root.join(rel);
    fs::create_dir(p("d")).unwrap();
    set_owner(&p("d"), 1000, 1001);
    fs::set_permissions(p("d"), fs::Permissions::from_mode(0o750)).unwrap();
    lsetxattr(&p("d"), "user.colour", b"blue").unwrap();
    lsetxattr(&p("d"), "trusted.berth", b"\x00binary\xff").unwrap();
    fs::write(p("d/f"), b"hello").unwrap();
    set_owner(&p("d/f"), 1, 2);
    fs::set_permissions(p("d/f"), fs::Permissions::from_mode(0o4755)).unwrap();
    lsetxattr(&p("d/f"), "security.capability", &CAP).unwrap();
    fs::hard_link(p("d/f"), p("d/f-link")).unwrap();
    fs::write(p("big"), vec![7u8; 300_000]).unwrap();
    fs::write(p("origin"), b"copied up").unwrap();
    lsetxattr(&p("origin"), "trusted.overlay.origin", b"x").unwrap();
    symlink("/etc/passwd", p("abs-link")).unwrap();
    symlink("../../outside/dir", p("d/rel-link")).unwrap();
    std::os::unix::fs::lchown(p("abs-link"), Some(5), Some(6)).unwrap();
    fs::create_dir(p("dev")).unwrap();
    let rw = Mode::from_bits_truncate(0o660);
    mknod(&p("dev/null"), SFlag::S_IFCHR, rw, makedev(1, 3)).unwrap();
    mknod(&p("dev/loop9"), SFlag::S_IFBLK, rw, makedev(7, 9)).unwrap();
    mknod(&p("dev/fifo"), SFlag::S_IFIFO, rw, 0).unwrap();
    mknod(&p("gone"), SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
    set_owner(&p("gone"), 3, 4);
    fs::create_dir(p("o")).unwrap();
    lsetxattr(&p("o"), "trusted.overlay.opaque", b"y").unwrap();
    fs::write(p("o/inside"), b"new").unwrap();
    fs::create_dir_all(p(&format!("{LONG_DIR}/{LONG_DIR}"))).unwrap();
    let long = format!("{LONG_DIR}/{LONG_DIR}/file-with-a-long-name");
    fs::write(p(&long), b"long").unwrap();
    symlink(format!("/{long}/{long}"), p("long-target")).unwrap();
    let _sock = UnixListener::bind(p("sock")).unwrap();
    for (i, rel) in tree(root).keys().rev().enumerate() {
        set_mtime(&p(rel), 1_500_000_000 + i as i64);
    }
}

/// What the round trip must keep of one entry.
#[derive(Debug, PartialEq)]
struct Seen {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    rdev: u64,
    data: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Every entry below `root` by relative path (sockets left out: they are never archived).
fn tree(root: &Path) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Seen>) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let md = fs::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        if ft.is_socket() {
            continue;
        }
        let data = if ft.is_file() {
            fs::read(&path).unwrap()
        } else if ft.is_symlink() {
            fs::read_link(&path)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        let mut xattrs: Vec<_> = llistxattr(&path)
            .unwrap()
            .into_iter()
            .map(|k| k.into_string().unwrap())
            .filter(|k| !k.starts_with("security.selinux"))
            .map(|k| (k.clone(), lgetxattr(&path, &k).unwrap()))
            .collect();
        xattrs.sort();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let kind = format!("{ft:?}");
        out.insert(
            rel,
            Seen {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                rdev: md.rdev(),
                data,
                xattrs,
            },
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

fn layer_of(src: &Path, gzip: bool) -> (Vec<u8>, DiffStats) {
    let mut out = Vec::new();
    let stats = diff(src, &mut out, gzip).expect("diff");
    (out, stats)
}

/// One tar entry: name, type and its PAX records.
type Listed = (String, tar::EntryType, Vec<(String, Vec<u8>)>);

/// Entry names and types of a tar, in order (PAX headers are folded into their entry).
fn entries(tar: &[u8]) -> Vec<Listed> {
    let mut ar = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut xattrs = Vec::new();
        if let Some(pax) = e.pax_extensions().unwrap() {
            for ext in pax {
                let ext = ext.unwrap();
                xattrs.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
            }
        }
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        out.push((name, e.header().entry_type(), xattrs));
    }
    out
}

fn sha256(b: &[u8]) -> String {
    let hex: String = Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[test]
fn round_trip_through_unpack_restores_every_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    build_tree(&src);
    let (layer, stats) = layer_of(&src, false);
    let unpacked = unpack(layer.as_slice(), &dst, &UnpackOptions::default()).expect("unpack");
    assert_eq!(unpacked.diff_id, stats.diff_id);
    assert_eq!(unpacked.bytes, stats.bytes);

    let mut want = tree(&src);
    let got = tree(&dst);
    // Overlay's private xattrs never travel; a whiteout carries no mtime.
    for seen in want.values_mut() {
        seen.xattrs
            .retain(|(k, _)| !k.starts_with("trusted.overlay.") || k == "trusted.overlay.opaque");
    }
    want.get_mut("gone").unwrap().mtime = got["gone"].mtime;
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (path, seen) in &want {
        assert_eq!(&got[path], seen, "entry {path}");
    }
    assert_eq!(got["gone"].kind, want["gone"].kind);
    assert_eq!((got["gone"].rdev, got["gone"].uid), (0, 3));
    assert_eq!(
        got["o"].xattrs,
        vec![("trusted.overlay.opaque".into(), b"y".to_vec())]
    );
    assert_eq!(got["dev/loop9"].rdev, makedev(7, 9));
    let ino = |p: &str| fs::symlink_metadata(dst.join(p)).unwrap().ino();
    assert_eq!(
        ino("d/f"),
        ino("d/f-link"),
        "hardlink restored as one inode"
    );
    assert!(!dst.join("sock").exists(), "sockets are not archived");
}

#[test]
fn whiteouts_and_opaque_dirs_become_oci_entries_in_sorted_order() {
    let tmp = tempfile::tempdir().unwrap();
    build_tree(tmp.path());
    let (layer, _) = layer_of(tmp.path(), false);
    let list = entries(&layer);
    let names: Vec<&str> = list.iter().map(|(n, _, _)| n.as_str()).collect();
    let at = |n: &str| {
        names
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("{n} in {names:?}"))
    };
    assert_eq!(
        at("o/.wh..wh..opq"),
        at("o/") + 1,
        "opaque marker right after its dir"
    );
    assert!(at("o/.wh..wh..opq") < at("o/inside"));
    assert_eq!(list[at(".wh.gone")].1, tar::EntryType::Regular);
    assert!(!names.contains(&"gone") && !names.contains(&"sock"));
    assert_eq!(list[at("d/f-link")].1, tar::EntryType::Link);
    assert!(at("d/") < at("d/f") && at("d/f") < at("d/f-link"));
    // Within a directory, names are sorted; every parent precedes its children.
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        let trimmed = n.trim_end_matches('/');
        if let Some((parent, _)) = trimmed.rsplit_once('/') {
            assert!(seen.contains(parent), "{parent} before {n}");
        }
        seen.insert(trimmed.to_string());
    }
    let keys: Vec<&str> = list
        .iter()
        .flat_map(|(_, _, x)| x.iter().map(|(k, _)| k.as_str()))
        .collect();
    assert!(keys.contains(&"SCHILY.xattr.security.capability"));
    assert!(keys.contains(&"SCHILY.xattr.trusted.berth"));
    assert!(
        !keys.iter().any(|k| k.contains("trusted.overlay")),
        "{keys:?}"
    );
}

#[test]
fn output_is_deterministic_and_diff_id_hashes_the_uncompressed_stream() {
    let tmp = tempfile::tempdir().unwrap();
    build_tree(tmp.path());
    let (first, stats) = layer_of(tmp.path(), false);
    let (second, again) = layer_of(tmp.path(), false);
    assert_eq!(first, second);
    assert_eq!(stats, again);
    assert_eq!(stats.diff_id, sha256(&first));
    assert_eq!(stats.bytes, first.len() as u64);
    assert_eq!(first.len() % 512, 0);
}

#[test]
fn gzip_output_unpacks_to_the_same_diff_id() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    fs::create_dir(&src).unwrap();
    fs::create_dir(&dst).unwrap();
    build_tree(&src);
    let (plain, plain_stats) = layer_of(&src, false);
    let (gz, gz_stats) = layer_of(&src, true);
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    assert_eq!(
        gz_stats, plain_stats,
        "stats describe the uncompressed stream"
    );
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(raw, plain);
    let unpacked = unpack(gz.as_slice(), &dst, &UnpackOptions::default()).unwrap();
    assert_eq!(unpacked.diff_id, plain_stats.diff_id);
    assert_eq!(
        layer_of(&src, true).0,
        gz,
        "gzip output is deterministic too"
    );
}

#[test]
fn export_writes_the_tree_as_is() {
    let tmp = tempfile::tempdir().unwrap();
    build_tree(tmp.path());
    let mut out = Vec::new();
    let bytes = export(tmp.path(), &mut out).expect("export");
    assert_eq!(bytes, out.len() as u64);
    let list = entries(&out);
    let names: Vec<&str> = list.iter().map(|(n, _, _)| n.as_str()).collect();
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
    let gone = list.iter().find(|(n, _, _)| n == "gone").unwrap();
    assert_eq!(gone.1, tar::EntryType::Char, "no conversion outside a diff");
    assert!(names.contains(&"o/inside") && !names.contains(&"sock"));
    let keys: Vec<&str> = list
        .iter()
        .flat_map(|(_, _, x)| x.iter().map(|(k, _)| k.as_str()))
        .collect();
    assert!(
        !keys.iter().any(|k| k.contains("trusted.overlay")),
        "{keys:?}"
    );
}

#[test]
fn symlinks_are_archived_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::create_dir(tmp.path().join("host")).unwrap();
    fs::write(tmp.path().join("host/secret"), b"host secret").unwrap();
    symlink(tmp.path().join("host"), root.join("dir-link")).unwrap();
    symlink("../host/secret", root.join("file-link")).unwrap();
    let (layer, _) = layer_of(&root, false);
    let list = entries(&layer);
    let names: Vec<&str> = list.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["dir-link", "file-link"]);
    assert!(list.iter().all(|(_, t, _)| *t == tar::EntryType::Symlink));
    assert!(!layer.windows(11).any(|w| w == b"host secret"));
}

#[test]
fn a_file_swapped_for_a_symlink_is_not_read_through() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("secret"), b"host secret").unwrap();
    let dir = tmp.path().join("root");
    fs::create_dir(&dir).unwrap();
    symlink(tmp.path().join("secret"), dir.join("f")).unwrap();
    let fd = std::fs::File::open(&dir).unwrap();
    let st = nix::sys::stat::stat(&tmp.path().join("secret")).unwrap();
    // As if fstatat saw a regular file and the name became a symlink before the open.
    let node = Node {
        st,
        xattrs: Vec::new(),
    };
    let mut walk = Walk {
        tar: tar::Builder::new(Vec::new()),
        convert: Convert::Whiteouts,
        links: HashMap::new(),
    };
    let err = walk.file(fd.as_fd(), b"f", b"f", &node).unwrap_err();
    assert!(matches!(err, DiffError::Io { op: "open", .. }), "{err}");
    let out = walk.tar.into_inner().unwrap();
    assert!(!out.windows(11).any(|w| w == b"host secret"));
}

#[test]
fn overlay_states_that_need_a_lower_layer_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("moved")).unwrap();
    lsetxattr(
        &tmp.path().join("moved"),
        "trusted.overlay.redirect",
        b"/old",
    )
    .unwrap();
    let err = diff(tmp.path(), Vec::new(), false).unwrap_err();
    assert!(
        matches!(err, DiffError::Unsupported { ref path, .. } if path == "moved"),
        "{err}"
    );
    // The same tree is a fine merged view to export.
    export(tmp.path(), Vec::new()).expect("export ignores overlay xattrs");
}

#[test]
fn missing_root_is_reported_with_its_path() {
    let err = diff(Path::new("/nonexistent/berth-upper"), Vec::new(), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "open tree `/nonexistent/berth-upper`: No such file or directory (os error 2)"
    );
}

#[test]
fn pax_record_length_counts_itself() {
    for value_len in [0usize, 1, 90, 95, 96, 97, 990, 995, 1000] {
        let mut rec = Vec::new();
        let value = vec![b'v'; value_len];
        pax_record(&mut rec, "SCHILY.xattr.user.k", &value);
        let text = String::from_utf8(rec.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(
            len.parse::<usize>().unwrap(),
            rec.len(),
            "value of {value_len}"
        );
    }
}
