//! The reports of a matrix run: results.json against its documented schema, junit.xml
//! parsed (failing only on the run's checks), matrix.md read back (clients first, outcomes,
//! marks, headlines, merged backends, catalog gaps), and the HTML opened in headless
//! Chromium (every link resolves, a detail page shows its outcome card first and its
//! transcript, a screenshot renders).
//!
//! Chromium is Debian's `chromium` (or `$CHROMIUM`). Without it the browser test fails when
//! `CI` is set and prints why it skipped otherwise. `REPORT_TEST_OUT=DIR` keeps the reports
//! and the screenshot of the browser test in DIR.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ftps_compat::baseline::{self, Checks};
use ftps_compat::client::{Failure, FailureKind};
use ftps_compat::matrix::{
    CellResult, ColumnInfo, HostInfo, Incomplete, MatrixResults, RESULTS_FORMAT, ScenarioInfo,
};
use ftps_compat::outcome::{Answer, Decisive, OutcomeClass};
use ftps_compat::quirks::{Condition, Quirk, QuirkMatch, ReplyPattern, Rule};
use ftps_compat::report::{ReportFiles, cell_page, write_reports};
use ftps_compat::runner::Outcome;
use ftps_compat::scenario::RowKind;
use ftps_compat::servers::backend::BackendKind;
use ftps_compat::servers::manifest::Mode;
use ftps_compat::transcript::{
    Channel, Direction, Event, Handshake, HandshakeKind, Line, LineKind, Transcript,
};
use serde_json::Value;

const FZ: &str = "filezilla-like/fz-0.9.33";
const PROFTPD: &str = "proftpd/explicit-strict";
const PURE: &str = "pure-ftpd/implicit";
const VSFTPD: &str = "vsftpd/explicit-strict";
const SKIP_PURE: &str = "unsupported: Debian's pure-ftpd is built without implicit TLS";
const EXPECTED_COMPLETE: &str = "expected every step to complete";
const CLIENTS_TITLE: &str = "Which clients work with which servers";
const BEHAVIOURS_TITLE: &str = "Which client behaviours work with which servers";

// ---------------------------------------------------------------- the results

fn column(
    id: &str,
    backend: BackendKind,
    version: Option<&str>,
    unavailable: Option<&str>,
) -> ColumnInfo {
    let (server, profile) = id.split_once('/').unwrap();
    ColumnInfo {
        id: id.into(),
        server: server.into(),
        profile: profile.into(),
        backend,
        mode: (backend != BackendKind::Embedded).then_some(if profile.starts_with("implicit") {
            Mode::Implicit
        } else {
            Mode::Explicit
        }),
        version: version.map(Into::into),
        about: format!("{profile} configuration of {server}"),
        unavailable: unavailable.map(Into::into),
    }
}

/// A row; the fixture's client profiles are the ids that start with `client-`.
fn scenario(id: &str, about: &str, reference: &str) -> ScenarioInfo {
    ScenarioInfo {
        id: id.into(),
        row: if id.starts_with("client-") {
            RowKind::Client
        } else {
            RowKind::Behaviour
        },
        about: about.into(),
        reference: reference.into(),
    }
}

// Transcripts are built from events, so their lines carry the kinds the runner gives them.

fn step(index: usize, name: &str) -> Event {
    Event::Step {
        index,
        name: name.into(),
    }
}

fn command(line: &str) -> Event {
    Event::Command { line: line.into() }
}

fn reply(code: u16, text: &str) -> Event {
    Event::Reply {
        code,
        lines: vec![format!("{code} {text}")],
    }
}

fn connected(channel: Channel) -> Event {
    Event::Connected {
        channel,
        peer: "127.0.0.1:40123".into(),
        how: "connect",
        client_tls: None,
    }
}

fn tls(channel: Channel, kind: HandshakeKind) -> Event {
    Event::Tls {
        channel,
        handshake: Handshake {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            kind,
            alpn: None,
            peer_certificate: None,
        },
    }
}

fn lines(events: Vec<Event>) -> Vec<Line> {
    let mut transcript = Transcript::default();
    transcript.extend(events);
    transcript.normalized_lines()
}

/// Connect, AUTH TLS and log in: steps 0 and 1.
fn login_events(banner: &str) -> Vec<Event> {
    vec![
        step(0, "connect + AUTH TLS"),
        connected(Channel::Control),
        reply(220, banner),
        command("AUTH TLS"),
        reply(234, "Proceed with negotiation."),
        tls(Channel::Control, HandshakeKind::Full),
        step(1, "login"),
        command("USER ftpuser"),
        reply(331, "Please specify the password."),
        command("PASS hunter2"),
        reply(230, "Login successful."),
    ]
}

fn happy_transcript() -> Vec<Line> {
    let mut events = login_events("(vsFTPd 3.0.3)");
    events.extend([
        step(2, "stor upload.bin"),
        command("PASV"),
        reply(227, "Entering Passive Mode (127,0,0,1,156,64)."),
        connected(Channel::Data),
        tls(Channel::Data, HandshakeKind::Resumed),
        command("STOR upload.bin"),
        reply(150, "Ok to send data."),
        Event::Transferred {
            direction: Direction::Upload,
            bytes: 1_048_576,
            tls: true,
            close_notify: true,
        },
        reply(226, "Transfer complete."),
        Event::Epilogue {
            name: "quit".into(),
        },
        command("QUIT"),
        reply(221, "Goodbye."),
    ]);
    lines(events)
}

/// The data connection's TLS session is not resumed and the server refuses it at step 2.
fn reuse_transcript(code: u16, text: &str) -> Vec<Line> {
    let mut events = login_events("ready & waiting");
    events.extend([
        step(2, "list"),
        command("PASV"),
        reply(227, "Entering Passive Mode (127,0,0,1,156,64)."),
        connected(Channel::Data),
        tls(Channel::Data, HandshakeKind::Full),
        command("LIST"),
        reply(150, "Here comes the directory listing."),
        reply(code, text),
    ]);
    lines(events)
}

fn decisive(step: usize, label: &str, command: &str, code: Option<u16>, detail: &str) -> Decisive {
    Decisive {
        step,
        label: label.into(),
        command: Some(command.into()),
        code,
        detail: detail.into(),
    }
}

fn quirk_match(id: &str, variant: &str) -> QuirkMatch {
    QuirkMatch {
        id: id.into(),
        variant: Some(variant.into()),
    }
}

/// A cell that did not run (`error`, `skipped`).
fn not_run(
    column: &str,
    backend: BackendKind,
    scenario: &str,
    class: OutcomeClass,
    reason: &str,
) -> CellResult {
    CellResult {
        column: column.into(),
        backend,
        scenario: scenario.into(),
        outcome: Answer::not_run(class, reason),
        run: None,
        duration_ms: 0,
        transcript: Vec::new(),
        log_excerpt: String::new(),
    }
}

fn works(column: &str, backend: BackendKind, scenario: &str) -> CellResult {
    CellResult {
        outcome: Answer {
            class: OutcomeClass::Works,
            summary: "works".into(),
            failure: None,
            decisive: None,
            quirks: Vec::new(),
            unexplained: false,
            deviation: None,
        },
        run: Some(Outcome::Completed),
        duration_ms: 412,
        transcript: happy_transcript(),
        log_excerpt:
            "Mon Jan  1 <time> [pid <pid>] [ftpuser] OK UPLOAD: \"/upload.bin\", 1048576 bytes\n"
                .into(),
        ..not_run(column, backend, scenario, OutcomeClass::Works, "")
    }
}

