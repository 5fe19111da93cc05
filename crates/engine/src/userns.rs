//! User namespaces per container: `--userns=host|auto|auto:size=N`, `--uidmap`/`--gidmap`
//! (podman's spelling, `CONTAINER:HOST:SIZE`, repeatable).
//!
//! - `auto` takes a free range (65536 ids unless `size=N`) of the subordinate ids that
//!   `/etc/subuid` and `/etc/subgid` give the user `berth` (`BERTH_SUBUID_FILE`,
//!   `BERTH_SUBGID_FILE` and `BERTH_USERNS_USER` name others). When the user has no entry,
//!   one is appended, as Docker does for `dockremap` with `--userns-remap=default`: the
//!   2^26 ids (1024 containers of 65536) after the highest range in the file, at least
//!   100000. Only the entry is written: no account is made in /etc/passwd, since berth runs
//!   as root and writes the maps itself (newuidmap, which needs the account, is not used).
//! - A range is never shared by two containers: the ranges in use are read from every
//!   container's stored config under one lock (`<root>/userns.lock`), held until the new
//!   container's config is written. The config is the truth, so a command killed at any
//!   point leaks nothing, and `rm` releases a range by removing the config.
//! - The rootfs gets the owners through idmapped layers or a chowned copy
//!   (berth_image::snapshot::IdMapping); named volumes are idmapped (files the container
//!   makes there as root are owned by root on the host, as podman's `:idmap`); host
//!   directories (`-v /path:/ctr`) only with the `idmap` option, as podman: without it the
//!   container's root is the mapped host uid there and gets no more than that uid would.

use std::fs;
use std::path::{Path, PathBuf};

use berth_image::snapshot::{IdMapping, IdRange};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{Container, HostConfig};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// The ranges `auto` takes by default.
pub const AUTO_SIZE: u32 = 65536;
/// The ids an entry made for the user holds: 1024 containers of 65536.
const NEW_ENTRY_SIZE: u64 = 1 << 26;
/// Where a made entry starts at the lowest (shadow's SUB_UID_MIN).
const NEW_ENTRY_MIN: u64 = 100_000;

/// `.HostConfig.IDMappings`: the maps as podman shows them, `CONTAINER:HOST:SIZE`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct IdMappings {
    /// uid ranges.
    pub uid_map: Vec<String>,
    /// gid ranges.
    pub gid_map: Vec<String>,
}

/// What `--userns` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Host,
    Auto(u32),
    Maps,
}

fn mode(h: &HostConfig) -> Result<Mode> {
    let given = !h.id_mappings.uid_map.is_empty() || !h.id_mappings.gid_map.is_empty();
    let m = h.userns_mode.as_str();
    let bad = |why: &str| Error::invalid("--userns", m, why.to_string());
    let mode = match m {
        "" | "host" if !given => Mode::Host,
        "" | "private" if given => Mode::Maps,
        "host" => return Err(bad("conflicts with --uidmap/--gidmap")),
        "auto" => Mode::Auto(AUTO_SIZE),
        _ => match m.strip_prefix("auto:") {
            Some(opts) => Mode::Auto(auto_size(m, opts)?),
            None => return Err(bad("must be host, auto or auto:size=N")),
        },
    };
    if given && matches!(mode, Mode::Auto(_)) {
        return Err(bad("conflicts with --uidmap/--gidmap"));
    }
    Ok(mode)
}

fn auto_size(whole: &str, opts: &str) -> Result<u32> {
    let mut size = AUTO_SIZE;
    for o in opts.split(',') {
        match o.split_once('=') {
            Some(("size", n)) => {
                size = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::invalid("--userns", whole, "size must be a positive number")
                })?
            }
            _ => {
                return Err(Error::invalid(
                    "--userns",
                    whole,
                    format!("unknown auto option `{o}` (want size=N)"),
                ))
            }
        }
    }
    Ok(size)
}

