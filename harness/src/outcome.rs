//! A cell's answer, from the client's point of view: did this client behaviour work with
//! this server, and if not, how exactly did it fail? The class comes from the run alone;
//! the scenario's `expect:` only adds a deviation mark, and the quirk catalog names what
//! explains it.

use serde::{Deserialize, Serialize};

use crate::client::FailureKind;
use crate::quirks::{Catalog, QuirkMatch};
use crate::runner::{Outcome, RunResult};
use crate::scenario::{Expect, Scenario};
use crate::transcript::{Event, normalize};

/// What happened to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeClass {
    /// Every step did what the client intended, and every transfer was verified.
    Works,
    /// A reply refused a step.
    Refused,
    /// The client waited until its timeout.
    Hangs,
    /// A TLS error, a connection closed under the client, or data corrupted.
    Breaks,
    /// The harness or infrastructure broke.
    Error,
    /// The cell could not run here.
    Skipped,
}

impl OutcomeClass {
    pub const ALL: [OutcomeClass; 6] = [
        OutcomeClass::Works,
        OutcomeClass::Refused,
        OutcomeClass::Hangs,
        OutcomeClass::Breaks,
        OutcomeClass::Error,
        OutcomeClass::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Works => "works",
            OutcomeClass::Refused => "refused",
            OutcomeClass::Hangs => "hangs",
            OutcomeClass::Breaks => "breaks",
            OutcomeClass::Error => "error",
            OutcomeClass::Skipped => "skipped",
        }
    }

    /// What the class means, for legends.
    pub fn meaning(self) -> &'static str {
        match self {
            OutcomeClass::Works => {
                "every step did what the client intended, and every transfer was verified"
            }
            OutcomeClass::Refused => "the server refused a step with a reply",
            OutcomeClass::Hangs => "the client waited until its timeout",
            OutcomeClass::Breaks => {
                "a TLS error, a connection closed under the client, or data corrupted"
            }
            OutcomeClass::Error => "the harness or its infrastructure broke",
            OutcomeClass::Skipped => "the cell cannot run here (the reason is shown)",
        }
    }

    /// Whether the cell ran (its class says something about the server).
    pub fn ran(self) -> bool {
        !matches!(self, OutcomeClass::Error | OutcomeClass::Skipped)
    }
}

impl std::fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OutcomeClass {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OutcomeClass::ALL
            .into_iter()
            .find(|class| class.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = OutcomeClass::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown outcome {text:?}, expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The step and reply that decided the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisive {
    pub step: usize,
    pub label: String,
    /// The last command of that step.
    pub command: Option<String>,
    /// Its reply code, if a reply decided it.
    pub code: Option<u16>,
    /// What happened there: the reply, or the timeout / TLS error / close / corruption.
    pub detail: String,
}

/// A cell's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub class: OutcomeClass,
    /// One line that starts with the class: `refused at step 5 (list): LIST -> 522 ...`.
    pub summary: String,
    /// The kind of failure that decided the class (`corrupted` when the server stored
    /// other bytes, whatever the step's own failure).
    pub failure: Option<FailureKind>,
    pub decisive: Option<Decisive>,
    /// Catalog quirks the run shows (on `works` cells too).
    pub quirks: Vec<QuirkMatch>,
    /// Not `works`, not what the scenario expects, and no quirk explains it: a gap in the
    /// catalog.
    pub unexplained: bool,
    /// What the scenario's `expect:` says a conforming server does, when the run differs.
    pub deviation: Option<String>,
}

impl Answer {
    /// A cell that did not run: `error` or `skipped`, with the reason.
    pub fn not_run(class: OutcomeClass, reason: impl Into<String>) -> Answer {
        let reason = reason.into();
        Answer {
            class,
            summary: format!("{class}: {reason}"),
            failure: None,
            decisive: None,
            quirks: Vec::new(),
            unexplained: false,
            deviation: None,
        }
    }

    /// The quirk ids, with variants, comma-separated (`-` when none).
    pub fn quirk_list(&self) -> String {
        if self.quirks.is_empty() {
            return "-".into();
        }
        let names: Vec<String> = self.quirks.iter().map(ToString::to_string).collect();
        names.join(", ")
    }

