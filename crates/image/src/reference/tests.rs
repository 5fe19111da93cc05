//! Table-driven tests of reference and digest parsing against distribution/reference.

use super::*;

/// input, registry, repository, tag, Display, familiar().
type Normalised<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, String, String);
/// An input and a check on the error it must produce.
type Refusal = (String, fn(&ReferenceError) -> bool);

/// sha256 of the empty string.
const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn ok(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> ReferenceError {
    match Reference::parse(s) {
        Ok(r) => panic!("{s:?} should fail, parsed as {r}"),
        Err(e) => e,
    }
}

#[test]
fn normalises_like_docker() {
    let d = format!("sha256:{H}");
    let cases: &[Normalised] = &[
        (
            "busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "busybox:1.36",
            "docker.io",
            "library/busybox",
            Some("1.36"),
            "docker.io/library/busybox:1.36".into(),
            "busybox:1.36".into(),
        ),
        (
            "x/y",
            "docker.io",
            "x/y",
            Some("latest"),
            "docker.io/x/y:latest".into(),
            "x/y:latest".into(),
        ),
        (
            "docker.io/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "docker.io/library/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "index.docker.io/busybox",
            "docker.io",
            "library/busybox",
            Some("latest"),
            "docker.io/library/busybox:latest".into(),
            "busybox:latest".into(),
        ),
        (
            "index.docker.io/x/y:t",
            "docker.io",
            "x/y",
            Some("t"),
            "docker.io/x/y:t".into(),
            "x/y:t".into(),
        ),
        (
            "library/foo/bar",
            "docker.io",
            "library/foo/bar",
            Some("latest"),
            "docker.io/library/foo/bar:latest".into(),
            "library/foo/bar:latest".into(),
        ),
        (
            "localhost/foo",
            "localhost",
            "foo",
            Some("latest"),
            "localhost/foo:latest".into(),
            "localhost/foo:latest".into(),
        ),
        (
            "localhost:5000/x/y",
            "localhost:5000",
            "x/y",
            Some("latest"),
            "localhost:5000/x/y:latest".into(),
            "localhost:5000/x/y:latest".into(),
        ),
        (
            &format!("localhost:5000/x/y@{d}"),
            "localhost:5000",
            "x/y",
            None,
            format!("localhost:5000/x/y@{d}"),
            format!("localhost:5000/x/y@{d}"),
        ),
        (
            &format!("busybox@{d}"),
            "docker.io",
            "library/busybox",
            None,
            format!("docker.io/library/busybox@{d}"),
            format!("busybox@{d}"),
        ),
        (
            &format!("busybox:1@{d}"),
            "docker.io",
            "library/busybox",
            Some("1"),
            format!("docker.io/library/busybox:1@{d}"),
            format!("busybox:1@{d}"),
        ),
        (
            "quay.io/a/b/c:v1",
            "quay.io",
            "a/b/c",
            Some("v1"),
            "quay.io/a/b/c:v1".into(),
            "quay.io/a/b/c:v1".into(),
        ),
        // Not a registry (no '.' or ':'), so "library/" is not added either.
        (
            "foo/bar",
            "docker.io",
            "foo/bar",
            Some("latest"),
            "docker.io/foo/bar:latest".into(),
            "foo/bar:latest".into(),
        ),
        // The registry is kept as written, even when it has uppercase.
        (
            "LOCALDOMAIN/fooo",
            "LOCALDOMAIN",
            "fooo",
            Some("latest"),
            "LOCALDOMAIN/fooo:latest".into(),
            "LOCALDOMAIN/fooo:latest".into(),
        ),
        (
            "Docker.IO/x",
            "Docker.IO",
            "x",
            Some("latest"),
            "Docker.IO/x:latest".into(),
            "Docker.IO/x:latest".into(),
        ),
        // A bare host with a port is a name and a tag: there is no '/'.
        (
            "192.168.0.1:80",
            "docker.io",
            "library/192.168.0.1",
            Some("80"),
            "docker.io/library/192.168.0.1:80".into(),
            "192.168.0.1:80".into(),
        ),
        // An id is a name once it has a registry in front.
        (
            &format!("docker.io/{H}"),
            "docker.io",
            &format!("library/{H}"),
            Some("latest"),
            format!("docker.io/library/{H}:latest"),
            format!("{H}:latest"),
        ),
        // "sha256:<hex>" alone is the name "sha256" with a 64-character tag, as in Docker.
        (
            &d,
            "docker.io",
            "library/sha256",
            Some(H),
            format!("docker.io/library/{d}"),
            d.clone(),
        ),
    ];
    for (input, registry, repository, tag, display, familiar) in cases {
        let r = ok(input);
        assert_eq!(r.registry(), *registry, "{input}");
        assert_eq!(r.repository(), *repository, "{input}");
        assert_eq!(r.tag(), *tag, "{input}");
        assert_eq!(&r.to_string(), display, "{input}");
        assert_eq!(&r.familiar(), familiar, "{input}");
        // Display and familiar() both parse back to the same reference.
        assert_eq!(ok(display), r, "{input}");
        assert_eq!(ok(familiar), r, "{input}");
        assert_eq!(input.parse::<Reference>().as_ref(), Ok(&r), "{input}");
    }
}

#[test]
fn first_component_is_registry_only_with_dot_colon_localhost_or_uppercase() {
    let cases = [
        ("a.b/c", "a.b", "c"),
        ("a:1/c", "a:1", "c"),
        ("localhost/c", "localhost", "c"),
        ("Host/c", "Host", "c"),
        ("localhostx/c", "docker.io", "localhostx/c"),
        ("a-b/c", "docker.io", "a-b/c"),
        ("a_b/c", "docker.io", "a_b/c"),
        (
            "127.0.0.1:5000/library/debian",
            "127.0.0.1:5000",
            "library/debian",
        ),
        ("192.168.0.1:8/debian", "192.168.0.1:8", "debian"),
        (
            "my-registry.example.com/team/app",
            "my-registry.example.com",
            "team/app",
        ),
    ];
    for (input, registry, repository) in cases {
        let r = ok(input);
        assert_eq!(
            (r.registry(), r.repository()),
            (registry, repository),
            "{input}"
        );
    }
}

#[test]
fn ports_and_ipv6_registries() {
    let good = [
        ("localhost:5000/x", "localhost:5000"),
        ("[::1]:5000/x", "[::1]:5000"),
        ("[::1]/x", "[::1]"),
        ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000"),
        (
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "[fc00:1:2:3:4:5:6:7]:5000",
        ),
        ("[FC00::1]:5000/x", "[FC00::1]:5000"),
        ("example.com:443/x:1", "example.com:443"),
    ];
    for (input, registry) in good {
        assert_eq!(ok(input).registry(), registry, "{input}");
    }
    let bad = [
        "[fc00::1]",
        "[fc00::1]:5000",
        "fc00::1:5000/debian",
        "[fe80::1%eth0]:5000/debian",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
        "[]:5000/x",
        "[::1]x/y",
        "localhost:/x",
        "localhost:port/x",
        "localhost:5000:1/x",
        "-a.com/x",
        "a-.com/x",
        "a..com/x",
    ];
    for input in bad {
        err(input);
    }
}

#[test]
fn path_components() {
    let good = [
        "docker/docker",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker-rules/docker",
        "docker---rules/docker",
        "doc/docker",
        "d/docker",
        "jess/t",
        "dock__er/docker",
        "a_b-c/d.e_f",
        "a0/9z",
    ];
    for input in good {
        ok(input);
    }
    let bad = [
        "docker///docker",
        "docker.io/docker///docker",
        "a//b",
        "-docker",
        "-a",
        "-docker/docker",
        "docker-/docker",
        "-docker-/docker",
        "____/____",
        "_docker/_docker",
        "dock..er/docker",
        "dock_.er/docker",
        "dock-.er/docker",
        "dock___er/docker",
        "docker/",
        "/docker",
        "https://github.com/docker/docker",
        "a b",
        "ä/b",
    ];
    for input in bad {
        err(input);
    }
}

#[test]
fn uppercase_in_repository_is_refused() {
    for input in [
        "Busybox",
        "docker/Docker",
        "docker.io/docker/Docker",
        "localhost:5000/Foo",
        "x/Y:tag",
    ] {
        assert_eq!(
            err(input),
            ReferenceError::Uppercase {
                input: input.into()
            },
            "{input}"
        );
    }
    assert_eq!(
        err("Busybox").to_string(),
        r#"invalid reference "Busybox": repository name must be lowercase"#
    );
    // Uppercase in the tag is fine.
    assert_eq!(ok("busybox:Latest").tag(), Some("Latest"));
}

#[test]
fn tags() {
    let max = "a".repeat(128);
    let good = ["1", "_x", "v1.2.3-rc_1", "A", "x.", "x-", max.as_str()];
    for tag in good {
        assert_eq!(ok(&format!("busybox:{tag}")).tag(), Some(tag), "{tag}");
    }
    let too_long = "a".repeat(129);
    let bad = ["", ".x", "-x", "x+y", "x/y", too_long.as_str()];
    for tag in bad {
        let input = format!("localhost/busybox:{tag}");
        let e = err(&input);
        assert!(
            matches!(
                e,
                ReferenceError::InvalidTag { .. } | ReferenceError::InvalidFormat { .. }
            ),
            "{input}: {e:?}"
        );
    }
    assert_eq!(
        err("a:").to_string(),
        r#"invalid reference "a:": invalid tag """#
    );
}

#[test]
fn default_tag_only_without_tag_and_digest() {
    let d = format!("sha256:{H}");
    let cases = [
        ("busybox".to_owned(), Some("latest"), false),
        ("busybox:1".to_owned(), Some("1"), false),
        (format!("busybox@{d}"), None, true),
        (format!("busybox:1@{d}"), Some("1"), true),
        (format!("busybox:latest@{d}"), Some("latest"), true),
    ];
    for (input, tag, has_digest) in cases {
        let r = ok(&input);
        assert_eq!(r.tag(), tag, "{input}");
        assert_eq!(r.digest().is_some(), has_digest, "{input}");
    }
}

#[test]
fn digests_in_references() {
    let d = format!("sha256:{H}");
    let r = ok(&format!("x/y:t@{d}"));
    assert_eq!(r.digest().map(Digest::to_string), Some(d.clone()));
    assert_eq!(r.digest().map(Digest::algorithm), Some("sha256"));
    assert_eq!(r.digest().map(Digest::hex), Some(H));
    let sha512 = format!("sha512:{}", "0".repeat(128));
    assert_eq!(
        ok(&format!("x@{sha512}")).digest().map(Digest::algorithm),
        Some("sha512")
    );

    let upper = H.to_ascii_uppercase();
    let cases: Vec<Refusal> = vec![
        (format!("x@sha256:{}", &H[..63]), |e| {
            matches!(
                e,
                ReferenceError::DigestLength {
                    expected: 64,
                    actual: 63,
                    ..
                }
            )
        }),
        (format!("x@sha256:{upper}"), |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        (format!("x@md5:{}", "0".repeat(32)), |e| {
            matches!(e, ReferenceError::UnsupportedDigest { .. })
        }),
        (format!("x@sha256:{}", "0".repeat(31)), |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        (format!("x@sha256:{}g", &H[..63]), |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        (format!("x@{H}"), |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        (format!("x@@sha256:{H}"), |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        ("x@".to_owned(), |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        ("@".to_owned(), |e| {
            matches!(e, ReferenceError::InvalidFormat { .. })
        }),
    ];
    for (input, want) in cases {
        let e = err(&input);
        assert!(want(&e), "{input}: {e:?}");
    }
}

#[test]
fn digest_parse_and_hash() {
    assert_eq!(Digest::sha256_of(b"").to_string(), format!("sha256:{H}"));
    assert_eq!(
        Digest::sha256_of(b"abc").hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let good = [
        format!("sha256:{H}"),
        format!("sha384:{}", "a".repeat(96)),
        format!("sha512:{}", "f".repeat(128)),
    ];
    for s in good {
        let d: Digest = s.parse().unwrap();
        assert_eq!(d.to_string(), s);
    }
    let bad = [
        ("".to_owned(), "invalid checksum digest format"),
        (H.to_owned(), "invalid checksum digest format"),
        ("sha256:".to_owned(), "invalid checksum digest format"),
        (format!(":{H}"), "invalid checksum digest format"),
        (
            format!("sha256:{}", H.to_ascii_uppercase()),
            "invalid checksum digest format",
        ),
        (format!("sha256:{H}0"), "invalid checksum digest length"),
        (format!("sha512:{H}"), "invalid checksum digest length"),
        (format!("md5:{H}"), "unsupported digest algorithm \"md5\""),
        (format!("9x:{H}"), "invalid checksum digest format"),
    ];
    for (s, msg) in bad {
        let e = s.parse::<Digest>().unwrap_err();
        assert!(e.to_string().contains(msg), "{s}: {e}");
        assert!(e.to_string().contains(&format!("{s:?}")), "{s}: {e}");
    }
}

#[test]
fn repository_length_limit() {
    // 247 + "library/" = 255 is the longest official name.
    ok(&"a".repeat(247));
    let long = "a".repeat(248);
    assert_eq!(
        err(&long),
        ReferenceError::NameTooLong {
            input: long.clone(),
            len: 256
        }
    );
    let at_limit = format!("{}/{}", "a".repeat(127), "b".repeat(127));
    ok(&format!("localhost/{at_limit}"));
    assert!(matches!(
        err(&format!("localhost/{at_limit}b")),
        ReferenceError::NameTooLong { len: 256, .. }
    ));
    // The registry does not count towards the limit.
    ok(&format!("{}.com/{at_limit}", "r".repeat(60)));
}

#[test]
fn malformed_inputs() {
    let hex_msg =
        format!("invalid repository name \"{H}\": cannot specify 64-byte hexadecimal strings");
    let cases: Vec<Refusal> = vec![
        ("".into(), |e| matches!(e, ReferenceError::Empty)),
        (H.into(), |e| matches!(e, ReferenceError::HexIdentifier { .. })),
        ("a:".into(), |e| matches!(e, ReferenceError::InvalidTag { .. })),
        ("a@".into(), |e| matches!(e, ReferenceError::InvalidDigest { .. })),
        ("a:@".into(), |e| matches!(e, ReferenceError::InvalidTag { .. })),
        (":tag".into(), |e| matches!(e, ReferenceError::InvalidFormat { .. })),
        ("a//b".into(), |e| matches!(e, ReferenceError::InvalidFormat { .. })),
        ("-a".into(), |e| matches!(e, ReferenceError::InvalidFormat { .. })),
        ("a:b:c".into(), |e| matches!(e, ReferenceError::InvalidFormat { .. })),
        ("a/b:c/d".into(), |e| matches!(e, ReferenceError::InvalidFormat { .. })),
        ("foo_bar.com/x".into(), |e| {
            matches!(e, ReferenceError::InvalidRegistry { registry, .. } if registry == "foo_bar.com")
        }),
        (
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker".into(),
            |e| matches!(e, ReferenceError::NameTooLong { .. }),
        ),
    ];
    for (input, want) in cases {
        let e = err(&input);
        assert!(want(&e), "{input:?}: {e:?}");
        if !input.is_empty() && !matches!(e, ReferenceError::InvalidDigest { .. }) {
            assert!(e.to_string().contains(&format!("{input:?}")), "{e}");
        }
    }
    assert_eq!(err(H).to_string(), hex_msg);
    // 63 or 65 hex characters, or uppercase hex, are ordinary names or errors of their own.
    ok(&H[..63]);
    ok(&format!("{H}0"));
    assert!(matches!(
        err(&H.to_ascii_uppercase()),
        ReferenceError::Uppercase { .. }
    ));
}
