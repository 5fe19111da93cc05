//! `--pids-limit` and `--ulimit`, and the defaults a container gets without them.
//!
//! Docker sets neither by default (dockerd has `--default-ulimit` and
//! `--default-pids-limit` for that). berth has both set, because a daemonless engine has
//! no daemon config where an administrator would add them, and a container should not be
//! able to take the whole host down by accident:
//! - pids: [`DEFAULT_PIDS_LIMIT`] (4096) per container, where the host has the pids
//!   controller. A fork bomb stops there instead of
//!   at the host's `kernel.pid_max` (32768 on many hosts, this one included), while a
//!   parallel build (`make -j` with compilers and shells per job) stays far below it.
//!   Podman ships 2048; 4096 leaves room for a container running many worker processes.
//! - ulimits: `nofile=1024:524288`: soft 1024 keeps programs that still use select(2)
//!   (whose fd_set holds 1024 descriptors) safe, and the hard limit lets a server raise
//!   its own soft limit far enough. These are systemd's defaults since v240, which
//!   containerd 2 and Docker 25+ pass on since they dropped `LimitNOFILE=infinity`
//!   (Docker's older 1048576:1048576 made some programs allocate per possible fd).
//!   The hard limit is lowered at create to the engine's own when that is lower: without
//!   CAP_SYS_RESOURCE (missing from some bounding sets) a process cannot raise it, and a
//!   default must never keep a container from starting.
//!
//! Both are changed per container (`--pids-limit`, `--ulimit`; 0 or -1 for an unlimited
//! pids limit) or for every new container (`--default-pids-limit`, `--default-ulimit`,
//! or `BERTH_DEFAULT_PIDS_LIMIT`, `BERTH_DEFAULT_ULIMITS`). A container's `--ulimit`
//! replaces the default of the same name only. The values are stored in the container's
//! config at create, so `inspect` shows what it runs with.

use nix::sys::resource::Resource;

use crate::config::{HostConfig, Ulimit};
use crate::error::{Error, Result};

/// berth's default pids limit (see the module doc).
pub const DEFAULT_PIDS_LIMIT: i64 = 4096;

/// berth's default ulimits (see the module doc).
pub fn default_ulimits() -> Vec<Ulimit> {
    vec![Ulimit {
        name: "nofile".into(),
        soft: 1024,
        hard: 524_288,
    }]
}

/// The pids limit stored for "unlimited".
pub const UNLIMITED: i64 = -1;

/// A pids limit as Docker spells it: a count, or 0 or -1 (any negative) for unlimited.
pub fn parse_pids_limit(flag: &'static str, s: &str) -> Result<i64> {
    let n: i64 = s.trim().parse().map_err(|_| {
        Error::invalid(
            flag,
            s,
            "expected a number of processes (0 or -1: unlimited)",
        )
    })?;
    Ok(if n <= 0 { UNLIMITED } else { n })
}

/// `name=soft[:hard]` (`-1` or `unlimited` for no limit; hard defaults to soft).
pub fn parse_ulimit(flag: &'static str, s: &str) -> Result<Ulimit> {
    let Some((name, v)) = s.split_once('=').filter(|(k, _)| !k.is_empty()) else {
        return Err(Error::invalid(flag, s, "expected name=soft[:hard]"));
    };
    if resource(name).is_none() {
        return Err(Error::invalid(flag, s, format!("unknown ulimit `{name}`")));
    }
    let (soft, hard) = v.split_once(':').unwrap_or((v, v));
    let num = |x: &str| match x {
        "-1" | "unlimited" => Ok(u64::MAX),
        _ => x
            .parse::<u64>()
            .map_err(|_| Error::invalid(flag, s, "limits must be integers, -1 or unlimited")),
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(Error::invalid(
            flag,
            s,
            format!("the soft limit {soft} exceeds the hard limit {hard}"),
        ));
    }
    let stored = |x: u64| if x == u64::MAX { -1 } else { x as i64 };
    Ok(Ulimit {
        name: name.to_string(),
        soft: stored(soft),
        hard: stored(hard),
    })
}

