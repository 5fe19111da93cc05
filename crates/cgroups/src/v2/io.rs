//! v2 io controller: weights (io.bfq.weight or io.weight) and io.max.
//!
//! OCI weights are v1's [10, 1000]. BFQ takes them as they are; io.weight
//! (blk-iocost) is [1, 10000], so they are mapped linearly (runc
//! `ConvertBlkIOToIOWeightValue`). Leaf weights have no v2 counterpart and
//! are refused by the manager.

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgfs;
use crate::error::{Error, Result};
use crate::stats::{BlkioEntry, BlkioStats};

fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Whether `b` asks for anything.
pub(crate) fn requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || non_empty(b.weight_device())
        || non_empty(b.throttle_read_bps_device())
        || non_empty(b.throttle_write_bps_device())
        || non_empty(b.throttle_read_iops_device())
        || non_empty(b.throttle_write_iops_device())
}

/// [10, 1000] -> [1, 10000].
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// Which weight file this host has, BFQ first (it honours the v1 scale).
fn weight_file(dir: &Path, resource: &'static str) -> Result<(&'static str, bool)> {
    if cgfs::exists(dir, "io.bfq.weight") {
        Ok(("io.bfq.weight", true))
    } else if cgfs::exists(dir, "io.weight") {
        Ok(("io.weight", false))
    } else {
        Err(Error::MissingFile {
            resource,
            path: dir.join("io.weight"),
        })
    }
}

/// The (file, line) writes for `b`, one device per write.
fn writes(dir: &Path, b: &LinuxBlockIo) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    // A weight of 0 means "not set" (Docker always sends one), as runc reads it.
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let (file, bfq) = weight_file(dir, "blockIO.weight")?;
        let v = if bfq {
            u64::from(w)
        } else {
            blkio_to_io_weight(w)
        };
        out.push((file, v.to_string()));
    }
    for d in b.weight_device().iter().flatten() {
        let Some(w) = d.weight() else { continue };
        let (file, bfq) = weight_file(dir, "blockIO.weightDevice")?;
        let v = if bfq {
            u64::from(w)
        } else {
            blkio_to_io_weight(w)
        };
        out.push((file, format!("{}:{} {v}", d.major(), d.minor())));
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devs) in throttles {
        for d in devs.iter().flatten() {
            out.push((
                "io.max",
                format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            ));
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

/// Parses io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
fn parse_stat(path: &Path, text: &str, s: &mut BlkioStats) -> Result<()> {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || Error::Parse {
            path: path.to_path_buf(),
            content: line.to_string(),
        };
        let mut fields = line.split_whitespace();
        let dev = fields.next().ok_or_else(bad)?;
        let (major, minor) = dev.split_once(':').ok_or_else(bad)?;
        let (major, minor) = (
            major.parse().map_err(|_| bad())?,
            minor.parse().map_err(|_| bad())?,
        );
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (table, op) = match k {
                "rbytes" => (&mut s.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.io_serviced_recursive, "Read"),
                "wios" => (&mut s.io_serviced_recursive, "Write"),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: v.parse().map_err(|_| bad())?,
            });
        }
    }
    Ok(())
}

/// Fills I/O counters; nothing when the controller is not enabled.
pub(crate) fn stats(dir: &Path, s: &mut BlkioStats) -> Result<()> {
    match cgfs::read_opt(dir, "io.stat")? {
        Some(t) => parse_stat(&dir.join("io.stat"), &t, s),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    fn bio(json: &str) -> LinuxBlockIo {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn converts_weights() {
        let cases = [(10, 1), (500, 4950), (1000, 10_000), (5, 1), (2000, 10_000)];
        for (w, want) in cases {
            assert_eq!(blkio_to_io_weight(w), want, "{w}");
        }
    }

    #[test]
    fn plans_writes_per_host() {
        let b = bio(
            r#"{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":100}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1024}],
                "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":10}]}"#,
        );
        type Case = (&'static [&'static str], Vec<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (
                &["io.weight", "io.max"],
                vec![
                    ("io.weight", "4950"),
                    ("io.weight", "8:0 910"),
                    ("io.max", "8:0 rbps=1024"),
                    ("io.max", "8:16 wiops=10"),
                ],
            ),
            (
                &["io.bfq.weight", "io.weight", "io.max"],
                vec![
                    ("io.bfq.weight", "500"),
                    ("io.bfq.weight", "8:0 100"),
                    ("io.max", "8:0 rbps=1024"),
                    ("io.max", "8:16 wiops=10"),
                ],
            ),
        ];
        for (files, want) in cases {
            let t = FakeTree::new();
            t.files("io", files);
            let got = writes(&t.path("io"), &b).unwrap();
            let got: Vec<(&str, &str)> = got.iter().map(|(f, l)| (*f, l.as_str())).collect();
            assert_eq!(got, want, "{files:?}");
            set(&t.path("io"), &b).unwrap();
            assert_eq!(t.read("io/io.max"), "8:16 wiops=10");
        }
    }

    #[test]
    fn weight_without_weight_file_names_it() {
        let t = FakeTree::new();
        t.files("io", &["io.max"]);
        let e = set(&t.path("io"), &bio(r#"{"weight":100}"#)).unwrap_err();
        assert!(e.to_string().contains("io.weight` does not exist"), "{e}");
        set(
            &t.path("io"),
            &bio(r#"{"throttleReadBpsDevice":[{"major":1,"minor":2,"rate":3}]}"#),
        )
        .unwrap();
    }

    #[test]
    fn reads_io_stat() {
        let t = FakeTree::new();
        t.file(
            "io/io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        let mut s = BlkioStats::default();
        stats(&t.path("io"), &mut s).unwrap();
        assert_eq!(s.io_service_bytes_recursive.len(), 2);
        assert_eq!(
            (
                s.io_service_bytes_recursive[1].op.as_str(),
                s.io_service_bytes_recursive[1].value
            ),
            ("Write", 8192)
        );
        assert_eq!(s.io_serviced_recursive[0].value, 1);
        assert!(parse_stat(Path::new("/f"), "garbage rbytes=1\n", &mut s).is_err());
    }
}
