//! `ftps-compat check [PATHS]`: validates scenario files; every error, one per line.

use std::path::PathBuf;

use clap::Args;

use ftps_compat::scenario::{self, LoadError};

use super::{EXIT_OK, EXIT_USAGE, UsageError, default_scenarios_dir};

#[derive(Args)]
pub struct CheckArgs {
    /// Scenario files or folders (default: the scenarios folder).
    paths: Vec<PathBuf>,
}

/// Every scenario file named by `paths` (folders expand to their *.yaml).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, UsageError> {
    let paths = if paths.is_empty() {
        vec![default_scenarios_dir()]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(
                scenario::scenario_files(&path)
                    .map_err(|e| UsageError(format!("{}: {e}", path.display())))?,
            );
        } else if path.is_file() {
            files.push(path);
        } else {
            return Err(UsageError(format!(
                "{}: no such file or folder",
                path.display()
            )));
        }
    }
    Ok(files)
}

pub fn check(args: CheckArgs) -> Result<i32, UsageError> {
    let files = expand(&args.paths)?;
    let mut errors: Vec<LoadError> = Vec::new();
    let mut ids = std::collections::BTreeMap::new();
    for file in &files {
        match scenario::load_file(file) {
            Ok(s) => {
                if let Some(first) = ids.insert(s.id.clone(), file.clone()) {
                    errors.push(LoadError {
                        path: file.clone(),
                        line: 1,
                        column: 1,
                        message: format!("duplicate id {:?} (also in {})", s.id, first.display()),
                    });
                }
            }
            Err(mut file_errors) => errors.append(&mut file_errors),
        }
    }
    for error in &errors {
        eprintln!("{error}");
    }
    if errors.is_empty() {
        println!("{} scenario files OK", files.len());
        Ok(EXIT_OK)
    } else {
        eprintln!("{} errors in {} files", errors.len(), files.len());
        Ok(EXIT_USAGE)
    }
}
