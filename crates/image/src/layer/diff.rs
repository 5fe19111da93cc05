//! A snapshot's upper directory written back as an OCI layer tar: the half of `commit` that
//! [`super::unpack`] undoes.
//!
//! The conversion is the reverse of the one `unpack` does, as moby's overlay whiteout
//! converter (`pkg/archive/archive_linux.go`) and containerd's overlay differ write it:
//! - a 0:0 character device (overlay's whiteout) becomes an empty regular file `.wh.<name>`;
//! - a directory with `trusted.overlay.opaque=y` is written as itself, followed at once by
//!   an empty `<dir>/.wh..wh..opq` (the value `x`, used by kernels 6.7+ for a directory
//!   holding xattr whiteouts, is not opacity);
//! - overlay's own `trusted.overlay.*` xattrs (origin, impure, nlink, ...) are never written.
//!   An upper dir that relies on a lower layer for content (`redirect_dir` renames,
//!   `metacopy` copy-ups) cannot be turned into a layer and is refused.
//!
//! The walk is shared with [`super::export`], which writes a merged view as it is:
//! - entries come sorted by name within each directory, depth first, so a parent always comes
//!   before its children and the same tree always gives the same bytes (the same diff_id);
//! - the header carries mode, uid, gid and mtime (seconds) only: no user names, no atime or
//!   ctime, so the output depends on nothing but the tree;
//! - a non-directory seen a second time (same device and inode) is a hardlink entry to the
//!   first path; sockets are skipped; the tree's root itself has no entry;
//! - xattrs go in PAX `SCHILY.xattr.<name>` records: `security.capability`, POSIX ACLs,
//!   `user.*` and `trusted.*` other than overlay's;
//! - nothing is followed out of the tree: every name is stat'ed with `AT_SYMLINK_NOFOLLOW`
//!   and opened as one component under its directory's fd with `O_NOFOLLOW` and
//!   openat2(RESOLVE_IN_ROOT), so a symlink swapped in during the walk is at worst refused,
//!   never read through.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_sys::fd::{openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};
use berth_sys::xattr::{lgetxattr, llistxattr};
use flate2::write::GzEncoder;
use nix::errno::Errno;
use nix::fcntl::{readlinkat, AtFlags};
use nix::sys::stat::{fstat, fstatat, FileStat};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};
use thiserror::Error;

const OVERLAY_XATTRS: &str = "trusted.overlay.";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const OPAQUE_ENTRY: &[u8] = b".wh..wh..opq";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Kernels 6.7+ also accept an empty regular file carrying this xattr as a whiteout.
const XWHITEOUT_XATTR: &str = "trusted.overlay.whiteout";
/// Set on a directory renamed with `redirect_dir=on`: its lower contents are not in upper.
const REDIRECT_XATTR: &str = "trusted.overlay.redirect";
/// Set on a file copied up with `metacopy=on`: its data is still in a lower layer.
const METACOPY_XATTR: &str = "trusted.overlay.metacopy";

/// What [`diff`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffStats {
    /// `sha256:<hex>` of the uncompressed tar stream: the new layer's diff_id.
    pub diff_id: String,
    /// Length of the uncompressed tar stream (before gzip, when asked for).
    pub bytes: u64,
}

