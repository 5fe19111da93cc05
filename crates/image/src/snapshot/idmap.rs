//! Snapshots of containers with their own user namespace: the files must appear owned by
//! the container's ids inside, that is by the mapped host ids on the host.
//!
//! What this kernel can do decides how (measured on Linux 6.18):
//! - An overlay mount itself cannot be idmapped: mount_setattr(MOUNT_ATTR_IDMAP) on an
//!   overlayfs mount fails with EINVAL (overlayfs does not set FS_ALLOW_IDMAP).
//! - Its layers can: each lower layer is cloned with open_tree(OPEN_TREE_CLONE), idmapped
//!   through a user namespace carrying the container's maps, and handed to overlayfs as an
//!   fd (fsconfig FSCONFIG_SET_FD `lowerdir+`, Linux 6.13+). The upper dir is not idmapped:
//!   it holds what the container writes with its real (mapped) host ids, and copy-up keeps
//!   the idmapped owners. Only the upper's root is chowned to the mapped root.
//! - Where that fails (older kernels, filesystems that cannot be idmapped), the layers are
//!   flattened once into a copy of the container's own (`idlower`) whose owners are shifted
//!   into the range, as podman's "chown" fallback: modes, setuid/setgid bits, times, hard
//!   links, device nodes, xattrs, file capabilities (rewritten as v3 with the mapped root)
//!   and POSIX ACL ids are kept.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_sys::{fsmount, mount as sysmount, xattr};
use serde::{Deserialize, Serialize};

use super::{io_err, SnapshotError, Snapshotter};

const IDMAP_FILE: &str = "idmap";
const IDLOWER_DIR: &str = "idlower";

/// One range of ids: `size` ids from `container` inside are `host` ... on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    /// First id inside the container.
    pub container: u32,
    /// First id on the host.
    pub host: u32,
    /// How many.
    pub size: u32,
}

/// A container's uid and gid maps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    /// uid ranges.
    pub uid: Vec<IdRange>,
    /// gid ranges.
    pub gid: Vec<IdRange>,
}

/// Which way a snapshot's owners were made to fit its user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdmapMethod {
    /// Idmapped lower layers.
    Idmapped,
    /// A chowned copy of the layers.
    Chown,
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.container && (id - r.container) < r.size)
        .map(|r| r.host + (id - r.container))
}

impl IdMapping {
    /// The host uid of container uid `id`.
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        to_host(&self.uid, id)
    }

    /// The host gid of container gid `id`.
    pub fn host_gid(&self, id: u32) -> Option<u32> {
        to_host(&self.gid, id)
    }

    /// `/proc/PID/uid_map` text.
    pub fn uid_lines(&self) -> String {
        lines(&self.uid)
    }

    /// `/proc/PID/gid_map` text.
    pub fn gid_lines(&self) -> String {
        lines(&self.gid)
    }

    /// The maps turned around: host ids inside, container ids outside. A mount idmapped
    /// with these shows files on disk with host ids as the container's ids.
    fn inverse(&self) -> IdMapping {
        let flip = |r: &[IdRange]| {
            r.iter()
                .map(|r| IdRange {
                    container: r.host,
                    host: r.container,
                    size: r.size,
                })
                .collect()
        };
        IdMapping {
            uid: flip(&self.uid),
            gid: flip(&self.gid),
        }
    }

    /// A host uid for a file owned by container uid `id` (unmapped ids become the
    /// overflow id 65534, as the kernel shows them).
    pub fn file_uid(&self, id: u32) -> u32 {
        self.host_uid(id)
            .or_else(|| self.host_uid(65534))
            .unwrap_or(65534)
    }

    /// A host gid for a file owned by container gid `id` (as [`IdMapping::file_uid`]).
    pub fn file_gid(&self, id: u32) -> u32 {
        self.host_gid(id)
            .or_else(|| self.host_gid(65534))
            .unwrap_or(65534)
    }
}

fn lines(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
        .collect()
}

impl Snapshotter {
    /// Records that snapshot `id` belongs to a container with user namespace maps `map`:
    /// its mounts from now on show the image's files owned by the mapped ids, and the
    /// upper's root belongs to the mapped root.
    pub fn set_idmap(&self, id: &str, map: &IdMapping) -> Result<(), SnapshotError> {
        let upper = self.upper_dir(id)?;
        let (uid, gid) = (map.file_uid(0), map.file_gid(0));
        std::os::unix::fs::lchown(&upper, Some(uid), Some(gid)).map_err(io_err("chown", &upper))?;
        let text = serde_json::to_vec(map).map_err(io::Error::other);
        let path = upper.with_file_name(IDMAP_FILE);
        super::layer::write_atomic(&path, &text.map_err(io_err("encode", &path))?)
    }

