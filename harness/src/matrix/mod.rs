//! The compatibility matrix: every scenario (row) on every server configuration (column),
//! cells run concurrently, each on its own fresh server instance, each graded.

pub mod plan;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::certs::Pki;
use crate::outcome::{self, Answer, OutcomeClass};
use crate::quirks::{Catalog, Quirk};
use crate::runner::{self, Outcome, RunError};
use crate::scenario::{RowKind, Scenario};
use crate::servers::backend::{self, BackendKind};
use crate::servers::instance::StartError;
use crate::servers::manifest::{Account, Mode};
use crate::transcript::{Line, lines_text, normalize};
pub use plan::{BackendChoice, Column, Filters, Inputs};

/// The version of the results.json format (docs/results.md).
pub const RESULTS_FORMAT: u32 = 4;

/// How long a server gets to start.
const START_LIMIT: Duration = Duration::from_secs(60);
/// Log excerpt kept for passing cells (failing ones keep more, see backend).
const PASS_LOG: usize = 4 * 1024;

#[derive(Debug, Clone)]
pub struct MatrixConfig {
    pub jobs: usize,
    pub cell_timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub id: String,
    pub server: String,
    pub profile: String,
    pub backend: BackendKind,
    pub mode: Option<Mode>,
    pub version: Option<String>,
    pub about: String,
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub id: String,
    /// A client behaviour, or a client profile's row.
    pub row: RowKind,
    pub about: String,
    pub reference: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// `server/profile`.
    pub column: String,
    pub backend: BackendKind,
    pub scenario: String,
    /// What happened to the client: class, decisive step, quirks, marks.
    pub outcome: Answer,
    /// How the run ended, step by step (absent when the cell did not run).
    pub run: Option<Outcome>,
    pub duration_ms: u64,
    /// The normalized transcript, line by line with each line's kind.
    pub transcript: Vec<Line>,
    pub log_excerpt: String,
}

impl CellResult {
    /// `server/profile::scenario`, the trial name under `cargo test`.
    pub fn name(&self) -> String {
        format!("{}::{}", self.column, self.scenario)
    }

    pub fn class(&self) -> OutcomeClass {
        self.outcome.class
    }

