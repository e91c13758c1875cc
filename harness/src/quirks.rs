//! The quirk catalog (`servers/quirks.yaml`): known, named deviations of servers from RFC
//! 959 / RFC 4217, each with a rule matched against a run's transcript, an explanation and
//! the client workaround. The catalog is data; this module only loads and matches it.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::client::{Failure, FailureKind};
use crate::outcome::OutcomeClass;
use crate::runner::{ConnectMode, Outcome, RunResult};
use crate::transcript::{Channel, Direction, Event, HandshakeKind, normalize};
use crate::yaml::{self, LoadError};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quirk {
    pub id: String,
    pub title: String,
    /// The rule it deviates from: `RFC 4217 section 9`.
    pub standard: String,
    pub explanation: String,
    pub workaround: String,
    /// A security finding: the deviation weakens what TLS protects (command injection,
    /// data sent in clear), not only interoperability. Reports list these first.
    #[serde(default)]
    pub security: bool,
    /// Where the behaviour was seen in server source (server-quirks.md references).
    #[serde(default)]
    pub seen_in: Vec<String>,
    /// Any matching rule means the quirk is present.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which form of the quirk this is (a reply code, a server family).
    #[serde(default)]
    pub variant: Option<String>,
    /// Every condition must hold.
    pub when: Vec<Condition>,
}

