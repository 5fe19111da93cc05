//! `image prune` and disk usage over a real store.

use berth_image::image::{import, list, prune, usage, ImportOptions};
use berth_image::store::Store;

fn layer(name: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(name.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    b.append_data(&mut h, name, name.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn prune_dangling_then_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let named = ImportOptions {
        reference: Some("kept:1".parse().unwrap()),
        ..Default::default()
    };
    let kept = import(&store, &layer("a")[..], &named).unwrap();
    let dangling = import(&store, &layer("b")[..], &ImportOptions::default()).unwrap();
    let u = usage(&store, &[]).unwrap();
    assert_eq!((u.total, u.active), (2, 0));
    assert_eq!(u.size, kept.size() + dangling.size());
    assert_eq!(
        usage(&store, &[kept.id()]).unwrap().reclaimable,
        dangling.size()
    );
    let (lines, freed) = prune(&store, false, &[]).unwrap();
    assert_eq!(lines, vec![format!("Deleted: {}", dangling.id())]);
    assert_eq!(freed, dangling.size());
    assert_eq!(list(&store).unwrap().len(), 1);
    let (lines, _) = prune(&store, true, &[kept.id()]).unwrap();
    assert!(lines.is_empty(), "an image in use is kept: {lines:?}");
    let (lines, _) = prune(&store, true, &[]).unwrap();
    assert!(lines.iter().any(|l| l == "Untagged: kept:1"), "{lines:?}");
    assert!(list(&store).unwrap().is_empty());
}
