//! v1 hugetlb controller: `hugetlb.<size>.limit_in_bytes` and friends.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::HugetlbStats;
use crate::v2::hugetlb::{page_size, sizes};

/// Writes each page size's limit.
pub(crate) fn set(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let file = format!("hugetlb.{}.limit_in_bytes", page_size(l)?);
        if !cgfs::exists(dir, &file) {
            return Err(Error::MissingFile {
                resource: "hugepageLimits",
                path: dir.join(file),
            });
        }
        cgfs::write(dir, &file, &l.limit().to_string())?;
    }
    Ok(())
}

/// Fills usage per page size; sizes are whatever the directory offers.
pub(crate) fn stats(dir: &Path, s: &mut BTreeMap<String, HugetlbStats>) -> Result<()> {
    for size in sizes(dir, ".limit_in_bytes")? {
        let get = |what: &str| cgfs::read_u64_or_zero(dir, &format!("hugetlb.{size}.{what}"));
        let st = HugetlbStats {
            usage: get("usage_in_bytes")?,
            max: get("max_usage_in_bytes")?,
            failcnt: get("failcnt")?,
        };
        s.insert(size, st);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn writes_limits_and_reads_stats() {
        let t = FakeTree::new();
        t.files(
            "h",
            &["hugetlb.2MB.limit_in_bytes", "hugetlb.1GB.limit_in_bytes"],
        );
        t.file("h/hugetlb.2MB.rsvd.limit_in_bytes", "");
        t.file("h/hugetlb.2MB.usage_in_bytes", "2097152\n")
            .file("h/hugetlb.2MB.failcnt", "1\n");
        let limits: Vec<LinuxHugepageLimit> = serde_json::from_str(
            r#"[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":0}]"#,
        )
        .unwrap();
        set(&t.path("h"), &limits).unwrap();
        assert_eq!(t.read("h/hugetlb.2MB.limit_in_bytes"), "4194304");
        assert_eq!(t.read("h/hugetlb.1GB.limit_in_bytes"), "0");
        let mut s = BTreeMap::new();
        stats(&t.path("h"), &mut s).unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), vec!["1GB", "2MB"]);
        assert_eq!((s["2MB"].usage, s["2MB"].failcnt), (2097152, 1));
    }

    #[test]
    fn unknown_or_hostile_sizes_are_refused() {
        let t = FakeTree::new();
        t.files("h", &["hugetlb.2MB.limit_in_bytes"]);
        for json in [
            r#"[{"pageSize":"64KB","limit":1}]"#,
            r#"[{"pageSize":"../x","limit":1}]"#,
        ] {
            let limits: Vec<LinuxHugepageLimit> = serde_json::from_str(json).unwrap();
            assert!(set(&t.path("h"), &limits).is_err(), "{json}");
        }
    }
}
