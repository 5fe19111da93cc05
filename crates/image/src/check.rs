//! `system check`: the store and the snapshotter checked against each other, in the spirit
//! of `podman system check`. Finds what a killed or crashed `berth` can leave behind (temp
//! files, staging dirs of an unpack), what damage on disk looks like (blobs that no longer
//! hash to their name, tags naming manifests whose config or layers are gone, snapshots
//! whose layers are gone) and what nothing references any more; with `repair` it removes
//! each broken object and whatever then dangles, so the next command works.
//!
//! Order matters: debris first (never referenced), then blobs (the sound ones feed the
//! image graph), then images (a broken image's tags go, which frees its blobs), then what
//! nothing references, then the snapshotter (its layers are kept by the images left).
//!
//! Blobs and layers that nothing references are only reported once older than
//! [`CheckOptions::max_age`]: a pull in flight stores its blobs before its manifest, and an
//! interrupted pull's blobs are reused by the next one. Locks need no check: flock locks
//! die with their holder, and lock files are never removed (unlinking a lock file while
//! another process opens it would let two processes hold "the" lock).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use oci_spec::image::{ImageConfiguration, ImageManifest};
use sha2::{Digest as _, Sha256};

use crate::image::chain_ids;
use crate::snapshot::check::LayerState;
use crate::snapshot::{SnapshotError, Snapshotter};
use crate::store::{Store, StoreError};

/// How to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Fix what is found: remove broken objects and what then dangles.
    pub repair: bool,
    /// With `repair`, also remove snapshots (containers' layers) whose lower layers are gone.
    pub force: bool,
    /// Skip hashing every blob (the slow part).
    pub quick: bool,
    /// Unreferenced blobs and layers younger than this are left alone.
    pub max_age: Duration,
}

impl Default for CheckOptions {
    /// Report only, hash every blob, and 24 hours for unreferenced objects, as podman.
    fn default() -> CheckOptions {
        CheckOptions {
            repair: false,
            force: false,
            quick: false,
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// One inconsistency; its Display is the one line `system check` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A file in `tmp/` no live writer holds.
    #[error("temp file `{}`: left by a killed writer", .0.display())]
    TempFile(PathBuf),
    /// A file in `blobs/sha256` not named by 64 lowercase hex digits.
    #[error("blob file `{}`: not named by a sha256 digest", .0.display())]
    StrayFile(PathBuf),
    /// A blob whose content does not hash to its name.
    #[error("blob `{digest}`: content hashes to {actual}")]
    CorruptBlob {
        /// Its name.
        digest: String,
        /// What it hashes to.
        actual: String,
    },
    /// The tag index does not parse.
    #[error("tag index `{}`: {reason}", path.display())]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// serde's message.
        reason: String,
    },
    /// A tagged image one of whose blobs is missing (or was corrupt).
    #[error("image `{name}`: {what} `{digest}` is missing")]
    ImageBlobMissing {
        /// A name that points at it.
        name: String,
        /// manifest, config or layer.
        what: &'static str,
        /// The missing blob.
        digest: String,
    },
    /// A tagged image whose manifest or config does not parse.
    #[error("image `{name}`: {what} `{digest}` does not parse: {reason}")]
    ImageUnparsable {
        /// A name that points at it.
        name: String,
        /// manifest or config.
        what: &'static str,
        /// The blob.
        digest: String,
        /// serde's message.
        reason: String,
    },
    /// A blob no image references.
    #[error("blob `{0}`: referenced by no image")]
    UnreferencedBlob(String),
    /// A staging or removal dir of a killed unpack or removal.
    #[error("layer dir `{}`: left by a killed unpack or removal", .0.display())]
    SnapshotDebris(PathBuf),
    /// A layer dir that no completed commit made.
    #[error("layer `sha256:{hex}`: incomplete ({reason})")]
    LayerIncomplete {
        /// The layer's chain id hex.
        hex: String,
        /// What is missing.
        reason: &'static str,
    },
    /// A layer whose short link is missing.
    #[error("layer `sha256:{0}`: short link missing")]
    LinkMissing(String),
    /// A short link whose layer is gone.
    #[error("short link `{}`: layer is gone", .0.display())]
    DanglingLink(PathBuf),
    /// An unpacked layer no image and no snapshot uses.
    #[error("layer `sha256:{0}`: used by no image or snapshot")]
    UnreferencedLayer(String),
    /// A snapshot that cannot be mounted: a lower layer is gone.
    #[error("snapshot `{id}`: {reason}")]
    SnapshotBroken {
        /// The snapshot (container) id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// A problem and whether it was repaired.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What was found.
    pub problem: Problem,
    /// Whether `repair` fixed it.
    pub repaired: bool,
}

/// What a check found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every problem, in the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// How many problems are left unrepaired.
    pub fn unrepaired(&self) -> usize {
        self.findings.iter().filter(|f| !f.repaired).count()
    }
}

/// Why a check could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Reading or removing a file failed.
    #[error("{op} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: PathBuf) -> impl FnOnce(io::Error) -> CheckError {
    move |source| CheckError::Io { op, path, source }
}

