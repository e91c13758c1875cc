//! The reports of a matrix run: results.json against its documented schema, junit.xml
//! parsed, matrix.md read back, and the HTML opened in headless Chromium (every link
//! resolves, a detail page shows its transcript, a screenshot renders).
//!
//! Chromium is Debian's `chromium` (or `$CHROMIUM`). Without it the browser test fails when
//! `CI` is set and prints why it skipped otherwise. `REPORT_TEST_OUT=DIR` keeps the reports
//! and the screenshot of the browser test in DIR.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ftps_compat::client::Failure;
use ftps_compat::matrix::{
    CellResult, ColumnInfo, Decisive, HostInfo, MatrixResults, ScenarioInfo, Verdict,
};
use ftps_compat::quirks::{Condition, OutcomeKind, Quirk, QuirkMatch, ReplyPattern, Rule};
use ftps_compat::report::{ReportFiles, cell_page, write_reports};
use ftps_compat::runner::Outcome;
use ftps_compat::servers::backend::BackendKind;
use ftps_compat::servers::manifest::Mode;
use serde_json::Value;

const FZ: &str = "filezilla-like/fz-0.9.33";
const VSFTPD: &str = "vsftpd/explicit-strict";
const PURE: &str = "pure-ftpd/implicit";
const SKIP_PURE: &str = "unsupported: Debian's pure-ftpd is built without implicit TLS";

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

fn scenario(id: &str, about: &str, reference: &str) -> ScenarioInfo {
    ScenarioInfo {
        id: id.into(),
        about: about.into(),
        reference: reference.into(),
    }
}

fn happy_transcript() -> String {
    "-- step 0: connect, AUTH TLS\n\
     == control connected 127.0.0.1:<port>\n\
     S< 220 (vsFTPd 3.0.3)\n\
     C> AUTH TLS\n\
     S< 234 Proceed with negotiation.\n\
     == control tls TLSv1.3 TLS13_AES_256_GCM_SHA384 full alpn=-\n\
     -- step 1: login\n\
     C> USER ftpuser\n\
     S< 331 Please specify the password.\n\
     C> PASS <password>\n\
     S< 230 Login successful.\n\
     -- step 2: stor upload.bin\n\
     C> PASV\n\
     S< 227 Entering Passive Mode (127,0,0,1,<port>).\n\
     == data connected 127.0.0.1:<port>\n\
     == data tls TLSv1.3 TLS13_AES_256_GCM_SHA384 resumed alpn=-\n\
     C> STOR upload.bin\n\
     S< 150 Ok to send data.\n\
     == data sent 1048576 bytes, close_notify\n\
     S< 226 Transfer complete.\n"
        .into()
}

fn reuse_transcript(code: u16, text: &str) -> String {
    format!(
        "-- step 0: connect, AUTH TLS\n\
         S< 220 ready & waiting\n\
         C> AUTH TLS\n\
         S< 234 Proceed with negotiation.\n\
         == control tls TLSv1.3 TLS13_AES_256_GCM_SHA384 full alpn=-\n\
         -- step 1: list\n\
         C> PASV\n\
         S< 227 Entering Passive Mode (127,0,0,1,<port>).\n\
         == data tls TLSv1.3 TLS13_AES_256_GCM_SHA384 full alpn=-\n\
         C> LIST\n\
         S< 150 Here comes the directory listing.\n\
         S< {code} {text}\n"
    )
}

fn decisive(
    step: usize,
    label: &str,
    command: &str,
    code: Option<u16>,
    detail: &str,
) -> Option<Decisive> {
    Some(Decisive {
        step,
        label: label.into(),
        command: Some(command.into()),
        code,
        detail: detail.into(),
    })
}

fn failed(step: usize, label: &str, failure: Failure) -> Option<Outcome> {
    Some(Outcome::Failed {
        step,
        label: label.into(),
        failure,
    })
}

fn quirk_match(id: &str, variant: &str) -> QuirkMatch {
    QuirkMatch {
        id: id.into(),
        variant: Some(variant.into()),
    }
}