/// Parses `CONTAINER:HOST:SIZE` lines of `flag` and checks that they overlap neither
/// inside nor outside.
fn parse_maps(flag: &'static str, maps: &[String]) -> Result<Vec<IdRange>> {
    let mut out: Vec<IdRange> = vec![];
    for m in maps {
        let n: Vec<Option<u32>> = m.split(':').map(|p| p.parse().ok()).collect();
        let r = match n.as_slice() {
            [Some(c), Some(h), Some(s)] if *s > 0 => IdRange {
                container: *c,
                host: *h,
                size: *s,
            },
            _ => {
                return Err(Error::invalid(
                    flag,
                    m,
                    "want CONTAINER:HOST:SIZE, three numbers, SIZE above 0",
                ))
            }
        };
        for (start, what) in [(r.container, "container"), (r.host, "host")] {
            if u64::from(start) + u64::from(r.size) > 1 << 32 {
                return Err(Error::invalid(flag, m, format!("the {what} ids pass 2^32")));
            }
        }
        if let Some(o) = out.iter().find(|o| {
            ranges_meet(o.container, o.size, r.container, r.size)
                || ranges_meet(o.host, o.size, r.host, r.size)
        }) {
            return Err(Error::invalid(
                flag,
                m,
                format!(
                    "overlaps {}:{}:{} of the same map",
                    o.container, o.host, o.size
                ),
            ));
        }
        out.push(r);
    }
    Ok(out)
}

fn to_container_root(ranges: &[IdRange]) -> Option<u32> {
    ranges.iter().find(|r| r.container == 0).map(|r| r.host)
}

fn ranges_meet(a: u32, an: u32, b: u32, bn: u32) -> bool {
    u64::from(a) < u64::from(b) + u64::from(bn) && u64::from(b) < u64::from(a) + u64::from(an)
}

/// Checks `--userns`, `--uidmap` and `--gidmap` (before anything is created).
pub fn validate(h: &HostConfig) -> Result<()> {
    if mode(h)? == Mode::Host {
        let idmapped = |b: &&String| {
            b.split(':')
                .nth(2)
                .is_some_and(|o| o.split(',').any(|o| o == "idmap"))
        };
        if let Some(b) = h.binds.iter().find(idmapped) {
            return Err(Error::invalid(
                "-v",
                b,
                "idmap needs a user namespace (--userns=auto or --uidmap)",
            ));
        }
    } else {
        // The container's procfs and mqueue mounts need namespaces its own user namespace
        // owns; another container's belong to another one.
        for (flag, m) in [("--pid", &h.pid_mode), ("--ipc", &h.ipc_mode)] {
            if m.starts_with("container:") {
                return Err(Error::invalid(
                    flag,
                    m,
                    "cannot be combined with a user namespace (--userns=host allows it)",
                ));
            }
        }
    }
    let m = &h.id_mappings;
    let uid = parse_maps("--uidmap", &m.uid_map)?;
    let gid = parse_maps("--gidmap", &m.gid_map)?;
    // The runtime becomes the namespace's root before it takes the process's ids.
    for (flag, given, ranges) in [
        ("--uidmap", &m.uid_map, &uid),
        ("--gidmap", &m.gid_map, &gid),
    ] {
        if !ranges.is_empty() && to_container_root(ranges).is_none() {
            return Err(Error::invalid(
                flag,
                given.join(" "),
                "container id 0 must be mapped (the runtime starts as the namespace's root)",
            ));
        }
    }
    Ok(())
}

/// With a user namespace and idmapped binds (named volumes, `:idmap`), the container's
/// runtime must make idmapped mounts; one that does not would mount them plain.
pub fn check_runtime(eng: &Engine, c: &Container) -> Result<()> {
    let h = &c.host_config;
    if mode(h)? == Mode::Host {
        return Ok(());
    }
    let binds = crate::monitor::binds(eng, c, false)?;
    if !binds.iter().any(|b| b.idmap) {
        return Ok(());
    }
    let rt = eng.runtime_for(c);
    if rt.idmap_mounts() {
        return Ok(());
    }
    Err(Error::invalid(
        "--runtime",
        rt.name(),
        "makes no idmapped mounts (its `features` lack linux.mountExtensions.idmap), which \
         volumes in a user namespace need",
    ))
}

