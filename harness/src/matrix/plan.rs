//! Which columns (server configurations on a backend) and rows (scenarios) a run has,
//! after filters, and whether each column can run here.

use std::path::Path;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
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
    /// `server/profile`, what scenarios' `tolerate.on` globs match.
    pub fn id(&self) -> String {
        format!("{}/{}", self.server, self.profile)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Filters {
    pub servers: Vec<String>,
    pub profiles: Vec<String>,
    pub scenarios: Vec<String>,
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern).map_err(|e| format!("bad glob {pattern:?}: {e}"))?);
    }
    builder.build().map(Some).map_err(|e| e.to_string())
}

fn keep(set: &Option<GlobSet>, name: &str) -> bool {
    set.as_ref().is_none_or(|s| s.is_match(name))
}

impl Filters {
    pub fn apply_columns(&self, columns: Vec<Column>) -> Result<Vec<Column>, String> {
        let servers = globs(&self.servers)?;
        let profiles = globs(&self.profiles)?;
        Ok(columns
            .into_iter()
            .filter(|c| {
                keep(&servers, &c.server)
                    && (keep(&profiles, &c.profile) || keep(&profiles, &c.id()))
            })
            .collect())
    }

    pub fn apply_scenarios(&self, scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, String> {
        let set = globs(&self.scenarios)?;
        Ok(scenarios
            .into_iter()
            .filter(|s| keep(&set, &s.id))
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
        let columns = filters.apply_columns(columns(servers_dir, backend)?)?;
        let scenarios = filters.apply_scenarios(scenarios)?;
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