/// The defaults of a new container: `pids` when it gave no `--pids-limit` (0 stays unset,
/// and a default of 0 or less means none), and each of `ulimits` whose name it did not
/// set, its hard limit lowered to this process's own (see the module doc).
pub fn apply_defaults(h: &mut HostConfig, pids: i64, ulimits: &[Ulimit]) {
    // A host without the pids controller cannot enforce a default; Docker drops an asked-for
    // limit there with a warning, berth leaves the default out so containers still start
    // (an explicit --pids-limit is left to fail at start, naming the controller).
    if h.pids_limit == 0 && pids > 0 && has_pids_controller() {
        h.pids_limit = pids;
    }
    for d in ulimits {
        if h.ulimits.iter().any(|u| u.name == d.name) {
            continue;
        }
        let own = resource(&d.name).and_then(|r| nix::sys::resource::getrlimit(r).ok());
        h.ulimits.push(clamp(d, own.map(|(_, hard)| hard)));
    }
}

/// The host has the pids controller: a v1 hierarchy with it, or `pids` in the v2 root's
/// `cgroup.controllers`.
fn has_pids_controller() -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    match berth_cgroups::detect(&mountinfo) {
        Ok(berth_cgroups::Layout::V1 { hierarchies })
        | Ok(berth_cgroups::Layout::Hybrid { hierarchies, .. }) => {
            hierarchies.iter().any(|h| h.has("pids"))
        }
        Ok(berth_cgroups::Layout::V2 { root }) => {
            std::fs::read_to_string(root.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|x| x == "pids"))
        }
        Err(_) => false,
    }
}

/// Each ulimit of `h` can be set by this process: a hard limit above its own needs
/// CAP_SYS_RESOURCE (setrlimit(2)), which some hosts keep out of the bounding set. Refused
/// at create, so that the container is not made only to fail at every start.
pub fn check_raisable(h: &HostConfig) -> Result<()> {
    if has_sys_resource() {
        return Ok(());
    }
    for u in &h.ulimits {
        let own = resource(&u.name).and_then(|r| nix::sys::resource::getrlimit(r).ok());
        let Some((_, own_hard)) = own else { continue };
        let hard = if u.hard < 0 { u64::MAX } else { u.hard as u64 };
        if hard > own_hard {
            let show = |x: u64| {
                if x == u64::MAX {
                    "unlimited".to_string()
                } else {
                    x.to_string()
                }
            };
            return Err(Error::invalid(
                "--ulimit",
                format!("{}={}:{}", u.name, show(if u.soft < 0 { u64::MAX } else { u.soft as u64 }), show(hard)),
                format!(
                    "the hard limit is above berth's own ({}) and berth has no CAP_SYS_RESOURCE to raise it",
                    show(own_hard)
                ),
            ));
        }
    }
    Ok(())
}

/// CAP_SYS_RESOURCE (24) is in this process's effective set.
fn has_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|m| m & (1 << 24) != 0)
}

/// What a new container gets of the default pids limit `pids` here (0: none), as `info`
/// shows it.
pub fn effective_pids_default(pids: i64) -> i64 {
    let mut h = HostConfig::default();
    apply_defaults(&mut h, pids, &[]);
    h.pids_limit
}

/// What a new container gets of the default `ulimits` here (hard limits lowered to this
/// process's own), as `info` shows them.
pub fn effective_defaults(ulimits: &[Ulimit]) -> Vec<Ulimit> {
    let mut h = HostConfig::default();
    apply_defaults(&mut h, 0, ulimits);
    h.ulimits
}

/// `u` with its hard limit at most `own_hard` (and the soft limit at most the hard).
fn clamp(u: &Ulimit, own_hard: Option<u64>) -> Ulimit {
    let as_u64 = |x: i64| if x < 0 { u64::MAX } else { x as u64 };
    let hard = as_u64(u.hard).min(own_hard.unwrap_or(u64::MAX));
    let soft = as_u64(u.soft).min(hard);
    let stored = |x: u64| if x == u64::MAX { -1 } else { x as i64 };
    Ulimit {
        name: u.name.clone(),
        soft: stored(soft),
        hard: stored(hard),
    }
}

/// `a=1:2 b=3` as `--default-ulimit` takes them; `none` alone: no default ulimits.
pub fn parse_defaults(flag: &'static str, values: &[String]) -> Result<Vec<Ulimit>> {
    if values.len() == 1 && values[0] == "none" {
        return Ok(vec![]);
    }
    values.iter().map(|v| parse_ulimit(flag, v)).collect()
}