/// The container's id maps (`None`: it shares the host's user namespace).
pub fn mapping(c: &Container) -> Result<Option<IdMapping>> {
    let m = &c.host_config.id_mappings;
    if m.uid_map.is_empty() {
        return Ok(None);
    }
    let uid = parse_maps("--uidmap", &m.uid_map)?;
    let gid = if m.gid_map.is_empty() {
        uid.clone()
    } else {
        parse_maps("--gidmap", &m.gid_map)?
    };
    Ok(Some(IdMapping { uid, gid }))
}

/// Holds the allocation lock until the container's config is written.
pub struct Allocation(#[allow(dead_code)] Option<nix::fcntl::Flock<fs::File>>);

/// Resolves `c`'s user namespace: `auto` gets a free range written into its
/// `IDMappings`; `--uidmap` alone also serves as `--gidmap`. Hold the result until `c`'s
/// config is stored.
pub fn allocate(eng: &Engine, c: &mut Container) -> Result<Allocation> {
    let h = &mut c.host_config;
    match mode(h)? {
        Mode::Host => Ok(Allocation(None)),
        Mode::Maps => {
            h.userns_mode = "private".into();
            if h.id_mappings.gid_map.is_empty() {
                h.id_mappings.gid_map = h.id_mappings.uid_map.clone();
            }
            Ok(Allocation(None))
        }
        Mode::Auto(size) => {
            let lock = lock(eng)?;
            let used = in_use(eng)?;
            let uid = pick(&subids(Kind::Uid)?, &used.0, size, &h.userns_mode)?;
            let gid = pick(&subids(Kind::Gid)?, &used.1, size, &h.userns_mode)?;
            h.id_mappings.uid_map = vec![format!("0:{uid}:{size}")];
            h.id_mappings.gid_map = vec![format!("0:{gid}:{size}")];
            Ok(Allocation(Some(lock)))
        }
    }
}

fn lock(eng: &Engine) -> Result<nix::fcntl::Flock<fs::File>> {
    let path = eng.root().join("userns.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::io("lock", &path)(e.into()))
}

/// Host uid and gid ranges of every stored container (start, size).
type Used = (Vec<(u64, u64)>, Vec<(u64, u64)>);

fn in_use(eng: &Engine) -> Result<Used> {
    let mut used: Used = (vec![], vec![]);
    for id in eng.containers.ids()? {
        let Ok(c) = eng.containers.config(&id) else {
            continue;
        };
        if let Ok(Some(m)) = mapping(&c) {
            used.0
                .extend(m.uid.iter().map(|r| (r.host.into(), r.size.into())));
            used.1
                .extend(m.gid.iter().map(|r| (r.host.into(), r.size.into())));
        }
    }
    Ok(used)
}

/// The lowest `size` ids of `ranges` that meet nothing in `used` (first fit).
fn pick(ranges: &[(u64, u64)], used: &[(u64, u64)], size: u32, asked: &str) -> Result<u64> {
    let size = u64::from(size);
    let total: u64 = ranges.iter().map(|r| r.1).sum();
    if ranges.iter().all(|r| r.1 < size) {
        let (path, user) = (subid_file(Kind::Uid), subid_user());
        return Err(Error::invalid(
            "--userns",
            asked,
            format!(
                "{size} ids exceed the subordinate ranges of user {user} ({total} ids in {})",
                path.display()
            ),
        ));
    }
    for &(start, count) in ranges {
        let mut s = start;
        while s + size <= start + count {
            if let Some(u) = used.iter().find(|u| s < u.0 + u.1 && u.0 < s + size) {
                s = u.0 + u.1;
                continue;
            }
            return Ok(s);
        }
    }
    Err(Error::invalid(
        "--userns",
        asked,
        format!(
            "no free range of {size} ids left for user {} (other containers hold the rest)",
            subid_user()
        ),
    ))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Uid,
    Gid,
}

fn subid_file(k: Kind) -> PathBuf {
    let (var, default) = match k {
        Kind::Uid => ("BERTH_SUBUID_FILE", "/etc/subuid"),
        Kind::Gid => ("BERTH_SUBGID_FILE", "/etc/subgid"),
    };
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| default.into())
}

fn subid_user() -> String {
    std::env::var("BERTH_USERNS_USER").unwrap_or_else(|_| "berth".into())
}

/// The user's ranges in the subordinate id file, appending an entry when it has none.
/// Called under the allocation lock.
fn subids(k: Kind) -> Result<Vec<(u64, u64)>> {
    let path = subid_file(k);
    let user = subid_user();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    let all = parse_subids(&text);
    let mine: Vec<(u64, u64)> = all
        .iter()
        .filter(|(n, _, _)| *n == user)
        .map(|(_, s, c)| (*s, *c))
        .collect();
    if !mine.is_empty() {
        return Ok(mine);
    }
    let start = all
        .iter()
        .map(|(_, s, c)| s + c)
        .max()
        .unwrap_or(0)
        .max(NEW_ENTRY_MIN)
        .next_multiple_of(u64::from(AUTO_SIZE));
    let mut new = text.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&format!("{user}:{start}:{NEW_ENTRY_SIZE}\n"));
    crate::store::write_file(&path, new.as_bytes())?;
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(Error::io("chmod", &path))?;
    Ok(vec![(start, NEW_ENTRY_SIZE)])
}

