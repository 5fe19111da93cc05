//! `cp` and `export`: files between a container's rootfs and the host, as tar streams.
//!
//! Both directions are one tar stream: the source side writes it
//! ([`berth_image::layer::export::export_entry`], which never follows a symlink below the
//! entry), the destination side extracts it ([`berth_image::layer::unpack`], every parent
//! resolved with RESOLVE_IN_ROOT under the destination directory, `.wh.` names kept as
//! plain files). On the container side the paths go through [`Rootfs`], so nothing in the
//! container can point the copy at the host, and through the container's volumes and bind
//! mounts ([`Rootfs::with_volumes`]) as `docker cp` does; `export` leaves them out.
//!
//! Where the source lands follows `docker cp` ([`place`]): into an existing directory under
//! its own name (or, for `SRC/.`, its contents); over an existing file; or created under
//! the destination's name when that does not exist (its parent must).
//!
//! Without `-a` the copies belong to the receiving side's root: uid/gid 0 in the container,
//! the caller's uid/gid on the host.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_image::layer::export::export_entry;
use berth_image::layer::{unpack, UnpackOptions};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::rootfs::{FsError, Rootfs};

/// `cp` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-a`: keep uid/gid.
    pub archive: bool,
    /// `-L`: follow a symlink named as the source.
    pub follow: bool,
}

/// What is at a destination path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nothing.
    Missing,
    /// A directory.
    Dir,
    /// Anything else.
    File,
}

/// Where the source goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Into the destination directory: under its own name, or (`None`) its contents.
    Into(Option<Vec<u8>>),
    /// Into the destination's parent, named as the destination's last component.
    As(Vec<u8>),
}

/// `docker cp`'s rules for a source (`src_dir`: a directory; `contents`: given as `DIR/.`)
/// named `src_name`, copied to `dst` where there is `dst_kind`.
pub fn place(
    src_dir: bool,
    contents: bool,
    src_name: &[u8],
    dst: &str,
    dst_kind: Kind,
) -> std::result::Result<Place, FsError> {
    let refused = |reason| FsError::Refused {
        path: dst.to_string(),
        reason,
    };
    let slash = dst.ends_with('/') || dst.ends_with("/.");
    let last = crate::rootfs::clean(dst).pop().unwrap_or_default();
    match dst_kind {
        Kind::Dir if contents => Ok(Place::Into(None)),
        Kind::Dir => Ok(Place::Into(Some(src_name.to_vec()))),
        Kind::File if src_dir => Err(refused("cannot copy a directory onto a file")),
        Kind::File if slash => Err(refused("not a directory")),
        Kind::File => Ok(Place::As(last.into_bytes())),
        Kind::Missing if slash && !src_dir => {
            Err(refused("the destination directory does not exist"))
        }
        Kind::Missing if last.is_empty() => Err(refused("cannot copy onto the root")),
        Kind::Missing => Ok(Place::As(last.into_bytes())),
    }
}

/// A source opened for reading: its parent directory and name (`None`: a root).
struct Source {
    parent: OwnedFd,
    name: Option<Vec<u8>>,
    dir: bool,
    /// Given as `DIR/.` (or is a root): its contents are what is copied.
    contents: bool,
}

impl Source {
    fn base(&self) -> &[u8] {
        self.name.as_deref().unwrap_or(b"")
    }

    /// Writes the tar stream of this source, placed as `p`.
    fn write(&self, p: &Place, out: impl Write) -> Result<u64> {
        let parent = self.parent.as_fd();
        let n = match (&self.name, p) {
            (None, Place::Into(_)) => export_entry(parent, None, b"", out),
            (None, Place::As(n)) => export_entry(parent, None, n, out),
            (Some(name), Place::Into(None)) => {
                let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
                let dir = berth_sys::fd::openat2(parent, Path::new(os(name)), flags, 0, 0)
                    .map_err(Error::io("open", os(name)))?;
                export_entry(dir.as_fd(), None, b"", out)
            }
            (Some(name), Place::Into(Some(n)) | Place::As(n)) => {
                export_entry(parent, Some(name), n, out)
            }
        };
        Ok(n.map_err(FsError::from)?)
    }

    /// The stream as `cp SRC -` writes it: under the source's name, or its contents.
    fn stream_place(&self) -> Place {
        if self.contents {
            Place::Into(None)
        } else {
            Place::Into(Some(self.base().to_vec()))
        }
    }
}

fn os(b: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(b)
}

