//! Applying tar entries under a root fd: every parent resolved in root, the last component
//! acted on with *at() calls that never follow it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_sys::fd::{openat2, RESOLVE_IN_ROOT};
use berth_sys::xattr::lsetxattr;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{
    fchmodat, fstatat, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag,
    UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use tar::EntryType;

use super::{LayerError, UnpackOptions};

const WHITEOUT: &[u8] = b".wh.";
const WHITEOUT_META: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Open the layer directory that every entry is resolved under.
pub(super) fn open_root(dest: &Path) -> Result<OwnedFd, LayerError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dest)
        .map(OwnedFd::from)
        .map_err(|source| LayerError::Dest {
            path: dest.to_path_buf(),
            source,
        })
}

/// Apply every entry of `archive` under `root`; the number of entries applied.
pub(super) fn apply_all<R: Read>(
    root: &OwnedFd,
    archive: &mut tar::Archive<R>,
    opts: &UnpackOptions,
) -> Result<u64, LayerError> {
    let mut ap = Applier {
        root: root.as_fd(),
        opts,
        linkable: HashSet::new(),
        dirs: Vec::new(),
        buf: vec![0; 64 << 10],
    };
    let mut applied = 0;
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        if ap.entry(&mut entry)? {
            applied += 1;
        }
    }
    ap.finish_dirs()?;
    Ok(applied)
}

fn read_err(source: io::Error) -> LayerError {
    LayerError::Read { source }
}

fn io_err<'e>(op: &'static str, entry: &'e str) -> impl FnOnce(Errno) -> LayerError + 'e {
    move |e| LayerError::Io {
        op,
        entry: entry.to_string(),
        source: io::Error::from(e),
    }
}

/// An entry name cleaned lexically: no empty, `.` or `..` components; `Err` if a `..` climbs
/// above the root. A leading `/` is simply dropped, as Docker's `pkg/archive` does.
pub(super) fn clean(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut comps: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                comps
                    .pop()
                    .ok_or("path climbs out of the layer directory")?;
            }
            c => comps.push(c),
        }
    }
    Ok(comps)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// `/proc/self/fd/<dir>/<name>`: a path for calls without an *at() form (xattrs). The magic
/// link pins the directory; `name` is one component and is not followed by l*xattr.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(os(name))
}

/// Owner, mode, mtime and xattrs of an entry, applied after it is created.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Applier<'a> {
    root: BorrowedFd<'a>,
    opts: &'a UnpackOptions,
    /// Cleaned paths of non-directories written by this layer: the only hardlink targets.
    linkable: HashSet<Vec<u8>>,
    /// Directories whose metadata waits until their contents are written (mtimes would
    /// otherwise move, and a read-only mode would not matter to root but is set last anyway).
    dirs: Vec<(Vec<u8>, Meta, String)>,
    buf: Vec<u8>,
}