fn cell(column: &str, backend: BackendKind, scenario: &str, verdict: Verdict) -> CellResult {
    CellResult {
        column: column.into(),
        backend,
        scenario: scenario.into(),
        verdict,
        quirks: Vec::new(),
        decisive: None,
        reason: String::new(),
        outcome: None,
        duration_ms: 0,
        transcript: String::new(),
        log_excerpt: String::new(),
    }
}

fn passed(column: &str, backend: BackendKind, scenario: &str) -> CellResult {
    CellResult {
        decisive: decisive(
            2,
            "stor upload.bin",
            "STOR upload.bin",
            Some(226),
            "226 Transfer complete.",
        ),
        reason: "every step to complete as expected".into(),
        outcome: Some(Outcome::Completed),
        duration_ms: 412,
        transcript: happy_transcript(),
        log_excerpt:
            "Mon Jan  1 <time> [pid <pid>] [ftpuser] OK UPLOAD: \"/upload.bin\", 1048576 bytes\n"
                .into(),
        ..cell(column, backend, scenario, Verdict::Pass)
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
            seen_in: vec!["vsftpd-3.0.3/postlogin.c:1234".into()],
            rules: vec![Rule {
                variant: Some("521".into()),
                when: vec![
                    Condition::Outcome(OutcomeKind::Reply),
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
            seen_in: vec![],
            rules: vec![Rule {
                variant: Some("522".into()),
                when: vec![Condition::FailedReply(ReplyPattern {
                    code: vec![522],
                    text: None,
                })],
            }],
        },
        Quirk {
            id: "ccc-unsupported".into(),
            title: "CCC is not implemented".into(),
            standard: "RFC 4217 section 6".into(),
            explanation: "Not seen in this run; listed to show the catalog is complete.".into(),
            workaround: "Keep the control channel protected.".into(),
            seen_in: vec![],
            rules: vec![Rule {
                variant: None,
                when: vec![Condition::Sent("^CCC".into())],
            }],
        },
    ]
}

/// Four columns (one same id on two backends, one unavailable), three scenarios, every verdict.
fn results() -> MatrixResults {
    use BackendKind::{Container, Embedded, Native};
    let columns = vec![
        column(FZ, Embedded, Some("emulates FileZilla Server 0.9.33"), None),
        column(VSFTPD, Native, Some("3.0.3"), None),
        column(VSFTPD, Container, Some("3.0.3"), None),
        column(PURE, Native, Some("1.0.50"), Some(SKIP_PURE)),
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
    ];
    let mut cells = vec![
        passed(FZ, Embedded, "happy-path"),
        CellResult {
            quirks: vec![quirk_match("session-reuse-required", "425")],
            decisive: decisive(1, "list", "LIST", Some(425), "425 Can't open data connection."),
            reason: "expected every step to complete, got reply 425 at step 1 (list): known quirk session-reuse-required (425), tolerated here".into(),
            outcome: failed(1, "list", Failure::Reply { code: 425, text: "Can't open data connection.".into() }),
            duration_ms: 87,
            transcript: reuse_transcript(425, "Can't open data connection."),
            ..cell(FZ, Embedded, "no-session-reuse", Verdict::Quirk)
        },
        CellResult {
            decisive: decisive(2, "stor upload.bin", "STOR upload.bin", None, "timeout waiting for the 226 reply"),
            reason: "expected reply 550 at step 2, got timeout waiting for the 226 reply at step 2 (stor upload.bin). No quirk in servers/quirks.yaml explains it".into(),
            outcome: failed(2, "stor upload.bin", Failure::Timeout { waiting_for: "the 226 reply".into() }),
            duration_ms: 10_021,
            transcript: "-- step 0: connect, implicit TLS\n== control tls TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384 full alpn=-\nS< 220 FileZilla Server version 0.9.33 beta\n-- step 2: stor upload.bin\nC> STOR upload.bin\nS< 150 Connection accepted\n== data timeout after 10s\n".into(),
            ..cell(FZ, Embedded, "no-prot", Verdict::Fail)
        },
        passed(VSFTPD, Native, "happy-path"),
        CellResult {
            quirks: vec![quirk_match("session-reuse-required", "522")],
            decisive: decisive(1, "list", "LIST", Some(522), "522 SSL connection failed: session reuse required"),
            reason: "expected every step to complete, got reply 522 at step 1 (list): known quirk session-reuse-required (522), tolerated here".into(),
            outcome: failed(1, "list", Failure::Reply { code: 522, text: "SSL connection failed: session reuse required".into() }),
            duration_ms: 130,
            transcript: reuse_transcript(522, "SSL connection failed: session reuse required"),
            log_excerpt: "DEBUG: \"SSL session reuse <required> & refused\"\n".into(),
            ..cell(VSFTPD, Native, "no-session-reuse", Verdict::Quirk)
        },
        CellResult {
            quirks: vec![quirk_match("prot-p-required", "521")],
            decisive: decisive(2, "stor upload.bin", "STOR upload.bin", Some(521), "521 Data connections must be encrypted (PROT P)."),
            reason: "expected every step to complete, got reply 521 at step 2 (stor upload.bin). It matches quirk prot-p-required (521), which scenario no-prot does not tolerate on vsftpd/explicit-strict".into(),
            outcome: failed(2, "stor upload.bin", Failure::Reply { code: 521, text: "Data connections must be encrypted (PROT P).".into() }),
            duration_ms: 95,
            transcript: "-- step 2: stor upload.bin\nC> STOR upload.bin\nS< 521 Data connections must be encrypted (PROT P).\n".into(),
            ..cell(VSFTPD, Native, "no-prot", Verdict::Fail)
        },
        CellResult {
            reason: "the server did not start: vsftpd exited with status 2 (500 OOPS: <config> & more)".into(),
            duration_ms: 1_503,
            log_excerpt: "500 OOPS: vsf_sysutil_bind\n".into(),
            ..cell(VSFTPD, Container, "happy-path", Verdict::Error)
        },
        CellResult {
            reason: "not applicable: the container backend has no session-reuse knob".into(),
            ..cell(VSFTPD, Container, "no-session-reuse", Verdict::Skipped)
        },
        passed(VSFTPD, Container, "no-prot"),
    ];
    for s in &scenarios {
        cells.push(CellResult {
            reason: SKIP_PURE.into(),
            ..cell(PURE, Native, &s.id, Verdict::Skipped)
        });
    }
    MatrixResults {
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
    }
}

/// Writes the reports into a fresh temp dir (or `$REPORT_TEST_OUT/<name>`, kept).
fn written(name: &str) -> (Workdir, ReportFiles, MatrixResults) {
    let results = results();
    let dir = Workdir::new(name);
    let files = write_reports(&results, dir.path()).expect("reports written");
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
    assert_eq!(json["cells"].as_array().unwrap().len(), 12);
    let problems = errors(&validator, &json);
    assert!(
        problems.is_empty(),
        "results.json does not match the schema:\n{}",
        problems.join("\n")
    );

    // Each deliberate break is caught.
    type Break = Box<dyn Fn(&mut Value)>;
    let breaks: Vec<(&str, Break)> = vec![
        (
            "verdict maybe",
            Box::new(|v| v["cells"][0]["verdict"] = "maybe".into()),
        ),
        (
            "backend docker",
            Box::new(|v| v["columns"][1]["backend"] = "docker".into()),
        ),
        (
            "unknown cell field",
            Box::new(|v| v["cells"][3]["extra"] = true.into()),
        ),
        (
            "unknown top-level field",
            Box::new(|v| v["generated_by"] = "me".into()),
        ),
        (
            "missing transcript",
            Box::new(|v| {
                v["cells"][1].as_object_mut().unwrap().remove("transcript");
            }),
        ),
        (
            "negative duration",
            Box::new(|v| v["duration_ms"] = (-1).into()),
        ),
        (
            "reply code 42",
            Box::new(|v| v["cells"][1]["decisive"]["code"] = 42.into()),
        ),
        (
            "unknown failure kind",
            Box::new(|v| v["cells"][1]["outcome"]["failure"]["kind"] = "oops".into()),
        ),
        (
            "two-key condition",
            Box::new(|v| v["quirks"][2]["rules"][0]["when"][0]["line"] = "x".into()),
        ),
    ];
    for (what, break_it) in breaks {
        let mut broken = json.clone();
        break_it(&mut broken);
        assert!(
            !validator.is_valid(&broken),
            "the schema accepts a results.json with {what}"
        );
    }
}

#[test]
fn the_real_quirk_catalog_fits_the_schema() {
    // servers/quirks.yaml uses every kind of condition; the schema must describe them all.
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
        Failure::Tls("received fatal alert: HandshakeFailure".into()),
        Failure::Closed("by the server".into()),
        Failure::Verify("sha256 differs".into()),
        Failure::Io("no data mode".into()),
    ];
    for (cell, failure) in results.cells.iter_mut().zip(failures) {
        cell.outcome = failed(1, "list", failure);
    }
    let dir = tempfile::tempdir().unwrap();
    let files = write_reports(&results, dir.path()).expect("every failure kind serializes");
    let json: Value =
        serde_json::from_str(&fs::read_to_string(files.results_json).unwrap()).unwrap();
    let problems = errors(&validator, &json);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(json["cells"][0]["outcome"]["failure"]["kind"], "tls");
}

/// A matrix the size of the real one: 19 columns (one backend unavailable) x 8 scenarios.
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
        "epsv-all",
        "ascii-default",
    ]
    .iter()
    .map(|id| scenario(id, &format!("{id}: what the client does"), "RFC 4217"))
    .collect();
    let mut cells = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        for (j, s) in scenarios.iter().enumerate() {
            let mut cell = match (&c.unavailable, (i * 7 + j * 3) % 9) {
                (Some(why), _) => CellResult {
                    reason: why.clone(),
                    ..cell(&c.id, c.backend, &s.id, Verdict::Skipped)
                },
                (None, 0..=3) => passed(&c.id, c.backend, &s.id),
                (None, 4 | 5) => CellResult {
                    quirks: vec![quirk_match("session-reuse-required", "522")],
                    decisive: decisive(1, "list", "LIST", Some(522), "522 session reuse required"),
                    reason: "known quirk, tolerated here".into(),
                    transcript: reuse_transcript(522, "session reuse required"),
                    ..cell(&c.id, c.backend, &s.id, Verdict::Quirk)
                },
                (None, 6 | 7) => CellResult {
                    quirks: vec![quirk_match("prot-p-required", "521")],
                    decisive: decisive(
                        2,
                        "stor",
                        "STOR upload.bin",
                        Some(521),
                        "521 PROT P required",
                    ),
                    reason: "not tolerated".into(),
                    ..cell(&c.id, c.backend, &s.id, Verdict::Fail)
                },
                (None, _) => CellResult {
                    reason: "the cell did not finish within 30s".into(),
                    ..cell(&c.id, c.backend, &s.id, Verdict::Error)
                },
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
    let files = write_reports(&results, dir.path()).unwrap();
    let n = 19 * 8;
    assert_eq!(results.cells.len(), n);
    assert_eq!(files.cell_pages.len(), n);
    assert!(files.cell_pages.iter().all(|p| p.is_file()));

    let md = fs::read_to_string(&files.matrix_md).unwrap();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).skip(2).collect();
    assert_eq!(rows.len(), 8);
    assert!(
        rows.iter().all(|r| r.matches(" | ").count() == 19),
        "{rows:#?}"
    );

    let index = fs::read_to_string(&files.index_html).unwrap();
    let linked: BTreeSet<String> = hrefs(&index)
        .into_iter()
        .filter(|h| h.starts_with("cells/"))
        .collect();
    assert_eq!(linked.len(), n, "every cell is linked from the index");
    assert_eq!(index.matches("<td class=\"v v-").count(), n);

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

#[test]
fn junit_has_a_suite_per_column_and_a_case_per_cell() {
    let (_dir, files, results) = written("junit");
    let xml = fs::read_to_string(&files.junit_xml).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml parses");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("12"));
    assert_eq!(root.attribute("failures"), Some("2"));
    assert_eq!(root.attribute("errors"), Some("1"));
    assert_eq!(root.attribute("skipped"), Some("4"));

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
            "vsftpd/explicit-strict [native]",
            "vsftpd/explicit-strict [container]",
            "pure-ftpd/implicit [native]"
        ]
    );
    let mut seen = 0;
    for (suite, column) in suites.iter().zip(&results.columns) {
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), results.scenarios.len(), "{}", names[seen / 3]);
        for (case, scenario) in cases.iter().zip(&results.scenarios) {
            seen += 1;
            assert_eq!(
                case.attribute("name").unwrap(),
                format!("{}::{}", column.id, scenario.id)
            );
            let cell = results
                .cell(&column.id, column.backend, &scenario.id)
                .unwrap();
            let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
            let (failure, error, skipped) = (child("failure"), child("error"), child("skipped"));
            match cell.verdict {
                Verdict::Pass | Verdict::Quirk => {
                    assert!(
                        failure.is_none() && error.is_none() && skipped.is_none(),
                        "{}",
                        cell.name()
                    )
                }
                Verdict::Fail => {
                    let failure =
                        failure.unwrap_or_else(|| panic!("{} has no <failure>", cell.name()));
                    let message = failure.attribute("message").unwrap();
                    assert!(message.contains(&cell.reason), "{message}");
                    if let Some(code) = cell.decisive.as_ref().unwrap().code {
                        assert!(message.contains(&format!("-> {code} ")), "{message}");
                    }
                    assert!(
                        failure
                            .text()
                            .unwrap()
                            .contains("decisive: step 2 (stor upload.bin)")
                    );
                }
                Verdict::Error => {
                    let error = error.unwrap_or_else(|| panic!("{} has no <error>", cell.name()));
                    assert!(
                        error
                            .attribute("message")
                            .unwrap()
                            .contains("did not start")
                    );
                }
                Verdict::Skipped => {
                    let skipped =
                        skipped.unwrap_or_else(|| panic!("{} has no <skipped>", cell.name()));
                    assert_eq!(skipped.attribute("message"), Some(cell.reason.as_str()));
                }
            }
            let out = child("system-out").and_then(|n| n.text()).unwrap_or("");
            assert_eq!(
                out,
                cell.transcript,
                "{}: the transcript is the system-out",
                cell.name()
            );
        }
    }
    assert_eq!(seen, 12);
}

