//! LSM labels: applied when that LSM is active, refused with one clear line when it is not
//! (this project's hosts have neither AppArmor nor SELinux enabled; with one active, the
//! cases that expect a refusal say so and return).

mod common;

use common::{unique, Bundle, Kind, Runtime};
use serde_json::json;

fn lsm_active(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .is_ok_and(|s| s.split(',').any(|l| l.trim() == name))
}

#[test]
fn apparmor_profile_without_apparmor_is_refused() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth || lsm_active("apparmor") {
        eprintln!("skip: AppArmor is active here, or not berth-runtime under test");
        return;
    }
    let mut b = Bundle::new();
    b.set("/process/apparmorProfile", json!("berth-default"));
    let id = unique("aa");
    let line = rt.create(&b, &id).failed().one_error_line();
    assert!(
        line.contains("process.apparmorProfile") && line.contains("berth-default"),
        "{line}"
    );
    common::assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn exec_process_label_without_selinux_is_refused() {
    let rt = Runtime::under_test();
    if rt.kind() != Kind::Berth || lsm_active("selinux") {
        eprintln!("skip: SELinux is active here, or not berth-runtime under test");
        return;
    }
    let mut b = Bundle::new();
    b.check(&["sleep", "100"]);
    let id = unique("se");
    rt.run_detached(&b, &id).ok();
    let out = rt.exec(
        &id,
        &[
            "--process-label",
            "system_u:system_r:container_t:s0",
            "/bin/true",
        ],
    );
    rt.forget(&id);
    let line = out.failed().one_error_line();
    assert!(
        line.contains("process.selinuxLabel") && line.contains("container_t"),
        "{line}"
    );
}
