//! `ftps-compat run` without `--target`: the matrix of every scenario on every server
//! configuration, with progress, a summary, and reports.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use ftps_compat::matrix::{
    self, BackendChoice, CellResult, Filters, MatrixConfig, MatrixError, MatrixResults, Verdict,
};
use ftps_compat::scenario::{Dur, Scenario};

use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, servers_dir};

pub struct MatrixArgs {
    pub filters: Filters,
    pub backend: BackendChoice,
    pub jobs: Option<usize>,
    pub cell_timeout: String,
    pub report_dir: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, UsageError> {
    serde_saphyr::from_str::<Dur>(text)
        .map(|d| d.0)
        .map_err(|_| {
            UsageError(format!(
                "--cell-timeout {text:?}: expected a duration like 90s or 2m"
            ))
        })
}

fn plain_output() -> bool {
    !std::io::stdout().is_terminal()
        || std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn cell_line(cell: &CellResult) -> String {
    let code = cell
        .decisive
        .as_ref()
        .and_then(|d| d.code)
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let quirks = if cell.quirks.is_empty() {
        String::new()
    } else {
        format!(
            " [{}]",
            cell.quirks
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "{:<7} {}{code}{quirks} ({})",
        cell.verdict.as_str(),
        cell.name(),
        cell.backend
    )
}

pub fn run_matrix(scenarios: Vec<Scenario>, args: MatrixArgs) -> Result<i32, UsageError> {
    let cell_timeout = parse_duration(&args.cell_timeout)?;
    let inputs = matrix::Inputs::load(&servers_dir(), scenarios, &args.filters, args.backend)
        .map_err(UsageError)?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let config = MatrixConfig { jobs, cell_timeout };
    let total = (inputs.columns.len() * inputs.scenarios.len()) as u64;
    let plain = plain_output();
    let bar = if plain {
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
    let run = matrix::run(
        inputs.columns,
        inputs.scenarios,
        inputs.catalog,
        inputs.account,
        config,
        |cell| {
            if plain {
                println!("{}", cell_line(cell));
            } else {
                bar.set_message(cell.name());
                bar.inc(1);
            }
        },
        super::serve::wait_for_stop(),
    );
    let results = match runtime.block_on(run) {
        Ok(results) => results,
        Err(interrupted @ MatrixError::Interrupted { .. }) => {
            bar.finish_and_clear();
            eprintln!("{interrupted}");
            return Ok(EXIT_INTERRUPTED);
        }
        Err(e) => return Err(UsageError(e.to_string())),
    };
    bar.finish_and_clear();
    print_summary(&results);
    if let Some(dir) = &args.report_dir {
        std::fs::create_dir_all(dir).map_err(|e| UsageError(format!("{}: {e}", dir.display())))?;
        ftps_compat::report::write_reports(&results, dir)
            .map_err(|e| UsageError(format!("writing reports to {}: {e}", dir.display())))?;
        println!("reports written to {}", dir.display());
    }
    let bad = results
        .cells
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        .count();
    Ok(if bad > 0 { EXIT_FAILED } else { EXIT_OK })
}

fn print_summary(results: &MatrixResults) {
    let verdicts = [
        Verdict::Pass,
        Verdict::Quirk,
        Verdict::Fail,
        Verdict::Error,
        Verdict::Skipped,
    ];
    println!();
    println!(
        "{:<40} {:>5} {:>5} {:>5} {:>5} {:>7}",
        "column", "pass", "quirk", "fail", "error", "skipped"
    );
    let mut per_column: BTreeMap<(usize, String), [usize; 5]> = BTreeMap::new();
    for (order, column) in results.columns.iter().enumerate() {
        per_column.insert(
            (order, format!("{} ({})", column.id, column.backend)),
            [0; 5],
        );
    }
    for cell in &results.cells {
        let key = results
            .columns
            .iter()
            .position(|c| c.id == cell.column && c.backend == cell.backend)
            .map(|i| (i, format!("{} ({})", cell.column, cell.backend)));
        if let Some(counts) = key.and_then(|k| per_column.get_mut(&k)) {
            counts[verdicts
                .iter()
                .position(|v| *v == cell.verdict)
                .unwrap_or(4)] += 1;
        }
    }
    for ((_, name), counts) in &per_column {
        println!(
            "{name:<40} {:>5} {:>5} {:>5} {:>5} {:>7}",
            counts[0], counts[1], counts[2], counts[3], counts[4]
        );
    }
    let problems: Vec<&CellResult> = results
        .cells
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
        .collect();
    if !problems.is_empty() {
        println!("\nfailures:");
        for cell in problems {
            println!("  {}: {}", cell_line(cell), cell.reason);
        }
    }
    println!(
        "\n{} cells in {:.1}s",
        results.cells.len(),
        results.duration_ms as f64 / 1000.0
    );
}
