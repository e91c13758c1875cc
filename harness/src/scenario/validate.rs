//! Every check a scenario or client profile passes after it parses: the one validator
//! behind `check`, `run` and `run --target`. Each problem points at the key it is about.

use std::path::Path;

use rustls::pki_types::ServerName;

use super::model::{ClientSpec, Expect, RowKind, Scenario, Step, Upload};
use super::spans::Spans;
use crate::client::tls::TlsVersion;
use crate::yaml::LoadError;

/// The largest size or offset a scenario may name: larger is a typo, not a test.
pub const MAX_SIZE: u64 = 1 << 40;

/// What is wrong with a scenario that parses.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("id {id:?} does not match the file name: expected id: {stem}")]
    IdNotFileName { id: String, stem: String },
    #[error("a client profile cannot build on another profile: remove client.profile")]
    ProfileInProfile,
    #[error("client.tls.min {min} is above client.tls.max {max}")]
    TlsVersions {
        min: &'static str,
        max: &'static str,
    },
    #[error("client.tls.server_name {0:?} is neither a DNS name nor an IP address")]
    ServerName(String),
    #[error(
        "client.tls.alpn: protocol name {name:?} is {len} bytes; an ALPN name is 1 to 255 bytes"
    )]
    AlpnLength { name: String, len: usize },
    #[error("client.{0} is 0: no reply would fit; give a size above 0")]
    ZeroLimit(&'static str),
    #[error("{what} is {value} bytes, over the limit of {MAX_SIZE} bytes (1 TiB)")]
    TooLarge { what: String, value: u64 },
    #[error(
        "{what} {text:?} contains a line break (CR or LF): a step sends one command line; \
         write each command as a step of its own"
    )]
    LineBreak { what: String, text: String },
    #[error("expect: reply code {0} is not an FTP reply code (100 to 599)")]
    ReplyCode(u16),
    #[error(
        "expect: step {step} is beyond the last step ({last}); steps count from 1, and 0 is \
         connecting"
    )]
    StepBeyondLast { step: usize, last: usize },
}

/// A problem and the dotted path of the key it is about (see [`Spans`]).
struct Problem {
    at: String,
    invalid: Invalid,
}

/// Checks `scenario` (as a behaviour or as a client profile, `kind`) read from `path`;
/// every problem, each at its key.
pub fn validate(
    path: &Path,
    scenario: &Scenario,
    kind: RowKind,
    spans: &Spans,
) -> Result<(), Vec<LoadError>> {
    let mut problems = Vec::new();
    check_id(path, scenario, &mut problems);
    if kind == RowKind::Client && scenario.client.profile.is_some() {
        problems.push(problem("client.profile", Invalid::ProfileInProfile));
    }
    check_client(&scenario.client, spans, &mut problems);
    for (index, step) in scenario.steps.iter().enumerate() {
        check_step(index, step, &mut problems);
    }
    check_expect(&scenario.expect, scenario.steps.len(), &mut problems);
    if problems.is_empty() {
        return Ok(());
    }
    let mut errors: Vec<LoadError> = problems
        .into_iter()
        .map(|p| {
            let (line, column) = spans.at(&p.at);
            LoadError {
                path: path.to_owned(),
                line,
                column,
                message: p.invalid.to_string(),
            }
        })
        .collect();
    errors.sort_by_key(|e| (e.line, e.column));
    Err(errors)
}

fn problem(at: impl Into<String>, invalid: Invalid) -> Problem {
    Problem {
        at: at.into(),
        invalid,
    }
}

/// The id is the file name, so `--scenario ID` and the file agree.
fn check_id(path: &Path, scenario: &Scenario, problems: &mut Vec<Problem>) {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if scenario.id != stem {
        problems.push(problem(
            "id",
            Invalid::IdNotFileName {
                id: scenario.id.clone(),
                stem: stem.to_string(),
            },
        ));
    }
}

fn version_name(version: TlsVersion) -> &'static str {
    match version {
        TlsVersion::Tls12 => "\"1.2\"",
        TlsVersion::Tls13 => "\"1.3\"",
    }
}

fn check_client(client: &ClientSpec, spans: &Spans, problems: &mut Vec<Problem>) {
    let tls = &client.tls;
    if tls.min > tls.max {
        // At whichever of the two the file wrote (a profile may have set the other).
        let at = if spans.has("client.tls.min") {
            "client.tls.min"
        } else {
            "client.tls.max"
        };
        problems.push(problem(
            at,
            Invalid::TlsVersions {
                min: version_name(tls.min),
                max: version_name(tls.max),
            },
        ));
    }
    if let Some(name) = &tls.server_name
        && ServerName::try_from(name.as_str()).is_err()
    {
        problems.push(problem(
            "client.tls.server_name",
            Invalid::ServerName(name.clone()),
        ));
    }
    for (index, name) in tls.alpn.iter().enumerate() {
        if name.is_empty() || name.len() > 255 {
            problems.push(problem(
                format!("client.tls.alpn.{index}"),
                Invalid::AlpnLength {
                    name: name.clone(),
                    len: name.len(),
                },
            ));
        }
    }
    if client.max_line == 0 {
        problems.push(problem("client.max_line", Invalid::ZeroLimit("max_line")));
    }
    if client.max_reply.0 == 0 {
        problems.push(problem("client.max_reply", Invalid::ZeroLimit("max_reply")));
    }
    for (at, value) in [
        ("client.max_line", client.max_line as u64),
        ("client.max_reply", client.max_reply.0),
    ] {
        check_size(at.into(), at.into(), value, problems);
    }
    check_line(
        "client.auth".into(),
        "client.auth".into(),
        &client.auth,
        problems,
    );
    for (index, mechanism) in client.auth_fallback.iter().enumerate() {
        let at = format!("client.auth_fallback.{index}");
        check_line(at.clone(), at, mechanism, problems);
    }
}

