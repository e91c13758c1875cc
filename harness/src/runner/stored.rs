//! The server side of an upload, where the harness owns the server's file tree: did the
//! server store what the client sent? A server that answers 226 after storing something
//! else (a TLS ClientHello written into the file, CRs stripped in ASCII mode) is the silent
//! failure a client never sees, so the runner looks at the file itself.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::client::payload::Content;

/// How many leading bytes of a differing file the transcript shows.
const HEAD: usize = 8;
const CHUNK: usize = 64 * 1024;

/// What the server's file holds, compared with the upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stored", rename_all = "snake_case")]
pub enum StoredCheck {
    /// Byte for byte what the client sent.
    AsUploaded { bytes: u64 },
    /// The first `bytes` of an upload that did not complete: cut short, not corrupted.
    CutShort { bytes: u64, expected: u64 },
    /// Bytes the client never sent.
    Differs {
        bytes: u64,
        expected: u64,
        /// The first bytes of the stored file.
        head: Vec<u8>,
    },
    /// A completed upload the server's tree does not have (checked nowhere).
    Missing,
    /// The file could not be read.
    Unreadable { error: String },
}

impl StoredCheck {
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoredCheck::Differs { .. })
    }

    /// One line for the transcript (after `== server stored <path>: `).
    pub fn describe(&self) -> String {
        match self {
            StoredCheck::AsUploaded { bytes } => format!("{bytes} bytes, as uploaded"),
            StoredCheck::CutShort { bytes, expected } => {
                format!("the first {bytes} of {expected} bytes (the upload did not complete)")
            }
            StoredCheck::Differs {
                bytes,
                expected,
                head,
            } => {
                let shown: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
                let what = recognise(head)
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default();
                format!(
                    "{bytes} bytes that differ from the {expected}-byte upload (they begin {}{what})",
                    shown.join(" ")
                )
            }
            StoredCheck::Missing => "no such file in the server's tree; not checked".into(),
            StoredCheck::Unreadable { error } => format!("not checked: {error}"),
        }
    }
}

/// What a stored file's first bytes are, when they are recognisably not an upload.
fn recognise(head: &[u8]) -> Option<&'static str> {
    match head {
        [0x16, 0x03, ..] => Some("a TLS handshake record, the client's ClientHello"),
        [0x15, 0x03, ..] => Some("a TLS alert record"),
        [0x17, 0x03, ..] => Some("TLS application data, still encrypted"),
        _ => None,
    }
}

/// The host path of `vpath` (as the scenario named it) under the server's `root`; `None` if
/// it would leave the root.
fn host_path(root: &Path, vpath: &str) -> Option<PathBuf> {
    let relative = Path::new(vpath.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(relative))
}

/// Compares the stored file with `expected`, streaming both (memory stays flat).
/// `completed` says whether the client's upload finished; only then is a missing or short
/// file more than a cut-off transfer.
pub fn check(root: &Path, vpath: &str, expected: &Content, completed: bool) -> StoredCheck {
    let Some(path) = host_path(root, vpath) else {
        return StoredCheck::Unreadable {
            error: format!("{vpath} is outside the server's root"),
        };
    };
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if completed {
                StoredCheck::Missing
            } else {
                StoredCheck::CutShort {
                    bytes: 0,
                    expected: expected.len(),
                }
            };
        }
        Err(e) => {
            return StoredCheck::Unreadable {
                error: e.to_string(),
            };
        }
    };
    let mut reader = expected.reader();
    let (mut stored_buf, mut expected_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut head = Vec::new();
    let (mut bytes, mut same) = (0u64, true);
    let mut expected_left = expected.len();
    loop {
        let n = match file.read(&mut stored_buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return StoredCheck::Unreadable {
                    error: e.to_string(),
                };
            }
        };
        if head.len() < HEAD {
            let take = (HEAD - head.len()).min(n);
            head.extend_from_slice(&stored_buf[..take]);
        }
        if same {
            // Compare this chunk with the same stretch of the upload.
            let mut compared = 0;
            while compared < n {
                let want = (n - compared).min(expected_left as usize);
                if want == 0 {
                    same = false;
                    break;
                }
                let got = reader.read_full(&mut expected_buf[..want]);
                expected_left -= got as u64;
                if got == 0 || stored_buf[compared..compared + got] != expected_buf[..got] {
                    same = false;
                    break;
                }
                compared += got;
            }
        }
        bytes += n as u64;
    }
    let total = expected.len();
    match (same, bytes == total) {
        (true, true) => StoredCheck::AsUploaded { bytes },
        (true, false) if !completed => StoredCheck::CutShort {
            bytes,
            expected: total,
        },
        _ => StoredCheck::Differs {
            bytes,
            expected: total,
            head,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_files_are_compared_with_the_upload() {
        let dir = tempfile::tempdir().unwrap();
        let upload = Content::payload(7, 0, 200_000);
        let bytes = upload.to_bytes();
        std::fs::write(dir.path().join("same.bin"), &bytes).unwrap();
        std::fs::write(dir.path().join("short.bin"), &bytes[..1000]).unwrap();
        let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00];
        hello.resize(517, 0);
        std::fs::write(dir.path().join("hello.bin"), &hello).unwrap();
        let mut flipped = bytes.clone();
        flipped[150_000] ^= 1;
        std::fs::write(dir.path().join("flipped.bin"), &flipped).unwrap();

        let root = dir.path();
        assert_eq!(
            check(root, "same.bin", &upload, true),
            StoredCheck::AsUploaded { bytes: 200_000 }
        );
        assert_eq!(
            check(root, "/short.bin", &upload, false),
            StoredCheck::CutShort {
                bytes: 1000,
                expected: 200_000
            }
        );
        assert!(check(root, "short.bin", &upload, true).is_corrupt());
        assert!(check(root, "flipped.bin", &upload, true).is_corrupt());
        let hello_check = check(root, "hello.bin", &upload, false);
        assert!(hello_check.is_corrupt());
        assert_eq!(
            hello_check.describe(),
            "517 bytes that differ from the 200000-byte upload (they begin 16 03 01 02 00 00 00 \
             00: a TLS handshake record, the client's ClientHello)"
        );
        assert_eq!(check(root, "none.bin", &upload, true), StoredCheck::Missing);
        assert!(matches!(
            check(root, "../etc/passwd", &upload, true),
            StoredCheck::Unreadable { .. }
        ));
    }
}
