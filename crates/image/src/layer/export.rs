//! A snapshot's merged view streamed as one flat tar: the `export` verb's half of the walk in
//! [`super::diff`].
//!
//! The same walk as [`super::diff()`] (sorted, parents first, hardlinks, devices, fifos,
//! xattrs, nothing followed out of the root, sockets skipped) without the whiteout
//! conversion: a merged view has no whiteouts left to convert, and overlay's
//! `trusted.overlay.*` xattrs are not written. Like `docker export`, the result is not
//! compressed and has no entry for the root itself.

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::Path;

use super::diff::{write_at, write_tree, Convert, Counted, DiffError};

/// Stream the tree at `root` (a mounted merged view) as a flat tar to `out`; the number of
/// bytes written.
///
/// `root` should not change during the call (the container is stopped or paused). On error,
/// what was written to `out` is a partial stream and must be discarded.
pub fn export(root: &Path, out: impl Write) -> Result<u64, DiffError> {
    let counted = write_tree(root, Counted::new(out), Convert::Nothing)?;
    Ok(counted.bytes)
}

/// Stream one entry of a tree as a flat tar (what `cp` copies out): the entry `name` of the
/// directory `dir`, written as `as_name` (and, for a directory, everything below it); or,
/// with `name` `None`, the contents of `dir` prefixed with `as_name` (`""` for none). A
/// symlink named by `name` is written as a symlink, never followed. The number of bytes
/// written.
///
/// `dir` must have been resolved safely by the caller (e.g. with openat2 RESOLVE_IN_ROOT);
/// below it the walk is the same as [`export`]'s.
pub fn export_entry(
    dir: BorrowedFd<'_>,
    name: Option<&[u8]>,
    as_name: &[u8],
    out: impl Write,
) -> Result<u64, DiffError> {
    let counted = write_at(dir, name, as_name, Counted::new(out))?;
    Ok(counted.bytes)
}
