//! How `docker` prints times and sizes.

use std::time::{Duration, SystemTime};

/// Docker's human size: decimal units, 3 significant digits (`4.19MB`, `512B`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}B");
    }
    let s = format!("{v:.3}");
    let s = if s.len() > 4 {
        format!(
            "{v:.*}",
            3usize.saturating_sub(format!("{}", v as u64).len())
        )
    } else {
        s
    };
    format!(
        "{}{}",
        s.trim_end_matches('0').trim_end_matches('.'),
        UNITS[u]
    )
}

/// `5 minutes ago`, from an RFC 3339 time.
pub fn ago(rfc3339: &str) -> String {
    let Ok(t) = humantime::parse_rfc3339_weak(rfc3339) else {
        return "N/A".into();
    };
    let d = SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (n, unit) = match d {
        0..=1 => return "Less than a second ago".into(),
        2..=59 => (d, "second"),
        60..=3599 => (d / 60, "minute"),
        3600..=86_399 => (d / 3600, "hour"),
        86_400..=1_209_599 => (d / 86_400, "day"),
        1_209_600..=5_183_999 => (d / 604_800, "week"),
        5_184_000..=31_535_999 => (d / 2_592_000, "month"),
        _ => (d / 31_536_000, "year"),
    };
    if n == 1 {
        format!(
            "{} {unit} ago",
            if unit == "hour" { "About an" } else { "1" }
        )
    } else {
        format!("{n} {unit}s ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        for (b, s) in [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (4_194_304, "4.19MB"),
            (1_500_000_000, "1.5GB"),
            (123_456, "123kB"),
        ] {
            assert_eq!(size(b), s, "{b}");
        }
    }

    #[test]
    fn ages() {
        let now = humantime::format_rfc3339(SystemTime::now()).to_string();
        assert_eq!(ago(&now), "Less than a second ago");
        let then =
            humantime::format_rfc3339(SystemTime::now() - Duration::from_secs(7200)).to_string();
        assert_eq!(ago(&then), "2 hours ago");
        assert_eq!(ago("garbage"), "N/A");
    }
}
