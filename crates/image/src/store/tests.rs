//! Unit tests for the content store.

use super::*;
use std::sync::{Arc, Barrier};

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    (dir, store)
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

fn tmp_entries(store: &Store) -> Vec<PathBuf> {
    fs::read_dir(store.tmp_dir())
        .expect("read tmp")
        .map(|e| e.expect("entry").path())
        .collect()
}

#[test]
fn open_creates_layout() {
    let (dir, _store) = temp_store();
    for sub in ["blobs/sha256", "tmp", "locks", "index"] {
        assert!(dir.path().join(sub).is_dir(), "{sub} missing");
    }
}

#[test]
fn blobs_round_trip() {
    let big: Vec<u8> = (0..3 * BUF_SIZE + 17).map(|i| (i % 251) as u8).collect();
    let cases: [(&str, &[u8]); 3] = [("empty", b""), ("small", b"hello berth"), ("big", &big)];
    for (name, data) in cases {
        for with_expected in [false, true] {
            let (_dir, store) = temp_store();
            let want = sha(data);
            let expected = with_expected.then_some(want.as_str());
            let got = store.put_blob(expected, data).expect(name);
            assert_eq!(got, want, "{name}");
            assert!(store.has_blob(&got), "{name}");
            assert_eq!(store.read_blob(&got).expect(name), data, "{name}");
            let mut streamed = Vec::new();
            let mut reader = store.open_blob(&got).expect(name);
            assert_eq!(reader.digest(), got);
            reader.read_to_end(&mut streamed).expect(name);
            assert_eq!(streamed, data, "{name}");
            // The same content again is fine.
            assert_eq!(store.put_blob(Some(&got), data).expect(name), got);
            assert!(tmp_entries(&store).is_empty(), "{name}: tmp not empty");
            store.delete_blob(&got).expect(name);
            assert!(!store.has_blob(&got), "{name}");
        }
    }
}

#[test]
fn wrong_expected_digest_leaves_nothing() {
    let (_dir, store) = temp_store();
    let data = b"some layer";
    let wrong = sha(b"other content");
    let err = store.put_blob(Some(&wrong), &data[..]).unwrap_err();
    match &err {
        StoreError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, &wrong);
            assert_eq!(actual, &sha(data));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with(&format!("verify blob `{wrong}`: ")));
    assert!(!store.has_blob(&sha(data)));
    assert!(!store.has_blob(&wrong));
    assert!(tmp_entries(&store).is_empty());
    assert_eq!(fs::read_dir(store.blobs_dir()).unwrap().count(), 0);
}

#[test]
fn failing_reader_leaves_nothing() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("connection reset"));
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }
    let (_dir, store) = temp_store();
    let err = store.put_blob(None, Failing(10)).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(tmp_entries(&store).is_empty());
    assert_eq!(fs::read_dir(store.blobs_dir()).unwrap().count(), 0);
}

#[test]
fn corrupted_blob_is_detected() {
    type Corrupt = fn(&mut Vec<u8>);
    let cases: [(&str, Corrupt); 4] = [
        ("flipped byte", |d| d[3] ^= 0x01),
        ("truncated", |d| d.truncate(5)),
        ("appended", |d| d.extend_from_slice(b"junk")),
        ("emptied", |d| d.clear()),
    ];
    for (name, corrupt) in cases {
        let (_dir, store) = temp_store();
        let digest = store.put_blob(None, &b"manifest content"[..]).unwrap();
        let path = store.blob_path(&digest).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        corrupt(&mut bytes);
        fs::write(&path, &bytes).unwrap();

        let err = store.read_blob(&digest).unwrap_err();
        assert!(
            matches!(&err, StoreError::BlobCorrupt { digest: d, actual, .. }
                if d == &digest && actual == &sha(&bytes)),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().contains("the blob is corrupt"),
            "{name}: {err}"
        );

        let mut out = Vec::new();
        let err = store
            .open_blob(&digest)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{name}");
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<StoreError>());
        assert!(
            matches!(inner, Some(StoreError::BlobCorrupt { .. })),
            "{name}: {err:?}"
        );
        // Putting the right content again repairs it.
        store
            .put_blob(Some(&digest), &b"manifest content"[..])
            .unwrap();
        assert_eq!(store.read_blob(&digest).unwrap(), b"manifest content");
    }
}

