//! Grading one cell: did the scenario's expectation hold, did a known quirk explain the
//! difference (and does the scenario tolerate it there), or is it a failure.

use globset::Glob;
use serde::Serialize;

use crate::client::Failure;
use crate::quirks::{Catalog, QuirkMatch};
use crate::runner::Outcome;
use crate::scenario::{Expect, Scenario};
use crate::transcript::{Event, Transcript, normalize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The scenario's expectation held.
    Pass,
    /// A known, named deviation that the scenario tolerates on this server.
    Quirk,
    /// Anything unexpected.
    Fail,
    /// The harness or infrastructure broke (the server did not start, ...).
    Error,
    /// Not run: backend unavailable, configuration unsupported, or not applicable.
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Quirk => "quirk",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }
}

/// The step and reply that decided the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decisive {
    pub step: usize,
    pub label: String,
    /// The last command of that step.
    pub command: Option<String>,
    /// Its reply code, if the decision was a reply.
    pub code: Option<u16>,
    /// What happened there: the reply text, or the timeout / TLS error / close.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Graded {
    pub verdict: Verdict,
    /// Quirks the transcript shows (tolerated or not).
    pub quirks: Vec<QuirkMatch>,
    pub decisive: Option<Decisive>,
    /// One or two sentences a person can act on.
    pub reason: String,
}

pub fn tolerated(scenario: &Scenario, quirk: &str, column: &str) -> bool {
    scenario.tolerate.iter().any(|t| {
        t.quirk == quirk
            && t.on.iter().any(|pattern| {
                Glob::new(pattern)
                    .map(|g| g.compile_matcher().is_match(column))
                    .unwrap_or(false)
            })
    })
}

pub fn grade(
    scenario: &Scenario,
    column: &str,
    outcome: &Outcome,
    transcript: &Transcript,
    catalog: &Catalog,
) -> Graded {
    let mut graded = grade_raw(scenario, column, outcome, transcript, catalog);
    graded.reason = normalize(&graded.reason);
    graded
}

fn grade_raw(
    scenario: &Scenario,
    column: &str,
    outcome: &Outcome,
    transcript: &Transcript,
    catalog: &Catalog,
) -> Graded {
    let quirks = catalog.matches(transcript, outcome);
    let decisive = decisive(outcome, transcript);
    if outcome.matches(&scenario.expect) {
        return Graded {
            verdict: Verdict::Pass,
            quirks,
            decisive,
            reason: format!("{} as expected", describe_expect(&scenario.expect)),
        };
    }
    let untolerated: Vec<&QuirkMatch> = quirks
        .iter()
        .filter(|q| !tolerated(scenario, &q.id, column))
        .collect();
    if !quirks.is_empty() && untolerated.is_empty() {
        let names: Vec<String> = quirks.iter().map(ToString::to_string).collect();
        return Graded {
            verdict: Verdict::Quirk,
            reason: format!(
                "expected {}, got {outcome}: known quirk {}, tolerated here",
                describe_expect(&scenario.expect),
                names.join(", ")
            ),
            quirks,
            decisive,
        };
    }
    let mut reason = format!(
        "expected {}, got {outcome}",
        describe_expect(&scenario.expect)
    );
    if untolerated.is_empty() {
        reason.push_str(". No quirk in servers/quirks.yaml explains it");
    } else {
        let names: Vec<String> = untolerated.iter().map(|q| q.to_string()).collect();
        let entries: Vec<String> = untolerated
            .iter()
            .map(|q| format!("{{quirk: {}, on: [\"{column}\"]}}", q.id))
            .collect();
        reason.push_str(&format!(
            ". It matches quirk {}, which scenario {} does not tolerate on {column}; if this is \
             the server's known behaviour, add to scenarios/{}.yaml: tolerate: [{}]",
            names.join(", "),
            scenario.id,
            scenario.id,
            entries.join(", ")
        ));
    }
    Graded {
        verdict: Verdict::Fail,
        quirks,
        decisive,
        reason,
    }
}

fn describe_expect(expect: &Expect) -> String {
    match expect {
        Expect::Completed => "every step to complete".into(),
        Expect::Reply { code, step, .. } => match step {
            Some(step) => format!("reply {code} at step {step}"),
            None => format!("reply {code}"),
        },
        Expect::Timeout { .. } => "a timeout".into(),
        Expect::TlsError { .. } => "a TLS error".into(),
        Expect::Closed { .. } => "the connection to close".into(),
    }
}