    /// The reply code that decided a failed outcome (`refused 522`); none for `works`.
    pub fn code(&self) -> Option<u16> {
        deciding_code(self.class, self.decisive.as_ref().and_then(|d| d.code))
    }
}

/// A decisive code names a failure: a working cell's last 226 is not part of its answer.
pub fn deciding_code(class: OutcomeClass, code: Option<u16>) -> Option<u16> {
    code.filter(|_| class.ran() && class != OutcomeClass::Works)
}

/// The class of a run: corruption outranks everything, then the failure's kind.
pub fn classify(run: &RunResult) -> OutcomeClass {
    if run.corrupted().is_some() {
        return OutcomeClass::Breaks;
    }
    match &run.outcome {
        Outcome::Completed => OutcomeClass::Works,
        Outcome::Failed { failure, .. } => match failure.kind() {
            FailureKind::Reply => OutcomeClass::Refused,
            FailureKind::Timeout => OutcomeClass::Hangs,
            FailureKind::Tls
            | FailureKind::Closed
            | FailureKind::Corrupted
            | FailureKind::PeerMisbehaved
            | FailureKind::Local => OutcomeClass::Breaks,
        },
    }
}

/// Answers the cell: class, decisive step, quirks, and the marks.
pub fn answer(scenario: &Scenario, run: &RunResult, catalog: &Catalog) -> Answer {
    let class = classify(run);
    let quirks = catalog.matches(run, class);
    let decisive = decisive(run);
    // The failure that decides the class: stored corruption outranks the step's failure.
    let failure = match (&run.outcome, run.corrupted()) {
        (_, Some(_)) => Some(FailureKind::Corrupted),
        (Outcome::Failed { failure, .. }, None) => Some(failure.kind()),
        (Outcome::Completed, None) => None,
    };
    let summary = match (&decisive, class) {
        (_, OutcomeClass::Works) => "works".to_string(),
        (Some(d), _) => {
            let command = d
                .command
                .as_deref()
                .map(|c| format!("{c} -> "))
                .unwrap_or_default();
            format!(
                "{class} at step {} ({}): {command}{}",
                d.step, d.label, d.detail
            )
        }
        (None, _) => class.to_string(),
    };
    let deviates = run.corrupted().is_some() || !run.outcome.matches(&scenario.expect);
    Answer {
        class,
        summary: normalize(&summary),
        failure,
        decisive,
        // An outcome the scenario expects is explained by the standard it cites.
        unexplained: class != OutcomeClass::Works && quirks.is_empty() && deviates,
        quirks,
        deviation: deviates.then(|| describe_expect(&scenario.expect)),
    }
}

/// The scenario's expectation in words (`expected every step to complete`).
pub fn describe_expect(expect: &Expect) -> String {
    let at = |step: &Option<usize>| step.map(|s| format!(" at step {s}")).unwrap_or_default();
    match expect {
        Expect::Completed => "expected every step to complete".into(),
        Expect::Reply { code, step, .. } => format!("expected reply {code}{}", at(step)),
        Expect::Timeout { step } => format!("expected a timeout{}", at(step)),
        Expect::Tls { step } => format!("expected a TLS error{}", at(step)),
        Expect::Closed { step } => format!("expected the connection to close{}", at(step)),
    }
}

/// The step that decided the outcome, its last command, and what happened there.
fn decisive(run: &RunResult) -> Option<Decisive> {
    let corrupted = run.corrupted();
    let failed_step = match &run.outcome {
        Outcome::Failed { step, .. } => Some(*step),
        Outcome::Completed => None,
    };
    // Corruption outranks the failure: the step that uploaded the file decides.
    let step = match corrupted {
        Some((path, _)) => upload_step(run, path).or(failed_step),
        None => failed_step,
    };
    let mut current = None;
    let mut label = String::new();
    let mut command = None;
    let mut reply = None;
    for event in &run.transcript.events {
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
    let (code, detail) = match (corrupted, &run.outcome) {
        (Some((path, check)), _) => (
            None,
            format!("data corrupted: {path}: {}", check.describe()),
        ),
        (None, Outcome::Failed { failure, .. }) => match failure {
            crate::client::Failure::Reply { code, text } => (Some(*code), format!("{code} {text}")),
            other => (None, other.to_string()),
        },
        (None, Outcome::Completed) => match reply {
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

/// The step whose last STOR/APPE wrote `path`.
fn upload_step(run: &RunResult, path: &str) -> Option<usize> {
    let mut step = None;
    let mut found = None;
    for event in &run.transcript.events {
        match event {
            Event::Step { index, .. } => step = Some(*index),
            Event::Epilogue { .. } => step = None,
            Event::Command { line } => {
                let mut words = line.splitn(2, ' ');
                let verb = words.next().unwrap_or_default().to_ascii_uppercase();
                if matches!(verb.as_str(), "STOR" | "APPE") && words.next() == Some(path) {
                    found = step.or(found);
                }
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::client::Failure;
    use crate::runner::fixtures::refused_listing;
    use crate::runner::stored::StoredCheck;

    fn catalog() -> Catalog {
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/quirks.yaml"))
            .expect("the catalog loads")
    }

    fn scenario(expect: &str) -> Scenario {
        let text = format!(
            "id: s\nabout: a\nreference: r\nsteps:\n  - login\n  - list\nexpect: {expect}\n"
        );
        crate::scenario::parse(Path::new("s.yaml"), &text).expect("scenario parses")
    }

    /// vsftpd refusing a data connection that did not resume the control session.
    fn refused_run() -> RunResult {
        refused_listing(
            2,
            522,
            "SSL connection failed: session reuse required",
            false,
        )
    }

    #[test]
    fn a_refusal_is_refused_with_its_step_reply_and_quirk() {
        let answer = answer(&scenario("completed"), &refused_run(), &catalog());
        assert_eq!(answer.class, OutcomeClass::Refused);
        assert_eq!(
            answer.summary,
            "refused at step 2 (list): LIST -> 522 SSL connection failed: session reuse required"
        );
        assert_eq!(answer.quirk_list(), "session-reuse-required (522)");
        assert!(!answer.unexplained);
        assert_eq!(
            answer.deviation.as_deref(),
            Some("expected every step to complete")
        );
    }

    #[test]
    fn an_expected_refusal_is_no_deviation_but_still_refused() {
        let answer = answer(
            &scenario("{reply: {code: 522, step: 2}}"),
            &refused_run(),
            &catalog(),
        );
        assert_eq!(answer.class, OutcomeClass::Refused);
        assert_eq!(answer.deviation, None);
    }

    #[test]
    fn corruption_outranks_a_refusal_and_names_the_stored_bytes() {
        let mut run = refused_run();
        run.stored.push((
            "upload.bin".into(),
            StoredCheck::Differs {
                bytes: 517,
                expected: 65536,
                head: vec![0x16, 0x03, 0x01],
            },
        ));
        let answer = answer(&scenario("completed"), &run, &catalog());
        assert_eq!(answer.class, OutcomeClass::Breaks);
        assert_eq!(answer.failure, Some(FailureKind::Corrupted));
        assert!(
            answer.summary.contains(
                "data corrupted: upload.bin: 517 bytes that differ from the 65536-byte upload"
            ),
            "{}",
            answer.summary
        );
    }

    #[test]
    fn a_failure_no_quirk_explains_is_unexplained() {
        let mut run = refused_run();
        run.outcome = Outcome::Failed {
            step: 2,
            label: "list".into(),
            failure: Failure::Reply {
                code: 451,
                text: "Local error in processing.".into(),
            },
        };
        let unexpected = answer(&scenario("completed"), &run, &catalog());
        assert_eq!(unexpected.class, OutcomeClass::Refused);
        assert!(unexpected.unexplained, "{:?}", unexpected.quirks);
        // The same refusal where the scenario expects it: the standard explains it.
        let expected = answer(&scenario("{reply: {code: 451}}"), &run, &catalog());
        assert_eq!(expected.class, OutcomeClass::Refused);
        assert!(!expected.unexplained && expected.deviation.is_none());
    }

    #[test]
    fn classes_round_trip_through_their_names() {
        for class in OutcomeClass::ALL {
            assert_eq!(class.as_str().parse::<OutcomeClass>(), Ok(class));
        }
        assert!("pass".parse::<OutcomeClass>().is_err());
    }
}