#[test]
fn missing_blob_is_not_found() {
    let (_dir, store) = temp_store();
    let digest = sha(b"never stored");
    let cases: [(&str, Result<(), StoreError>); 3] = [
        ("read_blob", store.read_blob(&digest).map(drop)),
        ("open_blob", store.open_blob(&digest).map(drop)),
        ("delete_blob", store.delete_blob(&digest)),
    ];
    for (name, result) in cases {
        let err = result.unwrap_err();
        assert!(
            matches!(err, StoreError::BlobNotFound { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(err.to_string(), format!("open blob `{digest}`: not found"));
    }
    assert!(!store.has_blob(&digest));
}

#[test]
fn invalid_digests_are_refused() {
    let hex = "a".repeat(64);
    let cases = [
        "sha256:../../etc".to_owned(),
        format!("sha256:../../{}", &hex[6..]),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}", &hex[1..]),
        format!("sha256:{hex}0"),
        format!("md5:{}", &hex[..32]),
        format!("sha512:{hex}{hex}"),
        format!("sha256:{}g", &hex[1..]),
        format!("sha256:{}é", &hex[2..]),
        format!("sha256 {hex}"),
        hex.clone(),
        format!("sha256:{hex}/"),
        format!(" sha256:{hex}"),
        String::new(),
    ];
    let (dir, store) = temp_store();
    for value in &cases {
        let errs = [
            digest_hex(value).map(drop).unwrap_err(),
            store.read_blob(value).map(drop).unwrap_err(),
            store.open_blob(value).map(drop).unwrap_err(),
            store.delete_blob(value).unwrap_err(),
            store
                .put_blob(Some(value), &b"x"[..])
                .map(drop)
                .unwrap_err(),
            store.set_tag("t", value).unwrap_err(),
        ];
        for err in errs {
            assert!(
                matches!(err, StoreError::InvalidDigest(_)),
                "{value}: {err:?}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid digest {value:?}: ")),
                "{err}"
            );
        }
        assert!(!store.has_blob(value), "{value}");
    }
    assert!(store.tags().unwrap().is_empty());
    assert_eq!(fs::read_dir(store.blobs_dir()).unwrap().count(), 0);
    assert!(!dir.path().join("etc").exists());
    assert!(digest_hex(&format!("sha256:{hex}")).is_ok());
}

#[test]
fn tags_persist_across_open() {
    let (dir, store) = temp_store();
    let a = sha(b"a");
    let b = sha(b"b");
    let names = [
        ("docker.io/library/busybox:latest", &a),
        ("localhost:5000/x/y@weird", &b),
        ("ünïcode and spaces", &a),
    ];
    assert_eq!(store.tag(names[0].0).unwrap(), None);
    for (name, digest) in names {
        store.set_tag(name, digest).unwrap();
    }
    store.set_tag(names[0].0, &b).unwrap();

    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(
        reopened.tag(names[0].0).unwrap().as_deref(),
        Some(b.as_str())
    );
    assert_eq!(
        reopened.tag(names[1].0).unwrap().as_deref(),
        Some(b.as_str())
    );
    assert_eq!(reopened.tags().unwrap().len(), 3);

    assert!(reopened.remove_tag(names[2].0).unwrap());
    assert!(!reopened.remove_tag(names[2].0).unwrap());
    let tags = Store::open(dir.path()).unwrap().tags().unwrap();
    let want: BTreeMap<String, String> = [
        (names[0].0.to_owned(), b.clone()),
        (names[1].0.to_owned(), b.clone()),
    ]
    .into();
    assert_eq!(tags, want);

    let raw: serde_json::Value =
        serde_json::from_slice(&fs::read(store.index_path()).unwrap()).unwrap();
    assert_eq!(raw["tags"]["localhost:5000/x/y@weird"], b.as_str());
    assert!(tmp_entries(&store).is_empty());
}

