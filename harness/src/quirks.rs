//! The quirk catalog (`servers/quirks.yaml`): known, named deviations of servers from RFC
//! 959 / RFC 4217, each with a rule matched against a run's transcript, an explanation and
//! the client workaround. The catalog is data; this module only loads and matches it.

use std::path::Path;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::client::Failure;
use crate::runner::Outcome;
use crate::transcript::{Event, Transcript, normalize};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Completed,
    Reply,
    Timeout,
    TlsError,
    Closed,
    Verify,
    Io,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectKind {
    Implicit,
    Explicit,
    Plain,
}

/// Conditions on a run. Regexes are matched against normalized text.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The run ended like this.
    Outcome(OutcomeKind),
    /// The run ended on a reply with one of these codes (and matching text).
    FailedReply(ReplyPattern),
    /// The last command of the failing step matches.
    FailedCommand(String),
    /// Some reply to a command matching `command` matches the pattern.
    ReplyTo(ReplyTo),
    /// Some command sent matches.
    Sent(String),
    /// No command sent matches.
    NotSent(String),
    /// Some transcript line matches.
    Line(String),
    /// No transcript line matches.
    NoLine(String),
    /// How the session connected.
    Connect(ConnectKind),
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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
        let mut seen = std::collections::BTreeSet::new();
        let problem = |message: String| LoadError {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message,
        };
        for quirk in &file.quirks {
            if !seen.insert(quirk.id.clone()) {
                return Err(problem(format!("duplicate quirk id {:?}", quirk.id)));
            }
            for rule in &quirk.rules {
                for condition in &rule.when {
                    for pattern in condition.patterns() {
                        Regex::new(pattern).map_err(|e| {
                            problem(format!("quirk {}: bad regex {pattern:?}: {e}", quirk.id))
                        })?;
                    }
                }
            }
        }
        Ok(Catalog {
            quirks: file.quirks,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Quirk> {
        self.quirks.iter().find(|q| q.id == id)
    }

    /// Every quirk whose rule holds for this run (first matching rule per quirk).
    pub fn matches(&self, transcript: &Transcript, outcome: &Outcome) -> Vec<QuirkMatch> {
        let facts = Facts::new(transcript, outcome);
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
            Condition::Outcome(_) | Condition::Connect(_) => vec![],
            Condition::FailedReply(p) => p.text.iter().map(String::as_str).collect(),
            Condition::FailedCommand(r)
            | Condition::Sent(r)
            | Condition::NotSent(r)
            | Condition::Line(r)
            | Condition::NoLine(r) => vec![r.as_str()],
            Condition::ReplyTo(r) => std::iter::once(r.command.as_str())
                .chain(r.text.as_deref())
                .chain(r.lacks.as_deref())
                .collect(),
        }
    }
}

/// A command and the replies that followed it.
struct Exchange {
    command: String,
    replies: Vec<(u16, Vec<String>)>,
}

/// What the conditions look at, extracted once per run.
struct Facts<'a> {
    outcome: &'a Outcome,
    lines: Vec<String>,
    exchanges: Vec<Exchange>,
    failed_command: Option<String>,
    connect: Option<ConnectKind>,
}

fn re(pattern: &str) -> Regex {
    // Patterns were validated when the catalog was loaded.
    Regex::new(pattern).unwrap_or_else(|_| Regex::new("$^").expect("an empty regex"))
}

impl<'a> Facts<'a> {
    fn new(transcript: &Transcript, outcome: &'a Outcome) -> Self {
        let lines = normalize(&transcript.render())
            .lines()
            .map(str::to_string)
            .collect();
        let mut exchanges: Vec<Exchange> = Vec::new();
        let mut failed_command = None;
        let failed_step = match outcome {
            Outcome::Failed { step, .. } => Some(*step),
            Outcome::Completed => None,
        };
        let mut current_step = 0;
        let mut connect = None;
        for event in &transcript.events {
            match event {
                Event::Step { index, name } => {
                    current_step = *index;
                    if *index == 0 {
                        connect = Some(if name.contains("implicit") {
                            ConnectKind::Implicit
                        } else if name.contains("AUTH") {
                            ConnectKind::Explicit
                        } else {
                            ConnectKind::Plain
                        });
                    }
                }
                // The epilogue's QUIT is not part of the failing step.
                Event::Epilogue { .. } => current_step = usize::MAX,
                Event::Command { line } => {
                    if Some(current_step) == failed_step {
                        failed_command = Some(line.clone());
                    }
                    exchanges.push(Exchange {
                        command: line.clone(),
                        replies: Vec::new(),
                    });
                }
                Event::Pipelined { lines } => {
                    for line in lines {
                        if Some(current_step) == failed_step {
                            failed_command = Some(line.clone());
                        }
                        exchanges.push(Exchange {
                            command: line.clone(),
                            replies: Vec::new(),
                        });
                    }
                }
                Event::Reply { code, lines } => {
                    if let Some(last) = exchanges.last_mut() {
                        last.replies.push((*code, lines.clone()));
                    }
                }
                _ => {}
            }
        }
        Facts {
            outcome,
            lines,
            exchanges,
            failed_command,
            connect,
        }
    }

    fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::Outcome(kind) => outcome_kind(self.outcome) == *kind,
            Condition::FailedReply(pattern) => match self.outcome {
                Outcome::Failed {
                    failure: Failure::Reply { code, text },
                    ..
                } => {
                    (pattern.code.is_empty() || pattern.code.contains(code))
                        && pattern
                            .text
                            .as_deref()
                            .is_none_or(|t| re(t).is_match(&normalize(text)))
                }
                _ => false,
            },
            Condition::FailedCommand(pattern) => self
                .failed_command
                .as_deref()
                .is_some_and(|c| re(pattern).is_match(c)),
            Condition::ReplyTo(want) => {
                let command = re(&want.command);
                let text = want.text.as_deref().map(re);
                let lacks = want.lacks.as_deref().map(re);
                self.exchanges
                    .iter()
                    .filter(|e| command.is_match(&e.command))
                    .flat_map(|e| e.replies.iter())
                    .any(|(code, lines)| {
                        (want.code.is_empty() || want.code.contains(code))
                            && !want.not_code.contains(code)
                            && text
                                .as_ref()
                                .is_none_or(|t| lines.iter().any(|l| t.is_match(&normalize(l))))
                            && lacks
                                .as_ref()
                                .is_none_or(|t| !lines.iter().any(|l| t.is_match(l)))
                    })
            }
            Condition::Sent(pattern) => {
                let pattern = re(pattern);
                self.exchanges.iter().any(|e| pattern.is_match(&e.command))
            }
            Condition::NotSent(pattern) => {
                let pattern = re(pattern);
                !self.exchanges.iter().any(|e| pattern.is_match(&e.command))
            }
            Condition::Line(pattern) => {
                let pattern = re(pattern);
                self.lines.iter().any(|l| pattern.is_match(l))
            }
            Condition::NoLine(pattern) => {
                let pattern = re(pattern);
                !self.lines.iter().any(|l| pattern.is_match(l))
            }
            Condition::Connect(kind) => self.connect == Some(*kind),
        }
    }
}

pub fn outcome_kind(outcome: &Outcome) -> OutcomeKind {
    match outcome {
        Outcome::Completed => OutcomeKind::Completed,
        Outcome::Failed { failure, .. } => match failure {
            Failure::Reply { .. } => OutcomeKind::Reply,
            Failure::Timeout { .. } => OutcomeKind::Timeout,
            Failure::Tls(_) => OutcomeKind::TlsError,
            Failure::Closed(_) => OutcomeKind::Closed,
            Failure::Verify(_) => OutcomeKind::Verify,
            Failure::Io(_) => OutcomeKind::Io,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{Channel, Event};

    fn catalog(yaml: &str) -> Catalog {
        let file: CatalogFile = serde_saphyr::from_str(yaml).unwrap();
        Catalog {
            quirks: file.quirks,
        }
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
          - line: "^== data tls .* full"
  - id: control-closed-after-refusal
    title: t
    standard: RFC 959 section 4.2
    explanation: e
    workaround: w
    rules:
      - when:
          - outcome: reply
          - line: "^== control closed"
"#;

    fn refused(code: u16, text: &str, closed: bool) -> (Transcript, Outcome) {
        let mut t = Transcript::default();
        t.push(Event::Step {
            index: 5,
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
            handshake: crate::transcript::Handshake {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_256_GCM_SHA384".into(),
                kind: crate::transcript::HandshakeKind::Full,
                alpn: None,
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
        let outcome = Outcome::Failed {
            step: 5,
            label: "list".into(),
            failure: Failure::Reply {
                code,
                text: text.into(),
            },
        };
        (t, outcome)
    }

    #[test]
    fn matches_variants_and_combined_conditions() {
        let catalog = catalog(CATALOG);
        let (t, o) = refused(522, "SSL connection failed: session reuse required", true);
        let found: Vec<String> = catalog
            .matches(&t, &o)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            vec![
                "control-closed-after-refusal",
                "session-reuse-required (522)"
            ]
        );
        let (t, o) = refused(
            425,
            "Unable to build data connection: Operation not permitted",
            false,
        );
        let found: Vec<String> = catalog
            .matches(&t, &o)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, vec!["session-reuse-required (425)"]);
        let (t, o) = refused(550, "No such file", false);
        assert!(catalog.matches(&t, &o).is_empty());
        assert!(catalog.matches(&t, &Outcome::Completed).is_empty());
    }
}