/// A reply refused step 2 (`list`), as `quirk` (with variant `code`) explains.
fn refused(
    column: &str,
    backend: BackendKind,
    scenario: &str,
    code: u16,
    text: &str,
    quirk: &str,
) -> CellResult {
    let detail = format!("{code} {text}");
    CellResult {
        outcome: Answer {
            class: OutcomeClass::Refused,
            summary: format!("refused at step 2 (list): LIST -> {detail}"),
            failure: Some(FailureKind::Reply),
            decisive: Some(decisive(2, "list", "LIST", Some(code), &detail)),
            quirks: vec![quirk_match(quirk, &code.to_string())],
            unexplained: false,
            deviation: Some(EXPECTED_COMPLETE.into()),
        },
        run: Some(Outcome::Failed {
            step: 2,
            label: "list".into(),
            failure: Failure::Reply {
                code,
                text: text.into(),
            },
        }),
        duration_ms: 130,
        transcript: reuse_transcript(code, text),
        ..not_run(column, backend, scenario, OutcomeClass::Refused, "")
    }
}

/// The 2009 hang: an upload nobody finishes, which no catalog quirk explains.
fn hangs(column: &str, backend: BackendKind, scenario: &str) -> CellResult {
    let mut events = login_events("FileZilla Server version 0.9.33 beta");
    events.extend([
        step(2, "stor upload.bin"),
        command("STOR upload.bin"),
        reply(150, "Connection accepted"),
        Event::Timeout {
            waiting_for: "the 226 reply".into(),
            after_ms: 10_000,
        },
    ]);
    CellResult {
        outcome: Answer {
            class: OutcomeClass::Hangs,
            summary: "hangs at step 2 (stor upload.bin): STOR upload.bin -> timeout waiting for the 226 reply".into(),
            failure: Some(FailureKind::Timeout),
            decisive: Some(decisive(
                2,
                "stor upload.bin",
                "STOR upload.bin",
                None,
                "timeout waiting for the 226 reply",
            )),
            quirks: Vec::new(),
            unexplained: true,
            deviation: Some("expected reply 550 at step 2".into()),
        },
        run: Some(Outcome::Failed {
            step: 2,
            label: "stor upload.bin".into(),
            failure: Failure::Timeout {
                channel: Channel::Control,
                waiting_for: "the 226 reply".into(),
            },
        }),
        duration_ms: 10_021,
        transcript: lines(events),
        ..not_run(column, backend, scenario, OutcomeClass::Hangs, "")
    }
}

/// A data-channel TLS failure no catalog quirk explains.
fn breaks(column: &str, backend: BackendKind, scenario: &str) -> CellResult {
    let message = "received fatal alert: HandshakeFailure";
    let mut events = login_events("ProFTPD Server (Debian)");
    events.extend([
        step(2, "list"),
        command("LIST"),
        Event::TlsError {
            channel: Channel::Data,
            message: message.into(),
        },
    ]);
    CellResult {
        outcome: Answer {
            class: OutcomeClass::Breaks,
            summary: format!("breaks at step 2 (list): LIST -> data TLS error: {message}"),
            failure: Some(FailureKind::Tls),
            decisive: Some(decisive(
                2,
                "list",
                "LIST",
                None,
                &format!("data TLS error: {message}"),
            )),
            quirks: Vec::new(),
            unexplained: true,
            deviation: Some(EXPECTED_COMPLETE.into()),
        },
        run: Some(Outcome::Failed {
            step: 2,
            label: "list".into(),
            failure: Failure::Tls {
                channel: Channel::Data,
                message: message.into(),
            },
        }),
        duration_ms: 95,
        transcript: lines(events),
        ..not_run(column, backend, scenario, OutcomeClass::Breaks, "")
    }
}

fn catalog() -> Vec<Quirk> {
    vec![
        Quirk {
            id: "prot-p-required".into(),
            title: "Data connections refused without PROT P".into(),
            standard: "RFC 4217 section 9".into(),
            explanation: "The server refuses a data transfer on a <clear> data channel & says so with a 5xx reply.".into(),
            workaround: "Send PBSZ 0 and PROT P after login.".into(),
            security: false,
            seen_in: vec!["vsftpd-3.0.3/postlogin.c:1234".into()],
            rules: vec![Rule {
                variant: Some("521".into()),
                when: vec![
                    Condition::Outcome(OutcomeClass::Refused),
                    Condition::FailedReply(ReplyPattern {
                        code: vec![521],
                        text: Some("PROT P".into()),
                    }),
                ],
            }],
        },
        Quirk {
            id: "session-reuse-required".into(),
            title: "Data TLS must resume the control session".into(),
            standard: "RFC 4217 section 10.2".into(),
            explanation: "The server rejects a data connection whose TLS session is not the control connection's.".into(),
            workaround: "Resume the control connection's TLS session on every data connection.".into(),
            security: false,
            seen_in: vec![],
            rules: vec![Rule {
                variant: Some("522".into()),
                when: vec![
                    Condition::Failure(FailureKind::Reply),
                    Condition::FailedChannel(Channel::Data),
                    Condition::FailedReply(ReplyPattern {
                        code: vec![522],
                        text: None,
                    }),
                ],
            }],
        },
        Quirk {
            id: "ccc-unsupported".into(),
            title: "CCC is not implemented".into(),
            standard: "RFC 4217 section 6".into(),
            explanation: "Not seen in this run; listed to show the catalog is complete.".into(),
            workaround: "Keep the control channel protected.".into(),
            security: false,
            seen_in: vec![],
            rules: vec![Rule {
                variant: None,
                when: vec![Condition::Sent("^CCC".into())],
            }],
        },
    ]
}

const CLIENT_CURL: &str = "client-curl";
const CLIENT_FTPLIB: &str = "client-python-ftplib";

/// Seven columns, five rows (the two client profiles last, as a run lists them):
/// - proftpd answers one scenario differently on its two backends: two columns, a finding;
/// - vsftpd answers alike on both (the container skips one scenario): one column;
/// - pure-ftpd/implicit cannot run on either backend: one skipped column;
/// - every outcome class, both marks, and two catalog gaps.
fn results() -> MatrixResults {
    use BackendKind::{Container, Embedded, Native};
    use OutcomeClass::{Error, Skipped};
    let columns = vec![
        column(FZ, Embedded, Some("emulates FileZilla Server 0.9.33"), None),
        column(PROFTPD, Native, Some("1.3.8"), None),
        column(PROFTPD, Container, Some("1.3.8"), None),
        column(PURE, Native, Some("1.0.50"), Some(SKIP_PURE)),
        column(PURE, Container, Some("1.0.50"), Some(SKIP_PURE)),
        column(VSFTPD, Native, Some("3.0.3"), None),
        column(VSFTPD, Container, Some("3.0.3"), None),
    ];
    let scenarios = vec![
        scenario(
            "happy-path",
            "A well-behaved FTPS client: AUTH TLS, PBSZ 0 + PROT P, a 1 MiB upload.",
            "RFC 4217 sections 4-9",
        ),
        scenario(
            "no-session-reuse",
            "A client that never resumes TLS sessions on data connections (python ftplib <3.x & co).",
            "RFC 4217 section 10.2",
        ),
        scenario(
            "no-prot",
            "An implicit-FTPS client that never sends PROT (2009 report against FileZilla Server 0.9.33).",
            "RFC 4217 section 9",
        ),
        scenario(
            CLIENT_CURL,
            "curl with --ssl-reqd and its defaults.",
            "curl lib/ftp.c",
        ),
        scenario(
            CLIENT_FTPLIB,
            "Python's ftplib.FTP_TLS with prot_p().",
            "CPython issue 63699",
        ),
    ];
    let fz_reuse = |scenario| {
        refused(
            FZ,
            Embedded,
            scenario,
            425,
            "Can't open data connection.",
            "session-reuse-required",
        )
    };
    let proftpd_reuse = |backend, scenario| {
        refused(
            PROFTPD,
            backend,
            scenario,
            425,
            "Unable to build data connection: Operation not permitted",
            "session-reuse-required",
        )
    };
    let vsftpd_reuse = |backend, scenario| CellResult {
        log_excerpt: "DEBUG: \"SSL session reuse <required> & refused\"\n".into(),
        ..refused(
            VSFTPD,
            backend,
            scenario,
            522,
            "SSL connection failed: session reuse required",
            "session-reuse-required",
        )
    };
    let vsftpd_no_prot = |backend| {
        refused(
            VSFTPD,
            backend,
            "no-prot",
            521,
            "Data connections must be encrypted (PROT P).",
            "prot-p-required",
        )
    };
    let mut cells = vec![
        works(FZ, Embedded, "happy-path"),
        fz_reuse("no-session-reuse"),
        hangs(FZ, Embedded, "no-prot"),
        not_run(
            FZ,
            Embedded,
            CLIENT_CURL,
            Error,
            "the cell did not finish within 30s",
        ),
        fz_reuse(CLIENT_FTPLIB),
    ];
    for backend in [Native, Container] {
        cells.push(works(PROFTPD, backend, "happy-path"));
        cells.push(proftpd_reuse(backend, "no-session-reuse"));
        cells.push(match backend {
            Native => refused(
                PROFTPD,
                backend,
                "no-prot",
                521,
                "PROT P required",
                "prot-p-required",
            ),
            _ => breaks(PROFTPD, backend, "no-prot"),
        });
        cells.push(works(PROFTPD, backend, CLIENT_CURL));
        cells.push(proftpd_reuse(backend, CLIENT_FTPLIB));
    }
    for backend in [Native, Container] {
        for s in &scenarios {
            cells.push(not_run(PURE, backend, &s.id, Skipped, SKIP_PURE));
        }
    }
    for backend in [Native, Container] {
        cells.push(works(VSFTPD, backend, "happy-path"));
        cells.push(match backend {
            Native => vsftpd_reuse(backend, "no-session-reuse"),
            _ => not_run(
                VSFTPD,
                backend,
                "no-session-reuse",
                Skipped,
                "not applicable: the container backend has no session-reuse knob",
            ),
        });
        cells.push(vsftpd_no_prot(backend));
        cells.push(works(VSFTPD, backend, CLIENT_CURL));
        cells.push(vsftpd_reuse(backend, CLIENT_FTPLIB));
    }
    MatrixResults {
        format: RESULTS_FORMAT,
        harness_version: "0.1.0".into(),
        started_at: "2026-01-02T03:04:05Z".into(),
        duration_ms: 12_345,
        host: HostInfo {
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            cores: 2,
            jobs: 2,
        },
        columns,
        scenarios,
        cells,
        quirks: catalog(),
        incomplete: None,
    }
}

