//! `container prune` and `system prune`: what is not running or not used goes, in Docker's
//! order (containers first, so the volumes and images they held become unused).

use std::time::SystemTime;

use crate::engine::Engine;
use crate::error::Result;
use crate::filter::Filters;

/// Filter keys `container prune` takes.
pub const CONTAINER_FILTERS: &[&str] = &["until", "label", "label!"];

/// Removes every container that is not running (created, exited, dead) and matches
/// `filters` (`until=`, `label=`, `label!=`). Returns the ids removed and the bytes of their
/// writable layers.
pub fn containers(eng: &Engine, filters: &Filters) -> Result<(Vec<String>, u64)> {
    let until = filters.until(SystemTime::now())?;
    let mut ids = Vec::new();
    let mut freed = 0;
    for l in crate::inspect::list(eng)? {
        let c = &l.container;
        if l.state.running || l.state.restarting || !filters.labels_match(&c.config.labels) {
            continue;
        }
        let created = humantime::parse_rfc3339_weak(&c.created).ok();
        if until.is_some_and(|u| created.is_none_or(|t| t > u)) {
            continue;
        }
        let size = eng
            .snaps
            .upper_dir(&c.id)
            .map(|d| crate::df::dir_size(&d))
            .unwrap_or(0);
        match crate::lifecycle::remove(eng, &c.id, false) {
            Ok(_) => {
                freed += size;
                ids.push(c.id.clone());
            }
            // Started (or removed) by someone else meanwhile: not ours to prune.
            Err(crate::Error::State { .. } | crate::Error::NoSuchContainer(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((ids, freed))
}

/// What `system prune` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct SystemPrune {
    /// `-a`: every unused image (and with `volumes`, every unused volume), not just
    /// dangling images and anonymous volumes.
    pub all: bool,
    /// `--volumes`.
    pub volumes: bool,
    /// `--filter until=|label=`.
    pub filters: Filters,
}

/// What `system prune` removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Container ids.
    pub containers: Vec<String>,
    /// Volume names.
    pub volumes: Vec<String>,
    /// Docker's `Untagged:`/`Deleted:` lines.
    pub images: Vec<String>,
    /// Bytes freed in all.
    pub reclaimed: u64,
}

/// `system prune`: stopped containers, then (with `--volumes`) unused volumes, then
/// dangling (with `-a` unused) images.
pub fn system(eng: &Engine, req: &SystemPrune) -> Result<Pruned> {
    let (containers, c_bytes) = containers(eng, &req.filters)?;
    let (volumes, v_bytes) = if req.volumes {
        crate::volume::prune(eng, req.all, &req.filters)?
    } else {
        Default::default()
    };
    let (images, i_bytes) = crate::images::prune(eng, req.all)?;
    Ok(Pruned {
        containers,
        volumes,
        images,
        reclaimed: c_bytes + v_bytes + i_bytes,
    })
}
