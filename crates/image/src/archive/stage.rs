//! Reading an archive's tar once, every regular member into the store as a blob.
//!
//! Members can come in any order (`docker save` writes `manifest.json` last), so nothing is
//! interpreted while streaming: each regular file is hashed into the store and its path
//! remembered. Members under `blobs/<alg>/<hex>` must hash to their name. Symlinks and hard
//! links (old `docker save` links a repeated layer to its first copy) become aliases.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::{decompress, ArchiveError};
use crate::store::{Store, StoreError};

/// What the tar held, by normalised path.
#[derive(Debug, Default)]
pub(super) struct Staged {
    members: BTreeMap<String, Member>,
}

/// One regular member, now a blob.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// Its normalised path in the archive.
    pub(super) path: String,
    /// Its digest in the store.
    pub(super) digest: String,
    /// Its size in bytes.
    pub(super) size: u64,
}

impl Staged {
    /// Whether the archive has a regular member at `path`.
    pub(super) fn has(&self, path: &str) -> bool {
        self.members.contains_key(path)
    }

    /// The member at `path` (resolved from the archive root), which `by` refers to.
    pub(super) fn get(&self, path: &str, by: &str) -> Result<&Member, ArchiveError> {
        let missing = || ArchiveError::MissingMember {
            member: path.to_owned(),
            by: by.to_owned(),
        };
        let norm = normalise(path, "").map_err(|_| missing())?;
        self.members.get(&norm).ok_or_else(missing)
    }
}

/// Remembers a read failure, so that a failing `put_blob` is blamed on the archive member.
struct Watch<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// Streams the tar `input` (plain, gzip or zstd) into the store.
pub(super) fn stage(store: &Store, input: impl Read) -> Result<Staged, ArchiveError> {
    let archive_err = |source| ArchiveError::Read {
        member: "<archive>".to_owned(),
        source,
    };
    let mut archive = tar::Archive::new(decompress(input, "<archive>")?);
    let mut staged = Staged::default();
    let mut links = Vec::new();
    for entry in archive.entries().map_err(archive_err)? {
        let entry = entry.map_err(archive_err)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = normalise(&raw, "")?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name_bytes().unwrap_or_default();
            let target = String::from_utf8_lossy(&target).into_owned();
            // A symlink is relative to its directory, a hard link to the archive root.
            let base = match kind.is_symlink() {
                true => path.rsplit_once('/').map(|(d, _)| d).unwrap_or(""),
                false => "",
            };
            let resolved = normalise(&target, base).map_err(|_| ArchiveError::UnsafePath {
                member: format!("{raw} -> {target}"),
            })?;
            links.push((path, resolved));
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) || path.is_empty() {
            continue;
        }
        let member = stage_one(store, entry, &path)?;
        staged.members.insert(path, member);
    }
    // Links may point at members that came after them; a link to a link is followed.
    for _ in 0..8 {
        for (path, target) in &links {
            if let Some(m) = staged.members.get(target).cloned() {
                staged.members.entry(path.clone()).or_insert(Member {
                    path: path.clone(),
                    ..m
                });
            }
        }
    }
    Ok(staged)
}

/// Stores one regular member, checking `blobs/<alg>/<hex>` members against their name.
fn stage_one(store: &Store, entry: impl Read, path: &str) -> Result<Member, ArchiveError> {
    let mut watch = Watch {
        inner: entry,
        error: None,
    };
    let digest = match store.put_blob(None, &mut watch) {
        Ok(d) => d,
        Err(StoreError::Io { source, .. }) if watch.error.is_some() => {
            return Err(ArchiveError::Read {
                member: path.to_owned(),
                source,
            })
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(name) = path.strip_prefix("blobs/") {
        let expected = name.replacen('/', ":", 1);
        if expected != digest {
            return Err(ArchiveError::DigestMismatch {
                member: path.to_owned(),
                expected,
                actual: digest,
            });
        }
    }
    Ok(Member {
        path: path.to_owned(),
        size: store.blob_size(&digest)?,
        digest,
    })
}

/// `path` joined to the directory `base` (both inside the archive), `.` and empty components
/// dropped. With an empty `base` (a member's own path, a hard link target) any `..` is
/// refused; a symlink target (non-empty `base`) may climb, but never above the archive root.
fn normalise(path: &str, base: &str) -> Result<String, ArchiveError> {
    let unsafe_path = || ArchiveError::UnsafePath {
        member: path.to_owned(),
    };
    if path.starts_with('/') {
        return Err(unsafe_path());
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    let is_link = !base.is_empty();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if is_link => {
                parts.pop().ok_or_else(unsafe_path)?;
            }
            ".." => return Err(unsafe_path()),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for (path, base, want) in [
            ("manifest.json", "", Some("manifest.json")),
            ("./blobs//sha256/ab", "", Some("blobs/sha256/ab")),
            ("../evil", "", None),
            ("a/../b", "", None),
            ("/etc/passwd", "", None),
            ("../abc/layer.tar", "def", Some("abc/layer.tar")),
            ("../../x", "def", None),
        ] {
            let got = normalise(path, base).ok();
            assert_eq!(got.as_deref(), want, "{path} in {base}");
        }
    }
}
