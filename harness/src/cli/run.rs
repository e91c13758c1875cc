//! `ftps-compat run`: replays scenarios against a server and prints each transcript and
//! outcome.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use clap::Args;

use ftps_compat::client::tls::Verify;
use ftps_compat::matrix::{BackendChoice, Column, Filters};
use ftps_compat::outcome::OutcomeClass;
use ftps_compat::quirks::Catalog;
use ftps_compat::runner::{self, RunError};
use ftps_compat::scenario::{self, Scenario, Step};
use ftps_compat::servers::backend::{BackendKind, ServerSource};
use ftps_compat::servers::manifest::{Account, Mode};
use ftps_compat::target::TargetUrl;

use super::check::{self, FileKind, ScenarioFile};
use super::{EXIT_FAILED, UsageError, default_scenarios_dir, matrix, servers_dir, target};

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
    /// Only scenarios matching these globs (repeatable).
    #[arg(long = "scenarios", conflicts_with = "scenarios")]
    scenario_globs: Vec<String>,
    /// Leave out scenarios matching these globs (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// With --target: go on when the certificate does not verify (scenarios that verify
    /// with the CA stop verifying).
    #[arg(long, requires = "target")]
    insecure: bool,
    /// With --target: a PEM client certificate (and --client-key) for the scenarios that
    /// present one.
    #[arg(long, requires_all = ["target", "client_key"])]
    client_cert: Option<PathBuf>,
    /// With --target: the PEM private key of --client-cert.
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Print the results as JSON (the form of results.json, docs/results.md) instead of
    /// lines and a summary.
    #[arg(long)]
    json: bool,
    /// With --target: print every scenario's transcript, not only those that do not work.
    #[arg(long, requires = "target")]
    verbose: bool,
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
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Matrix: a previous results.json; a cell whose outcome class, decisive code or quirk
    /// ids differ from it is listed old -> new and the run exits 1.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Matrix: the outcome classes every cell that ran must have (`works`, or a list such
    /// as `works,refused`); any other exits 1.
    #[arg(long, value_delimiter = ',')]
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
    let filters = Filters {
        servers: args.servers.clone(),
        profiles: args.profiles.clone(),
        scenarios: args.scenario_globs.clone(),
        exclude: args.exclude.clone(),
    };
    // Bad flags are said before any file is read.
    filters.check().map_err(|e| UsageError(e.to_string()))?;
    let mut scenarios = rows(args.view, &args.scenarios, &dir)?;
    let mut options = matrix::MatrixArgs {
        filters,
        backend: args.backend,
        jobs: args.jobs,
        cell_timeout: args.cell_timeout.clone(),
        report_dir: args.report_dir.clone(),
        baseline: args.baseline.clone(),
        require: args.require.clone(),
        transcripts: matrix::Transcripts::None,
        json: args.json,
        fail_on_deviation: false,
    };
    let Some(target) = &args.target else {
        return matrix::run_matrix(scenarios, options);
    };
    // Target mode: one column, the named server, its cells one at a time (it is not ours).
    options.jobs = NonZeroUsize::new(1);
    options.transcripts = if args.verbose {
        matrix::Transcripts::All
    } else {
        matrix::Transcripts::Failing
    };
    options.fail_on_deviation = true;
    scenarios = options
        .filters
        .apply_scenarios(scenarios)
        .map_err(|e| UsageError(e.to_string()))?;
    if scenarios.is_empty() {
        return Err(UsageError("no scenario is left to run".into()));
    }
    if args.insecure {
        for scenario in &mut scenarios {
            if scenario.client.tls.verify == Verify::Ca {
                scenario.client.tls.verify = Verify::None;
            }
        }
    }
    let prepared = matrix::prepare(&options)?;
    let url = TargetUrl::parse(target).map_err(|e| UsageError(format!("--target {e}")))?;
    let mut trust = target::trust(args.ca.as_deref())?;
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        trust.client_identity = Some(target::client_identity(cert, key)?);
    }
    // For the scenarios that must see verification fail: a CA that signed nothing.
    trust.unrelated_root = Some(
        ftps_compat::certs::Pki::generate()
            .map_err(|e| UsageError(e.to_string()))?
            .unrelated_ca_der,
    );
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    let mut endpoint = target::endpoint(&runtime, &url, trust)?;
    for scenario in &scenarios {
        runner::validate(scenario, &endpoint).or_else(|e| match e {
            RunError::NotApplicable(_) => Ok(()),
            other => Err(UsageError(other.to_string())),
        })?;
    }
    let verify = if args.insecure {
        Verify::None
    } else {
        Verify::Ca
    };
    let uploads = uploaded_files(&scenarios);
    // Uploads get a folder of their own; a run that uploads nothing touches nothing.
    if !uploads.is_empty() {
        let folder = ftps_compat::target::work_dir_name();
        match runtime.block_on(ftps_compat::target::make_work_dir(
            &endpoint, verify, &folder,
        )) {
            Ok(()) => {
                eprintln!("uploads go to the folder {folder}, removed at the end");
                endpoint.work_dir = Some(folder);
            }
            Err(why) => eprintln!(
                "note: cannot make a folder for the uploads ({why}); they go to the login folder"
            ),
        }
    }
    let mode = match endpoint.implicit_port {
        Some(_) => Mode::Implicit,
        None => Mode::Explicit,
    };
    let port = endpoint
        .implicit_port
        .or(endpoint.explicit_port)
        .unwrap_or_default();
    let column = Column {
        server: "target".into(),
        profile: format!("{}:{port}", url.tls_name),
        backend: BackendKind::External,
        source: ServerSource::External(Box::new(endpoint.clone())),
        about: format!("the server named by --target ({})", url.display_given()),
        mode: Some(mode),
        version: None,
        unavailable: None,
    };
    let catalog =
        Catalog::load(&servers_dir().join("quirks.yaml")).map_err(|e| UsageError(e.to_string()))?;
    let account = Account::load(&servers_dir().join("account.yaml"))
        .map_err(|e| UsageError(e.to_string()))?;
    let inputs = ftps_compat::matrix::Inputs {
        columns: vec![column],
        scenarios,
        catalog: std::sync::Arc::new(catalog),
        account,
    };
    let code = matrix::execute(inputs, prepared, options)?;
    // Whatever happened, the server is left as it was found, or the user is told.
    if let Some(folder) = &endpoint.work_dir {
        match runtime.block_on(ftps_compat::target::remove_work_dir(
            &endpoint, verify, folder, &uploads,
        )) {
            Ok(()) => eprintln!("removed the folder {folder} and its files"),
            Err(why) => {
                eprintln!(
                    "warning: the folder {folder} could not be removed ({why}); remove it by hand"
                );
                return Ok(code.max(EXIT_FAILED));
            }
        }
    }
    Ok(code)
}

/// Every file the scenarios upload, once each.
fn uploaded_files(scenarios: &[Scenario]) -> Vec<String> {
    let mut files: Vec<String> = scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter_map(|step| match step {
            Step::Stor(upload) | Step::Appe(upload) => Some(upload.path.clone()),
            _ => None,
        })
        .collect();
    files.sort();
    files.dedup();
    files
}