impl Applier<'_> {
    /// Apply one entry; `false` for entries that carry nothing (PAX global headers).
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<bool, LayerError> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(false);
        }
        let bad = |reason| LayerError::BadPath {
            entry: name.clone(),
            reason,
        };
        let comps = clean(&raw).map_err(bad)?;
        let mut meta = meta(entry, &name)?;
        if let Some((uid, gid)) = self.opts.owner {
            (meta.uid, meta.gid) = (uid, gid);
        }
        if let Some(m) = &self.opts.idmap {
            (meta.uid, meta.gid) = (m.file_uid(meta.uid), m.file_gid(meta.gid));
        }
        let Some((&last, dirs)) = comps.split_last() else {
            if kind == EntryType::Directory {
                self.dirs.push((Vec::new(), meta, name));
                return Ok(true);
            }
            return Err(bad("names the layer directory itself"));
        };
        let parent = self.parent(dirs, &name, true)?;
        let parent = parent.as_fd();
        if self.opts.whiteouts && last.starts_with(WHITEOUT) {
            self.whiteout(parent, &comps, &name, &meta)?;
            return Ok(true);
        }
        let path = join(&comps);
        match kind {
            EntryType::Directory => {
                if !self.clear(parent, last, true, &name)? {
                    mkdirat(parent, os(last), Mode::from_bits_truncate(0o700))
                        .map_err(io_err("mkdirat", &name))?;
                }
                self.linkable.remove(&path);
                self.dirs.push((path, meta, name));
                return Ok(true);
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.clear(parent, last, false, &name)?;
                self.write_file(parent, last, entry, &name)?;
            }
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                self.clear(parent, last, false, &name)?;
                symlinkat(os(&target), parent, os(last)).map_err(io_err("symlinkat", &name))?;
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                self.hardlink(parent, &comps, &target, &name)?;
                self.linkable.insert(path);
                return Ok(true);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.clear(parent, last, false, &name)?;
                self.mknod(parent, last, entry, &name)?;
            }
            other => {
                return Err(LayerError::Unsupported {
                    entry: name,
                    kind: other.as_byte() as char,
                })
            }
        }
        set_meta(parent, last, &meta, kind == EntryType::Symlink, &name)?;
        self.linkable.insert(path);
        Ok(true)
    }

    /// The directory holding an entry, resolved in root; missing directories are created
    /// (0755, as Docker does) when `create`.
    fn parent(&self, dirs: &[&[u8]], entry: &str, create: bool) -> Result<OwnedFd, LayerError> {
        let not_dir = |comps: &[&[u8]]| LayerError::ParentNotDir {
            entry: entry.to_string(),
            parent: String::from_utf8_lossy(&join(comps)).into_owned(),
        };
        let open = |comps: &[&[u8]]| {
            let path = join(comps);
            let flags = libc::O_PATH | libc::O_DIRECTORY;
            openat2(self.root, Path::new(os(&path)), flags, 0, RESOLVE_IN_ROOT)
        };
        let io = |op, source| LayerError::Io {
            op,
            entry: entry.to_string(),
            source,
        };
        if dirs.is_empty() {
            return self.root.try_clone_to_owned().map_err(|e| io("dup", e));
        }
        match open(dirs) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Err(not_dir(dirs)),
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) || !create => {
                return Err(io("open parent", e))
            }
            Err(_) => {}
        }
        let mut cur = self.root.try_clone_to_owned().map_err(|e| io("dup", e))?;
        for i in 0..dirs.len() {
            cur = match open(&dirs[..=i]) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match mkdirat(&cur, os(dirs[i]), Mode::from_bits_truncate(0o755)) {
                        Ok(()) => {}
                        // It exists yet does not resolve: a symlink to nothing in the layer.
                        Err(Errno::EEXIST) => return Err(not_dir(&dirs[..=i])),
                        Err(e) => return Err(io("mkdirat", e.into())),
                    }
                    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                    openat2(cur.as_fd(), Path::new(os(dirs[i])), flags, 0, 0)
                        .map_err(|e| io("open parent", e))?
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(not_dir(&dirs[..=i]))
                }
                Err(e) => return Err(io("open parent", e)),
            };
        }
        Ok(cur)
    }

    /// Make room for a new entry `name` in `dir`, as tar extraction does: remove what is
    /// there, except that a directory replaced by a directory is kept (true) with its contents.
    fn clear(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        is_dir: bool,
        entry: &str,
    ) -> Result<bool, LayerError> {
        let st = match fstatat(dir, os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(io_err("fstatat", entry)(e)),
        };
        let was_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if was_dir && is_dir {
            return Ok(true);
        }
        if was_dir {
            remove_tree(dir, name).map_err(|source| LayerError::Io {
                op: "remove directory",
                entry: entry.to_string(),
                source,
            })?;
        } else {
            unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir)
                .map_err(io_err("unlinkat", entry))?;
        }
        Ok(false)
    }

    fn write_file<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        entry: &mut tar::Entry<'_, R>,
        ename: &str,
    ) -> Result<(), LayerError> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = openat2(dir, Path::new(os(name)), flags, 0o600, 0).map_err(|source| {
            LayerError::Io {
                op: "create",
                entry: ename.to_string(),
                source,
            }
        })?;
        let mut file = File::from(fd);
        loop {
            let n = entry.read(&mut self.buf).map_err(read_err)?;
            if n == 0 {
                return Ok(());
            }
            file.write_all(&self.buf[..n])
                .map_err(|source| LayerError::Io {
                    op: "write",
                    entry: ename.to_string(),
                    source,
                })?;
        }
    }

    fn mknod<R: Read>(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        entry: &tar::Entry<'_, R>,
        ename: &str,
    ) -> Result<(), LayerError> {
        let hdr = entry.header();
        let kind = match hdr.entry_type() {
            EntryType::Fifo => SFlag::S_IFIFO,
            _ if !self.opts.allow_devices => {
                return Err(LayerError::DeviceNotAllowed {
                    entry: ename.to_string(),
                })
            }
            EntryType::Char => SFlag::S_IFCHR,
            _ => SFlag::S_IFBLK,
        };
        let num = |v: io::Result<Option<u32>>| v.map(Option::unwrap_or_default).map_err(read_err);
        // A fifo has no device numbers; writers often leave the fields empty.
        let dev = match kind {
            SFlag::S_IFIFO => 0,
            _ => makedev(
                num(hdr.device_major())?.into(),
                num(hdr.device_minor())?.into(),
            ),
        };
        mknodat(dir, os(name), kind, Mode::from_bits_truncate(0o600), dev)
            .map_err(io_err("mknodat", ename))
    }

    /// A hardlink to `target`, which must be a non-directory written earlier by this layer.
    fn hardlink(
        &self,
        dir: BorrowedFd<'_>,
        comps: &[&[u8]],
        target: &[u8],
        entry: &str,
    ) -> Result<(), LayerError> {
        let bad = |reason| LayerError::BadLink {
            entry: entry.to_string(),
            target: String::from_utf8_lossy(target).into_owned(),
            reason,
        };
        let tcomps = clean(target).map_err(|_| bad("climbs out of the layer directory"))?;
        let tpath = join(&tcomps);
        if tpath == join(comps) {
            return Err(bad("is the link itself"));
        }
        if !self.linkable.contains(&tpath) {
            return Err(bad("is not an earlier file of this layer"));
        }
        let (&tlast, tdirs) = tcomps
            .split_last()
            .ok_or_else(|| bad("is the layer directory"))?;
        let tdir = self.parent(tdirs, entry, false)?;
        let last = comps[comps.len() - 1];
        self.clear(dir, last, false, entry)?;
        linkat(&tdir, os(tlast), dir, os(last), AtFlags::empty()).map_err(io_err("linkat", entry))
    }

    /// `.wh..wh..opq` marks `dir` opaque; `.wh.name` becomes a 0:0 char device `name`
    /// (containerd `OverlayConvertWhiteout`); other `.wh..wh.*` entries are ignored.
    fn whiteout(
        &mut self,
        dir: BorrowedFd<'_>,
        comps: &[&[u8]],
        entry: &str,
        meta: &Meta,
    ) -> Result<(), LayerError> {
        let base = comps[comps.len() - 1];
        if base == OPAQUE {
            return lsetxattr(&proc_path(dir, b"."), OPAQUE_XATTR, b"y").map_err(|source| {
                LayerError::Io {
                    op: "lsetxattr trusted.overlay.opaque",
                    entry: entry.to_string(),
                    source,
                }
            });
        }
        if base.starts_with(WHITEOUT_META) {
            return Ok(());
        }
        let name = &base[WHITEOUT.len()..];
        if matches!(name, b"" | b"." | b"..") {
            return Err(LayerError::BadPath {
                entry: entry.to_string(),
                reason: "whiteout names no file",
            });
        }
        let mut path = join(&comps[..comps.len() - 1]);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        self.linkable.remove(&path);
        self.clear(dir, name, false, entry)?;
        mknodat(dir, os(name), SFlag::S_IFCHR, Mode::empty(), 0)
            .map_err(io_err("mknodat", entry))?;
        fchownat(
            dir,
            os(name),
            Some(Uid::from_raw(meta.uid)),
            Some(Gid::from_raw(meta.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io_err("fchownat", entry))
    }

    /// Owner, mode, xattrs and mtimes of directories, once everything inside them exists.
    /// A directory a later entry replaced or removed is skipped.
    fn finish_dirs(&mut self) -> Result<(), LayerError> {
        for (path, meta, entry) in std::mem::take(&mut self.dirs) {
            if path.is_empty() {
                set_meta(self.root, b".", &meta, false, &entry)?;
                continue;
            }
            let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
            let (&last, dirs) = comps.split_last().expect("non-empty path");
            let Ok(dir) = self.parent(dirs, &entry, false) else {
                continue;
            };
            match fstatat(&dir, os(last), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                    set_meta(dir.as_fd(), last, &meta, false, &entry)?
                }
                _ => continue,
            }
        }
        Ok(())
    }
}

