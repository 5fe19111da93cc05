//! `system check` of networks against the real kernel (root): every kind of leftover a
//! killed command or monitor can leave (stale leases, port and name records, DNAT rules,
//! veth host ends, bridges, a dead responder's pid file) is reported in one line each,
//! `--repair` removes it and a second check is clean; `kill -9` of monitors of containers
//! with a published port on a user network at seeded moments (`BERTH_KILL_SEED` replays
//! one), then check, repair, and `rm -f` leave nothing; and many run/rm cycles leave
//! nothing (`BERTH_NET_CYCLES`; 1000, or 300 under CI).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::networld::{link_exists, run_ok, World};
use common::procs::{dead, monitors, sigkill, Rng};

fn setup(subnet: u8) -> Option<World> {
    if !common::have("nft", "nftables") {
        return None;
    }
    let mut w = World::new();
    w.network("ck", &["--subnet", &format!("10.234.{subnet}.0/24")]);
    Some(w)
}

/// `system check [ARGS]`: exit code and stdout.
fn check(w: &World, args: &[&str]) -> (i32, String) {
    let o = w.berth(&[&["system", "check"], args].concat());
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.trim().is_empty(), "system check {args:?}: {out}{err}");
    (o.status.code().unwrap_or(-1), out)
}

/// Repair, then a clean check.
#[track_caller]
fn repaired(w: &World, what: &str) -> String {
    let (code, out) = check(w, &["--repair"]);
    assert_eq!(code, 0, "{what}: repair left problems:\n{out}");
    let (code, again) = check(w, &[]);
    assert_eq!(
        (code, again.trim()),
        (0, "No problems found"),
        "{what}: not clean after repair:\n{out}---\n{again}"
    );
    out
}

