//! `probe`: point the client at any FTPS server and learn what a client must do to work
//! with it. Each question is a small scenario ([`checks`]) whose run is the evidence; the
//! answers make a requirements table and a recipe per popular client ([`recipes`]).
//! Non-destructive (logins, listings and harmless commands only) and bounded in time.

pub mod certificate;
pub mod checks;
pub mod recipes;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::Failure;
use crate::client::data::{DataMode, DataTls};
use crate::client::tls::{TlsVersion, Verify};
use crate::runner::{self, ConnectMode, Endpoint, Outcome, RunResult};
use crate::scenario::Scenario;
use crate::target::{Reach, TargetUrl};
use crate::transcript::{Channel, Event};
pub use certificate::Certificate;
pub use checks::Question;
pub use recipes::Recipe;

/// The version of the `--json` format (docs/probe.md).
pub const PROBE_FORMAT: u32 = 1;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Go on when the certificate does not verify.
    pub insecure: bool,
    /// The whole probe's time limit.
    pub limit: Duration,
    /// Each check's reply and data timeout.
    pub wait: Duration,
    /// The `--ca` file, named in the recipes.
    pub ca_file: Option<String>,
    /// `--write-dir`: uploads are tried in a new folder below this one (`.` is the login
    /// folder), removed afterwards.
    pub write_dir: Option<String>,
    /// `--read`: a file on the server to download.
    pub read: Option<String>,
}

/// Yes, no, or not found out (and why, in the detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Yes,
    No,
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::No => "no",
            Verdict::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub question: Question,
    pub text: &'static str,
    pub verdict: Verdict,
    /// What proves it, in a line: `522 Data connections must be encrypted. (on LIST)`.
    pub detail: String,
    /// The check's transcript.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Identity {
    pub banner: Vec<String>,
    pub syst: Option<String>,
    /// FEAT's lines before AUTH (explicit mode only).
    pub feat_before_auth: Vec<String>,
    pub feat_after_login: Vec<String>,
    /// A best guess from the banner, SYST and FEAT: `vsFTPd 3.0.3`.
    pub product: Option<String>,
}

/// How the server was reached: each mode tried, and the one used.
#[derive(Debug, Clone, Serialize)]
pub struct Reached {
    /// `ftpes://127.0.0.1:21`.
    pub url: String,
    pub mode: ConnectMode,
    pub port: u16,
    pub notes: Vec<String>,
    /// The end-entity certificate of the session that answered (DER).
    #[serde(skip)]
    pub certificate_der: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// [`PROBE_FORMAT`].
    pub format: u32,
    pub harness_version: String,
    /// None when no mode answered.
    pub reached: Option<Reached>,
    pub identity: Identity,
    /// The server's certificate, when a handshake got that far.
    pub certificate: Option<Certificate>,
    pub findings: Vec<Finding>,
    pub recipes: Vec<Recipe>,
    pub duration_ms: u64,
    /// Whether the server was reached and logged into (exit code 0); else 1.
    pub completed: bool,
    /// The probe's time limit ran out: some questions are unanswered.
    pub timed_out: bool,
}

/// The verdict on `question` among `findings`; unknown when it was not asked.
fn verdict_in(findings: &[Finding], question: Question) -> Verdict {
    findings
        .iter()
        .find(|f| f.question == question)
        .map_or(Verdict::Unknown, |f| f.verdict)
}

impl ProbeReport {
    pub fn verdict(&self, question: Question) -> Verdict {
        verdict_in(&self.findings, question)
    }
}

