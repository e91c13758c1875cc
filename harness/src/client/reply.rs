//! FTP reply parsing (RFC 959 §4.2) in the three multi-line styles real servers use:
//! - `NNN-first`, raw middle lines, `NNN last` (vsftpd, FileZilla 0.9);
//! - every line `NNN-...`, last `NNN ...` (pure-ftpd);
//! - middle lines starting with a space and no code (ProFTPD, FileZilla 1.x FEAT).
//!
//! One rule covers all three: a reply is multi-line when its first line is `NNN-`, and it
//! ends at the first later line that starts with the same `NNN` followed by a space or EOL.

use serde::Serialize;

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
    #[error("malformed reply line {line:?}: expected a 3-digit code")]
    Malformed { line: String },
}

/// Incremental parser: feed it the bytes read so far; it takes whole replies off the front.
#[derive(Debug)]
pub struct ReplyParser {
    buf: Vec<u8>,
    max_line: usize,
}

impl ReplyParser {
    pub fn new(max_line: usize) -> Self {
        ReplyParser {
            buf: Vec::new(),
            max_line,
        }
    }

    pub fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes received but not yet part of a complete reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the next complete reply, if the buffer holds one.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        let mut lines = Vec::new();
        let mut offset = 0;
        let mut code = None;
        loop {
            let rest = &self.buf[offset..];
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > self.max_line {
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
            let raw = &rest[..newline];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = String::from_utf8_lossy(raw).into_owned();
            offset += newline + 1;
            match code {
                None => {
                    let (parsed, multi) = parse_first(&line)?;
                    lines.push(line);
                    if !multi {
                        self.buf.drain(..offset);
                        return Ok(Some(Reply {
                            code: parsed,
                            lines,
                        }));
                    }
                    code = Some(parsed);
                }
                Some(expected) => {
                    let last = ends_reply(&line, expected);
                    lines.push(line);
                    if last {
                        self.buf.drain(..offset);
                        return Ok(Some(Reply {
                            code: expected,
                            lines,
                        }));
                    }
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
        let mut parser = ReplyParser::new(512);
        parser.buffer_mut().extend_from_slice(input.as_bytes());
        let mut out = Vec::new();
        while let Some(reply) = parser.next_reply().unwrap() {
            out.push(reply);
        }
        assert!(
            parser.pending().is_empty(),
            "left over: {:?}",
            parser.pending()
        );
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
        let mut parser = ReplyParser::new(512);
        parser
            .buffer_mut()
            .extend_from_slice(b"211-Features:\r\n EPRT\r\n");
        assert_eq!(parser.next_reply().unwrap(), None);
        parser.buffer_mut().extend_from_slice(b"211 End\r\n");
        assert_eq!(parser.next_reply().unwrap().unwrap().code, 211);
    }

    #[test]
    fn rejects_garbage_and_overlong_lines() {
        let mut parser = ReplyParser::new(64);
        parser
            .buffer_mut()
            .extend_from_slice(b"HTTP/1.1 400 Bad\r\n");
        assert!(matches!(
            parser.next_reply(),
            Err(ReplyError::Malformed { .. })
        ));
        let mut parser = ReplyParser::new(16);
        parser.buffer_mut().extend_from_slice(&[b'2'; 40]);
        assert_eq!(
            parser.next_reply(),
            Err(ReplyError::LineTooLong { limit: 16 })
        );
    }
}
