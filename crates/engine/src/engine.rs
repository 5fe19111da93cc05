//! The engine handle: where everything lives, and `create` (image + options → a container
//! with its snapshot, not yet running).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use berth_image::image::Image;
use berth_image::snapshot::Snapshotter;
use berth_image::store::Store;

use crate::config::{Container, State};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::store::Containers;

/// Where the engine keeps things and how it runs containers.
#[derive(Debug, Clone)]
pub struct Options {
    /// The store root (`--root`, `/var/lib/berth`).
    pub root: PathBuf,
    /// Runtime state, sockets (`--state`, `/run/berth`); lost at reboot by design.
    pub state_root: PathBuf,
    /// `berth` (in process) or the path of a runc-compatible binary.
    pub runtime: String,
    /// The cgroup every container's cgroup is made under (`/berth`).
    pub cgroup_parent: String,
    /// The pids limit of a container created without one (0 or less: none); see
    /// `crate::limits`.
    pub default_pids_limit: i64,
    /// The ulimits of a container created without them, by name; see `crate::limits`.
    pub default_ulimits: Vec<crate::config::Ulimit>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            root: "/var/lib/berth".into(),
            state_root: "/run/berth".into(),
            runtime: "berth".into(),
            cgroup_parent: "/berth".into(),
            default_pids_limit: crate::limits::DEFAULT_PIDS_LIMIT,
            default_ulimits: crate::limits::default_ulimits(),
        }
    }
}

/// The engine: the stores, and the runtime it drives.
pub struct Engine {
    /// Its options.
    pub opts: Options,
    /// Containers.
    pub containers: Containers,
    /// Images and blobs.
    pub images: Store,
    /// Unpacked layers and container snapshots.
    pub snaps: Snapshotter,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("opts", &self.opts).finish()
    }
}

/// What `create` is asked for besides the container's configuration.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// The container, with `config.image` naming the image; `id`, `created`, `image`,
    /// `path`/`args` are filled in by `create`.
    pub container: Container,
    /// `--name` (a random one when empty).
    pub name: String,
    /// The user gave `--entrypoint` (which resets the image's Cmd unless a command is given).
    pub entrypoint_given: bool,
}

impl Engine {
    /// Opens the stores under `opts.root` (creating them).
    pub fn open(opts: Options) -> Result<Engine> {
        std::fs::create_dir_all(&opts.state_root)
            .map_err(Error::io("create directory", &opts.state_root))?;
        let mut snaps = Snapshotter::open(opts.root.join("overlay"))?;
        // `BERTH_IDMAP=chown`: user namespaces get chowned copies, never idmapped layers.
        snaps.set_chown_only(std::env::var("BERTH_IDMAP").is_ok_and(|v| v == "chown"));
        Ok(Engine {
            containers: Containers::open(&opts.root)?,
            images: Store::open(&opts.root)?,
            snaps,
            opts,
        })
    }

    /// The runtime named by the engine's options, or by the container's own record.
    pub fn runtime_for(&self, c: &Container) -> Box<dyn Runtime> {
        let name = if c.host_config.runtime.is_empty() {
            &self.opts.runtime
        } else {
            &c.host_config.runtime
        };
        crate::runtime::open(name, &self.opts.state_root)
    }

    /// The container's `linux.cgroupsPath`: `<parent>/<id>`, the parent being its own
    /// `--cgroup-parent` or the engine's.
    pub fn cgroups_path(&self, c: &Container) -> String {
        let parent = if c.host_config.cgroup_parent.is_empty() {
            &self.opts.cgroup_parent
        } else {
            &c.host_config.cgroup_parent
        };
        format!("{}/{}", parent.trim_end_matches('/'), c.id)
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.containers.dir(id)
    }

    /// Finds an image by name or id, pulling it when it is not here (as `docker run` does).
    pub fn image(&self, name: &str, pull: bool) -> Result<Image> {
        match berth_image::image::resolve(&self.images, name) {
            Ok(i) => Ok(i),
            Err(e) if !pull => Err(e.into()),
            Err(local) => {
                let reference = berth_image::reference::Reference::from_str(name)
                    .map_err(|_| Error::from(local))?;
                eprintln!("Unable to find image '{reference}' locally");
                let opts = berth_image::registry::PullOptions::default();
                berth_image::registry::pull_unpacked(&self.images, &self.snaps, &reference, &opts)
                    .map_err(|e| Error::Runtime(format!("pull `{reference}`: {e}")))
            }
        }
    }

