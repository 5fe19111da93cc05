//! Pure parsers for the text files under /proc and /sys that the checker reads.
//!
//! Every function here takes a string and returns data, so each one has a table-driven
//! unit test below and none of them touches the system.

use serde_json::{json, Map, Value};

/// Capability names indexed by number.
pub(crate) use berth_sys::caps::NAMES as CAP_NAMES;

/// Value of the `Key:` line of a `/proc/<pid>/status`-style file, trimmed.
pub(crate) fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// Capability names set in a hex mask such as `00000000a80425fb`; unnamed bits become `CAP_<n>`.
pub(crate) fn decode_caps(hex: &str) -> Option<Vec<String>> {
    let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(
        (0..64)
            .filter(|bit| mask & (1u64 << bit) != 0)
            .map(|bit| match CAP_NAMES.get(bit) {
                Some(name) => (*name).to_string(),
                None => format!("CAP_{bit}"),
            })
            .collect(),
    )
}

/// Inode number from a namespace link target such as `net:[4026531840]`.
pub(crate) fn ns_inode(link: &str) -> Option<u64> {
    let start = link.find(":[")? + 2;
    let end = link[start..].find(']')? + start;
    link[start..end].parse().ok()
}

/// Propagation of a mount from the optional fields of its mountinfo line.
fn propagation(optional: &[&str]) -> &'static str {
    if optional.iter().any(|f| f.starts_with("shared:")) {
        "shared"
    } else if optional.iter().any(|f| f.starts_with("master:")) {
        "slave"
    } else if optional.contains(&"unbindable") {
        "unbindable"
    } else {
        "private"
    }
}

/// Undoes the octal escapes (`\040` for a space) the kernel puts into mountinfo paths.
pub(crate) fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (bytes[i], octal) {
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

/// One line of `/proc/self/mountinfo` (see proc(5)) as a JSON object.
pub(crate) fn mountinfo_line(line: &str) -> Option<Value> {
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    if left.len() < 6 || right.len() < 3 {
        return None;
    }
    let optional = &left[6..];
    Some(json!({
        "id": left[0].parse::<u64>().ok()?,
        "parent": left[1].parse::<u64>().ok()?,
        "dev": left[2],
        "root": unescape_octal(left[3]),
        "target": unescape_octal(left[4]),
        "options": left[5].split(',').collect::<Vec<_>>(),
        "propagation": propagation(optional),
        "optional": optional,
        "fstype": right[0],
        "source": unescape_octal(right[1]),
        "super_options": right[2].split(',').collect::<Vec<_>>(),
    }))
}

/// All lines of a mountinfo file; lines that do not parse are skipped.
pub(crate) fn mountinfo(text: &str) -> Vec<Value> {
    text.lines().filter_map(mountinfo_line).collect()
}

/// `/proc/self/cgroup` as a map from controller (or `""` for the v2 line, `name=x` for
/// named v1 hierarchies) to the cgroup path.
pub(crate) fn proc_cgroup(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            out.insert(String::new(), json!(path));
        }
        for c in controllers.split(',').filter(|c| !c.is_empty()) {
            out.insert(c.to_string(), json!(path));
        }
    }
    out
}

/// Scheduling fields of `/proc/<pid>/stat`: (nice, rt_priority, policy).
///
/// The command name (field 2) is in parentheses and may itself contain spaces and
/// parentheses, so fields are counted from the last `)`.
pub(crate) fn stat_sched(stat: &str) -> Option<(i64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); field n is rest[n - 3].
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let nice = fields.get(19 - 3)?.parse().ok()?;
    let rt_priority = fields.get(40 - 3)?.parse().ok()?;
    let policy = fields.get(41 - 3)?.parse().ok()?;
    Some((nice, rt_priority, policy))
}

/// Name of a scheduling policy number (include/uapi/linux/sched.h).
pub(crate) fn sched_policy_name(policy: u64) -> &'static str {
    match policy {
        0 => "SCHED_OTHER",
        1 => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        _ => "unknown",
    }
}

