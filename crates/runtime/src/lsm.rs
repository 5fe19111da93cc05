//! Which Linux security modules are active; labels are refused when their LSM is absent.

use std::path::Path;

/// AppArmor is loaded and enabled.
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
        && Path::new("/sys/kernel/security/apparmor").exists()
}

/// SELinux is mounted and enabled.
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Ask the kernel to put the next execve under `label` (AppArmor profile or SELinux context).
pub fn set_exec_label(apparmor: Option<&str>, selinux: Option<&str>) -> std::io::Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        let file = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(file, format!("exec {p}"))?;
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        std::fs::write("/proc/self/attr/exec", l)?;
    }
    Ok(())
}
