//! Runs built by hand for unit tests of what reads a run (outcomes, quirk rules).

use super::{ConnectMode, Outcome, RunResult};
use crate::client::Failure;
use crate::transcript::{Channel, Event, Handshake, HandshakeKind, Transcript};

/// A LIST at `step` refused with `code text` after a full (not resumed) data handshake,
/// as vsftpd and ProFTPD refuse a data connection without session reuse; `closed` adds the
/// server hanging up the control connection.
pub fn refused_listing(step: usize, code: u16, text: &str, closed: bool) -> RunResult {
    let mut t = Transcript::default();
    t.push(Event::Step {
        index: step,
        name: "list".into(),
    });
    t.push(Event::Command {
        line: "LIST".into(),
    });
    t.push(Event::Reply {
        code: 150,
        lines: vec!["150 Here comes the directory listing.".into()],
    });
    t.push(Event::Tls {
        channel: Channel::Data,
        handshake: Handshake {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            kind: HandshakeKind::Full,
            alpn: None,
            peer_certificate: None,
        },
    });
    t.push(Event::Reply {
        code,
        lines: vec![format!("{code} {text}")],
    });
    if closed {
        t.push(Event::Closed {
            channel: Channel::Control,
            detail: "by the server".into(),
        });
    }
    RunResult {
        transcript: t,
        outcome: Outcome::Failed {
            step,
            label: "list".into(),
            failure: Failure::Reply {
                code,
                text: text.into(),
            },
        },
        connect: ConnectMode::Explicit,
        data_close_notify: true,
        stored: Vec::new(),
    }
}
