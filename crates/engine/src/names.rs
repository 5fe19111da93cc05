//! Names for containers the user did not name: `adjective_noun`, like Docker's.

const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "clever", "cosmic", "crisp", "daring", "eager", "fancy", "gentle",
    "happy", "jolly", "keen", "lively", "lucid", "merry", "mighty", "nimble", "noble", "plucky",
    "proud", "quiet", "rapid", "serene", "sharp", "shiny", "snappy", "steady", "swift", "tidy",
    "vivid", "witty",
];

const NOUNS: [&str; 32] = [
    "albatross",
    "badger",
    "beacon",
    "bollard",
    "buoy",
    "capstan",
    "cormorant",
    "cutter",
    "dolphin",
    "dory",
    "ferry",
    "galley",
    "gannet",
    "harbor",
    "heron",
    "jetty",
    "keel",
    "lighthouse",
    "lugger",
    "mooring",
    "narwhal",
    "otter",
    "pelican",
    "pier",
    "puffin",
    "quay",
    "schooner",
    "sloop",
    "tern",
    "tugboat",
    "walrus",
    "wharf",
];

/// A name from 32 random bits; callers retry on a clash, adding digits after a few tries
/// (as Docker does).
pub fn random(seed: u32, attempt: u32) -> String {
    let a = ADJECTIVES[(seed & 31) as usize];
    let n = NOUNS[((seed >> 5) & 31) as usize];
    if attempt < 3 {
        format!("{a}_{n}")
    } else {
        format!("{a}_{n}{}", (seed >> 10) % 1000)
    }
}

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_valid() {
        for s in [0u32, 1, 0xffff_ffff, 12345] {
            for a in 0..5 {
                assert!(valid(&random(s, a)), "{}", random(s, a));
            }
        }
        assert_ne!(random(0, 0), random(1, 0));
    }

    #[test]
    fn user_names_follow_docker() {
        assert!(valid("web") && valid("a1.b-c_d"));
        assert!(!valid("a") && !valid("-x") && !valid("a b") && !valid("a/b") && !valid(""));
    }
}
