//! The compatibility matrix under `cargo test`: one trial per cell, named
//! `server/profile::scenario` (filter with `cargo test --test compat -- vsftpd`); client
//! profiles (scenarios/clients/) are rows named `client-<id>`.
//! Each trial runs its cell on a fresh server instance and compares its snapshot (the
//! outcome line, the quirks, then the normalized transcript) with the committed one: the
//! snapshot is the baseline, so whatever the outcome, only a change fails (or an `error`
//! cell, where the harness broke). Cells that cannot run here are ignored with their reason.
//! New or changed snapshots fail under CI with the old and new answer named;
//! `cargo insta review` accepts changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

use ftps_compat::matrix::{
    self, BackendChoice, CellContext, Column, Filters, Inputs, MatrixConfig,
};
use ftps_compat::outcome::OutcomeClass;
use ftps_compat::scenario::{self, Scenario};
use ftps_compat::snapshot;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load_inputs() -> Inputs {
    let dir = repo().join("scenarios");
    let mut scenarios = Vec::new();
    for file in scenario::scenario_files(&dir).expect("scenarios folder") {
        match scenario::load_file(&file) {
            Ok(s) => scenarios.push(s),
            Err(errors) => panic!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
    // Client profiles are rows too: `server/profile::client-<id>`.
    let clients = dir.join(scenario::CLIENTS_DIR);
    match scenario::load_client_profiles(&clients) {
        Ok(rows) => scenarios.extend(rows),
        Err(errors) => panic!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
    let filters = Filters {
        servers: vec![],
        profiles: vec![],
        scenarios: vec![],
        exclude: Vec::new(),
    };
    Inputs::load(
        &repo().join("servers"),
        scenarios,
        &filters,
        BackendChoice::All,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    context: CellContext,
}

fn shared(inputs: &Inputs) -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let config = MatrixConfig {
            jobs: 1,
            cell_timeout: Duration::from_secs(120),
        };
        Shared {
            runtime: tokio::runtime::Runtime::new().expect("tokio runtime"),
            context: CellContext::new(inputs.account.clone(), inputs.catalog.clone(), config)
                .expect("generating the run's certificates"),
        }
    })
}

/// The committed snapshot file's text, if there is one.
fn committed_snapshot(name: &str) -> Option<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.snap"));
    std::fs::read_to_string(path).ok()
}

fn run_trial(column: &Column, scenario: &Scenario, inputs: &Inputs) -> Result<Completion, Failed> {
    let shared = shared(inputs);
    let cell = shared
        .runtime
        .block_on(matrix::run_cell(column, scenario, &shared.context));
    match cell.class() {
        OutcomeClass::Skipped => return Ok(Completion::ignored_with(cell.outcome.summary)),
        OutcomeClass::Error => {
            return Err(format!(
                "{} [{}]: {}\n\n{}\n--- server log ---\n{}",
                cell.name(),
                cell.backend,
                cell.outcome.summary,
                cell.transcript_text(),
                cell.log_excerpt
            )
            .into());
        }
        _ => {}
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(format!(
        "{} on {} ({})",
        scenario.id,
        column.id(),
        column.version.as_deref().unwrap_or("version unknown")
    ));
    settings.set_omit_expression(true);
    let name = format!("{}__{}__{}", column.server, column.profile, scenario.id);
    let text = snapshot::render(&cell);
    let committed = committed_snapshot(&name);
    // insta panics on a mismatch (after writing a .snap.new for review outside CI); the
    // failure then says what changed about the answer, not only that bytes differ.
    let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name.as_str(), text.as_str()))
    }));
    match compared {
        Ok(()) => Ok(Completion::Completed),
        Err(_) => Err(snapshot::explain_change(committed.as_deref(), &text, &cell.name()).into()),
    }
}

fn main() {
    let mut args = Arguments::from_args();
    // Trials wait on servers far more than they compute: by default run 8 at once, not one
    // per core (2 cores took the trials past 15 minutes once 2,000 cells ran).
    if args.test_threads.is_none() {
        args.test_threads = Some(8);
    }
    let inputs = Arc::new(load_inputs());
    let mut trials = Vec::new();
    for column in &inputs.columns {
        for scenario in &inputs.scenarios {
            let name = format!("{}::{}", column.id(), scenario.id);
            let kind = column.backend.to_string();
            let (column, scenario, inputs) = (column.clone(), scenario.clone(), inputs.clone());
            trials.push(
                Trial::ignorable_test(name, move || run_trial(&column, &scenario, &inputs))
                    .with_kind(kind),
            );
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Servers and temp dirs belong to finished trials and are gone; exit() skips destructors.
    conclusion.exit();
}
