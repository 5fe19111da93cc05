//! v1 net_cls controller: tags the container's packets with a class id for
//! tc and iptables (Documentation/admin-guide/cgroup-v1/net_cls.rst).

use std::path::Path;

use crate::cgfs;
use crate::error::Result;

/// Writes net_cls.classid.
pub(crate) fn set(dir: &Path, class_id: u32) -> Result<()> {
    cgfs::write(dir, "net_cls.classid", &class_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::FakeTree;

    #[test]
    fn writes_class_id() {
        let t = FakeTree::new();
        t.file("n/net_cls.classid", "0\n");
        set(&t.path("n"), 0x100001).unwrap();
        assert_eq!(t.read("n/net_cls.classid"), "1048577");
    }
}
