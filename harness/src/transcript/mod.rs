//! The ordered record of one scenario run: what the client sent, what the server replied,
//! every TLS handshake, data connection, byte count, timeout and error.
//!
//! Events are structured (for the classifier and results.json) and render to one text line
//! each; [`normalize`] turns the rendered text into a snapshot that is stable between runs.

mod normalize;
mod text;

pub use normalize::{Normalizer, normalize};
pub use text::printable;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Control,
    Data,
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Control => "control",
            Channel::Data => "data",
        }
    }
}

/// How a TLS handshake went, as rustls reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeKind {
    Full,
    /// Full, after the server asked for another key share (OpenSSL 3.0 has no ML-KEM).
    FullWithHelloRetry,
    Resumed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handshake {
    pub version: String,
    pub cipher: String,
    pub kind: HandshakeKind,
    pub alpn: Option<String>,
    /// The server's end-entity certificate (DER), for `probe`; never printed.
    #[serde(skip)]
    pub peer_certificate: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Upload,
    Download,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A scenario step starts (1-based index, as the user wrote it; 0 is connecting).
    Step {
        index: usize,
        name: String,
    },
    /// What the harness does after the steps (say goodbye, see if the server hung up).
    Epilogue {
        name: String,
    },
    Connected {
        channel: Channel,
        peer: String,
        /// "connect" (we connected) or "accept" (the server connected to our PORT listener).
        how: &'static str,
        /// Data connections: whether the client is going to speak TLS on it.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_tls: Option<bool>,
    },
    Command {
        line: String,
    },
    /// Several commands written in one packet, before reading any reply.
    Pipelined {
        lines: Vec<String>,
    },
    Reply {
        code: u16,
        lines: Vec<String>,
    },
    Tls {
        channel: Channel,
        handshake: Handshake,
    },
    TlsError {
        channel: Channel,
        message: String,
    },
    /// The passive reply named another host than the control peer.
    PasvAddress {
        announced: String,
        used: String,
    },
    Transferred {
        direction: Direction,
        bytes: u64,
        tls: bool,
        close_notify: bool,
    },
    Verified {
        ok: bool,
        detail: String,
    },
    Listing {
        /// The first names by sort order, at most 100 of them.
        entries: Vec<String>,
        /// How many names the listing had.
        total: usize,
        tls: bool,
        close_notify: bool,
    },
    /// A TLS layer was removed (CCC).
    TlsRemoved {
        channel: Channel,
    },
    Closed {
        channel: Channel,
        detail: String,
    },
    Timeout {
        waiting_for: String,
        after_ms: u64,
    },
    Error {
        channel: Channel,
        message: String,
    },
    Note {
        text: String,
    },
    /// An AUTH mechanism was refused and the client falls back to the next one.
    AuthFallback {
        refused: String,
        code: u16,
        next: String,
    },
    /// The server sent bytes in clear after its 234, before the client's handshake; they
    /// are discarded.
    UnreadBeforeTls {
        bytes: usize,
    },
    /// After the run: what the server stored for an upload (where the harness owns its files).
    ServerStored {
        path: String,
        detail: String,
        corrupt: bool,
    },
}

/// A reply longer than this shows its first lines and how much was left out.
const REPLY_LINES_SHOWN: usize = 200;

impl Event {
    /// One or more text lines for the transcript.
    pub fn render(&self) -> Vec<String> {
        match self {
            Event::Step { index, name } => vec![format!("-- step {index}: {name}")],
            Event::Epilogue { name } => vec![format!("-- after the steps: {name}")],
            Event::Connected {
                channel,
                peer,
                how,
                client_tls,
            } => vec![match client_tls {
                None => format!("== {} {how} {peer}", channel.as_str()),
                Some(tls) => format!(
                    "== {} {how} {peer} [client: {}]",
                    channel.as_str(),
                    if *tls { "tls" } else { "clear" }
                ),
            }],
            Event::Command { line } => vec![format!("C> {line}")],
            Event::Pipelined { lines } => lines
                .iter()
                .map(|l| format!("C> {l}  [pipelined]"))
                .collect(),
            Event::Reply { lines, .. } if lines.len() > REPLY_LINES_SHOWN => {
                // The head, what was left out, and the last line (with the final code).
                let head = &lines[..REPLY_LINES_SHOWN - 1];
                let omitted = &lines[REPLY_LINES_SHOWN - 1..lines.len() - 1];
                let bytes: usize = omitted.iter().map(|l| l.len() + 2).sum();
                let mut shown: Vec<String> = head.iter().map(|l| format!("S< {l}")).collect();
                shown.push(format!(
                    "S< … ({} lines, {bytes} bytes omitted)",
                    omitted.len()
                ));
                shown.extend(lines.last().map(|l| format!("S< {l}")));
                shown
            }
            Event::Reply { lines, .. } => lines.iter().map(|l| format!("S< {l}")).collect(),
            Event::Tls { channel, handshake } => vec![format!(
                "== {} tls {} {} {} alpn={}",
                channel.as_str(),
                handshake.version,
                handshake.cipher,
                match handshake.kind {
                    HandshakeKind::Full => "full",
                    HandshakeKind::FullWithHelloRetry => "full(hello-retry)",
                    HandshakeKind::Resumed => "resumed",
                },
                handshake.alpn.as_deref().unwrap_or("-")
            )],
            Event::TlsError { channel, message } => {
                vec![format!("== {} tls error: {message}", channel.as_str())]
            }
            Event::PasvAddress { announced, used } => vec![format!(
                "== data address {announced} differs from the control peer; connecting to {used}"
            )],
            Event::Transferred {
                direction,
                bytes,
                tls,
                close_notify,
            } => {
                let verb = match direction {
                    Direction::Upload => "sent",
                    Direction::Download => "received",
                };
                vec![format!(
                    "== data {verb} {bytes} bytes ({})",
                    protection(*tls, *close_notify)
                )]
            }
            Event::Verified { ok, detail } => vec![format!(
                "== data verify {}: {detail}",
                if *ok { "ok" } else { "FAILED" }
            )],
            Event::Listing {
                entries,
                total,
                tls,
                close_notify,
            } => {
                let shown = if *total > entries.len() {
                    format!(", the first {} by name", entries.len())
                } else {
                    String::new()
                };
                vec![format!(
                    "== data listing ({}) {total} entries{shown}: [{}]",
                    protection(*tls, *close_notify),
                    entries.join(", ")
                )]
            }
            Event::TlsRemoved { channel } => vec![format!("== {} tls removed", channel.as_str())],
            Event::Closed { channel, detail } => {
                vec![format!("== {} closed: {detail}", channel.as_str())]
            }
            Event::Timeout {
                waiting_for,
                after_ms,
            } => vec![format!(
                "== timeout after {} waiting for {waiting_for}",
                fmt_ms(*after_ms)
            )],
            Event::Error { channel, message } => {
                vec![format!("== {} error: {message}", channel.as_str())]
            }
            Event::Note { text } => vec![format!("== note: {text}")],
            Event::AuthFallback {
                refused,
                code,
                next,
            } => vec![format!(
                "== note: AUTH {refused} refused with {code}; falling back to AUTH {next}"
            )],
            Event::UnreadBeforeTls { bytes } => vec![format!(
                "== note: {bytes} unread bytes from the server before the TLS handshake"
            )],
            Event::ServerStored { path, detail, .. } => {
                vec![format!("== server stored {path}: {detail}")]
            }
        }
    }
}

