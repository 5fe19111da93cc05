//! The uncompressed tar stream: decompression, the size bound and the diff_id hash.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::{detect, Compression, LayerError};

/// Reads the uncompressed stream, hashing and counting every byte handed on, and refusing to
/// hand on more than `limit` bytes (a gzip or zstd bomb stops here, not on disk).
pub(super) struct Counted<'a> {
    inner: Box<dyn Read + 'a>,
    hash: Sha256,
    bytes: u64,
    limit: u64,
    exceeded: bool,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(io::Error::other("size limit exceeded"));
        }
        let n = self.inner.read(buf)?;
        if self.bytes + n as u64 > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("size limit exceeded"));
        }
        self.bytes += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// The tar archive over the decompressed, counted `reader`.
pub(super) fn open<'a>(
    reader: impl Read + 'a,
    limit: u64,
) -> Result<tar::Archive<Counted<'a>>, LayerError> {
    let mut reader = reader;
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        match reader.read(&mut prefix[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(LayerError::Read { source }),
        }
    }
    let whole = io::Cursor::new(prefix[..got].to_vec()).chain(reader);
    let inner: Box<dyn Read + 'a> = match detect(&prefix[..got]) {
        Compression::None => Box::new(whole),
        // Multi-member gzip, as Go's gzip.Reader (and so Docker) accepts.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(whole)
                .map_err(|source| LayerError::Read { source })?,
        ),
    };
    Ok(tar::Archive::new(Counted {
        inner,
        hash: Sha256::new(),
        bytes: 0,
        limit,
        exceeded: false,
    }))
}

/// Settle the outcome of applying `archive`: a size-limit hit wins over whatever error it
/// caused; otherwise drain what follows the end-of-archive blocks (it is part of the diff_id)
/// and return (entries, diff_id, bytes).
pub(super) fn finish(
    archive: tar::Archive<Counted<'_>>,
    applied: Result<u64, LayerError>,
) -> Result<(u64, String, u64), LayerError> {
    let mut counted = archive.into_inner();
    let too_large = |c: &Counted<'_>| LayerError::TooLarge { limit: c.limit };
    if counted.exceeded {
        return Err(too_large(&counted));
    }
    let entries = applied?;
    if let Err(source) = io::copy(&mut counted, &mut io::sink()) {
        if counted.exceeded {
            return Err(too_large(&counted));
        }
        return Err(LayerError::Read { source });
    }
    let hex: String = counted
        .hash
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((entries, format!("sha256:{hex}"), counted.bytes))
}
