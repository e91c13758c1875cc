//! Loading scenario files with errors a person can act on: `file:line:column: what was
//! expected`, every error of a file rather than only the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::model::{ClientSpec, RowKind, Scenario, Step};
use super::spans::Spans;
use super::validate::validate;
pub use crate::yaml::LoadError;
use crate::yaml::{self, without_position};

/// Client profiles live next to the scenarios, in `clients/<id>.yaml`.
pub const CLIENTS_DIR: &str = "clients";
/// A client profile runs as a matrix row named `client-<id>`.
pub const CLIENT_ROW_PREFIX: &str = "client-";

/// A file that parsed, with what the checks after parsing need.
struct Parsed {
    scenario: Scenario,
    source: String,
    spans: Spans,
}

fn read_and_parse(path: &Path) -> Result<Parsed, Vec<LoadError>> {
    let source = yaml::read_text(path).map_err(|e| vec![e])?;
    let scenario = parse_only(path, &source)?;
    let spans = Spans::of(&source);
    Ok(Parsed {
        scenario,
        source,
        spans,
    })
}

/// Loads one scenario file. A `client.profile` is resolved against `clients/` next to it:
/// the profile's knobs first, the scenario's own knobs on top.
pub fn load_file(path: &Path) -> Result<Scenario, Vec<LoadError>> {
    let Parsed {
        mut scenario,
        source,
        spans,
    } = read_and_parse(path)?;
    if let Some(profile) = scenario.client.profile.clone() {
        let clients = path.parent().unwrap_or(Path::new(".")).join(CLIENTS_DIR);
        scenario.client = apply_profile(path, &source, &spans, &clients, &profile)?;
    }
    validate(path, &scenario, RowKind::Behaviour, &spans)?;
    Ok(scenario)
}

/// Loads every client profile in `dir` as a matrix row: the profile's knobs, its usual
/// session (steps), expectation and tolerances, under the id `client-<id>`.
pub fn load_client_profiles(dir: &Path) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let files = scenario_files(dir).map_err(|e| vec![LoadError::unreadable(dir, &e)])?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_client_profile(&file) {
            Ok(row) => rows.push(row),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// One client profile file (scenario format; it cannot name another profile).
pub fn load_client_profile(path: &Path) -> Result<Scenario, Vec<LoadError>> {
    let Parsed {
        mut scenario,
        spans,
        ..
    } = read_and_parse(path)?;
    validate(path, &scenario, RowKind::Client, &spans)?;
    scenario.id = format!("{CLIENT_ROW_PREFIX}{}", scenario.id);
    scenario.row = RowKind::Client;
    Ok(scenario)
}

#[derive(Deserialize)]
struct RawClient {
    #[serde(default)]
    client: serde_json::Value,
    #[serde(flatten)]
    _rest: BTreeMap<String, IgnoredAny>,
}

fn raw_client(path: &Path, source: &str) -> Result<serde_json::Value, Vec<LoadError>> {
    yaml::from_str::<RawClient>(path, source)
        .map(|raw| raw.client)
        .map_err(|e| vec![e])
}

/// The profile's client mapping with the scenario's written on top (mappings merge key by
/// key; anything else is replaced).
fn apply_profile(
    path: &Path,
    source: &str,
    spans: &Spans,
    clients: &Path,
    profile: &str,
) -> Result<ClientSpec, Vec<LoadError>> {
    let (line, column) = spans.at("client.profile");
    let here = |message: String| {
        vec![LoadError {
            path: path.to_owned(),
            line,
            column,
            message,
        }]
    };
    let profile_path = clients.join(format!("{profile}.yaml"));
    // Anything there (even a FIFO or a link loop) is read, and said what it is.
    if profile_path.symlink_metadata().is_err() {
        let known: Vec<String> = scenario_files(clients)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.file_stem().and_then(|s| s.to_str()).map(String::from))
            .collect();
        return Err(here(format!(
            "unknown client profile {profile:?}: expected one of [{}] (files in {})",
            known.join(", "),
            clients.display()
        )));
    }
    // Validates the profile file itself, with its own positions.
    load_client_profile(&profile_path)?;
    let profile_source = yaml::read_text(&profile_path).map_err(|e| vec![e])?;
    let mut merged = raw_client(&profile_path, &profile_source)?;
    let mut own = raw_client(path, source)?;
    if let Some(map) = own.as_object_mut() {
        map.remove("profile");
    }
    merge(&mut merged, own);
    let mut spec: ClientSpec = serde_json::from_value(merged)
        .map_err(|e| here(format!("client with profile {profile:?}: {e}")))?;
    spec.profile = Some(profile.to_string());
    Ok(spec)
}

fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (_, serde_json::Value::Null) => {}
        (slot, value) => *slot = value,
    }
}

/// Parses and checks scenario text; `path` names it in messages and gives the id it must
/// have. A `client.profile` is not resolved (that needs the file's folder).
pub fn parse(path: &Path, source: &str) -> Result<Scenario, Vec<LoadError>> {
    let scenario = parse_only(path, source)?;
    validate(path, &scenario, RowKind::Behaviour, &Spans::of(source))?;
    Ok(scenario)
}

/// The YAML and the shape of a scenario, before the checks of [`validate`].
fn parse_only(path: &Path, source: &str) -> Result<Scenario, Vec<LoadError>> {
    match yaml::from_str::<Scenario>(path, source) {
        Ok(scenario) => Ok(scenario),
        Err(first) => {
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
    let Ok(loose) = yaml::from_str::<LooseScenario>(path, source) else {
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

/// All `*.yaml` files in `dir`, sorted. Only names are listed here: what each one is
/// (a FIFO, a link to a device) is checked when it is read.
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

    const CURL: &str = "\
id: curl
about: curl
reference: curl docs
client:
  connect: explicit
  auth: SSL
  auth_fallback: [TLS]
  tls: { resume: true, alpn: [ftp] }
  data: { mode: epsv }
steps:
  - login
";

    fn with_profile(scenario: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(CLIENTS_DIR)).unwrap();
        std::fs::write(dir.path().join("clients/curl.yaml"), CURL).unwrap();
        let path = dir.path().join("good.yaml");
        std::fs::write(&path, scenario).unwrap();
        (dir, path)
    }

    #[test]
    fn profile_knobs_with_scenario_overrides() {
        let text = GOOD.replace(
            "tls: { resume: false }",
            "profile: curl\n  tls: { resume: false }",
        );
        let (_dir, path) = with_profile(&text);
        let scenario = load_file(&path).unwrap();
        let client = &scenario.client;
        assert_eq!(client.profile.as_deref(), Some("curl"));
        assert_eq!(client.auth, "SSL");
        assert_eq!(client.auth_fallback, vec!["TLS".to_string()]);
        // Overridden by the scenario; the rest of `tls` still comes from the profile.
        assert!(!client.tls.resume);
        assert_eq!(client.tls.alpn, vec!["ftp".to_string()]);
    }

    #[test]
    fn unknown_profile_names_the_line_and_the_known_ones() {
        let text = GOOD.replace(
            "tls: { resume: false }",
            "profile: kurl\n  tls: { resume: false }",
        );
        let (_dir, path) = with_profile(&text);
        let errors = load_file(&path).unwrap_err();
        assert_eq!(errors[0].line, 5, "{errors:?}");
        assert!(errors[0].message.contains("kurl"), "{}", errors[0]);
        assert!(errors[0].message.contains("[curl]"), "{}", errors[0]);
    }

    #[test]
    fn client_profiles_load_as_client_rows() {
        let (dir, _) = with_profile(GOOD);
        let rows = load_client_profiles(&dir.path().join(CLIENTS_DIR)).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, "client-curl");
        assert_eq!(rows[0].client.auth_fallback, vec!["TLS".to_string()]);
    }

    #[test]
    fn shipped_client_profiles_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/clients");
        let rows = load_client_profiles(&dir).unwrap_or_else(|e| panic!("{e:?}"));
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for id in [
            "client-alexftps-2009-implicit",
            "client-curl",
            "client-fluentftp-default",
            "client-lftp",
            "client-python-ftplib",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
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
