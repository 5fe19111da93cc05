//! `berth save` / `berth load`: round trips in both formats, interop with skopeo, bad input.

mod common;

use std::process::{Command, Stdio};

use common::{have, p, sh, Env};

/// Same id, tags and diff ids in a fresh root, for each format; by file and by pipe.
#[test]
fn round_trip_both_formats() {
    let e = Env::new();
    let id = e.import_busybox("busybox:test");
    let before = e.inspect("busybox:test");
    for format in ["docker-archive", "oci-archive"] {
        let file = e.path(&format!("{format}.tar"));
        e.ok(&["save", "--format", format, "-o", p(&file), "busybox:test"]);
        let f = Env::new();
        let out = f.ok(&["load", "-i", p(&file)]);
        assert_eq!(out, "Loaded image: busybox:test\n", "{format}");
        let after = f.inspect("busybox:test");
        assert_eq!(after["Id"], id.as_str(), "{format}");
        assert_eq!(after["RepoTags"], serde_json::json!(["busybox:test"]));
        assert_eq!(after["RootFS"], before["RootFS"], "{format}");
        assert_eq!(after["Config"]["Cmd"], serde_json::json!(["sh"]));

        // stdout -> stdin, and `image save`/`image load` spellings.
        let saved = e
            .cmd(&["image", "save", "--format", format, "busybox:test"])
            .output();
        let saved = saved.unwrap();
        assert!(saved.status.success());
        assert_eq!(saved.stdout, std::fs::read(&file).unwrap(), "deterministic");
        let g = Env::new();
        let mut child = g
            .cmd(&["image", "load", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &saved.stdout).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(g.inspect("busybox:test")["Id"], id.as_str());
    }
}

/// Saved by id: no names, so `load` reports the id and the image stays reachable by it.
#[test]
fn by_id_and_gzipped() {
    let e = Env::new();
    let id = e.import_busybox("busybox:test");
    let file = e.path("byid.tar");
    e.ok(&["save", "-o", p(&file), &id[7..19]]);
    sh(Command::new("gzip").arg("-k").arg(&file));
    let f = Env::new();
    let out = f.ok(&["load", "-i", &format!("{}.gz", p(&file))]);
    assert_eq!(out, format!("Loaded image ID: {id}\n"));
    assert_eq!(f.inspect(&id)["Id"], id.as_str());
}

/// Errors: one line, exit 1, nothing tagged.
#[test]
fn bad_archives() {
    let e = Env::new();
    e.import_busybox("busybox:test");
    let good = e.path("good.tar");
    e.ok(&["save", "-o", p(&good), "busybox:test"]);
    let bytes = std::fs::read(&good).unwrap();

    let truncated = e.path("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    // A layer.tar that is not the layer the config names.
    let dir = e.path("edited");
    std::fs::create_dir(&dir).unwrap();
    sh(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-xf")
        .arg(&good));
    let layer = sh(Command::new("tar").arg("-tf").arg(&good))
        .lines()
        .find(|l| l.ends_with("/layer.tar"))
        .unwrap()
        .to_owned();
    std::fs::write(dir.join("extra"), "x").unwrap();
    sh(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-rf")
        .arg(dir.join(&layer))
        .arg("extra"));
    std::fs::remove_file(dir.join("extra")).unwrap();
    let mismatch = e.path("mismatch.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&mismatch)
        .arg("."));

    // A member `../evil` next to a valid archive.
    let evil = e.path("evil.tar");
    std::fs::copy(&good, &evil).unwrap();
    std::fs::create_dir(e.path("sub")).unwrap();
    std::fs::write(e.path("evil"), "x").unwrap();
    sh(Command::new("tar")
        .arg("-P")
        .arg("-C")
        .arg(e.path("sub"))
        .arg("-rf")
        .arg(&evil)
        .arg("../evil"));

    let empty = e.path("empty.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(e.path("sub"))
        .arg("-cf")
        .arg(&empty)
        .arg("."));

    for (file, want) in [
        (&truncated, "read archive member"),
        (
            &mismatch,
            &format!("verify layer `{layer}`: diff id is")[..],
        ),
        (&evil, "member `../evil` climbs out of the archive"),
        (&empty, "no manifest.json"),
    ] {
        let f = Env::new();
        let err = f.fails(&["load", "-i", p(file)]);
        assert!(err.contains(want), "{}: {err}", file.display());
        assert_eq!(f.ok(&["images", "-q"]), "", "nothing tagged after {err}");
    }
    let err = e.fails(&["save", "-o", p(&e.path("x.tar")), "nosuch:image"]);
    assert!(err.contains("no such image"), "{err}");
    assert!(!e.path("x.tar").exists());
}

fn skopeo_inspect(target: &str) -> serde_json::Value {
    serde_json::from_str(&sh(Command::new("skopeo").args(["inspect", target]))).unwrap()
}

/// berth's archives read in skopeo; skopeo's archives load into berth with the same diff ids
/// and run.
#[test]
fn skopeo_interop() {
    if !have("skopeo", "skopeo") {
        return;
    }
    let e = Env::new();
    e.import_busybox("busybox:test");
    let diff_ids = e.inspect("busybox:test")["RootFS"]["Layers"].clone();
    let docker = e.path("berth-docker.tar");
    let oci = e.path("berth-oci.tar");
    e.ok(&["save", "-o", p(&docker), "busybox:test"]);
    e.ok(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        p(&oci),
        "busybox:test",
    ]);
    let d = skopeo_inspect(&format!("docker-archive:{}", p(&docker)));
    assert_eq!(
        d["Layers"], diff_ids,
        "docker-archive layers are uncompressed"
    );
    let o = skopeo_inspect(&format!("oci-archive:{}", p(&oci)));
    assert_eq!(o["Layers"].as_array().map(Vec::len), Some(1), "{o}");

    let from_skopeo_oci = e.path("skopeo-oci.tar");
    let from_skopeo_docker = e.path("skopeo-docker.tar");
    sh(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("docker-archive:{}", p(&docker)),
        &format!("oci-archive:{}:x:1", p(&from_skopeo_oci)),
    ]));
    sh(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("oci-archive:{}", p(&from_skopeo_oci)),
        &format!("docker-archive:{}:x:2", p(&from_skopeo_docker)),
    ]));
    let f = Env::new();
    assert_eq!(
        f.ok(&["load", "-i", p(&from_skopeo_oci)]),
        "Loaded image: x:1\n"
    );
    assert_eq!(
        f.ok(&["load", "-i", p(&from_skopeo_docker)]),
        "Loaded image: x:2\n"
    );
    for name in ["x:1", "x:2"] {
        assert_eq!(f.inspect(name)["RootFS"]["Layers"], diff_ids, "{name}");
        // And they run.
        assert_eq!(f.run_rm(name, &["sh", "-c", "echo ran"]), "ran\n", "{name}");
    }
}