/// Why a diff or an export could not be written. Messages read "op `path`: cause", with
/// paths relative to the tree's root.
#[derive(Debug, Error)]
pub enum DiffError {
    /// The tree's root directory could not be opened.
    #[error("open tree `{path}`: {source}")]
    Root {
        /// The directory given to [`diff`] or [`super::export`].
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A filesystem call on an entry of the tree failed.
    #[error("{op} `{path}`: {source}")]
    Io {
        /// The call, e.g. `fstatat`, `open`, `read`, `llistxattr`.
        op: &'static str,
        /// The entry, relative to the root.
        path: String,
        /// The underlying error, with its errno.
        source: io::Error,
    },
    /// An entry that cannot be written faithfully, or that changed type or size while it was
    /// being read.
    #[error("archive `{path}`: {reason}")]
    Unsupported {
        /// The entry, relative to the root.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The output could not be written.
    #[error("write tar stream: {source}")]
    Write {
        /// The underlying error.
        source: io::Error,
    },
}

/// Write the changes in `upper` (an overlay upperdir, without overlay's `work` dir) as an OCI
/// layer tar to `out`, gzip-compressed when `gzip`.
///
/// `upper` must not change during the call (the container is stopped or paused). On error,
/// what was written to `out` is a partial stream and must be discarded.
pub fn diff(upper: &Path, out: impl Write, gzip: bool) -> Result<DiffStats, DiffError> {
    let sink = if gzip {
        Sink::Gzip(GzEncoder::new(out, flate2::Compression::default()))
    } else {
        Sink::Plain(out)
    };
    let counted = write_tree(upper, Counted::new(sink), Convert::Whiteouts)?;
    let (diff_id, bytes) = (counted.diff_id(), counted.bytes);
    counted
        .inner
        .finish()
        .map_err(|source| DiffError::Write { source })?;
    Ok(DiffStats { diff_id, bytes })
}

/// How the walk treats overlay's markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Convert {
    /// An upper dir: whiteout devices and opaque dirs become `.wh.` entries.
    Whiteouts,
    /// A merged view: written as it is (overlay's xattrs are still left out).
    Nothing,
}

/// Write the tree at `root` as a tar to `out` (end-of-archive blocks included) and return
/// `out`, flushed.
pub(super) fn write_tree<W: Write>(root: &Path, out: W, convert: Convert) -> Result<W, DiffError> {
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(root)
        .map(OwnedFd::from)
        .map_err(|source| DiffError::Root {
            path: root.to_path_buf(),
            source,
        })?;
    let mut walk = Walk {
        tar: tar::Builder::new(out),
        convert,
        links: HashMap::new(),
    };
    walk.dir(fd.as_fd(), b"")?;
    let mut out = walk.tar.into_inner().map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(out)
}

/// Write the entry `name` of the directory `dir` under the archive name `path` (and, for a
/// directory, everything below it); with `name` `None`, the contents of `dir` itself with
/// `path` as their prefix (`""` for none). Returns `out`, flushed.
pub(super) fn write_at<W: Write>(
    dir: BorrowedFd<'_>,
    name: Option<&[u8]>,
    path: &[u8],
    out: W,
) -> Result<W, DiffError> {
    let mut walk = Walk {
        tar: tar::Builder::new(out),
        convert: Convert::Nothing,
        links: HashMap::new(),
    };
    match name {
        Some(name) => walk.child(dir, name, path)?,
        None => walk.dir(dir, path)?,
    }
    let mut out = walk.tar.into_inner().map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(out)
}

fn write_err(source: io::Error) -> DiffError {
    DiffError::Write { source }
}

fn io_err<'p>(op: &'static str, path: &'p [u8]) -> impl FnOnce(io::Error) -> DiffError + 'p {
    move |source| DiffError::Io {
        op,
        path: lossy(path),
        source,
    }
}

fn lossy(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

fn os(b: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(b))
}

/// `/proc/self/fd/<dir>/<name>`, for the xattr calls that have no *at() form; the magic link
/// pins the directory and l*xattr does not follow `name`.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(os(name))
}

/// The output chain: plain or gzip.
enum Sink<W: Write> {
    Plain(W),
    Gzip(GzEncoder<W>),
}

