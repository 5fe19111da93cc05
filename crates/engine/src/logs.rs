//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"<RFC 3339 nanos>"}`, in `<id>-json.log`,
//! rotated to `.1`, `.2`, ... when it passes `max-size` and bounded to `max-file` files.
//! Bounded by default (10 MiB × 3), unlike Docker. The writer is `berth_monitor::jsonlog`
//! (the monitor's relay writes the log); this module parses the limits and reads it back.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_monitor::jsonlog::rotated;
pub use berth_monitor::jsonlog::{Limits, Writer, DEFAULT_MAX_FILE, DEFAULT_MAX_SIZE};
use serde::{Deserialize, Serialize};

use crate::config::LogConfig;
use crate::error::{Error, Result};

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The text, with its newline when the line was complete.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// When the monitor read it.
    pub time: String,
}

/// The limits of `--log-opt max-size=.. max-file=..`, with berth's defaults.
pub fn limits(c: &LogConfig) -> Result<Limits> {
    let max_size = match c.config.get("max-size") {
        Some(s) if s == "-1" => 0,
        Some(s) => crate::resources::parse_bytes("--log-opt max-size", s)? as u64,
        None => DEFAULT_MAX_SIZE,
    };
    let max_file =
        match c.config.get("max-file") {
            Some(s) => s.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::invalid("--log-opt max-file", s, "must be a positive integer")
            })?,
            None => DEFAULT_MAX_FILE,
        };
    for k in c.config.keys() {
        if k != "max-size" && k != "max-file" {
            return Err(Error::invalid(
                "--log-opt",
                k,
                "unknown log option for json-file (max-size, max-file)",
            ));
        }
    }
    Ok(Limits { max_size, max_file })
}

/// The log file of the container whose directory is `dir`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only the last n entries.
    pub tail: Option<usize>,
    /// Only entries at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries before this time.
    pub until: Option<SystemTime>,
}

/// Every entry of the log (rotated files first), filtered.
pub fn read(path: &Path, o: &ReadOptions) -> Result<Vec<Entry>> {
    let mut files = vec![];
    for n in (1..64).rev() {
        let p = rotated(path, n);
        if p.exists() {
            files.push(p);
        }
    }
    files.push(path.to_path_buf());
    let mut out = vec![];
    for f in files {
        let Ok(file) = File::open(&f) else { continue };
        for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
            if let Some(e) = parse_line(&line, o) {
                out.push(e);
            }
        }
    }
    if let Some(n) = o.tail {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    }
    Ok(out)
}

fn parse_line(line: &str, o: &ReadOptions) -> Option<Entry> {
    let e: Entry = serde_json::from_str(line).ok()?;
    if o.since.is_some() || o.until.is_some() {
        let t = humantime::parse_rfc3339(&e.time).ok()?;
        if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t >= u) {
            return None;
        }
    }
    Some(e)
}

/// Follows the log from its current end, calling `f` for each new entry (stopping when it
/// returns false) until `done` returns true, which is asked whenever there is no new data.
/// Survives rotation (the file shrinking under us means a new one).
pub fn follow(
    path: &Path,
    mut f: impl FnMut(&Entry) -> bool,
    mut done: impl FnMut() -> bool,
) -> Result<()> {
    let mut pos = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let o = ReadOptions::default();
    let mut finishing = false;
    loop {
        let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0;
        }
        let mut data = vec![];
        if len > pos {
            let mut file = File::open(path).map_err(Error::io("open", path))?;
            file.seek(SeekFrom::Start(pos))
                .map_err(Error::io("seek", path))?;
            std::io::Read::read_to_end(&mut file, &mut data).map_err(Error::io("read", path))?;
        }
        let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1);
        for line in String::from_utf8_lossy(&data[..complete]).lines() {
            if let Some(e) = parse_line(line, &o) {
                if !f(&e) {
                    return Ok(());
                }
            }
        }
        pos += complete as u64;
        if complete == 0 {
            if finishing {
                return Ok(());
            }
            if done() {
                // One more pass: what was written before the end was noticed.
                finishing = true;
                continue;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_streams_kept_apart() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x-json.log");
        let mut w = Writer::open(
            p.clone(),
            Limits {
                max_size: 0,
                max_file: 1,
            },
        )
        .unwrap();
        w.write(1, b"hel");
        w.write(2, b"oops\n");
        w.write(1, b"lo\nworld\npart");
        w.flush();
        let e = read(&p, &ReadOptions::default()).unwrap();
        let logs: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            logs,
            vec![
                ("stderr", "oops\n"),
                ("stdout", "hello\n"),
                ("stdout", "world\n"),
                ("stdout", "part")
            ]
        );
        let tail = read(
            &p,
            &ReadOptions {
                tail: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(tail.len(), 2);
    }

    #[test]
    fn limits_parse_and_refuse_nonsense() {
        let mut c = LogConfig::default();
        assert_eq!(limits(&c).unwrap().max_size, DEFAULT_MAX_SIZE);
        c.config.insert("max-size".into(), "1k".into());
        c.config.insert("max-file".into(), "2".into());
        assert_eq!(
            limits(&c).unwrap(),
            Limits {
                max_size: 1024,
                max_file: 2
            }
        );
        c.config.insert("max-file".into(), "0".into());
        assert!(limits(&c).is_err());
        c.config.insert("max-file".into(), "2".into());
        c.config.insert("colour".into(), "red".into());
        assert!(limits(&c).is_err());
    }
}
