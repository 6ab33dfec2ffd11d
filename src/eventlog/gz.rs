//! A `.gz` log decompressed member after member (as `gzip -d` reads concatenated files),
//! knowing where each member starts in the file: bytes after the last member that are not gzip
//! are told by their offset, and every line before them is kept.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

/// The first two bytes of every gzip member.
const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Counts the bytes taken from a buffered input.
struct Counted<R> {
    inner: R,
    consumed: u64,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.consumed += n as u64;
        self.inner.consume(n);
    }
}

/// Data that is not gzip where a member should start, after at least one whole member: the
/// compressed stream ended there and everything before it was read. Carried inside the
/// `io::Error` the decompressor returns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{bytes} bytes at byte {offset} of the file follow the end of the gzip stream and are not gzip ({reason})"
)]
pub(super) struct NotGzipAfterEnd {
    /// Where the data starts in the compressed file.
    pub offset: u64,
    /// How many bytes there are, from `offset` to the end of the file.
    pub bytes: u64,
    /// What the decompressor said.
    pub reason: String,
}

/// The decompressed text of a gzip file.
pub(super) struct GzMembers<R> {
    decoder: Option<GzDecoder<Counted<R>>>,
    /// Length of the compressed file.
    file_len: u64,
    /// Where the member being read starts.
    start: u64,
    /// Members read to their end.
    members: u64,
    /// Bytes the member being read gave so far.
    produced: u64,
}

impl<R: BufRead> GzMembers<R> {
    /// Decompresses `input`, a file of `file_len` bytes (for the messages), from its start.
    pub(super) fn new(input: R, file_len: u64) -> GzMembers<R> {
        GzMembers {
            decoder: Some(GzDecoder::new(Counted {
                inner: input,
                consumed: 0,
            })),
            file_len,
            start: 0,
            members: 0,
            produced: 0,
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            match decoder.read(buf) {
                Ok(0) => {
                    // This member ended (its checksum was right): another may follow.
                    let mut input = self.decoder.take().expect("a decoder").into_inner();
                    self.members += 1;
                    self.start = input.consumed;
                    let next = input.fill_buf()?;
                    if next.is_empty() {
                        return Ok(0);
                    }
                    // Junk shorter than a header would read as a cut stream: told by its
                    // first bytes instead.
                    if next[0] != MAGIC[0] || next.get(1).is_some_and(|b| *b != MAGIC[1]) {
                        return Err(self.not_gzip("invalid gzip header".to_owned()));
                    }
                    self.produced = 0;
                    self.decoder = Some(GzDecoder::new(input));
                }
                Ok(n) => {
                    self.produced += n as u64;
                    return Ok(n);
                }
                // After a whole member, data that does not even start a member is not part of
                // the log. A header cut short stays `UnexpectedEof` (a truncated stream).
                Err(e)
                    if self.members > 0
                        && self.produced == 0
                        && e.kind() != io::ErrorKind::UnexpectedEof =>
                {
                    self.decoder = None;
                    return Err(self.not_gzip(e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R> GzMembers<R> {
    /// The error for data that is not gzip from the member that should start at `start`.
    fn not_gzip(&self, reason: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            NotGzipAfterEnd {
                offset: self.start,
                bytes: self.file_len.saturating_sub(self.start),
                reason,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> (Vec<u8>, io::Result<usize>) {
        let mut r = GzMembers::new(bytes, bytes.len() as u64);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, Ok(0)),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    /// Where the data that is not gzip starts, as `err` carries it.
    fn position(err: &io::Error) -> &NotGzipAfterEnd {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<NotGzipAfterEnd>())
            .expect("its position")
    }

    #[test]
    fn concatenated_members_read_as_one_text() {
        let mut bytes = gz(b"one\n");
        bytes.extend(gz(b"two\n"));
        let (out, end) = read_all(&bytes);
        assert_eq!(out, b"one\ntwo\n");
        assert_eq!(end.unwrap(), 0);
    }

    #[test]
    fn junk_after_the_last_member_is_told_by_its_offset_after_every_byte_before_it() {
        let first = gz(b"one\n");
        let second = gz(b"two\n");
        let mut bytes = [first.clone(), second.clone()].concat();
        bytes.extend_from_slice(b"not gzip at all\n");
        let (out, end) = read_all(&bytes);
        assert_eq!(out, b"one\ntwo\n");
        let err = end.expect_err("the junk is an error");
        let at = position(&err);
        assert_eq!(at.offset, (first.len() + second.len()) as u64);
        assert_eq!(at.bytes, 16);
        assert!(at.reason.contains("invalid gzip header"), "{at}");
    }

    #[test]
    fn junk_shorter_than_a_header_is_junk_too() {
        let mut bytes = gz(b"one\n");
        let end = bytes.len() as u64;
        bytes.extend_from_slice(b"xy");
        let (out, end_err) = read_all(&bytes);
        assert_eq!(out, b"one\n");
        let err = end_err.expect_err("junk");
        let at = position(&err);
        assert_eq!((at.offset, at.bytes), (end, 2));
    }

    #[test]
    fn a_cut_stream_is_still_an_unexpected_end() {
        let bytes = gz(b"one\ntwo\nthree\n");
        let (_, end) = read_all(&bytes[..bytes.len() - 4]);
        assert_eq!(end.expect_err("cut").kind(), io::ErrorKind::UnexpectedEof);
        // A second member cut inside its header.
        let mut bytes = gz(b"one\n");
        bytes.extend_from_slice(&[0x1f, 0x8b, 8]);
        let (out, end) = read_all(&bytes);
        assert_eq!(out, b"one\n");
        assert_eq!(end.expect_err("cut").kind(), io::ErrorKind::UnexpectedEof);
    }
}
