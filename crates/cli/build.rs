//! Build facts for `berth version`: the git commit (from `BERTH_GIT_COMMIT`, else `git`,
//! else "unknown") and the compiler's version.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_GIT_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let commit = std::env::var("BERTH_GIT_COMMIT")
        .ok()
        .or_else(|| output("git", &["rev-parse", "--short=7", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={version}");
}