/// `/proc/self/uid_map` or `gid_map` as `[[inside, outside, count], ...]`.
pub(crate) fn id_map(text: &str) -> Vec<[u64; 3]> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3).then(|| [f[0], f[1], f[2]])
        })
        .collect()
}

/// Namespace names accepted by `try unshare`, with their clone flag bits.
pub(crate) const NAMESPACE_FLAGS: [(&str, i32); 8] = [
    ("mnt", 0x0002_0000),
    ("cgroup", 0x0200_0000),
    ("uts", 0x0400_0000),
    ("ipc", 0x0800_0000),
    ("user", 0x1000_0000),
    ("pid", 0x2000_0000),
    ("net", 0x4000_0000),
    ("time", 0x0000_0080),
];

/// Clone flag bits for a list such as `net,uts` or `CLONE_NEWNET|CLONE_NEWUTS`.
pub(crate) fn unshare_flags(spec: &str) -> Result<i32, String> {
    let mut bits = 0;
    for word in spec.split([',', '|']).filter(|w| !w.is_empty()) {
        let lower = word.to_ascii_lowercase();
        let name = lower.strip_prefix("clone_new").unwrap_or(&lower);
        let name = if name == "ns" || name == "mount" {
            "mnt"
        } else {
            name
        };
        let Some((_, bit)) = NAMESPACE_FLAGS.iter().find(|(n, _)| *n == name) else {
            return Err(format!("unknown namespace `{word}`"));
        };
        bits |= bit;
    }
    Ok(bits)
}

