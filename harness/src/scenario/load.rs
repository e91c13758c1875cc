//! Loading scenario files with errors a person can act on: `file:line:column: what was
//! expected`, every error of a file rather than only the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::model::{Scenario, Step};
pub use crate::yaml::LoadError;
use crate::yaml::without_position;

/// Loads one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, Vec<LoadError>> {
    let source =
        std::fs::read_to_string(path).map_err(|e| vec![LoadError::unreadable(path, &e)])?;
    let scenario = parse(path, &source)?;
    check_id(path, &source, &scenario)?;
    Ok(scenario)
}

/// Parses scenario text; `path` is only used in messages.
pub fn parse(path: &Path, source: &str) -> Result<Scenario, Vec<LoadError>> {
    match serde_saphyr::from_str::<Scenario>(source) {
        Ok(scenario) => Ok(scenario),
        Err(first) => {
            let first = LoadError::from_yaml(path, &first);
            let mut errors = other_step_errors(path, source, &first);
            errors.insert(0, first);
            errors.sort_by_key(|e| (e.line, e.column));
            Err(errors)
        }
    }
}

#[derive(Deserialize)]
struct LooseScenario {
    #[serde(default)]
    steps: Vec<Spanned<serde_json::Value>>,
    #[serde(flatten)]
    _rest: BTreeMap<String, IgnoredAny>,
}

/// Serde stops at the first error; to report every bad step, each step is checked on its
/// own. The step holding the first error is skipped (already reported, more precisely).
fn other_step_errors(path: &Path, source: &str, first: &LoadError) -> Vec<LoadError> {
    let Ok(loose) = serde_saphyr::from_str::<LooseScenario>(source) else {
        return Vec::new();
    };
    let starts: Vec<u64> = loose.steps.iter().map(|s| s.referenced.line()).collect();
    let holder = starts.iter().rposition(|&line| line <= first.line);
    loose
        .steps
        .into_iter()
        .enumerate()
        .filter(|(index, _)| Some(*index) != holder)
        .filter_map(|(_, step)| {
            serde_json::from_value::<Step>(step.value)
                .err()
                .map(|e| LoadError {
                    path: path.to_owned(),
                    line: step.referenced.line(),
                    column: step.referenced.column(),
                    message: without_position(&e.to_string()),
                })
        })
        .collect()
}

/// The id must be the file name, so `--scenario ID` and the file agree.
fn check_id(path: &Path, source: &str, scenario: &Scenario) -> Result<(), Vec<LoadError>> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if scenario.id == stem {
        return Ok(());
    }
    let (line, column) = source
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("id:").filter(|&c| c == 0).map(|c| (i + 1, c + 1)))
        .unwrap_or((1, 1));
    Err(vec![LoadError {
        path: path.to_owned(),
        line: line as u64,
        column: column as u64,
        message: format!(
            "id {:?} does not match the file name: expected id: {stem}",
            scenario.id
        ),
    }])
}

/// All `*.yaml` files in `dir`, sorted.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
id: good
about: a client
reference: RFC 4217 section 9
client:
  tls: { resume: false }
steps:
  - login
  - pbsz: 0
  - prot: P
  - stor: { path: up.bin, size: 1MiB }
  - retr: { path: up.bin }
expect:
  reply: { code: 522, step: 4 }
";

    #[test]
    fn parses_a_scenario() {
        let scenario = parse(Path::new("good.yaml"), GOOD).unwrap();
        assert_eq!(scenario.steps.len(), 5);
        assert!(!scenario.client.tls.resume);
        assert_eq!(scenario.steps[3].label(), "stor up.bin (1 MiB)");
        assert_eq!(scenario.steps[1].label(), "pbsz 0");
    }

    #[test]
    fn unknown_step_names_its_line_and_column() {
        let bad = GOOD.replace("  - pbsz: 0", "  - frobnicate: 0");
        let errors = parse(Path::new("bad.yaml"), &bad).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = errors[0].to_string();
        assert!(text.starts_with("bad.yaml:8:5: "), "{text}");
        assert!(text.contains("frobnicate"), "{text}");
    }

    #[test]
    fn reports_every_bad_step() {
        let bad = GOOD.replace("  - pbsz: 0", "  - frobnicate: 0").replace(
            "  - retr: { path: up.bin }",
            "  - retr: { path: up.bin, verfy: true }",
        );
        let errors = parse(Path::new("bad.yaml"), &bad).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].line, 8);
        assert_eq!(errors[1].line, 11);
        assert!(errors[1].message.contains("verfy"), "{}", errors[1]);
    }

    #[test]
    fn unknown_client_key_is_an_error() {
        let bad = GOOD.replace(
            "tls: { resume: false }",
            "tls: { resume: false, resuem: 1 }",
        );
        let errors = parse(Path::new("bad.yaml"), &bad).unwrap_err();
        assert_eq!(errors[0].line, 5, "{errors:?}");
        assert!(errors[0].message.contains("resuem"), "{}", errors[0]);
    }
}
