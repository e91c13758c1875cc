//! `ftps-compat check [PATHS]`: validates scenario files; every error, one per line. `run`
//! loads its rows through the same functions, so both accept exactly the same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use ftps_compat::scenario::{self, LoadError, Scenario};

use super::{EXIT_OK, EXIT_USAGE, UsageError, default_scenarios_dir};

#[derive(Args)]
pub struct CheckArgs {
    /// Scenario files or folders (default: the scenarios folder).
    paths: Vec<PathBuf>,
}

/// What a file is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Scenario,
    /// A file of `clients/`, a matrix row `client-<id>`.
    ClientProfile,
}

pub struct ScenarioFile {
    pub path: PathBuf,
    pub kind: FileKind,
}

/// The `*.yaml` files of `dir`, read as `kind`.
pub fn folder(dir: &Path, kind: FileKind) -> Result<Vec<ScenarioFile>, UsageError> {
    let files = scenario::scenario_files(dir)
        .map_err(|e| UsageError(format!("{}: cannot list the folder: {e}", dir.display())))?;
    Ok(files
        .into_iter()
        .map(|path| ScenarioFile { path, kind })
        .collect())
}

/// Every file named by `paths`: a folder gives its scenarios and the client profiles of
/// its `clients/`, as `run` reads them; anything else is read as a scenario file (and said
/// what it is if it is not one).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<ScenarioFile>, UsageError> {
    let paths = if paths.is_empty() {
        vec![default_scenarios_dir()]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(folder(&path, FileKind::Scenario)?);
            let clients = path.join(scenario::CLIENTS_DIR);
            if clients.is_dir() {
                files.extend(folder(&clients, FileKind::ClientProfile)?);
            }
        } else {
            files.push(ScenarioFile {
                path,
                kind: FileKind::Scenario,
            });
        }
    }
    Ok(files)
}

/// Loads and checks every file; all their errors, and ids used twice, or the rows.
pub fn load(files: &[ScenarioFile]) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut ids: BTreeMap<String, &Path> = BTreeMap::new();
    for file in files {
        let loaded = match file.kind {
            FileKind::Scenario => scenario::load_file(&file.path),
            FileKind::ClientProfile => scenario::load_client_profile(&file.path),
        };
        match loaded {
            Ok(row) => {
                if let Some(first) = ids.insert(row.id.clone(), &file.path) {
                    errors.push(LoadError {
                        path: file.path.clone(),
                        line: 1,
                        column: 1,
                        message: format!("duplicate id {:?} (also in {})", row.id, first.display()),
                    });
                }
                rows.push(row);
            }
            Err(mut file_errors) => errors.append(&mut file_errors),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Load errors as bad input: one `error:` line each.
pub fn usage_error(errors: &[LoadError]) -> UsageError {
    UsageError(
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\nerror: "),
    )
}

pub fn check(args: CheckArgs) -> Result<i32, UsageError> {
    let files = expand(&args.paths)?;
    match load(&files) {
        Ok(_) => {
            println!("{} scenario files OK", files.len());
            Ok(EXIT_OK)
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!("{} errors in {} files", errors.len(), files.len());
            Ok(EXIT_USAGE)
        }
    }
}
