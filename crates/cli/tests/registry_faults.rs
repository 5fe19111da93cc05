//! A registry that misbehaves mid-blob, scripted on 127.0.0.1: it stalls, or drops the
//! connection, halfway through a layer. The pull must resume with `Range` (or start over
//! when the registry ignores it), or fail within the timeout with one line; either way no
//! half-written blob is ever visible in the store.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Env;

/// What the server does with the n-th request for the layer.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Send half the body, then stall (a read timeout must end it).
    Stall,
    /// Send half the body, then close the connection.
    Drop,
    /// Send what was asked for.
    Serve,
}

/// The server's script: the fault for each layer request in turn (the last one repeats),
/// and whether it honours `Range`.
struct Script {
    faults: Vec<Fault>,
    ranges: bool,
}

/// One image's blobs as a registry serves them.
struct Image {
    manifest: Vec<u8>,
    blobs: HashMap<String, Vec<u8>>,
    layer: String,
}

/// The busybox image imported into a scratch store, read back as blobs.
fn image() -> Image {
    let src = Env::new();
    src.import_busybox("fake:src");
    let mut blobs = HashMap::new();
    let mut manifest = None;
    for entry in std::fs::read_dir(src.root.path().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let data = std::fs::read(entry.path()).unwrap();
        if serde_json::from_slice::<serde_json::Value>(&data)
            .is_ok_and(|d| d.get("layers").is_some())
        {
            manifest = Some(data.clone());
        }
        let name = entry.file_name().into_string().unwrap();
        blobs.insert(format!("sha256:{name}"), data);
    }
    let manifest = manifest.expect("a manifest");
    let doc: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layer = doc["layers"][0]["digest"].as_str().unwrap().to_owned();
    Image {
        manifest,
        blobs,
        layer,
    }
}

/// Request lines and headers the server saw, one string per request.
type Log = Arc<Mutex<Vec<String>>>;

/// Serves `image` as `fake/img:1` on a free port, following `script` for the layer.
fn serve(image: Image, script: Script) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut layer_hits = 0;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (path, range) = read_request(&stream, &seen);
            let fault = if path.ends_with(&image.layer) {
                layer_hits += 1;
                let i = (layer_hits - 1).min(script.faults.len() - 1);
                script.faults[i]
            } else {
                Fault::Serve
            };
            let body = if path == "/v2/fake/img/manifests/1" {
                Some(image.manifest.clone())
            } else {
                path.strip_prefix("/v2/fake/img/blobs/")
                    .and_then(|d| image.blobs.get(d))
                    .cloned()
            };
            let range = range.filter(|_| script.ranges);
            std::thread::spawn(move || reply(stream, body, range, fault));
        }
    });
    (port, log)
}

/// Reads one request head; logs it and returns the path and the `Range` start, if any.
fn read_request(stream: &TcpStream, log: &Log) -> (String, Option<usize>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    log.lock().unwrap().push(head.clone());
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let range = head.lines().find_map(|l| {
        let v = l.strip_prefix("Range: bytes=")?;
        v.trim().trim_end_matches('-').parse().ok()
    });
    (path, range)
}

/// Answers one request: 404, the whole body, or (for a `Range`) the rest with 206.
fn reply(mut stream: TcpStream, body: Option<Vec<u8>>, range: Option<usize>, fault: Fault) {
    let Some(body) = body else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let from = range.unwrap_or(0).min(body.len());
    let part = &body[from..];
    let head = match range {
        Some(_) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
            part.len(),
            body.len() - 1,
            body.len()
        ),
        None => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            part.len()
        ),
    };
    let _ = stream.write_all(head.as_bytes());
    match fault {
        Fault::Serve => {
            let _ = stream.write_all(part);
        }
        Fault::Drop => {
            let _ = stream.write_all(&part[..part.len() / 2]);
        }
        Fault::Stall => {
            let _ = stream.write_all(&part[..part.len() / 2]);
            let _ = stream.flush();
            std::thread::sleep(Duration::from_secs(30));
        }
    }
}

/// Nothing half-written: `tmp/` is empty and the layer blob is absent or whole.
#[track_caller]
fn assert_no_half_blob(e: &Env, layer: &str) {
    let tmp: Vec<_> = std::fs::read_dir(e.root.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
    let blob = e
        .root
        .path()
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    if blob.exists() {
        let out = common::sh(std::process::Command::new("sha256sum").arg(&blob));
        assert_eq!(&out[..64], layer.trim_start_matches("sha256:"));
    }
    e.ok(&["system", "check"]);
}

/// The pulled image's layer is unpacked, whole, where inspect says (pull unpacks each
/// layer while it downloads; a download that started over unpacks from the stored blob).
#[track_caller]
fn assert_unpacked(e: &Env, name: &str) {
    let doc = e.inspect(name);
    let dir = doc["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap();
    let busybox = std::path::Path::new(dir).join("bin/busybox");
    assert!(busybox.is_file(), "{}", busybox.display());
}

/// The `Range` starts the server was asked for on the layer, in order (0: none).
fn layer_ranges(log: &Log, layer: &str) -> Vec<usize> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|h| h.lines().next().is_some_and(|l| l.contains(layer)))
        .map(|h| {
            h.lines()
                .find_map(|l| l.strip_prefix("Range: bytes="))
                .map_or(0, |v| v.trim().trim_end_matches('-').parse().unwrap())
        })
        .collect()
}

