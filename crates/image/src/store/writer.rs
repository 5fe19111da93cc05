//! A blob written in one or more pieces: a download that broke off is resumed where it
//! stopped (HTTP Range) into the same temp file, hashed as it goes.

use std::io::{Seek, SeekFrom};
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::temp::TempFile;
use super::{digest_hex, format_digest, io_err, Store, StoreError};

/// A blob being written to `tmp/`; nothing is visible in `blobs/` until [`BlobWriter::commit`].
/// Dropping it uncommitted removes the temp file (a killed process leaves it to gc).
pub struct BlobWriter {
    temp: TempFile,
    hasher: Sha256,
    len: u64,
    /// `blobs/sha256`, where commit puts it.
    blobs: PathBuf,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("path", &self.temp.path)
            .field("len", &self.len)
            .finish()
    }
}

impl BlobWriter {
    /// The temp file (for error messages).
    pub fn path(&self) -> &std::path::Path {
        &self.temp.path
    }

    /// Bytes written so far (where a resumed download starts).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `buf`.
    pub fn write(&mut self, buf: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(buf);
        self.temp.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Throws away what was written, to start over from byte 0.
    pub fn restart(&mut self) -> Result<(), StoreError> {
        let file = self.temp.file();
        file.set_len(0)
            .and_then(|()| (&*file).seek(SeekFrom::Start(0)).map(drop))
            .map_err(io_err("truncate temp file", &self.temp.path))?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    /// The digest of what was written so far.
    pub fn digest(&self) -> String {
        format_digest(self.hasher.clone())
    }

    /// Stores the content under its digest (fsync, rename) and returns the digest. With
    /// `expected` given and the content hashing to something else, nothing is stored and
    /// [`StoreError::DigestMismatch`] is returned.
    pub fn commit(self, expected: Option<&str>) -> Result<String, StoreError> {
        let actual = self.digest();
        if let Some(expected) = expected {
            if expected != actual {
                return Err(StoreError::DigestMismatch {
                    expected: expected.to_owned(),
                    actual,
                });
            }
        }
        let dest = self.blobs.join(digest_hex(&actual)?);
        self.temp.commit(&dest, "rename blob into place")?;
        Ok(actual)
    }
}

impl Store {
    /// Starts a blob to be written piecewise with [`BlobWriter::write`].
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        Ok(BlobWriter {
            temp: TempFile::create(&self.tmp_dir())?,
            hasher: Sha256::new(),
            len: 0,
            blobs: self.blobs_dir(),
        })
    }
}