/// Runs the probe; `endpoint_trust` supplies the CA roots.
pub async fn probe(
    url: &TargetUrl,
    trust: crate::client::tls::Trust,
    options: &ProbeOptions,
) -> ProbeReport {
    let clock = Instant::now();
    let deadline = clock + options.limit;
    let mut report = ProbeReport {
        format: PROBE_FORMAT,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        reached: None,
        identity: Identity::default(),
        certificate: None,
        findings: Vec::new(),
        recipes: Vec::new(),
        duration_ms: 0,
        completed: false,
        timed_out: false,
    };
    let mut prober = Prober {
        deadline,
        findings: Vec::new(),
        timed_out: false,
    };
    let reached = match tokio::time::timeout(options.limit, reach(url, &trust, options.wait)).await
    {
        Ok(Ok(reached)) => Some(reached),
        Ok(Err(notes)) => {
            prober.say(
                Question::Reached,
                Verdict::No,
                notes.last().cloned().unwrap_or_default(),
                notes,
            );
            None
        }
        Err(_) => None,
    };
    if let Some(reached) = reached {
        report.certificate = reached
            .certificate_der
            .as_deref()
            .and_then(certificate::read);
        prober.say(
            Question::Reached,
            Verdict::Yes,
            format!("{} answered", reached.url),
            vec![],
        );
        let mut endpoint = url.endpoint(reached.mode, reached.port);
        endpoint.trust = trust;
        let verify = prober.certificate(&endpoint, &reached, options).await;
        report.reached = Some(reached.clone());
        if let Some(verify) = verify {
            let base = checks::Base {
                mode: reached.mode,
                verify,
                wait: options.wait,
            };
            report.completed = prober
                .questions(&base, &endpoint, &mut report.identity)
                .await;
            if report.completed {
                prober.read(&base, &endpoint, options.read.as_deref()).await;
                prober
                    .uploads(&base, &endpoint, options.write_dir.as_deref())
                    .await;
            }
        }
    }
    report.timed_out = prober.timed_out;
    report.findings = prober.findings;
    // Recipes only for a server that was logged into: they rest on the findings.
    if report.completed {
        report.recipes = recipes::all(
            &report,
            &url.user,
            &url.tls_name,
            options.ca_file.as_deref(),
        );
    }
    report.duration_ms = clock.elapsed().as_millis() as u64;
    report
}

/// Which mode answers: the one the URL names, or (no scheme) explicit and then implicit.
/// The error holds what each attempt got, the last with a hint at the other mode.
pub async fn reach(
    url: &TargetUrl,
    trust: &crate::client::tls::Trust,
    wait: Duration,
) -> Result<Reached, Vec<String>> {
    let mut notes: Vec<String> = url.note.iter().cloned().collect();
    let tries = match url.reach {
        Reach::Known { mode, port } => vec![(mode, port)],
        Reach::Try {
            explicit_port,
            implicit_port,
        } => vec![
            (ConnectMode::Explicit, explicit_port),
            (ConnectMode::Implicit, implicit_port),
        ],
    };
    let several = tries.len() > 1;
    for (mode, port) in tries {
        let mut endpoint = url.endpoint(mode, port);
        endpoint.trust = trust.clone();
        // Reaching is about the handshake, not yet about trust.
        let base = checks::Base {
            mode,
            verify: Verify::None,
            wait,
        };
        let shown = url.display(mode, port);
        let bound = wait * 3;
        match tokio::time::timeout(bound, runner::run(&base.login(), &endpoint)).await {
            Ok(Ok(result)) if connected(&result) => {
                if several {
                    notes.push(format!("{shown} answered"));
                }
                let certificate_der = result.transcript.events.iter().find_map(|e| match e {
                    Event::Tls {
                        channel: Channel::Control,
                        handshake,
                    } => handshake.peer_certificate.clone(),
                    _ => None,
                });
                return Ok(Reached {
                    url: shown,
                    mode,
                    port,
                    notes,
                    certificate_der,
                });
            }
            Ok(Ok(result)) => notes.push(format!("{shown}: {}", failure_line(&result))),
            Ok(Err(e)) => notes.push(format!("{shown}: {e}")),
            Err(_) => notes.push(format!("{shown}: no answer within {bound:?}")),
        }
    }
    let hint = match url.reach {
        Reach::Known {
            mode: ConnectMode::Implicit,
            ..
        } => " (if the server speaks explicit FTPS, AUTH TLS, write ftpes://)",
        Reach::Known { .. } => " (if the server speaks implicit FTPS, write ftps://)",
        Reach::Try { .. } => "",
    };
    if let Some(last) = notes.last_mut() {
        last.push_str(hint);
    }
    Err(notes)
}