    /// The normalized transcript as text.
    pub fn transcript_text(&self) -> String {
        lines_text(&self.transcript)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixResults {
    /// [`RESULTS_FORMAT`].
    pub format: u32,
    pub harness_version: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub host: HostInfo,
    pub columns: Vec<ColumnInfo>,
    pub scenarios: Vec<ScenarioInfo>,
    pub cells: Vec<CellResult>,
    /// The catalog entries, for explanations and workarounds.
    pub quirks: Vec<Quirk>,
    /// Set when the run was stopped before every cell finished: `cells` then holds only
    /// the finished ones.
    pub incomplete: Option<Incomplete>,
}

/// Why a run stopped early, and how much of it did not run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Incomplete {
    /// What stopped the run, e.g. `SIGINT`.
    pub stopped_by: String,
    /// Cells planned.
    pub planned: usize,
    /// Cells that were running or waiting when the run stopped, and were cancelled.
    pub cancelled: usize,
}

impl Incomplete {
    /// `incomplete: stopped by SIGINT; 12 of 40 cells finished, 28 cancelled`.
    pub fn headline(&self) -> String {
        format!(
            "incomplete: stopped by {}; {} of {} cells finished, {} cancelled",
            self.stopped_by,
            self.planned - self.cancelled,
            self.planned,
            self.cancelled
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub os: String,
    pub cores: usize,
    pub jobs: usize,
}

impl MatrixResults {
    pub fn cell(&self, column: &str, backend: BackendKind, scenario: &str) -> Option<&CellResult> {
        self.cells
            .iter()
            .find(|c| c.column == column && c.backend == backend && c.scenario == scenario)
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// Everything one cell needs, shared by all cells of a run.
pub struct CellContext {
    pki: Pki,
    account: Account,
    catalog: Arc<Catalog>,
    config: MatrixConfig,
}

impl CellContext {
    /// Generates the run's PKI.
    pub fn new(
        account: Account,
        catalog: Arc<Catalog>,
        config: MatrixConfig,
    ) -> Result<Self, crate::certs::CertError> {
        Ok(CellContext {
            pki: Pki::generate()?,
            account,
            catalog,
            config,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error(transparent)]
    Certs(#[from] crate::certs::CertError),
}

/// Runs every cell; `progress` sees each result as it completes. When `stop` completes
/// (Ctrl-C) with what stopped the run, unfinished cells are cancelled and awaited, so their
/// servers are gone on return, and the results hold the finished cells, marked
/// [`Incomplete`].
pub async fn run(
    columns: Vec<Column>,
    scenarios: Vec<Scenario>,
    catalog: Arc<Catalog>,
    account: Account,
    config: MatrixConfig,
    progress: impl Fn(&CellResult),
    stop: impl std::future::Future<Output = String>,
) -> Result<MatrixResults, MatrixError> {
    let started_at = now_rfc3339();
    let clock = Instant::now();
    // Folders of runs that were killed before they could clean up.
    crate::servers::leftovers::sweep();
    let shared = Arc::new(CellContext::new(account, catalog.clone(), config.clone())?);
    let scenarios: Vec<Arc<Scenario>> = scenarios.into_iter().map(Arc::new).collect();
    let permits = Arc::new(Semaphore::new(config.jobs.max(1)));
    let mut tasks = JoinSet::new();
    let mut names = Vec::new();
    let mut indexes = std::collections::HashMap::new();
    for column in &columns {
        for scenario in &scenarios {
            let (column, scenario, shared, permits) = (
                column.clone(),
                scenario.clone(),
                shared.clone(),
                permits.clone(),
            );
            names.push((column.id(), column.backend, scenario.id.clone()));
            let index = names.len() - 1;
            let task = tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore open");
                run_cell(&column, &scenario, &shared).await
            });
            indexes.insert(task.id(), index);
        }
    }
    let mut cells: Vec<Option<CellResult>> = vec![None; names.len()];
    let mut incomplete = None;
    tokio::pin!(stop);
    loop {
        let joined = tokio::select! {
            joined = tasks.join_next_with_id() => match joined {
                Some(joined) => joined,
                None => break,
            },
            stopped_by = &mut stop => {
                let cancelled = tasks.len();
                // Aborts every cell and waits for each to drop (servers killed, dirs removed).
                tasks.shutdown().await;
                incomplete = Some(Incomplete { stopped_by, planned: names.len(), cancelled });
                break;
            }
        };
        match joined {
            Ok((id, cell)) => {
                progress(&cell);
                cells[indexes[&id]] = Some(cell);
            }
            // A panicking cell is an error of the harness; its server guard already ran.
            Err(e) => {
                eprintln!("the harness panicked in this cell: {e}");
                cells[indexes[&e.id()]] = Some(panicked(&names[indexes[&e.id()]]));
            }
        }
    }
    // Every cell ran unless the run was stopped; then only the finished ones are kept.
    let cells: Vec<CellResult> = cells.into_iter().flatten().collect();
    Ok(MatrixResults {
        format: RESULTS_FORMAT,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        host: HostInfo {
            os: os_name(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            jobs: config.jobs,
        },
        columns: columns
            .iter()
            .map(|c| ColumnInfo {
                id: c.id(),
                server: c.server.clone(),
                profile: c.profile.clone(),
                backend: c.backend,
                mode: c.mode,
                version: c.version.clone(),
                about: c.about.clone(),
                unavailable: c.unavailable.clone(),
            })
            .collect(),
        scenarios: scenarios
            .iter()
            .map(|s| ScenarioInfo {
                id: s.id.clone(),
                row: s.row,
                about: s.about.trim().to_string(),
                reference: s.reference.clone(),
            })
            .collect(),
        cells,
        quirks: catalog.quirks.clone(),
        incomplete,
    })
}

/// The answer of a cell whose task panicked: an error of the harness.
fn panicked((column, backend, scenario): &(String, BackendKind, String)) -> CellResult {
    CellResult {
        column: column.clone(),
        backend: *backend,
        scenario: scenario.clone(),
        outcome: Answer::not_run(OutcomeClass::Error, "the harness panicked in this cell"),
        run: None,
        duration_ms: 0,
        transcript: Vec::new(),
        log_excerpt: String::new(),
    }
}

/// Runs one cell on a fresh server instance and answers it.
pub async fn run_cell(column: &Column, scenario: &Scenario, shared: &CellContext) -> CellResult {
    let clock = Instant::now();
    let mut cell = CellResult {
        column: column.id(),
        backend: column.backend,
        scenario: scenario.id.clone(),
        outcome: Answer::not_run(OutcomeClass::Skipped, ""),
        run: None,
        duration_ms: 0,
        transcript: Vec::new(),
        log_excerpt: String::new(),
    };
    let not_run = |class, reason: String| Answer::not_run(class, normalize(&reason));
    if let Some(reason) = &column.unavailable {
        cell.outcome = not_run(OutcomeClass::Skipped, reason.clone());
        return cell;
    }
    let started = tokio::time::timeout(
        START_LIMIT,
        backend::start(
            &column.source,
            &column.profile,
            &shared.pki,
            &shared.account,
        ),
    )
    .await;
    let running = match started {
        Ok(Ok(running)) => running,
        Ok(Err(StartError::Unsupported(reason))) => {
            cell.outcome = not_run(OutcomeClass::Skipped, reason);
            return cell;
        }
        Ok(Err(e)) => {
            cell.outcome = not_run(
                OutcomeClass::Error,
                format!("the server did not start: {e}"),
            );
            return cell;
        }
        Err(_) => {
            cell.outcome = not_run(
                OutcomeClass::Error,
                format!("the server did not start within {START_LIMIT:?}"),
            );
            return cell;
        }
    };
    let result = tokio::time::timeout(
        shared.config.cell_timeout,
        runner::run(scenario, &running.endpoint),
    )
    .await;
    match result {
        Err(_) => {
            cell.outcome = not_run(
                OutcomeClass::Error,
                format!(
                    "the cell did not finish within {:?}",
                    shared.config.cell_timeout
                ),
            );
        }
        Ok(Err(RunError::NotApplicable(reason))) => {
            cell.outcome = not_run(OutcomeClass::Skipped, format!("not applicable: {reason}"));
        }
        Ok(Err(e)) => cell.outcome = not_run(OutcomeClass::Error, e.to_string()),
        Ok(Ok(run)) => {
            cell.outcome = outcome::answer(scenario, &run, &shared.catalog);
            cell.transcript = run.transcript.normalized_lines();
            cell.run = Some(run.outcome);
        }
    }
    let mut log = running.log_excerpt();
    if cell.class() == OutcomeClass::Works && log.len() > PASS_LOG {
        let cut = log.len() - PASS_LOG;
        let cut = (cut..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log = format!("[...]\n{}", &log[cut..]);
    }
    cell.log_excerpt = normalize(&log);
    running.stop().await;
    cell.duration_ms = clock.elapsed().as_millis() as u64;
    cell
}