/// No baseline, no `--require`: nothing can fail a check.
fn no_checks(results: &MatrixResults) -> Checks {
    Checks::new(results, None, Vec::new())
}

/// Writes the reports into a fresh temp dir (or `$REPORT_TEST_OUT/<name>`, kept).
fn written(name: &str) -> (Workdir, ReportFiles, MatrixResults) {
    let results = results();
    let dir = Workdir::new(name);
    let files = write_reports(&results, &no_checks(&results), dir.path()).expect("reports written");
    (dir, files, results)
}

enum Workdir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl Workdir {
    fn new(name: &str) -> Self {
        match std::env::var_os("REPORT_TEST_OUT") {
            Some(root) => {
                let dir = PathBuf::from(root).join(name);
                fs::create_dir_all(&dir).unwrap();
                Workdir::Kept(dir)
            }
            None => Workdir::Temp(tempfile::tempdir().unwrap()),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Workdir::Temp(t) => t.path(),
            Workdir::Kept(p) => p,
        }
    }
}

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results-schema.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The index of the cell in `results.cells`, for breaking a copy of results.json.
fn cell_index(
    results: &MatrixResults,
    column: &str,
    backend: BackendKind,
    scenario: &str,
) -> usize {
    results
        .cells
        .iter()
        .position(|c| c.column == column && c.backend == backend && c.scenario == scenario)
        .unwrap()
}

// ---------------------------------------------------------------- results.json

#[test]
fn results_json_validates_against_the_documented_schema() {
    let schema = schema();
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");

    let (_dir, files, results) = written("json");
    let json: Value =
        serde_json::from_str(&fs::read_to_string(&files.results_json).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::to_value(&results).unwrap(),
        "results.json is the results"
    );
    assert_eq!(json["format"], ftps_compat::matrix::RESULTS_FORMAT);
    assert_eq!(json["cells"].as_array().unwrap().len(), 35);
    let problems = errors(&validator, &json);
    assert!(
        problems.is_empty(),
        "results.json does not match the schema:\n{}",
        problems.join("\n")
    );
    // The shapes the documentation shows.
    let refused = &json["cells"][cell_index(&results, VSFTPD, BackendKind::Native, "no-prot")];
    assert_eq!(refused["outcome"]["class"], "refused");
    assert_eq!(refused["outcome"]["failure"], "reply");
    assert_eq!(refused["outcome"]["decisive"]["code"], 521);
    assert_eq!(refused["run"]["outcome"], "failed");
    assert_eq!(refused["run"]["failure"]["kind"], "reply");
    assert_eq!(refused["transcript"][0]["kind"], "step");
    assert_eq!(refused["transcript"][0]["step"], 0);
    let skipped = &json["cells"][cell_index(&results, PURE, BackendKind::Native, "happy-path")];
    assert_eq!(skipped["run"], Value::Null);

    // Each deliberate break is caught.
    let vsftpd = cell_index(&results, VSFTPD, BackendKind::Native, "no-prot");
    let hang = cell_index(&results, FZ, BackendKind::Embedded, "no-prot");
    type Break = Box<dyn Fn(&mut Value)>;
    let breaks: Vec<(&str, Break)> = vec![
        ("format 1", Box::new(|v| v["format"] = 1.into())),
        (
            "no format",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("format");
            }),
        ),
        (
            "a verdict instead of an outcome class",
            Box::new(move |v| v["cells"][vsftpd]["outcome"]["class"] = "quirk".into()),
        ),
        (
            "the old verdict field",
            Box::new(move |v| v["cells"][vsftpd]["verdict"] = "pass".into()),
        ),
        (
            "backend docker",
            Box::new(|v| v["columns"][1]["backend"] = "docker".into()),
        ),
        (
            "unknown top-level field",
            Box::new(|v| v["generated_by"] = "me".into()),
        ),
        (
            "missing transcript",
            Box::new(move |v| {
                v["cells"][vsftpd]
                    .as_object_mut()
                    .unwrap()
                    .remove("transcript");
            }),
        ),
        (
            "a transcript as one string",
            Box::new(move |v| v["cells"][vsftpd]["transcript"] = "C> LIST\n".into()),
        ),
        (
            "a transcript line of an unknown kind",
            Box::new(move |v| v["cells"][vsftpd]["transcript"][1]["kind"] = "banner".into()),
        ),
        (
            "a transcript line without its step",
            Box::new(move |v| {
                v["cells"][vsftpd]["transcript"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("step");
            }),
        ),
        (
            "missing unexplained mark",
            Box::new(move |v| {
                v["cells"][hang]["outcome"]
                    .as_object_mut()
                    .unwrap()
                    .remove("unexplained");
            }),
        ),
        (
            "a deviation that is not text",
            Box::new(move |v| v["cells"][hang]["outcome"]["deviation"] = true.into()),
        ),
        (
            "negative duration",
            Box::new(|v| v["duration_ms"] = (-1).into()),
        ),
        (
            "reply code 42",
            Box::new(move |v| v["cells"][vsftpd]["outcome"]["decisive"]["code"] = 42.into()),
        ),
        (
            "unknown failure kind in the outcome",
            Box::new(move |v| v["cells"][vsftpd]["outcome"]["failure"] = "oops".into()),
        ),
        (
            "unknown failure kind in the run",
            Box::new(move |v| v["cells"][vsftpd]["run"]["failure"]["kind"] = "oops".into()),
        ),
        (
            "a timeout without its channel",
            Box::new(move |v| {
                v["cells"][hang]["run"]["failure"]
                    .as_object_mut()
                    .unwrap()
                    .remove("channel");
            }),
        ),
        (
            "two-key condition",
            Box::new(|v| v["quirks"][2]["rules"][0]["when"][0]["not_sent"] = "x".into()),
        ),
    ];
    for (what, break_it) in breaks {
        let mut broken = json.clone();
        break_it(&mut broken);
        assert_ne!(broken, json, "{what} changed nothing");
        assert!(
            !validator.is_valid(&broken),
            "the schema accepts a results.json with {what}"
        );
    }
}

