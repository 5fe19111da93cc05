//! Reading blobs back with verification against their digest.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::{format_digest, StoreError};

/// A reader over a stored blob that hashes what it returns and fails at end of file with
/// [`StoreError::BlobCorrupt`] (as an `io::ErrorKind::InvalidData` error) when the content does
/// not match the digest. Bytes returned before end of file are unverified: read to the end and
/// check the result before trusting them.
#[derive(Debug)]
pub struct VerifiedReader {
    file: File,
    path: PathBuf,
    digest: String,
    hasher: Sha256,
    state: ReaderState,
}

/// Where a [`VerifiedReader`] is.
#[derive(Debug)]
enum ReaderState {
    Reading,
    Verified,
    Corrupt(String),
}

impl VerifiedReader {
    /// Wraps an open blob file that should hash to `digest`.
    pub(super) fn new(file: File, path: PathBuf, digest: String) -> VerifiedReader {
        VerifiedReader {
            file,
            path,
            digest,
            hasher: Sha256::new(),
            state: ReaderState::Reading,
        }
    }

    /// The digest the content is checked against.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The error reported when the content hashes to `actual`.
    fn corrupt(&self, actual: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            StoreError::BlobCorrupt {
                digest: self.digest.clone(),
                path: self.path.clone(),
                actual: actual.to_owned(),
            },
        )
    }
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            ReaderState::Verified => return Ok(0),
            ReaderState::Corrupt(actual) => return Err(self.corrupt(actual)),
            ReaderState::Reading if buf.is_empty() => return Ok(0),
            ReaderState::Reading => {}
        }
        let n = self.file.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        let actual = format_digest(std::mem::take(&mut self.hasher));
        if actual == self.digest {
            self.state = ReaderState::Verified;
            Ok(0)
        } else {
            let err = self.corrupt(&actual);
            self.state = ReaderState::Corrupt(actual);
            Err(err)
        }
    }
}
