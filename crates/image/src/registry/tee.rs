//! A layer download handed to an unpacker thread while it is written to the store, so the
//! blob is hashed once (by the store's writer) and never read back.
//!
//! The unpacker sees end of file only after the whole blob was written, verified against
//! its digest and committed ([`Tee::finish`]); when the download restarts from byte 0 (a
//! registry that ignores `Range`, or content that arrived wrong) or fails, the unpacker reads
//! an error instead and its files are thrown away.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Chunks in flight between the download and the unpacker (each up to the download's
/// read size): enough to ride out a stall on either side, little memory.
const DEPTH: usize = 16;

enum Chunk {
    Data(Vec<u8>),
    /// The blob is complete and verified.
    End,
}

/// The download's end of the pipe.
pub(crate) struct Tee {
    tx: Option<SyncSender<Chunk>>,
    /// Bytes handed on so far: the offset the next chunk must start at.
    sent: u64,
    /// The download restarted after bytes were handed on.
    broken: bool,
}

/// The unpacker's end of the pipe: the blob's bytes, in order.
pub(crate) struct Pipe {
    rx: Receiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
    ended: bool,
}

/// A connected pair.
pub(crate) fn pipe() -> (Tee, Pipe) {
    let (tx, rx) = sync_channel(DEPTH);
    let tee = Tee {
        tx: Some(tx),
        sent: 0,
        broken: false,
    };
    let pipe = Pipe {
        rx,
        chunk: Vec::new(),
        pos: 0,
        ended: false,
    };
    (tee, pipe)
}

impl Tee {
    /// Hands on `buf`, which was written at byte `at` of the blob. A chunk that does not
    /// continue where the last one ended (the download started over) breaks the pipe. An
    /// unpacker that stopped reading (it failed; its error says why) is simply not fed.
    pub(crate) fn send(&mut self, at: u64, buf: &[u8]) {
        let Some(tx) = &self.tx else { return };
        if at != self.sent {
            self.tx = None;
            self.broken = true;
            return;
        }
        if tx.send(Chunk::Data(buf.to_vec())).is_err() {
            self.tx = None;
            return;
        }
        self.sent += buf.len() as u64;
    }

    /// The blob is complete and verified: the unpacker may see end of file.
    pub(crate) fn finish(&mut self) {
        if let Some(tx) = self.tx.take() {
            // An unpacker that is gone has its own error to report.
            let _ = tx.send(Chunk::End);
        }
    }

    /// Closes the pipe (an unfinished one reads as an error) and tells whether it broke
    /// because the download started over, so that what the unpacker made is no evidence
    /// about the layer.
    pub(crate) fn close(mut self) -> bool {
        self.tx = None;
        self.broken
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.ended || buf.is_empty() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Chunk::Data(d)) => (self.chunk, self.pos) = (d, 0),
                Ok(Chunk::End) => self.ended = true,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the layer's download stopped before it was complete and verified",
                    ))
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut p: Pipe) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        p.read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn a_finished_download_reads_whole_and_in_order() {
        let (mut tee, pipe) = pipe();
        let reader = std::thread::spawn(move || read_all(pipe));
        tee.send(0, b"hello ");
        tee.send(6, b"world");
        tee.finish();
        assert!(!tee.close());
        assert_eq!(reader.join().unwrap().unwrap(), b"hello world");
    }

    #[test]
    fn a_resumed_download_continues_the_stream() {
        let (mut tee, pipe) = pipe();
        tee.send(0, b"ab");
        // The connection dropped; the rest came with Range from byte 2.
        tee.send(2, b"cd");
        tee.finish();
        assert!(!tee.close());
        assert_eq!(read_all(pipe).unwrap(), b"abcd");
    }

    #[test]
    fn a_restarted_download_breaks_the_pipe() {
        let (mut tee, pipe) = pipe();
        tee.send(0, b"ab");
        tee.send(0, b"ab");
        tee.finish();
        assert!(tee.close());
        let err = read_all(pipe).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_unfinished_download_is_an_error_not_an_end() {
        let (mut tee, pipe) = pipe();
        tee.send(0, b"ab");
        assert!(!tee.close());
        assert!(read_all(pipe).is_err());
    }

    #[test]
    fn a_gone_unpacker_does_not_block_the_download() {
        let (mut tee, pipe) = pipe();
        drop(pipe);
        for i in 0..(DEPTH as u64 * 4) {
            tee.send(i, b"x");
        }
        tee.finish();
        assert!(!tee.close());
    }
}