fn decisive(outcome: &Outcome, transcript: &Transcript) -> Option<Decisive> {
    // The last command and reply of the deciding step (the last step when all completed).
    let step = match outcome {
        Outcome::Failed { step, .. } => Some(*step),
        Outcome::Completed => None,
    };
    let mut current = None;
    let mut label = String::new();
    let mut command = None;
    let mut reply = None;
    for event in &transcript.events {
        match event {
            Event::Step { index, name } => {
                if step.is_some_and(|s| *index > s) {
                    break;
                }
                current = Some(*index);
                label = name.clone();
                command = None;
                reply = None;
            }
            Event::Epilogue { .. } => break,
            Event::Command { line } if current.is_some() => command = Some(line.clone()),
            Event::Pipelined { lines } if current.is_some() => command = lines.last().cloned(),
            Event::Reply { code, lines } if current.is_some() => {
                reply = Some((*code, lines.last().cloned().unwrap_or_default()));
            }
            _ => {}
        }
    }
    let index = current?;
    let (code, detail) = match outcome {
        Outcome::Failed {
            failure: Failure::Reply { code, text },
            ..
        } => (Some(*code), format!("{code} {text}")),
        Outcome::Failed { failure, .. } => (None, failure.to_string()),
        Outcome::Completed => match reply {
            Some((code, line)) => (Some(code), line),
            None => (None, "completed".into()),
        },
    };
    Some(Decisive {
        step: index,
        label,
        command: command.map(|c| normalize(&c)),
        code,
        // Replies can carry timings and ports (pure-ftpd's 226).
        detail: normalize(&detail),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::transcript::{Channel, Handshake, HandshakeKind};

    fn catalog() -> Catalog {
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/quirks.yaml"))
            .expect("the catalog loads")
    }

    fn scenario(tolerated_quirk: &str) -> Scenario {
        let text = format!(
            "id: s\nabout: a\nreference: r\nsteps:\n  - login\n  - list\n\
             tolerate:\n  - quirk: {tolerated_quirk}\n    on: [\"vsftpd/*-strict\"]\n"
        );
        crate::scenario::parse(Path::new("s.yaml"), &text).expect("scenario parses")
    }

    /// vsftpd refusing a data connection that did not resume the control session.
    fn refused_run() -> (Outcome, Transcript) {
        let mut t = Transcript::default();
        t.push(Event::Step {
            index: 2,
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
            },
        });
        let text = "SSL connection failed: session reuse required";
        t.push(Event::Reply {
            code: 522,
            lines: vec![format!("522 {text}")],
        });
        let outcome = Outcome::Failed {
            step: 2,
            label: "list".into(),
            failure: Failure::Reply {
                code: 522,
                text: text.into(),
            },
        };
        (outcome, t)
    }

    #[test]
    fn a_tolerated_quirk_grades_quirk_with_the_decisive_reply() {
        let (outcome, transcript) = refused_run();
        let graded = grade(
            &scenario("session-reuse-required"),
            "vsftpd/explicit-strict",
            &outcome,
            &transcript,
            &catalog(),
        );
        assert_eq!(graded.verdict, Verdict::Quirk, "{}", graded.reason);
        let decisive = graded.decisive.expect("a decisive step");
        assert_eq!((decisive.step, decisive.code), (2, Some(522)));
        assert_eq!(decisive.command.as_deref(), Some("LIST"));
    }

    #[test]
    fn changing_the_tolerated_quirk_fails_with_an_actionable_message() {
        let (outcome, transcript) = refused_run();
        let graded = grade(
            &scenario("prot-p-required"),
            "vsftpd/explicit-strict",
            &outcome,
            &transcript,
            &catalog(),
        );
        assert_eq!(graded.verdict, Verdict::Fail);
        assert!(
            graded.reason.contains(
                "got reply 522 SSL connection failed: session reuse required at step 2 (list)"
            ),
            "{}",
            graded.reason
        );
        assert!(
            graded.reason.contains(
                "add to scenarios/s.yaml: tolerate: [{quirk: session-reuse-required, on: [\"vsftpd/explicit-strict\"]}]"
            ),
            "{}",
            graded.reason
        );
    }

    #[test]
    fn a_quirk_tolerated_elsewhere_is_a_failure_here() {
        let (outcome, transcript) = refused_run();
        let graded = grade(
            &scenario("session-reuse-required"),
            "proftpd/explicit-lax",
            &outcome,
            &transcript,
            &catalog(),
        );
        assert_eq!(graded.verdict, Verdict::Fail);
    }
}