#[test]
fn the_documented_example_fits_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results.md");
    let doc = fs::read_to_string(&path).unwrap();
    let start = position(&doc, "```json\n") + "```json\n".len();
    let end = start + position(&doc[start..], "```");
    let example: Value = serde_json::from_str(&doc[start..end]).expect("the example is JSON");
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let problems = errors(&validator, &example);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_real_quirk_catalog_fits_the_schema() {
    // servers/quirks.yaml uses most kinds of condition; the schema must describe them all.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../servers/quirks.yaml");
    let catalog = ftps_compat::quirks::Catalog::load(&path).expect("servers/quirks.yaml loads");
    assert!(!catalog.quirks.is_empty());
    let mut results = results();
    results.quirks = catalog.quirks;
    let json = serde_json::to_value(&results).unwrap();
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let problems = errors(&validator, &json);
    assert!(
        problems.is_empty(),
        "the catalog does not match the schema:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_failure_kind_serializes_as_documented() {
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    let mut results = results();
    let failures = [
        Failure::Reply {
            code: 550,
            text: "Permission denied.".into(),
        },
        Failure::Timeout {
            channel: Channel::Data,
            waiting_for: "the data connection".into(),
        },
        Failure::Tls {
            channel: Channel::Control,
            message: "received fatal alert: HandshakeFailure".into(),
        },
        Failure::Closed {
            channel: Channel::Data,
            detail: "by the server".into(),
        },
        Failure::Corrupted {
            detail: "sha256 differs".into(),
        },
        Failure::PeerMisbehaved {
            detail: "unparsable PASV reply".into(),
        },
        Failure::Local {
            detail: "nothing listening".into(),
        },
    ];
    let kinds = [
        "reply",
        "timeout",
        "tls",
        "closed",
        "corrupted",
        "peer_misbehaved",
        "local",
    ];
    for (cell, failure) in results.cells.iter_mut().zip(failures) {
        cell.run = Some(Outcome::Failed {
            step: 1,
            label: "list".into(),
            failure,
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let files = write_reports(&results, &no_checks(&results), dir.path())
        .expect("every failure kind serializes");
    let json: Value =
        serde_json::from_str(&fs::read_to_string(files.results_json).unwrap()).unwrap();
    let problems = errors(&validator, &json);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for (i, kind) in kinds.iter().enumerate() {
        assert_eq!(json["cells"][i]["run"]["failure"]["kind"], *kind);
    }
    assert_eq!(json["cells"][1]["run"]["failure"]["channel"], "data");
    // Every outcome class is a documented value.
    for (cell, class) in results.cells.iter_mut().zip(OutcomeClass::ALL) {
        cell.outcome.class = class;
    }
    let json = serde_json::to_value(&results).unwrap();
    let problems = errors(&validator, &json);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A matrix the size of the real one: 19 columns (one server on two backends with the same
/// answers, one backend unavailable) x 8 scenarios (two of them client profiles).
fn large_results() -> MatrixResults {
    use BackendKind::{Container, Embedded, Native};
    let mut columns = Vec::new();
    for p in ["fz-0.9", "fz-0.9-noforce", "fz-0.9.33", "fz-1.x"] {
        columns.push(column(
            &format!("filezilla-like/{p}"),
            Embedded,
            Some("emulates FileZilla Server 0.9.60"),
            None,
        ));
    }
    for backend in [Native, Container] {
        for p in [
            "explicit-strict",
            "explicit-lax",
            "implicit-strict",
            "implicit-lax",
        ] {
            columns.push(column(&format!("vsftpd/{p}"), backend, Some("3.0.3"), None));
        }
    }
    for p in ["tls-1", "tls-2", "tls-3"] {
        columns.push(column(
            &format!("pure-ftpd/{p}"),
            Native,
            Some("1.0.50"),
            None,
        ));
    }
    for p in [
        "explicit-strict",
        "explicit-lax",
        "implicit-strict",
        "implicit-lax",
    ] {
        columns.push(column(
            &format!("proftpd/{p}"),
            Native,
            None,
            Some("native backend unavailable: proftpd is not installed"),
        ));
    }
    let scenarios: Vec<ScenarioInfo> = [
        "happy-path",
        "no-session-reuse",
        "no-prot",
        "implicit-no-prot-upload",
        "auth-ssl",
        "ccc",
        "client-lftp",
        "client-fluentftp-default",
    ]
    .iter()
    .map(|id| scenario(id, &format!("{id}: what the client does"), "RFC 4217"))
    .collect();
    let mut cells = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        // vsftpd answers alike on both backends: the same pattern for both.
        let seed = if c.server == "vsftpd" { i % 4 } else { i };
        for (j, s) in scenarios.iter().enumerate() {
            let mut cell = match (&c.unavailable, (seed * 7 + j * 3) % 9) {
                (Some(why), _) => not_run(&c.id, c.backend, &s.id, OutcomeClass::Skipped, why),
                (None, 0..=3) => works(&c.id, c.backend, &s.id),
                (None, 4 | 5) => refused(
                    &c.id,
                    c.backend,
                    &s.id,
                    522,
                    "session reuse required",
                    "session-reuse-required",
                ),
                (None, 6 | 7) => breaks(&c.id, c.backend, &s.id),
                (None, _) => not_run(
                    &c.id,
                    c.backend,
                    &s.id,
                    OutcomeClass::Error,
                    "the cell did not finish within 30s",
                ),
            };
            cell.duration_ms = (i * 31 + j * 17) as u64;
            cells.push(cell);
        }
    }
    MatrixResults {
        columns,
        scenarios,
        cells,
        ..results()
    }
}

#[test]
fn a_large_matrix_has_every_cell_everywhere() {
    let results = large_results();
    let dir = Workdir::new("large");
    let files = write_reports(&results, &no_checks(&results), dir.path()).unwrap();
    let n = 19 * 8;
    assert_eq!(results.cells.len(), n);
    assert_eq!(files.cell_pages.len(), n);
    assert!(files.cell_pages.iter().all(|p| p.is_file()));
    // vsftpd's native and container columns are shown once each profile.
    let shown_columns = 19 - 4;

    let md = fs::read_to_string(&files.matrix_md).unwrap();
    let tables = markdown_tables(&md);
    assert_eq!(tables.len(), 2, "clients, then scenarios:\n{md}");
    // Each with its "works for" row.
    assert_eq!(tables[0].rows.len(), 2 + 1);
    assert_eq!(tables[1].rows.len(), 6 + 1);
    for table in &tables {
        assert_eq!(table.header.len(), 2 + shown_columns, "{:?}", table.header);
        assert!(table.rows.iter().all(|r| r.len() == 2 + shown_columns));
    }
    assert!(
        tables[0].header[6].contains("vsftpd/explicit-strict<br>native + container<br>3.0.3"),
        "{:?}",
        tables[0].header
    );

    let index = fs::read_to_string(&files.index_html).unwrap();
    assert_eq!(
        index.matches("<td class=\"v v-").count(),
        shown_columns * 8,
        "one coloured cell per shown column and row"
    );

    let xml = fs::read_to_string(&files.junit_xml).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .count(),
        19
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        n
    );

    let json: Value =
        serde_json::from_str(&fs::read_to_string(&files.results_json).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema()).unwrap();
    assert!(errors(&validator, &json).is_empty());
}

// ---------------------------------------------------------------- junit.xml

fn junit(results: &MatrixResults, checks: &Checks) -> String {
    let dir = tempfile::tempdir().unwrap();
    let files = write_reports(results, checks, dir.path()).unwrap();
    fs::read_to_string(files.junit_xml).unwrap()
}

#[test]
fn junit_has_a_suite_per_column_and_a_case_per_cell_clients_first() {
    let (_dir, files, results) = written("junit");
    let xml = fs::read_to_string(&files.junit_xml).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("35"));
    // Not working is an answer, not a failure: without checks nothing fails.
    assert_eq!(root.attribute("failures"), Some("0"));
    assert_eq!(root.attribute("errors"), Some("1"));
    assert_eq!(root.attribute("skipped"), Some("11"));

    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: Vec<&str> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "filezilla-like/fz-0.9.33 [embedded]",
            "proftpd/explicit-strict [native]",
            "proftpd/explicit-strict [container]",
            "pure-ftpd/implicit [native]",
            "pure-ftpd/implicit [container]",
            "vsftpd/explicit-strict [native]",
            "vsftpd/explicit-strict [container]",
        ]
    );
    let property = |node: roxmltree::Node, name: &str| -> Vec<String> {
        node.descendants()
            .filter(|p| p.has_tag_name("property") && p.attribute("name") == Some(name))
            .filter(|p| p.parent().and_then(|props| props.parent()) == Some(node))
            .map(|p| p.attribute("value").unwrap().to_string())
            .collect()
    };
    // Each column's headline: of the cells that ran there, how many work.
    let works: Vec<Vec<String>> = suites.iter().map(|s| property(*s, "works")).collect();
    assert_eq!(
        works,
        [
            ["1 of 4"],
            ["2 of 5"],
            ["2 of 5"],
            ["0 of 0"],
            ["0 of 0"],
            ["2 of 5"],
            ["2 of 4"]
        ]
    );

    let order = [
        CLIENT_CURL,
        CLIENT_FTPLIB,
        "happy-path",
        "no-session-reuse",
        "no-prot",
    ];
    let mut seen = 0;
    for (suite, column) in suites.iter().zip(&results.columns) {
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let case_names: Vec<String> = cases
            .iter()
            .map(|c| c.attribute("name").unwrap().to_string())
            .collect();
        let want: Vec<String> = order
            .iter()
            .map(|s| format!("{}::{s}", column.id))
            .collect();
        assert_eq!(case_names, want, "client profiles first");
        for (case, scenario) in cases.iter().zip(order) {
            seen += 1;
            let cell = results.cell(&column.id, column.backend, scenario).unwrap();
            let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
            let (failure, error, skipped) = (child("failure"), child("error"), child("skipped"));
            assert!(failure.is_none(), "{} fails without a check", cell.name());
            match cell.class() {
                OutcomeClass::Error => {
                    let error = error.unwrap_or_else(|| panic!("{} has no <error>", cell.name()));
                    assert!(
                        error
                            .attribute("message")
                            .unwrap()
                            .contains("did not finish within 30s")
                    );
                    assert_eq!(error.attribute("type"), Some("error"));
                }
                OutcomeClass::Skipped => {
                    let skipped =
                        skipped.unwrap_or_else(|| panic!("{} has no <skipped>", cell.name()));
                    assert_eq!(
                        skipped.attribute("message"),
                        Some(cell.outcome.summary.as_str())
                    );
                }
                _ => assert!(error.is_none() && skipped.is_none(), "{}", cell.name()),
            }
            assert_eq!(property(*case, "outcome"), [cell.class().as_str()]);
            let out = child("system-out").and_then(|n| n.text()).unwrap_or("");
            assert_eq!(
                out,
                ftps_compat::snapshot::render(cell),
                "{}: the system-out is the cell's snapshot",
                cell.name()
            );
        }
    }
    assert_eq!(seen, 35);

    // The marks and the backend difference are properties of the testcase.
    let case = |column: &str, backend: &str, scenario: &str| {
        let suite = suites
            .iter()
            .find(|s| s.attribute("name") == Some(&*format!("{column} [{backend}]")))
            .unwrap_or_else(|| panic!("no suite {column} [{backend}]"));
        suite
            .children()
            .find(|c| c.attribute("name") == Some(&*format!("{column}::{scenario}")))
            .unwrap_or_else(|| panic!("no testcase {column}::{scenario}"))
    };
    let hang = case(FZ, "embedded", "no-prot");
    assert_eq!(property(hang, "unexplained"), ["true"]);
    assert_eq!(
        property(hang, "deviation"),
        ["expected reply 550 at step 2"]
    );
    let native = case(PROFTPD, "native", "no-prot");
    assert_eq!(property(native, "reply"), ["521"]);
    assert_eq!(property(native, "quirk"), ["prot-p-required (521)"]);
    assert!(property(native, "unexplained").is_empty());
    assert_eq!(property(native, "differs_on"), ["container: breaks"]);
    let container = case(PROFTPD, "container", "no-prot");
    assert_eq!(
        property(container, "differs_on"),
        ["native: refused 521 [prot-p-required]"]
    );
    assert!(property(case(VSFTPD, "native", "no-prot"), "differs_on").is_empty());
}

#[test]
fn junit_fails_exactly_the_cells_that_fail_a_check() {
    let results = results();
    // The baseline had vsftpd working without PROT; now it refuses: a changed answer.
    let mut old = baseline::answers(&results);
    for cell in old
        .iter_mut()
        .filter(|c| c.column == VSFTPD && c.scenario == "no-prot")
    {
        cell.answer = baseline::Fingerprint {
            class: OutcomeClass::Works,
            code: None,
            quirks: Vec::new(),
        };
    }
    let checks = Checks::new(&results, Some(&old), Vec::new());
    let xml = junit(&results, &checks);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failing: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    // Both backends of vsftpd share the comparison key (server/profile + scenario).
    let vsftpd_no_prot = format!("{VSFTPD}::no-prot");
    assert_eq!(failing, [vsftpd_no_prot.as_str(), vsftpd_no_prot.as_str()]);
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let message = failure.attribute("message").unwrap();
    assert!(
        message.starts_with("changed from the baseline: works -> refused 521 [prot-p-required]"),
        "{message}"
    );
    assert!(
        message.contains("refused at step 2 (list): LIST -> 521"),
        "{message}"
    );
    assert_eq!(
        failure.attribute("type"),
        Some("refused 521 ≠ [prot-p-required]"),
        "the outcome first, then the marks and quirks"
    );
    assert!(
        failure
            .text()
            .unwrap()
            .contains("decisive: step 2 (list): LIST -> 521 Data connections must be encrypted")
    );
    // The refused cells without a check still pass: refused is an answer, not a failure.
    let passing_refusal = doc
        .descendants()
        .find(|n| n.attribute("name") == Some(&*format!("{PROFTPD}::no-prot")))
        .unwrap();
    assert!(
        passing_refusal
            .children()
            .all(|c| !c.has_tag_name("failure"))
    );

    // `--require works` fails every cell that ran and does not work (not error, not skipped).
    let checks = Checks::new(&results, None, vec![OutcomeClass::Works]);
    let xml = junit(&results, &checks);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(doc.root_element().attribute("failures"), Some("14"));
    assert_eq!(doc.root_element().attribute("errors"), Some("1"));
}

// ---------------------------------------------------------------- matrix.md

/// A Markdown table: its header cells and rows of cells.
struct MarkdownTable {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn split_row(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

/// Every table of a Markdown file with the `##` heading above it.
fn markdown_tables(md: &str) -> Vec<MarkdownTable> {
    let mut tables: Vec<MarkdownTable> = Vec::new();
    let mut title = String::new();
    let mut in_table = false;
    for line in md.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            title = heading.to_string();
        }
        if line.starts_with("| ") {
            if !in_table {
                tables.push(MarkdownTable {
                    title: title.clone(),
                    header: split_row(line),
                    rows: Vec::new(),
                });
                in_table = true;
            } else if !line.starts_with("| --- ") {
                tables.last_mut().unwrap().rows.push(split_row(line));
            }
        } else {
            in_table = false;
        }
    }
    tables
}

#[test]
fn markdown_puts_clients_first_with_outcomes_marks_and_headlines() {
    let (_dir, files, _results) = written("markdown");
    let md = fs::read_to_string(&files.matrix_md).unwrap();
    let tables = markdown_tables(&md);
    assert_eq!(tables.len(), 2, "{md}");
    let (clients, behaviours) = (&tables[0], &tables[1]);
    assert_eq!(clients.title, CLIENTS_TITLE);
    assert_eq!(behaviours.title, BEHAVIOURS_TITLE);

    // proftpd differs by backend: two columns; pure-ftpd and vsftpd answer alike: one each.
    let header = [
        "works on",
        "filezilla-like/fz-0.9.33<br>embedded<br>emulates FileZilla Server 0.9.33",
        "proftpd/explicit-strict<br>native<br>1.3.8<br>differs by backend",
        "proftpd/explicit-strict<br>container<br>1.3.8<br>differs by backend",
        "pure-ftpd/implicit<br>native + container<br>1.0.50",
        "vsftpd/explicit-strict<br>native + container<br>3.0.3",
    ];
    assert_eq!(clients.header[0], "client");
    assert_eq!(clients.header[1..], header);
    assert_eq!(behaviours.header[0], "scenario");
    assert_eq!(behaviours.header[1..], header);

    let vsftpd_reuse = "🟡 refused 522 ≠<br>session-reuse-required";
    let expected_clients = [
        [
            "curl",
            "3 of 3",
            "🟣 error",
            "🟢 works",
            "🟢 works",
            "⚪ skipped",
            "🟢 works",
        ],
        [
            "python-ftplib",
            "0 of 4",
            "🟡 refused 425 ≠<br>session-reuse-required",
            "🟡 refused 425 ≠<br>session-reuse-required",
            "🟡 refused 425 ≠<br>session-reuse-required",
            "⚪ skipped",
            vsftpd_reuse,
        ],
        [
            "**works for** (clients that ran)",
            "",
            "0 of 1",
            "1 of 2",
            "1 of 2",
            "0 of 0",
            "1 of 2",
        ],
    ];
    assert_eq!(clients.rows, expected_clients);
    let expected_behaviours = [
        [
            "happy-path",
            "4 of 4",
            "🟢 works",
            "🟢 works",
            "🟢 works",
            "⚪ skipped",
            "🟢 works",
        ],
        [
            // vsftpd's container skipped it; the native answer stands for the column.
            "no-session-reuse",
            "0 of 4",
            "🟡 refused 425 ≠<br>session-reuse-required",
            "🟡 refused 425 ≠<br>session-reuse-required",
            "🟡 refused 425 ≠<br>session-reuse-required",
            "⚪ skipped",
            vsftpd_reuse,
        ],
        [
            "no-prot",
            "0 of 4",
            "🟠 hangs ≠ ?",
            "🟡 refused 521 ≠<br>prot-p-required",
            "🔴 breaks ≠ ?",
            "⚪ skipped",
            "🟡 refused 521 ≠<br>prot-p-required",
        ],
        [
            "**works for** (client behaviours that ran)",
            "",
            "1 of 3",
            "1 of 3",
            "1 of 3",
            "0 of 0",
            "1 of 3",
        ],
    ];
    assert_eq!(behaviours.rows, expected_behaviours);

    let section = |title: &str| -> &str {
        let start = md
            .find(&format!("## {title}\n"))
            .unwrap_or_else(|| panic!("no section {title:?}:\n{md}"));
        let rest = &md[start + 3..];
        &rest[..rest.find("\n## ").unwrap_or(rest.len())]
    };
    let gaps = section("Gaps in the quirk catalog");
    assert!(gaps.contains("2 cells do not work"), "{gaps}");
    assert!(
        gaps.contains("🟠 `no-prot`: hangs at step 2 (stor upload.bin): STOR upload.bin -\\> timeout waiting for the 226 reply")
            && gaps.contains(&format!("on {FZ} \\[embedded\\]")),
        "{gaps}"
    );
    assert!(
        gaps.contains(&format!("on {PROFTPD} \\[container\\]")),
        "{gaps}"
    );
    assert!(
        !gaps.contains("vsftpd"),
        "explained cells are no gap:\n{gaps}"
    );
    let differences = section("Backend differences");
    assert_eq!(
        differences
            .lines()
            .filter(|l| l.starts_with("- "))
            .collect::<Vec<_>>(),
        [format!(
            "- `{PROFTPD}` :: `no-prot`: native refused 521 \\[prot-p-required\\]; container breaks"
        )],
        "{differences}"
    );
    let legend = section("Legend");
    for needle in [
        "- 🟢 **works**: every step did what the client intended",
        "- 🟡 **refused**:",
        "- **≠** deviation:",
        "- **?** unexplained:",
    ] {
        assert!(
            legend.contains(needle),
            "the legend lacks {needle:?}:\n{legend}"
        );
    }
    for needle in [
        "ftps-compat 0.1.0",
        "started 2026-01-02 03:04:05 UTC",
        "35 cells: 9 works, 12 refused, 1 hangs, 1 breaks, 1 error, 11 skipped.",
        "- **prot-p-required**: Data connections refused without PROT P (RFC 4217 section 9)",
        "- **session-reuse-required**: Data TLS must resume the control session",
        "vsftpd/explicit-strict \\[native\\] :: no-session-reuse (522)",
        SKIP_PURE,
    ] {
        assert!(md.contains(needle), "matrix.md lacks {needle:?}:\n{md}");
    }
    assert!(
        !md.contains("ccc-unsupported"),
        "only quirks found are listed"
    );
}

// ---------------------------------------------------------------- files and HTML text

#[test]
fn writes_are_deterministic_and_stale_pages_go() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells");
    fs::create_dir_all(&cells).unwrap();
    let stale = cells.join("vsftpd_old-profile__native__happy-path.html");
    let mine_not = cells.join("notes.html");
    fs::write(&stale, "old").unwrap();
    fs::write(&mine_not, "keep me").unwrap();

    let results = results();
    let files = write_reports(&results, &no_checks(&results), dir.path()).unwrap();
    assert_eq!(files.removed_stale, vec![stale.clone()]);
    assert!(!stale.exists());
    assert!(mine_not.exists(), "files the writer does not own stay");
    assert_eq!(files.cell_pages.len(), results.cells.len());
    let expected = dir
        .path()
        .join(cell_page(VSFTPD, BackendKind::Container, "no-prot"));
    assert!(files.cell_pages.contains(&expected));
    assert!(expected.ends_with("cells/vsftpd_explicit-strict__container__no-prot.html"));

    let snapshot = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut all = Vec::new();
        for entry in walk(root) {
            all.push((
                entry.strip_prefix(root).unwrap().to_owned(),
                fs::read(&entry).unwrap(),
            ));
        }
        all
    };
    let other = tempfile::tempdir().unwrap();
    write_reports(&results, &no_checks(&results), other.path()).unwrap();
    let mut first = snapshot(dir.path());
    first.retain(|(p, _)| p != Path::new("cells/notes.html"));
    assert_eq!(
        first,
        snapshot(other.path()),
        "two writes of the same results are identical"
    );
    assert!(
        !walk(dir.path())
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".tmp"))
    );
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Where `needle` starts in `haystack`, or a panic naming it.
fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is missing"))
}

