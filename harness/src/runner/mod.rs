//! Runs one scenario against one endpoint with the embedded client, and says how it ended.

#[cfg(test)]
pub mod fixtures;
pub mod stored;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::client::data::{DataWork, ListingFormat};
use crate::client::payload::Content;
use crate::client::tls::{TlsContext, TlsKnobs, TlsSetupError, Trust};
use crate::client::{ClientOptions, DataKnobs, Failure, Session, Timeouts};
use crate::scenario::{Connect, Expect, Scenario, Step, Upload};
use crate::transcript::{Event, Transcript};
use stored::StoredCheck;

/// How long a pipelined AUTH's 234 is given for clear-text bytes that follow it.
const PIPELINE_SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// Where and as whom to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub host: IpAddr,
    pub explicit_port: Option<u16>,
    pub implicit_port: Option<u16>,
    /// The name the certificate is verified against (and sent as SNI).
    pub tls_name: String,
    pub user: String,
    pub password: String,
    pub trust: Trust,
    /// The login directory on this host, where the harness owns the server's files:
    /// uploads are then checked on the server side too.
    pub server_root: Option<PathBuf>,
    /// A folder on the server each session changes into after its login, so that a run
    /// against someone else's server keeps its uploads in one place (`run --target`).
    pub work_dir: Option<String>,
}

/// How the session reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectMode {
    /// No TLS on the control connection.
    Plain,
    /// AUTH on the control connection.
    Explicit,
    /// TLS from the first byte.
    Implicit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    /// Step `step` (1-based; 0 is connecting) did not complete.
    Failed {
        step: usize,
        label: String,
        failure: Failure,
    },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Completed => f.write_str("completed"),
            Outcome::Failed {
                step,
                label,
                failure,
            } => write!(f, "{failure} at step {step} ({label})"),
        }
    }
}

impl Outcome {
    /// Whether this is the outcome the scenario expects.
    pub fn matches(&self, expect: &Expect) -> bool {
        let step_ok = |want: &Option<usize>, got: usize| want.is_none_or(|w| w == got);
        match (expect, self) {
            (Expect::Completed, Outcome::Completed) => true,
            (
                Expect::Reply { code, step, text },
                Outcome::Failed {
                    step: got,
                    failure: Failure::Reply { code: c, text: t },
                    ..
                },
            ) => {
                code == c
                    && step_ok(step, *got)
                    && text.as_ref().is_none_or(|want| t.contains(want.as_str()))
            }
            (
                Expect::Timeout { step },
                Outcome::Failed {
                    step: got,
                    failure: Failure::Timeout { .. },
                    ..
                },
            )
            | (
                Expect::Tls { step },
                Outcome::Failed {
                    step: got,
                    failure: Failure::Tls { .. },
                    ..
                },
            )
            | (
                Expect::Closed { step },
                Outcome::Failed {
                    step: got,
                    failure: Failure::Closed { .. },
                    ..
                },
            ) => step_ok(step, *got),
            _ => false,
        }
    }
}

pub struct RunResult {
    pub transcript: Transcript,
    pub outcome: Outcome,
    pub connect: ConnectMode,
    /// Whether the client was set to end TLS data connections with close_notify (the
    /// `data.close_notify` knob): a setting, so it holds even when a refusal cut the
    /// transfer's events from the transcript.
    pub data_close_notify: bool,
    /// Each uploaded path and what the server stored there (empty when the harness does
    /// not own the server's files).
    pub stored: Vec<(String, StoredCheck)>,
}