    /// Creates a container: image config merged under the user's, a name, a snapshot.
    /// Nothing is left behind when it fails.
    pub fn create(&self, req: CreateRequest) -> Result<Container> {
        let image = self.image(&req.container.config.image, true)?;
        let mut c = req.container;
        merge_image(&mut c, &image, req.entrypoint_given);
        let o = &self.opts;
        crate::limits::apply_defaults(&mut c.host_config, o.default_pids_limit, &o.default_ulimits);
        crate::limits::check_raisable(&c.host_config)?;
        crate::resources::validate(&c.host_config)?;
        for w in crate::resources::discard_unsupported(&mut c.host_config) {
            eprintln!("WARNING: {w}");
        }
        crate::spec::validate(&mut c.host_config)?;
        crate::userns::validate(&c.host_config)?;
        self.check_joined(&c.host_config)?;
        crate::logs::limits(&c.host_config.log_config)?;
        let image_volumes = image
            .config
            .config()
            .as_ref()
            .and_then(|ic| ic.volumes().clone())
            .unwrap_or_default();
        let anonymous = crate::volume::anonymize(&mut c, &image_volumes)?;
        crate::lifecycle::check_mounts(self, &c)?;
        crate::userns::check_runtime(self, &c)?;
        crate::network::check(self, &c)?;
        let argv = c.argv();
        if argv.is_empty() {
            return Err(Error::invalid(
                "command",
                &c.config.image,
                "no command specified (the image has no Cmd or Entrypoint)",
            ));
        }
        if c.host_config.runtime.is_empty() {
            // Recorded, so later commands drive it with the runtime that made it.
            c.host_config.runtime = self.opts.runtime.clone();
        }
        c.path = argv[0].clone();
        c.args = argv[1..].to_vec();
        c.id = crate::store::new_id()?;
        c.image = image.id();
        c.image_manifest = image.manifest_digest.clone();
        c.created = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        // Held until the config (which records the range) is written.
        let allocation = crate::userns::allocate(self, &mut c)?;
        // The directory before the name: a create killed at any later point leaves a
        // container that `ps -a` lists as dead and `rm` removes, with its name.
        let dir = self.dir(&c.id);
        std::fs::create_dir(&dir).map_err(Error::io("create directory", &dir))?;
        let name = self.claim_name(&req.name, &c.id).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })?;
        c.name = format!("/{name}");
        let undo = Undo {
            eng: self,
            id: c.id.clone(),
            name,
            armed: true,
        };
        self.containers.write_config(&c)?;
        drop(allocation);
        berth_image::image::create_rootfs(&self.images, &self.snaps, &image, &c.id)?;
        if let Some(map) = crate::userns::mapping(&c)? {
            self.snaps.set_idmap(&c.id, &map)?;
        }
        crate::volume::create_for(self, &c, &anonymous)?;
        self.containers.write_state(&c.id, &State::created())?;
        undo.disarm();
        Ok(c)
    }

    /// `--pid/--ipc/--network container:X`: X must exist (it must run only at start).
    fn check_joined(&self, h: &crate::config::HostConfig) -> Result<()> {
        for (flag, mode) in [
            ("--pid", &h.pid_mode),
            ("--ipc", &h.ipc_mode),
            ("--network", &h.network_mode),
        ] {
            if let Some(other) = mode.strip_prefix("container:") {
                self.containers.resolve(other).map_err(|_| {
                    Error::invalid(flag, mode, format!("no such container: {other}"))
                })?;
            }
        }
        Ok(())
    }

    fn claim_name(&self, name: &str, id: &str) -> Result<String> {
        if !name.is_empty() {
            let name = name.trim_start_matches('/');
            if !crate::names::valid(name) {
                return Err(Error::invalid(
                    "--name",
                    name,
                    "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                ));
            }
            self.containers.reserve_name(name, id)?;
            return Ok(name.to_string());
        }
        let seed = u32::from_str_radix(&id[..8], 16).unwrap_or(0);
        for attempt in 0..10 {
            let seed = seed.rotate_left(attempt * 7) ^ attempt.wrapping_mul(0x9e37_79b9);
            let n = crate::names::random(seed, attempt);
            if self.containers.reserve_name(&n, id).is_ok() {
                return Ok(n);
            }
        }
        let n = format!("berth_{}", &id[..12]);
        self.containers.reserve_name(&n, id)?;
        Ok(n)
    }

    /// Unmounts what container `id` has mounted on the host while it runs: its rootfs
    /// and a shareable /dev/shm.
    pub fn unmount(&self, id: &str) -> Result<()> {
        crate::ipc::release_shm(self, id);
        Ok(self.snaps.unmount(id)?)
    }

    /// Removes everything of container `id` from the store: snapshot, directory, name.
    /// The caller has made sure it no longer runs.
    pub fn purge(&self, id: &str, name: &str) -> Result<()> {
        self.purge_with(id, name, true)
    }

    /// [`Engine::purge`]; `unplug` false leaves the host veths to the caller (the
    /// monitor deletes them after telling the exit: [`crate::network::unplug_later`]).
    pub(crate) fn purge_with(&self, id: &str, name: &str, unplug: bool) -> Result<()> {
        // `--rm` takes the container's anonymous volumes along, as Docker's does.
        let auto_removed = self
            .containers
            .config(id)
            .ok()
            .filter(|c| c.host_config.auto_remove);
        let _ = self.unmount(id);
        match self.snaps.remove(id) {
            Ok(()) => {}
            Err(e)
                if !self
                    .snaps
                    .upper_dir(id)
                    .map(|p| p.exists())
                    .unwrap_or(false) =>
            {
                let _ = e;
            }
            Err(e) => return Err(e.into()),
        }
        if unplug {
            crate::network::disconnect(self, id);
        }
        crate::network::release(self, id)?;
        let dir = self.dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(Error::io("remove", &dir))?;
        }
        if name.is_empty() {
            // A dead container (its config never written) may still hold a name.
            self.containers.release_names_of(id);
        } else {
            self.containers
                .release_name(name.trim_start_matches('/'), id);
        }
        if let Some(c) = auto_removed {
            crate::volume::remove_anonymous(self, &c)?;
        }
        Ok(())
    }

    /// The path of a runtime console socket for container `id` (short, in the state root).
    pub fn console_path(&self, id: &str, what: &str) -> PathBuf {
        self.opts
            .state_root
            .join(format!("{}-{what}.sock", &id[..12.min(id.len())]))
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.opts.root
    }
}

