//! Which cgroup hierarchies are mounted where, from `/proc/self/mountinfo`.
//!
//! Format: proc(5) "/proc/pid/mountinfo". We need field 5 (mount point), the
//! filesystem type after the "-" separator and, for cgroup v1, the super
//! options, which name the controllers bound to that hierarchy.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The v1 controllers the kernel knows (`cgroup_subsys` names); other super
/// options (rw, xattr, clone_children, ...) are not controllers.
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "io",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One mounted cgroup v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/cpu,cpuacct`.
    pub mount_point: PathBuf,
    /// The controllers bound to it, e.g. `["cpu", "cpuacct"]`, or a named
    /// hierarchy such as `["name=systemd"]`.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    /// Whether `controller` is bound to this hierarchy.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The cgroup layout of a host, detected once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Only cgroup v1 hierarchies are mounted.
    V1 {
        /// Every v1 hierarchy, in mount order.
        hierarchies: Vec<Hierarchy>,
    },
    /// Only the unified (cgroup2) hierarchy is mounted.
    V2 {
        /// Its mount point, usually `/sys/fs/cgroup`.
        root: PathBuf,
    },
    /// v1 controllers plus a cgroup2 mount that carries few or no
    /// controllers (systemd's "hybrid" mode, `/sys/fs/cgroup/unified`).
    /// Managed by the v1 backend, which also joins the unified hierarchy.
    Hybrid {
        /// Every v1 hierarchy, in mount order.
        hierarchies: Vec<Hierarchy>,
        /// The cgroup2 mount point.
        unified: PathBuf,
    },
}

/// One cgroup mount as read from mountinfo.
struct Mount {
    dev: String,
    point: PathBuf,
    fstype: String,
    options: String,
}

/// Undoes the octal escapes the kernel applies to paths (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_line(n: usize, line: &str) -> Result<Option<Mount>> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 7 {
        return Err(Error::Mountinfo {
            line: n,
            reason: "fewer than 7 fields",
        });
    }
    let sep = fields[6..].iter().position(|f| *f == "-").map(|p| p + 6);
    let Some(sep) = sep.filter(|s| s + 3 <= fields.len()) else {
        return Err(Error::Mountinfo {
            line: n,
            reason: "no \"-\" separator followed by type, source and options",
        });
    };
    let fstype = fields[sep + 1];
    if fstype != "cgroup" && fstype != "cgroup2" {
        return Ok(None);
    }
    Ok(Some(Mount {
        dev: fields[2].to_string(),
        point: PathBuf::from(unescape(fields[4])),
        fstype: fstype.to_string(),
        options: fields[sep + 3].to_string(),
    }))
}

fn v1_controllers(options: &str) -> Vec<String> {
    options
        .split(',')
        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
        .map(str::to_string)
        .collect()
}

/// Works out the cgroup layout from the text of a mountinfo file.
///
/// A hierarchy mounted more than once (bind mounts) is taken at its first
/// mount. v1 hierarchies with at least one real controller make the host v1,
/// or hybrid when a cgroup2 filesystem is mounted too; otherwise a cgroup2
/// mount makes it v2.
pub fn detect(mountinfo: &str) -> Result<Layout> {
    let mut seen = HashSet::new();
    let mut hierarchies = Vec::new();
    let mut unified: Option<PathBuf> = None;
    for (i, line) in mountinfo.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some(m) = parse_line(i + 1, line)? else {
            continue;
        };
        if !seen.insert(m.dev.clone()) {
            continue;
        }
        if m.fstype == "cgroup2" {
            unified.get_or_insert(m.point);
            continue;
        }
        let controllers = v1_controllers(&m.options);
        if !controllers.is_empty() {
            hierarchies.push(Hierarchy {
                mount_point: m.point,
                controllers,
            });
        }
    }
    let real = hierarchies
        .iter()
        .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
    match (real, unified) {
        (true, Some(unified)) => Ok(Layout::Hybrid {
            hierarchies,
            unified,
        }),
        (true, None) => Ok(Layout::V1 { hierarchies }),
        (false, Some(root)) => Ok(Layout::V2 { root }),
        (false, None) => Err(Error::NoCgroupMounts),
    }
}

impl Layout {
    /// The same layout with every mount point moved under `prefix`, so a
    /// real host's mount table can drive a fake tree in a temp dir.
    pub fn rebase(&self, prefix: &Path) -> Layout {
        let under = |p: &Path| prefix.join(p.strip_prefix("/").unwrap_or(p));
        let hier = |hs: &[Hierarchy]| {
            hs.iter()
                .map(|h| Hierarchy {
                    mount_point: under(&h.mount_point),
                    controllers: h.controllers.clone(),
                })
                .collect()
        };
        match self {
            Layout::V1 { hierarchies } => Layout::V1 {
                hierarchies: hier(hierarchies),
            },
            Layout::V2 { root } => Layout::V2 { root: under(root) },
            Layout::Hybrid {
                hierarchies,
                unified,
            } => Layout::Hybrid {
                hierarchies: hier(hierarchies),
                unified: under(unified),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development host: every controller on its own mount, cpu and
    /// cpuacct separate, name=systemd, and a cgroup2 mount at unified.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A classic v1 host with comounted controllers and optional fields.
    const V1_COMOUNTED: &str = "\
25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:26 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:14 - cgroup cgroup rw,net_cls,net_prio
31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
99 25 0:27 / /mnt/memory\\040copy rw,nosuid shared:15 - cgroup cgroup rw,memory
";

    const V2: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    fn h(point: &str, ctrls: &[&str]) -> Hierarchy {
        Hierarchy {
            mount_point: point.into(),
            controllers: ctrls.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn detects_each_layout() {
        let cases: Vec<(&str, Layout)> = vec![
            (
                HYBRID,
                Layout::Hybrid {
                    hierarchies: vec![
                        h("/sys/fs/cgroup/cpu", &["cpu"]),
                        h("/sys/fs/cgroup/cpuacct", &["cpuacct"]),
                        h("/sys/fs/cgroup/cpuset", &["cpuset"]),
                        h("/sys/fs/cgroup/memory", &["memory"]),
                        h("/sys/fs/cgroup/systemd", &["name=systemd"]),
                    ],
                    unified: "/sys/fs/cgroup/unified".into(),
                },
            ),
            (
                V1_COMOUNTED,
                Layout::V1 {
                    hierarchies: vec![
                        h("/sys/fs/cgroup/systemd", &["name=systemd"]),
                        h("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]),
                        h("/sys/fs/cgroup/net_cls,net_prio", &["net_cls", "net_prio"]),
                        h("/sys/fs/cgroup/memory", &["memory"]),
                    ],
                },
            ),
            (
                V2,
                Layout::V2 {
                    root: "/sys/fs/cgroup".into(),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text).unwrap(), want);
        }
    }

    #[test]
    fn rejects_no_cgroups_and_garbage() {
        let only_named = "26 25 0:22 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        let cases = [
            ("", "detect"),
            (only_named, "detect"),
            ("1 2 3\n", "line 1: fewer"),
            (
                "1 2 0:1 / /x rw shared:1 ext4 /dev/sda rw\n",
                "line 1: no \"-\"",
            ),
        ];
        for (text, want) in cases {
            let msg = detect(text).unwrap_err().to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
        }
    }

    #[test]
    fn unescapes_mount_points() {
        let cases = [
            ("/a\\040b", "/a b"),
            ("/plain", "/plain"),
            ("/x\\134y", "/x\\y"),
            ("/bad\\04", "/bad\\04"),
        ];
        for (raw, want) in cases {
            assert_eq!(unescape(raw), want);
        }
    }

    #[test]
    fn rebase_moves_every_mount_point() {
        let l = detect(HYBRID).unwrap().rebase(Path::new("/tmp/fake"));
        let Layout::Hybrid {
            hierarchies,
            unified,
        } = l
        else {
            panic!("not hybrid")
        };
        assert_eq!(unified, Path::new("/tmp/fake/sys/fs/cgroup/unified"));
        assert_eq!(
            hierarchies[0].mount_point,
            Path::new("/tmp/fake/sys/fs/cgroup/cpu")
        );
    }
}
