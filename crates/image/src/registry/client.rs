//! One registry's HTTP client: scheme choice, timeouts, retries and the 401 dance.
//!
//! Every request goes through [`Client::send`], which retries connection errors and 5xx
//! answers with a backoff and, on a 401, answers the `WWW-Authenticate` challenge once
//! (fetching a Bearer token or using Basic credentials) before trying again. The
//! `Authorization` value it got is kept for the requests that follow.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use super::auth::{self, Challenge, Credentials};
use super::{transport_scheme, RegistryError};

/// Attempts after the first on a connection error or a 5xx.
pub(crate) const RETRIES: u32 = 3;

/// A request body that can be produced again for a retry.
pub(crate) enum Body<'a> {
    /// No body.
    Empty,
    /// A small body in memory (manifests).
    Bytes(&'a [u8]),
    /// A stream of known length, opened afresh for each attempt (blob uploads).
    Stream(u64, &'a OpenBody<'a>),
}

/// Opens a request body afresh.
pub(crate) type OpenBody<'a> =
    dyn Fn() -> Result<Box<dyn Read + Send + 'a>, RegistryError> + Sync + 'a;

/// A client for one registry and one repository scope.
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    registry: String,
    scope: String,
    credentials: Option<Credentials>,
    authorization: Mutex<Option<String>>,
}

impl Client {
    /// A client for `registry` (`host[:port]`) asking for `actions` (`pull` or `pull,push`)
    /// on `repository`. Credentials come from the config file written by `login`.
    pub(crate) fn new(
        registry: &str,
        repository: &str,
        actions: &str,
    ) -> Result<Client, RegistryError> {
        let credentials = auth::load_credentials(registry)?;
        Ok(Client::with_credentials(
            registry,
            repository,
            actions,
            credentials,
        ))
    }

    /// As [`Client::new`], with credentials given rather than read from the config.
    pub(crate) fn with_credentials(
        registry: &str,
        repository: &str,
        actions: &str,
        credentials: Option<Credentials>,
    ) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(io_timeout())
            .timeout_write(io_timeout())
            .redirects(8)
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build();
        // Docker Hub's API lives on registry-1.docker.io, not on the name images use.
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        Client {
            agent,
            base: format!("{}://{host}", transport_scheme(registry)),
            registry: registry.to_owned(),
            scope: format!("repository:{repository}:{actions}"),
            credentials,
            authorization: Mutex::new(None),
        }
    }

    /// `path` (starting with `/`) or an absolute URL, as a full URL.
    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends one request, retrying and authenticating as needed. Answers of 400 and above
    /// (after authentication) are returned as [`RegistryError::Status`], except those listed
    /// in `ok_statuses`, which are handed back like successes (e.g. 404 for HEAD).
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
        ok_statuses: &[u16],
    ) -> Result<ureq::Response, RegistryError> {
        let url = self.url(path);
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = self
                .authorization
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_deref()
            {
                req = req.set("Authorization", a);
            }
            let result = match body {
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::Stream(len, open) => {
                    let reader = open()?;
                    req.set("Content-Length", &len.to_string()).send(reader)
                }
            };
            match result {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(code, resp)) if ok_statuses.contains(&code) => {
                    return Ok(resp)
                }
                Err(ureq::Error::Status(401, resp)) if !authenticated => {
                    authenticated = true;
                    let header = resp
                        .header("WWW-Authenticate")
                        .unwrap_or_default()
                        .to_owned();
                    let value = self.answer(&header)?;
                    *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                }
                Err(ureq::Error::Status(401, _)) => {
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                    })
                }
                Err(ureq::Error::Status(code, resp)) if code >= 500 && attempt < RETRIES => {
                    drop(resp);
                    attempt += 1;
                    backoff(attempt);
                }
                Err(ureq::Error::Status(code, resp)) => {
                    return Err(status_error(method, &url, code, resp));
                }
                Err(ureq::Error::Transport(t)) if attempt < RETRIES => {
                    drop(t);
                    attempt += 1;
                    backoff(attempt);
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(RegistryError::Transport {
                        method: method.to_owned(),
                        url,
                        reason: transport_reason(&t),
                    })
                }
            }
        }
    }

    /// The `Authorization` value that answers a challenge.
    fn answer(&self, header: &str) -> Result<String, RegistryError> {
        let unauthorized = || RegistryError::Unauthorized {
            registry: self.registry.clone(),
        };
        match Challenge::parse(header).ok_or_else(unauthorized)? {
            Challenge::Basic => self
                .credentials
                .as_ref()
                .map(|c| format!("Basic {}", c.encoded()))
                .ok_or_else(unauthorized),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let mut query = Vec::new();
                if let Some(s) = service {
                    query.push(format!("service={}", auth::percent_encode(&s)));
                }
                query.push(format!("scope={}", auth::percent_encode(&self.scope)));
                if let Some(s) = scope.filter(|s| *s != self.scope) {
                    query.push(format!("scope={}", auth::percent_encode(&s)));
                }
                let sep = if realm.contains('?') { '&' } else { '?' };
                let url = format!("{realm}{sep}{}", query.join("&"));
                let mut req = self.agent.get(&url);
                if let Some(c) = &self.credentials {
                    req = req.set("Authorization", &format!("Basic {}", c.encoded()));
                }
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(401 | 403, _)) => return Err(unauthorized()),
                    Err(ureq::Error::Status(code, resp)) => {
                        return Err(status_error("GET", &realm, code, resp))
                    }
                    Err(ureq::Error::Transport(t)) => {
                        return Err(RegistryError::Transport {
                            method: "GET".into(),
                            url: realm,
                            reason: transport_reason(&t),
                        })
                    }
                };
                let doc: serde_json::Value = resp
                    .into_string()
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                    .map_err(|e| RegistryError::Transport {
                        method: "GET".into(),
                        url: realm.clone(),
                        reason: format!("token answer: {e}"),
                    })?;
                doc.get("token")
                    .or_else(|| doc.get("access_token"))
                    .and_then(|t| t.as_str())
                    .map(|t| format!("Bearer {t}"))
                    .ok_or_else(unauthorized)
            }
        }
    }
}

/// How long a read or write may stall: `BERTH_REGISTRY_TIMEOUT` seconds, 30 by default.
fn io_timeout() -> Duration {
    let secs = std::env::var("BERTH_REGISTRY_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// ureq's message without the URL it starts with.
fn transport_reason(t: &ureq::Transport) -> String {
    let text = t.to_string();
    match t.url() {
        Some(url) => text.replacen(&format!("{url}: "), "", 1),
        None => text,
    }
}

/// Sleeps before attempt `n` (1-based): 250ms, 500ms, 1s.
pub(crate) fn backoff(n: u32) {
    std::thread::sleep(Duration::from_millis(250 << (n - 1).min(4)));
}

/// A status error, with the registry's own error code and message when it sent one.
fn status_error(method: &str, url: &str, code: u16, resp: ureq::Response) -> RegistryError {
    let text = resp.into_string().unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|doc| {
            let e = doc.get("errors")?.get(0)?;
            Some(format!(
                "{}: {}",
                e.get("code")?.as_str()?,
                e.get("message").and_then(|m| m.as_str()).unwrap_or("")
            ))
        })
        .unwrap_or_default();
    RegistryError::Status {
        method: method.to_owned(),
        url: url.to_owned(),
        code,
        detail,
    }
}
