//! FTP reply parsing (RFC 959 §4.2) in the three multi-line styles real servers use:
//! - `NNN-first`, raw middle lines, `NNN last` (vsftpd, FileZilla 0.9);
//! - every line `NNN-...`, last `NNN ...` (pure-ftpd);
//! - middle lines starting with a space and no code (ProFTPD, FileZilla 1.x FEAT).
//!
//! One rule covers all three: a reply is multi-line when its first line is `NNN-`, and it
//! ends at the first later line that starts with the same `NNN` followed by a space or EOL.

use serde::Serialize;

use crate::transcript::printable;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub code: u16,
    /// The reply's lines as received, without line terminators.
    pub lines: Vec<String>,
}

impl Reply {
    /// The text after the code on the last line (what a client would show).
    pub fn text(&self) -> &str {
        let last = self.lines.last().map(String::as_str).unwrap_or("");
        last.get(4..).unwrap_or("")
    }

    /// The whole reply on one line: `522 SSL connection failed: session reuse required`.
    pub fn summary(&self) -> String {
        format!("{} {}", self.code, self.text())
    }

    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("multi-line reply longer than {limit} bytes without its last line")]
    ReplyTooLong { limit: usize },
    #[error("malformed reply line \"{line}\": expected a 3-digit code")]
    Malformed { line: String },
    #[error(
        "reply line {line:?}: code {code} is not a reply code (RFC 959: the first digit is 1 to 5)"
    )]
    NoSuchCode { line: String, code: u16 },
}

/// Incremental parser: feed it the bytes read so far; it takes whole replies off the front.
/// Each line is looked at once (lines of a multi-line reply move out of the buffer as they
/// arrive), and a reply is bounded in size, so a server that never ends one costs neither
/// memory nor a rescan per read.
#[derive(Debug)]
pub struct ReplyParser {
    buf: Vec<u8>,
    max_line: usize,
    max_reply: usize,
    /// The multi-line reply read so far: its code, lines and size in bytes.
    partial: Option<(u16, Vec<String>, usize)>,
}

impl ReplyParser {
    pub fn new(max_line: usize, max_reply: usize) -> Self {
        ReplyParser {
            buf: Vec::new(),
            max_line,
            max_reply,
            partial: None,
        }
    }

    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// How many bytes were received that are not yet part of a complete reply.
    pub fn pending_len(&self) -> usize {
        self.buf.len() + self.partial.as_ref().map_or(0, |(_, _, bytes)| *bytes)
    }

    /// Forgets every byte not yet part of a complete reply; returns how many.
    pub fn discard(&mut self) -> usize {
        let discarded = self.pending_len();
        self.buf.clear();
        self.partial = None;
        discarded
    }

    /// Takes the next complete reply, if the buffer holds one.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(newline) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > self.max_line {
                    return Err(ReplyError::LineTooLong {
                        limit: self.max_line,
                    });
                }
                return Ok(None);
            };
            if newline > self.max_line {
                return Err(ReplyError::LineTooLong {
                    limit: self.max_line,
                });
            }
            let raw = &self.buf[..newline];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = printable(raw);
            self.buf.drain(..=newline);
            match self.partial.take() {
                None => {
                    let (code, multi) = parse_first(&line)?;
                    if !multi {
                        return Ok(Some(Reply {
                            code,
                            lines: vec![line],
                        }));
                    }
                    self.partial = Some((code, vec![line], newline + 1));
                }
                Some((code, mut lines, bytes)) => {
                    let bytes = bytes + newline + 1;
                    let last = ends_reply(&line, code);
                    lines.push(line);
                    if last {
                        return Ok(Some(Reply { code, lines }));
                    }
                    if bytes > self.max_reply {
                        return Err(ReplyError::ReplyTooLong {
                            limit: self.max_reply,
                        });
                    }
                    self.partial = Some((code, lines, bytes));
                }
            }
        }
    }
}

