//! `ftps-compat run`: replays scenarios against a server and prints each transcript and
//! outcome.

use std::path::{Path, PathBuf};

use clap::Args;

use ftps_compat::matrix::{BackendChoice, Filters};
use ftps_compat::outcome::{self, OutcomeClass};
use ftps_compat::quirks::Catalog;
use ftps_compat::runner::{self, RunError};
use ftps_compat::scenario::{self, Scenario};

use super::{EXIT_FAILED, EXIT_OK, UsageError, default_scenarios_dir, matrix, servers_dir, target};

#[derive(Args)]
pub struct RunArgs {
    /// Server to test: ftp[s]://USER:PASS@HOST:PORT (the external backend).
    #[arg(long)]
    target: Option<String>,
    /// Connect to the target with implicit FTPS (TLS from the first byte).
    #[arg(long, requires = "target")]
    implicit: bool,
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
    #[arg(long = "scenarios", conflicts_with = "scenarios")]
    scenario_globs: Vec<String>,
    /// Matrix: which backends run the real servers.
    #[arg(long, value_enum, default_value_t = BackendChoice::All, conflicts_with = "target")]
    backend: BackendChoice,
    /// Matrix: cells run at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Matrix: time limit per cell, e.g. 90s.
    #[arg(long, default_value = "120s")]
    cell_timeout: String,
    /// Matrix: write matrix.md, index.html, results.json and junit.xml here.
    #[arg(long)]
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

/// The rows of a view: the requested scenarios and/or every client profile.
fn rows(view: View, requested: &[String], dir: &Path) -> Result<Vec<Scenario>, UsageError> {
    let mut rows = if view == View::Clients {
        Vec::new()
    } else {
        load_scenarios(requested, dir)?
    };
    if view != View::Scenarios {
        let clients = dir.join(scenario::CLIENTS_DIR);
        let profiles = scenario::load_client_profiles(&clients).map_err(|errors| {
            UsageError(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\nerror: "),
            )
        })?;
        rows.extend(profiles);
    }
    Ok(rows)
}

fn resolve(spec: &str, dir: &Path) -> PathBuf {
    let as_path = Path::new(spec);
    if as_path.is_file() || spec.ends_with(".yaml") || spec.contains('/') {
        as_path.to_owned()
    } else {
        dir.join(format!("{spec}.yaml"))
    }
}

/// Loads every requested scenario, or fails with all their errors and runs nothing.
pub fn load_scenarios(requested: &[String], dir: &Path) -> Result<Vec<Scenario>, UsageError> {
    let files = if requested.is_empty() {
        scenario::scenario_files(dir).map_err(|e| UsageError(format!("{}: {e}", dir.display())))?
    } else {
        requested.iter().map(|s| resolve(s, dir)).collect()
    };
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for file in &files {
        if !file.is_file() {
            errors.push(format!("{}: no such scenario file", file.display()));
            continue;
        }
        match scenario::load_file(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.extend(e.iter().map(ToString::to_string)),
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(UsageError(errors.join("\nerror: ")))
    }
}

pub fn run(args: RunArgs) -> Result<i32, UsageError> {
    let dir = args
        .scenarios_dir
        .clone()
        .unwrap_or_else(default_scenarios_dir);
    let scenarios = rows(args.view, &args.scenarios, &dir)?;
    let Some(target) = &args.target else {
        let filters = Filters {
            servers: args.servers.clone(),
            profiles: args.profiles.clone(),
            scenarios: args.scenario_globs.clone(),
        };
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
    let endpoint = target::endpoint(target, args.implicit, args.ca.as_deref())?;
    for scenario in &scenarios {
        runner::validate(scenario, &endpoint).or_else(|e| match e {
            RunError::NotApplicable(_) => Ok(()),
            other => Err(UsageError(other.to_string())),
        })?;
    }
    let catalog_path = servers_dir().join("quirks.yaml");
    let catalog = Catalog::load(&catalog_path).map_err(|e| UsageError(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    let mut deviations = 0;
    for scenario in &scenarios {
        println!("### {}", scenario.id);
        match runtime.block_on(runner::run(scenario, &endpoint)) {
            Err(RunError::NotApplicable(reason)) => println!("skipped: {reason}\n"),
            Err(other) => return Err(UsageError(other.to_string())),
            Ok(result) => {
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
