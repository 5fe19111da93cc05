//! `system check` of the networks ([`berth_network::check`]) with the store's containers
//! as the judge of which records are still wanted: a container runs while its state says
//! so (corrected for a dead monitor, as `ps` shows it), judged under its lock.

use berth_network::check::{Finding, Liveness, Owners};

use crate::engine::Engine;
use crate::error::{Error, Result};

struct StoreOwners<'a>(&'a Engine);

impl Owners for StoreOwners<'_> {
    fn ids(&self) -> Vec<String> {
        self.0.containers.ids().unwrap_or_default()
    }

    fn judge(
        &self,
        id: &str,
        f: &mut dyn FnMut(Liveness) -> berth_network::Result<()>,
    ) -> berth_network::Result<()> {
        let eng = self.0;
        if !crate::store::is_id(id) || !eng.dir(id).is_dir() {
            return f(Liveness::Gone);
        }
        let _lock = match eng.containers.lock(id) {
            Ok(l) => l,
            Err(Error::NoSuchContainer(_)) => return f(Liveness::Gone),
            // Unsure: leave its records alone.
            Err(_) => return f(Liveness::Running),
        };
        if !eng.dir(id).is_dir() {
            return f(Liveness::Gone);
        }
        let live = match crate::lifecycle::status(eng, id) {
            Ok(st) if st.running || st.restarting || st.paused => Liveness::Running,
            Ok(_) => Liveness::Stopped,
            Err(_) => Liveness::Running,
        };
        f(live)
    }
}

/// Checks the networks; with `repair`, fixes what is found.
pub fn check(eng: &Engine, repair: bool) -> Result<Vec<Finding>> {
    Ok(eng.networks()?.check_store(&StoreOwners(eng), repair)?)
}
