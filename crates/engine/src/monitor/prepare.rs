//! What `start` does before the monitor runs: mount the rootfs, write the container's
//! hostname/hosts/resolv.conf, resolve user, shared namespaces and mounts, write the spec.

use std::path::{Path, PathBuf};

use crate::config::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec::{Bind, Inputs, Joined};

/// Mounts `c`'s rootfs and writes `bundle/config.json`; returns the bundle directory.
pub fn prepare(eng: &Engine, c: &Container) -> Result<PathBuf> {
    let dir = eng.dir(&c.id);
    let merged = eng.snaps.mount(&c.id)?;
    let result = (|| {
        let ep = crate::network::attach(eng, c)?;
        let extra = crate::connect::attach_extras(eng, c)?;
        write_etc(&dir, c, ep.as_ref(), &extra)?;
        let etc = ["hostname", "hosts", "resolv.conf"].map(|f| dir.join(f));
        crate::userns::chown_files(c, &etc)?;
        let ids = crate::user::resolve(&merged, &c.config.user)?;
        let joined = Joined {
            pid: shared(eng, &c.host_config.pid_mode, "--pid")?,
            ipc: shared(eng, &c.host_config.ipc_mode, "--ipc")?,
            net: shared(eng, &c.host_config.network_mode, "--network")?,
        };
        let init = if c.host_config.init.unwrap_or(false) {
            Some(init_binary()?)
        } else {
            None
        };
        let binds = binds(eng, c, true)?;
        let shm = crate::ipc::prepare_shm(eng, c, crate::spec::shm_size(&c.host_config))?;
        crate::volume::populate(eng, c, &merged)?;
        let inputs = Inputs {
            rootfs: &merged,
            dir: &dir,
            ids: &ids,
            cgroups_path: eng.cgroups_path(c),
            joined,
            init,
            // Only `--privileged` and `--cap-add ALL` grant the host's set.
            host_caps: if c.host_config.privileged
                || c.host_config
                    .cap_add
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case("all"))
            {
                crate::spec::host_caps()
            } else {
                vec![]
            },
            binds,
            shm,
        };
        let spec = crate::spec::build(c, &inputs)?;
        let bundle = dir.join("bundle");
        std::fs::create_dir_all(&bundle).map_err(Error::io("create directory", &bundle))?;
        let text = serde_json::to_vec(&spec).map_err(|e| Error::Runtime(e.to_string()))?;
        crate::store::write_regenerated(&bundle.join("config.json"), &text)?;
        Ok(bundle)
    })();
    if result.is_err() {
        crate::network::unpublish(eng, &c.id);
        let _ = eng.unmount(&c.id);
    }
    result
}

/// The built-in init for `--init`: `berth-init` beside this binary, or `$BERTH_INIT`.
fn init_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_INIT") {
        return Ok(PathBuf::from(p));
    }
    let exe = berth_runtime::seal::original_exe().map_err(Error::io("find", "/proc/self/exe"))?;
    let p = exe.with_file_name("berth-init");
    if p.exists() {
        Ok(p)
    } else {
        Err(Error::invalid(
            "--init",
            "true",
            format!("the init binary `{}` is missing", p.display()),
        ))
    }
}

/// For `container:NAME` modes: NAME's init pid (it must run).
fn shared(eng: &Engine, mode: &str, flag: &'static str) -> Result<Option<i32>> {
    let Some(other) = mode.strip_prefix("container:") else {
        return Ok(None);
    };
    let id = eng
        .containers
        .resolve(other)
        .map_err(|_| Error::invalid(flag, mode, format!("no such container: {other}")))?;
    let st = crate::lifecycle::status(eng, &id)?;
    if !st.running || st.pid <= 0 {
        return Err(Error::invalid(
            flag,
            mode,
            format!("container {other} is not running"),
        ));
    }
    Ok(Some(st.pid))
}

