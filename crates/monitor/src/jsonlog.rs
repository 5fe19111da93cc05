//! Writing container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"<RFC 3339 nanos>"}`, in `<id>-json.log`,
//! rotated to `.1`, `.2`, ... when it passes `max-size` and bounded to `max-file` files.
//! Reading them back is the engine's `logs` module.
//!
//! The relay runs this for every line a container prints, so it is written by hand, with
//! one reused buffer and no formatting machinery: the less code, the less stays resident.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Default `max-size`.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// Default `max-file`.
pub const DEFAULT_MAX_FILE: u32 = 3;
/// A line longer than this is written as several entries (Docker's 16 KiB).
const MAX_LINE: usize = 16 << 10;

/// The limits of one container's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rotate when the file reaches this size (0: never).
    pub max_size: u64,
    /// Keep this many files in all.
    pub max_file: u32,
}

/// Appends entries, splitting streams into lines and rotating.
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    limits: Limits,
    partial: [Vec<u8>; 2],
    line: Vec<u8>,
}

impl Writer {
    /// Opens (appending) the log at `path`.
    pub fn open(path: PathBuf, limits: Limits) -> std::io::Result<Writer> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path,
            file,
            size,
            limits,
            partial: [vec![], vec![]],
            line: vec![],
        })
    }

    /// Takes bytes read from stream 1 (stdout) or 2 (stderr).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let i = usize::from(stream == 2);
        let mut rest = data;
        // Complete lines go straight from `data` unless a partial one waits before them.
        while let Some(n) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(n + 1);
            if self.partial[i].is_empty() {
                self.entry(stream, line);
            } else {
                let mut p = std::mem::take(&mut self.partial[i]);
                p.extend_from_slice(line);
                self.split_long(stream, &p);
                p.clear();
                self.partial[i] = p;
            }
            rest = tail;
        }
        let mut p = std::mem::take(&mut self.partial[i]);
        p.extend_from_slice(rest);
        let mut start = 0;
        while p.len() - start >= MAX_LINE {
            self.entry(stream, &p[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        p.drain(..start);
        self.partial[i] = p;
    }

    /// A complete line that may be longer than [`MAX_LINE`].
    fn split_long(&mut self, stream: u8, line: &[u8]) {
        for part in line.chunks(MAX_LINE) {
            self.entry(stream, part);
        }
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
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        encode(&mut line, text, stream, SystemTime::now());
        if self.limits.max_size > 0 && self.size + line.len() as u64 > self.limits.max_size {
            self.rotate();
        }
        if self.file.write_all(&line).is_ok() {
            self.size += line.len() as u64;
        }
        // A burst's long lines should not keep a large buffer for the rest of the run.
        if line.capacity() > 2 * MAX_LINE {
            line = vec![];
        }
        self.line = line;
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

/// Appends one log line for `text` read from `stream` (2: stderr) at `time` to `out`.
/// Invalid UTF-8 becomes U+FFFD, as `String::from_utf8_lossy` makes it.
pub fn encode(out: &mut Vec<u8>, text: &[u8], stream: u8, time: SystemTime) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 80);
    out.extend_from_slice(b"{\"log\":\"");
    for chunk in text.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b if b < 0x20 => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
                b => out.push(b),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.extend_from_slice(if stream == 2 {
        b"\",\"stream\":\"stderr\",\"time\":\""
    } else {
        b"\",\"stream\":\"stdout\",\"time\":\""
    });
    rfc3339_nanos(out, time);
    out.extend_from_slice(b"\"}\n");
}

/// `time` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC), as humantime's `format_rfc3339_nanos`
/// writes it; times before 1970 as 1970.
pub fn rfc3339_nanos(out: &mut Vec<u8>, time: SystemTime) {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil(secs / 86400);
    let s = secs % 86400;
    push_digits(out, y, 4);
    let fields: [(u8, u64, u32); 6] = [
        (b'-', m, 2),
        (b'-', day, 2),
        (b'T', s / 3600, 2),
        (b':', s / 60 % 60, 2),
        (b':', s % 60, 2),
        (b'.', u64::from(d.subsec_nanos()), 9),
    ];
    for (sep, n, width) in fields {
        out.push(sep);
        push_digits(out, n, width);
    }
    out.push(b'Z');
}

/// `n` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut Vec<u8>, n: u64, width: u32) {
    for i in (0..width).rev() {
        out.push(b'0' + (n / 10u64.pow(i) % 10) as u8);
    }
}

/// Year, month, day of the `days`th day after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The `n`th rotated file of the log at `path` (`path.n`).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(n.to_string());
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = (1..10).rev().map(|n| rotated(path, n)).collect();
        files.push(path.to_path_buf());
        files
            .iter()
            .filter_map(|f| fs::read_to_string(f).ok())
            .flat_map(|t| {
                t.lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn lines_are_split_and_streams_kept_apart() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x-json.log");
        let unbounded = Limits {
            max_size: 0,
            max_file: 1,
        };
        let mut w = Writer::open(p.clone(), unbounded).unwrap();
        w.write(1, b"hel");
        w.write(2, b"oops\n");
        w.write(1, b"lo\nworld\npart");
        w.write(1, &vec![b'x'; MAX_LINE + 5]);
        w.write(1, b"\n");
        w.flush();
        let got: Vec<(String, usize)> = entries(&p)
            .iter()
            .map(|e| {
                (
                    e["stream"].as_str().unwrap().to_string(),
                    e["log"].as_str().unwrap().len(),
                )
            })
            .collect();
        let want = [
            ("stderr", 5),
            ("stdout", 6),
            ("stdout", 6),
            ("stdout", MAX_LINE),
            ("stdout", 10),
        ];
        let want: Vec<(String, usize)> = want.iter().map(|(s, n)| (s.to_string(), *n)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn hand_written_json_parses_back() {
        let text = b"a \"q\" \\ \t\r\x01\x1f \xff caf\xc3\xa9 \xe2\x82\n";
        let mut line = vec![];
        let t = UNIX_EPOCH + Duration::new(1_767_225_600, 100_000_000);
        encode(&mut line, text, 2, t);
        assert_eq!(line.last(), Some(&b'\n'));
        let e: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(e["log"], *String::from_utf8_lossy(text));
        assert_eq!(e["stream"], "stderr");
        assert_eq!(e["time"], "2026-01-01T00:00:00.100000000Z");
    }

    #[test]
    fn timestamps_match_the_calendar() {
        for (secs, nanos, want) in [
            (0, 0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
            (1_798_761_599, 999_999_999, "2026-12-31T23:59:59.999999999Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00.000000000Z"),
        ] {
            let mut out = vec![];
            rfc3339_nanos(&mut out, UNIX_EPOCH + Duration::new(secs, nanos));
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn rotation_bounds_the_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x-json.log");
        let limits = Limits {
            max_size: 1000,
            max_file: 3,
        };
        let mut w = Writer::open(p.clone(), limits).unwrap();
        for i in 0..200 {
            w.write(1, format!("line {i}\n").as_bytes());
        }
        let total: u64 = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 3000, "{total}");
        assert!(rotated(&p, 2).exists() && !rotated(&p, 3).exists());
        let nums: Vec<u32> = entries(&p)
            .iter()
            .map(|e| e["log"].as_str().unwrap().trim()[5..].parse().unwrap())
            .collect();
        assert_eq!(nums.last(), Some(&199));
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    }
}