#[test]
fn html_is_self_contained_escaped_and_answers_first() {
    let (_dir, files, results) = written("html-text");
    let index = fs::read_to_string(&files.index_html).unwrap();
    for page in std::iter::once(&files.index_html).chain(&files.cell_pages) {
        let html = fs::read_to_string(page).unwrap();
        for forbidden in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            "@import",
            "url(",
            "http://",
            "https://",
            "<port>",
            "<password>",
            "hunter2",
        ] {
            assert!(
                !html.contains(forbidden),
                "{} contains {forbidden:?}",
                page.display()
            );
        }
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"));
    }
    // The clients' table comes first, then the scenarios', then the catalog gaps.
    let clients = position(&index, &format!(">{CLIENTS_TITLE} <"));
    let behaviours = position(&index, &format!(">{BEHAVIOURS_TITLE} <"));
    let gaps = position(&index, "id=\"gaps\"");
    let differences = position(&index, "id=\"backend-differences\"");
    assert!(clients < behaviours && behaviours < gaps && gaps < differences);
    assert!(position(&index, ">python-ftplib</a>") < behaviours);
    assert!(position(&index, ">happy-path</a>") > behaviours);

    // Every class has its colour and word; the skip reason is the cell's tooltip.
    for class in OutcomeClass::ALL {
        assert!(
            index.contains(&format!("<td class=\"v v-{class}\">")),
            "{class}"
        );
    }
    assert!(index.contains(&format!(
        "title=\"happy-path on {PURE} [native]: skipped (same on container)\n{}\"",
        esc(&format!("skipped: {SKIP_PURE}"))
    )));
    // The hang: its word, then its marks, each with a tooltip saying why.
    assert!(
        index.contains(
            "hangs<span class=\"mark deviation\" title=\"deviation: the scenario expected reply 550 at step 2\">≠</span>\
             <span class=\"mark unexplained\" title=\"unexplained: no catalog quirk explains this outcome\">?</span>"
        ),
        "the hang's marks"
    );
    // A refusal: its word, code, mark and quirk ids.
    assert!(index.contains(
        "refused<span class=\"code\">521</span><span class=\"mark deviation\" title=\"deviation: the scenario expected every step to complete\">≠</span><span class=\"q\">prot-p-required</span>"
    ));
    // The legend explains both marks.
    for mark in ["deviation", "unexplained"] {
        assert!(
            index.contains(&format!(
                "<li><span class=\"mark {mark}\" title=\"{mark}\">"
            )),
            "{mark}"
        );
    }
    // Headlines: per column in its header, per row in its own column.
    assert!(index.contains("works for <b>1 of 2</b>"));
    assert!(index.contains("title=\"works on 3 of 3 servers where it ran\""));
    // One vsftpd column naming both backends; proftpd twice, each marked as differing.
    assert_eq!(
        index
            .matches("<span class=\"backend b-native\">native</span><span class=\"backend b-container\">container</span>")
            .count(),
        2 * 2,
        "pure-ftpd and vsftpd, in both tables"
    );
    assert_eq!(index.matches("≠ differs by backend</a>").count(), 2 * 2);
    assert!(index.contains("3.0.3") && index.contains("emulates FileZilla Server 0.9.33"));
    assert!(index.contains("<b>2</b> cores, <b>2</b> jobs"));

    // A detail page: the outcome card before the decisive step, quirks, transcript and log.
    let page = fs::read_to_string(files.results_json.parent().unwrap().join(cell_page(
        VSFTPD,
        BackendKind::Native,
        "no-session-reuse",
    )))
    .unwrap();
    let order = [
        "<section class=\"card outcome\"",
        "<h3>Decisive step</h3>",
        "<h2>Quirks matched</h2>",
        "<h2>Transcript</h2>",
        "<h2>Server log excerpt</h2>",
    ];
    let places: Vec<usize> = order.iter().map(|n| position(&page, n)).collect();
    assert!(places.is_sorted(), "{order:?} at {places:?}");
    for needle in [
        "<span class=\"chip v-refused\">refused 522</span>",
        "refused at step 2 (list): LIST -&gt; 522 SSL connection failed: session reuse required",
        "<dt>deviation</dt><dd>≠ the scenario expected every step to complete",
        "A client that never resumes TLS sessions on data connections (python ftplib &lt;3.x &amp; co).",
        "RFC 4217 section 10.2",
        "Data TLS must resume the control session",
        "Resume the control connection&#39;s TLS session on every data connection.",
        "S&lt; 227 Entering Passive Mode (127,0,0,1,&lt;port&gt;).</span>",
        "<span class=\"s bad decisive\">S&lt; 522 SSL connection failed: session reuse required</span>",
        "<span class=\"c\">C&gt; PASS &lt;password&gt;</span>",
        "S&lt; 220 ready &amp; waiting",
        "SSL session reuse &lt;required&gt; &amp; refused",
        "href=\"../index.html\"",
        // The container skipped this scenario: its page is linked from here.
        "href=\"../cells/vsftpd_explicit-strict__container__no-session-reuse.html\"",
    ] {
        assert!(page.contains(needle), "the detail page lacks {needle:?}");
    }
    assert!(!page.contains("<dt>unexplained</dt>"));
    let hang = fs::read_to_string(files.results_json.parent().unwrap().join(cell_page(
        FZ,
        BackendKind::Embedded,
        "no-prot",
    )))
    .unwrap();
    assert!(hang.contains("<dt>unexplained</dt>"));
    assert!(hang.contains("<span class=\"i bad decisive\">== timeout"));
    let gap = &results
        .cell(FZ, BackendKind::Embedded, "no-prot")
        .unwrap()
        .outcome
        .summary;
    assert!(index[gaps..].contains(&esc(gap)));
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