    /// The user namespace maps recorded for snapshot `id`, if any.
    pub fn idmap(&self, id: &str) -> Result<Option<IdMapping>, SnapshotError> {
        let path = self.upper_dir(id)?.with_file_name(IDMAP_FILE);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| io_err("decode", &path)(io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// How snapshot `id`'s owners fit its user namespace (`None`: it has no maps).
    pub fn idmap_method(&self, id: &str) -> Option<IdmapMethod> {
        let dir = self.upper_dir(id).ok()?.with_file_name(IDMAP_FILE);
        if !dir.exists() {
            return None;
        }
        Some(if dir.with_file_name(IDLOWER_DIR).exists() {
            IdmapMethod::Chown
        } else {
            IdmapMethod::Idmapped
        })
    }
}

/// A detached, read-only view of a snapshot with the container's own ids; its files are
/// under [`View::path`] while it lives.
#[derive(Debug)]
pub struct View {
    tree: OwnedFd,
}

impl View {
    /// Where the view's root is reached (`/proc/self/fd/N` of the detached mount).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.tree.as_raw_fd()))
    }
}

impl Snapshotter {
    /// For a snapshot with maps: its upper dir idmapped back to the container's ids (what
    /// `commit` turns into a layer). `None` for a snapshot without maps.
    pub fn upper_view(&self, id: &str) -> Result<Option<View>, SnapshotError> {
        let Some(map) = self.idmap(id)? else {
            return Ok(None);
        };
        let upper = self.upper_dir(id)?;
        let inv = map.inverse();
        let tree = (|| {
            let userns = berth_sys::userns::with_maps(&inv.uid_lines(), &inv.gid_lines())?;
            let root = File::open("/")?;
            let tree = sysmount::open_tree(root.as_fd(), &upper, sysmount::OPEN_TREE_CLONE)?;
            sysmount::setattr(tree.as_fd(), 0, 0, Some(userns.as_fd()), false)?;
            Ok(tree)
        })()
        .map_err(io_err("idmap a view of", &upper))?;
        Ok(Some(View { tree }))
    }

    /// For a snapshot with maps: the whole filesystem with the container's ids, read-only
    /// (`export`, `cp` out): an overlay whose top layer is the upper dir idmapped back and
    /// whose other layers are the image's own. `None` for a snapshot without maps.
    pub fn rootfs_view(&self, id: &str) -> Result<Option<View>, SnapshotError> {
        let Some(up) = self.upper_view(id)? else {
            return Ok(None);
        };
        let merged = self.merged_dir(id)?;
        let links = self.lower_links(id)?;
        let tree = (|| {
            let root = File::open(&self.root)?;
            let ctx = fsmount::fsopen("overlay")?;
            fsmount::set_string(ctx.as_fd(), "source", "overlay")?;
            let mut trees = vec![up.tree];
            for link in &links {
                trees.push(sysmount::open_tree(
                    root.as_fd(),
                    Path::new(link),
                    sysmount::OPEN_TREE_CLONE,
                )?);
            }
            for t in &trees {
                fsmount::set_fd(ctx.as_fd(), "lowerdir+", t.as_fd())?;
            }
            fsmount::create(ctx.as_fd())?;
            fsmount::fsmount(ctx.as_fd())
        })()
        .map_err(|source| SnapshotError::Mount {
            path: merged,
            source,
        })?;
        Ok(Some(View { tree }))
    }

    /// Mounts snapshot `id` whose container has maps `map`: idmapped layers where the
    /// kernel allows it, else the chowned copy.
    pub(super) fn mount_mapped(
        &self,
        id: &str,
        links: &[String],
        map: &IdMapping,
    ) -> Result<(), SnapshotError> {
        let merged = self.merged_dir(id)?;
        let idlower = self.upper_dir(id)?.with_file_name(IDLOWER_DIR);
        if !self.chown_only && !idlower.exists() {
            match self.mount_idmapped_layers(id, links, map) {
                Ok(()) => return Ok(()),
                Err(e) if !unsupported(&e) => {
                    return Err(SnapshotError::Mount {
                        path: merged,
                        source: e,
                    })
                }
                Err(_) => {}
            }
        }
        if !idlower.exists() {
            self.build_idlower(id, links, map, &idlower)?;
        }
        let rel = format!("containers/{id}/{IDLOWER_DIR}");
        self.mount_links(id, &[rel], &merged)
    }

