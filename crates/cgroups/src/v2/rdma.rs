//! rdma controller: `rdma.max`, one line per device. The file is the same
//! on v1 and v2, so the v1 backend uses this too.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::cgfs;
use crate::error::{Error, Result};

/// "mlx4_0 hca_handle=2 hca_object=2000" lines, sorted by device; devices
/// with neither limit are skipped.
fn lines(limits: &HashMap<String, LinuxRdma>) -> Result<Vec<String>> {
    let mut devs: Vec<_> = limits.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    for (dev, l) in devs {
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(Error::InvalidValue {
                resource: "rdma",
                value: dev.clone(),
                reason: "not a device name",
            });
        }
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > dev.len() {
            out.push(line);
        }
    }
    Ok(out)
}

/// Writes rdma.max.
pub(crate) fn set(dir: &Path, limits: &HashMap<String, LinuxRdma>) -> Result<()> {
    for line in lines(limits)? {
        cgfs::write(dir, "rdma.max", &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn one_line_per_device() {
        let m: HashMap<String, LinuxRdma> = serde_json::from_str(
            r#"{"mlx5_1":{"hcaObjects":9},"mlx5_0":{"hcaHandles":2,"hcaObjects":2000},"x":{}}"#,
        )
        .unwrap();
        assert_eq!(
            lines(&m).unwrap(),
            vec!["mlx5_0 hca_handle=2 hca_object=2000", "mlx5_1 hca_object=9"]
        );
        let t = FakeTree::new();
        t.file("r/rdma.max", "");
        set(&t.path("r"), &m).unwrap();
        assert_eq!(t.read("r/rdma.max"), "mlx5_1 hca_object=9");
        let bad: HashMap<String, LinuxRdma> =
            serde_json::from_str(r#"{"a b":{"hcaHandles":1}}"#).unwrap();
        assert!(lines(&bad).is_err());
    }
}
