//! Credentials: `WWW-Authenticate` challenges and the Docker-style `config.json` that
//! `berth login` writes.
//!
//! The file is `$BERTH_CONFIG/config.json`, else `$HOME/.config/berth/config.json`, in
//! Docker's format: `{"auths": {"localhost:5000": {"auth": base64("user:pass")}}}`. Other
//! keys in it are kept. It is written atomically with mode 0600, as it holds passwords.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::RegistryError;

/// A registry's `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm=...`: send the credentials with every request.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`: get a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The scope the registry asked for.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` when it is neither Basic nor Bearer with a
    /// realm.
    pub(crate) fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

/// `a="x,y", b=z` -> [(a, "x,y"), (b, "z")]; quoted values may hold commas and `\"`.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next().is_none() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// base64 of `user:password`, as Basic auth and config.json want it.
    pub(crate) fn encoded(&self) -> String {
        base64_encode(format!("{}:{}", self.username, self.password).as_bytes())
    }

    fn decode(auth: &str) -> Option<Credentials> {
        let plain = String::from_utf8(base64_decode(auth)?).ok()?;
        let (u, p) = plain.split_once(':')?;
        Some(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        })
    }
}

/// Where `login` keeps credentials.
pub fn config_path() -> PathBuf {
    match std::env::var_os("BERTH_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".config/berth/config.json")
        }
    }
}

/// The keys a registry may be stored under: its name, and Docker Hub's legacy URL.
fn keys(registry: &str) -> Vec<String> {
    let mut k = vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if registry == "docker.io" {
        k.push("https://index.docker.io/v1/".into());
    }
    k
}

fn read_config() -> Result<serde_json::Value, RegistryError> {
    let path = config_path();
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(serde_json::json!({})),
        Err(source) => return Err(RegistryError::Config { path, source }),
    };
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Config {
        path,
        source: e.into(),
    })
}

fn write_config(doc: &serde_json::Value) -> Result<(), RegistryError> {
    let path = config_path();
    let config_err = |source| RegistryError::Config {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(config_err)?;
    }
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    let bytes = serde_json::to_vec_pretty(doc).map_err(|e| config_err(e.into()))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(config_err)?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            config_err(e)
        })
}

/// The stored credentials for `registry`, if any.
pub(crate) fn load_credentials(registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let doc = read_config()?;
    let Some(auths) = doc.get("auths") else {
        return Ok(None);
    };
    Ok(keys(registry)
        .iter()
        .filter_map(|k| auths.get(k)?.get("auth")?.as_str())
        .find_map(Credentials::decode))
}

/// Stores credentials for `registry`, replacing what was there.
pub(crate) fn store_credentials(registry: &str, c: &Credentials) -> Result<(), RegistryError> {
    let mut doc = read_config()?;
    if !doc.is_object() {
        doc = serde_json::json!({});
    }
    let auths = doc
        .as_object_mut()
        .and_then(|o| {
            o.entry("auths")
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
        })
        .ok_or_else(|| RegistryError::Config {
            path: config_path(),
            source: std::io::Error::other("`auths` is not an object"),
        })?;
    auths.insert(
        registry.to_owned(),
        serde_json::json!({ "auth": c.encoded() }),
    );
    write_config(&doc)
}

/// Removes the credentials for `registry`; false when there were none.
pub(crate) fn remove_credentials(registry: &str) -> Result<bool, RegistryError> {
    let mut doc = read_config()?;
    let Some(auths) = doc.get_mut("auths").and_then(|a| a.as_object_mut()) else {
        return Ok(false);
    };
    let mut removed = false;
    for k in keys(registry) {
        removed |= auths.remove(&k).is_some();
    }
    if removed {
        write_config(&doc)?;
    }
    Ok(removed)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on a stray character.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.trim_end_matches('=').bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Percent-encodes a query parameter value.
pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let cases: &[(&str, Option<Challenge>)] = &[
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                Some(Challenge::Bearer {
                    realm: "https://auth.docker.io/token".into(),
                    service: Some("registry.docker.io".into()),
                    scope: Some("repository:library/busybox:pull".into()),
                }),
            ),
            (
                r#"bearer realm="http://127.0.0.1:1/t", scope="repository:a/b:pull,push""#,
                Some(Challenge::Bearer {
                    realm: "http://127.0.0.1:1/t".into(),
                    service: None,
                    scope: Some("repository:a/b:pull,push".into()),
                }),
            ),
            (
                r#"Bearer realm=http://x/t,service=reg"#,
                Some(Challenge::Bearer {
                    realm: "http://x/t".into(),
                    service: Some("reg".into()),
                    scope: None,
                }),
            ),
            (r#"Basic realm="Registry Realm""#, Some(Challenge::Basic)),
            (r#"Bearer service="no realm""#, None),
            (r#"Negotiate abc"#, None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(&Challenge::parse(header), want, "{header}");
        }
    }

    #[test]
    fn base64_round_trips() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("user:pa:ss", "dXNlcjpwYTpzcw=="),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("a*b"), None);
        let c = Credentials::decode("dXNlcjpwYTpzcw==").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("user", "pa:ss")
        );
    }

    #[test]
    fn percent() {
        assert_eq!(
            percent_encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