struct Prober {
    deadline: Instant,
    findings: Vec<Finding>,
    timed_out: bool,
}

/// The lines of a run, for evidence.
fn evidence(result: &RunResult) -> Vec<String> {
    result
        .transcript
        .render()
        .lines()
        .map(String::from)
        .collect()
}

/// The replies of step `index` (0: connecting).
fn replies_of_step(result: &RunResult, index: usize) -> Vec<(u16, Vec<String>)> {
    let mut step = None;
    let mut replies = Vec::new();
    for event in &result.transcript.events {
        match event {
            Event::Step { index: i, .. } => step = Some(*i),
            Event::Epilogue { .. } => step = None,
            Event::Reply { code, lines } if step == Some(index) => {
                replies.push((*code, lines.clone()))
            }
            _ => {}
        }
    }
    replies
}

/// `LIST -> 522 Data connections must be encrypted.` for a failed run.
fn failure_line(result: &RunResult) -> String {
    match &result.outcome {
        Outcome::Completed => "completed".into(),
        Outcome::Failed {
            step,
            label,
            failure,
        } => format!("{} at step {step} ({label})", failure_text(failure)),
    }
}

fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Reply { code, text } => format!("{code} {text}"),
        other => other.to_string(),
    }
}

/// Where a run failed, and how; None when it completed.
fn failed_step(result: &RunResult) -> Option<(usize, &Failure)> {
    match &result.outcome {
        Outcome::Completed => None,
        Outcome::Failed { step, failure, .. } => Some((*step, failure)),
    }
}

impl Prober {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Runs one check within what is left of the probe's time.
    async fn run(&mut self, scenario: &Scenario, endpoint: &Endpoint) -> Result<RunResult, String> {
        let left = self.left();
        if left.is_zero() {
            self.timed_out = true;
            return Err("not asked: the probe's time limit ran out (--timeout)".into());
        }
        match tokio::time::timeout(left, runner::run(scenario, endpoint)).await {
            Err(_) => {
                self.timed_out = true;
                Err("not answered: the probe's time limit ran out (--timeout)".into())
            }
            Ok(Err(e)) => Err(format!("not asked: {e}")),
            Ok(Ok(result)) => Ok(result),
        }
    }

    fn say(&mut self, question: Question, verdict: Verdict, detail: String, ev: Vec<String>) {
        self.findings.push(Finding {
            question,
            text: question.text(),
            verdict,
            detail,
            evidence: ev,
        });
    }

    /// Asks `question` with `scenario`; `answer` reads a run into a verdict and detail.
    async fn ask(
        &mut self,
        question: Question,
        scenario: Scenario,
        endpoint: &Endpoint,
        answer: impl FnOnce(&RunResult) -> (Verdict, String),
    ) -> Option<RunResult> {
        match self.run(&scenario, endpoint).await {
            Err(why) => {
                self.say(question, Verdict::Unknown, why, Vec::new());
                None
            }
            Ok(result) => {
                let (verdict, detail) = answer(&result);
                self.say(question, verdict, detail, evidence(&result));
                Some(result)
            }
        }
    }

