//! Image removal as the engine sees it: an image a container uses (in any state) is kept
//! unless forced, as Docker keeps it, and layers that no image and no container stands on
//! any more are deleted from the snapshotter with the image.

use std::collections::BTreeSet;

use berth_image::image::{chain_ids, Image};

use crate::engine::Engine;
use crate::error::Result;

/// Why an image cannot be removed.
#[derive(Debug, thiserror::Error)]
pub enum Conflict {
    /// The last name of an image a container uses, without `-f`.
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    Reference {
        /// The name given.
        reference: String,
        /// Short id of a container using it.
        container: String,
        /// Short image id.
        image: String,
    },
    /// An image removed by id while a container uses it.
    #[error("conflict: unable to delete {image} ({}) - image is being used by {} container {container}", if *running { "cannot be forced" } else { "must be forced" }, if *running { "running" } else { "stopped" })]
    InUse {
        /// Short image id.
        image: String,
        /// Short id of a container using it.
        container: String,
        /// That container runs (then even `-f` is refused).
        running: bool,
    },
}

/// A container that uses an image.
#[derive(Debug, Clone)]
struct User {
    image: String,
    container: String,
    running: bool,
}

fn users(eng: &Engine) -> Result<Vec<User>> {
    Ok(crate::inspect::list(eng)?
        .into_iter()
        .filter(|l| !l.container.image.is_empty())
        .map(|l| User {
            image: l.container.image,
            container: l.container.id,
            running: l.state.running,
        })
        .collect())
}

/// The image ids containers use.
pub fn in_use(eng: &Engine) -> Result<Vec<String>> {
    Ok(users(eng)?.into_iter().map(|u| u.image).collect())
}

/// `rmi NAME|ID`: Docker's lines (`Untagged: ...`, `Deleted: ...`).
pub fn remove(eng: &Engine, key: &str, force: bool) -> Result<Vec<String>> {
    let image = berth_image::image::resolve(&eng.images, key)?;
    let id = image.id();
    let names = names_of(eng, &image)?;
    let by_name = names.iter().any(|n| is_name_for(n, key));
    // A running user decides (it cannot be forced), else any user.
    let mut users: Vec<User> = users(eng)?.into_iter().filter(|u| u.image == id).collect();
    users.sort_by_key(|u| !u.running);
    let user = users.into_iter().next();
    if let Some(u) = user {
        let short = |s: &str| berth_image::image::short(s);
        if by_name && names.len() < 2 {
            if !force {
                return Err(Conflict::Reference {
                    reference: key.into(),
                    container: short(&u.container),
                    image: short(&id),
                }
                .into());
            }
            // Forced: the name goes, the image stays (dangling) for its container.
            eng.images
                .set_tag(&format!("@{id}"), &image.manifest_digest)?;
        } else if !by_name && (u.running || !force) {
            return Err(Conflict::InUse {
                image: short(&id),
                container: short(&u.container),
                running: u.running,
            }
            .into());
        }
    }
    let lines = berth_image::image::remove(&eng.images, key, force)?;
    if lines.iter().any(|l| l.starts_with("Deleted")) {
        remove_layers(eng, &[image])?;
    }
    Ok(lines)
}

/// The tags of `image` (digest-only `@` names left out).
fn names_of(eng: &Engine, image: &Image) -> Result<Vec<String>> {
    Ok(berth_image::image::list(&eng.images)?
        .into_iter()
        .find(|(i, _)| i.manifest_digest == image.manifest_digest)
        .map(|(_, n)| n.into_iter().filter(|n| !n.starts_with('@')).collect())
        .unwrap_or_default())
}

/// `key` names the stored reference `name` (`busybox` names `docker.io/library/busybox:latest`).
fn is_name_for(name: &str, key: &str) -> bool {
    key.parse::<berth_image::reference::Reference>()
        .is_ok_and(|r| r.to_string() == name)
}

/// `image prune` (`all`: every unused image, not only dangling ones): images containers
/// use are kept. Docker's lines and the bytes freed.
pub fn prune(eng: &Engine, all: bool) -> Result<(Vec<String>, u64)> {
    let before: Vec<Image> = berth_image::image::list(&eng.images)?
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    let (lines, freed) = berth_image::image::prune(&eng.images, all, &in_use(eng)?)?;
    let after: BTreeSet<String> = berth_image::image::list(&eng.images)?
        .into_iter()
        .map(|(i, _)| i.manifest_digest)
        .collect();
    let gone: Vec<Image> = before
        .into_iter()
        .filter(|i| !after.contains(&i.manifest_digest))
        .collect();
    remove_layers(eng, &gone)?;
    Ok((lines, freed))
}

/// Deletes the unpacked layers of `removed` images that no image left uses; a layer a
/// container's snapshot still stands on is refused by the snapshotter and kept.
fn remove_layers(eng: &Engine, removed: &[Image]) -> Result<()> {
    let mut kept = BTreeSet::new();
    for (i, _) in berth_image::image::list(&eng.images)? {
        kept.extend(chain_ids(i.config.rootfs().diff_ids()));
    }
    for image in removed {
        for chain in chain_ids(image.config.rootfs().diff_ids()) {
            if kept.contains(&chain) {
                continue;
            }
            match eng.snaps.remove_layer(&chain) {
                Ok(()) | Err(berth_image::snapshot::SnapshotError::LayerInUse { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_read_like_dockers() {
        let r = Conflict::Reference {
            reference: "bb".into(),
            container: "0123456789ab".into(),
            image: "ba5eba11cafe".into(),
        };
        assert_eq!(r.to_string(), "conflict: unable to remove repository reference \"bb\" (must force) - container 0123456789ab is using its referenced image ba5eba11cafe");
        let run = Conflict::InUse {
            image: "i".into(),
            container: "c".into(),
            running: true,
        };
        assert_eq!(
            run.to_string(),
            "conflict: unable to delete i (cannot be forced) - image is being used by running container c"
        );
        assert!(is_name_for("docker.io/library/busybox:latest", "busybox"));
        assert!(!is_name_for("docker.io/library/busybox:latest", "abc123"));
    }
}