/// The container's `/etc/hosts`: localhost, its address on each of its networks (as
/// Docker's, one line each), then `--add-host`s.
pub(crate) fn hosts_text(
    c: &Container,
    ep: Option<&berth_network::Endpoint>,
    extra: &[berth_network::Endpoint],
) -> String {
    let hostname = crate::spec::hostname(c);
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for ep in ep.into_iter().chain(extra) {
        hosts.push_str(&format!("{}\t{hostname}\n", ep.ip));
        if !ep.ipv6.is_empty() {
            hosts.push_str(&format!("{}\t{hostname}\n", ep.ipv6));
        }
    }
    for h in &c.host_config.extra_hosts {
        if let Some((name, ip)) = h.split_once(':') {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    hosts
}

fn write_etc(
    dir: &Path,
    c: &Container,
    ep: Option<&berth_network::Endpoint>,
    extra: &[berth_network::Endpoint],
) -> Result<()> {
    let hostname = crate::spec::hostname(c);
    let hosts = hosts_text(c, ep, extra);
    let resolv = resolv_text(c, ep, extra);
    for (name, text) in [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ] {
        crate::store::write_regenerated(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

/// The container's `/etc/resolv.conf` with `ep` its first network and `extra` its others.
pub(crate) fn resolv_text(
    c: &Container,
    ep: Option<&berth_network::Endpoint>,
    extra: &[berth_network::Endpoint],
) -> String {
    // On a user network the network's responder at the gateway resolves container names
    // (and forwards the rest); the default network keeps the host's servers, as Docker's.
    // A container on the default network connected to user networks too asks the first
    // of those (its responder knows the names of all the container's networks).
    // `--dns` there is the container's upstream: the responder forwards the names it does
    // not know to those servers for this container (its name record carries them), so
    // container names still resolve, as with Docker's embedded resolver.
    let user = ep
        .into_iter()
        .chain(extra)
        .find(|e| e.network != berth_network::engine::DEFAULT);
    let resolver = match user {
        Some(ep) => vec![ep.gateway.clone()],
        None => c.host_config.dns.clone(),
    };
    resolv_conf(&resolver)
}

/// The host's resolv.conf without loopback name servers (unreachable from a container's
/// own network namespace), or `--dns` servers.
fn resolv_conf(dns: &[String]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    for l in host.lines() {
        let ns = l.strip_prefix("nameserver").map(str::trim);
        match ns {
            Some(_) if !dns.is_empty() => {}
            Some(a) if a.starts_with("127.") || a == "::1" => {}
            _ => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    for d in dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    out
}

/// `-v` and `--mount` binds resolved to host paths; named volumes are made when `create`.
pub fn binds(eng: &Engine, c: &Container, create: bool) -> Result<Vec<Bind>> {
    let mut out = vec![];
    for b in &c.host_config.binds {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => return Err(Error::invalid("-v", b, "expected SOURCE:TARGET[:OPTIONS]")),
        };
        if !dst.starts_with('/') {
            return Err(Error::invalid(
                "-v",
                b,
                "the target must be an absolute path",
            ));
        }
        let mut ro = false;
        let mut idmap = false;
        let mut prop = "rprivate".to_string();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => ro = true,
                "rw" | "z" | "Z" | "nocopy" => {}
                "idmap" => idmap = true,
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                    prop = o.to_string()
                }
                _ => return Err(Error::invalid("-v", b, format!("unknown option `{o}`"))),
            }
        }
        let source = source_path(eng, src, b, "-v", create)?;
        out.push(Bind {
            // Named volumes are berth's own: idmapped, as podman's `:idmap`.
            idmap: idmap || !src.starts_with('/'),
            source,
            target: dst.to_string(),
            read_only: ro,
            propagation: prop,
        });
    }
    for m in c.host_config.mounts.iter().filter(|m| m.kind != "tmpfs") {
        let source = source_path(eng, &m.source, &m.source, "--mount", create)?;
        out.push(Bind {
            idmap: m.kind == "volume",
            source,
            target: m.target.clone(),
            read_only: m.read_only,
            propagation: if m.bind_propagation.is_empty() {
                "rprivate".into()
            } else {
                m.bind_propagation.clone()
            },
        });
    }
    Ok(out)
}

fn source_path(
    eng: &Engine,
    src: &str,
    whole: &str,
    flag: &'static str,
    create: bool,
) -> Result<PathBuf> {
    if src.starts_with('/') {
        if !Path::new(src).exists() {
            return Err(Error::invalid(
                flag,
                whole,
                format!("bind source path does not exist: {src}"),
            ));
        }
        return Ok(PathBuf::from(src));
    }
    if !crate::names::valid(src) {
        return Err(Error::invalid(
            flag,
            whole,
            "a volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (or give an absolute path)",
        ));
    }
    let vols = crate::volume::Volumes::open(eng.root());
    if create {
        return Ok(vols.ensure(src)?);
    }
    Ok(vols.data_dir(src))
}
