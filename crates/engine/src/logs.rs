//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"<RFC 3339 nanos>"}`, in `<id>-json.log`,
//! rotated to `.1`, `.2`, ... when it passes `max-size` and bounded to `max-file` files.
//! Bounded by default (10 MiB × 3), unlike Docker.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::LogConfig;
use crate::error::{Error, Result};

/// Default `max-size`.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// Default `max-file`.
pub const DEFAULT_MAX_FILE: u32 = 3;
/// A line longer than this is written as several entries (Docker's 16 KiB).
const MAX_LINE: usize = 16 << 10;

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

/// The limits of one container's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rotate when the file reaches this size (0: never).
    pub max_size: u64,
    /// Keep this many files in all.
    pub max_file: u32,
}

impl Limits {
    /// The limits of `--log-opt max-size=.. max-file=..`, with berth's defaults.
    pub fn of(c: &LogConfig) -> Result<Limits> {
        let max_size = match c.config.get("max-size") {
            Some(s) if s == "-1" => 0,
            Some(s) => crate::resources::parse_bytes("--log-opt max-size", s)? as u64,
            None => DEFAULT_MAX_SIZE,
        };
        let max_file = match c.config.get("max-file") {
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
}

/// The log file of the container whose directory is `dir`.
pub fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// Appends entries, splitting streams into lines and rotating.
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    limits: Limits,
    partial: [Vec<u8>; 2],
}

impl Writer {
    /// Opens (appending) the log at `path`.
    pub fn open(path: PathBuf, limits: Limits) -> Result<Writer> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path,
            file,
            size,
            limits,
            partial: [vec![], vec![]],
        })
    }

    /// Takes bytes read from stream 1 (stdout) or 2 (stderr).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let i = usize::from(stream == 2);
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(n) = buf[start..].iter().position(|&b| b == b'\n') {
            self.entry(stream, &buf[start..start + n + 1]);
            start += n + 1;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[i] = buf;
    }

    /// Writes what is left of unfinished lines.
    pub fn flush(&mut self) {
        for (i, stream) in [(0, 1u8), (1, 2u8)] {
            let buf = std::mem::take(&mut self.partial[i]);
            if !buf.is_empty() {
                self.entry(stream, &buf);
            }
        }
    }

    fn entry(&mut self, stream: u8, text: &[u8]) {
        let time = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let line = encode(text, if stream == 2 { "stderr" } else { "stdout" }, &time);
        if self.limits.max_size > 0 && self.size + line.len() as u64 > self.limits.max_size {
            self.rotate();
        }
        if self.file.write_all(&line).is_ok() {
            self.size += line.len() as u64;
        }
    }

    fn rotate(&mut self) {
        let keep = self.limits.max_file;
        if keep > 1 {
            for n in (1..keep - 1).rev() {
                let _ = fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
            }
            let _ = fs::rename(&self.path, rotated(&self.path, 1));
        }
        let reopened = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path);
        if let Ok(f) = reopened {
            self.file = f;
            self.size = 0;
        }
    }
}

/// One log line, JSON written by hand: the monitor runs this for every line a container
/// prints, and a small encoder keeps its resident code small.
fn encode(text: &[u8], stream: &str, time: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::with_capacity(text.len() + 64);
    out.extend_from_slice(b"{\"log\":\"");
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = c as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[n >> 4]);
                out.push(HEX[n & 15]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
    out
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
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
    fn hand_written_json_parses_back() {
        let text = b"a \"q\" \\ \t\r\x01\x1f \xff caf\xc3\xa9\n";
        let line = encode(text, "stderr", "2026-01-01T00:00:00.1Z");
        assert_eq!(line.last(), Some(&b'\n'));
        let e: Entry = serde_json::from_slice(&line).unwrap();
        assert_eq!(e.log, String::from_utf8_lossy(text));
        assert_eq!(
            (e.stream.as_str(), e.time.as_str()),
            ("stderr", "2026-01-01T00:00:00.1Z")
        );
    }

    #[test]
    fn rotation_bounds_the_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x-json.log");
        let mut w = Writer::open(
            p.clone(),
            Limits {
                max_size: 1000,
                max_file: 3,
            },
        )
        .unwrap();
        for i in 0..200 {
            w.write(1, format!("line {i}\n").as_bytes());
        }
        let total: u64 = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 3000, "{total}");
        assert!(rotated(&p, 2).exists() && !rotated(&p, 3).exists());
        let e = read(&p, &ReadOptions::default()).unwrap();
        assert_eq!(e.last().unwrap().log, "line 199\n");
        let nums: Vec<u32> = e
            .iter()
            .map(|e| e.log.trim()[5..].parse().unwrap())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    }

    #[test]
    fn limits_parse_and_refuse_nonsense() {
        let mut c = LogConfig::default();
        assert_eq!(Limits::of(&c).unwrap().max_size, DEFAULT_MAX_SIZE);
        c.config.insert("max-size".into(), "1k".into());
        c.config.insert("max-file".into(), "2".into());
        assert_eq!(
            Limits::of(&c).unwrap(),
            Limits {
                max_size: 1024,
                max_file: 2
            }
        );
        c.config.insert("max-file".into(), "0".into());
        assert!(Limits::of(&c).is_err());
        c.config.insert("max-file".into(), "2".into());
        c.config.insert("colour".into(), "red".into());
        assert!(Limits::of(&c).is_err());
    }
}