    fn mount_idmapped_layers(&self, id: &str, links: &[String], map: &IdMapping) -> io::Result<()> {
        use sysmount::{open_tree, setattr, OPEN_TREE_CLONE};
        let userns = berth_sys::userns::with_maps(&map.uid_lines(), &map.gid_lines())?;
        let root = File::open(&self.root)?;
        let ctx = fsmount::fsopen("overlay")?;
        fsmount::set_string(ctx.as_fd(), "source", "overlay")?;
        // The detached trees stay open until the superblock is made: closing the last fd
        // of a detached mount dissolves it, and overlayfs then fails to clone it (EINVAL,
        // "failed to clone lowerpath").
        let mut trees = Vec::with_capacity(links.len());
        for link in links {
            let tree = open_tree(root.as_fd(), Path::new(link), OPEN_TREE_CLONE)?;
            setattr(tree.as_fd(), 0, 0, Some(userns.as_fd()), false)?;
            fsmount::set_fd(ctx.as_fd(), "lowerdir+", tree.as_fd())?;
            trees.push(tree);
        }
        let path = |p: PathBuf| {
            p.into_os_string()
                .into_string()
                .map_err(|_| io::ErrorKind::InvalidInput)
        };
        let upper = path(self.upper_dir(id).map_err(io::Error::other)?)?;
        let work = path(self.work_dir(id).map_err(io::Error::other)?)?;
        fsmount::set_string(ctx.as_fd(), "upperdir", &upper)?;
        fsmount::set_string(ctx.as_fd(), "workdir", &work)?;
        fsmount::create(ctx.as_fd())?;
        drop(trees);
        let tree = fsmount::fsmount(ctx.as_fd())?;
        let target: OwnedFd = File::open(self.merged_dir(id).map_err(io::Error::other)?)?.into();
        sysmount::move_mount_to_fd(tree.as_fd(), target.as_fd())
    }

    /// Flattens the layers through a scratch overlay (so whiteouts apply) into `idlower`,
    /// owners shifted by `map`; built under a temporary name and renamed when complete.
    fn build_idlower(
        &self,
        id: &str,
        links: &[String],
        map: &IdMapping,
        idlower: &Path,
    ) -> Result<(), SnapshotError> {
        let scratch = idlower.with_file_name("idlower.tmp");
        if scratch.exists() {
            let _ = sysmount_umount(&scratch.join("merged"));
            fs::remove_dir_all(&scratch).map_err(io_err("remove dir", &scratch))?;
        }
        for d in ["upper", "work", "merged", "copy"] {
            let p = scratch.join(d);
            fs::create_dir_all(&p).map_err(io_err("create dir", &p))?;
        }
        let flat = scratch.join("merged");
        let rel = format!("containers/{id}/idlower.tmp");
        self.mount_paths(
            links,
            &format!("{rel}/upper"),
            &format!("{rel}/work"),
            &flat,
        )?;
        let copied = ShiftCopy::new(map).tree(&flat, &scratch.join("copy"));
        let _ = sysmount_umount(&flat);
        copied.map_err(io_err("copy with shifted owners", &flat))?;
        let copy = scratch.join("copy");
        fs::rename(&copy, idlower).map_err(io_err("rename", &copy))?;
        fs::remove_dir_all(&scratch).map_err(io_err("remove dir", &scratch))
    }
}

/// Unmounts the scratch overlay of an interrupted chowned copy in snapshot dir `dir`.
pub(super) fn unmount_scratch(dir: &Path) {
    let _ = sysmount_umount(&dir.join("idlower.tmp/merged"));
}

fn sysmount_umount(p: &Path) -> nix::Result<()> {
    nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH)
}

/// Errors that mean "this kernel or filesystem cannot idmap these layers".
fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP)
    )
}

/// A recursive copy that shifts owners into a user namespace's range.
struct ShiftCopy<'a> {
    map: &'a IdMapping,
    /// (dev, ino) of files with several links -> the first copy's path.
    links: HashMap<(u64, u64), PathBuf>,
}

impl<'a> ShiftCopy<'a> {
    fn new(map: &'a IdMapping) -> Self {
        ShiftCopy {
            map,
            links: HashMap::new(),
        }
    }