    /// Whether the certificate verifies; the verification to use from here on, or None
    /// to stop (it does not, and `--insecure` was not given).
    async fn certificate(
        &mut self,
        endpoint: &Endpoint,
        reached: &Reached,
        options: &ProbeOptions,
    ) -> Option<Verify> {
        let base = checks::Base {
            mode: reached.mode,
            verify: Verify::Ca,
            wait: options.wait,
        };
        let result = match self.run(&base.login(), endpoint).await {
            Ok(result) => result,
            Err(why) => {
                self.say(Question::CertificateVerifies, Verdict::Unknown, why, vec![]);
                return None;
            }
        };
        let tls_error = match failed_step(&result) {
            Some((
                0,
                Failure::Tls {
                    channel: Channel::Control,
                    message,
                },
            )) => Some(message.clone()),
            _ => None,
        };
        match tls_error {
            None => {
                self.say(
                    Question::CertificateVerifies,
                    Verdict::Yes,
                    format!("verifies for {}", endpoint.tls_name),
                    evidence(&result),
                );
                Some(Verify::Ca)
            }
            Some(message) => {
                let next = if options.insecure {
                    "; going on without verification (--insecure)"
                } else {
                    "; give the CA with --ca FILE, or --insecure to go on without verification"
                };
                self.say(
                    Question::CertificateVerifies,
                    Verdict::No,
                    format!("{message}{next}"),
                    evidence(&result),
                );
                options.insecure.then_some(Verify::None)
            }
        }
    }

    /// Every question after the certificate; false when the login fails.
    async fn questions(
        &mut self,
        base: &checks::Base,
        endpoint: &Endpoint,
        identity: &mut Identity,
    ) -> bool {
        let login = self
            .ask(
                Question::LoginWorks,
                base.login(),
                endpoint,
                |r| match failed_step(r) {
                    None => (Verdict::Yes, format!("logged in as {}", endpoint.user)),
                    Some(_) if endpoint.password.is_empty() => (
                        Verdict::No,
                        format!(
                            "{}; no password was given (in the URL, or $FTP_PASSWORD)",
                            failure_line(r)
                        ),
                    ),
                    Some(_) => (Verdict::No, failure_line(r)),
                },
            )
            .await;
        if !login.is_some_and(|r| r.outcome == Outcome::Completed) {
            return false;
        }
        if let Ok(result) = self.run(&base.identity(), endpoint).await {
            *identity = read_identity(&result, base.mode);
        }
        for (question, version) in [
            (Question::Tls12Accepted, TlsVersion::Tls12),
            (Question::Tls13Accepted, TlsVersion::Tls13),
        ] {
            self.ask(
                question,
                base.tls_version(version),
                endpoint,
                |r| match failed_step(r) {
                    None => (Verdict::Yes, handshake_line(r).unwrap_or_default()),
                    Some((0, failure)) => (Verdict::No, failure_text(failure)),
                    Some(_) => (
                        Verdict::Yes,
                        format!("the handshake works; later: {}", failure_line(r)),
                    ),
                },
            )
            .await;
        }
        self.auth_mechanisms(base, endpoint).await;
        self.protection(base, endpoint).await;
        self.reuse(base, endpoint).await;
        self.data_modes(base, endpoint).await;
        self.ask(Question::Ccc, base.ccc(), endpoint, |r| {
            match failed_step(r) {
                None => (Verdict::Yes, reply_of(r, 5).unwrap_or_default()),
                Some((5, failure)) => (Verdict::No, failure_text(failure)),
                Some(_) => (Verdict::Unknown, failure_line(r)),
            }
        })
        .await;
        self.ask(
            Question::Rest,
            base.rest(),
            endpoint,
            |r| match failed_step(r) {
                None => (Verdict::Yes, reply_of(r, 5).unwrap_or_default()),
                Some((5, failure)) => (Verdict::No, failure_text(failure)),
                Some(_) => (Verdict::Unknown, failure_line(r)),
            },
        )
        .await;
        true
    }

    /// A download of the file the user named, if any.
    async fn read(&mut self, base: &checks::Base, endpoint: &Endpoint, path: Option<&str>) {
        let Some(path) = path else {
            let why = "not asked: name a file with --read PATH";
            self.say(
                Question::DownloadWorks,
                Verdict::Unknown,
                why.into(),
                vec![],
            );
            return;
        };
        self.ask(
            Question::DownloadWorks,
            base.read(path),
            endpoint,
            |r| match failed_step(r) {
                None => (Verdict::Yes, transferred_line(r)),
                Some(_) => (Verdict::No, failure_line(r)),
            },
        )
        .await;
    }

