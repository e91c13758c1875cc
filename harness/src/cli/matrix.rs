//! `ftps-compat run` without `--target`: the matrix of every scenario on every server
//! configuration, with progress, a summary, and reports.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use ftps_compat::baseline::{self, CellAnswer, Checks};
use ftps_compat::matrix::{self, BackendChoice, CellResult, Filters, MatrixConfig, MatrixResults};
use ftps_compat::outcome::OutcomeClass;
use ftps_compat::scenario::{Dur, Scenario};

use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, servers_dir};

pub struct MatrixArgs {
    pub filters: Filters,
    pub backend: BackendChoice,
    pub jobs: Option<NonZeroUsize>,
    pub cell_timeout: String,
    pub report_dir: Option<PathBuf>,
    /// A previous results.json whose answers this run must reproduce.
    pub baseline: Option<PathBuf>,
    /// Outcome classes every cell that ran must have (empty: no requirement).
    pub require: Vec<OutcomeClass>,
    /// Which cells' transcripts are printed as they finish.
    pub transcripts: Transcripts,
    /// Print the results as JSON (results.json's form) instead of lines and a summary.
    pub json: bool,
    /// Exit 1 when a cell's outcome differs from its scenario's `expect:` (target mode,
    /// where replaying scenarios is the point).
    pub fail_on_deviation: bool,
}

/// Which transcripts a run prints as its cells finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transcripts {
    /// None: one line per cell (the matrix).
    None,
    /// Those of cells that do not work (run --target).
    Failing,
    /// Every cell's (--verbose).
    All,
}

/// `--cell-timeout`: a scenario duration above zero.
pub fn parse_cell_timeout(text: &str) -> Result<Duration, UsageError> {
    serde_saphyr::from_str::<Dur>(text)
        .ok()
        .map(|d| d.0)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            UsageError(format!(
                "--cell-timeout {text:?}: expected a duration above 0 like 90s or 2m"
            ))
        })
}