fn check_size(at: String, what: String, value: u64, problems: &mut Vec<Problem>) {
    if value > MAX_SIZE {
        problems.push(problem(at, Invalid::TooLarge { what, value }));
    }
}

/// Text that goes onto the control connection must be one line: a CR or LF in it would
/// send a second command the scenario does not show as a step.
fn check_line(at: String, what: String, text: &str, problems: &mut Vec<Problem>) {
    if text.contains(['\r', '\n']) {
        problems.push(problem(
            at,
            Invalid::LineBreak {
                what,
                text: text.to_string(),
            },
        ));
    }
}

fn check_step(index: usize, step: &Step, problems: &mut Vec<Problem>) {
    // Paths are the file's (`steps.0.raw`); messages count steps from 1, as expect: does.
    let number = index + 1;
    let mut line = |name: &str, text: &str| {
        let at = format!("steps.{index}.{name}");
        check_line(at, format!("step {number} ({name})"), text, problems);
    };
    match step {
        Step::LoginAs(credentials) => {
            for (field, text) in [
                ("user", &credentials.user),
                ("password", &credentials.password),
            ] {
                check_line(
                    format!("steps.{index}.login_as.{field}"),
                    format!("step {number} (login_as) {field}"),
                    text,
                    problems,
                );
            }
        }
        Step::Auth(text) => line("auth", text),
        Step::Pbsz(arg) => line("pbsz", &arg.0),
        Step::Prot(text) => line("prot", text),
        Step::Type(text) => line("type", text),
        Step::Size(text) => line("size", text),
        Step::Dele(text) => line("dele", text),
        Step::Mkd(text) => line("mkd", text),
        Step::Rmd(text) => line("rmd", text),
        Step::Cwd(text) => line("cwd", text),
        Step::Raw(text) => line("raw", text),
        Step::Probe(text) => line("probe", text),
        Step::Retr(download) => {
            line("retr", &download.path);
            check_rest(index, "retr", download.rest, problems);
        }
        Step::Stor(upload) => check_upload(index, "stor", upload, problems),
        Step::Appe(upload) => check_upload(index, "appe", upload, problems),
        Step::Pipeline(commands) => {
            for (item, command) in commands.iter().enumerate() {
                check_line(
                    format!("steps.{index}.pipeline.{item}"),
                    format!("step {number} (pipeline line {})", item + 1),
                    command,
                    problems,
                );
            }
        }
        Step::Login
        | Step::Ccc
        | Step::DataMode(_)
        | Step::DataTls(_)
        | Step::EpsvAll
        | Step::List
        | Step::Nlst
        | Step::Mlsd
        | Step::Pwd
        | Step::Feat
        | Step::Syst
        | Step::Noop
        | Step::Quit => {}
    }
}

fn check_upload(index: usize, name: &str, upload: &Upload, problems: &mut Vec<Problem>) {
    check_line(
        format!("steps.{index}.{name}.path"),
        format!("step {} ({name}) path", index + 1),
        &upload.path,
        problems,
    );
    check_size(
        format!("steps.{index}.{name}.size"),
        format!("step {} ({name}) size", index + 1),
        upload.size.0,
        problems,
    );
    check_rest(index, name, upload.rest, problems);
}

fn check_rest(index: usize, name: &str, rest: Option<u64>, problems: &mut Vec<Problem>) {
    if let Some(rest) = rest {
        check_size(
            format!("steps.{index}.{name}.rest"),
            format!("step {} ({name}) rest offset", index + 1),
            rest,
            problems,
        );
    }
}

fn check_expect(expect: &Expect, steps: usize, problems: &mut Vec<Problem>) {
    let (kind, step) = match expect {
        Expect::Completed => return,
        Expect::Reply { code, step, .. } => {
            if !(100..=599).contains(code) {
                problems.push(problem("expect.reply.code", Invalid::ReplyCode(*code)));
            }
            ("reply", step)
        }
        Expect::Timeout { step } => ("timeout", step),
        Expect::Tls { step } => ("tls", step),
        Expect::Closed { step } => ("closed", step),
    };
    if let Some(step) = *step
        && step > steps
    {
        problems.push(problem(
            format!("expect.{kind}.step"),
            Invalid::StepBeyondLast { step, last: steps },
        ));
    }
}
