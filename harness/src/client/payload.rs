//! Transfer payloads generated from a seed, with random access (for REST), streamed in
//! chunks so memory stays flat whatever the size, and the expected content of server files
//! tracked as segments so downloads can be verified by hash.

use sha2::{Digest, Sha256};

pub const CHUNK: usize = 64 * 1024;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Fills `buf` with the bytes of payload `seed` starting at `offset`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut out = buf.iter_mut();
    loop {
        let block = splitmix64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (pos / 8)).to_le_bytes();
        let mut progressed = false;
        for &byte in &block[(pos % 8) as usize..] {
            match out.next() {
                Some(slot) => {
                    *slot = byte;
                    pos += 1;
                    progressed = true;
                }
                None => return,
            }
        }
        if !progressed {
            return;
        }
    }
}

/// A run of payload bytes: `len` bytes of payload `seed`, starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    seed: u64,
    start: u64,
    len: u64,
}

/// What a file on the server should contain, as a list of payload segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    segments: Vec<Segment>,
}

impl Content {
    /// Bytes `from..size` of payload `seed`.
    pub fn payload(seed: u64, from: u64, size: u64) -> Self {
        let mut content = Content::default();
        if size > from {
            content.segments.push(Segment {
                seed,
                start: from,
                len: size - from,
            });
        }
        content
    }

    pub fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `len` bytes.
    pub fn prefix(&self, len: u64) -> Self {
        let mut left = len;
        let mut out = Content::default();
        for segment in &self.segments {
            if left == 0 {
                break;
            }
            let take = segment.len.min(left);
            out.segments.push(Segment {
                len: take,
                ..*segment
            });
            left -= take;
        }
        out
    }

    /// Everything from byte `offset` on.
    pub fn suffix(&self, offset: u64) -> Self {
        let mut skip = offset;
        let mut out = Content::default();
        for segment in &self.segments {
            if skip >= segment.len {
                skip -= segment.len;
                continue;
            }
            out.segments.push(Segment {
                seed: segment.seed,
                start: segment.start + skip,
                len: segment.len - skip,
            });
            skip = 0;
        }
        out
    }

    pub fn append(&mut self, other: Content) {
        self.segments.extend(other.segments);
    }

    /// Streams the content chunk by chunk.
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = vec![0u8; CHUNK];
        for segment in &self.segments {
            let mut done = 0;
            while done < segment.len {
                let n = (segment.len - done).min(CHUNK as u64) as usize;
                fill(segment.seed, segment.start + done, &mut buf[..n]);
                f(&buf[..n]);
                done += n as u64;
            }
        }
    }

    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        self.for_each_chunk(|chunk| hasher.update(chunk));
        hex(&hasher.finalize())
    }

    /// Every byte, for tests of small contents.
    #[cfg(test)]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.for_each_chunk(|chunk| out.extend_from_slice(chunk));
        out
    }

    /// A chunk source for uploads: yields successive chunks into the caller's buffer.
    pub fn reader(&self) -> ContentReader {
        ContentReader {
            segments: self.segments.clone(),
            index: 0,
            done: 0,
        }
    }
}

pub struct ContentReader {
    segments: Vec<Segment>,
    index: usize,
    done: u64,
}

impl ContentReader {
    /// Fills all of `buf` unless the content ends first; returns how much it filled.
    pub fn read_full(&mut self, buf: &mut [u8]) -> usize {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read(&mut buf[filled..]);
            if n == 0 {
                break;
            }
            filled += n;
        }
        filled
    }

    /// Fills up to `buf.len()` bytes; returns 0 at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        while let Some(segment) = self.segments.get(self.index) {
            if self.done < segment.len {
                let n = (segment.len - self.done).min(buf.len() as u64) as usize;
                fill(segment.seed, segment.start + self.done, &mut buf[..n]);
                self.done += n as u64;
                return n;
            }
            self.index += 1;
            self.done = 0;
        }
        0
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_access_matches_sequential() {
        let mut whole = vec![0u8; 1000];
        fill(7, 0, &mut whole);
        let mut part = vec![0u8; 333];
        fill(7, 501, &mut part);
        assert_eq!(&whole[501..834], &part[..]);
        let mut other = vec![0u8; 1000];
        fill(8, 0, &mut other);
        assert_ne!(whole, other, "different seeds give different bytes");
    }

    #[test]
    fn resumed_upload_content_equals_the_whole_payload() {
        let full = Content::payload(3, 0, 200_000);
        let mut resumed = full.prefix(70_001);
        resumed.append(Content::payload(3, 70_001, 200_000));
        assert_eq!(resumed.to_bytes(), full.to_bytes());
        assert_eq!(resumed.sha256(), full.sha256());
        assert_eq!(full.suffix(199_999).to_bytes().len(), 1);
    }

    #[test]
    fn reader_streams_everything() {
        let mut content = Content::payload(1, 0, 150_000);
        content.append(Content::payload(2, 5, 10));
        let mut reader = content.reader();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        loop {
            let n = reader.read(&mut buf);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, content.to_bytes());
        assert_eq!(got.len() as u64, content.len());
    }
}