/// `UID[:GID]` as numbers; a missing GID is the UID.
pub(crate) fn owner(spec: &str) -> Result<(u32, u32), String> {
    let bad = || format!("bad owner `{spec}`, want UID[:GID]");
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

/// Access mode of `try open`: `r`, `w`, `rw`, each optionally followed by `c` (create),
/// `t` (truncate), `a` (append), `d` (directory). Returns (read, write, create, trunc, append, dir).
pub(crate) fn open_mode(spec: &str) -> Result<[bool; 6], String> {
    let mut m = [false; 6];
    for c in spec.chars() {
        let i = match c {
            'r' => 0,
            'w' => 1,
            'c' => 2,
            't' => 3,
            'a' => 4,
            'd' => 5,
            _ => return Err(format!("bad open mode `{spec}`, want [r][w][c][t][a][d]")),
        };
        m[i] = true;
    }
    if !m[0] && !m[1] {
        return Err(format!("bad open mode `{spec}`: needs r or w"));
    }
    Ok(m)
}

/// Path under /proc/sys for a sysctl name: `net.ipv4.ip_forward` -> `net/ipv4/ip_forward`.
pub(crate) fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = "Name:\tx\nUmask:\t0022\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "Umask"), Some("0022"));
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "Cap"), None);
        assert_eq!(status_field(s, "Missing"), None);
    }

    #[test]
    fn caps() {
        let cases: &[(&str, Option<Vec<&str>>)] = &[
            ("0000000000000000", Some(vec![])),
            ("0000000000000001", Some(vec!["CAP_CHOWN"])),
            (
                "0000000000200400",
                Some(vec!["CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]),
            ),
            ("0000010000000000", Some(vec!["CAP_CHECKPOINT_RESTORE"])),
            ("0000020000000000", Some(vec!["CAP_41"])),
            ("zz", None),
        ];
        for (hex, want) in cases {
            let want = want
                .as_ref()
                .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(decode_caps(hex), want, "{hex}");
        }
        let default_docker = decode_caps("00000000a80425fb").unwrap();
        assert_eq!(default_docker.len(), 14);
        assert!(default_docker.contains(&"CAP_AUDIT_WRITE".to_string()));
    }

    #[test]
    fn ns_links() {
        assert_eq!(ns_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(ns_inode("pid_for_children:[42]"), Some(42));
        assert_eq!(ns_inode("net:4026531840"), None);
        assert_eq!(ns_inode("net:[x]"), None);
    }

    #[test]
    fn mountinfo_lines() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
23 22 0:5 / /dev rw,nosuid master:2 - devtmpfs udev rw,size=10k
24 22 0:6 /a\\040b /mnt/x\\040y ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
25 22 0:7 / /u rw unbindable - proc proc rw
garbage line
";
        let m = mountinfo(text);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0]["target"], "/");
        assert_eq!(m[0]["propagation"], "shared");
        assert_eq!(m[0]["fstype"], "ext4");
        assert_eq!(m[0]["source"], "/dev/sda1");
        assert_eq!(m[1]["propagation"], "slave");
        assert_eq!(m[1]["options"], json!(["rw", "nosuid"]));
        assert_eq!(m[2]["target"], "/mnt/x y");
        assert_eq!(m[2]["root"], "/a b");
        assert_eq!(m[2]["propagation"], "private");
        assert_eq!(m[2]["super_options"], json!(["ro", "mode=755"]));
        assert_eq!(m[3]["propagation"], "unbindable");
        assert_eq!(m[3]["parent"], 22);
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape_octal("a\\040b\\011c\\134"), "a b\tc\\");
        assert_eq!(unescape_octal("trailing\\04"), "trailing\\04");
        assert_eq!(unescape_octal("\\999"), "\\999");
    }

    #[test]
    fn cgroup_lines() {
        let v1 = "12:pids:/user.slice/x\n4:cpu,cpuacct:/y\n1:name=systemd:/z\n0::/w\n";
        let m = proc_cgroup(v1);
        assert_eq!(m["pids"], "/user.slice/x");
        assert_eq!(m["cpu"], "/y");
        assert_eq!(m["cpuacct"], "/y");
        assert_eq!(m["name=systemd"], "/z");
        assert_eq!(m[""], "/w");
        let v2 = proc_cgroup("0::/\n");
        assert_eq!(v2.len(), 1);
        assert_eq!(proc_cgroup("0::/a:b\n")[""], "/a:b");
    }

    #[test]
    fn stat_scheduling() {
        // Fields 3.. of a real stat line; comm contains ") (" to exercise the rfind.
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[19 - 3] = "-5".into();
        fields[40 - 3] = "7".into();
        fields[41 - 3] = "2".into();
        let line = format!("123 (a) (b) {}", fields.join(" "));
        assert_eq!(stat_sched(&line), Some((-5, 7, 2)));
        assert_eq!(stat_sched("1 (x) S 0"), None);
        assert_eq!(sched_policy_name(2), "SCHED_RR");
        assert_eq!(sched_policy_name(4), "unknown");
    }

    #[test]
    fn id_maps() {
        let text = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(id_map(text), vec![[0, 1000, 1], [1, 100000, 65536]]);
        assert_eq!(id_map(""), Vec::<[u64; 3]>::new());
        assert_eq!(id_map("1 2\n"), Vec::<[u64; 3]>::new());
    }

    #[test]
    fn unshare_flag_names() {
        assert_eq!(unshare_flags("net"), Ok(0x4000_0000));
        assert_eq!(unshare_flags("CLONE_NEWNET|CLONE_NEWUTS"), Ok(0x4400_0000));
        assert_eq!(unshare_flags("mount,ns,mnt"), Ok(0x0002_0000));
        assert_eq!(unshare_flags(""), Ok(0));
        assert!(unshare_flags("net,bogus").is_err());
    }

    #[test]
    fn owners() {
        assert_eq!(owner("1"), Ok((1, 1)));
        assert_eq!(owner("1:2"), Ok((1, 2)));
        assert!(owner("a:2").is_err());
        assert!(owner("1:").is_err());
    }

    #[test]
    fn open_modes() {
        assert_eq!(
            open_mode("r"),
            Ok([true, false, false, false, false, false])
        );
        assert_eq!(
            open_mode("wct"),
            Ok([false, true, true, true, false, false])
        );
        assert_eq!(
            open_mode("rw"),
            Ok([true, true, false, false, false, false])
        );
        assert_eq!(
            open_mode("rd"),
            Ok([true, false, false, false, false, true])
        );
        assert!(open_mode("c").is_err());
        assert!(open_mode("rx").is_err());
    }

    #[test]
    fn sysctl_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(sysctl_path("kernel.shmmax"), "/proc/sys/kernel/shmmax");
    }
}
