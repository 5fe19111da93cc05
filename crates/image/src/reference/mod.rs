//! Image references, parsed and normalised the way Docker does.
//!
//! The grammar and the normalisation rules follow `github.com/distribution/reference`
//! (`regexp.go`, `reference.go`, `normalize.go` — `ParseNormalizedNamed`), written out as a
//! small hand-made parser instead of regular expressions:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path
//! domain           := host [ ":" port ]          host := domain-name | "[" ipv6 "]"
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path             := path-component [ "/" path-component ]*
//! path-component   := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
//! tag              := [\w][\w.-]{0,127}
//! digest           := algorithm ":" hex   (validated as go-digest does)
//! ```
//!
//! One deliberate difference: when the first component looks like a registry (it has a '.')
//! but is not a valid host, yet the whole name is a valid path (`foo_bar.com/x`), Docker ends
//! up with a reference that has no registry at all. We refuse it with
//! [`ReferenceError::InvalidRegistry`] so that [`Reference::registry`] is always meaningful.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// Registry used when a reference names none (`normalize.go` `defaultDomain`).
const DEFAULT_REGISTRY: &str = "docker.io";
/// Old spelling of the default registry, rewritten to [`DEFAULT_REGISTRY`].
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
/// Namespace of Docker Hub's official images, added to single-component names there.
const OFFICIAL_PREFIX: &str = "library/";
/// Tag assumed when neither a tag nor a digest is given.
const DEFAULT_TAG: &str = "latest";
/// Longest repository path Docker accepts (`RepositoryNameTotalLengthMax`; the registry
/// does not count, as in distribution/reference since v2.8).
const MAX_REPOSITORY_LEN: usize = 255;
/// Longest tag (`[\w][\w.-]{0,127}`).
const MAX_TAG_LEN: usize = 128;

/// Why a string is not an image reference or a digest. Each message names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The input was the empty string.
    #[error("invalid reference \"\": reference is empty")]
    Empty,
    /// The input was a bare 64-character hex id, which Docker refuses as a name.
    #[error("invalid repository name {input:?}: cannot specify 64-byte hexadecimal strings")]
    HexIdentifier {
        /// The whole input.
        input: String,
    },
    /// The repository path holds an uppercase letter.
    #[error("invalid reference {input:?}: repository name must be lowercase")]
    Uppercase {
        /// The whole input.
        input: String,
    },
    /// The name part does not follow the `[registry/]path` grammar.
    #[error("invalid reference {input:?}: invalid reference format")]
    InvalidFormat {
        /// The whole input.
        input: String,
    },
    /// The first component was taken as a registry but is not a valid `host[:port]`.
    #[error("invalid reference {input:?}: registry {registry:?} is not a valid host[:port]")]
    InvalidRegistry {
        /// The whole input.
        input: String,
        /// The component taken as the registry.
        registry: String,
    },
    /// The text after ':' is not a valid tag.
    #[error("invalid reference {input:?}: invalid tag {tag:?}")]
    InvalidTag {
        /// The whole input.
        input: String,
        /// The rejected tag (possibly empty).
        tag: String,
    },
    /// The repository path is longer than 255 characters.
    #[error("invalid reference {input:?}: repository name must not be more than 255 characters (it has {len})")]
    NameTooLong {
        /// The whole input.
        input: String,
        /// Length of the normalised repository path.
        len: usize,
    },
    /// The digest is not `algorithm:hex` with a well-formed algorithm and lowercase hex.
    #[error("invalid digest {digest:?}: invalid checksum digest format")]
    InvalidDigest {
        /// The rejected digest.
        digest: String,
    },
    /// The digest algorithm is well formed but not one we can verify.
    #[error("invalid digest {digest:?}: unsupported digest algorithm {algorithm:?}")]
    UnsupportedDigest {
        /// The rejected digest.
        digest: String,
        /// Its algorithm.
        algorithm: String,
    },
    /// The hex part has the wrong length for its algorithm.
    #[error("invalid digest {digest:?}: invalid checksum digest length (want {expected} hex characters, got {actual})")]
    DigestLength {
        /// The rejected digest.
        digest: String,
        /// Hex length the algorithm produces.
        expected: usize,
        /// Hex length given.
        actual: usize,
    },
}

/// Digest algorithms Docker registers with go-digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }
}

