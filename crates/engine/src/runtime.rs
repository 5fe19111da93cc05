//! The OCI runtime the engine drives: berth's own, called in process, or any binary that
//! speaks runc's command line (runc, crun, `berth-runtime`), through one trait so tests can
//! swap them.
//!
//! Stdio: `create` gives the container's init the caller's fds 0-2 (the monitor points them
//! at its pipes first), or, with `console`, sends the pty master to that listening socket.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_runtime::oci_spec::runtime::{LinuxResources, Process};
use berth_runtime::state::Root;

use crate::error::{Error, Result};

/// What the engine needs of an OCI runtime.
pub trait Runtime {
    /// A name for messages and `inspect` (`berth`, or the binary's path).
    fn name(&self) -> String;
    /// `create`: returns init's pid. The caller must be single-threaded.
    fn create(&self, id: &str, bundle: &Path, console: Option<&Path>) -> Result<i32>;
    /// `start`.
    fn start(&self, id: &str) -> Result<()>;
    /// `kill` (`all`: every process of the container).
    fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()>;
    /// `delete` (`force`: kill first).
    fn delete(&self, id: &str, force: bool) -> Result<()>;
    /// `pause` (`true`) or `resume`.
    fn pause(&self, id: &str, paused: bool) -> Result<()>;
    /// `update`.
    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()>;
    /// `exec` a process, detached; returns its pid. With a terminal, the pty master goes to
    /// `console`. The caller must be single-threaded and should be a subreaper to wait.
    fn exec(&self, id: &str, process: &Process, console: Option<&Path>) -> Result<i32>;
    /// Init's pid when the runtime knows the container, `None` when it does not.
    fn pid(&self, id: &str) -> Option<i32>;
    /// Whether it makes `idmap` bind mounts (berth's own does).
    fn idmap_mounts(&self) -> bool {
        true
    }
}

/// Picks the runtime: `berth` (or empty) means in process, anything else is a binary.
pub fn open(name: &str, state_root: &Path) -> Box<dyn Runtime> {
    match name {
        "" | "berth" => Box::new(InProcess {
            root: Root::new(state_root.join("runtime")),
        }),
        bin => Box::new(Binary {
            path: PathBuf::from(bin),
            root: state_root.join(format!(
                "runtime-{}",
                Path::new(bin)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )),
        }),
    }
}

/// berth's runtime, in this process.
pub struct InProcess {
    root: Root,
}

fn rt_err(e: berth_runtime::Error) -> Error {
    Error::Runtime(e.to_string())
}

impl Runtime for InProcess {
    fn name(&self) -> String {
        "berth".into()
    }

    fn create(&self, id: &str, bundle: &Path, console: Option<&Path>) -> Result<i32> {
        let opts = berth_runtime::container::create::CreateOpts {
            id: id.into(),
            bundle: bundle.into(),
            console_socket: console.map(Path::to_path_buf),
            ..Default::default()
        };
        let rec = berth_runtime::container::create::create(&self.root, &opts).map_err(rt_err)?;
        Ok(rec.pid)
    }

    fn start(&self, id: &str) -> Result<()> {
        berth_runtime::container::start::start(&self.root, id).map_err(rt_err)?;
        Ok(())
    }

    fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()> {
        berth_runtime::container::kill(&self.root, id, sig, all).map_err(rt_err)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        match berth_runtime::container::delete::delete(&self.root, id, force) {
            Ok(_) => Ok(()),
            Err(e) if self.pid(id).is_none() => {
                // Already gone is what delete wants.
                let _ = e;
                Ok(())
            }
            Err(e) => Err(rt_err(e)),
        }
    }

    fn pause(&self, id: &str, paused: bool) -> Result<()> {
        berth_runtime::container::set_paused(&self.root, id, paused).map_err(rt_err)
    }

    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        berth_runtime::container::query::update(&self.root, id, resources).map_err(rt_err)
    }

    fn exec(&self, id: &str, process: &Process, console: Option<&Path>) -> Result<i32> {
        let opts = berth_runtime::container::exec::ExecOpts {
            id: id.into(),
            process: process.clone(),
            pid_file: None,
            console_socket: console.map(Path::to_path_buf),
            console_fd: None,
            preserve_fds: 0,
        };
        berth_runtime::container::exec::exec(&self.root, &opts).map_err(rt_err)
    }

    fn pid(&self, id: &str) -> Option<i32> {
        self.root.load(id).ok().map(|r| r.pid)
    }
}

/// A runc-compatible runtime binary.
pub struct Binary {
    path: PathBuf,
    root: PathBuf,
}

