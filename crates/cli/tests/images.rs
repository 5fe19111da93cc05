//! `berth import`, `images`, `tag`, `rmi`, `inspect`, `history` against a store in a temp dir.

mod common;

use std::process::{Command, Stdio};

use common::{p, Env};

#[test]
fn import_list_inspect_tag_rmi() {
    let e = Env::new();
    let tar = e.rootfs_tar(false);
    let id = e.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV A=b",
        "-m",
        "first",
        p(&tar),
        "busybox:test",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let list = e.ok(&["images"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("busybox") && l.contains("test") && l.contains(&id[7..19])),
        "{list}"
    );
    assert_eq!(e.ok(&["images", "-q"]).trim(), &id[7..19]);
    let doc: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "busybox:test"])).unwrap();
    let d = &doc[0];
    assert_eq!(d["Id"], id);
    assert_eq!(d["RepoTags"], serde_json::json!(["busybox:test"]));
    assert_eq!(d["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(d["Config"]["Env"], serde_json::json!(["A=b"]));
    assert_eq!(d["Comment"], "first");
    assert_eq!(d["RootFS"]["Layers"].as_array().map(|a| a.len()), Some(1));
    // The diff id is the sha256 of the uncompressed tar.
    let sum = Command::new("sha256sum").arg(&tar).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert_eq!(d["RootFS"]["Layers"][0], format!("sha256:{sum}"));
    e.ok(&["tag", "busybox:test", "localhost:5000/x/y:1"]);
    assert!(e.ok(&["images"]).contains("localhost:5000/x/y"));
    // Two names: removing by id needs -f; by name only untags.
    e.fails(&["rmi", &id[7..19]]);
    assert_eq!(
        e.ok(&["rmi", "localhost:5000/x/y:1"]).trim(),
        "Untagged: localhost:5000/x/y:1"
    );
    let out = e.ok(&["rmi", "busybox:test"]);
    assert!(
        out.contains("Untagged: busybox:test") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert_eq!(e.ok(&["images", "-q"]).trim(), "");
    let blobs = std::fs::read_dir(e.root.path().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "every blob of the image is gone");
}

#[test]
fn import_from_stdin_gzip_and_history() {
    let e = Env::new();
    let tgz = e.rootfs_tar(true);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(e.root.path())
        .args(["import", "-", "imported"])
        .stdin(Stdio::from(std::fs::File::open(&tgz).unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let h = e.ok(&["history", "imported"]);
    assert!(
        h.lines().nth(1).is_some_and(|l| l.contains("berth import")),
        "{h}"
    );
    let plain_diff = {
        let tar = e.rootfs_tar(false);
        e.ok(&["import", p(&tar), "plain"]);
        let a: serde_json::Value =
            serde_json::from_str(&e.ok(&["inspect", "plain", "imported"])).unwrap();
        (a[0]["RootFS"].clone(), a[1]["RootFS"].clone())
    };
    assert_eq!(
        plain_diff.0, plain_diff.1,
        "gzip input gives the same diff id as plain"
    );
}

#[test]
fn bad_input_gets_one_clear_line() {
    let e = Env::new();
    let tar = e.rootfs_tar(false);
    assert!(e
        .fails(&["import", "-c", "FROM scratch", p(&tar), "x"])
        .contains("\"FROM scratch\""));
    assert!(e
        .fails(&["import", "/nonexistent.tar", "x"])
        .contains("/nonexistent.tar"));
    assert!(e
        .fails(&["import", p(&tar), "Busybox"])
        .contains("\"Busybox\""));
    assert!(e
        .fails(&["image", "inspect", "nosuchimage"])
        .contains("nosuchimage"));
    assert!(e
        .fails(&["tag", "nosuchimage", "x"])
        .contains("nosuchimage"));
    assert_eq!(
        e.ok(&["images", "-q"]).trim(),
        "",
        "nothing was left behind"
    );
}

#[test]
fn prune_and_system_df() {
    let e = Env::new();
    let tar = e.rootfs_tar(false);
    let kept = e.ok(&["import", p(&tar), "kept:1"]);
    let dangling = e.ok(&["import", "-c", "ENV X=1", p(&tar)]);
    let df = e.ok(&["system", "df"]);
    assert!(
        df.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("Images") && l.contains(" 2 ")),
        "{df}"
    );
    let out = e.ok(&["image", "prune"]);
    assert!(
        out.contains(&format!("Deleted: {}", dangling.trim())),
        "{out}"
    );
    assert!(!out.contains(kept.trim()), "a named image stays: {out}");
    let out = e.ok(&["image", "prune", "-a"]);
    assert!(out.contains("Untagged: kept:1"), "{out}");
    assert_eq!(e.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn go_template_formats() {
    let e = Env::new();
    let id = e.import_busybox("busybox:t");
    let out = e.ok(&[
        "images",
        "--format",
        "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["REPOSITORY", "TAG", "IMAGE", "ID"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["busybox", "t", &id[7..19]]
    );
    assert_eq!(
        e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .trim(),
        "busybox:t"
    );
    let out = e.ok(&[
        "inspect",
        "-f",
        "{{.Id}} {{.Config.Cmd}} {{index .RepoTags 0}}",
        "busybox:t",
    ]);
    assert_eq!(out.trim(), format!("{id} [sh] busybox:t"));
    assert!(e
        .fails(&["inspect", "-f", "{{.Id", "busybox:t"])
        .contains("unclosed action"));
}