fn meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta, LayerError> {
    let hdr = entry.header();
    let field = |v: io::Result<u64>| -> Result<u32, LayerError> {
        let v = v.map_err(read_err)?;
        u32::try_from(v).map_err(|_| LayerError::BadPath {
            entry: name.to_string(),
            reason: "owner id does not fit in 32 bits",
        })
    };
    let (uid, gid) = (field(hdr.uid())?, field(hdr.gid())?);
    let mode = hdr.mode().map_err(read_err)?;
    let mtime = hdr.mtime().map_err(read_err)? as i64;
    let mut xattrs = Vec::new();
    if let Some(pax) = entry.pax_extensions().map_err(read_err)? {
        for ext in pax {
            let ext = ext.map_err(read_err)?;
            if let Some(key) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                xattrs.push((key.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        mtime,
        xattrs,
    })
}

/// Owner first (chown clears setuid bits and `security.capability`), then mode, xattrs and
/// the mtime last. Symlinks have no mode of their own on Linux.
fn set_meta(
    dir: BorrowedFd<'_>,
    name: &[u8],
    meta: &Meta,
    symlink: bool,
    entry: &str,
) -> Result<(), LayerError> {
    let (uid, gid) = (Uid::from_raw(meta.uid), Gid::from_raw(meta.gid));
    fchownat(
        dir,
        os(name),
        Some(uid),
        Some(gid),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(io_err("fchownat", entry))?;
    if !symlink {
        let mode = Mode::from_bits_truncate(meta.mode & 0o7777);
        fchmodat(dir, os(name), mode, FchmodatFlags::NoFollowSymlink)
            .map_err(io_err("fchmodat", entry))?;
    }
    for (key, value) in &meta.xattrs {
        match lsetxattr(&proc_path(dir, name), key, value) {
            // As containerd: a filesystem without xattr support loses them, nothing else.
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => {}
            Err(source) => {
                return Err(LayerError::Io {
                    op: "lsetxattr",
                    entry: format!("{entry}` xattr `{key}"),
                    source,
                })
            }
            Ok(()) => {}
        }
    }
    let ts = TimeSpec::new(meta.mtime, 0);
    utimensat(dir, os(name), &ts, &ts, UtimensatFlags::NoFollowSymlink)
        .map_err(io_err("utimensat", entry))
}

/// Remove the directory `name` in `dir` and everything in it, never following a symlink.
fn remove_tree(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let fd = openat2(dir, Path::new(os(name)), flags, 0, 0)?;
    for child in std::fs::read_dir(proc_path(fd.as_fd(), b"."))? {
        let child = child?;
        let cname = child.file_name();
        if child.file_type()?.is_dir() {
            remove_tree(fd.as_fd(), cname.as_bytes())?;
        } else {
            unlinkat(&fd, cname.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
        }
    }
    unlinkat(dir, os(name), UnlinkatFlags::RemoveDir)?;
    Ok(())
}