    fn tree(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            self.one(&entry.path(), &to.join(entry.file_name()))?;
        }
        self.attrs(from, to, &fs::symlink_metadata(from)?)
    }

    fn one(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        use nix::sys::stat::{mknod, Mode, SFlag};
        let meta = fs::symlink_metadata(src)?;
        let ft = meta.file_type();
        if meta.nlink() > 1 && !ft.is_dir() {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                return fs::hard_link(first, dst);
            }
            self.links
                .insert((meta.dev(), meta.ino()), dst.to_path_buf());
        }
        if ft.is_dir() {
            fs::create_dir(dst)?;
            return self.tree(src, dst);
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
        } else if ft.is_file() {
            fs::copy(src, dst)?;
        } else {
            let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            let perm = Mode::from_bits_truncate(meta.mode() & 0o7777);
            mknod(dst, kind, perm, meta.rdev()).map_err(io::Error::from)?;
        }
        self.attrs(src, dst, &meta)
    }

    /// Owner (shifted), then mode (chown clears setuid/setgid), then xattrs (chown drops
    /// security.capability), then times.
    fn attrs(&self, src: &Path, dst: &Path, meta: &fs::Metadata) -> io::Result<()> {
        let (uid, gid) = (self.map.file_uid(meta.uid()), self.map.file_gid(meta.gid()));
        std::os::unix::fs::lchown(dst, Some(uid), Some(gid))?;
        let symlink = meta.file_type().is_symlink();
        if !symlink {
            fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        for name in xattr::llistxattr(src).unwrap_or_default() {
            let Some(name) = name.to_str() else { continue };
            let Ok(value) = xattr::lgetxattr(src, name) else {
                continue;
            };
            let value = match name {
                "security.capability" => caps_v3(&value, self.map.file_uid(0)),
                "system.posix_acl_access" | "system.posix_acl_default" => self.acl(&value),
                _ => Some(value),
            };
            if let Some(v) = value {
                xattr::lsetxattr(dst, name, &v)?;
            }
        }
        use nix::sys::stat::{utimensat, UtimensatFlags};
        use nix::sys::time::TimeSpec;
        let at = TimeSpec::new(meta.atime(), meta.atime_nsec());
        let mt = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
        utimensat(
            nix::fcntl::AT_FDCWD,
            dst,
            &at,
            &mt,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(io::Error::from)
    }

    /// A POSIX ACL xattr with its named user and group entries shifted.
    fn acl(&self, v: &[u8]) -> Option<Vec<u8>> {
        const ACL_USER: u16 = 2;
        const ACL_GROUP: u16 = 8;
        if v.len() < 4 || !(v.len() - 4).is_multiple_of(8) {
            return None;
        }
        let mut out = v.to_vec();
        for e in out[4..].chunks_exact_mut(8) {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            let id = match tag {
                ACL_USER => self.map.file_uid(id),
                ACL_GROUP => self.map.file_gid(id),
                _ => continue,
            };
            e[4..8].copy_from_slice(&id.to_le_bytes());
        }
        Some(out)
    }
}

/// A `security.capability` value (v2 or v3) as v3 owned by host uid `root`: the kernel
/// honours file capabilities in a user namespace only when their root id is its root.
fn caps_v3(v: &[u8], root: u32) -> Option<Vec<u8>> {
    const V2: u32 = 0x0200_0000;
    const V3: u32 = 0x0300_0000;
    if v.len() < 20 {
        return None;
    }
    let magic = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
    if magic & 0xff00_0000 != V2 && magic & 0xff00_0000 != V3 {
        return None;
    }
    let mut out = Vec::with_capacity(24);
    out.extend_from_slice(&(V3 | (magic & 0x00ff_ffff)).to_le_bytes());
    out.extend_from_slice(&v[4..20]);
    out.extend_from_slice(&root.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> IdMapping {
        IdMapping {
            uid: vec![IdRange {
                container: 0,
                host: 100_000,
                size: 65536,
            }],
            gid: vec![IdRange {
                container: 0,
                host: 200_000,
                size: 1000,
            }],
        }
    }

    #[test]
    fn ids_shift_and_unmapped_become_overflow() {
        let m = map();
        assert_eq!(m.file_uid(0), 100_000);
        assert_eq!(m.file_uid(70_000), 165_534);
        assert_eq!(m.file_gid(5), 200_005);
        assert_eq!(m.file_gid(5000), 65534);
        assert_eq!(m.uid_lines(), "0 100000 65536\n");
    }

    #[test]
    fn caps_become_v3_with_the_mapped_root() {
        let mut v2 = 0x0200_0001u32.to_le_bytes().to_vec();
        v2.extend_from_slice(&[1u8; 16]);
        let v3 = caps_v3(&v2, 100_000).unwrap();
        assert_eq!(v3.len(), 24);
        assert_eq!(&v3[..4], &0x0300_0001u32.to_le_bytes());
        assert_eq!(&v3[20..], &100_000u32.to_le_bytes());
        assert!(caps_v3(&[0u8; 8], 1).is_none());
    }

    #[test]
    fn acl_entries_shift() {
        let m = map();
        let mut v = 2u32.to_le_bytes().to_vec();
        v.extend_from_slice(&[2, 0, 7, 0]);
        v.extend_from_slice(&1000u32.to_le_bytes());
        v.extend_from_slice(&[1, 0, 7, 0]);
        v.extend_from_slice(&u32::MAX.to_le_bytes());
        let out = ShiftCopy::new(&m).acl(&v).unwrap();
        assert_eq!(&out[8..12], &101_000u32.to_le_bytes());
        assert_eq!(&out[16..20], &u32::MAX.to_le_bytes());
    }
}