/// Undoes a half-made `create`.
struct Undo<'a> {
    eng: &'a Engine,
    id: String,
    name: String,
    armed: bool,
}

impl Undo<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.eng.purge(&self.id, &self.name);
        }
    }
}

/// The image's configuration under the user's: env (the user's win), cmd/entrypoint,
/// working dir, user, labels, exposed ports, stop signal.
pub fn merge_image(c: &mut Container, image: &Image, entrypoint_given: bool) {
    let Some(ic) = image.config.config() else {
        return;
    };
    let mut env = ic.env().clone().unwrap_or_default();
    for e in &c.config.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    c.config.env = env;
    if !entrypoint_given {
        if c.config.entrypoint.is_none() {
            c.config.entrypoint = ic.entrypoint().clone();
        }
        if c.config.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.config.cmd = ic.cmd().clone();
        }
    }
    if c.config.working_dir.is_empty() {
        c.config.working_dir = ic.working_dir().clone().unwrap_or_default();
    }
    if c.config.user.is_empty() {
        c.config.user = ic.user().clone().unwrap_or_default();
    }
    for (k, v) in ic.labels().clone().unwrap_or_default() {
        c.config.labels.entry(k).or_insert(v);
    }
    for p in ic.exposed_ports().clone().unwrap_or_default() {
        c.config
            .exposed_ports
            .entry(p)
            .or_insert(serde_json::json!({}));
    }
    if c.config.stop_signal.is_none() {
        c.config.stop_signal = ic.stop_signal().clone();
    }
}