// ---------------------------------------------------------------- headless Chromium

const BROWSER_LIMIT: Duration = Duration::from_secs(60);

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
}

/// Runs headless Chromium on `url` with `args`, killing its whole process group after
/// BROWSER_LIMIT. Returns stdout.
fn run_chromium(binary: &Path, work: &Path, args: &[String], url: &str) -> String {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir_in(work).unwrap();
    let out_path = work.join("chromium.out");
    let err_path = work.join("chromium.err");
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let clock = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if clock.elapsed() > BROWSER_LIMIT {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!(
                "chromium did not finish within {BROWSER_LIMIT:?} on {url}; stderr:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Helpers it left behind (zygote, GPU process) go with the group.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let stdout = fs::read_to_string(&out_path).unwrap();
    assert!(
        status.success(),
        "chromium exited with {status} on {url}; stderr:\n{}",
        fs::read_to_string(&err_path).unwrap_or_default()
    );
    stdout
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

fn hrefs(dom: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"href="([^"]*)""#).unwrap();
    re.captures_iter(dom)
        .map(|c| c[1].replace("&amp;", "&"))
        .collect()
}

fn ids(dom: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r#"\sid="([^"]*)""#).unwrap();
    re.captures_iter(dom).map(|c| c[1].to_string()).collect()
}

/// Every link of a page resolves: files exist, fragments name an element of the page.
/// Returns the files linked, relative to the report directory.
fn assert_links_resolve(root: &Path, page: &Path, dom: &str) -> BTreeSet<PathBuf> {
    let ids = ids(dom);
    let links = hrefs(dom);
    assert!(!links.is_empty(), "{} has no links", page.display());
    let mut files = BTreeSet::new();
    for link in &links {
        assert!(
            !link.contains("://"),
            "{} links outside: {link}",
            page.display()
        );
        let (file, fragment) = link.split_once('#').unwrap_or((link, ""));
        if !file.is_empty() {
            let target = page.parent().unwrap().join(file);
            assert!(
                target.is_file(),
                "{} links to {link}, which does not exist",
                page.display()
            );
            let target = target.canonicalize().unwrap();
            files.insert(
                target
                    .strip_prefix(root.canonicalize().unwrap())
                    .unwrap()
                    .to_owned(),
            );
        }
        if !fragment.is_empty() && file.is_empty() {
            assert!(
                ids.contains(fragment),
                "{} links to #{fragment}, which is not on the page",
                page.display()
            );
        }
    }
    files
}

#[test]
fn html_opens_in_headless_chromium() {
    let Some(binary) = chromium() else {
        let why = "no chromium on PATH (Debian package `chromium`) and $CHROMIUM not set";
        if std::env::var_os("CI").is_some() {
            panic!("{why}: CI must run the browser check");
        }
        eprintln!("SKIPPED html_opens_in_headless_chromium: {why}");
        return;
    };
    let (dir, files, results) = written("browser");
    let root = dir.path();
    let work = tempfile::tempdir().unwrap();
    let dump = |page: &Path| {
        run_chromium(
            &binary,
            work.path(),
            &["--dump-dom".into()],
            &file_url(page),
        )
    };

    // The index as the browser built it: two tables, one linked cell per shown column and
    // row, every link resolving.
    let dom = dump(&files.index_html);
    assert_eq!(
        dom.matches("<table class=\"matrix\"").count(),
        2,
        "not the two matrices:\n{dom}"
    );
    let linked = assert_links_resolve(root, &files.index_html, &dom);
    let matrix_cell =
        regex::Regex::new(r#"<td class="v v-([a-z]+)"><a href="(cells/[^"]+)""#).unwrap();
    let from_matrix: Vec<(String, String)> = matrix_cell
        .captures_iter(&dom)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    // Five shown columns: fz, proftpd twice, pure-ftpd and vsftpd once each.
    assert_eq!(from_matrix.len(), 5 * results.scenarios.len());
    for (class, page) in &from_matrix {
        let cell = results
            .cells
            .iter()
            .find(|c| cell_page(&c.column, c.backend, &c.scenario) == *page)
            .unwrap_or_else(|| panic!("{page} is no cell's page"));
        assert_eq!(
            class,
            cell.class().as_str(),
            "{page}: the colour is the class"
        );
    }
    // A merged column links to the backend that ran the cell.
    assert!(
        from_matrix
            .iter()
            .any(|(_, p)| p == &cell_page(VSFTPD, BackendKind::Native, "no-session-reuse"))
    );

    // Every cell's page is reached from the index, directly or through a sibling backend.
    let mut reached: BTreeSet<PathBuf> = linked
        .into_iter()
        .filter(|p| p.starts_with("cells"))
        .collect();
    // Detail pages are static (no script): their files are what the browser shows.
    for page in reached.clone() {
        let detail = fs::read_to_string(root.join(&page)).unwrap();
        let links = assert_links_resolve(root, &root.join(&page), &detail);
        assert!(
            links.contains(Path::new("index.html")),
            "{page:?} links back"
        );
        reached.extend(links.into_iter().filter(|p| p.starts_with("cells")));
    }
    let every_page: BTreeSet<PathBuf> = results
        .cells
        .iter()
        .map(|c| PathBuf::from(cell_page(&c.column, c.backend, &c.scenario)))
        .collect();
    assert_eq!(reached, every_page);

    // A detail page loads with its outcome card first and shows its whole transcript.
    let cell = results
        .cell(VSFTPD, BackendKind::Native, "no-session-reuse")
        .unwrap();
    let page = root.join(cell_page(&cell.column, cell.backend, &cell.scenario));
    let detail = dump(&page);
    let text = html_text(&detail);
    let outcome = position(&text, "refused at step 2 (list)");
    assert!(outcome < position(&text, "Decisive step"));
    for line in &cell.transcript {
        assert!(
            text.contains(&line.text),
            "the detail page's DOM lacks transcript line {:?}",
            line.text
        );
    }
    assert!(
        cell.transcript
            .iter()
            .any(|l| l.kind == LineKind::Refusal && l.step == Some(2)),
        "the fixture has a refusal to highlight"
    );
    assert!(text.contains("Resume the control connection's TLS session on every data connection."));
    assert!(
        text.contains("SSL session reuse <required> & refused"),
        "log excerpt"
    );

    // A screenshot at 1400x900 is a real PNG of that size with content.
    let shot = work.path().join("index.png");
    run_chromium(
        &binary,
        work.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,900".into(),
            "--hide-scrollbars".into(),
        ],
        &file_url(&files.index_html),
    );
    let png = fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 900));
    // A blank page compresses to a few KiB; the matrix with its colours and text is far more.
    assert!(
        png.len() > 30_000,
        "the screenshot looks empty ({} bytes)",
        png.len()
    );
    if let Workdir::Kept(kept) = &dir {
        fs::copy(&shot, kept.join("index.png")).unwrap();
    }
}

/// The text of a DOM dump: tags dropped, entities decoded.
fn html_text(dom: &str) -> String {
    let tags = regex::Regex::new(r"<[^>]*>").unwrap();
    tags.replace_all(dom, "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn a_stopped_run_is_marked_incomplete_everywhere_and_is_no_baseline() {
    let mut results = results();
    let finished = results.cells.len();
    results.cells.truncate(finished - 3);
    results.incomplete = Some(Incomplete {
        stopped_by: "SIGINT".into(),
        planned: finished,
        cancelled: 3,
    });
    let dir = Workdir::new("incomplete");
    let files = write_reports(&results, &no_checks(&results), dir.path()).unwrap();
    let headline = format!(
        "stopped by SIGINT; {} of {finished} cells finished, 3 cancelled",
        finished - 3
    );

    let md = fs::read_to_string(&files.matrix_md).unwrap();
    assert!(
        md.contains(&format!("> **Incomplete**: {headline}")),
        "{md}"
    );
    let html = fs::read_to_string(&files.index_html).unwrap();
    assert!(
        html.contains(&format!(
            "<p class=\"incomplete\"><b>Incomplete</b>: {headline}"
        )),
        "{html}"
    );
    let xml = fs::read_to_string(&files.junit_xml).unwrap();
    let case = position(&xml, "<testcase name=\"the run finished\"");
    assert!(
        xml[case..].contains(&format!(
            "<error message=\"incomplete: {headline}\" type=\"incomplete\""
        )),
        "{xml}"
    );
    let json: Value =
        serde_json::from_str(&fs::read_to_string(&files.results_json).unwrap()).unwrap();
    assert_eq!(
        json["incomplete"],
        serde_json::json!({"stopped_by": "SIGINT", "planned": finished, "cancelled": 3})
    );
    let validator = jsonschema::draft202012::new(&schema()).expect("the schema compiles");
    assert_eq!(errors(&validator, &json), Vec::<String>::new());

    let refused = baseline::load(&files.results_json).expect_err("not a baseline");
    assert!(
        refused.contains("a run that did not finish (incomplete: stopped by SIGINT;"),
        "{refused}"
    );
    // A complete run says so.
    let complete = fs::read_to_string(written("complete").1.results_json).unwrap();
    let complete: Value = serde_json::from_str(&complete).unwrap();
    assert!(
        complete["incomplete"].is_null(),
        "{}",
        complete["incomplete"]
    );
}

#[test]
fn a_security_finding_is_marked_and_listed_first() {
    let mut results = results();
    // The catalog's last quirk found in this run becomes a security finding.
    let found: Vec<String> = results
        .cells
        .iter()
        .flat_map(|c| c.outcome.quirks.iter().map(|q| q.id.clone()))
        .collect();
    let last = results
        .quirks
        .iter()
        .rposition(|q| found.contains(&q.id))
        .expect("a quirk found in the run");
    results.quirks[last].security = true;
    let id = results.quirks[last].id.clone();
    let dir = Workdir::new("security");
    let files = write_reports(&results, &no_checks(&results), dir.path()).expect("reports written");
    let md = fs::read_to_string(&files.matrix_md).unwrap();
    let section = &md[md.find("## Quirks found").expect("a quirks section")..];
    let first = section
        .lines()
        .find(|l| l.starts_with("- "))
        .expect("a quirk listed");
    assert_eq!(
        first,
        format!(
            "- ⚠️ security finding: **{id}**: {} ({})",
            results.quirks[last].title, results.quirks[last].standard
        )
    );
    let html = fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(html.contains("<span class=\"security\">security finding</span>"));
}
