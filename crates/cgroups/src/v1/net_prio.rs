//! v1 net_prio controller: per-interface priority of the container's
//! traffic (Documentation/admin-guide/cgroup-v1/net_prio.rst).

use std::path::Path;

use oci_spec::runtime::LinuxInterfacePriority;

use crate::cgfs;
use crate::error::{Error, Result};

/// The "ifname prio" lines, one per write.
fn lines(prios: &[LinuxInterfacePriority]) -> Result<Vec<String>> {
    prios
        .iter()
        .map(|p| {
            let name = p.name();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(Error::InvalidValue {
                    resource: "network.priorities",
                    value: name.clone(),
                    reason: "not an interface name",
                });
            }
            Ok(format!("{name} {}", p.priority()))
        })
        .collect()
}

/// Writes net_prio.ifpriomap.
pub(crate) fn set(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for line in lines(prios)? {
        cgfs::write(dir, "net_prio.ifpriomap", &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn one_line_per_interface() {
        let p: Vec<LinuxInterfacePriority> =
            serde_json::from_str(r#"[{"name":"eth0","priority":5},{"name":"lo","priority":1}]"#)
                .unwrap();
        assert_eq!(lines(&p).unwrap(), vec!["eth0 5", "lo 1"]);
        let t = FakeTree::new();
        t.file("n/net_prio.ifpriomap", "");
        set(&t.path("n"), &p).unwrap();
        assert_eq!(t.read("n/net_prio.ifpriomap"), "lo 1");
        let bad: Vec<LinuxInterfacePriority> =
            serde_json::from_str(r#"[{"name":"a b","priority":1}]"#).unwrap();
        assert!(lines(&bad).is_err());
    }
}