    /// Uploads with and without close_notify, in a folder of the probe's own.
    async fn uploads(&mut self, base: &checks::Base, endpoint: &Endpoint, parent: Option<&str>) {
        let Some(parent) = parent else {
            for question in [
                Question::UploadWorks,
                Question::UploadNeedsCloseNotify,
                Question::AsciiByDefault,
            ] {
                let why = "not asked: the probe writes nothing unless given --write-dir DIR";
                self.say(question, Verdict::Unknown, why.into(), vec![]);
            }
            return;
        };
        let name = crate::target::work_dir_name().replace("ftps-compat-", "ftps-compat-probe-");
        let folder = match parent.trim_end_matches('/') {
            "" | "." => name,
            parent => format!("{parent}/{name}"),
        };
        if let Err(why) = crate::target::make_work_dir(endpoint, base.verify, &folder).await {
            for question in [
                Question::UploadWorks,
                Question::UploadNeedsCloseNotify,
                Question::AsciiByDefault,
            ] {
                let detail = format!("not asked: cannot make the folder {folder}: {why}");
                self.say(question, Verdict::Unknown, detail, vec![]);
            }
            return;
        }
        let works = self
            .ask(
                Question::UploadWorks,
                base.upload(&folder, "probe.bin", true),
                endpoint,
                |r| match failed_step(r) {
                    None => (Verdict::Yes, "256 KiB up and back, the same bytes".into()),
                    Some(_) => (Verdict::No, failure_line(r)),
                },
            )
            .await
            .is_some_and(|r| r.outcome == Outcome::Completed);
        if works {
            self.ask(
                Question::UploadNeedsCloseNotify,
                base.upload(&folder, "probe-no-close-notify.bin", false),
                endpoint,
                |r| match failed_step(r) {
                    None => (
                        Verdict::No,
                        "an upload closed without close_notify works".into(),
                    ),
                    Some(_) => (
                        Verdict::Yes,
                        format!("without close_notify: {}", failure_line(r)),
                    ),
                },
            )
            .await;
        } else {
            self.say(
                Question::UploadNeedsCloseNotify,
                Verdict::Unknown,
                "not asked: no upload works".into(),
                vec![],
            );
        }
        if works {
            self.ask(
                Question::AsciiByDefault,
                base.default_type(&folder, "probe-default-type.bin"),
                endpoint,
                |r| match &r.outcome {
                    Outcome::Completed => (
                        Verdict::No,
                        "64 KiB up and back without TYPE I, the same bytes".into(),
                    ),
                    Outcome::Failed {
                        failure: Failure::Corrupted { detail },
                        ..
                    } => (Verdict::Yes, format!("without TYPE I: {detail}")),
                    Outcome::Failed { .. } => (
                        Verdict::Unknown,
                        format!("without TYPE I: {}", failure_line(r)),
                    ),
                },
            )
            .await;
        } else {
            let why = "not asked: no upload works";
            self.say(
                Question::AsciiByDefault,
                Verdict::Unknown,
                why.into(),
                vec![],
            );
        }
        let files = [
            "probe.bin".to_string(),
            "probe-no-close-notify.bin".to_string(),
            "probe-default-type.bin".to_string(),
        ];
        let (verdict, detail) =
            match crate::target::remove_work_dir(endpoint, base.verify, &folder, &files).await {
                Ok(()) => (Verdict::Yes, format!("{folder} and its files are gone")),
                Err(why) => (
                    Verdict::No,
                    format!("{folder} is still there ({why}): remove it by hand"),
                ),
            };
        self.say(Question::WriteFolderRemoved, verdict, detail, vec![]);
    }

