//! v1 blkio controller (Documentation/admin-guide/cgroup-v1/blkio-controller.rst).
//!
//! Throttling (`blkio.throttle.*`) is always there. Weights belong to the
//! I/O scheduler: CFQ had `blkio.weight`, BFQ has `blkio.bfq.weight`, and a
//! host with neither (mq-deadline, none) has no weight file at all; asking
//! for a weight there is an error naming the file, not a silent no-op.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::{BlkioEntry, BlkioStats};

/// A weight of 0 means "not set" (Docker always sends one), as runc reads it.
fn given(w: Option<u16>) -> Option<u16> {
    w.filter(|w| *w != 0)
}

fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Whether `b` asks for anything.
pub(crate) fn requested(b: &LinuxBlockIo) -> bool {
    given(b.weight()).is_some()
        || given(b.leaf_weight()).is_some()
        || non_empty(b.weight_device())
        || non_empty(b.throttle_read_bps_device())
        || non_empty(b.throttle_write_bps_device())
        || non_empty(b.throttle_read_iops_device())
        || non_empty(b.throttle_write_iops_device())
}

/// The first of `files` that exists, or an error naming the first one.
fn pick<'a>(dir: &Path, files: &[&'a str], resource: &'static str) -> Result<&'a str> {
    files
        .iter()
        .copied()
        .find(|f| cgfs::exists(dir, f))
        .ok_or_else(|| Error::MissingFile {
            resource,
            path: dir.join(files[0]),
        })
}

/// The (file, line) writes for `b`, one device per write as the kernel
/// parses them. Weight files are chosen by what exists in `dir`.
fn writes(dir: &Path, b: &LinuxBlockIo) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    if let Some(w) = given(b.weight()) {
        let f = pick(dir, &["blkio.weight", "blkio.bfq.weight"], "blockIO.weight")?;
        out.push((f, w.to_string()));
    }
    if let Some(w) = given(b.leaf_weight()) {
        out.push((
            pick(dir, &["blkio.leaf_weight"], "blockIO.leafWeight")?,
            w.to_string(),
        ));
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            let f = pick(
                dir,
                &["blkio.weight_device", "blkio.bfq.weight_device"],
                "blockIO.weightDevice",
            )?;
            out.push((f, format!("{dev} {w}")));
        }
        if let Some(w) = d.leaf_weight() {
            let f = pick(
                dir,
                &["blkio.leaf_weight_device"],
                "blockIO.weightDevice.leafWeight",
            )?;
            out.push((f, format!("{dev} {w}")));
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, devs) in throttles {
        for d in devs.iter().flatten() {
            out.push((file, format!("{}:{} {}", d.major(), d.minor(), d.rate())));
        }
    }
    Ok(out)
}

/// Writes every block I/O setting in `b`.
pub(crate) fn set(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    for (file, line) in writes(dir, b)? {
        cgfs::write(dir, file, &line)?;
    }
    Ok(())
}

/// Parses "8:0 Read 4096" lines; the "Total" summary line has no device.
fn parse_entries(path: &Path, text: &str) -> Result<Vec<BlkioEntry>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [dev, op, value] = f[..] else { continue };
        let bad = || Error::Parse {
            path: path.to_path_buf(),
            content: line.to_string(),
        };
        let (major, minor) = dev.split_once(':').ok_or_else(bad)?;
        out.push(BlkioEntry {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
            op: op.to_string(),
            value: value.parse().map_err(|_| bad())?,
        });
    }
    Ok(out)
}

/// Fills I/O counters from the throttle layer, which sees every bio, or
/// from BFQ's files where the throttle ones are missing.
pub(crate) fn stats(dir: &Path, s: &mut BlkioStats) -> Result<()> {
    for prefix in ["blkio.throttle", "blkio.bfq"] {
        let bytes = format!("{prefix}.io_service_bytes_recursive");
        let Some(t) = cgfs::read_opt(dir, &bytes)? else {
            continue;
        };
        s.io_service_bytes_recursive = parse_entries(&dir.join(&bytes), &t)?;
        let ios = format!("{prefix}.io_serviced_recursive");
        if let Some(t) = cgfs::read_opt(dir, &ios)? {
            s.io_serviced_recursive = parse_entries(&dir.join(&ios), &t)?;
        }
        break;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    const THROTTLE: [&str; 4] = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];

    fn bio(json: &str) -> LinuxBlockIo {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn plans_writes_per_device() {
        let t = FakeTree::new();
        t.files("b", &THROTTLE)
            .files("b", &["blkio.bfq.weight", "blkio.bfq.weight_device"]);
        let b = bio(
            r#"{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":500}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576},{"major":8,"minor":16,"rate":1}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":100}]}"#,
        );
        assert!(requested(&b));
        let got = writes(&t.path("b"), &b).unwrap();
        let want = vec![
            ("blkio.bfq.weight", "300".to_string()),
            ("blkio.bfq.weight_device", "8:0 500".to_string()),
            ("blkio.throttle.read_bps_device", "8:0 1048576".to_string()),
            ("blkio.throttle.read_bps_device", "8:16 1".to_string()),
            ("blkio.throttle.write_iops_device", "8:0 100".to_string()),
        ];
        assert_eq!(got, want);
        set(&t.path("b"), &b).unwrap();
        assert_eq!(t.read("b/blkio.throttle.write_iops_device"), "8:0 100");
    }

    #[test]
    fn weight_without_weight_file_names_the_file() {
        let t = FakeTree::new();
        t.files("b", &THROTTLE);
        let cases = [
            (r#"{"weight":300}"#, "blkio.weight` does not exist"),
            (r#"{"leafWeight":300}"#, "blkio.leaf_weight` does not exist"),
            (
                r#"{"weightDevice":[{"major":8,"minor":0,"weight":5}]}"#,
                "blkio.weight_device` does not exist",
            ),
        ];
        for (json, want) in cases {
            let msg = set(&t.path("b"), &bio(json)).unwrap_err().to_string();
            assert!(msg.contains(want), "{json}: {msg}");
        }
        // Throttling alone works without any weight file.
        set(
            &t.path("b"),
            &bio(r#"{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":5}]}"#),
        )
        .unwrap();
        assert!(!requested(&bio(r#"{"throttleReadBpsDevice":[]}"#)));
        // Docker sends weight 0 meaning "unset": no write, and no missing-file error.
        assert!(!requested(&bio(r#"{"weight":0,"leafWeight":0}"#)));
        set(&t.path("b"), &bio(r#"{"weight":0}"#)).unwrap();
    }

    #[test]
    fn reads_counters() {
        let t = FakeTree::new();
        t.file(
            "b/blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
        );
        t.file("b/blkio.throttle.io_serviced_recursive", "8:0 Read 1\n");
        let mut s = BlkioStats::default();
        stats(&t.path("b"), &mut s).unwrap();
        assert_eq!(s.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.io_service_bytes_recursive[0].value, 4096);
        assert_eq!(s.io_serviced_recursive[0].op, "Read");
    }
}
