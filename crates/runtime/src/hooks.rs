//! OCI hooks: each runs with the container state JSON on stdin, its own args and env, and an
//! optional timeout after which it is killed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;
use serde::Serialize;

/// A hook that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// It could not be started.
    #[error("{kind} hook `{path}`: {source}")]
    Spawn {
        /// Which hook list.
        kind: &'static str,
        /// The hook program.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited non-zero or was killed.
    #[error("{kind} hook `{path}`: {status}")]
    Failed {
        /// Which hook list.
        kind: &'static str,
        /// The hook program.
        path: String,
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// It ran past its timeout and was killed.
    #[error("{kind} hook `{path}`: timed out after {secs}s")]
    Timeout {
        /// Which hook list.
        kind: &'static str,
        /// The hook program.
        path: String,
        /// The timeout.
        secs: i64,
    },
}

/// The OCI state document a hook reads on stdin.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookState<'a> {
    /// OCI version of the spec.
    pub oci_version: &'a str,
    /// Container id.
    pub id: &'a str,
    /// creating, created, running, stopped.
    pub status: &'a str,
    /// Init's pid (0 once stopped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Bundle path.
    pub bundle: &'a str,
    /// Annotations.
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub annotations: &'a std::collections::HashMap<String, String>,
}

/// Run every hook of a list in order; the first failure stops the list.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &HookState<'_>) -> Result<(), HookError> {
    let json = serde_json::to_vec(state).expect("state serializes");
    for h in hooks {
        run_one(kind, h, &json)?;
    }
    Ok(())
}

fn run_one(kind: &'static str, h: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = h.path().display().to_string();
    let spawn_err = |source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    };
    let mut cmd = Command::new(h.path());
    let args = h.args().clone().unwrap_or_default();
    if let Some((first, rest)) = args.split_first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.stdin(Stdio::piped()).spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not fail the write: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let status = match deadline {
        None => child.wait().map_err(spawn_err)?,
        Some((secs, until)) => loop {
            if let Some(st) = child.try_wait().map_err(spawn_err)? {
                break st;
            }
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { kind, path, secs });
            }
            std::thread::sleep(Duration::from_millis(5));
        },
    };
    if !status.success() {
        return Err(HookError::Failed { kind, path, status });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn state_on_stdin_args_env_timeout() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let annotations = Default::default();
        let st = HookState {
            oci_version: "1.0.2",
            id: "c1",
            status: "created",
            pid: Some(7),
            bundle: "/b",
            annotations: &annotations,
        };
        let h = hook(
            serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}; echo \"$X\" >> {}", out.display(), out.display())], "env": ["X=yes"]}),
        );
        run_all("poststart", &[h], &st).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.starts_with(
                "{\"ociVersion\":\"1.0.2\",\"id\":\"c1\",\"status\":\"created\",\"pid\":7"
            ),
            "{text}"
        );
        assert!(text.ends_with("yes\n"));
        let slow =
            hook(serde_json::json!({"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}));
        assert!(matches!(
            run_all("prestart", &[slow], &st),
            Err(HookError::Timeout { .. })
        ));
        let bad = hook(serde_json::json!({"path": "/bin/false"}));
        assert!(run_all("poststop", &[bad], &st)
            .unwrap_err()
            .to_string()
            .starts_with("poststop hook `/bin/false`: exit status: 1"));
    }
}