    async fn auth_mechanisms(&mut self, base: &checks::Base, endpoint: &Endpoint) {
        for (question, mechanism) in [
            (Question::AuthTls, "TLS"),
            (Question::AuthSsl, "SSL"),
            (Question::AuthTlsC, "TLS-C"),
            (Question::AuthTlsP, "TLS-P"),
        ] {
            if base.mode == ConnectMode::Implicit {
                self.say(
                    question,
                    Verdict::Unknown,
                    "not asked: an implicit server has no AUTH".into(),
                    vec![],
                );
                continue;
            }
            self.ask(
                question,
                base.auth(mechanism),
                endpoint,
                |r| match failed_step(r) {
                    None => (Verdict::Yes, reply_of(r, 1).unwrap_or_default()),
                    Some((1, failure)) => (Verdict::No, failure_text(failure)),
                    Some(_) => (Verdict::Unknown, failure_line(r)),
                },
            )
            .await;
        }
    }

    async fn protection(&mut self, base: &checks::Base, endpoint: &Endpoint) {
        if base.mode == ConnectMode::Implicit {
            // Implicit clients often send no PROT and speak TLS on the data connection:
            // protected by default answers both questions.
            let result = self
                .ask(
                    Question::ProtectedByDefault,
                    base.no_prot(DataTls::On),
                    endpoint,
                    |r| match failed_step(r) {
                        None => (Verdict::Yes, "a TLS listing without PBSZ/PROT works".into()),
                        Some((step, failure)) => (
                            Verdict::No,
                            failed_at(r, step, failure, "TLS data, no PROT"),
                        ),
                    },
                )
                .await;
            let protected = result
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::Completed);
            // PROT P is required when neither protected nor clear data works without it.
            let clear = self.run(&base.no_prot(DataTls::Off), endpoint).await;
            let (verdict, detail, ev) = match (&clear, protected) {
                (Err(why), _) => (Verdict::Unknown, why.clone(), vec![]),
                (Ok(r), true) => (
                    Verdict::No,
                    "no: data is protected without them".to_string(),
                    evidence(r),
                ),
                (Ok(r), false) => match failed_step(r) {
                    None => (
                        Verdict::No,
                        "no: clear data is the default without them".to_string(),
                        evidence(r),
                    ),
                    Some((step, failure)) => (
                        Verdict::Yes,
                        format!(
                            "{}; TLS data without PROT fails too",
                            failed_at(r, step, failure, "clear data, no PROT")
                        ),
                        evidence(r),
                    ),
                },
            };
            self.say(Question::ProtPRequired, verdict, detail, ev);
        } else {
            self.ask(
                Question::ProtPRequired,
                base.no_prot(DataTls::Off),
                endpoint,
                |r| match failed_step(r) {
                    None => (
                        Verdict::No,
                        "a clear listing without PBSZ/PROT works".into(),
                    ),
                    Some((step, failure)) => (
                        Verdict::Yes,
                        failed_at(r, step, failure, "clear data, no PROT"),
                    ),
                },
            )
            .await;
        }
        self.ask(
            Question::ClearDataAllowed,
            base.prot_c(),
            endpoint,
            |r| match failed_step(r) {
                None => (Verdict::Yes, "a clear listing after PROT C works".into()),
                Some((step, failure)) => (Verdict::No, failed_at(r, step, failure, "")),
            },
        )
        .await;
    }

    async fn reuse(&mut self, base: &checks::Base, endpoint: &Endpoint) {
        for (question, version, accepted) in [
            (
                Question::ReuseRequiredTls12,
                TlsVersion::Tls12,
                Question::Tls12Accepted,
            ),
            (
                Question::ReuseRequiredTls13,
                TlsVersion::Tls13,
                Question::Tls13Accepted,
            ),
        ] {
            if self.verdict(accepted) != Verdict::Yes {
                self.say(
                    question,
                    Verdict::Unknown,
                    "not asked: the server does not accept this TLS version".into(),
                    vec![],
                );
                continue;
            }
            self.ask(
                question,
                base.no_reuse(version),
                endpoint,
                |r| match failed_step(r) {
                    None => (
                        Verdict::No,
                        "a listing whose data handshake is a full one works".into(),
                    ),
                    Some((_, failure)) => {
                        let closed = r.transcript.events.iter().any(|e| {
                            matches!(
                                e,
                                Event::Closed {
                                    channel: Channel::Control,
                                    ..
                                }
                            )
                        });
                        let after_150 = r
                            .transcript
                            .events
                            .iter()
                            .any(|e| matches!(e, Event::Reply { code: 150, .. }));
                        let mut detail = failure_text(failure);
                        if after_150 {
                            detail.push_str(", after 150");
                        }
                        if closed {
                            detail.push_str(", control connection closed");
                        }
                        (Verdict::Yes, detail)
                    }
                },
            )
            .await;
        }
        self.ask(
            Question::LaterDataConnectionsWork,
            base.sequence(),
            endpoint,
            |r| match failed_step(r) {
                None => (
                    Verdict::Yes,
                    format!("all 6 listings work; {}", resumed_line(r)),
                ),
                Some((step, failure)) => (
                    Verdict::No,
                    format!("listing {} of 6: {}", step - 4, failure_text(failure)),
                ),
            },
        )
        .await;
    }

    async fn data_modes(&mut self, base: &checks::Base, endpoint: &Endpoint) {
        for (question, mode) in [
            (Question::Pasv, DataMode::Pasv),
            (Question::Epsv, DataMode::Epsv),
            (Question::Port, DataMode::Port),
            (Question::Eprt, DataMode::Eprt),
        ] {
            let result = self
                .ask(question, base.data_mode(mode), endpoint, data_answer)
                .await;
            if mode == DataMode::Pasv {
                let announced = result.as_ref().and_then(|r| {
                    r.transcript.events.iter().find_map(|e| match e {
                        Event::PasvAddress { announced, used } => {
                            Some(format!("PASV named {announced}; the client used {used}"))
                        }
                        _ => None,
                    })
                });
                let (verdict, detail) = match (&result, announced) {
                    (None, _) => (Verdict::Unknown, "not asked".to_string()),
                    (Some(_), Some(detail)) => (Verdict::Yes, detail),
                    (Some(r), None)
                        if r.transcript
                            .events
                            .iter()
                            .any(|e| matches!(e, Event::Reply { code: 227, .. })) =>
                    {
                        (Verdict::No, "PASV named the server's own address".into())
                    }
                    (Some(_), None) => (Verdict::Unknown, "no 227 reply to read".into()),
                };
                let ev = result.as_ref().map(evidence).unwrap_or_default();
                self.say(Question::PasvNamesOtherHost, verdict, detail, ev);
            }
        }
        self.ask(Question::EpsvAll, base.epsv_all(), endpoint, data_answer)
            .await;
    }

    fn verdict(&self, question: Question) -> Verdict {
        verdict_in(&self.findings, question)
    }
}

