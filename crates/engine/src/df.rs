//! `system df`: what images, containers and volumes take on disk, and what prune would
//! give back.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::engine::Engine;
use crate::error::Result;

/// One row of `system df`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Row {
    /// How many there are.
    pub total: usize,
    /// How many are in use (images and volumes: by a container; containers: running).
    pub active: usize,
    /// Bytes.
    pub size: u64,
    /// Bytes prune would free.
    pub reclaimable: u64,
}

/// The three rows Docker shows (build cache aside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Images.
    pub images: Row,
    /// Containers: the size of their own writable layers.
    pub containers: Row,
    /// Local volumes.
    pub volumes: Row,
}

/// Measures the store.
pub fn usage(eng: &Engine) -> Result<Usage> {
    let listed = crate::inspect::list(eng)?;
    let mut containers = Row::default();
    let mut used_images = Vec::new();
    for l in &listed {
        let size = eng
            .snaps
            .upper_dir(&l.container.id)
            .map(|d| dir_size(&d))
            .unwrap_or(0);
        containers.total += 1;
        containers.size += size;
        if l.state.running {
            containers.active += 1;
        } else {
            containers.reclaimable += size;
        }
        used_images.push(l.container.image.clone());
    }
    let i = berth_image::image::usage(&eng.images, &used_images)?;
    let images = Row {
        total: i.total,
        active: i.active,
        size: i.size,
        reclaimable: i.reclaimable,
    };
    let mut volumes = Row::default();
    for v in crate::volume::list(eng, &crate::filter::Filters::default())? {
        let size = dir_size(&v.mountpoint);
        volumes.total += 1;
        volumes.size += size;
        if v.users.is_empty() {
            volumes.reclaimable += size;
        } else {
            volumes.active += 1;
        }
    }
    Ok(Usage {
        images,
        containers,
        volumes,
    })
}

/// The bytes of the files under `dir` (hard links counted once, symlinks not followed), as
/// Docker's `directory.Size`; 0 for a missing dir.
pub fn dir_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.nlink() < 2 || seen.insert((md.dev(), md.ino())) {
                total += md.size();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_hard_links_once() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("d")).unwrap();
        fs::write(t.path().join("a"), [0u8; 100]).unwrap();
        fs::write(t.path().join("d/b"), [0u8; 23]).unwrap();
        fs::hard_link(t.path().join("a"), t.path().join("d/a2")).unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("l")).unwrap();
        let link_len = fs::symlink_metadata(t.path().join("l")).unwrap().size();
        assert_eq!(dir_size(t.path()), 123 + link_len);
        assert_eq!(dir_size(&t.path().join("missing")), 0);
    }
}