fn is_dir(parent: BorrowedFd<'_>, name: Option<&[u8]>) -> bool {
    let Some(name) = name else { return true };
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    nix::sys::stat::fstatat(parent, Path::new(os(name)), flags)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

fn wants_contents(path: &str) -> bool {
    path.ends_with("/.") || crate::rootfs::clean(path).is_empty()
}

/// The source `src` in the container.
fn container_source(fs: &Rootfs, src: &str, follow: bool) -> Result<Source> {
    let e = fs.entry(src, follow)?.ok_or_else(|| fs.no_such(src))?;
    let dir = is_dir(e.parent.as_fd(), e.name.as_deref());
    if src.ends_with('/') && !dir {
        return Err(fs.resolve_err(src, std::io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    Ok(Source {
        contents: dir && (wants_contents(src) || e.name.is_none()),
        parent: e.parent,
        name: e.name,
        dir,
    })
}

/// The source `src` on the host (the caller's own files: plain paths).
fn host_source(src: &Path, follow: bool) -> Result<Source> {
    let text = src.to_string_lossy().into_owned();
    let path = if follow {
        std::fs::canonicalize(src).map_err(Error::io("resolve", src))?
    } else {
        std::path::absolute(src).map_err(Error::io("resolve", src))?
    };
    let meta = std::fs::symlink_metadata(&path).map_err(Error::io("stat", src))?;
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) if !wants_contents(&text) || !meta.is_dir() => {
            (p.to_path_buf(), Some(n.as_bytes().to_vec()))
        }
        _ => (path.clone(), None),
    };
    let parent = std::fs::File::open(&parent).map_err(Error::io("open", &parent))?;
    Ok(Source {
        parent: parent.into(),
        name,
        dir: meta.is_dir(),
        contents: meta.is_dir() && wants_contents(&text),
    })
}

fn unpack_opts(archive: bool, owner: (u32, u32)) -> UnpackOptions {
    UnpackOptions {
        max_bytes: u64::MAX,
        allow_devices: true,
        whiteouts: false,
        owner: (!archive).then_some(owner),
        idmap: None,
    }
}

/// Extracts `input` into the directory `dir` (an fd resolved by the caller).
fn extract(dir: &OwnedFd, input: impl Read, opts: &UnpackOptions) -> Result<()> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    unpack(input, &path, opts).map_err(FsError::from)?;
    Ok(())
}

/// Runs `produce` writing into a pipe while `consume` reads it, on two threads.
fn pipe_through(
    produce: impl FnOnce(std::fs::File) -> Result<u64> + Send,
    consume: impl FnOnce(std::fs::File) -> Result<()>,
) -> Result<()> {
    let (r, w) = nix::unistd::pipe().map_err(|e| Error::io("pipe", "cp")(e.into()))?;
    let (r, w) = (std::fs::File::from(r), std::fs::File::from(w));
    std::thread::scope(|s| {
        let writer = s.spawn(move || produce(w));
        let read = consume(r);
        let wrote = writer
            .join()
            .unwrap_or_else(|_| Err(Error::Runtime("cp: the archive writer panicked".into())));
        // The writer's error explains a reader's broken stream better than the reverse.
        wrote.and(read)
    })
}

/// `cp CTR:SRC -`: the tar stream of `src` to `out`.
pub fn stream_out(eng: &Engine, key: &str, src: &str, follow: bool, out: impl Write) -> Result<()> {
    let (c, fs) = Rootfs::open_read(eng, key)?;
    let fs = fs.with_volumes(eng, &c, false)?;
    let s = container_source(&fs, src, follow)?;
    s.write(&s.stream_place(), out).map(drop)
}

/// `cp CTR:SRC DST`: `src` from the container to the host path `dst`.
pub fn copy_out(eng: &Engine, key: &str, src: &str, dst: &Path, o: CopyOptions) -> Result<()> {
    let (c, fs) = Rootfs::open_read(eng, key)?;
    let fs = fs.with_volumes(eng, &c, false)?;
    let s = container_source(&fs, src, o.follow)?;
    let text = dst.to_string_lossy().into_owned();
    let kind = match std::fs::metadata(dst) {
        Ok(m) if m.is_dir() => Kind::Dir,
        Ok(_) => Kind::File,
        Err(_) => Kind::Missing,
    };
    let p = place(s.dir, s.contents, s.base(), &text, kind)?;
    let target = match &p {
        Place::Into(_) => dst.to_path_buf(),
        Place::As(_) => std::path::absolute(dst)
            .map_err(Error::io("resolve", dst))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/")),
    };
    let dir = std::fs::File::open(&target).map_err(Error::io("open", &target))?;
    let dir = OwnedFd::from(dir);
    let ids = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let opts = unpack_opts(o.archive, ids);
    pipe_through(|w| s.write(&p, w), |r| extract(&dir, r, &opts))
}

/// The directory of the container a copy to `dst` extracts into, and the placement.
fn container_target(
    fs: &Rootfs,
    c: &crate::config::Container,
    dst: &str,
    src: Option<&Source>,
) -> Result<(OwnedFd, Place)> {
    let found = match fs.open_in(dst, libc::O_PATH) {
        Ok(fd) => Some(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
        Err(e) => return Err(fs.resolve_err(dst, e)),
    };
    let kind = match &found {
        None => Kind::Missing,
        Some(fd) => match nix::sys::stat::fstat(fd) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Kind::Dir,
            _ => Kind::File,
        },
    };
    let Some(s) = src else {
        // A tar stream from stdin goes into a directory that exists.
        return match (kind, found) {
            (Kind::Dir, Some(fd)) => {
                fs.check_writable(c, fd.as_fd(), dst)?;
                Ok((fd, Place::Into(None)))
            }
            (Kind::Missing, _) => Err(fs.no_such(dst)),
            _ => Err(FsError::Refused {
                path: dst.into(),
                reason: "the destination must be a directory",
            }
            .into()),
        };
    };
    let p = place(s.dir, s.contents, s.base(), dst, kind)?;
    let dir = match (&p, found) {
        (Place::Into(_), Some(fd)) => fd,
        _ => {
            let mut comps = crate::rootfs::clean(dst);
            comps.pop();
            let parent = comps.join("/");
            fs.open_in(&parent, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|_| fs.no_such(&format!("/{parent}")))?
        }
    };
    fs.check_writable(c, dir.as_fd(), dst)?;
    Ok((dir, p))
}

/// `cp SRC CTR:DST`: the host path `src` into the container.
pub fn copy_in(eng: &Engine, key: &str, src: &Path, dst: &str, o: CopyOptions) -> Result<()> {
    let s = host_source(src, o.follow)?;
    let (c, fs) = Rootfs::open(eng, key)?;
    let fs = fs.with_volumes(eng, &c, true)?;
    let (dir, p) = container_target(&fs, &c, dst, Some(&s))?;
    let mut opts = unpack_opts(o.archive, (0, 0));
    if !fs.holds_container_ids(dir.as_fd()) {
        opts.idmap = crate::userns::mapping(&c)?;
    }
    pipe_through(|w| s.write(&p, w), |r| extract(&dir, r, &opts))
}

/// `cp - CTR:DST`: a tar stream from `input` extracted into the container's directory `dst`.
pub fn stream_in(
    eng: &Engine,
    key: &str,
    dst: &str,
    input: impl Read,
    o: CopyOptions,
) -> Result<()> {
    let (c, fs) = Rootfs::open(eng, key)?;
    let fs = fs.with_volumes(eng, &c, true)?;
    let (dir, _) = container_target(&fs, &c, dst, None)?;
    let mut opts = unpack_opts(o.archive, (0, 0));
    if !fs.holds_container_ids(dir.as_fd()) {
        opts.idmap = crate::userns::mapping(&c)?;
    }
    extract(&dir, input, &opts)
}

/// `export`: the container's whole filesystem as a flat tar to `out`; the bytes written.
pub fn export(eng: &Engine, key: &str, out: impl Write) -> Result<u64> {
    let (_, fs) = Rootfs::open_read(eng, key)?;
    Ok(berth_image::layer::export::export(fs.path(), out).map_err(FsError::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_follows_docker_cp() {
        use Kind::*;
        let into = |n: &str| Ok(Place::Into(Some(n.as_bytes().to_vec())));
        let as_ = |n: &str| Ok(Place::As(n.as_bytes().to_vec()));
        type Case<'a> = (bool, bool, &'a str, Kind, std::result::Result<Place, ()>);
        let cases: Vec<Case> = vec![
            // A file.
            (false, false, "/tmp/new", Missing, as_("new")),
            (false, false, "/tmp/new/", Missing, Err(())),
            (false, false, "/tmp/f", File, as_("f")),
            (false, false, "/tmp/f/", File, Err(())),
            (false, false, "/tmp", Dir, into("src")),
            // A directory.
            (true, false, "/tmp/new", Missing, as_("new")),
            (true, false, "/tmp/f", File, Err(())),
            (true, false, "/tmp", Dir, into("src")),
            (true, true, "/tmp", Dir, Ok(Place::Into(None))),
            (true, true, "/tmp/new", Missing, as_("new")),
        ];
        for (dir, contents, dst, kind, want) in cases {
            let got = place(dir, contents, b"src", dst, kind).map_err(drop);
            assert_eq!(got, want, "{dir} {contents} {dst} {kind:?}");
        }
    }
}