/// Conditions on a run: typed facts first (the command, the code, the failure's kind and
/// channel, what happened on the data connections); regexes match commands, and reply or
/// failure text only where the text is the point. Text is normalized before matching.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The cell's outcome class.
    Outcome(OutcomeClass),
    /// The run ended on a failure of this kind.
    Failure(FailureKind),
    /// The failure happened on this channel.
    FailedChannel(Channel),
    /// The run ended on a reply with one of these codes (and matching text).
    FailedReply(ReplyPattern),
    /// The last command of the failing step matches.
    FailedCommand(String),
    /// The failure's own message matches (a TLS alert's name, say).
    FailedMessage(String),
    /// Some reply to a command matching `command` matches the pattern.
    ReplyTo(ReplyTo),
    /// Some command sent matches.
    Sent(String),
    /// No command sent matches.
    NotSent(String),
    /// Commands matching this were sent at least twice (a second AUTH).
    SentTwice(String),
    /// Some command written pipelined (before reading replies) matches.
    Pipelined(String),
    /// How the session connected.
    Connect(ConnectMode),
    /// Some data connection on which the client spoke TLS (`tls`) or clear text (`clear`).
    ClientData(DataProtection),
    /// Some data TLS handshake was full, or resumed.
    DataHandshake(HandshakeSeen),
    /// Some TLS upload ended with (true) or without (false) close_notify.
    UploadCloseNotify(bool),
    /// The client was set to end TLS data connections with (true) or without (false)
    /// close_notify, whether or not the transcript shows a transfer's end.
    ClientCloseNotify(bool),
    /// The server closed this channel at some point.
    ServerClosed(Channel),
    /// The client fell back to another AUTH mechanism after a refusal.
    AuthFallback(bool),
    /// The server sent clear-text bytes after its 234, before the handshake.
    UnreadBeforeTls(bool),
    /// A download or the server's stored file differs from the upload.
    Corrupted(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataProtection {
    Tls,
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeSeen {
    /// Full, with or without a hello retry.
    Full,
    Resumed,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyPattern {
    #[serde(default)]
    pub code: Vec<u16>,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyTo {
    pub command: String,
    #[serde(default)]
    pub code: Vec<u16>,
    #[serde(default)]
    pub not_code: Vec<u16>,
    #[serde(default)]
    pub text: Option<String>,
    /// The (multi-line) reply has no line matching this.
    #[serde(default)]
    pub lacks: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QuirkMatch {
    pub id: String,
    pub variant: Option<String>,
}

impl std::fmt::Display for QuirkMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.variant {
            Some(variant) => write!(f, "{} ({variant})", self.id),
            None => f.write_str(&self.id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub quirks: Vec<Quirk>,
    /// Every rule's regex, compiled once when the catalog is loaded.
    patterns: HashMap<String, Regex>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    quirks: Vec<Quirk>,
}

impl Catalog {
    /// Loads and checks the catalog: ids unique, every regex valid.
    pub fn load(path: &Path) -> Result<Catalog, LoadError> {
        let file: CatalogFile = yaml::from_file(path)?;
        Catalog::new(file.quirks).map_err(|message| LoadError {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message,
        })
    }

    fn new(quirks: Vec<Quirk>) -> Result<Catalog, String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut patterns = HashMap::new();
        for quirk in &quirks {
            if !seen.insert(quirk.id.clone()) {
                return Err(format!("duplicate quirk id {:?}", quirk.id));
            }
            for condition in quirk.rules.iter().flat_map(|r| &r.when) {
                for pattern in condition.patterns() {
                    let regex = Regex::new(pattern)
                        .map_err(|e| format!("quirk {}: bad regex {pattern:?}: {e}", quirk.id))?;
                    patterns.insert(pattern.to_string(), regex);
                }
            }
        }
        Ok(Catalog { quirks, patterns })
    }

    /// The compiled form of a rule's pattern (all were compiled by `new`).
    fn re(&self, pattern: &str) -> &Regex {
        &self.patterns[pattern]
    }

    pub fn get(&self, id: &str) -> Option<&Quirk> {
        self.quirks.iter().find(|q| q.id == id)
    }

    /// Every quirk whose rule holds for this run (first matching rule per quirk).
    pub fn matches(&self, run: &RunResult, class: OutcomeClass) -> Vec<QuirkMatch> {
        let facts = Facts::new(run, class, self);
        let mut found: Vec<QuirkMatch> = self
            .quirks
            .iter()
            .filter_map(|quirk| {
                quirk
                    .rules
                    .iter()
                    .find(|rule| rule.when.iter().all(|c| facts.holds(c)))
                    .map(|rule| QuirkMatch {
                        id: quirk.id.clone(),
                        variant: rule.variant.clone(),
                    })
            })
            .collect();
        found.sort();
        found
    }
}

impl Condition {
    fn patterns(&self) -> Vec<&str> {
        match self {
            Condition::FailedReply(p) => p.text.iter().map(String::as_str).collect(),
            Condition::FailedCommand(r)
            | Condition::FailedMessage(r)
            | Condition::Sent(r)
            | Condition::NotSent(r)
            | Condition::SentTwice(r)
            | Condition::Pipelined(r) => vec![r.as_str()],
            Condition::ReplyTo(r) => std::iter::once(r.command.as_str())
                .chain(r.text.as_deref())
                .chain(r.lacks.as_deref())
                .collect(),
            Condition::Outcome(_)
            | Condition::Failure(_)
            | Condition::FailedChannel(_)
            | Condition::Connect(_)
            | Condition::ClientData(_)
            | Condition::DataHandshake(_)
            | Condition::UploadCloseNotify(_)
            | Condition::ClientCloseNotify(_)
            | Condition::ServerClosed(_)
            | Condition::AuthFallback(_)
            | Condition::UnreadBeforeTls(_)
            | Condition::Corrupted(_) => vec![],
        }
    }
}

/// A command and the replies that followed it (reply lines raw and normalized).
struct Exchange {
    command: String,
    pipelined: bool,
    replies: Vec<(u16, Vec<String>, Vec<String>)>,
}

/// What the conditions look at, extracted once per run from its typed events.
struct Facts<'a> {
    catalog: &'a Catalog,
    run: &'a RunResult,
    class: OutcomeClass,
    failure: Option<&'a Failure>,
    /// The failing reply's text, or the failure's message, normalized.
    failed_text: Option<String>,
    exchanges: Vec<Exchange>,
    failed_command: Option<String>,
    client_data: Vec<DataProtection>,
    data_handshakes: Vec<HandshakeSeen>,
    upload_close_notify: Vec<bool>,
    closed: Vec<Channel>,
    auth_fallback: bool,
    unread_before_tls: bool,
}

impl<'a> Facts<'a> {
    fn new(run: &'a RunResult, class: OutcomeClass, catalog: &'a Catalog) -> Self {
        let (failed_step, failure) = match &run.outcome {
            Outcome::Failed { step, failure, .. } => (Some(*step), Some(failure)),
            Outcome::Completed => (None, None),
        };
        let mut facts = Facts {
            catalog,
            run,
            class,
            failure,
            failed_text: failure.map(|f| {
                normalize(&match f {
                    Failure::Reply { text, .. } => text.clone(),
                    other => other.to_string(),
                })
            }),
            exchanges: Vec::new(),
            failed_command: None,
            client_data: Vec::new(),
            data_handshakes: Vec::new(),
            upload_close_notify: Vec::new(),
            closed: Vec::new(),
            auth_fallback: false,
            unread_before_tls: false,
        };
        // The step the events belong to; none after the steps (the epilogue's QUIT is not
        // part of the failing step, even when no step failed).
        let mut current_step = None;
        for event in &run.transcript.events {
            let in_failed_step = failed_step.is_some() && current_step == failed_step;
            match event {
                Event::Step { index, .. } => current_step = Some(*index),
                Event::Epilogue { .. } => current_step = None,
                Event::Command { line } => facts.sent(line, false, in_failed_step),
                Event::Pipelined { lines } => {
                    for line in lines {
                        facts.sent(line, true, in_failed_step);
                    }
                }
                Event::Reply { code, lines } => {
                    if let Some(last) = facts.exchanges.last_mut() {
                        let normalized = lines.iter().map(|l| normalize(l)).collect();
                        last.replies.push((*code, lines.clone(), normalized));
                    }
                }
                Event::Connected {
                    channel: Channel::Data,
                    client_tls: Some(tls),
                    ..
                } => facts.client_data.push(if *tls {
                    DataProtection::Tls
                } else {
                    DataProtection::Clear
                }),
                Event::Tls {
                    channel: Channel::Data,
                    handshake,
                } => facts.data_handshakes.push(match handshake.kind {
                    HandshakeKind::Resumed => HandshakeSeen::Resumed,
                    HandshakeKind::Full | HandshakeKind::FullWithHelloRetry => HandshakeSeen::Full,
                }),
                Event::Transferred {
                    direction: Direction::Upload,
                    tls: true,
                    close_notify,
                    ..
                } => facts.upload_close_notify.push(*close_notify),
                Event::Closed { channel, .. } => facts.closed.push(*channel),
                Event::AuthFallback { .. } => facts.auth_fallback = true,
                Event::UnreadBeforeTls { .. } => facts.unread_before_tls = true,
                _ => {}
            }
        }
        facts
    }

    fn sent(&mut self, line: &str, pipelined: bool, in_failed_step: bool) {
        if in_failed_step {
            self.failed_command = Some(line.to_string());
        }
        self.exchanges.push(Exchange {
            command: line.to_string(),
            pipelined,
            replies: Vec::new(),
        });
    }

    fn holds(&self, condition: &Condition) -> bool {
        let re = |pattern: &str| self.catalog.re(pattern);
        let commands = |pattern: &str| {
            let pattern = re(pattern);
            self.exchanges
                .iter()
                .filter(move |e| pattern.is_match(&e.command))
        };
        match condition {
            Condition::Outcome(class) => self.class == *class,
            Condition::Failure(kind) => self.failure.map(Failure::kind) == Some(*kind),
            Condition::FailedChannel(channel) => {
                self.failure.and_then(Failure::channel) == Some(*channel)
            }
            Condition::FailedReply(pattern) => match self.failure {
                Some(Failure::Reply { code, .. }) => {
                    let text = self.failed_text.as_deref().unwrap_or_default();
                    (pattern.code.is_empty() || pattern.code.contains(code))
                        && pattern.text.as_deref().is_none_or(|t| re(t).is_match(text))
                }
                _ => false,
            },
            Condition::FailedCommand(pattern) => self
                .failed_command
                .as_deref()
                .is_some_and(|c| re(pattern).is_match(c)),
            Condition::FailedMessage(pattern) => {
                self.failure.is_some()
                    && self
                        .failed_text
                        .as_deref()
                        .is_some_and(|t| re(pattern).is_match(t))
            }
            Condition::ReplyTo(want) => {
                let text = want.text.as_deref().map(re);
                let lacks = want.lacks.as_deref().map(re);
                commands(&want.command).flat_map(|e| e.replies.iter()).any(
                    |(code, lines, normalized)| {
                        (want.code.is_empty() || want.code.contains(code))
                            && !want.not_code.contains(code)
                            && text.is_none_or(|t| normalized.iter().any(|l| t.is_match(l)))
                            && lacks.is_none_or(|t| !lines.iter().any(|l| t.is_match(l)))
                    },
                )
            }
            Condition::Sent(pattern) => commands(pattern).next().is_some(),
            Condition::NotSent(pattern) => commands(pattern).next().is_none(),
            Condition::SentTwice(pattern) => commands(pattern).nth(1).is_some(),
            Condition::Pipelined(pattern) => commands(pattern).any(|e| e.pipelined),
            Condition::Connect(mode) => self.run.connect == *mode,
            Condition::ClientData(protection) => self.client_data.contains(protection),
            Condition::DataHandshake(seen) => self.data_handshakes.contains(seen),
            Condition::UploadCloseNotify(sent) => self.upload_close_notify.contains(sent),
            Condition::ClientCloseNotify(sent) => self.run.data_close_notify == *sent,
            Condition::ServerClosed(channel) => self.closed.contains(channel),
            Condition::AuthFallback(used) => self.auth_fallback == *used,
            Condition::UnreadBeforeTls(seen) => self.unread_before_tls == *seen,
            Condition::Corrupted(corrupted) => {
                let found = self.run.corrupted().is_some()
                    || self.failure.map(Failure::kind) == Some(FailureKind::Corrupted);
                found == *corrupted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ConnectMode;
    use crate::transcript::{Channel, Event, Transcript};

    fn catalog(yaml: &str) -> Catalog {
        let file: CatalogFile = serde_saphyr::from_str(yaml).unwrap();
        Catalog::new(file.quirks).unwrap()
    }

    const CATALOG: &str = r#"
quirks:
  - id: session-reuse-required
    title: t
    standard: RFC 4217 section 10.2
    explanation: e
    workaround: w
    rules:
      - variant: "522"
        when:
          - failed_reply: { code: [522], text: "session reuse required" }
      - variant: "425"
        when:
          - failed_reply: { code: [425] }
          - data_handshake: full
  - id: control-closed-after-refusal
    title: t
    standard: RFC 959 section 4.2
    explanation: e
    workaround: w
    rules:
      - when:
          - outcome: refused
          - server_closed: control
"#;

    fn refused(code: u16, text: &str, closed: bool) -> RunResult {
        crate::runner::fixtures::refused_listing(5, code, text, closed)
    }

    fn found(catalog: &Catalog, run: &RunResult, class: OutcomeClass) -> Vec<String> {
        catalog
            .matches(run, class)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn matches_variants_and_combined_conditions() {
        let catalog = catalog(CATALOG);
        let run = refused(522, "SSL connection failed: session reuse required", true);
        assert_eq!(
            found(&catalog, &run, OutcomeClass::Refused),
            vec![
                "control-closed-after-refusal",
                "session-reuse-required (522)"
            ]
        );
        let run = refused(
            425,
            "Unable to build data connection: Operation not permitted",
            false,
        );
        assert_eq!(
            found(&catalog, &run, OutcomeClass::Refused),
            vec!["session-reuse-required (425)"]
        );
        let mut run = refused(550, "No such file", false);
        assert!(found(&catalog, &run, OutcomeClass::Refused).is_empty());
        run.outcome = Outcome::Completed;
        assert!(found(&catalog, &run, OutcomeClass::Works).is_empty());
    }

    /// The catalog as shipped.
    fn shipped() -> Catalog {
        Catalog::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/quirks.yaml"),
        )
        .expect("servers/quirks.yaml loads")
    }

    fn exchange(t: &mut Transcript, command: &str, code: u16, lines: &[&str]) {
        t.push(Event::Command {
            line: command.into(),
        });
        t.push(Event::Reply {
            code,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        });
    }

    /// vsftpd 3.0.5's defaults (server-quirks.md, features.c:16-54): FEAT without AUTH TLS
    /// (ssl_tlsv1=NO), while AUTH TLS works. Debian 12's 3.0.3 lists it, so no snapshot here
    /// shows this quirk.
    #[test]
    fn feat_without_auth_tls_on_vsftpd_3_0_5() {
        let mut t = Transcript::default();
        t.push(Event::Step {
            index: 0,
            name: "connect + AUTH TLS".into(),
        });
        exchange(&mut t, "AUTH TLS", 234, &["234 Proceed with negotiation."]);
        t.push(Event::Step {
            index: 1,
            name: "feat".into(),
        });
        let feat = [
            "211-Features:",
            " EPRT",
            " EPSV",
            " MDTM",
            " PASV",
            " PBSZ",
            " PROT",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
            "211 End",
        ];
        exchange(&mut t, "FEAT", 211, &feat);
        let mut run = RunResult {
            transcript: t,
            outcome: Outcome::Completed,
            connect: ConnectMode::Explicit,
            data_close_notify: true,
            stored: Vec::new(),
        };
        let catalog = shipped();
        assert_eq!(
            found(&catalog, &run, OutcomeClass::Works),
            vec!["feat-omits-auth-tls"]
        );
        // 3.0.3 lists AUTH TLS: no quirk.
        if let Some(Event::Reply { lines, .. }) = run.transcript.events.last_mut() {
            lines.insert(1, " AUTH TLS".into());
        }
        assert!(found(&catalog, &run, OutcomeClass::Works).is_empty());
    }

    /// vsftpd 3.0.4+ (ssl.c:731-783) ends a handshake whose ALPN list lacks "ftp" with a
    /// fatal alert; the client sees it as this rustls error.
    #[test]
    fn alpn_without_ftp_refused_by_vsftpd_3_0_4() {
        let mut t = Transcript::default();
        t.push(Event::Step {
            index: 0,
            name: "connect + AUTH TLS".into(),
        });
        exchange(&mut t, "AUTH TLS", 234, &["234 Proceed with negotiation."]);
        let message = "received fatal alert: NoApplicationProtocol";
        t.push(Event::TlsError {
            channel: Channel::Control,
            message: message.into(),
        });
        let run = RunResult {
            transcript: t,
            outcome: Outcome::Failed {
                step: 0,
                label: "connect + AUTH TLS".into(),
                failure: Failure::Tls {
                    channel: Channel::Control,
                    message: message.into(),
                },
            },
            connect: ConnectMode::Explicit,
            data_close_notify: true,
            stored: Vec::new(),
        };
        assert_eq!(
            found(&shipped(), &run, OutcomeClass::Breaks),
            vec!["alpn-requires-ftp"]
        );
    }

    /// A run that ends on `command` refused with `reply` at step `step`.
    fn refused_at(step: usize, before: &[&str], command: &str, code: u16, text: &str) -> RunResult {
        let mut t = Transcript::default();
        t.push(Event::Step {
            index: 0,
            name: "connect + AUTH TLS".into(),
        });
        exchange(&mut t, "AUTH TLS", 234, &["234 AUTH TLS successful."]);
        t.push(Event::Step {
            index: step,
            name: command.to_lowercase(),
        });
        for line in before {
            exchange(&mut t, line, 200, &["200 ok"]);
        }
        exchange(&mut t, command, code, &[&format!("{code} {text}")]);
        RunResult {
            transcript: t,
            outcome: Outcome::Failed {
                step,
                label: command.to_lowercase(),
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

    /// pyftpdlib's refusals (server-quirks.md section 6), which the catalog first got wrong.
    #[test]
    fn pyftpdlib_prot_s_and_second_auth() {
        let catalog = shipped();
        let prot_s = refused_at(
            3,
            &["PBSZ 0"],
            "PROT S",
            521,
            "PROT S unsupported (use C or P).",
        );
        assert_eq!(
            found(&catalog, &prot_s, OutcomeClass::Refused),
            vec!["prot-s-not-536 (521)"]
        );
        let second = refused_at(1, &[], "AUTH TLS", 503, "Already using TLS.");
        assert_eq!(
            found(&catalog, &second, OutcomeClass::Refused),
            vec!["second-auth-reply (503)"]
        );
        // A transfer refused for want of PROT P is still prot-p-required.
        let stor = refused_at(4, &["EPSV"], "STOR f", 521, "PROT P required");
        assert_eq!(
            found(&catalog, &stor, OutcomeClass::Refused),
            vec!["prot-p-required (521)"]
        );
    }
}