fn nft_table(w: &World) -> String {
    let o = Command::new("nft")
        .args(["list", "table", "ip", &w.table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn net_dir(w: &World, net: &str) -> std::path::PathBuf {
    w.env.root.path().join("networks").join(net)
}

/// Ports of the bridge (veth host ends).
fn bridge_ports(br: &str) -> Vec<String> {
    std::fs::read_dir(format!("/sys/class/net/{br}/brif"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Nothing of any container is left on network `ck` (bridge `br`) and in the rules.
#[track_caller]
fn nothing_left(w: &World, br: &str, what: &str) {
    let dir = net_dir(w, "ck");
    let leases = std::fs::read_to_string(dir.join("leases.json")).unwrap_or_default();
    assert!(
        leases.trim().is_empty() || leases.trim() == "{}",
        "{what}: leases {leases}"
    );
    for sub in ["ports", "names"] {
        let left: Vec<_> = std::fs::read_dir(dir.join(sub))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: {sub} left: {left:?}");
    }
    assert_eq!(
        bridge_ports(br),
        Vec::<String>::new(),
        "{what}: bridge ports"
    );
    let t = nft_table(w);
    assert!(!t.contains("berth:"), "{what}: DNAT rules left:\n{t}");
}

fn poll(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A container on `ck` whose monitor and init die with nobody to record it: its ports,
/// names and DNAT rule stay (its lease is kept while it exists, as for any stopped one).
fn orphaned_container(w: &World) -> String {
    let args = [
        "run",
        "-d",
        "--network",
        "ck",
        "-p",
        "80",
        "bb",
        "busybox",
        "sleep",
        "60",
    ];
    let id = w.ok(&args).trim().to_string();
    let pid = w.ok(&["inspect", "-f", "{{.State.Pid}}", &id]);
    monitors(w.env.root.path()).iter().for_each(|p| sigkill(*p));
    sigkill(pid.trim().parse().unwrap());
    assert!(poll(Duration::from_secs(10), || {
        w.ok(&["inspect", "-f", "{{.State.Status}}", &id]).trim() == "exited"
    }));
    id
}

/// Leftovers made by hand: a lease of a gone container, a killed responder's pid file, a
/// veth host end of a gone container on bridge `br`, a bridge marked as this store's for
/// a removed network (and an unmarked one, someone else's), a DNAT rule nobody asked for.
/// Returns the veth, its peer, the marked and the unmarked bridge.
fn seed_leftovers(w: &mut World, br: &str) -> [String; 4] {
    let dir = net_dir(w, "ck");
    let leases = dir.join("leases.json");
    let mut l: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&leases).unwrap()).unwrap();
    l["10.234.60.99"] = serde_json::json!("ab".repeat(32));
    std::fs::write(&leases, l.to_string()).unwrap();
    let dns = std::fs::read_to_string(dir.join("dns.pid")).unwrap();
    let dns: i32 = dns.trim().parse().unwrap();
    sigkill(dns);
    assert!(poll(Duration::from_secs(5), || dead(dns)));
    let veth = format!("vb{}", &"cd".repeat(6));
    let peer = format!("xp{}", w.tag);
    let (orphan, foreign) = (format!("bo{}", w.tag), format!("bf{}", w.tag));
    w.links.push(veth.clone());
    w.bridges.extend([orphan.clone(), foreign.clone()]);
    let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
    ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
    ip(&["link", "set", &veth, "master", br]);
    ip(&["link", "add", &orphan, "type", "bridge"]);
    ip(&["link", "add", &foreign, "type", "bridge"]);
    let alias = format!("berth:{}:{}", "ef".repeat(32), w.env.root.path().display());
    ip(&["link", "set", "dev", &orphan, "alias", &alias]);
    let comment = format!("\"berth:{}\"", "12".repeat(32));
    run_ok(
        Command::new("nft")
            .args(["add", "rule", "ip", &w.table, "ports", "tcp"])
            .args([
                "dport",
                "1",
                "dnat",
                "to",
                "10.234.60.77:1",
                "comment",
                &comment,
            ]),
    );
    [veth, peer, orphan, foreign]
}

/// A leftover host end of a later network's veth (`network connect`), named
/// `ve<13 hex of the endpoint id>`, of container `id` (not running) on `ck`'s bridge `br`.
fn later_veth(w: &mut World, br: &str, id: &str) -> String {
    let net = w.ok(&["network", "inspect", "-f", "{{.Id}}", "ck"]);
    let digit = |c: char| c.to_digit(16).unwrap();
    let mixed: String = net
        .trim()
        .chars()
        .zip(id.chars())
        .take(13)
        .map(|(a, b)| char::from_digit(digit(a) ^ digit(b), 16).unwrap())
        .collect();
    let veth = format!("ve{mixed}");
    w.links.push(veth.clone());
    let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
    ip(&[
        "link",
        "add",
        &veth,
        "type",
        "veth",
        "peer",
        "name",
        &format!("xq{}", w.tag),
    ]);
    ip(&["link", "set", &veth, "master", br]);
    veth
}

#[test]
fn every_kind_of_leftover_is_reported_and_repaired() {
    let Some(mut w) = setup(60) else { return };
    let br = w.bridges[1].clone();
    let (code, out) = check(&w, &[]);
    assert_eq!((code, out.trim()), (0, "No problems found"));
    let id = orphaned_container(&w);
    let [veth, peer, orphan, foreign] = seed_leftovers(&mut w, &br);
    let later = later_veth(&mut w, &br, &id);

    let (code, out) = check(&w, &[]);
    assert_eq!(code, 1, "{out}");
    let short = &id[..12];
    for want in [
        "network `ck`: address 10.234.60.99 leased to container `abababababab`, which no longer exists".to_string(),
        format!("network `ck`: published ports of container `{short}`, which is not running"),
        format!("network `ck`: dns names of container `{short}`, which is not running"),
        "network `ck`: pid file".to_string(),
        format!("veth `{veth}` on bridge `{br}`: its container no longer exists"),
        format!("veth `{later}` on bridge `{br}`: its container is not running"),
        format!("bridge `{orphan}`: made for network `efefefefefef`, which was removed"),
    ] {
        assert!(out.contains(&want), "missing `{want}` in:\n{out}");
    }
    let stray = "publishes a port of no running container";
    assert_eq!(
        out.matches(stray).count(),
        2,
        "the killed one's and the added:\n{out}"
    );
    assert!(!out.contains(&foreign), "{out}");
    assert!(out.trim_end().ends_with("(run with --repair)"), "{out}");

    let out = repaired(&w, "seeded leftovers");
    assert_eq!(out.matches("(repaired)").count(), 9, "{out}");
    assert!(!link_exists(&veth) && !link_exists(&peer));
    assert!(!link_exists(&later));
    assert!(!link_exists(&orphan));
    assert!(link_exists(&foreign));
    assert!(!net_dir(&w, "ck").join("dns.pid").exists());
    assert!(!nft_table(&w).contains("berth:"));

    // A missing bridge is made again, and a missing table rebuilt.
    run_ok(Command::new("ip").args(["link", "del", &br]));
    run_ok(Command::new("nft").args(["delete", "table", "ip", &w.table]));
    let (code, out) = check(&w, &[]);
    assert_eq!(code, 1);
    let table = format!("nft table `{}`: missing", w.table);
    assert!(
        out.contains(&format!("network `ck`: bridge `{br}` is missing")),
        "{out}"
    );
    assert!(out.contains(&table), "{out}");
    repaired(&w, "bridge and table deleted");
    assert!(link_exists(&br));
    // The stopped container keeps its address and starts again on the rebuilt network.
    w.ok(&["start", &id]);
    repaired(&w, "restarted");
    w.ok(&["rm", "-f", &id]);
    nothing_left(&w, &br, "after rm -f");
    let (code, out) = check(&w, &[]);
    assert_eq!((code, out.trim()), (0, "No problems found"));
}

#[test]
fn kill_9_of_monitors_with_published_ports_then_check_repairs_and_rm_cleans() {
    let Some(w) = setup(61) else { return };
    let br = w.bridges[1].clone();
    let mut rng = Rng::from_env();
    for round in 0..8 {
        // Every other round within run -d's own time (address, ports, veth being made).
        let delay = Duration::from_millis(if round % 2 == 0 {
            40 + rng.below(200)
        } else {
            rng.below(700)
        });
        let mut child = w
            .cmd(&[
                "run",
                "-d",
                "--network",
                "ck",
                "-p",
                "80",
                "--name",
                "kk",
                "bb",
                "busybox",
                "sleep",
                "60",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let killed = monitors(w.env.root.path());
        killed.iter().for_each(|p| sigkill(*p));
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "run -d hung");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Odd rounds: the orphaned init dies too, so nothing of it should run on.
        if round % 2 == 1 {
            for id in w.ok(&["ps", "-q", "--no-trunc"]).split_whitespace() {
                let pid = w.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
                sigkill(pid.trim().parse().unwrap_or(0));
            }
        }
        let what = format!("round {round}: monitors {killed:?} killed after {delay:?}");
        let out = repaired(&w, &what);
        eprintln!("{what}:\n{out}");
        for id in w.ok(&["ps", "-aq", "--no-trunc"]).split_whitespace() {
            w.ok(&["rm", "-f", id]);
        }
        nothing_left(&w, &br, &format!("{what}, then rm -f"));
        let (code, out) = check(&w, &[]);
        assert_eq!((code, out.trim()), (0, "No problems found"), "{what}");
    }
}

/// How many run/rm cycles: `BERTH_NET_CYCLES`, else 1000, or 300 under CI (`CI=true`).
/// With the debug build on a shared 2-core machine one cycle takes 0.2-0.35 s: 1000 took
/// 336 s (load average ~10), 40 took 8.4 s; 300 keep CI's share near a minute or two.
fn cycles() -> usize {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    std::env::var("BERTH_NET_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if ci { 300 } else { 1000 })
}

#[test]
fn many_run_rm_cycles_on_a_user_network_leave_nothing() {
    let Some(w) = setup(62) else { return };
    let br = w.bridges[1].clone();
    let n = cycles();
    let t0 = Instant::now();
    for i in 0..n {
        // Alternately the foreground `--rm` path and the detached `rm -f` path.
        if i % 2 == 0 {
            w.ok(&[
                "run",
                "--rm",
                "--network",
                "ck",
                "-p",
                "80",
                "bb",
                "busybox",
                "true",
            ]);
        } else {
            let id = w.ok(&[
                "run",
                "-d",
                "--network",
                "ck",
                "-p",
                "80",
                "bb",
                "busybox",
                "sleep",
                "60",
            ]);
            w.ok(&["rm", "-f", id.trim()]);
        }
    }
    let took = t0.elapsed();
    eprintln!(
        "{n} run/rm cycles on a user network with a published port: {took:?} ({:?} each)",
        took / n.max(1) as u32
    );
    assert_eq!(w.ok(&["ps", "-aq"]).trim(), "");
    nothing_left(&w, &br, &format!("after {n} cycles"));
    // No container's cgroup (and so no process holding a namespace) is left.
    let procs = format!("/sys/fs/cgroup/pids{}", w.cgroup);
    let left: Vec<_> = std::fs::read_dir(&procs)
        .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "cgroups left under {procs}: {left:?}");
    let (code, out) = check(&w, &[]);
    assert_eq!((code, out.trim()), (0, "No problems found"));
}