/// A content digest such as `sha256:<64 lowercase hex>`; `sha384` and `sha512` are also
/// accepted, as Docker does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let sum = Sha256::digest(bytes);
        let hex = sum.iter().map(|b| format!("{b:02x}")).collect();
        Digest {
            algorithm: Algorithm::Sha256,
            hex,
        }
    }

    /// The algorithm name, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.algorithm.name()
    }

    /// The lowercase hex encoding of the hash.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    /// Parses `algorithm:hex` in the order go-digest's `Digest.Validate` checks it: shape,
    /// then a known algorithm, then length, then lowercase hex.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ReferenceError::InvalidDigest {
            digest: s.to_owned(),
        };
        let (name, hex) = s.split_once(':').ok_or_else(invalid)?;
        if name.is_empty() || hex.is_empty() {
            return Err(invalid());
        }
        let Some(algorithm) = Algorithm::from_name(name) else {
            if !is_digest_syntax(s) {
                return Err(invalid());
            }
            return Err(ReferenceError::UnsupportedDigest {
                digest: s.to_owned(),
                algorithm: name.to_owned(),
            });
        };
        if hex.len() != algorithm.hex_len() {
            return Err(ReferenceError::DigestLength {
                digest: s.to_owned(),
                expected: algorithm.hex_len(),
                actual: hex.len(),
            });
        }
        if !hex.bytes().all(is_lower_hex) {
            return Err(invalid());
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }
}

/// A normalised image reference: registry, repository path, and a tag and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s` as `docker pull` would and normalises it: `busybox` becomes
    /// `docker.io/library/busybox:latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.len() == 64 && s.bytes().all(is_lower_hex) {
            return Err(ReferenceError::HexIdentifier {
                input: s.to_owned(),
            });
        }
        let (registry, remainder) = split_registry(s);
        // normalize.go checks the path up to the first ':' before anything else, so an
        // uppercase path wins over every other complaint.
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase {
                input: s.to_owned(),
            });
        }
        let full = format!("{registry}/{remainder}");
        let parts = match match_reference(&full) {
            Ok(parts) => parts,
            Err(failure) => return Err(failure.into_error(s, &full)),
        };
        let Some(domain) = parts.domain else {
            return Err(ReferenceError::InvalidRegistry {
                input: s.to_owned(),
                registry: registry.into_owned(),
            });
        };
        if parts.path.len() > MAX_REPOSITORY_LEN {
            return Err(ReferenceError::NameTooLong {
                input: s.to_owned(),
                len: parts.path.len(),
            });
        }
        let digest = parts.digest.map(str::parse::<Digest>).transpose()?;
        let tag = match (parts.tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry: domain.to_owned(),
            repository: parts.path.to_owned(),
            tag,
            digest,
        })
    }

    /// The registry as `host[:port]`: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path within the registry: `library/busybox`, `x/y`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when neither a tag nor a digest was given, `None` when only a
    /// digest was.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest given after '@', if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Docker's short form (`FamiliarString`): `docker.io/` is dropped, and so is `library/`
    /// when nothing follows it but one component: `busybox:latest`, `x/y:1`,
    /// `localhost:5000/x/y@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut out = String::new();
        if self.registry == DEFAULT_REGISTRY {
            match self.repository.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => out.push_str(rest),
                _ => out.push_str(&self.repository),
            }
        } else {
            out.push_str(&self.registry);
            out.push('/');
            out.push_str(&self.repository);
        }
        self.push_suffix(&mut out);
        out
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for Reference {
    /// The full normalised form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = format!("{}/{}", self.registry, self.repository);
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// `splitDockerDomain`: the first component is a registry when it contains '.' or ':', is
/// `localhost`, or has an uppercase letter (a path never may); otherwise the registry is
/// docker.io, where a single-component path gets the `library/` prefix.
fn split_registry(s: &str) -> (Cow<'_, str>, Cow<'_, str>) {
    let official = |rest: &str| -> Cow<'_, str> {
        if rest.contains('/') {
            Cow::Owned(rest.to_owned())
        } else {
            Cow::Owned(format!("{OFFICIAL_PREFIX}{rest}"))
        }
    };
    let Some((first, rest)) = s.split_once('/') else {
        return (Cow::Borrowed(DEFAULT_REGISTRY), official(s));
    };
    if first == LEGACY_DEFAULT_REGISTRY || first == DEFAULT_REGISTRY {
        (Cow::Borrowed(DEFAULT_REGISTRY), official(rest))
    } else if first == "localhost"
        || first.contains(['.', ':'])
        || first.bytes().any(|b| b.is_ascii_uppercase())
    {
        (Cow::Borrowed(first), Cow::Borrowed(rest))
    } else {
        (Cow::Borrowed(DEFAULT_REGISTRY), Cow::Borrowed(s))
    }
}

