//! `berth push`/`pull`/`login`/`logout` against a real registry (Debian's `docker-registry`)
//! on 127.0.0.1, and interop with skopeo. Each test starts its own registry on a free port
//! with its storage in a temp dir. Without the tools the tests are skipped with a reason,
//! except under CI=true, where they are installed with apt-get.

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::registry::Registry;
use common::{have, Env};

fn skopeo(args: &[&str]) -> String {
    let o = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The layer digests of the manifest `manifest_digest` in `e`'s store.
fn layer_digests(e: &Env, manifest_digest: &str) -> Vec<String> {
    let bytes = std::fs::read(
        e.root
            .path()
            .join("blobs/sha256")
            .join(manifest_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

/// The manifest digest the store's tag index has for `name` (a full name).
fn manifest_digest_of(e: &Env, name: &str) -> String {
    let pulled = e.ok(&["pull", "-q", name]);
    assert_eq!(pulled.trim(), name);
    // Pulling again is a no-op for the blobs and reports the same digest.
    let out = e.ok(&["pull", name]);
    out.lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .expect("digest line")
        .to_owned()
}

#[test]
fn push_then_pull_by_tag_and_digest() {
    if !have("docker-registry", "docker-registry") {
        return;
    }
    let reg = Registry::start(None);
    let a = Env::new();
    let name = format!("{}:1", reg.name("test/busybox"));
    let id = a.import_busybox(&name);
    let out = a.ok(&["push", &name]);
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("digest printed")
        .to_owned();
    assert!(out.starts_with("1: digest: sha256:"), "{out}");

    // A second push finds every blob there already.
    let again = a.berth(&["push", &name]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let b = Env::new();
    let out = b.ok(&["pull", &name]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(out.lines().last(), Some(name.as_str()));
    assert_eq!(b.inspect(&name)["Id"], id.as_str());

    let c = Env::new();
    let by_digest = format!("{}@{digest}", reg.name("test/busybox"));
    c.ok(&["pull", "-q", &by_digest]);
    assert_eq!(c.inspect(&by_digest)["Id"], id.as_str());
    // The store holds exactly what was pushed: the layers are byte for byte the same.
    let layers_a = std::fs::read_dir(a.root.path().join("blobs/sha256"))
        .unwrap()
        .count();
    let layers_c = std::fs::read_dir(c.root.path().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(layers_a, layers_c);
}

#[test]
fn pull_missing_tag_fails_cleanly() {
    if !have("docker-registry", "docker-registry") {
        return;
    }
    let reg = Registry::start(None);
    let e = Env::new();
    let name = format!("{}:nope", reg.name("test/none"));
    let err = e.fails(&["pull", &name]);
    assert!(err.contains(&name), "{err}");
    assert!(e.ok(&["images", "-q"]).trim().is_empty());

    // Nothing listens there any more: a connection error, retried, then one line.
    let port = reg.port;
    drop(reg);
    let err = e.fails(&["pull", &format!("127.0.0.1:{port}/x/y:1")]);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn login_basic_auth_then_push_and_pull() {
    if !have("docker-registry", "docker-registry") || !have("htpasswd", "apache2-utils") {
        return;
    }
    let hash = Command::new("htpasswd")
        .args(["-nbB", "alice", "s3cret"])
        .output()
        .unwrap();
    let reg = Registry::start(Some(&String::from_utf8(hash.stdout).unwrap()));
    let registry = format!("localhost:{}", reg.port);
    let e = Env::new();
    let name = format!("{}:1", reg.name("priv/busybox"));
    e.import_busybox(&name);
    let err = e.fails(&["push", &name]);
    assert!(err.contains("unauthorized"), "{err}");
    let err = e.fails(&["login", "-u", "alice", "-p", "wrong", &registry]);
    assert!(err.contains("unauthorized"), "{err}");
    assert!(e
        .ok(&["login", "-u", "alice", "-p", "s3cret", &registry])
        .contains("Login Succeeded"));
    let config = e.config.path().join("config.json");
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(doc["auths"][&registry]["auth"], "YWxpY2U6czNjcmV0");
    e.ok(&["push", "-q", &name]);

    let other = Env::new();
    std::fs::copy(&config, other.config.path().join("config.json")).unwrap();
    other.ok(&["pull", "-q", &name]);
    assert!(other
        .ok(&["logout", &registry])
        .contains("Removing login credentials"));
    assert!(other.ok(&["logout", &registry]).contains("Not logged in"));
    let err = other.fails(&["pull", &name]);
    assert!(err.contains("unauthorized"), "{err}");
}

#[test]
fn skopeo_interop() {
    if !have("docker-registry", "docker-registry") || !have("skopeo", "skopeo") {
        return;
    }
    let reg = Registry::start(None);
    let e = Env::new();
    let name = format!("{}:1", reg.name("test/busybox"));
    e.import_busybox(&name);
    e.ok(&["push", "-q", &name]);

    // skopeo reads what berth pushed.
    let doc: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]))
    .unwrap();
    let ours = e.inspect(&name);
    let pushed_layers: Vec<String> = serde_json::from_value(doc["Layers"].clone()).unwrap();
    assert_eq!(pushed_layers.len(), 1);

    // skopeo converts it to a Docker schema2 image under another name; berth pulls that.
    let docker_name = format!("{}:2", reg.name("x/y"));
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("docker://{name}"),
        &format!("docker://{docker_name}"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{docker_name}"),
    ]);
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        raw["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let meta: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{docker_name}"),
    ]))
    .unwrap();
    let f = Env::new();
    let digest = manifest_digest_of(&f, &docker_name);
    assert_eq!(meta["Digest"], digest.as_str());
    assert_eq!(layer_digests(&f, &digest), pushed_layers);
    let theirs = f.inspect(&docker_name);
    assert_eq!(theirs["Config"]["Cmd"], ours["Config"]["Cmd"]);
    assert_eq!(theirs["RootFS"], ours["RootFS"]);
}

/// A scripted registry on 127.0.0.1 serving one image as `fake/img:1`: it wants a Bearer
/// token from its own `/token`, answers the first manifest fetch with 503 and cuts the
/// first layer download off halfway. Returns the port and the log of requests.
fn fake_registry(
    blobs: std::collections::HashMap<String, Vec<u8>>,
    manifest: Vec<u8>,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    let digest = format!("sha256:{}", sha256_hex(&manifest));
    std::thread::spawn(move || {
        let (mut manifest_hits, mut layer_hits) = (0, 0);
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut auth = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.strip_prefix("Authorization: ") {
                    auth = v.trim().to_owned();
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            log2.lock().unwrap().push(path.clone());
            let mut reply = |status: &str, headers: &str, body: &[u8], cut: bool| {
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(if cut { &body[..body.len() / 2] } else { body });
            };
            if path.starts_with("/token?") {
                if path.contains("scope=repository%3Afake%2Fimg%3Apull") {
                    reply("200 OK", "", br#"{"token":"t0k"}"#, false);
                } else {
                    reply("400 Bad Request", "", b"", false);
                }
            } else if auth != "Bearer t0k" {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\",scope=\"repository:fake/img:pull\"\r\n"
                );
                reply("401 Unauthorized", &challenge, b"", false);
            } else if path == "/v2/fake/img/manifests/hang" {
                // Accept and never answer.
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(30));
                    drop(stream);
                });
            } else if path == "/v2/fake/img/manifests/1" {
                manifest_hits += 1;
                if manifest_hits == 1 {
                    reply("503 Service Unavailable", "", b"", false);
                } else {
                    let h = format!(
                        "Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\n"
                    );
                    reply("200 OK", &h, &manifest, false);
                }
            } else if let Some(blob) = path
                .strip_prefix("/v2/fake/img/blobs/")
                .and_then(|d| blobs.get(d))
            {
                let is_layer = blob.len() > 10_000;
                layer_hits += usize::from(is_layer);
                reply("200 OK", "", blob, is_layer && layer_hits == 1);
            } else {
                reply("404 Not Found", "", b"", false);
            }
        }
    });
    (port, log)
}

fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

#[test]
fn bearer_token_and_retries_against_a_scripted_registry() {
    let src = Env::new();
    let id = src.import_busybox("fake:src");
    let mut blobs = std::collections::HashMap::new();
    let mut manifest = None;
    for entry in std::fs::read_dir(src.root.path().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let data = std::fs::read(entry.path()).unwrap();
        let doc = serde_json::from_slice::<serde_json::Value>(&data).ok();
        if doc.is_some_and(|d| d.get("layers").is_some()) {
            manifest = Some(data.clone());
        }
        let name = entry.file_name().into_string().unwrap();
        blobs.insert(format!("sha256:{name}"), data);
    }
    let manifest = manifest.expect("a manifest");
    let doc: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = doc["layers"][0]["digest"].as_str().unwrap().to_owned();
    let (port, log) = fake_registry(blobs, manifest);
    let e = Env::new();
    let name = format!("localhost:{port}/fake/img:1");
    e.ok(&["pull", &name]);
    assert_eq!(e.inspect(&name)["Id"], id.as_str());
    let log = log.lock().unwrap().clone();
    let count = |p: &str| log.iter().filter(|l| l.starts_with(p)).count();
    assert!(count("/token?") >= 1, "{log:?}");
    assert_eq!(
        count("/v2/fake/img/manifests/1"),
        3,
        "401, 503, 200: {log:?}"
    );
    // Cut off halfway, then fetched whole; nothing half-written was kept.
    assert_eq!(count(&format!("/v2/fake/img/blobs/{layer}")), 2, "{log:?}");
    let err = e.fails(&["pull", &format!("localhost:{port}/fake/img:2")]);
    assert!(err.contains("fake/img:2"), "{err}");

    // A registry that accepts and never answers: each try times out, then one error line.
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(e.root.path())
        .args(["pull", &format!("localhost:{port}/fake/img:hang")])
        .env("BERTH_CONFIG", e.config.path())
        .env("BERTH_REGISTRY_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("timed out"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

/// A manifest whose layer descriptor gives the wrong size: the pull fails with one line
/// naming the blob and both sizes, whichever way the size is off, and nothing is tagged.
#[test]
fn a_layer_of_another_size_than_its_descriptor_is_refused() {
    let src = Env::new();
    src.import_busybox("fake:src");
    let mut blobs = std::collections::HashMap::new();
    let mut manifest = None;
    for entry in std::fs::read_dir(src.root.path().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let data = std::fs::read(entry.path()).unwrap();
        if serde_json::from_slice::<serde_json::Value>(&data)
            .is_ok_and(|d| d.get("layers").is_some())
        {
            manifest = Some(data.clone());
        }
        blobs.insert(
            format!("sha256:{}", entry.file_name().into_string().unwrap()),
            data,
        );
    }
    let doc: serde_json::Value = serde_json::from_slice(&manifest.expect("a manifest")).unwrap();
    let size = doc["layers"][0]["size"].as_u64().unwrap();
    for wrong in [size - 1, size + 1] {
        let mut bad = doc.clone();
        bad["layers"][0]["size"] = wrong.into();
        let (port, _) = fake_registry(blobs.clone(), serde_json::to_vec(&bad).unwrap());
        let e = Env::new();
        let err = e.fails(&["pull", &format!("localhost:{port}/fake/img:1")]);
        assert!(
            err.contains(&format!("the manifest says {wrong} bytes")),
            "{err}"
        );
        assert_eq!(e.ok(&["images", "-q"]).trim(), "", "nothing tagged");
    }
}

#[test]
fn create_pulls_a_missing_image_with_its_layers_unpacked() {
    if !have("docker-registry", "docker-registry") {
        return;
    }
    let reg = Registry::start(None);
    let name = format!("{}:1", reg.name("implicit/busybox"));
    let src = Env::new();
    src.import_busybox(&name);
    src.ok(&["push", "-q", &name]);
    let e = Env::new();
    e.ok(&["create", "--name", "c1", &name]);
    let doc = e.inspect(&name);
    let upper = doc["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    let busybox = std::path::Path::new(upper).join("bin/busybox");
    assert!(busybox.is_file(), "{}", busybox.display());
    e.ok(&["rm", "c1"]);
    e.ok(&["system", "check"]);
}
