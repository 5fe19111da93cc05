//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `9`.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// Parse a signal given by name (with or without `SIG`) or number.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    if let Some(rt) = name.strip_prefix("SIGRTMIN") {
        let off: i32 = if rt.is_empty() {
            0
        } else {
            rt.strip_prefix('+')?.parse().ok()?
        };
        return Some(libc::SIGRTMIN() + off);
    }
    if let Some(rt) = name.strip_prefix("SIGRTMAX") {
        let off: i32 = if rt.is_empty() {
            0
        } else {
            rt.strip_prefix('-')?.parse().ok()?
        };
        return Some(libc::SIGRTMAX() - off);
    }
    Signal::from_str(&name).ok().map(|s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for (s, n) in [
            ("KILL", 9),
            ("SIGKILL", 9),
            ("9", 9),
            ("term", 15),
            ("SIGUSR1", 10),
            ("RTMIN+1", libc::SIGRTMIN() + 1),
        ] {
            assert_eq!(parse(s), Some(n), "{s}");
        }
        for s in ["0", "65", "NOPE", "SIGRTMIN+x"] {
            assert_eq!(parse(s), None, "{s}");
        }
    }
}