/// Creates the report folder and proves it writable, so a bad `--report-dir` stops the run
/// before its first cell rather than after the last.
fn prepare_report_dir(dir: &Path) -> Result<(), UsageError> {
    let bad = |what: &str, e: std::io::Error| {
        UsageError(format!("--report-dir {}: {what}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| bad("cannot create the folder", e))?;
    tempfile::Builder::new()
        .prefix(".write-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| bad("cannot write in the folder", e))
}

fn plain_output() -> bool {
    !std::io::stdout().is_terminal()
        || std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `refused  vsftpd/explicit-strict::no-session-reuse 522 [session-reuse-required] (native)`.
fn cell_line(cell: &CellResult) -> String {
    let answer = &cell.outcome;
    let code = answer.code().map(|c| format!(" {c}")).unwrap_or_default();
    let quirks = if answer.quirks.is_empty() {
        String::new()
    } else {
        format!(" [{}]", answer.quirk_list())
    };
    let marks = match (answer.deviation.is_some(), answer.unexplained) {
        (_, true) => " (unexplained)",
        (true, false) => " (deviates)",
        _ => "",
    };
    format!(
        "{:<8} {}{code}{quirks}{marks} ({})",
        cell.class().as_str(),
        cell.name(),
        cell.backend
    )
}

pub fn run_matrix(scenarios: Vec<Scenario>, args: MatrixArgs) -> Result<i32, UsageError> {
    let prepared = prepare(&args)?;
    let inputs = matrix::Inputs::load(&servers_dir(), scenarios, &args.filters, args.backend)
        .map_err(UsageError)?;
    execute(inputs, prepared, args)
}

/// What a run reads and checks before any cell: bad input stops it here.
pub struct Prepared {
    cell_timeout: Duration,
    baseline: Option<Vec<CellAnswer>>,
}

pub fn prepare(args: &MatrixArgs) -> Result<Prepared, UsageError> {
    let cell_timeout = parse_cell_timeout(&args.cell_timeout)?;
    // Read the baseline first: a bad file is bad input, and nothing runs.
    let baseline: Option<Vec<CellAnswer>> = match &args.baseline {
        Some(path) => {
            Some(baseline::load(path).map_err(|e| UsageError(format!("--baseline {e}")))?)
        }
        None => None,
    };
    if let Some(dir) = &args.report_dir {
        prepare_report_dir(dir)?;
    }
    Ok(Prepared {
        cell_timeout,
        baseline,
    })
}

/// Runs the cells of `inputs`, prints them and the summary, writes the reports.
pub fn execute(
    inputs: matrix::Inputs,
    prepared: Prepared,
    args: MatrixArgs,
) -> Result<i32, UsageError> {
    let Prepared {
        cell_timeout,
        baseline,
    } = prepared;
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(2, NonZeroUsize::get);
    let config = MatrixConfig { jobs, cell_timeout };
    let total = (inputs.columns.len() * inputs.scenarios.len()) as u64;
    let plain = plain_output() || args.transcripts != Transcripts::None;
    let bar = if args.json {
        ProgressBar::hidden()
    } else if plain {
        println!(
            "running {total} cells ({} columns x {} scenarios), {jobs} at a time",
            inputs.columns.len(),
            inputs.scenarios.len()
        );
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} cells {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    // Which signal stopped the run decides the exit code (130 or 143).
    let stopped_by = std::sync::OnceLock::new();
    let signals = {
        let _context = runtime.enter();
        super::serve::StopSignals::install()
            .map_err(|e| UsageError(format!("installing the signal handlers: {e}")))?
    };
    let catalog = inputs.catalog.clone();
    let run = matrix::run(
        inputs.columns,
        inputs.scenarios,
        inputs.catalog,
        inputs.account,
        config,
        |cell| {
            if args.json {
                // Only the JSON goes to standard output.
            } else if plain {
                println!("{}", cell_line(cell));
                let shown = match args.transcripts {
                    Transcripts::None => false,
                    Transcripts::Failing => cell.class() != OutcomeClass::Works,
                    Transcripts::All => true,
                };
                if shown {
                    print_transcript(cell, &catalog);
                }
            } else {
                bar.set_message(cell.name());
                bar.inc(1);
            }
        },
        async {
            let stop = signals.wait().await;
            let _ = stopped_by.set(stop);
            stop.signal_name().to_string()
        },
    );
    let results = runtime
        .block_on(run)
        .map_err(|e| UsageError(e.to_string()))?;
    bar.finish_and_clear();
    // A stopped run is compared on the cells it finished: the cancelled ones are not changes.
    let baseline = match (&results.incomplete, baseline) {
        (Some(_), Some(old)) => Some(baseline::restricted_to(old, &results)),
        (_, baseline) => baseline,
    };
    let checks = Checks::new(&results, baseline.as_deref(), args.require.clone());
    if args.json {
        let json = serde_json::to_string_pretty(&results)
            .map_err(|e| UsageError(format!("writing the JSON: {e}")))?;
        println!("{json}");
    } else {
        print_summary(&results, &checks);
    }
    if let Some(dir) = &args.report_dir {
        ftps_compat::report::write_reports(&results, &checks, dir)
            .map_err(|e| UsageError(format!("writing reports to {}: {e}", dir.display())))?;
        let marked = if results.incomplete.is_some() {
            ", marked incomplete"
        } else {
            ""
        };
        let said = format!("reports written to {}{marked}", dir.display());
        // With --json, standard output holds the JSON alone.
        if args.json {
            eprintln!("{said}");
        } else {
            println!("{said}");
        }
    }
    if let Some(incomplete) = &results.incomplete {
        eprintln!("{}", incomplete.headline());
        return Ok(stopped_by
            .get()
            .map_or(EXIT_INTERRUPTED, |stop| stop.exit_code()));
    }
    let errors = results
        .cells
        .iter()
        .filter(|c| c.class() == OutcomeClass::Error)
        .count();
    let deviations = results
        .cells
        .iter()
        .filter(|c| c.outcome.deviation.is_some())
        .count();
    Ok(
        if errors > 0 || checks.failed() || (args.fail_on_deviation && deviations > 0) {
            EXIT_FAILED
        } else {
            EXIT_OK
        },
    )
}

/// A cell's snapshot (outcome, quirks, transcript), then what each quirk means for a client.
fn print_transcript(cell: &CellResult, catalog: &ftps_compat::quirks::Catalog) {
    for line in ftps_compat::snapshot::render(cell).lines() {
        println!("    {line}");
    }
    for found in &cell.outcome.quirks {
        if let Some(quirk) = catalog.quirks.iter().find(|q| q.id == found.id) {
            println!("    quirk {}: {}", quirk.id, quirk.title);
            println!("      why: {}", quirk.explanation.trim());
            println!("      workaround: {}", quirk.workaround.trim());
        }
    }
    println!();
}

/// Per column: how many client behaviours work, and the count of each outcome.
fn print_summary(results: &MatrixResults, checks: &Checks) {
    // "works for 31 of 48": of the cells that ran; then each class's count.
    let classes = &OutcomeClass::ALL[1..];
    println!();
    let mut header = format!("{:<44} {:>9}", "column", "works");
    for class in classes {
        header.push_str(&format!(" {:>7}", class.as_str()));
    }
    println!("{header}");
    for column in &results.columns {
        let cells: Vec<&CellResult> = results
            .cells
            .iter()
            .filter(|c| c.column == column.id && c.backend == column.backend)
            .collect();
        let count = |class| cells.iter().filter(|c| c.class() == class).count();
        let ran = cells.iter().filter(|c| c.class().ran()).count();
        let works = format!("{}/{ran}", count(OutcomeClass::Works));
        let mut line = format!(
            "{:<44} {works:>9}",
            format!("{} ({})", column.id, column.backend)
        );
        for class in classes {
            line.push_str(&format!(" {:>7}", count(*class)));
        }
        println!("{line}");
    }
    let unexplained: Vec<&CellResult> = results
        .cells
        .iter()
        .filter(|c| c.outcome.unexplained)
        .collect();
    if !unexplained.is_empty() {
        println!("\nunexplained (no catalog quirk explains these; a gap in servers/quirks.yaml):");
        for cell in unexplained {
            println!("  {}: {}", cell_line(cell), cell.outcome.summary);
        }
    }
    let errors: Vec<&CellResult> = results
        .cells
        .iter()
        .filter(|c| c.class() == OutcomeClass::Error)
        .collect();
    if !errors.is_empty() {
        println!("\nerrors (the harness or its infrastructure broke):");
        for cell in errors {
            println!("  {}: {}", cell.name(), cell.outcome.summary);
        }
    }
    if let Some(comparison) = &checks.baseline {
        println!("\nagainst the baseline: {}", comparison.headline());
        for change in &comparison.changed {
            println!("  {}: {} -> {}", change.cell, change.old, change.new);
        }
    }
    if !checks.require.is_empty() {
        let names: Vec<&str> = checks.require.iter().map(|c| c.as_str()).collect();
        let failing: Vec<&CellResult> = results
            .cells
            .iter()
            .filter(|c| {
                checks
                    .failures(c)
                    .iter()
                    .any(|f| matches!(f, baseline::CheckFailure::NotRequired { .. }))
            })
            .collect();
        println!(
            "\n--require {}: {} cells do not comply",
            names.join(","),
            failing.len()
        );
        for cell in failing {
            println!("  {}: {}", cell.name(), cell.outcome.summary);
        }
    }
    println!(
        "\n{} cells in {:.1}s",
        results.cells.len(),
        results.duration_ms as f64 / 1000.0
    );
}