/// One verb's arguments.
type Args = Vec<OsString>;

fn args<const N: usize>(a: [&dyn AsRef<OsStr>; N]) -> Args {
    a.iter().map(|s| s.as_ref().to_os_string()).collect()
}

impl Binary {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs a verb with stdio inherited (create gives it to init); the runtime's errors go
    /// to a log file, whose last line is the error reported.
    fn run(&self, verb: Args, what: &str) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(Error::io("create", &self.root))?;
        let log = self
            .root
            .join(format!(".{what}-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let status = self
            .command()
            .arg("--log")
            .arg(&log)
            .args(verb)
            .status()
            .map_err(Error::io("run", &self.path));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        let status = status?;
        if status.success() {
            return Ok(());
        }
        let msg = text
            .lines()
            .rev()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v.get("msg").and_then(|m| m.as_str()).map(String::from))
                    .unwrap_or_else(|| l.to_string())
            })
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| status.to_string());
        Err(Error::Runtime(format!(
            "{} {what}: {}",
            self.path.display(),
            msg.trim()
        )))
    }

    fn read_pid(&self, file: &Path) -> Result<i32> {
        let text = std::fs::read_to_string(file).map_err(Error::io("read", file))?;
        let _ = std::fs::remove_file(file);
        text.trim()
            .parse()
            .map_err(|_| Error::Runtime(format!("{}: bad pid file `{text}`", self.name())))
    }
}

impl Runtime for Binary {
    /// What its `features` say (`linux.mountExtensions.idmap.enabled`, OCI runtime-spec
    /// features.md); a runtime without `features` or without the field does not (runc
    /// before 1.2 ignores the `idmap` option and mounts without it).
    fn idmap_mounts(&self) -> bool {
        let out = self.command().arg("features").output();
        out.ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
            .is_some_and(|f| f["linux"]["mountExtensions"]["idmap"]["enabled"] == true)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn create(&self, id: &str, bundle: &Path, console: Option<&Path>) -> Result<i32> {
        let pidfile = bundle.join("init.pid");
        let mut a = args([&"create", &"--bundle", &bundle, &"--pid-file", &pidfile]);
        if let Some(sock) = console {
            a.extend(args([&"--console-socket", &sock]));
        }
        a.push(id.into());
        self.run(a, "create")?;
        self.read_pid(&pidfile)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.run(args([&"start", &id]), "start")
    }

    fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()> {
        let mut a = args([&"kill"]);
        if all {
            a.push("--all".into());
        }
        a.extend(args([&id, &sig.to_string()]));
        self.run(a, "kill")
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        if self.pid(id).is_none() {
            return Ok(());
        }
        let mut a = args([&"delete"]);
        if force {
            a.push("--force".into());
        }
        a.push(id.into());
        self.run(a, "delete")
    }

    fn pause(&self, id: &str, paused: bool) -> Result<()> {
        let verb = if paused { "pause" } else { "resume" };
        self.run(args([&verb, &id]), verb)
    }

    fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(Error::io("create", &self.root))?;
        let file = self.root.join(format!("{id}.resources.json"));
        let text = serde_json::to_vec(resources).unwrap_or_default();
        std::fs::write(&file, text).map_err(Error::io("write", &file))?;
        let r = self.run(args([&"update", &"--resources", &file, &id]), "update");
        let _ = std::fs::remove_file(&file);
        r
    }

    fn exec(&self, id: &str, process: &Process, console: Option<&Path>) -> Result<i32> {
        std::fs::create_dir_all(&self.root).map_err(Error::io("create", &self.root))?;
        let tag = &crate::store::new_id()?[..12];
        let file = self.root.join(format!("{id}.exec-{tag}.json"));
        let pidfile = self.root.join(format!("{id}.exec-{tag}.pid"));
        let text = serde_json::to_vec(process).unwrap_or_default();
        std::fs::write(&file, text).map_err(Error::io("write", &file))?;
        let mut a = args([
            &"exec",
            &"--detach",
            &"--process",
            &file,
            &"--pid-file",
            &pidfile,
        ]);
        if let Some(sock) = console {
            a.extend(args([&"--console-socket", &sock]));
        }
        a.push(id.into());
        let r = self.run(a, "exec");
        let _ = std::fs::remove_file(&file);
        r?;
        self.read_pid(&pidfile)
    }

    fn pid(&self, id: &str) -> Option<i32> {
        let out = self
            .command()
            .args(["state", id])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v.get("pid").and_then(|p| p.as_i64()).map(|p| p as i32)
    }
}