#[test]
fn a_dropped_connection_is_resumed_with_range() {
    let img = image();
    let layer = img.layer.clone();
    let size = img.blobs[&layer].len();
    let faults = vec![Fault::Drop, Fault::Drop, Fault::Serve];
    let (port, log) = serve(
        img,
        Script {
            faults,
            ranges: true,
        },
    );
    let e = Env::new();
    let name = format!("localhost:{port}/fake/img:1");
    e.ok(&["pull", "-q", &name]);
    // Each retry asks for what is still missing: half, then half of the rest.
    let ranges = layer_ranges(&log, &layer);
    assert_eq!(
        ranges,
        [0, size / 2, size / 2 + (size - size / 2) / 2],
        "{ranges:?}"
    );
    assert_no_half_blob(&e, &layer);
    assert_eq!(e.ok(&["images", "-q"]).lines().count(), 1);
    assert_unpacked(&e, &name);
}

#[test]
fn a_registry_that_ignores_range_is_read_again_from_the_start() {
    let img = image();
    let layer = img.layer.clone();
    let faults = vec![Fault::Drop, Fault::Serve];
    let (port, log) = serve(
        img,
        Script {
            faults,
            ranges: false,
        },
    );
    let e = Env::new();
    let name = format!("localhost:{port}/fake/img:1");
    e.ok(&["pull", "-q", &name]);
    assert_eq!(layer_ranges(&log, &layer).len(), 2);
    assert_no_half_blob(&e, &layer);
    assert_unpacked(&e, &name);
}

#[test]
fn a_connection_that_keeps_dropping_fails_cleanly() {
    let img = image();
    let layer = img.layer.clone();
    let (port, log) = serve(
        img,
        Script {
            faults: vec![Fault::Drop],
            ranges: false,
        },
    );
    let e = Env::new();
    let err = e.fails(&["pull", &format!("localhost:{port}/fake/img:1")]);
    assert!(err.contains(&layer), "names the blob: {err}");
    assert!(err.contains("bytes"), "says how far it got: {err}");
    assert_eq!(
        layer_ranges(&log, &layer).len(),
        4,
        "first try and 3 retries"
    );
    assert_no_half_blob(&e, &layer);
    assert!(e.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn a_stall_mid_blob_times_out_within_the_limit() {
    let img = image();
    let layer = img.layer.clone();
    let (port, _log) = serve(
        img,
        Script {
            faults: vec![Fault::Stall],
            ranges: true,
        },
    );
    let e = Env::new();
    let start = Instant::now();
    let o = e
        .cmd(&["pull", &format!("localhost:{port}/fake/img:1")])
        .env("BERTH_REGISTRY_TIMEOUT", "1")
        .output()
        .unwrap();
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("timed out") && err.contains(&layer), "{err}");
    // 4 tries of 1 s plus backoff (0.25 + 0.5 + 1 s): well under 15 s.
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert_no_half_blob(&e, &layer);
    assert!(e.ok(&["images", "-q"]).trim().is_empty());
}

/// `sha256:<hex>` of `data`, by sha256sum.
fn digest_of(e: &Env, data: &[u8]) -> String {
    let path = e.root.path().join("digest-input");
    std::fs::write(&path, data).unwrap();
    let out = common::sh(std::process::Command::new("sha256sum").arg(&path));
    std::fs::remove_file(&path).unwrap();
    format!("sha256:{}", &out[..64])
}

#[test]
fn a_layer_that_is_not_its_diff_id_is_unpacked_nowhere() {
    // The same image, with a config that promises another diff id for the layer.
    let mut img = image();
    let scratch = Env::new();
    let mut manifest: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
    let old = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let mut config: serde_json::Value = serde_json::from_slice(&img.blobs[&old]).unwrap();
    config["rootfs"]["diff_ids"][0] = format!("sha256:{}", "0".repeat(64)).into();
    let config = serde_json::to_vec(&config).unwrap();
    let digest = digest_of(&scratch, &config);
    manifest["config"]["digest"] = digest.clone().into();
    manifest["config"]["size"] = config.len().into();
    img.blobs.insert(digest, config);
    img.manifest = serde_json::to_vec(&manifest).unwrap();
    let layer = img.layer.clone();
    let (port, _log) = serve(
        img,
        Script {
            faults: vec![Fault::Serve],
            ranges: true,
        },
    );
    let e = Env::new();
    let err = e.fails(&["pull", "-q", &format!("localhost:{port}/fake/img:1")]);
    assert!(err.contains("diff_id"), "says why: {err}");
    let layers: Vec<_> = std::fs::read_dir(e.root.path().join("overlay/layers"))
        .unwrap()
        .collect();
    assert!(layers.is_empty(), "layer dirs left: {layers:?}");
    assert_no_half_blob(&e, &layer);
    assert!(e.ok(&["images", "-q"]).trim().is_empty());
}
