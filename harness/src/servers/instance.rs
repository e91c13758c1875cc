//! What every backend does before starting a real server: an instance directory with the
//! certificates, an FTP root owned by the login account, the rendered config files and
//! argv, and free ports. Paths are absolute host paths; the container backend mounts them
//! at the same paths, so one rendering serves both.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::manifest::{Account, Mode, ServerSpec};
use super::ports;
use crate::certs::{CertError, Pki, PkiFiles};
use crate::client::tls::{TlsContext, TlsKnobs, TlsVersion, Trust, Verify};
use crate::client::{ClientOptions, DataKnobs, Session, Timeouts};

/// Passive ports per instance.
const PASSIVE_PORTS: u16 = 10;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("profile {profile:?} is not in {server}'s manifest")]
    UnknownProfile { server: String, profile: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{path}: unknown placeholder {{{{{name}}}}}")]
    Placeholder { path: String, name: String },
    #[error("preparing the instance: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Certs(#[from] CertError),
    #[error("{command} failed: {detail}")]
    Prepare { command: String, detail: String },
    #[error("{server} did not become ready: {detail}")]
    NotReady { server: String, detail: String },
}

/// A prepared instance directory: everything rendered, nothing started.
pub struct Prepared {
    pub dir: TempDir,
    pub run_dir: PathBuf,
    pub root: PathBuf,
    pub pki_files: PkiFiles,
    pub mode: Mode,
    pub port: u16,
    pub passive: (u16, u16),
    pub vars: BTreeMap<String, String>,
}

impl Prepared {
    /// `{name}` placeholders in one argv element.
    pub fn argv(&self, spec: &ServerSpec, argv: &[String]) -> Result<Vec<String>, StartError> {
        argv.iter()
            .map(|arg| render(arg, "{", "}", &self.vars, &spec.name))
            .collect()
    }

    pub fn log_paths(&self, spec: &ServerSpec) -> Vec<PathBuf> {
        spec.logs.iter().map(|l| self.run_dir.join(l)).collect()
    }
}

/// Replaces `open name close` with vars[name]; an unknown name is an error.
fn render(
    text: &str,
    open: &str,
    close: &str,
    vars: &BTreeMap<String, String>,
    origin: &str,
) -> Result<String, StartError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else { break };
        let name = &after[..end];
        let is_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..start]);
        if is_name {
            let value = vars.get(name).ok_or_else(|| StartError::Placeholder {
                path: origin.to_string(),
                name: name.to_string(),
            })?;
            out.push_str(value);
        } else {
            out.push_str(&rest[start..start + open.len() + end + close.len()]);
        }
        rest = &after[end + close.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Creates the instance directory and renders the profile's files into it.
pub fn prepare(
    spec: &ServerSpec,
    profile: &str,
    pki: &Pki,
    account: &Account,
    pkg_root: &Path,
) -> Result<Prepared, StartError> {
    let profile_spec = spec
        .profiles
        .get(profile)
        .ok_or_else(|| StartError::UnknownProfile {
            server: spec.name.clone(),
            profile: profile.to_string(),
        })?;
    if let Some(reason) = &profile_spec.unsupported {
        return Err(StartError::Unsupported(reason.trim().to_string()));
    }
    let dir = super::leftovers::instance_dir(&spec.name)?;
    // Servers drop privileges to the login account, which must reach its root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let run_dir = dir.path().join("run");
    let root = dir.path().join("root");
    let cert_dir = dir.path().join("certs");
    for d in [&run_dir, &root, &cert_dir] {
        std::fs::create_dir(d)?;
    }
    std::fs::set_permissions(&cert_dir, std::fs::Permissions::from_mode(0o700))?;
    std::os::unix::fs::chown(&root, Some(account.uid), Some(account.gid))?;
    let pki_files = pki.write_to(&cert_dir)?;

    let ports = ports::allocate(2 + PASSIVE_PORTS);
    let (port, aux_port) = (ports[0], ports[1]);
    let passive = (ports[2], ports[1 + PASSIVE_PORTS as usize]);
    let binary = pkg_root.join(&spec.binary);
    let path = |p: &Path| p.display().to_string();
    let mut vars: BTreeMap<String, String> = [
        ("port", port.to_string()),
        ("aux_port", aux_port.to_string()),
        ("pasv_min", passive.0.to_string()),
        ("pasv_max", passive.1.to_string()),
        ("cert", path(&pki_files.server_cert)),
        ("key", path(&pki_files.server_key)),
        ("cert_key_pem", path(&pki_files.server_combined)),
        ("ca", path(&pki_files.ca)),
        ("root", path(&root)),
        ("run_dir", path(&run_dir)),
        ("user", account.user.clone()),
        ("password", account.password.clone()),
        ("uid", account.uid.to_string()),
        ("gid", account.gid.to_string()),
        ("binary", path(&binary)),
        ("pkg_root", path(pkg_root).trim_end_matches('/').to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    vars.extend(profile_spec.vars.clone());

    for file in &spec.files {
        let template_path = spec.dir.join(&file.template);
        let template = std::fs::read_to_string(&template_path)?;
        let text = render(
            &template,
            "{{",
            "}}",
            &vars,
            &template_path.display().to_string(),
        )?;
        std::fs::write(run_dir.join(&file.path), text)?;
    }
    Ok(Prepared {
        dir,
        run_dir,
        root,
        pki_files,
        mode: profile_spec.mode,
        port,
        passive,
        vars,
    })
}

/// Waits for the `220 ` banner (after the TLS handshake for implicit FTPS), retrying
/// connection refusals until `limit`. `alive` reports a process that already died.
pub async fn wait_for_banner(
    addr: std::net::SocketAddr,
    implicit: bool,
    limit: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<String, String> {
    let knobs = TlsKnobs {
        min: TlsVersion::Tls12,
        max: TlsVersion::Tls13,
        resume: false,
        verify: Verify::None,
        alpn: Vec::new(),
        sni: false,
        server_name: "localhost".into(),
        client_cert: false,
    };
    let tls = TlsContext::build(&knobs, &Trust::default()).map_err(|e| e.to_string())?;
    let options = ClientOptions {
        data: DataKnobs::default(),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            reply: Duration::from_secs(5),
            data: Duration::from_secs(5),
        },
        max_line: 8192,
        max_reply: 1 << 20,
    };
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::from("no attempt");
    while tokio::time::Instant::now() < deadline {
        alive()?;
        let (mut session, banner) =
            Session::connect(addr, implicit, tls.clone(), options.clone()).await;
        match banner {
            Ok(reply) if reply.code == 220 => {
                let _ = session.quit().await;
                return Ok(reply.lines.join("\n"));
            }
            Ok(reply) => return Err(format!("banner {}", reply.summary())),
            Err(failure) => last = failure.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("no 220 banner within {limit:?} (last: {last})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_known_placeholders_and_rejects_unknown() {
        let vars: BTreeMap<String, String> = [("port".to_string(), "2121".to_string())]
            .into_iter()
            .collect();
        assert_eq!(
            render(
                "listen_port={{port}}\n# {{ not a name }}",
                "{{",
                "}}",
                &vars,
                "t"
            )
            .unwrap(),
            "listen_port=2121\n# {{ not a name }}"
        );
        assert_eq!(
            render("-S 127.0.0.1,{port}", "{", "}", &vars, "t").unwrap(),
            "-S 127.0.0.1,2121"
        );
        let err = render("{{prot}}", "{{", "}}", &vars, "t.tmpl").unwrap_err();
        assert_eq!(err.to_string(), "t.tmpl: unknown placeholder {{prot}}");
    }
}
