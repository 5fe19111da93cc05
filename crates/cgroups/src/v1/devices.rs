//! v1 devices controller (Documentation/admin-guide/cgroup-v1/devices.rst).
//!
//! The list is reset with "a" on devices.deny and rebuilt rule by rule, as
//! runc does. Between the reset and the last allow a running container is
//! briefly denied devices it is about to get back; v1 offers no atomic swap.

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgfs;
use crate::devices::{effective_rules, Rule};
use crate::error::Result;

/// One (file, line) write per rule, in order.
fn writes(rules: &[Rule]) -> Vec<(&'static str, String)> {
    rules
        .iter()
        .map(|r| {
            let file = if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            (file, r.v1_line())
        })
        .collect()
}

/// Programs the device list for the spec's `rules`.
pub(crate) fn set(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for (file, line) in writes(&effective_rules(rules)?) {
        cgfs::write(dir, file, &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn resets_then_applies_spec_rules_then_defaults() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"minor":0,"access":"rw"},
                {"allow":false,"type":"c","major":1,"minor":9,"access":"w"}]"#,
        )
        .unwrap();
        let got = writes(&effective_rules(&spec).unwrap());
        let head: Vec<(&str, &str)> = got.iter().take(5).map(|(f, l)| (*f, l.as_str())).collect();
        assert_eq!(
            head,
            vec![
                ("devices.deny", "a"),
                ("devices.deny", "a"),
                ("devices.allow", "b 7:0 rw"),
                ("devices.deny", "c 1:9 w"),
                ("devices.allow", "c *:* m"),
            ]
        );
        let t = FakeTree::new();
        t.files("d", &["devices.allow", "devices.deny"]);
        set(&t.path("d"), &spec).unwrap();
        assert_eq!(t.read("d/devices.allow"), "c 10:200 rwm");
        assert_eq!(t.read("d/devices.deny"), "c 1:9 w");
    }
}