/// `name:start:count` lines (comments and malformed lines skipped).
fn parse_subids(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut p = l.trim().split(':');
            let (n, s, c) = (p.next()?, p.next()?, p.next()?);
            Some((n.to_string(), s.parse().ok()?, c.parse().ok()?))
        })
        .collect()
}

/// Adds the user namespace and its maps to `spec`. Where the container shares a namespace
/// that its user namespace does not own, the filesystem showing it is bound from the host
/// instead of mounted (the kernel mounts sysfs, procfs and mqueue only for the owner of the
/// network, pid and ipc namespace): `/sys` for another container's network, `/proc` for
/// the host's pid namespace, `/dev/mqueue` for the host's ipc namespace (left out where
/// the host mounts none). As runc, a container in another's network namespace sees the
/// host's `/sys`.
pub fn apply(c: &Container, spec: &mut Value) -> Result<()> {
    let Some(m) = mapping(c)? else {
        return Ok(());
    };
    let oci = |r: &[IdRange]| -> Value {
        r.iter()
            .map(|r| json!({"containerID": r.container, "hostID": r.host, "size": r.size}))
            .collect()
    };
    let linux = &mut spec["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = oci(&m.uid);
    linux["gidMappings"] = oci(&m.gid);
    let h = &c.host_config;
    let binds = [
        ("/sys", h.network_mode.starts_with("container:"), "ro"),
        ("/proc", h.pid_mode == "host", "rw"),
        ("/dev/mqueue", h.ipc_mode == "host", "rw"),
    ];
    let host_mqueue = Path::new("/dev/mqueue").is_dir();
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        mounts.retain(|m| host_mqueue || h.ipc_mode != "host" || m["destination"] != "/dev/mqueue");
    }
    let mounts = spec["mounts"].as_array_mut();
    for mt in mounts.into_iter().flatten() {
        let dest = mt["destination"].as_str().unwrap_or("").to_string();
        if let Some((d, _, rw)) = binds.iter().find(|(d, on, _)| *on && *d == dest) {
            *mt = json!({"destination": d, "type": "bind", "source": d,
                "options": ["rbind", "nosuid", "noexec", "nodev", rw]});
        }
    }
    Ok(())
}

/// Gives the files berth writes for the container (`/etc/hosts` ...) to its root.
pub fn chown_files(c: &Container, files: &[PathBuf]) -> Result<()> {
    let Some(m) = mapping(c)? else {
        return Ok(());
    };
    let (uid, gid) = (m.host_uid(0), m.host_gid(0));
    for f in files.iter().filter(|f| f.exists()) {
        std::os::unix::fs::lchown(f, uid, gid).map_err(Error::io("chown", f))?;
    }
    Ok(())
}