/// What `berth save` writes loads in Podman, in both formats (vfs storage in a temp root,
/// so nothing is mounted and nothing of the host's Podman is touched).
#[test]
fn podman_loads_berths_archives() {
    if !have("podman", "podman") {
        return;
    }
    let e = Env::new();
    let id = e.import_busybox("busybox:test");
    for (format, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        e.ok(&[
            "save",
            "--format",
            format,
            "-o",
            p(&e.path(file)),
            "busybox:test",
        ]);
        let store = tempfile::tempdir().unwrap();
        let podman = |args: &[&str]| {
            let mut c = Command::new("podman");
            c.arg("--root")
                .arg(store.path().join("root"))
                .arg("--runroot")
                .arg(store.path().join("run"));
            c.args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "file",
                "--cgroup-manager",
                "cgroupfs",
            ]);
            c.args(args);
            sh(&mut c)
        };
        podman(&["load", "-i", p(&e.path(file))]);
        let ids = podman(&["images", "--no-trunc", "--format", "{{.ID}}"]);
        assert!(
            ids.contains(&id[7..]),
            "{format}: podman sees image {id}: {ids}"
        );
    }
}

/// An OCI layout made by umoci (init, new, unpack, add a file, repack) loads into berth and
/// runs.
#[test]
fn umoci_layouts_load() {
    if !have("umoci", "umoci") {
        return;
    }
    let e = Env::new();
    let layout = e.path("layout");
    let bundle = e.path("bundle");
    sh(Command::new("umoci").args(["init", "--layout", p(&layout)]));
    sh(Command::new("umoci").args(["new", "--image", &format!("{}:base", p(&layout))]));
    sh(Command::new("umoci").args([
        "unpack",
        "--image",
        &format!("{}:base", p(&layout)),
        p(&bundle),
    ]));
    std::fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
    std::fs::copy("/bin/busybox", bundle.join("rootfs/bin/busybox")).unwrap();
    sh(Command::new("umoci").args([
        "repack",
        "--image",
        &format!("{}:base", p(&layout)),
        p(&bundle),
    ]));
    let tar = e.path("layout.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let out = e.ok(&["load", "-i", p(&tar)]);
    let id = out
        .trim()
        .strip_prefix("Loaded image ID: ")
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    let doc = e.inspect(&id);
    assert_eq!(
        doc["RootFS"]["Layers"].as_array().map(|a| a.len()),
        Some(1),
        "{doc}"
    );
    // And it runs.
    assert_eq!(
        e.run_rm(&id, &["/bin/busybox", "echo", "from umoci"]),
        "from umoci\n"
    );
}
