//! Layers: tar streams (plain, gzip, zstd) unpacked safely into a directory.
//!
//! [`unpack`] applies one layer to an empty directory the way containerd's archive applier
//! prepares an overlay snapshot (`archive/tar.go`, `OverlayConvertWhiteout`): `.wh.name`
//! becomes a 0:0 character device, `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on its
//! directory, and everything else is created with its mode, owner, mtime and xattrs.
//!
//! Path safety, decided once here:
//! - Entry names are cleaned lexically as Docker's `pkg/archive` does: a leading `/` is
//!   dropped (`/etc/x` lands at `dest/etc/x`), `.` is skipped, and a `..` that would climb
//!   above `dest` is refused with [`LayerError::BadPath`].
//! - Every parent directory is opened with openat2(RESOLVE_IN_ROOT) on `dest`, so symlinks
//!   met on the way (even `/tmp/outside` or `../../..`) are resolved as if `dest` were `/`;
//!   the last component is acted on with *at() calls that never follow it. A parent that is
//!   a symlink to something missing is refused rather than created through.
//! - Symlink targets are stored verbatim (they are only ever resolved inside a root).
//! - A hardlink must name a non-directory entry written earlier in the same layer.

mod apply;
pub mod diff;
pub mod export;
mod stream;
#[cfg(test)]
mod tests;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Compression of a layer blob, recognised from its first bytes by [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// An uncompressed tar stream.
    None,
    /// gzip (magic `1f 8b`).
    Gzip,
    /// zstd (magic `28 b5 2f fd`).
    Zstd,
}

/// Knobs for [`unpack`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Most uncompressed tar bytes read before giving up: the bound on a decompression bomb.
    pub max_bytes: u64,
    /// Whether character and block device entries may be created (whiteouts always may).
    pub allow_devices: bool,
    /// Whether `.wh.` entries are whiteouts (a layer) or ordinary names (`cp` into a
    /// container, which Docker extracts as plain files).
    pub whiteouts: bool,
    /// Owner given to every entry instead of the one in its header (`cp` without `-a`).
    pub owner: Option<(u32, u32)>,
    /// Owners (after `owner`) are container ids, written as these maps' host ids (`cp` into
    /// a container with its own user namespace).
    pub idmap: Option<crate::snapshot::IdMapping>,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 30,
            allow_devices: true,
            whiteouts: true,
            owner: None,
            idmap: None,
        }
    }
}

/// What [`unpack`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// `sha256:<hex>` of the uncompressed tar stream: the layer's diff_id.
    pub diff_id: String,
    /// Length of the uncompressed tar stream.
    pub bytes: u64,
    /// Tar entries applied, whiteouts included (PAX global headers not counted).
    pub entries: u64,
}

/// Why a layer could not be unpacked. Messages read "op `entry`: cause".
#[derive(Debug, Error)]
pub enum LayerError {
    /// The layer directory could not be opened.
    #[error("open layer directory `{path}`: {source}")]
    Dest {
        /// The directory given to [`unpack`].
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The (decompressed) stream or a tar header could not be read: truncated or corrupt.
    #[error("read layer stream: {source}")]
    Read {
        /// The underlying error.
        source: io::Error,
    },
    /// The uncompressed stream is longer than [`UnpackOptions::max_bytes`].
    #[error("read layer stream: uncompressed size exceeds the {limit}-byte limit")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// An entry name is empty, not a usable name, or climbs out of the layer directory.
    #[error("unpack `{entry}`: {reason}")]
    BadPath {
        /// The entry name as found in the tar.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A hardlink names something other than an earlier non-directory entry of this layer.
    #[error("hardlink `{entry}`: target `{target}` {reason}")]
    BadLink {
        /// The link entry.
        entry: String,
        /// The link target as found in the tar.
        target: String,
        /// What is wrong with the target.
        reason: &'static str,
    },
    /// A parent of the entry exists but is not a directory inside the layer (a file, or a
    /// symlink whose target does not exist in the layer).
    #[error("unpack `{entry}`: parent `{parent}` is not a directory inside the layer")]
    ParentNotDir {
        /// The entry being unpacked.
        entry: String,
        /// The offending parent, cleaned, relative to the layer directory.
        parent: String,
    },
    /// A device node entry while [`UnpackOptions::allow_devices`] is false.
    #[error("mknod `{entry}`: device nodes are not allowed in this layer")]
    DeviceNotAllowed {
        /// The device entry.
        entry: String,
    },
    /// A tar entry type this applier does not create (e.g. GNU sparse v0.0 oddities).
    #[error("unpack `{entry}`: unsupported tar entry type {kind:?}")]
    Unsupported {
        /// The entry.
        entry: String,
        /// The raw type flag, as a character.
        kind: char,
    },
    /// A filesystem call failed for an entry.
    #[error("{op} `{entry}`: {source}")]
    Io {
        /// The call, e.g. `mkdirat`, `lsetxattr trusted.x`.
        op: &'static str,
        /// The entry (or cleaned path) it was made for.
        entry: String,
        /// The underlying error, with its errno.
        source: io::Error,
    },
    /// [`unpack_verified`] read a stream whose diff_id is not the expected one.
    #[error("verify layer: diff_id is {actual}, expected {expected}; the unpacked files must be discarded")]
    DiffIdMismatch {
        /// The diff_id the caller expected.
        expected: String,
        /// The diff_id of what was read.
        actual: String,
    },
}

/// The compression of a blob whose first bytes are `prefix` (4 bytes are enough).
pub fn detect(prefix: &[u8]) -> Compression {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Unpack the layer blob read from `reader` (tar, tar+gzip or tar+zstd, detected) into
/// `dest`, an existing empty directory, converting whiteouts to overlay whiteouts.
///
/// On error `dest` holds a partial layer and must be discarded by the caller. The whole
/// stream is read (trailing padding too) so that [`UnpackStats::diff_id`] covers it.
pub fn unpack(
    reader: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, LayerError> {
    let root = apply::open_root(dest)?;
    let mut archive = stream::open(reader, opts.max_bytes)?;
    let applied = apply::apply_all(&root, &mut archive, opts);
    let (entries, diff_id, bytes) = stream::finish(archive, applied)?;
    Ok(UnpackStats {
        diff_id,
        bytes,
        entries,
    })
}

/// [`unpack`], then fail with [`LayerError::DiffIdMismatch`] unless the diff_id is
/// `expected_diff_id` (`sha256:<hex>`).
///
/// The check can only happen after the last byte is read, so on a mismatch the files are
/// already in `dest`: they are not the layer the caller asked for and must not be used; the
/// caller removes `dest`.
pub fn unpack_verified(
    reader: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
    expected_diff_id: &str,
) -> Result<UnpackStats, LayerError> {
    let stats = unpack(reader, dest, opts)?;
    if stats.diff_id != expected_diff_id {
        return Err(LayerError::DiffIdMismatch {
            expected: expected_diff_id.to_string(),
            actual: stats.diff_id,
        });
    }
    Ok(stats)
}
