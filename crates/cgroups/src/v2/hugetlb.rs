//! v2 hugetlb controller: `hugetlb.<size>.max`, `.current`, `.events`.
//! Also used by the v1 backend on hybrid hosts whose cgroup2 mount carries
//! hugetlb, and for page-size handling shared with v1.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::HugetlbStats;

/// Validates an OCI page size ("2MB", "1GB", "64KB"). It becomes part of a
/// file name, so nothing but digits and a unit gets through.
pub(crate) fn page_size(l: &LinuxHugepageLimit) -> Result<&str> {
    let s = l.page_size().as_str();
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !["KB", "MB", "GB"].contains(&unit)
    {
        return Err(Error::InvalidValue {
            resource: "hugepageLimits.pageSize",
            value: s.to_string(),
            reason: "expected a number followed by KB, MB or GB",
        });
    }
    Ok(s)
}

/// The page sizes `dir` has files for, from names `hugetlb.<size><suffix>`
/// (reservation files, `hugetlb.<size>.rsvd.*`, are skipped).
pub(crate) fn sizes(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if cgfs::is_missing(&e) => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let size = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix));
        if let Some(size) = size.filter(|s| !s.contains('.')) {
            out.push(size.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Writes each page size's limit (-1 or any negative: "max").
pub(crate) fn set(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        let file = format!("hugetlb.{}.max", page_size(l)?);
        if !cgfs::exists(dir, &file) {
            return Err(Error::MissingFile {
                resource: "hugepageLimits",
                path: dir.join(file),
            });
        }
        let v = if l.limit() < 0 {
            "max".to_string()
        } else {
            l.limit().to_string()
        };
        cgfs::write(dir, &file, &v)?;
    }
    Ok(())
}

/// Fills usage and failures ("max" events) per page size.
pub(crate) fn stats(dir: &Path, s: &mut BTreeMap<String, HugetlbStats>) -> Result<()> {
    for size in sizes(dir, ".max")? {
        let st = HugetlbStats {
            usage: cgfs::read_u64_or_zero(dir, &format!("hugetlb.{size}.current"))?,
            max: 0,
            failcnt: cgfs::read_key(dir, &format!("hugetlb.{size}.events"), "max")?,
        };
        s.insert(size, st);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    fn limit(json: &str) -> LinuxHugepageLimit {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validates_page_sizes() {
        for ok in ["2MB", "1GB", "64KB"] {
            let l = limit(&format!(r#"{{"pageSize":"{ok}","limit":1}}"#));
            assert_eq!(page_size(&l).unwrap(), ok);
        }
        for bad in ["2M", "MB", "../2MB", "2MB/..", "2 MB", ""] {
            let l = limit(&format!(r#"{{"pageSize":"{bad}","limit":1}}"#));
            assert!(page_size(&l).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_limits_and_reads_stats() {
        let t = FakeTree::new();
        t.file("h/hugetlb.2MB.max", "max\n")
            .file("h/hugetlb.2MB.rsvd.max", "max\n");
        t.file("h/hugetlb.2MB.current", "0\n")
            .file("h/hugetlb.2MB.events", "max 3\n");
        let limits = [limit(r#"{"pageSize":"2MB","limit":2097152}"#)];
        set(&t.path("h"), &limits).unwrap();
        assert_eq!(t.read("h/hugetlb.2MB.max"), "2097152");
        set(&t.path("h"), &[limit(r#"{"pageSize":"2MB","limit":-1}"#)]).unwrap();
        assert_eq!(t.read("h/hugetlb.2MB.max"), "max");
        let e = set(&t.path("h"), &[limit(r#"{"pageSize":"1GB","limit":1}"#)]).unwrap_err();
        assert!(matches!(e, Error::MissingFile { .. }));
        let mut s = BTreeMap::new();
        stats(&t.path("h"), &mut s).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s["2MB"].failcnt, 3);
    }
}