impl RunResult {
    /// The first upload the server stored differently from what the client sent.
    pub fn corrupted(&self) -> Option<(&str, &StoredCheck)> {
        self.stored
            .iter()
            .find(|(_, check)| check.is_corrupt())
            .map(|(path, check)| (path.as_str(), check))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario cannot run on this endpoint (e.g. implicit on an explicit-only server).
    #[error("{0}")]
    NotApplicable(String),
    #[error("scenario {scenario}: {source}")]
    Tls {
        scenario: String,
        source: TlsSetupError,
    },
}

struct Plan {
    addr: SocketAddr,
    mode: ConnectMode,
    /// AUTH mechanisms, tried in order until one gets 234.
    auth: Option<Vec<String>>,
}

fn plan(scenario: &Scenario, endpoint: &Endpoint) -> Result<Plan, RunError> {
    let explicit = endpoint
        .explicit_port
        .map(|p| SocketAddr::new(endpoint.host, p));
    let implicit = endpoint
        .implicit_port
        .map(|p| SocketAddr::new(endpoint.host, p));
    let missing =
        |what: &str| RunError::NotApplicable(format!("the server has no {what} FTPS listener"));
    let auth = Some(
        std::iter::once(scenario.client.auth.clone())
            .chain(scenario.client.auth_fallback.iter().cloned())
            .collect::<Vec<_>>(),
    );
    Ok(match scenario.client.connect {
        Connect::Auto => match (explicit, implicit) {
            (Some(addr), _) => Plan {
                addr,
                mode: ConnectMode::Explicit,
                auth,
            },
            (None, Some(addr)) => Plan {
                addr,
                mode: ConnectMode::Implicit,
                auth: None,
            },
            (None, None) => return Err(missing("")),
        },
        Connect::Explicit => Plan {
            addr: explicit.ok_or_else(|| missing("explicit"))?,
            mode: ConnectMode::Explicit,
            auth,
        },
        Connect::Plain => Plan {
            addr: explicit.ok_or_else(|| missing("explicit (plain)"))?,
            mode: ConnectMode::Plain,
            auth: None,
        },
        Connect::Implicit => Plan {
            addr: implicit.ok_or_else(|| missing("implicit"))?,
            mode: ConnectMode::Implicit,
            auth: None,
        },
    })
}

/// Checks that the scenario's TLS knobs make sense, without connecting.
pub fn validate(scenario: &Scenario, endpoint: &Endpoint) -> Result<(), RunError> {
    tls_context(scenario, endpoint).map(|_| ())
}

fn tls_context(scenario: &Scenario, endpoint: &Endpoint) -> Result<TlsContext, RunError> {
    let spec = &scenario.client.tls;
    let knobs = TlsKnobs {
        min: spec.min,
        max: spec.max,
        resume: spec.resume,
        verify: spec.verify,
        alpn: spec.alpn.clone(),
        sni: spec.sni,
        server_name: spec
            .server_name
            .clone()
            .unwrap_or_else(|| endpoint.tls_name.clone()),
        client_cert: spec.client_cert,
    };
    TlsContext::build(&knobs, &endpoint.trust).map_err(|source| match source {
        // What the endpoint was not given makes the scenario not applicable, not wrong.
        TlsSetupError::NoClientIdentity => RunError::NotApplicable(
            "the scenario presents a client certificate, and none was given \
             (--client-cert and --client-key)"
                .into(),
        ),
        source => RunError::Tls {
            scenario: scenario.id.clone(),
            source,
        },
    })
}

/// Runs the scenario; the transcript records everything, whatever the outcome.
pub async fn run(scenario: &Scenario, endpoint: &Endpoint) -> Result<RunResult, RunError> {
    let plan = plan(scenario, endpoint)?;
    let tls = tls_context(scenario, endpoint)?;
    let client = &scenario.client;
    let options = ClientOptions {
        data: DataKnobs::from(&client.data),
        timeouts: Timeouts {
            connect: client.timeouts.connect.0,
            reply: client.timeouts.reply.0,
            data: client.timeouts.data.0,
        },
        max_line: client.max_line,
        max_reply: usize::try_from(client.max_reply.0).unwrap_or(usize::MAX),
    };
    let connect_label = match (&plan.auth, plan.mode) {
        (_, ConnectMode::Implicit) => "connect (implicit TLS)".to_string(),
        (Some(mechanisms), _) => format!("connect + AUTH {}", mechanisms.join(", then ")),
        (None, _) => "connect (plain)".to_string(),
    };
    let implicit = plan.mode == ConnectMode::Implicit;
    let (mut session, connected) = Session::connect(plan.addr, implicit, tls, options).await;
    session.rest_order = client.data.rest;
    let mut transcript_head = vec![Event::Step {
        index: 0,
        name: connect_label.clone(),
    }];
    transcript_head.append(&mut session.transcript.events);
    session.transcript.events = transcript_head;

    let mut outcome = match connected {
        Err(failure) => Some(Outcome::Failed {
            step: 0,
            label: connect_label.clone(),
            failure,
        }),
        Ok(_) => None,
    };
    if outcome.is_none()
        && let Some(mechanisms) = &plan.auth
        && let Err(failure) = session.auth_first_accepted(mechanisms).await
    {
        outcome = Some(Outcome::Failed {
            step: 0,
            label: connect_label,
            failure,
        });
    }

    let mut state = RunState {
        endpoint,
        files: BTreeMap::new(),
        cut_short: BTreeMap::new(),
    };
    if outcome.is_none() {
        for (i, step) in scenario.steps.iter().enumerate() {
            let index = i + 1;
            session.transcript.push(Event::Step {
                index,
                name: step.label(),
            });
            let step_deadline = client.timeouts.step.0;
            let result = match tokio::time::timeout(
                step_deadline,
                state.execute(&mut session, step),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err(session.step_timed_out(step_deadline)),
            };
            if let Err(failure) = result {
                outcome = Some(Outcome::Failed {
                    step: index,
                    label: step.label(),
                    failure,
                });
                break;
            }
        }
    }
    let outcome = outcome.unwrap_or(Outcome::Completed);
    // Say goodbye, or find out whether the server already hung up after a failure.
    if session.is_open()
        && !matches!(scenario.steps.last(), Some(Step::Quit) if outcome == Outcome::Completed)
    {
        session.transcript.push(Event::Epilogue {
            name: "quit".into(),
        });
        let _ = session.quit().await;
    }
    let mut transcript = session.transcript;
    // Only now: a server may finish writing a file after the client gave up on it.
    let stored = match &endpoint.server_root {
        Some(root) => state.check_stored(root, &mut transcript).await,
        None => Vec::new(),
    };
    Ok(RunResult {
        transcript,
        outcome,
        connect: plan.mode,
        data_close_notify: client.data.close_notify,
        stored,
    })
}

struct RunState<'a> {
    endpoint: &'a Endpoint,
    /// What each uploaded path should contain, for verifying downloads.
    files: BTreeMap<String, Content>,
    /// Uploads that did not complete: what the file would hold had they completed.
    cut_short: BTreeMap<String, Content>,
}