fn data_answer(r: &RunResult) -> (Verdict, String) {
    match failed_step(r) {
        None => (Verdict::Yes, "a protected listing works".into()),
        Some((step, failure)) => (Verdict::No, failed_at(r, step, failure, "")),
    }
}

/// Whether the run got past connecting (and AUTH, for explicit).
fn connected(result: &RunResult) -> bool {
    !matches!(result.outcome, Outcome::Failed { step: 0, .. })
}

/// `522 Data connections must be encrypted. (at list, clear data, no PROT)`.
fn failed_at(result: &RunResult, step: usize, failure: &Failure, how: &str) -> String {
    let at = step_label(result, step);
    match how {
        "" => format!("{} (at {at})", failure_text(failure)),
        how => format!("{} (at {at}, {how})", failure_text(failure)),
    }
}

fn step_label(result: &RunResult, index: usize) -> String {
    result
        .transcript
        .events
        .iter()
        .find_map(|e| match e {
            Event::Step { index: i, name } if *i == index => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("step {index}"))
}

/// The last line of the last reply of step `index` (`234 Using authentication type TLS`).
fn reply_of(result: &RunResult, index: usize) -> Option<String> {
    replies_of_step(result, index)
        .last()
        .and_then(|(_, lines)| lines.last().cloned())
}

/// `TLSv1.3 TLS13_AES_256_GCM_SHA384` of the control connection.
fn handshake_line(result: &RunResult) -> Option<String> {
    result.transcript.events.iter().find_map(|e| match e {
        Event::Tls {
            channel: Channel::Control,
            handshake,
        } => Some(format!("{} {}", handshake.version, handshake.cipher)),
        _ => None,
    })
}

/// `1048576 bytes read` from the transfer events of a run.
fn transferred_line(result: &RunResult) -> String {
    let bytes: u64 = result
        .transcript
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Transferred { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    format!("{bytes} bytes read")
}

/// `6 of 6 data handshakes resumed`.
fn resumed_line(result: &RunResult) -> String {
    let kinds: Vec<_> = result
        .transcript
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Tls {
                channel: Channel::Data,
                handshake,
            } => Some(handshake.kind),
            _ => None,
        })
        .collect();
    let resumed = kinds
        .iter()
        .filter(|k| **k == crate::transcript::HandshakeKind::Resumed)
        .count();
    format!("{resumed} of {} data handshakes resumed", kinds.len())
}

