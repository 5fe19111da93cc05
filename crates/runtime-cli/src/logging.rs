//! Where errors go: stderr, or `--log` as text or runc's JSON lines.

use std::io::Write;
use std::path::PathBuf;

/// The binary's one place to print diagnostics.
pub struct Log {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

impl Log {
    /// A logger for the global flags.
    pub fn new(file: Option<PathBuf>, format: &str, debug: bool) -> Self {
        Self {
            file,
            json: format == "json",
            debug,
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = if self.json {
            let t = berth_runtime::state::rfc3339(std::time::SystemTime::now());
            serde_json::json!({"level": level, "msg": msg, "time": t}).to_string()
        } else {
            format!("berth-runtime: {msg}")
        };
        if let Some(path) = &self.file {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
        // containerd reads errors from the log file; people read stderr. Errors go to both.
        if level == "error" || self.file.is_none() {
            eprintln!("berth-runtime: {msg}");
        }
    }

    /// An error line.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// A debug line (only with --debug).
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}
