//! Which columns (server configurations on a backend) and rows (scenarios) a run has,
//! after filters, and whether each column can run here.

use std::path::Path;
use std::sync::Arc;

use globset::{Glob, GlobMatcher};
use serde::Serialize;

use crate::quirks::Catalog;
use crate::scenario::Scenario;
use crate::servers::backend::{BackendKind, ServerSource};
use crate::servers::manifest::{Account, Mode, ServerSpec};
use crate::servers::{container, native};

/// The emulated server's folder name (and column prefix).
pub const EMULATED: &str = "filezilla-like";

#[derive(Clone)]
pub struct Column {
    pub server: String,
    pub profile: String,
    pub backend: BackendKind,
    pub source: ServerSource,
    pub about: String,
    pub mode: Option<Mode>,
    /// The server's version as it reports it (or the emulated version).
    pub version: Option<String>,
    /// Why the column cannot run here; its cells are skipped with this reason.
    pub unavailable: Option<String>,
}

impl Column {
    /// `server/profile`, which `--profiles` globs match too.
    pub fn id(&self) -> String {
        format!("{}/{}", self.server, self.profile)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Filters {
    pub servers: Vec<String>,
    pub profiles: Vec<String>,
    pub scenarios: Vec<String>,
    /// Scenarios left out (globs), after `scenarios` chose.
    pub exclude: Vec<String>,
}

/// A filter glob that cannot select what the user meant.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("--{flag} {glob:?} is not a valid glob: {reason}")]
    Invalid {
        flag: &'static str,
        glob: String,
        reason: String,
    },
    #[error("--{flag} {glob:?} matches no {what} of this run (there are: {known})")]
    NoMatch {
        flag: &'static str,
        glob: String,
        what: &'static str,
        known: String,
    },
}

/// One flag's globs, each kept apart so a glob that selects nothing can be named.
struct Patterns {
    flag: &'static str,
    globs: Vec<(String, GlobMatcher)>,
}

impl Patterns {
    fn compile(flag: &'static str, patterns: &[String]) -> Result<Patterns, FilterError> {
        let globs = patterns
            .iter()
            .map(|pattern| {
                Glob::new(pattern)
                    .map(|glob| (pattern.clone(), glob.compile_matcher()))
                    .map_err(|e| FilterError::Invalid {
                        flag,
                        glob: pattern.clone(),
                        reason: e.kind().to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Patterns { flag, globs })
    }

    /// Whether any of `names` is selected (everything is, without globs).
    fn keeps(&self, names: &[&str]) -> bool {
        self.globs.is_empty()
            || self
                .globs
                .iter()
                .any(|(_, glob)| names.iter().any(|name| glob.is_match(name)))
    }

    /// Every glob selects at least one of `candidates` (each a thing's names): a typo is
    /// an error, not a silently smaller run.
    fn each_selects(
        &self,
        candidates: &[Vec<&str>],
        what: &'static str,
    ) -> Result<(), FilterError> {
        for (pattern, glob) in &self.globs {
            let selects = candidates
                .iter()
                .any(|names| names.iter().any(|name| glob.is_match(name)));
            if !selects {
                let mut known: Vec<&str> = candidates
                    .iter()
                    .filter_map(|n| n.first().copied())
                    .collect();
                known.sort_unstable();
                known.dedup();
                return Err(FilterError::NoMatch {
                    flag: self.flag,
                    glob: pattern.clone(),
                    what,
                    known: known.join(", "),
                });
            }
        }
        Ok(())
    }
}

impl Filters {
    /// Every glob is valid; checked before anything is loaded.
    pub fn check(&self) -> Result<(), FilterError> {
        Patterns::compile("servers", &self.servers)?;
        Patterns::compile("profiles", &self.profiles)?;
        Patterns::compile("scenarios", &self.scenarios)?;
        Patterns::compile("exclude", &self.exclude)?;
        Ok(())
    }

    pub fn apply_columns(&self, columns: Vec<Column>) -> Result<Vec<Column>, FilterError> {
        let servers = Patterns::compile("servers", &self.servers)?;
        let profiles = Patterns::compile("profiles", &self.profiles)?;
        let ids: Vec<String> = columns.iter().map(Column::id).collect();
        let server_names: Vec<Vec<&str>> =
            columns.iter().map(|c| vec![c.server.as_str()]).collect();
        servers.each_selects(&server_names, "server")?;
        let profile_names: Vec<Vec<&str>> = columns
            .iter()
            .zip(&ids)
            .map(|(c, id)| vec![id.as_str(), c.profile.as_str()])
            .collect();
        profiles.each_selects(&profile_names, "server profile")?;
        Ok(columns
            .into_iter()
            .zip(&ids)
            .filter(|(c, id)| servers.keeps(&[&c.server]) && profiles.keeps(&[&c.profile, id]))
            .map(|(c, _)| c)
            .collect())
    }

    pub fn apply_scenarios(&self, scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, FilterError> {
        let patterns = Patterns::compile("scenarios", &self.scenarios)?;
        let ids: Vec<Vec<&str>> = scenarios.iter().map(|s| vec![s.id.as_str()]).collect();
        patterns.each_selects(&ids, "scenario")?;
        let excluded = Patterns::compile("exclude", &self.exclude)?;
        excluded.each_selects(&ids, "scenario")?;
        Ok(scenarios
            .into_iter()
            .filter(|s| patterns.keeps(&[&s.id]))
            .filter(|s| excluded.globs.is_empty() || !excluded.keeps(&[&s.id]))
            .collect())
    }
}

/// Which backends real servers run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// Every backend available here (each one a column).
    All,
    /// Only the in-process emulator.
    Embedded,
    /// Real servers as native processes.
    Native,
    /// Real servers in containers (testcontainers, one image per server).
    Container,
}

impl BackendChoice {
    /// The backends real servers run on under this choice.
    fn real_backends(self) -> &'static [BackendKind] {
        match self {
            BackendChoice::All => &[BackendKind::Native, BackendKind::Container],
            BackendChoice::Embedded => &[],
            BackendChoice::Native => &[BackendKind::Native],
            BackendChoice::Container => &[BackendKind::Container],
        }
    }
}

/// All columns: the emulator's profiles, and each real server's profiles on the chosen
/// backends. Loading errors are reported, never skipped.
pub fn columns(servers_dir: &Path, choice: BackendChoice) -> Result<Vec<Column>, String> {
    let mut columns = Vec::new();
    let fz_dir = servers_dir.join(EMULATED);
    let profiles = ftps_emulator::Profile::load_dir(&fz_dir).map_err(|e| e.to_string())?;
    for profile in profiles {
        columns.push(Column {
            server: EMULATED.into(),
            profile: profile.id().to_string(),
            backend: BackendKind::Embedded,
            about: profile.about().to_string(),
            mode: None,
            version: Some(format!("emulates FileZilla Server {}", profile.version())),
            unavailable: None,
            source: ServerSource::Emulated(Arc::new(profile)),
        });
    }
    if choice == BackendChoice::Embedded {
        return Ok(columns);
    }
    let specs = crate::servers::manifest::load_all(servers_dir).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    for spec in specs {
        let spec = Arc::new(spec);
        for &backend in choice.real_backends() {
            // Another Debian release's build runs in its container only: under `all`, its
            // native column would be skipped in every cell, so it is not planned.
            if choice == BackendChoice::All
                && backend == BackendKind::Native
                && !crate::servers::native::is_host_release(&spec)
            {
                continue;
            }
            let (version, unavailable) = availability(&spec, backend);
            let source = match backend {
                BackendKind::Container => ServerSource::Container(spec.clone()),
                _ => ServerSource::Real(spec.clone()),
            };
            for (name, profile) in &spec.profiles {
                columns.push(Column {
                    server: spec.name.clone(),
                    profile: name.clone(),
                    backend,
                    about: profile.about.trim().to_string(),
                    mode: Some(profile.mode),
                    version: version.clone(),
                    unavailable: profile
                        .unsupported
                        .as_ref()
                        .map(|r| format!("unsupported: {}", r.trim()))
                        .or_else(|| unavailable.clone()),
                    source: source.clone(),
                });
            }
        }
    }
    Ok(columns)
}

/// Whether `spec` can run on `backend` here: (its version as it reports it, why not).
/// Checked once per server and backend per process for containers (Docker ping, image,
/// a throw-away container for the version).
pub fn availability(spec: &ServerSpec, backend: BackendKind) -> (Option<String>, Option<String>) {
    match backend {
        BackendKind::Native => native_availability(spec),
        BackendKind::Container => container::availability(spec),
        BackendKind::Embedded | BackendKind::External => (None, None),
    }
}

/// (version, why not) for the native backend.
fn native_availability(spec: &ServerSpec) -> (Option<String>, Option<String>) {
    let root = match native::locate(spec) {
        Ok(root) => root,
        Err(why) => return (None, Some(format!("native backend unavailable: {why}"))),
    };
    let version = native::version(spec, &root).ok();
    if spec.native.needs_root && !nix::unistd::Uid::effective().is_root() {
        return (
            version,
            Some(
                "native backend unavailable: the real servers need root (chroot, login switch)"
                    .into(),
            ),
        );
    }
    (version, None)
}

/// Everything a matrix run needs from the repository, loaded and cross-checked before any
/// cell runs (bad input stops here, with the file and what is wrong).
pub struct Inputs {
    pub columns: Vec<Column>,
    pub scenarios: Vec<Scenario>,
    pub catalog: Arc<Catalog>,
    pub account: Account,
}

impl Inputs {
    pub fn load(
        servers_dir: &Path,
        scenarios: Vec<Scenario>,
        filters: &Filters,
        backend: BackendChoice,
    ) -> Result<Inputs, String> {
        let catalog = Catalog::load(&servers_dir.join("quirks.yaml")).map_err(|e| e.to_string())?;
        let account =
            Account::load(&servers_dir.join("account.yaml")).map_err(|e| e.to_string())?;
        let columns = filters
            .apply_columns(columns(servers_dir, backend)?)
            .map_err(|e| e.to_string())?;
        let scenarios = filters
            .apply_scenarios(scenarios)
            .map_err(|e| e.to_string())?;
        if columns.is_empty() {
            return Err("no server profile matches --servers/--profiles".into());
        }
        if scenarios.is_empty() {
            return Err("no scenario matches --scenarios".into());
        }
        Ok(Inputs {
            columns,
            scenarios,
            catalog: Arc::new(catalog),
            account,
        })
    }
}
