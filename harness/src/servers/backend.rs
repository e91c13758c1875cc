//! Backends start (or attach to) one server configuration and hand back an endpoint:
//! - `embedded`: the in-process FileZilla-like emulator, always available;
//! - `native`: a server binary on this host, configured into a temp dir;
//! - `container`: the server's image under testcontainers, same config, host network;
//! - `external`: a server the user names with `--target`.
//!
//! A started server lives as long as its [`Running`] handle; dropping it stops the server
//! and removes its files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tempfile::TempDir;

use super::container::{self, ContainerServer};
use super::instance::StartError;
use super::manifest::{Account, ServerSpec};
use super::native::{self, NativeServer};
use crate::certs::Pki;
use crate::runner::Endpoint;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Embedded,
    Native,
    Container,
    External,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Embedded => "embedded",
            BackendKind::Native => "native",
            BackendKind::Container => "container",
            BackendKind::External => "external",
        })
    }
}

/// What a column runs.
#[derive(Clone)]
pub enum ServerSource {
    Emulated(Arc<ftps_emulator::Profile>),
    /// A real server as a native process.
    Real(Arc<ServerSpec>),
    /// A real server in a container of its image.
    Container(Arc<ServerSpec>),
    External(Box<Endpoint>),
}

pub struct Running {
    pub endpoint: Endpoint,
    instance: Instance,
}

enum Instance {
    // Field order in the tuples matters: the server stops before its directory goes.
    Embedded(ftps_emulator::Emulator, TempDir),
    Native(Box<NativeServer>, Arc<ServerSpec>),
    Container(Box<ContainerServer>, Arc<ServerSpec>),
    External,
}

/// Longest log excerpt kept per cell.
const LOG_EXCERPT: usize = 16 * 1024;

impl Running {
    /// The end of the server's logs (what a person reads when a cell fails).
    pub fn log_excerpt(&self) -> String {
        let text = match &self.instance {
            Instance::Embedded(emulator, _) => emulator.log().join("\n"),
            Instance::Native(server, spec) => read_logs(&server.log_paths(spec)),
            Instance::Container(server, spec) => {
                let mut text = read_logs(&server.log_paths(spec));
                let output = server.output();
                if !output.trim().is_empty() {
                    text.push_str(&format!(
                        "==> container output <==\n{}\n",
                        output.trim_end()
                    ));
                }
                text
            }
            Instance::External => String::new(),
        };
        tail(&text, LOG_EXCERPT)
    }

    /// The instance directory on this host (config, logs, FTP root), if the server has one.
    pub fn instance_dir(&self) -> Option<&Path> {
        match &self.instance {
            Instance::Embedded(_, dir) => Some(dir.path()),
            Instance::Native(server, _) => Some(server.instance_dir()),
            Instance::Container(server, _) => Some(server.instance_dir()),
            Instance::External => None,
        }
    }

    /// The server's process (group leader) when it runs natively.
    pub fn pid(&self) -> Option<u32> {
        match &self.instance {
            Instance::Native(server, _) => Some(server.pid()),
            _ => None,
        }
    }

    /// The server's container when it runs in one.
    pub fn container_id(&self) -> Option<&str> {
        match &self.instance {
            Instance::Container(server, _) => Some(server.container_id()),
            _ => None,
        }
    }

    pub async fn stop(self) {
        match self.instance {
            Instance::Embedded(emulator, dir) => {
                emulator.shutdown().await;
                drop(dir);
            }
            Instance::Native(server, _) => drop(server),
            Instance::Container(server, _) => server.stop().await,
            Instance::External => {}
        }
    }
}

fn read_logs(paths: &[PathBuf]) -> String {
    let mut out = String::new();
    for path in paths {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            out.push_str(&format!("==> {name} <==\n{}\n", text.trim_end()));
        }
    }
    out
}

fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut cut = text.len() - limit;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!("[... {} bytes cut ...]\n{}", cut, &text[cut..])
}

/// Starts one instance of `source` (a fresh one per cell: nothing leaks between cells).
pub async fn start(
    source: &ServerSource,
    profile: &str,
    pki: &Pki,
    account: &Account,
) -> Result<Running, StartError> {
    match source {
        ServerSource::Emulated(fz_profile) => {
            let root = super::leftovers::instance_dir("fz")?;
            let options = ftps_emulator::EmulatorOptions {
                profile: (**fz_profile).clone(),
                cert_chain: vec![pki.server.cert_der.clone()],
                key: pki.server.key_der(),
                users: vec![(account.user.clone(), account.password.clone())],
                root: root.path().to_owned(),
                roots: ftps_emulator::Roots::PerSession,
            };
            let emulator = ftps_emulator::Emulator::start(options).await?;
            let endpoint = Endpoint {
                host: emulator.explicit_addr().ip(),
                explicit_port: Some(emulator.explicit_addr().port()),
                implicit_port: Some(emulator.implicit_addr().port()),
                tls_name: "localhost".into(),
                user: account.user.clone(),
                password: account.password.clone(),
                trust: pki.trust(),
                // The emulator gives each control connection its own root, numbered from 1;
                // a cell makes one.
                server_root: Some(root.path().join("session-1")),
                work_dir: None,
            };
            Ok(Running {
                endpoint,
                instance: Instance::Embedded(emulator, root),
            })
        }
        ServerSource::Real(spec) => {
            let server = native::start(spec, profile, pki, account).await?;
            Ok(Running {
                endpoint: server.endpoint.clone(),
                instance: Instance::Native(Box::new(server), spec.clone()),
            })
        }
        ServerSource::Container(spec) => {
            let server = container::start(spec, profile, pki, account).await?;
            Ok(Running {
                endpoint: server.endpoint.clone(),
                instance: Instance::Container(Box::new(server), spec.clone()),
            })
        }
        ServerSource::External(endpoint) => Ok(Running {
            endpoint: (**endpoint).clone(),
            instance: Instance::External,
        }),
    }
}