impl RunState<'_> {
    /// Compares every uploaded file on the server with what the client sent, and records
    /// each comparison in the transcript.
    async fn check_stored(
        &self,
        root: &std::path::Path,
        transcript: &mut Transcript,
    ) -> Vec<(String, StoredCheck)> {
        let uploads: Vec<(String, Content, bool)> = self
            .files
            .iter()
            .map(|(path, content)| (path.clone(), content.clone(), true))
            .chain(
                self.cut_short
                    .iter()
                    .map(|(path, content)| (path.clone(), content.clone(), false)),
            )
            .collect();
        if uploads.is_empty() {
            return Vec::new();
        }
        let root = root.to_owned();
        let checks = tokio::task::spawn_blocking(move || {
            uploads
                .into_iter()
                .map(|(path, content, completed)| {
                    let check = stored::check(&root, &path, &content, completed);
                    (path, check)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        transcript.push(Event::Epilogue {
            name: "the server's files".into(),
        });
        for (path, check) in &checks {
            transcript.push(Event::ServerStored {
                path: path.clone(),
                detail: check.describe(),
                corrupt: check.is_corrupt(),
            });
        }
        checks
    }

    async fn execute(&mut self, session: &mut Session, step: &Step) -> Result<(), Failure> {
        match step {
            Step::Login => {
                session
                    .login(&self.endpoint.user, &self.endpoint.password)
                    .await?;
                match &self.endpoint.work_dir {
                    Some(dir) => session.command_ok(&format!("CWD {dir}")).await.map(drop),
                    None => Ok(()),
                }
            }
            Step::LoginAs(credentials) => {
                session
                    .login(&credentials.user, &credentials.password)
                    .await
            }
            Step::Auth(mechanism) => session.auth(mechanism).await,
            Step::Pbsz(size) => session.command_ok(&format!("PBSZ {size}")).await.map(drop),
            Step::Prot(level) => session.prot(level).await,
            Step::Ccc => {
                session.command_ok("CCC").await?;
                session.clear_control_channel().await
            }
            Step::Type(kind) => session.command_ok(&format!("TYPE {kind}")).await.map(drop),
            Step::DataMode(mode) => {
                session.options.data.mode = *mode;
                Ok(())
            }
            Step::DataTls(tls) => {
                session.options.data.tls = *tls;
                Ok(())
            }
            Step::EpsvAll => session.command_ok("EPSV ALL").await.map(drop),
            Step::List => {
                session
                    .transfer("LIST", DataWork::Listing(ListingFormat::Long))
                    .await
            }
            Step::Nlst => {
                session
                    .transfer("NLST", DataWork::Listing(ListingFormat::Names))
                    .await
            }
            Step::Mlsd => {
                session
                    .transfer("MLSD", DataWork::Listing(ListingFormat::Facts))
                    .await
            }
            Step::Stor(upload) => self.upload(session, "STOR", upload).await,
            Step::Appe(upload) => self.upload(session, "APPE", upload).await,
            Step::Retr(download) => {
                let offset = download.rest.unwrap_or(0);
                let expected = if download.verify {
                    let known = self.files.get(&download.path).map(|c| c.suffix(offset));
                    if known.is_none() {
                        session.transcript.push(Event::Note {
                            text: format!(
                                "{} was not uploaded by this scenario; not verified",
                                download.path
                            ),
                        });
                    }
                    known
                } else {
                    None
                };
                session
                    .transfer_from(
                        &format!("RETR {}", download.path),
                        download.rest,
                        DataWork::Download(expected),
                    )
                    .await
            }
            Step::Size(path) => session.command_ok(&format!("SIZE {path}")).await.map(drop),
            Step::Dele(path) => {
                session.command_ok(&format!("DELE {path}")).await?;
                self.files.remove(path);
                self.cut_short.remove(path);
                Ok(())
            }
            Step::Mkd(path) => session.command_ok(&format!("MKD {path}")).await.map(drop),
            Step::Rmd(path) => session.command_ok(&format!("RMD {path}")).await.map(drop),
            Step::Cwd(path) => session.command_ok(&format!("CWD {path}")).await.map(drop),
            Step::Pwd => session.command_ok("PWD").await.map(drop),
            Step::Feat => session.command_ok("FEAT").await.map(drop),
            Step::Syst => session.command_ok("SYST").await.map(drop),
            Step::Noop => session.command_ok("NOOP").await.map(drop),
            Step::Quit => session.quit().await,
            Step::Raw(line) => session.command_ok(line).await.map(drop),
            Step::Probe(line) => session.command(line).await.map(drop),
            Step::Pipeline(lines) => {
                session.send_pipelined(lines).await?;
                for line in lines {
                    let reply = session.final_reply().await?;
                    if !reply.is_positive() {
                        return Err(Failure::Reply {
                            code: reply.code,
                            text: reply.text().to_string(),
                        });
                    }
                    // A client that pipelined behind AUTH still starts TLS once it gets 234.
                    if reply.code == 234 && line.to_ascii_uppercase().starts_with("AUTH ") {
                        // The server may answer the pipelined bytes in clear and hang up
                        // (vsftpd); let that arrive before the handshake, whatever the timing.
                        session.settle(PIPELINE_SETTLE).await;
                        session.start_tls_after_234().await?;
                    }
                }
                Ok(())
            }
        }
    }

    async fn upload(
        &mut self,
        session: &mut Session,
        verb: &str,
        upload: &Upload,
    ) -> Result<(), Failure> {
        let offset = upload.rest.unwrap_or(0);
        let sent = Content::payload(upload.seed, offset, upload.size.0);
        let previous = self.files.get(&upload.path).cloned().unwrap_or_default();
        let mut stored = match (verb, upload.rest) {
            ("APPE", _) => previous,
            (_, Some(rest)) => previous.prefix(rest),
            (_, None) => Content::default(),
        };
        stored.append(sent.clone());
        let result = session
            .transfer_from(
                &format!("{verb} {}", upload.path),
                upload.rest,
                DataWork::Upload(sent),
            )
            .await;
        self.files.remove(&upload.path);
        self.cut_short.remove(&upload.path);
        match result {
            Ok(()) => self.files.insert(upload.path.clone(), stored),
            Err(_) => self.cut_short.insert(upload.path.clone(), stored),
        };
        result
    }
}
