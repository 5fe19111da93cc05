//! `kill -9` of `berth` at random points of `pull` (from a local `docker-registry`), `load`,
//! `import` and `rmi`; after each, `berth system check --repair` leaves a store that checks
//! clean, and `images`, `pull` and `load` work on it. The delays come from a seed that is
//! printed (set `BERTH_KILL_SEED` to replay a failure).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::procs::{kill_after, Rng};
use common::registry::Registry;
use common::{have, p, sh, Env};

/// Kills per verb.
const KILLS: usize = 3;
/// The longest delay before a kill; each verb here takes about this long on the image below.
const MAX_DELAY_MS: u64 = 400;

/// Repair, then a clean check, then `images` works.
#[track_caller]
fn repaired(e: &Env, what: &str) {
    let o = e.berth(&["system", "check", "--repair", "--max", "0s"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{what}: repair failed:\n{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = e.berth(&["system", "check", "--max", "0s"]);
    let again = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{what}: not clean after repair:\n{out}---\n{again}"
    );
    assert_eq!(again.trim(), "No problems found", "{what}");
    e.ok(&["images"]);
}

/// A rootfs tar of busybox plus 6 MB that compresses poorly, so each verb takes a while.
fn big_rootfs(e: &Env) -> std::path::PathBuf {
    let dir = e.path("big");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    for i in 0..2 {
        sh(std::process::Command::new("head")
            .args(["-c", "3000000", "/dev/urandom"])
            .stdout(std::fs::File::create(dir.join(format!("data{i}"))).unwrap()));
    }
    let tar = e.path("big.tar");
    sh(std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    tar
}

#[test]
fn a_killed_berth_leaves_a_store_that_check_repairs() {
    if !have("docker-registry", "docker-registry") {
        return;
    }
    let mut rng = Rng::from_env();
    let seed = rng.0;
    let reg = Registry::start(None);
    let name = format!("{}:1", reg.name("kill/big"));
    let src = Env::new();
    let tar = big_rootfs(&src);
    src.ok(&["import", p(&tar), &name]);
    src.ok(&["push", "-q", &name]);
    let archive = src.path("big-archive.tar");
    src.ok(&["save", "-o", p(&archive), &name]);

    let e = Env::new();
    let mut killed = 0;
    for round in 0..KILLS {
        let ops: [(&str, Vec<&str>, Option<&std::path::Path>); 4] = [
            ("pull", vec!["pull", "-q", &name], None),
            ("load", vec!["load", "-q"], Some(archive.as_path())),
            (
                "import",
                vec!["import", "-", "kill/imported:1"],
                Some(tar.as_path()),
            ),
            ("rmi", vec!["rmi", &name], None),
        ];
        for (verb, args, input) in ops {
            if verb == "rmi" {
                e.ok(&["pull", "-q", &name]);
            }
            let delay = Duration::from_millis(rng.below(MAX_DELAY_MS));
            let what = format!("seed {seed}, round {round}, {verb} killed after {delay:?}");
            let mut cmd = e.cmd(&args);
            cmd.stdin(match input {
                Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
                None => Stdio::null(),
            });
            killed += usize::from(kill_after(cmd, delay));
            repaired(&e, &what);
            // The next command works: pull and load complete on the repaired store.
            match verb {
                "pull" | "rmi" => drop(e.ok(&["pull", "-q", &name])),
                "load" => drop(e.ok(&["load", "-q", "-i", p(&archive)])),
                _ => drop(e.ok(&["import", p(&tar), "kill/imported:1"])),
            }
            repaired(&e, &format!("{what}, then {verb} again"));
        }
    }
    assert!(
        killed >= KILLS,
        "most runs were killed mid-way ({killed}), seed {seed}"
    );
    // After all that, the pulled image's layers are unpacked where inspect says.
    let doc = e.inspect(&name);
    let upper = doc["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    assert!(
        std::path::Path::new(upper).join("bin/busybox").is_file(),
        "{upper}"
    );
    e.ok(&["rmi", &name, "kill/imported:1"]);
    e.ok(&["image", "prune", "-a"]);
    repaired(&e, "after rmi and prune");
}