fn resource(name: &str) -> Option<Resource> {
    use Resource::*;
    Some(match name {
        "as" => RLIMIT_AS,
        "core" => RLIMIT_CORE,
        "cpu" => RLIMIT_CPU,
        "data" => RLIMIT_DATA,
        "fsize" => RLIMIT_FSIZE,
        "locks" => RLIMIT_LOCKS,
        "memlock" => RLIMIT_MEMLOCK,
        "msgqueue" => RLIMIT_MSGQUEUE,
        "nice" => RLIMIT_NICE,
        "nofile" => RLIMIT_NOFILE,
        "nproc" => RLIMIT_NPROC,
        "rss" => RLIMIT_RSS,
        "rtprio" => RLIMIT_RTPRIO,
        "rttime" => RLIMIT_RTTIME,
        "sigpending" => RLIMIT_SIGPENDING,
        "stack" => RLIMIT_STACK,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_limits_parse_as_dockers() {
        assert_eq!(parse_pids_limit("--pids-limit", "100").unwrap(), 100);
        assert_eq!(parse_pids_limit("--pids-limit", "0").unwrap(), UNLIMITED);
        assert_eq!(parse_pids_limit("--pids-limit", "-1").unwrap(), UNLIMITED);
        let e = parse_pids_limit("--pids-limit", "abc")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid --pids-limit `abc`: "), "{e}");
    }

    #[test]
    fn ulimits_parse_and_check_soft_against_hard() {
        let u = parse_ulimit("--ulimit", "nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        let u = parse_ulimit("--ulimit", "core=unlimited").unwrap();
        assert_eq!((u.soft, u.hard), (-1, -1));
        let u = parse_ulimit("--ulimit", "stack=8192:-1").unwrap();
        assert_eq!((u.soft, u.hard), (8192, -1));
        for bad in [
            "nofile=5:3",
            "bogus=1",
            "nofile",
            "=3",
            "nofile=a",
            "nofile=-1:5",
        ] {
            let e = parse_ulimit("--ulimit", bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid --ulimit `{bad}`: ")), "{e}");
        }
        assert_eq!(
            parse_defaults("--default-ulimit", &["none".into()]).unwrap(),
            vec![]
        );
    }

    #[test]
    fn hard_limits_above_our_own_need_sys_resource() {
        let (_, own) = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let at = |hard: i64| HostConfig {
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 1,
                hard,
            }],
            ..Default::default()
        };
        if own != u64::MAX {
            check_raisable(&at(own as i64)).unwrap();
        }
        let above = check_raisable(&at(-1));
        assert_eq!(
            above.is_ok(),
            has_sys_resource() || own == u64::MAX,
            "{above:?}"
        );
        if let Err(e) = above {
            assert!(
                e.to_string()
                    .starts_with("invalid --ulimit `nofile=1:unlimited`: "),
                "{e}"
            );
        }
    }

    #[test]
    fn defaults_fill_what_the_container_left_unset() {
        let mut h = HostConfig::default();
        let d = [
            Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 20,
            },
            Ulimit {
                name: "nproc".into(),
                soft: 5,
                hard: 5,
            },
        ];
        h.ulimits = vec![Ulimit {
            name: "nproc".into(),
            soft: 1,
            hard: 1,
        }];
        apply_defaults(&mut h, 100, &d);
        let want = if has_pids_controller() { 100 } else { 0 };
        assert_eq!(h.pids_limit, want);
        assert_eq!(h.ulimits.len(), 2);
        assert_eq!(h.ulimits[0].soft, 1, "the container's own wins");
        let mut unlimited = HostConfig {
            pids_limit: UNLIMITED,
            ..Default::default()
        };
        apply_defaults(&mut unlimited, 100, &[]);
        assert_eq!(unlimited.pids_limit, UNLIMITED);
        let mut none = HostConfig::default();
        apply_defaults(&mut none, -1, &[]);
        assert_eq!(none.pids_limit, 0);
        let c = clamp(
            &Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 524_288,
            },
            Some(900),
        );
        assert_eq!((c.soft, c.hard), (900, 900));
        let c = clamp(
            &Ulimit {
                name: "core".into(),
                soft: -1,
                hard: -1,
            },
            None,
        );
        assert_eq!((c.soft, c.hard), (-1, -1));
    }
}
