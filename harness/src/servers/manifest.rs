//! `servers/<name>/manifest.yaml`: how a real server starts, reports its version, becomes
//! ready, and which configurations (profiles, the matrix columns) it has.
//! Adding a profile or a process-with-a-config-file server needs no Rust change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::yaml::{self, LoadError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub name: String,
    pub about: String,
    /// Debian packages holding the server (unpacked for native, installed in its image).
    #[serde(default)]
    pub package: Option<Packages>,
    /// A crate whose binary is the server, for a server Debian does not package.
    #[serde(default)]
    pub cargo: Option<CargoSource>,
    /// Debian packages the server needs at run time beside its own (a Python library):
    /// apt-installed on the host and into the image.
    #[serde(default)]
    pub depends: Vec<String>,
    /// The Debian release the server's packages and image come from.
    #[serde(default = "default_suite")]
    pub suite: String,
    /// Path of the binary relative to the package root (`usr/sbin/vsftpd`).
    pub binary: String,
    pub version: VersionSpec,
    /// Commands run before start (same placeholders as `start`).
    #[serde(default)]
    pub prepare: Vec<Vec<String>>,
    /// argv of the foreground server process.
    pub start: Vec<String>,
    #[serde(default)]
    pub files: Vec<FileSpec>,
    pub readiness: Readiness,
    /// Log files relative to the instance directory.
    #[serde(default)]
    pub logs: Vec<String>,
    #[serde(default)]
    pub native: NativeSpec,
    #[serde(default)]
    pub container: ContainerSpec,
    pub profiles: BTreeMap<String, ProfileSpec>,
    /// The manifest's folder (templates are read from here).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// What the native backend needs for this server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeSpec {
    /// The server only works started as root (chroot, switching to the login user).
    #[serde(default)]
    pub needs_root: bool,
}

/// What the container backend adds for this server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Linux capabilities the server needs beyond Docker's default set.
    #[serde(default)]
    pub cap_add: Vec<String>,
}

/// Debian's release for servers whose manifest names none.
pub const DEFAULT_SUITE: &str = "bookworm";

fn default_suite() -> String {
    DEFAULT_SUITE.to_string()
}

/// `cargo install --locked <crate> --version <version>`, with default features off when
/// `features` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CargoSource {
    #[serde(rename = "crate")]
    pub crate_name: String,
    pub version: String,
    #[serde(default)]
    pub features: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Packages {
    One(String),
    Many(Vec<String>),
}

impl Packages {
    pub fn names(&self) -> Vec<String> {
        match self {
            Packages::One(name) => vec![name.clone()],
            Packages::Many(names) => names.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    pub command: Vec<String>,
    /// Regex; group 1 is the version.
    pub pattern: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub template: String,
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// A `220 ` banner on connect (after the TLS handshake in implicit mode).
    Banner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Explicit,
    Implicit,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    #[serde(default)]
    pub about: String,
    pub mode: Mode,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Why this configuration cannot exist for this build; its cells are "unsupported".
    #[serde(default)]
    pub unsupported: Option<String>,
}

/// The login account every real server accepts (`servers/account.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub user: String,
    pub password: String,
    pub uid: u32,
    pub gid: u32,
}

impl ServerSpec {
    pub fn load(path: &Path) -> Result<ServerSpec, LoadError> {
        let mut spec: ServerSpec = yaml::from_file(path)?;
        spec.dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        if spec.package.is_some() == spec.cargo.is_some() {
            return Err(LoadError::whole_file(
                path,
                "a server comes from exactly one of `package:` (Debian packages) and `cargo:` (a crate)",
            ));
        }
        Ok(spec)
    }
}

impl Account {
    pub fn load(path: &Path) -> Result<Account, LoadError> {
        yaml::from_file(path)
    }
}

/// Every `servers/*/manifest.yaml`, sorted by name.
pub fn load_all(servers_dir: &Path) -> Result<Vec<ServerSpec>, Vec<LoadError>> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(servers_dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let manifest = dir.join("manifest.yaml");
        if manifest.is_file() {
            match ServerSpec::load(&manifest) {
                Ok(spec) => specs.push(spec),
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}