impl<W: Write> Sink<W> {
    /// Write gzip's trailer (if any) and flush `out`.
    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(gz) => gz.finish()?.flush(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

/// Counts and hashes the uncompressed tar bytes on their way to `inner`.
pub(super) struct Counted<W> {
    pub(super) inner: W,
    hash: Sha256,
    pub(super) bytes: u64,
}

impl<W> Counted<W> {
    pub(super) fn new(inner: W) -> Self {
        Self {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }

    fn diff_id(&self) -> String {
        let hex: String = self
            .hash
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file's contents, exactly `left` bytes of them: a file that shrinks mid-read is an
/// error (the header already promised the size), one that grows is cut at that size.
struct Exact {
    file: File,
    left: u64,
    failed: Option<io::ErrorKind>,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = match self.file.read(&mut buf[..want]) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            )),
            other => other,
        }
        .inspect_err(|e| self.failed = Some(e.kind()))?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The metadata of one entry besides its name: its stat and the xattrs to write.
struct Node {
    st: FileStat,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Walk<W: Write> {
    tar: tar::Builder<W>,
    convert: Convert,
    /// (dev, ino) of non-directories already written, with the path they were written as.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Walk<W> {
    /// Write every entry below the directory `dir` (at `prefix`, `""` for the root).
    fn dir(&mut self, dir: BorrowedFd<'_>, prefix: &[u8]) -> Result<(), DiffError> {
        let shown = if prefix.is_empty() { b"." } else { prefix };
        let mut names: Vec<Vec<u8>> = Vec::new();
        for child in std::fs::read_dir(proc_path(dir, b".")).map_err(io_err("readdir", shown))? {
            let child = child.map_err(io_err("readdir", shown))?;
            names.push(child.file_name().into_vec());
        }
        names.sort();
        for name in names {
            let mut path = prefix.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            self.child(dir, &name, &path)?;
        }
        Ok(())
    }

    /// Write the entry `name` of `dir` (at `path`), and what is below it.
    fn child(&mut self, dir: BorrowedFd<'_>, name: &[u8], path: &[u8]) -> Result<(), DiffError> {
        let st = match fstatat(dir, os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed since readdir: nothing to write.
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(io_err("fstatat", path)(e.into())),
        };
        let fmt = st.st_mode & libc::S_IFMT;
        if fmt == libc::S_IFSOCK {
            return Ok(());
        }
        if self.convert == Convert::Whiteouts && fmt == libc::S_IFCHR && st.st_rdev == 0 {
            return self.whiteout(path, &st);
        }
        let (xattrs, overlay) = xattrs(dir, name, path)?;
        let node = Node { st, xattrs };
        if fmt == libc::S_IFDIR {
            return self.directory(dir, name, path, node, &overlay);
        }
        if self.convert == Convert::Whiteouts {
            if overlay.iter().any(|(k, _)| k == METACOPY_XATTR) {
                return Err(unsupported(
                    path,
                    "metadata-only copy-up (metacopy=on): the data is in a lower layer",
                ));
            }
            if fmt == libc::S_IFREG && overlay.iter().any(|(k, _)| k == XWHITEOUT_XATTR) {
                return self.whiteout(path, &node.st);
            }
        }
        if let Some(first) = self.links.get(&(node.st.st_dev, node.st.st_ino)) {
            let first = first.clone();
            // The inode's metadata and xattrs came with its first path.
            let mut h = header(&node.st, EntryType::Link);
            return self.append_link(&mut h, path, &first, &[]);
        }
        match fmt {
            libc::S_IFREG => self.file(dir, name, path, &node)?,
            libc::S_IFLNK => {
                let target =
                    readlinkat(dir, os(name)).map_err(|e| io_err("readlinkat", path)(e.into()))?;
                let mut h = header(&node.st, EntryType::Symlink);
                self.append_link(&mut h, path, target.as_bytes(), &node.xattrs)?;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => self.special(path, &node)?,
            _ => return Err(unsupported(path, "unknown file type")),
        }
        if node.st.st_nlink > 1 {
            self.links
                .insert((node.st.st_dev, node.st.st_ino), path.to_vec());
        }
        Ok(())
    }

    /// A directory entry (plus `.wh..wh..opq` when it is opaque), then its contents.
    fn directory(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: &[u8],
        node: Node,
        overlay: &[(String, Vec<u8>)],
    ) -> Result<(), DiffError> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let fd = open_child(dir, name, flags).map_err(io_err("open directory", path))?;
        let st = fstat(&fd).map_err(|e| io_err("fstat", path)(e.into()))?;
        if (st.st_dev, st.st_ino) != (node.st.st_dev, node.st.st_ino) {
            return Err(unsupported(path, "replaced while being archived"));
        }
        let overlay_val = |key: &str| overlay.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let mut h = header(&st, EntryType::Directory);
        let mut dir_path = path.to_vec();
        dir_path.push(b'/');
        self.append(&mut h, &dir_path, &node.xattrs, io::empty())
            .map_err(write_err)?;
        if self.convert == Convert::Whiteouts {
            if overlay_val(REDIRECT_XATTR).is_some() {
                return Err(unsupported(path, "directory renamed with overlay redirect_dir: its contents are in a lower layer"));
            }
            if overlay_val(OPAQUE_XATTR).is_some_and(|v| v.as_slice() == b"y") {
                let mut opq = dir_path.clone();
                opq.extend_from_slice(OPAQUE_ENTRY);
                self.marker(&opq, &st)?;
            }
        }
        self.dir(fd.as_fd(), path)
    }

    /// A regular file, read through an fd opened without following anything.
    fn file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: &[u8],
        node: &Node,
    ) -> Result<(), DiffError> {
        // O_NONBLOCK: if a fifo was swapped in, opening it must not hang the walk.
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = open_child(dir, name, flags).map_err(io_err("open", path))?;
        let st = fstat(&fd).map_err(|e| io_err("fstat", path)(e.into()))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG
            || (st.st_dev, st.st_ino) != (node.st.st_dev, node.st.st_ino)
        {
            return Err(unsupported(path, "replaced while being archived"));
        }
        let mut h = header(&st, EntryType::Regular);
        h.set_size(st.st_size as u64);
        let mut data = Exact {
            file: File::from(fd),
            left: st.st_size as u64,
            failed: None,
        };
        let res = self.append(&mut h, path, &node.xattrs, &mut data);
        match (res, data.failed) {
            (Ok(()), _) => Ok(()),
            (Err(source), Some(_)) => Err(DiffError::Io {
                op: "read",
                path: lossy(path),
                source,
            }),
            (Err(source), None) => Err(write_err(source)),
        }
    }

    /// A character or block device, or a fifo.
    fn special(&mut self, path: &[u8], node: &Node) -> Result<(), DiffError> {
        let kind = match node.st.st_mode & libc::S_IFMT {
            libc::S_IFCHR => EntryType::Char,
            libc::S_IFBLK => EntryType::Block,
            _ => EntryType::Fifo,
        };
        let mut h = header(&node.st, kind);
        if kind != EntryType::Fifo {
            let rdev = node.st.st_rdev;
            h.set_device_major(libc::major(rdev)).map_err(write_err)?;
            h.set_device_minor(libc::minor(rdev)).map_err(write_err)?;
        }
        self.append(&mut h, path, &node.xattrs, io::empty())
            .map_err(write_err)
    }

    /// An overlay whiteout `dir/name` as the OCI `dir/.wh.name`.
    fn whiteout(&mut self, path: &[u8], st: &FileStat) -> Result<(), DiffError> {
        let cut = path.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
        let mut wh = path[..cut].to_vec();
        wh.extend_from_slice(WHITEOUT_PREFIX);
        wh.extend_from_slice(&path[cut..]);
        self.marker(&wh, st)
    }

    /// An empty regular file with `st`'s owner and mtime: a whiteout or opaque marker.
    fn marker(&mut self, path: &[u8], st: &FileStat) -> Result<(), DiffError> {
        let mut h = header(st, EntryType::Regular);
        h.set_mode(0o600);
        self.append(&mut h, path, &[], io::empty())
            .map_err(write_err)
    }

    /// A symlink or hardlink entry (long targets are handled by the builder).
    fn append_link(
        &mut self,
        h: &mut Header,
        path: &[u8],
        target: &[u8],
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), DiffError> {
        self.pax(xattrs).map_err(write_err)?;
        self.tar
            .append_link(h, os(path), os(target))
            .map_err(write_err)
    }

    /// The PAX record of `xattrs` (if any), then the entry itself.
    fn append(
        &mut self,
        h: &mut Header,
        path: &[u8],
        xattrs: &[(String, Vec<u8>)],
        data: impl Read,
    ) -> io::Result<()> {
        self.pax(xattrs)?;
        self.tar.append_data(h, os(path), data)
    }

    /// A PAX extended header (`x`) holding one `SCHILY.xattr.<name>` record per xattr.
    fn pax(&mut self, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        for (name, value) in xattrs {
            pax_record(&mut body, &format!("SCHILY.xattr.{name}"), value);
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        self.tar
            .append_data(&mut h, "PaxHeaders/xattrs", body.as_slice())
    }
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn unsupported(path: &[u8], reason: &'static str) -> DiffError {
    DiffError::Unsupported {
        path: lossy(path),
        reason,
    }
}

/// Open the single component `name` under `dir`, never following a symlink.
fn open_child(dir: BorrowedFd<'_>, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    openat2(dir, os(name), flags | libc::O_NOFOLLOW, 0, resolve)
}

/// A header with `st`'s mode, owner and mtime and nothing else that could vary.
fn header(st: &FileStat, kind: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid.into());
    h.set_gid(st.st_gid.into());
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// Whether xattr `name` goes into the tar (overlay's own are read separately).
fn kept(name: &str) -> bool {
    matches!(
        name,
        "security.capability" | "system.posix_acl_access" | "system.posix_acl_default"
    ) || name.starts_with("user.")
        || (name.starts_with("trusted.") && !name.starts_with(OVERLAY_XATTRS))
}

type Xattrs = Vec<(String, Vec<u8>)>;

/// The xattrs of `name` in `dir`, sorted: (those to write, overlay's own).
fn xattrs(dir: BorrowedFd<'_>, name: &[u8], path: &[u8]) -> Result<(Xattrs, Xattrs), DiffError> {
    let at = proc_path(dir, name);
    let names = match llistxattr(&at) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(Default::default()),
        Err(e) => return Err(io_err("llistxattr", path)(e)),
    };
    let (mut keep, mut overlay) = (Vec::new(), Vec::new());
    for key in names {
        // PAX keys are UTF-8; the kernel's xattr namespaces all are.
        let Ok(key) = key.into_string() else { continue };
        let into = if key.starts_with(OVERLAY_XATTRS) {
            &mut overlay
        } else if kept(&key) {
            &mut keep
        } else {
            continue;
        };
        match lgetxattr(&at, &key) {
            Ok(value) => into.push((key, value)),
            // Removed since the listing.
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
            Err(e) => return Err(io_err("lgetxattr", path)(e)),
        }
    }
    keep.sort();
    overlay.sort();
    Ok((keep, overlay))
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