/// Banner, SYST and FEAT from the identity check, and a guess at the product.
fn read_identity(result: &RunResult, mode: ConnectMode) -> Identity {
    let mut identity = Identity::default();
    if let Some((_, lines)) = replies_of_step(result, 0).last() {
        identity.banner = lines.clone();
    }
    let feat = |index| {
        replies_of_step(result, index)
            .last()
            .filter(|(code, _)| *code == 211)
            .map(|(_, lines)| lines.clone())
            .unwrap_or_default()
    };
    // Explicit: FEAT, AUTH, login, SYST, FEAT; implicit: login, SYST, FEAT.
    let (syst_step, feat_step) = if mode == ConnectMode::Explicit {
        identity.feat_before_auth = feat(1);
        (4, 5)
    } else {
        (2, 3)
    };
    identity.syst = replies_of_step(result, syst_step)
        .last()
        .map(|(_, lines)| lines.join(" "));
    identity.feat_after_login = feat(feat_step);
    let text = [
        identity.banner.join("\n"),
        identity.syst.clone().unwrap_or_default(),
    ]
    .join("\n");
    identity.product = guess_product(&text);
    identity
}

/// Known server names in a banner or SYST reply, with the version that follows.
fn guess_product(text: &str) -> Option<String> {
    const NAMES: [&str; 8] = [
        "vsFTPd",
        "ProFTPD",
        "Pure-FTPd",
        "FileZilla Server",
        "pyftpdlib",
        "Microsoft FTP Service",
        "Serv-U",
        "libunftp",
    ];
    let lower = text.to_lowercase();
    NAMES.iter().find_map(|name| {
        let at = lower.find(&name.to_lowercase())?;
        let after = text[at + name.len()..].trim_start();
        // `FileZilla Server version 0.9.33`, `vsFTPd 3.0.3`, `pyftpdlib v2.0`.
        let after = ["version ", "v"]
            .iter()
            .find_map(|p| after.strip_prefix(p))
            .unwrap_or(after);
        let version: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let version = version.trim_end_matches('.');
        Some(
            if version.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                format!("{name} {version}")
            } else {
                name.to_string()
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_guessed_from_banners() {
        assert_eq!(
            guess_product("(vsFTPd 3.0.3)").as_deref(),
            Some("vsFTPd 3.0.3")
        );
        assert_eq!(
            guess_product("ProFTPD Server (Debian) [::ffff:127.0.0.1]").as_deref(),
            Some("ProFTPD")
        );
        assert_eq!(
            guess_product("-FileZilla Server 0.9.60 beta\nwritten by Tim Kosse").as_deref(),
            Some("FileZilla Server 0.9.60")
        );
        assert_eq!(
            guess_product("220-FileZilla Server version 0.9.33 beta").as_deref(),
            Some("FileZilla Server 0.9.33")
        );
        assert_eq!(
            guess_product("---------- Welcome to Pure-FTPd [privsep] [TLS] ----------").as_deref(),
            Some("Pure-FTPd")
        );
        assert_eq!(guess_product("220 ready"), None);
    }
}
