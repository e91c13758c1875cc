//! `ftps-compat run`: replays scenarios against a server and prints each transcript and
//! outcome.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use clap::Args;

use ftps_compat::matrix::{BackendChoice, Filters};
use ftps_compat::outcome::{self, OutcomeClass};
use ftps_compat::quirks::Catalog;
use ftps_compat::runner::{self, RunError};
use ftps_compat::scenario::{self, Scenario};

use super::check::{self, FileKind, ScenarioFile};
use super::{EXIT_FAILED, EXIT_OK, UsageError, default_scenarios_dir, matrix, servers_dir, target};

#[derive(Args)]
pub struct RunArgs {
    /// Server to test (the external backend): ftps://USER:PASS@HOST:PORT is implicit,
    /// ftpes:// explicit, ftp:// taken as explicit; with no scheme, both are tried.
    #[arg(long)]
    target: Option<String>,
    /// PEM file with the CA(s) that signed the target's certificate.
    #[arg(long, requires = "target")]
    ca: Option<PathBuf>,
    /// Scenario id (from the scenarios folder) or file; repeatable. Default: all.
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Where scenario ids are looked up.
    #[arg(long)]
    scenarios_dir: Option<PathBuf>,
    /// Matrix: only servers matching these globs (repeatable).
    #[arg(long = "servers", conflicts_with = "target")]
    servers: Vec<String>,
    /// Matrix: only profiles matching these globs (`explicit-*`, `vsftpd/*`).
    #[arg(long = "profiles", conflicts_with = "target")]
    profiles: Vec<String>,
    /// Matrix: only scenarios matching these globs.
    #[arg(long = "scenarios", conflicts_with_all = ["scenarios", "target"])]
    scenario_globs: Vec<String>,
    /// Matrix: which backends run the real servers.
    #[arg(long, value_enum, default_value_t = BackendChoice::All, conflicts_with = "target")]
    backend: BackendChoice,
    /// Matrix: cells run at once (default: the number of cores).
    #[arg(long, value_parser = parse_jobs, conflicts_with = "target")]
    jobs: Option<NonZeroUsize>,
    /// Time limit per cell (with --target: per scenario), e.g. 90s.
    #[arg(long, default_value = "120s")]
    cell_timeout: String,
    /// Matrix: write matrix.md, index.html, results.json and junit.xml here (created, and
    /// checked writable, before any cell runs).
    #[arg(long, conflicts_with = "target")]
    report_dir: Option<PathBuf>,
    /// Matrix: a previous results.json; a cell whose outcome class, decisive code or quirk
    /// ids differ from it is listed old -> new and the run exits 1.
    #[arg(long, conflicts_with = "target")]
    baseline: Option<PathBuf>,
    /// Matrix: the outcome classes every cell that ran must have (`works`, or a list such
    /// as `works,refused`); any other exits 1.
    #[arg(long, value_delimiter = ',', conflicts_with = "target")]
    require: Vec<OutcomeClass>,
    /// Rows: the client profiles (scenarios/clients/, rows `client-<id>`: "which clients
    /// work with which servers") and the scenario corpus, or only one of them.
    #[arg(long, value_enum, default_value_t = View::All)]
    view: View,
}

/// Which rows a run has.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    Scenarios,
    Clients,
    All,
}

/// The rows of a view: the requested scenarios and/or every client profile, loaded and
/// checked as `check` does.
fn rows(view: View, requested: &[String], dir: &Path) -> Result<Vec<Scenario>, UsageError> {
    let mut files = Vec::new();
    if view != View::Clients {
        if requested.is_empty() {
            files.extend(check::folder(dir, FileKind::Scenario)?);
        } else {
            files.extend(requested.iter().map(|spec| ScenarioFile {
                path: resolve(spec, dir),
                kind: FileKind::Scenario,
            }));
        }
    }
    if view != View::Scenarios {
        let clients = dir.join(scenario::CLIENTS_DIR);
        files.extend(check::folder(&clients, FileKind::ClientProfile)?);
    }
    check::load(&files).map_err(|errors| check::usage_error(&errors))
}

/// `--scenario ID` is a file of the scenarios folder; a path is itself.
fn resolve(spec: &str, dir: &Path) -> PathBuf {
    let as_path = Path::new(spec);
    if as_path.is_file() || spec.ends_with(".yaml") || spec.contains('/') {
        as_path.to_owned()
    } else {
        dir.join(format!("{spec}.yaml"))
    }
}

/// `--jobs`: cells run at once, at least one.
fn parse_jobs(text: &str) -> Result<NonZeroUsize, String> {
    text.parse::<NonZeroUsize>()
        .map_err(|_| "expected a number of cells above 0".to_string())
}

pub fn run(args: RunArgs) -> Result<i32, UsageError> {
    let dir = args
        .scenarios_dir
        .clone()
        .unwrap_or_else(default_scenarios_dir);
    let Some(target) = &args.target else {
        let filters = Filters {
            servers: args.servers.clone(),
            profiles: args.profiles.clone(),
            scenarios: args.scenario_globs.clone(),
        };
        // Bad flags are said before any file is read.
        filters.check().map_err(|e| UsageError(e.to_string()))?;
        let scenarios = rows(args.view, &args.scenarios, &dir)?;
        let options = matrix::MatrixArgs {
            filters,
            backend: args.backend,
            jobs: args.jobs,
            cell_timeout: args.cell_timeout.clone(),
            report_dir: args.report_dir.clone(),
            baseline: args.baseline.clone(),
            require: args.require.clone(),
        };
        return matrix::run_matrix(scenarios, options);
    };
    let scenarios = rows(args.view, &args.scenarios, &dir)?;
    let cell_timeout = matrix::parse_cell_timeout(&args.cell_timeout)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    let endpoint = target::endpoint(&runtime, target, args.ca.as_deref())?;
    for scenario in &scenarios {
        runner::validate(scenario, &endpoint).or_else(|e| match e {
            RunError::NotApplicable(_) => Ok(()),
            other => Err(UsageError(other.to_string())),
        })?;
    }
    let catalog_path = servers_dir().join("quirks.yaml");
    let catalog = Catalog::load(&catalog_path).map_err(|e| UsageError(e.to_string()))?;
    let mut deviations = 0;
    for scenario in &scenarios {
        println!("### {}", scenario.id);
        // The timer is made inside the runtime, which it needs.
        let bounded =
            async { tokio::time::timeout(cell_timeout, runner::run(scenario, &endpoint)).await };
        match runtime.block_on(bounded) {
            Err(_) => {
                // The same deadline as a matrix cell: whatever the server does, it ends.
                deviations += 1;
                println!("error: the scenario did not finish within {cell_timeout:?}\n");
            }
            Ok(Err(RunError::NotApplicable(reason))) => println!("skipped: {reason}\n"),
            Ok(Err(other)) => return Err(UsageError(other.to_string())),
            Ok(Ok(result)) => {
                print!("{}", result.transcript.render());
                let answer = outcome::answer(scenario, &result, &catalog);
                println!("outcome: {}", answer.summary);
                println!("quirks: {}", answer.quirk_list());
                match &answer.deviation {
                    Some(expected) => {
                        deviations += 1;
                        println!("deviation: the scenario {expected}\n");
                    }
                    None => println!("as the scenario expects\n"),
                }
            }
        }
    }
    // Replaying scenarios: a deviation from `expect:` is what the user asked about.
    Ok(if deviations > 0 { EXIT_FAILED } else { EXIT_OK })
}
