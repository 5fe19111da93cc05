//! Validation of chain ids and snapshot ids, and the short-link names derived from chain ids.
//! Every string that becomes part of a path passes through here first.

use sha2::{Digest, Sha256};

use super::SnapshotError;

/// Length of a short-link name, as in Docker's overlay2 `l/` directory.
pub(crate) const SHORT_LEN: usize = 26;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const MAX_ID_LEN: usize = 128;

/// The 64 hex digits of a `sha256:<hex>` chain id, or an error naming it.
pub(crate) fn chain_hex(chain_id: &str) -> Result<&str, SnapshotError> {
    crate::store::digest_hex(chain_id)
        .map_err(|_| SnapshotError::InvalidChainId(chain_id.to_owned()))
}

/// True for exactly 64 lower-case hex digits (the form a layer directory is named by).
pub(crate) fn is_hex64(s: &str) -> bool {
    chain_hex(&format!("sha256:{s}")).is_ok()
}

/// Checks a snapshot (container) id: 1 to 128 of `[A-Za-z0-9_.-]`, starting with a letter or
/// digit, so it is one path component and never `.`, `..` or one of our `.`-prefixed temps.
pub(crate) fn check_id(id: &str) -> Result<(), SnapshotError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SnapshotError::InvalidId(id.to_owned()))
    }
}

/// The short-link name of a layer: the first 26 base32 digits (130 bits) of sha256 of its
/// 64-hex chain id. Docker picks these at random; deriving them means a link lost in a crash
/// is recreated with the same name, and every `lower` file naming it stays valid.
pub(crate) fn short_link(hex: &str) -> String {
    let digest = Sha256::digest(hex.as_bytes());
    let mut out = String::with_capacity(SHORT_LEN);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &byte in digest.iter() {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 && out.len() < SHORT_LEN {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
        if out.len() == SHORT_LEN {
            break;
        }
    }
    out
}

/// True for a well-formed short-link name.
pub(crate) fn is_short_link(s: &str) -> bool {
    s.len() == SHORT_LEN && s.bytes().all(|b| BASE32.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn chain_ids() {
        let good = format!("sha256:{HEX}");
        assert_eq!(chain_hex(&good).unwrap(), HEX);
        let bad = [
            String::new(),
            HEX.to_owned(),
            format!("sha512:{HEX}"),
            format!("sha256:{}", &HEX[1..]),
            format!("sha256:{HEX}0"),
            format!("sha256:{}", HEX.to_uppercase()),
            format!("sha256:../{}", &HEX[3..]),
            format!("sha256:{}/x", &HEX[2..]),
        ];
        for id in &bad {
            assert!(
                matches!(chain_hex(id), Err(SnapshotError::InvalidChainId(_))),
                "{id}"
            );
        }
    }

    #[test]
    fn snapshot_ids() {
        for id in ["a", "0abc", "web_1", "my-app.2", &"f".repeat(128)] {
            check_id(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
        let long = "f".repeat(129);
        for id in [
            "", ".", "..", ".x", "-x", "_x", "a/b", "a b", "é", "a\0", &long,
        ] {
            assert!(
                matches!(check_id(id), Err(SnapshotError::InvalidId(_))),
                "{id:?}"
            );
        }
    }

    #[test]
    fn short_links_are_stable_base32_and_distinct() {
        let a = short_link(HEX);
        assert_eq!(a.len(), SHORT_LEN);
        assert!(is_short_link(&a), "{a}");
        assert_eq!(a, short_link(HEX), "deterministic");
        let other = HEX.replace('0', "1");
        assert_ne!(a, short_link(&other));
        // Known value: base32 of sha256("0123...cdef") truncated to 26 digits.
        let digest = Sha256::digest(HEX.as_bytes());
        let first = BASE32[(digest[0] >> 3) as usize] as char;
        assert_eq!(a.chars().next(), Some(first));
    }

    #[test]
    fn short_link_shape() {
        for s in [
            "",
            "abcdefghijklmnopqrstuvwxyz",
            "ABCDEFGHIJKLMNOPQRSTUVWXY1",
            "../x",
        ] {
            assert!(!is_short_link(s), "{s}");
        }
        assert!(is_short_link("ABCDEFGHIJKLMNOPQRSTUVWXY2"));
    }
}
