//! `--filter key=value` as Docker's prune and ls verbs take it: several filters of one key
//! are alternatives (any may match), filters of different keys must all match, and `label`
//! filters must all match (`label=k`, `label=k=v`, and for prune `label!=k[=v]`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Parsed `--filter` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pairs: Vec<(String, String)>,
}

impl Filters {
    /// Parses `key=value` flags, refusing keys not in `allowed` (`label!` is `label!=...`).
    pub fn parse(args: &[String], allowed: &[&str]) -> Result<Filters> {
        let mut pairs = Vec::new();
        for a in args {
            let (k, v) = match a.split_once("!=") {
                Some((k, v)) if !k.contains('=') => (format!("{k}!"), v),
                _ => match a.split_once('=') {
                    Some((k, v)) => (k.to_string(), v),
                    None => return Err(Error::invalid("--filter", a, "expected KEY=VALUE")),
                },
            };
            let k = k.trim().to_lowercase();
            if !allowed.contains(&k.as_str()) {
                let keys = allowed.join(", ");
                return Err(Error::invalid(
                    "--filter",
                    a,
                    format!("invalid filter `{k}` (this command takes {keys})"),
                ));
            }
            pairs.push((k, v.to_string()));
        }
        Ok(Filters { pairs })
    }

    /// The values given for `key`.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any filter of `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.values(key).next().is_some()
    }

    /// Every `label=` filter matches `labels` and no `label!=` filter does.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        let hit = |f: &str| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f),
        };
        self.values("label").all(hit) && !self.values("label!").any(hit)
    }

    /// A boolean filter (`dangling=true`); `None` when not given.
    pub fn boolean(&self, key: &'static str) -> Result<Option<bool>> {
        let mut out = None;
        for v in self.values(key) {
            let b = match v.to_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(Error::invalid(
                        "--filter",
                        format!("{key}={v}"),
                        "expected true or false",
                    ))
                }
            };
            out = Some(b);
        }
        Ok(out)
    }

    /// The latest `until=` time (a duration back from now like `24h`, an RFC 3339 time, or
    /// Unix seconds); objects created after it are kept.
    pub fn until(&self, now: SystemTime) -> Result<Option<SystemTime>> {
        let mut out = None;
        for v in self.values("until") {
            let t = parse_time(v, now).ok_or_else(|| {
                Error::invalid(
                    "--filter",
                    format!("until={v}"),
                    "expected a duration (10m, 24h), an RFC 3339 time or Unix seconds",
                )
            })?;
            out = Some(out.map_or(t, |o: SystemTime| o.min(t)));
        }
        Ok(out)
    }
}

fn parse_time(v: &str, now: SystemTime) -> Option<SystemTime> {
    if let Ok(secs) = v.parse::<f64>() {
        if secs >= 0.0 {
            return Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return Some(t);
    }
    humantime::parse_duration(v)
        .ok()
        .and_then(|d| now.checked_sub(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(args: &[&str]) -> Result<Filters> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Filters::parse(&args, &["label", "label!", "until", "dangling", "name"])
    }

    #[test]
    fn labels_and_negations() {
        let labels: BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "".into())].into();
        let cases: [(&[&str], bool); 7] = [
            (&[], true),
            (&["label=a"], true),
            (&["label=a=1"], true),
            (&["label=a=2"], false),
            (&["label=a", "label=c"], false),
            (&["label!=c"], true),
            (&["label!=a=1"], false),
        ];
        for (args, want) in cases {
            assert_eq!(f(args).unwrap().labels_match(&labels), want, "{args:?}");
        }
    }

    #[test]
    fn bad_filters_name_the_filter() {
        let e = f(&["colour=red"]).unwrap_err().to_string();
        assert!(
            e.contains("colour=red") && e.contains("invalid filter"),
            "{e}"
        );
        assert!(f(&["nokey"]).is_err());
        assert!(f(&["dangling=maybe"]).unwrap().boolean("dangling").is_err());
        assert_eq!(
            f(&["dangling=true"]).unwrap().boolean("dangling").unwrap(),
            Some(true)
        );
    }

    #[test]
    fn until_takes_durations_times_and_seconds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100_000);
        let u = |s: &str| f(&[s]).unwrap().until(now);
        assert_eq!(
            u("until=1h").unwrap(),
            Some(now - Duration::from_secs(3600))
        );
        assert_eq!(
            u("until=50").unwrap(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(50))
        );
        assert_eq!(
            u("until=1970-01-01T00:01:40Z").unwrap(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100))
        );
        assert!(u("until=soon").is_err());
        assert_eq!(f(&[]).unwrap().until(now).unwrap(), None);
    }
}