fn three_digits(line: &str) -> Option<u16> {
    let digits = line.get(..3)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn parse_first(line: &str) -> Result<(u16, bool), ReplyError> {
    let malformed = || ReplyError::Malformed {
        line: line.to_string(),
    };
    let code = three_digits(line).ok_or_else(malformed)?;
    if !(100..600).contains(&code) {
        return Err(ReplyError::NoSuchCode {
            line: line.to_string(),
            code,
        });
    }
    match line.as_bytes().get(3) {
        None | Some(b' ') => Ok((code, false)),
        Some(b'-') => Ok((code, true)),
        Some(_) => Err(malformed()),
    }
}

fn ends_reply(line: &str, code: u16) -> bool {
    three_digits(line) == Some(code) && matches!(line.as_bytes().get(3), None | Some(b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &str) -> Vec<Reply> {
        let mut parser = ReplyParser::new(512, 1 << 20);
        parser.buffer_mut().extend_from_slice(input.as_bytes());
        let mut out = Vec::new();
        while let Some(reply) = parser.next_reply().unwrap() {
            out.push(reply);
        }
        assert_eq!(parser.pending_len(), 0, "left over");
        out
    }

    #[test]
    fn single_line() {
        let replies = parse_all("220 (vsFTPd 3.0.3)\r\n");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].code, 220);
        assert_eq!(replies[0].text(), "(vsFTPd 3.0.3)");
    }

    #[test]
    fn rfc959_style_with_raw_middle_lines() {
        let replies = parse_all("211-Features:\r\n EPRT\r\nPASV\r\n211 End\r\n200 next\r\n");
        assert_eq!(
            replies[0].lines,
            vec!["211-Features:", " EPRT", "PASV", "211 End"]
        );
        assert_eq!(replies[1].summary(), "200 next");
    }

    #[test]
    fn pure_ftpd_style_every_line_coded() {
        let replies =
            parse_all("150-Accepted data connection\r\n150 1024.0 kbytes to download\r\n");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].text(), "1024.0 kbytes to download");
    }

    #[test]
    fn proftpd_style_space_continuations_and_bare_lf() {
        let replies = parse_all("211-Features:\n AUTH TLS\n 226 looks like a code\n211 End\n");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].lines.len(), 4);
    }

    #[test]
    fn a_different_code_inside_does_not_end_the_reply() {
        let replies = parse_all("230-Welcome\r\n220 not the end\r\n230 Logged in\r\n");
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].code, 230);
    }

    #[test]
    fn incomplete_reply_waits_for_more() {
        let mut parser = ReplyParser::new(512, 1 << 20);
        parser
            .buffer_mut()
            .extend_from_slice(b"211-Features:\r\n EPRT\r\n");
        assert_eq!(parser.next_reply().unwrap(), None);
        assert_eq!(parser.pending_len(), 22);
        parser.buffer_mut().extend_from_slice(b"211 End\r\n");
        let reply = parser.next_reply().unwrap().unwrap();
        assert_eq!(reply.lines, vec!["211-Features:", " EPRT", "211 End"]);
    }

    #[test]
    fn rejects_garbage_and_overlong_lines() {
        let mut parser = ReplyParser::new(64, 1 << 20);
        parser
            .buffer_mut()
            .extend_from_slice(b"HTTP/1.1 400 Bad\r\n");
        assert!(matches!(
            parser.next_reply(),
            Err(ReplyError::Malformed { .. })
        ));
        for (line, code) in [
            ("999 odd\r\n", 999),
            ("600 no\r\n", 600),
            ("099 no\r\n", 99),
        ] {
            let mut parser = ReplyParser::new(64, 1 << 20);
            parser.buffer_mut().extend_from_slice(line.as_bytes());
            assert!(
                matches!(parser.next_reply(), Err(ReplyError::NoSuchCode { code: c, .. }) if c == code),
                "{line}"
            );
        }
        let mut parser = ReplyParser::new(16, 1 << 20);
        parser.buffer_mut().extend_from_slice(&[b'2'; 40]);
        assert_eq!(
            parser.next_reply(),
            Err(ReplyError::LineTooLong { limit: 16 })
        );
    }

    #[test]
    fn a_reply_that_never_ends_is_refused_at_its_size_limit() {
        let mut parser = ReplyParser::new(64, 1000);
        parser.buffer_mut().extend_from_slice(b"220-welcome\r\n");
        let mut outcome = Ok(None);
        for _ in 0..200 {
            parser.buffer_mut().extend_from_slice(b"220-and more\r\n");
            outcome = parser.next_reply();
            if outcome.is_err() {
                break;
            }
        }
        assert_eq!(outcome, Err(ReplyError::ReplyTooLong { limit: 1000 }));
        // What was read stays bounded: the buffer is consumed line by line.
        assert!(
            parser.pending_len() <= 1000 + 64,
            "{}",
            parser.pending_len()
        );
    }
}
