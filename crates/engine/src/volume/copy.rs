//! Filling a new volume from the image, as Docker does: when an empty volume is mounted
//! where the image has files, those files are copied into it first (owners, modes, times,
//! symlinks, hard links and device nodes kept), so `-v data:/etc/app` starts with the
//! image's `/etc/app`. `nocopy` turns it off. Docker does this at create; berth at start,
//! when the rootfs is mounted anyway.
//! <https://docs.docker.com/engine/storage/volumes/#populate-a-volume-using-a-container>
//!
//! The mount target is resolved inside the rootfs with openat2(RESOLVE_IN_ROOT), so an
//! image's symlink cannot point the copy at the host; below it nothing is followed.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{named_mounts, VolumeError, Volumes};
use crate::config::Container;
use crate::engine::Engine;
use crate::error::Result;

/// Copies the rootfs's files at each of `c`'s named-volume targets into the volume when the
/// volume is empty (and not `nocopy`). `rootfs` is the mounted merged dir.
pub fn populate(eng: &Engine, c: &Container, rootfs: &Path) -> Result<()> {
    let vols = Volumes::open(eng.root());
    for m in named_mounts(c).into_iter().filter(|m| !m.nocopy) {
        let data = vols.data_dir(&m.name);
        let empty = fs::read_dir(&data).map(|mut d| d.next().is_none());
        if !empty.unwrap_or(false) {
            continue;
        }
        let err = |from: &Path| {
            let name = m.name.clone();
            let from = from.to_path_buf();
            move |source| VolumeError::Populate { name, from, source }
        };
        let Some(src) = resolve_in_root(rootfs, &m.target).map_err(err(rootfs))? else {
            continue;
        };
        copy_dir(&src, &data).map_err(err(&src))?;
        crate::userns::unshift_tree(c, &data).map_err(err(&src))?;
    }
    Ok(())
}

/// The real path of `target` inside `root` (symlinks resolved as if `root` were `/`), or
/// `None` when it is not a directory there.
fn resolve_in_root(root: &Path, target: &str) -> io::Result<Option<PathBuf>> {
    const RESOLVE_IN_ROOT: u64 = 0x10;
    let dir = fs::File::open(root)?;
    let rel = Path::new(target.trim_start_matches('/'));
    if rel.as_os_str().is_empty() {
        return Ok(None);
    }
    let fd = match berth_sys::fd::openat2(
        dir.as_fd(),
        rel,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
        RESOLVE_IN_ROOT,
    ) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let real = fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))?;
    // The fd is under root by construction; a path that says otherwise is not copied.
    Ok(real.starts_with(root).then_some(real))
}

/// Copies the contents of `src` into the existing dir `dst`, then gives `dst` the owner,
/// mode and times of `src`.
fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    let mut links = HashMap::new();
    copy_children(src, dst, &mut links)?;
    finish(&fs::symlink_metadata(src)?, dst)
}

fn copy_children(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let md = fs::symlink_metadata(&from)?;
        let ft = md.file_type();
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &to)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_dir() {
            fs::create_dir(&to)?;
            copy_children(&from, &to, links)?;
        } else if ft.is_symlink() {
            symlink(fs::read_link(&from)?, &to)?;
            std::os::unix::fs::lchown(&to, Some(md.uid()), Some(md.gid()))?;
            continue;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
            let kind = nix::sys::stat::SFlag::from_bits_truncate(md.mode() & libc::S_IFMT);
            let perm = nix::sys::stat::Mode::from_bits_truncate(md.mode() & 0o7777);
            nix::sys::stat::mknod(&to, kind, perm, md.rdev()).map_err(io::Error::from)?;
        } else {
            // Sockets mean nothing without their listener; Docker skips them too.
            continue;
        }
        finish(&md, &to)?;
    }
    Ok(())
}

/// Owner first (chown clears set-id bits), then mode, then times.
fn finish(md: &fs::Metadata, to: &Path) -> io::Result<()> {
    std::os::unix::fs::chown(to, Some(md.uid()), Some(md.gid()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    if md.is_file() || md.is_dir() {
        let times = fs::FileTimes::new()
            .set_accessed(md.accessed()?)
            .set_modified(md.modified()?);
        fs::File::open(to)?.set_times(times)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_modes_owners_links_and_stays_in_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let etc = root.join("etc/app");
        fs::create_dir_all(etc.join("sub")).unwrap();
        fs::write(etc.join("conf"), "x=1").unwrap();
        fs::set_permissions(etc.join("conf"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(etc.join("conf"), Some(12), Some(34)).unwrap();
        fs::hard_link(etc.join("conf"), etc.join("sub/same")).unwrap();
        symlink("conf", etc.join("link")).unwrap();
        fs::set_permissions(&etc, fs::Permissions::from_mode(0o750)).unwrap();
        // A symlink to an absolute path resolves inside the root, never on the host.
        symlink("/etc/app", root.join("alias")).unwrap();
        let src = resolve_in_root(&root, "/alias").unwrap().unwrap();
        assert_eq!(src, fs::canonicalize(&etc).unwrap());
        assert_eq!(resolve_in_root(&root, "/nope").unwrap(), None);
        assert_eq!(resolve_in_root(&root, "/etc/app/conf").unwrap(), None);
        let dst = t.path().join("vol");
        fs::create_dir(&dst).unwrap();
        copy_dir(&src, &dst).unwrap();
        let conf = fs::symlink_metadata(dst.join("conf")).unwrap();
        assert_eq!(
            (conf.mode() & 0o7777, conf.uid(), conf.gid()),
            (0o640, 12, 34)
        );
        let same = fs::symlink_metadata(dst.join("sub/same")).unwrap();
        assert_eq!(same.ino(), conf.ino());
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("conf"));
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o7777, 0o750);
    }
}