/// A newly filled volume, copied from the rootfs (which shows host ids), gets the
/// container's own ids back: the volume is idmapped into the container.
pub fn unshift_tree(c: &Container, dir: &Path) -> std::io::Result<()> {
    let Ok(Some(m)) = mapping(c) else {
        return Ok(());
    };
    let back = |ranges: &[IdRange], id: u32| {
        ranges
            .iter()
            .find(|r| id >= r.host && id - r.host < r.size)
            .map_or(id, |r| r.container + (id - r.host))
    };
    walk(dir, &mut |p, md| {
        use std::os::unix::fs::MetadataExt;
        let mode = md.mode();
        std::os::unix::fs::lchown(
            p,
            Some(back(&m.uid, md.uid())),
            Some(back(&m.gid, md.gid())),
        )?;
        if !md.file_type().is_symlink() && mode & 0o6000 != 0 {
            fs::set_permissions(
                p,
                std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777),
            )?;
        }
        Ok(())
    })
}

fn walk(
    p: &Path,
    f: &mut dyn FnMut(&Path, &fs::Metadata) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let md = fs::symlink_metadata(p)?;
    if md.is_dir() {
        for e in fs::read_dir(p)? {
            walk(&e?.path(), f)?;
        }
    }
    f(p, &md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(mode: &str, uid: &[&str], gid: &[&str]) -> HostConfig {
        HostConfig {
            userns_mode: mode.into(),
            id_mappings: IdMappings {
                uid_map: uid.iter().map(|s| s.to_string()).collect(),
                gid_map: gid.iter().map(|s| s.to_string()).collect(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn modes_and_maps() {
        assert_eq!(mode(&h("", &[], &[])).unwrap(), Mode::Host);
        assert_eq!(mode(&h("auto", &[], &[])).unwrap(), Mode::Auto(65536));
        assert_eq!(
            mode(&h("auto:size=1000", &[], &[])).unwrap(),
            Mode::Auto(1000)
        );
        assert_eq!(mode(&h("", &["0:1:2"], &[])).unwrap(), Mode::Maps);
        for bad in ["nope", "auto:size=x", "auto:size=0", "auto:foo=1"] {
            let e = mode(&h(bad, &[], &[])).unwrap_err().to_string();
            assert!(e.contains("--userns") && e.contains(bad), "{e}");
        }
        assert!(mode(&h("auto", &["0:1:2"], &[])).is_err());
        assert!(mode(&h("host", &["0:1:2"], &[])).is_err());
        for bad in ["0:x:1", "0:1", "0:1:0", "1:2:3:4", "0:4294967295:2"] {
            let e = validate(&h("", &[bad], &[])).unwrap_err().to_string();
            assert!(e.contains("--uidmap") && e.contains(bad), "{e}");
        }
        let e = validate(&h("", &["0:100000:10", "5:200000:10"], &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps 0:100000:10"), "{e}");
        let e = validate(&h("", &["0:100000:10", "20:100005:10"], &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps"), "{e}");
        assert!(validate(&h("", &["0:100000:10", "10:100010:10"], &[])).is_ok());
        let e = validate(&h("", &["1:100000:10"], &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--uidmap `1:100000:10`") && e.contains("id 0"),
            "{e}"
        );
        assert!(validate(&h("", &["0:1:1"], &["5:1:1"])).is_err());
    }

    #[test]
    fn pick_skips_used_ranges() {
        let r = [(100_000, 65536 * 3)];
        assert_eq!(pick(&r, &[], 65536, "auto").unwrap(), 100_000);
        let used = [(100_000, 65536), (100_000 + 65536 + 5, 1)];
        assert_eq!(pick(&r, &used, 65536, "auto").unwrap(), 100_000 + 65536 + 6);
        let full = [(100_000, 65536 * 3)];
        let e = pick(&r, &full, 65536, "auto").unwrap_err().to_string();
        assert!(e.contains("no free range"), "{e}");
        let e = pick(&r, &[], 65536 * 4, "auto:size=262144")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceed"), "{e}");
    }

    #[test]
    fn subid_lines_parse() {
        let p = parse_subids("a:100000:65536\n# x\nbad\nb:1:2:3\n");
        assert_eq!(p, vec![("a".into(), 100000, 65536), ("b".into(), 1, 2)]);
    }
}
