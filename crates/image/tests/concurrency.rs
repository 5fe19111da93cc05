//! Many processes writing to one store at once: each of 20 children (this test binary re-run
//! with `BERTH_STORE_CHILD` set) stores the same blob and a distinct tag.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_image::store::Store;

const CHILDREN: usize = 20;
const ROOT_VAR: &str = "BERTH_STORE_CHILD_ROOT";
const INDEX_VAR: &str = "BERTH_STORE_CHILD";
const TEST_NAME: &str = "processes_add_tags_and_the_same_blob_at_once";

fn blob() -> Vec<u8> {
    b"one layer, many writers".repeat(4096)
}

/// The child's part: wait for the start signal, then write.
fn child(root: &Path, index: &str) {
    let store = Store::open(root).expect("open store");
    let go = root.join("go");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let digest = store.put_blob(None, &blob()[..]).expect("put blob");
    store
        .set_tag(&format!("process-{index}"), &digest)
        .expect("set tag");
}

#[test]
fn processes_add_tags_and_the_same_blob_at_once() {
    if let (Ok(root), Ok(index)) = (std::env::var(ROOT_VAR), std::env::var(INDEX_VAR)) {
        child(Path::new(&root), &index);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let children: Vec<_> = (0..CHILDREN)
        .map(|i| {
            Command::new(&exe)
                .args([TEST_NAME, "--exact", "--test-threads=1", "--quiet"])
                .env(ROOT_VAR, dir.path())
                .env(INDEX_VAR, i.to_string())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    std::fs::write(dir.path().join("go"), b"").expect("start signal");
    for mut child in children {
        assert!(
            child.wait().expect("wait child").success(),
            "a child failed"
        );
    }

    let store = Store::open(dir.path()).expect("open store");
    let tags = store.tags().expect("index parses");
    assert_eq!(tags.len(), CHILDREN, "{tags:?}");
    let digest = &tags["process-0"];
    for i in 0..CHILDREN {
        assert_eq!(&tags[&format!("process-{i}")], digest);
    }
    assert_eq!(store.read_blob(digest).expect("blob verifies"), blob());
    let raw = std::fs::read(dir.path().join("index/tags.json")).expect("read index");
    let _: serde_json::Value = serde_json::from_slice(&raw).expect("index is valid JSON");
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}