#[test]
fn bad_tag_names_and_index_are_reported() {
    let (_dir, store) = temp_store();
    let err = store.set_tag("", &sha(b"x")).unwrap_err();
    assert_eq!(err.to_string(), "check tag name ``: empty");
    assert!(store.tag("").is_err());
    assert!(store.remove_tag("").is_err());

    fs::write(store.index_path(), b"{not json").unwrap();
    let err = store.tags().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Index {
                op: "parse index",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("parse index `"), "{err}");

    fs::write(store.index_path(), br#"{"tags":{"x":"sha256:../../etc"}}"#).unwrap();
    assert!(matches!(
        store.tag("x").unwrap_err(),
        StoreError::InvalidDigest(_)
    ));
}

#[test]
fn lock_file_names_are_safe_and_distinct() {
    let long = "x".repeat(300);
    let cases = [
        ("abc-DEF_09", "abc-DEF_09"),
        ("a/b", "a%2Fb"),
        ("a_b", "a_b"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("../../etc/passwd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
        ("%2F", "%252F"),
        ("é", "%C3%A9"),
    ];
    for (object, want) in cases {
        assert_eq!(lock_file_name(object).unwrap(), want, "{object}");
    }
    let hashed = lock_file_name(&long).unwrap();
    assert!(
        hashed.starts_with("%%") && hashed.len() <= NAME_MAX,
        "{hashed}"
    );
    assert_ne!(hashed, lock_file_name(&"x".repeat(301)).unwrap());
    assert!(matches!(
        lock_file_name("").unwrap_err(),
        StoreError::InvalidName { kind: "lock", .. }
    ));
}

#[test]
fn locks_exclude_and_release() {
    let (dir, store) = temp_store();
    let try_exclusive = |path: &Path| {
        let file = File::open(path).unwrap();
        Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok()
    };
    let guard = store.lock("container/abc").unwrap();
    assert_eq!(guard.path(), dir.path().join("locks/container%2Fabc"));
    let path = guard.path().to_path_buf();
    assert!(!try_exclusive(&path));
    drop(guard);
    assert!(try_exclusive(&path));

    let s1 = store.lock_shared("image").unwrap();
    let s2 = store.lock_shared("image").unwrap();
    assert!(!try_exclusive(s1.path()));
    drop((s1, s2));
    assert!(try_exclusive(&dir.path().join("locks/image")));
}

#[test]
fn gc_removes_only_abandoned_temp_files() {
    let (dir, store) = temp_store();
    let stale = store.tmp_dir().join("crashed.tmp");
    fs::write(&stale, b"partial").unwrap();
    let live = TempFile::create(&store.tmp_dir()).unwrap();

    // Young files survive open; files older than an hour do not.
    Store::open(dir.path()).unwrap();
    assert!(stale.exists());
    let old = SystemTime::now() - TMP_MAX_AGE - Duration::from_secs(60);
    File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    Store::open(dir.path()).unwrap();
    assert!(!stale.exists());

    fs::write(&stale, b"partial").unwrap();
    assert_eq!(store.gc_tmp().unwrap(), 1);
    assert!(!stale.exists());
    assert!(live.path.exists(), "gc removed a live writer's file");
    let live_path = live.path.clone();
    drop(live);
    assert!(!live_path.exists());
    assert_eq!(store.gc_tmp().unwrap(), 0);
}

#[test]
fn threads_add_tags_and_the_same_blob_at_once() {
    const N: usize = 20;
    let (dir, _store) = temp_store();
    let barrier = Arc::new(Barrier::new(N));
    let data = b"the same layer for everybody".repeat(1000);
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (root, barrier, data) = (dir.path().to_path_buf(), barrier.clone(), data.clone());
            std::thread::spawn(move || {
                let store = Store::open(root).unwrap();
                barrier.wait();
                let digest = store.put_blob(None, &data[..]).unwrap();
                store.set_tag(&format!("thread-{i}"), &digest).unwrap();
                store.gc_tmp().unwrap();
                digest
            })
        })
        .collect();
    let digests: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let store = Store::open(dir.path()).unwrap();
    let digest = sha(&data);
    assert!(digests.iter().all(|d| d == &digest));
    let tags = store.tags().unwrap();
    assert_eq!(tags.len(), N);
    for i in 0..N {
        assert_eq!(tags.get(&format!("thread-{i}")), Some(&digest));
    }
    assert_eq!(store.read_blob(&digest).unwrap(), data);
    let _: serde_json::Value =
        serde_json::from_slice(&fs::read(store.index_path()).unwrap()).unwrap();
    assert!(tmp_entries(&store).is_empty());
}