// ---------------------------------------------------------------- matrix.md

#[test]
fn markdown_has_a_row_per_scenario_with_verdicts_and_codes() {
    let (_dir, files, results) = written("markdown");
    let md = fs::read_to_string(&files.matrix_md).unwrap();
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        table.len(),
        2 + results.scenarios.len(),
        "header, rule and one row per scenario:\n{md}"
    );
    assert!(
        table[0].contains("vsftpd/explicit-strict<br>native<br>3.0.3"),
        "{}",
        table[0]
    );
    assert!(
        table[0].contains("vsftpd/explicit-strict<br>container<br>3.0.3"),
        "{}",
        table[0]
    );
    let rows: Vec<Vec<&str>> = table[2..]
        .iter()
        .map(|row| row.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    let expected = [
        ["happy-path", "pass 226", "pass 226", "error", "skipped"],
        [
            "no-session-reuse",
            "quirk 425",
            "quirk 522",
            "skipped",
            "skipped",
        ],
        ["no-prot", "fail", "fail 521", "pass 226", "skipped"],
    ];
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(row.as_slice(), want.as_slice());
    }
    for needle in [
        "## Legend",
        "- **quirk**:",
        "ftps-compat 0.1.0",
        "started 2026-01-02 03:04:05 UTC",
        "## Quirks found",
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
    let files = write_reports(&results, dir.path()).unwrap();
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
    write_reports(&results, other.path()).unwrap();
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

#[test]
fn html_is_self_contained_and_escaped() {
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
            "http://",
            "https://",
            "<port>",
            "<password>",
        ] {
            assert!(
                !html.contains(forbidden),
                "{} contains {forbidden:?}",
                page.display()
            );
        }
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"));
    }
    // The skip reason is the cell's tooltip; every verdict has its text label and colour class.
    assert!(index.contains(&format!(
        "title=\"no-prot on {PURE} [native]: skipped\n{}\"",
        SKIP_PURE.replace('\'', "&#39;")
    )));
    for verdict in ["pass", "quirk", "fail", "error", "skipped"] {
        assert!(
            index.contains(&format!("<td class=\"v v-{verdict}\">")),
            "{verdict}"
        );
    }
    assert!(index.contains("3.0.3") && index.contains("emulates FileZilla Server 0.9.33"));
    assert!(index.contains("<b>2</b> cores, <b>2</b> jobs"));

    let page = fs::read_to_string(files.results_json.parent().unwrap().join(cell_page(
        VSFTPD,
        BackendKind::Native,
        "no-session-reuse",
    )))
    .unwrap();
    let scenario = &results.scenarios[1];
    for needle in [
        "A client that never resumes TLS sessions on data connections (python ftplib &lt;3.x &amp; co).",
        "RFC 4217 section 10.2",
        "Data TLS must resume the control session",
        "Resume the control connection&#39;s TLS session on every data connection.",
        "S&lt; 227 Entering Passive Mode (127,0,0,1,&lt;port&gt;).",
        "S&lt; 220 ready &amp; waiting",
        "SSL session reuse &lt;required&gt; &amp; refused",
        "href=\"../index.html\"",
    ] {
        assert!(page.contains(needle), "the detail page lacks {needle:?}");
    }
    assert!(scenario.id == "no-session-reuse");
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
fn assert_links_resolve(page: &Path, dom: &str) -> Vec<String> {
    let ids = ids(dom);
    let links = hrefs(dom);
    assert!(!links.is_empty(), "{} has no links", page.display());
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
        }
        if !fragment.is_empty() && file.is_empty() {
            assert!(
                ids.contains(fragment),
                "{} links to #{fragment}, which is not on the page",
                page.display()
            );
        }
    }
    links
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
    let work = tempfile::tempdir().unwrap();

    // The index as the browser built it: one linked cell per (column, scenario), all resolving.
    let dom = run_chromium(
        &binary,
        work.path(),
        &["--dump-dom".into()],
        &file_url(&files.index_html),
    );
    assert!(
        dom.contains("<table class=\"matrix\">"),
        "not the matrix:\n{dom}"
    );
    let links = assert_links_resolve(&files.index_html, &dom);
    // Each matrix cell is a link (quirk cards below the table link to cells again).
    let matrix_cell =
        regex::Regex::new(r#"<td class="v v-[a-z]+"><a href="(cells/[^"]+)""#).unwrap();
    let from_matrix: Vec<&str> = matrix_cell
        .captures_iter(&dom)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(
        from_matrix.len(),
        results.columns.len() * results.scenarios.len()
    );
    let expected: Vec<String> = results
        .columns
        .iter()
        .flat_map(|c| results.scenarios.iter().map(move |s| (c, s)))
        .map(|(c, s)| cell_page(&c.id, c.backend, &s.id))
        .collect();
    let mut linked = from_matrix.clone();
    linked.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(linked, want, "one link per (column, scenario)");
    let cell_links: BTreeSet<&String> = links.iter().filter(|l| l.starts_with("cells/")).collect();
    assert_eq!(
        cell_links.len(),
        results.cells.len(),
        "every link to a cell is to one of the cells"
    );

    // A detail page loads, shows its transcript, and links back.
    let cell = results
        .cell(VSFTPD, BackendKind::Native, "no-session-reuse")
        .unwrap();
    let page = dir
        .path()
        .join(cell_page(&cell.column, cell.backend, &cell.scenario));
    let detail = run_chromium(
        &binary,
        work.path(),
        &["--dump-dom".into()],
        &file_url(&page),
    );
    let links = assert_links_resolve(&page, &detail);
    assert!(links.iter().any(|l| l == "../index.html"));
    let text = html_text(&detail);
    for line in cell.transcript.lines() {
        assert!(
            text.contains(line),
            "the detail page's DOM lacks transcript line {line:?}"
        );
    }
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