fn protection(tls: bool, close_notify: bool) -> &'static str {
    match (tls, close_notify) {
        (false, _) => "clear",
        (true, true) => "tls, close_notify",
        (true, false) => "tls, no close_notify",
    }
}

fn fmt_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// What a transcript line is, so reports style it without reading its text again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// `-- step N: ...`
    Step,
    /// `-- after the steps: ...`
    After,
    Command,
    /// A 1xx-3xx reply line.
    Reply,
    /// A 4xx/5xx reply line.
    Refusal,
    /// Connections, handshakes, transfers, notes.
    Event,
    /// A timeout, TLS error, close, error, failed verification or corrupted file.
    Problem,
}

/// One normalized transcript line with its kind and the step it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub kind: LineKind,
    /// The step (0 is connecting); `None` after the steps.
    pub step: Option<usize>,
    pub text: String,
}

impl Event {
    fn line_kind(&self) -> LineKind {
        match self {
            Event::Step { .. } => LineKind::Step,
            Event::Epilogue { .. } => LineKind::After,
            Event::Command { .. } | Event::Pipelined { .. } => LineKind::Command,
            Event::Reply { code, .. } if *code >= 400 => LineKind::Refusal,
            Event::Reply { .. } => LineKind::Reply,
            Event::TlsError { .. }
            | Event::Closed { .. }
            | Event::Timeout { .. }
            | Event::Error { .. }
            | Event::Verified { ok: false, .. }
            | Event::ServerStored { corrupt: true, .. } => LineKind::Problem,
            _ => LineKind::Event,
        }
    }
}

/// Joins lines into the snapshot text (one line each, newline-terminated).
pub fn lines_text(lines: &[Line]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(&line.text);
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Transcript {
    pub events: Vec<Event>,
}

impl Transcript {
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    pub fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
    }

    /// The normalized lines, typed; their text joined is `normalize(&self.render())`.
    pub fn normalized_lines(&self) -> Vec<Line> {
        let mut step = None;
        let mut out = Vec::new();
        for event in &self.events {
            match event {
                Event::Step { index, .. } => step = Some(*index),
                Event::Epilogue { .. } => step = None,
                _ => {}
            }
            let kind = event.line_kind();
            let rendered = match event {
                Event::Reply { code, lines } => Event::Reply {
                    code: *code,
                    lines: normalize::without_random_lines(lines),
                }
                .render(),
                other => other.render(),
            };
            for text in rendered {
                // Rules may remove a whole line (with its newline).
                let normalized = normalize(&format!("{text}\n"));
                if let Some(text) = normalized.strip_suffix('\n') {
                    out.push(Line {
                        kind,
                        step,
                        text: text.to_string(),
                    });
                }
            }
        }
        out
    }

    /// The raw text, one line per rendered event line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            for line in event.render() {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_reply_shows_its_head_its_last_line_and_what_was_left_out() {
        let mut lines: Vec<String> = (0..1000).map(|i| format!("211-line {i:04}")).collect();
        lines.push("211 End".into());
        let shown = Event::Reply { code: 211, lines }.render();
        assert_eq!(shown.len(), REPLY_LINES_SHOWN + 1);
        assert_eq!(shown[0], "S< 211-line 0000");
        assert_eq!(
            shown[REPLY_LINES_SHOWN - 1],
            "S< … (801 lines, 12015 bytes omitted)"
        );
        assert_eq!(shown[REPLY_LINES_SHOWN], "S< 211 End");
        let short = Event::Reply {
            code: 200,
            lines: vec!["200 ok".into()],
        };
        assert_eq!(short.render(), ["S< 200 ok"]);
    }
}