/// Checks the store and the snapshotter; with `opts.repair`, fixes what it can.
pub fn check(
    store: &Store,
    snaps: &Snapshotter,
    opts: &CheckOptions,
) -> Result<Report, CheckError> {
    let mut c = Checker {
        store,
        snaps,
        opts,
        report: Report::default(),
    };
    c.temp_files()?;
    let blobs = c.blobs()?;
    if let Some(live) = c.images(&blobs)? {
        c.unreferenced_blobs(&blobs, &live)?;
        c.snapshots(&live.chains)?;
    }
    Ok(c.report)
}

/// What the sound images keep alive.
#[derive(Debug, Default)]
struct Live {
    /// Manifests, configs and layers of sound images.
    blobs: BTreeSet<String>,
    /// Blobs of broken images (removed with them, whatever their age).
    freed: BTreeSet<String>,
    /// Chain ids (hex) of every sound image's layers.
    chains: BTreeSet<String>,
}

struct Checker<'a> {
    store: &'a Store,
    snaps: &'a Snapshotter,
    opts: &'a CheckOptions,
    report: Report,
}

impl Checker<'_> {
    /// Records `problem`; with repair on, runs `fix` first and records whether it worked.
    fn found(
        &mut self,
        problem: Problem,
        fix: impl FnOnce() -> Result<(), CheckError>,
    ) -> Result<(), CheckError> {
        let repaired = self.opts.repair && {
            fix()?;
            true
        };
        self.report.findings.push(Finding { problem, repaired });
        Ok(())
    }

    /// Step 1: temp files of writers that died (live writers hold theirs locked).
    fn temp_files(&mut self) -> Result<(), CheckError> {
        let store = self.store;
        for path in store.temp_files()? {
            if !store.temp_is_abandoned(&path) {
                continue;
            }
            let fix = || {
                store
                    .remove_temp_if_abandoned(&path, Duration::ZERO)
                    .map(drop)
            };
            self.found(Problem::TempFile(path.clone()), || Ok(fix()?))?;
        }
        Ok(())
    }

    /// Step 2: blob files: named by a digest, and (unless quick) hashing to it. Returns the
    /// sound ones with their last change.
    fn blobs(&mut self) -> Result<BTreeMap<String, SystemTime>, CheckError> {
        let dir = self.store.blobs_dir();
        let entries = fs::read_dir(&dir)
            .and_then(|e| e.collect::<Result<Vec<_>, _>>())
            .map_err(io_err("read directory", dir.clone()))?;
        let mut sound = BTreeMap::new();
        for entry in entries {
            let path = entry.path();
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            let remove = || fs::remove_file(&path).map_err(io_err("remove", path.clone()));
            if !self.store.has_blob(&digest) {
                self.found(Problem::StrayFile(path.clone()), remove)?;
                continue;
            }
            if !self.opts.quick {
                let actual = hash_file(&path)?;
                if actual != digest {
                    self.found(Problem::CorruptBlob { digest, actual }, remove)?;
                    continue;
                }
            }
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            sound.insert(digest, modified);
        }
        Ok(sound)
    }

    /// Step 3: tags -> manifests -> configs and layers. A broken image loses its tags and its
    /// manifest. `None` when the tag index itself is unreadable and stays so.
    fn images(&mut self, blobs: &BTreeMap<String, SystemTime>) -> Result<Option<Live>, CheckError> {
        let tags = match self.store.tags() {
            Ok(tags) => tags,
            Err(StoreError::Index { path, source, .. }) => {
                let reason = source.to_string();
                let aside = path.with_extension("json.corrupt");
                let fix = || fs::rename(&path, &aside).map_err(io_err("rename", path.clone()));
                self.found(
                    Problem::CorruptIndex {
                        path: path.clone(),
                        reason,
                    },
                    fix,
                )?;
                if !self.opts.repair {
                    return Ok(None);
                }
                BTreeMap::new()
            }
            Err(e) => return Err(e.into()),
        };
        let mut by_manifest: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, digest) in tags {
            by_manifest.entry(digest).or_default().push(name);
        }
        let mut live = Live::default();
        for (manifest, names) in by_manifest {
            match image_blobs(self.store, &manifest, &names[0], blobs) {
                Ok((members, chains)) => {
                    live.blobs.extend(members);
                    live.chains.extend(chains);
                }
                Err((problem, members)) => {
                    let store = self.store;
                    self.found(problem, || {
                        for name in &names {
                            store.remove_tag(name)?;
                        }
                        Ok(())
                    })?;
                    live.freed.extend(members);
                }
            }
        }
        Ok(Some(live))
    }

    /// Step 4: blobs nothing references: those of broken images at once, others once older
    /// than `max_age`.
    fn unreferenced_blobs(
        &mut self,
        blobs: &BTreeMap<String, SystemTime>,
        live: &Live,
    ) -> Result<(), CheckError> {
        let now = SystemTime::now();
        for (digest, modified) in blobs {
            let old = now.duration_since(*modified).unwrap_or_default() >= self.opts.max_age;
            if live.blobs.contains(digest) || !(old || live.freed.contains(digest)) {
                continue;
            }
            let store = self.store;
            let fix = || match store.delete_blob(digest) {
                Ok(()) | Err(StoreError::BlobNotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            };
            self.found(Problem::UnreferencedBlob(digest.clone()), fix)?;
        }
        Ok(())
    }

    /// Step 5: the snapshotter: debris, incomplete layers and links, snapshots standing on
    /// missing layers, and layers nothing uses.
    fn snapshots(&mut self, chains: &BTreeSet<String>) -> Result<(), CheckError> {
        let snaps = self.snaps;
        for path in snaps.debris()? {
            let fix = || Ok(snaps.remove_debris(&path)?);
            self.found(Problem::SnapshotDebris(path.clone()), fix)?;
        }
        let mut sound = BTreeMap::new();
        let mut by_short = BTreeMap::new();
        for layer in snaps.layer_entries()? {
            let hex = layer.hex.clone();
            match layer.state {
                LayerState::Incomplete(reason) => {
                    let fix = || Ok(snaps.remove_layer_dir(&hex)?);
                    self.found(
                        Problem::LayerIncomplete {
                            hex: hex.clone(),
                            reason,
                        },
                        fix,
                    )?;
                    continue;
                }
                LayerState::LinkMissing => {
                    let fix = || Ok(snaps.relink(&hex)?);
                    self.found(Problem::LinkMissing(hex.clone()), fix)?;
                }
                LayerState::Sound => {}
            }
            by_short.insert(layer.short, hex.clone());
            sound.insert(hex, layer.modified);
        }
        for link in snaps.dangling_links()? {
            let fix = || Ok(snaps.remove_debris(&link)?);
            self.found(Problem::DanglingLink(link.clone()), fix)?;
        }
        let mut used = chains.clone();
        for (id, shorts) in snaps.snapshot_lowers()? {
            let lowers = shorts.map_err(|e| e.to_string()).and_then(|shorts| {
                shorts
                    .iter()
                    .map(|s| {
                        by_short
                            .get(s)
                            .cloned()
                            .ok_or_else(|| format!("lower layer `l/{s}` is missing"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            });
            match lowers {
                Ok(hexes) => used.extend(hexes),
                Err(reason) => {
                    let force = self.opts.force;
                    let problem = Problem::SnapshotBroken {
                        id: id.clone(),
                        reason,
                    };
                    self.found_if(force, problem, || Ok(snaps.remove(&id)?))?;
                }
            }
        }
        let now = SystemTime::now();
        for (hex, modified) in sound {
            let old = now.duration_since(modified).unwrap_or_default() >= self.opts.max_age;
            if used.contains(&hex) || !old {
                continue;
            }
            let fix = || Ok(snaps.remove_layer_dir(&hex)?);
            self.found(Problem::UnreferencedLayer(hex.clone()), fix)?;
        }
        Ok(())
    }

    /// As [`Checker::found`], but repairs only when `allowed` too (e.g. `force`).
    fn found_if(
        &mut self,
        allowed: bool,
        problem: Problem,
        fix: impl FnOnce() -> Result<(), CheckError>,
    ) -> Result<(), CheckError> {
        if allowed {
            return self.found(problem, fix);
        }
        self.report.findings.push(Finding {
            problem,
            repaired: false,
        });
        Ok(())
    }
}

/// A broken image: the problem and whichever of its blobs exist (freed with it).
type Broken = (Problem, Vec<String>);

/// The blobs and chain ids (hex) of the image whose manifest is `manifest`, or the first
/// problem found and whichever of its blobs exist.
fn image_blobs(
    store: &Store,
    manifest: &str,
    name: &str,
    blobs: &BTreeMap<String, SystemTime>,
) -> Result<(Vec<String>, Vec<String>), Broken> {
    let missing = |what, digest: &str| Problem::ImageBlobMissing {
        name: name.to_owned(),
        what,
        digest: digest.to_owned(),
    };
    let unparsable = |what, digest: &str, e: serde_json::Error| Problem::ImageUnparsable {
        name: name.to_owned(),
        what,
        digest: digest.to_owned(),
        reason: e.to_string(),
    };
    let mut members = vec![manifest.to_owned()];
    let bytes = match blobs
        .contains_key(manifest)
        .then(|| store.read_blob(manifest))
    {
        Some(Ok(bytes)) => bytes,
        _ => return Err((missing("manifest", manifest), vec![])),
    };
    let m: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| (unparsable("manifest", manifest, e), members.clone()))?;
    let config = m.config().digest().to_string();
    members.push(config.clone());
    members.extend(m.layers().iter().map(|l| l.digest().to_string()));
    let present: Vec<String> = members
        .iter()
        .filter(|d| blobs.contains_key(*d))
        .cloned()
        .collect();
    if let Some(gone) = members[1..].iter().find(|d| !blobs.contains_key(*d)) {
        let what = if *gone == config { "config" } else { "layer" };
        return Err((missing(what, gone), present));
    }
    let c: ImageConfiguration = store
        .read_blob(&config)
        .map_err(|_| (missing("config", &config), present.clone()))
        .and_then(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| (unparsable("config", &config, e), present.clone()))
        })?;
    let chains = chain_ids(c.rootfs().diff_ids())
        .iter()
        .map(|c| c.trim_start_matches("sha256:").to_owned())
        .collect();
    Ok((members, chains))
}

/// The sha256 digest of a file's content, streamed.
fn hash_file(path: &std::path::Path) -> Result<String, CheckError> {
    let mut file = fs::File::open(path).map_err(io_err("open", path.to_path_buf()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 256 << 10];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io_err("read", path.to_path_buf()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", hasher.finalize()))
}
