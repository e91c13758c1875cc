//! The native backend: the server binary on this host (from `/`, or a package root
//! unpacked by ci/setup-debian.sh), configured into a temp dir, killed on drop.

use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::instance::{self, Prepared, StartError};
use super::manifest::{Account, Mode, ServerSpec};
use super::process::ProcessGuard;
use crate::certs::Pki;
use crate::runner::Endpoint;

/// How long a server gets to show its banner.
const READY_LIMIT: Duration = Duration::from_secs(20);

pub struct NativeServer {
    pub endpoint: Endpoint,
    pub version: String,
    pub banner: String,
    // Field order matters: the process dies before its directory is removed.
    process: ProcessGuard,
    prepared: Prepared,
}

impl NativeServer {
    pub fn log_paths(&self, spec: &ServerSpec) -> Vec<PathBuf> {
        let mut paths = vec![self.prepared.run_dir.join(CONSOLE_LOG)];
        paths.extend(self.prepared.log_paths(spec));
        paths
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn instance_dir(&self) -> &Path {
        self.prepared.dir.path()
    }
}

/// stdin, stdout and stderr of the server (vsftpd prints fatal errors on fd 0).
const CONSOLE_LOG: &str = "console.log";

fn env_key(server: &str) -> String {
    format!(
        "FTPS_COMPAT_{}_ROOT",
        server.to_ascii_uppercase().replace('-', "_")
    )
}

fn cache_dir() -> PathBuf {
    std::env::var_os("FTPS_COMPAT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/ftps-compat")
        })
}

/// Where the server's package root is: `$FTPS_COMPAT_<NAME>_ROOT`, the unpacked cache,
/// or `/` when installed. Err says where it looked.
pub fn locate(spec: &ServerSpec) -> Result<PathBuf, String> {
    let key = env_key(&spec.name);
    if let Some(root) = std::env::var_os(&key) {
        let root = PathBuf::from(root);
        return if root.join(&spec.binary).is_file() {
            Ok(root)
        } else {
            Err(format!(
                "{key} is set but {} has no {}",
                root.display(),
                spec.binary
            ))
        };
    }
    let unpacked = cache_dir().join("pkgroot").join(&spec.name);
    if unpacked.join(&spec.binary).is_file() {
        return Ok(unpacked);
    }
    // What is installed in `/` is this host's release: another release's server (trixie's
    // vsftpd on bookworm) is not there, even when a binary of the same name is.
    if is_host_release(spec) {
        if Path::new("/").join(&spec.binary).is_file() {
            return Ok(PathBuf::from("/"));
        }
        return Err(format!(
            "no {} binary: looked in {} and /{} (run ci/setup-debian.sh, or set {key})",
            spec.name,
            unpacked.display(),
            spec.binary
        ));
    }
    Err(format!(
        "no {} binary in {}, and this host runs Debian {} where {} comes from {}: use the container backend (ci/build-images.sh {}), or set {key}",
        spec.name,
        unpacked.display(),
        host_suite().unwrap_or_default(),
        spec.name,
        spec.suite,
        spec.name
    ))
}

/// Whether the server comes from this host's Debian release (or the host does not say),
/// so that its binaries can run here. Another release's need that release's libraries.
pub fn is_host_release(spec: &ServerSpec) -> bool {
    host_suite().is_none_or(|suite| suite == spec.suite)
}

/// This host's Debian release (`VERSION_CODENAME` of /etc/os-release), if it says; read
/// once per process.
fn host_suite() -> Option<&'static str> {
    static SUITE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SUITE
        .get_or_init(|| {
            let text = std::fs::read_to_string("/etc/os-release").ok()?;
            text.lines()
                .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
                .map(|v| v.trim_matches('"').to_string())
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

/// The version as the server prints it.
pub fn version(spec: &ServerSpec, pkg_root: &Path) -> Result<String, String> {
    let argv: Vec<String> = spec
        .version
        .command
        .iter()
        .map(|a| {
            a.replace(
                "{binary}",
                &pkg_root.join(&spec.binary).display().to_string(),
            )
        })
        .collect();
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let pattern = regex::Regex::new(&spec.version.pattern).map_err(|e| e.to_string())?;
    pattern
        .captures(&text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .ok_or_else(|| format!("version pattern did not match {:?}", text.trim()))
}

pub async fn start(
    spec: &ServerSpec,
    profile: &str,
    pki: &Pki,
    account: &Account,
) -> Result<NativeServer, StartError> {
    let pkg_root = locate(spec).map_err(StartError::Unsupported)?;
    let version = version(spec, &pkg_root).map_err(|detail| StartError::NotReady {
        server: spec.name.clone(),
        detail,
    })?;
    let prepared = instance::prepare(spec, profile, pki, account, &pkg_root)?;
    for command in &spec.prepare {
        let argv = prepared.argv(spec, command)?;
        let output = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| StartError::Prepare {
                command: argv.join(" "),
                detail: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(StartError::Prepare {
                command: argv.join(" "),
                detail: format!(
                    "{}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
    }
    let argv = prepared.argv(spec, &spec.start)?;
    let console = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(prepared.run_dir.join(CONSOLE_LOG))?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(&prepared.run_dir)
        // Servers show the locale (ProFTPD's FEAT LANG line): the same on every backend.
        .env_remove("LC_ALL")
        .env("LANG", super::container::SERVER_LANG)
        .stdin(console.try_clone()?)
        .stdout(console.try_clone()?)
        .stderr(console);
    let mut process = ProcessGuard::spawn(&spec.name, command)?;
    let implicit = prepared.mode == Mode::Implicit;
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), prepared.port);
    let console_path = prepared.run_dir.join(CONSOLE_LOG);
    let banner = instance::wait_for_banner(addr, implicit, READY_LIMIT, || {
        match process.try_exit_status() {
            None => Ok(()),
            Some(status) => Err(format!(
                "exited ({status}): {}",
                std::fs::read_to_string(&console_path)
                    .unwrap_or_default()
                    .trim()
            )),
        }
    })
    .await
    .map_err(|detail| StartError::NotReady {
        server: spec.name.clone(),
        detail,
    })?;
    let endpoint = Endpoint {
        host: addr.ip(),
        explicit_port: (!implicit).then_some(prepared.port),
        implicit_port: implicit.then_some(prepared.port),
        tls_name: "localhost".into(),
        user: account.user.clone(),
        password: account.password.clone(),
        trust: pki.trust(),
        server_root: Some(prepared.root.clone()),
        work_dir: None,
    };
    Ok(NativeServer {
        endpoint,
        version,
        banner,
        process,
        prepared,
    })
}