/// The pieces of a string matched against `referencePat`, split with `anchoredNameRegexp`.
struct Parts<'a> {
    /// `None` when the name only matched as a bare path (no registry).
    domain: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Which part of `referencePat` failed to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Name,
    Tag,
    Digest,
}

impl Failure {
    /// `reference.go` `Parse`: if the lowercased input would match, blame uppercase.
    fn into_error(self, input: &str, full: &str) -> ReferenceError {
        let lower = full.to_ascii_lowercase();
        if lower != full && match_reference(&lower).is_ok() {
            return ReferenceError::Uppercase {
                input: input.to_owned(),
            };
        }
        match self {
            Failure::Name => ReferenceError::InvalidFormat {
                input: input.to_owned(),
            },
            Failure::Tag => {
                let (name, _) = full.split_once('@').unwrap_or((full, ""));
                let tag = name.rsplit_once(':').map_or("", |(_, tag)| tag);
                ReferenceError::InvalidTag {
                    input: input.to_owned(),
                    tag: tag.to_owned(),
                }
            }
            Failure::Digest => ReferenceError::InvalidDigest {
                digest: full.split_once('@').map_or("", |(_, d)| d).to_owned(),
            },
        }
    }
}

/// Matches `^(name)(?::(tag))?(?:@(digest))?$`. No part but the digest contains '@', so
/// the first '@' starts the digest; a ':' after the last '/' can only start the tag, since
/// the name's only ':' is in the registry, which is always followed by '/'.
fn match_reference(s: &str) -> Result<Parts<'_>, Failure> {
    let (named, digest) = match s.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (s, None),
    };
    let last_slash = named.rfind('/');
    let (name, tag) = match named.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&named[..colon], Some(&named[colon + 1..]))
        }
        _ => (named, None),
    };
    let (domain, path) = match_name(name).ok_or(Failure::Name)?;
    if let Some(tag) = tag {
        if !is_tag(tag) {
            return Err(Failure::Tag);
        }
    }
    if let Some(digest) = digest {
        if !is_digest_syntax(digest) {
            return Err(Failure::Digest);
        }
    }
    Ok(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// `^(?:(domainAndPort)/)?(remoteName)$`, preferring the registry as the greedy `?` does.
fn match_name(name: &str) -> Option<(Option<&str>, &str)> {
    if let Some((domain, path)) = name.split_once('/') {
        if is_domain_and_port(domain) && is_path(path) {
            return Some((Some(domain), path));
        }
    }
    is_path(name).then_some((None, name))
}

/// `host [":" port]` with host a dotted name or a bracketed IPv6 address.
fn is_domain_and_port(s: &str) -> bool {
    let (host_ok, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return false;
        };
        let addr_ok = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (addr_ok, after)
    } else {
        let end = s.find(':').unwrap_or(s.len());
        (s[..end].split('.').all(is_domain_component), &s[end..])
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

/// `path-component ("/" path-component)*`.
fn is_path(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`: alphanumeric runs joined by exactly one
/// separator, which is ".", "_", "__" or any number of '-'.
fn is_path_component(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut rest = s.as_bytes();
    loop {
        let run = rest.iter().take_while(|b| alnum(b)).count();
        if run == 0 {
            return false;
        }
        rest = &rest[run..];
        if rest.is_empty() {
            return true;
        }
        let sep = rest.iter().take_while(|b| !alnum(b)).count();
        let ok = match &rest[..sep] {
            b"." | b"_" | b"__" => true,
            dashes => dashes.iter().all(|&b| b == b'-'),
        };
        if !ok {
            return false;
        }
        rest = &rest[sep..];
    }
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match s.as_bytes().split_first() {
        Some((first, rest)) => {
            s.len() <= MAX_TAG_LEN
                && word(*first)
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// `digestPat`: `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[[:xdigit:]]{32,}`.
fn is_digest_syntax(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    };
    algorithm.split(['-', '_', '+', '.']).all(component_ok)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

#[cfg(test)]
mod tests;
