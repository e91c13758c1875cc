//! `ftps-compat list`: the servers, their profiles, their versions as the servers report
//! them, and on which backends they can run here (and why not).

use clap::Args;
use serde::Serialize;

use ftps_compat::matrix::plan::{self, EMULATED};
use ftps_compat::servers::backend::BackendKind;
use ftps_compat::servers::manifest::{self, Mode};
use ftps_compat::servers::{container, native};

use super::{EXIT_OK, UsageError, servers_dir};

#[derive(Args)]
pub struct ListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Listing {
    servers: Vec<ServerEntry>,
}

#[derive(Serialize)]
struct ServerEntry {
    name: String,
    about: String,
    backends: Vec<BackendEntry>,
    profiles: Vec<ProfileEntry>,
}

#[derive(Serialize)]
struct BackendEntry {
    backend: BackendKind,
    available: bool,
    /// The server's version as it reports it on this backend.
    version: Option<String>,
    /// Why the backend cannot run this server here.
    reason: Option<String>,
    /// Where it runs from: a binary, an image, the emulator.
    detail: Option<String>,
}

#[derive(Serialize)]
struct ProfileEntry {
    name: String,
    mode: Option<Mode>,
    about: String,
    unsupported: Option<String>,
}

fn collect() -> Result<Listing, UsageError> {
    let dir = servers_dir();
    let mut servers = Vec::new();
    let specs = manifest::load_all(&dir).map_err(|errors| {
        UsageError(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\nerror: "),
        )
    })?;
    for spec in &specs {
        let backends = [BackendKind::Native, BackendKind::Container]
            .into_iter()
            .map(|backend| {
                let (version, reason) = plan::availability(spec, backend);
                let detail = match backend {
                    BackendKind::Native => native::locate(spec)
                        .ok()
                        .map(|root| root.join(&spec.binary).display().to_string()),
                    _ => Some(format!("image {}", container::image(spec))),
                };
                BackendEntry {
                    backend,
                    available: reason.is_none(),
                    version,
                    reason,
                    detail,
                }
            })
            .collect();
        let profiles = spec
            .profiles
            .iter()
            .map(|(name, p)| ProfileEntry {
                name: name.clone(),
                mode: Some(p.mode),
                about: p.about.trim().to_string(),
                unsupported: p.unsupported.as_ref().map(|r| r.trim().to_string()),
            })
            .collect();
        servers.push(ServerEntry {
            name: spec.name.clone(),
            about: spec.about.trim().to_string(),
            backends,
            profiles,
        });
    }
    let emulated = ftps_emulator::Profile::load_dir(&dir.join(EMULATED))
        .map_err(|e| UsageError(e.to_string()))?;
    servers.push(ServerEntry {
        name: EMULATED.into(),
        about: "The in-process emulation of FileZilla Server (always available).".into(),
        backends: vec![BackendEntry {
            backend: BackendKind::Embedded,
            available: true,
            version: None,
            reason: None,
            detail: Some("in-process emulator".into()),
        }],
        profiles: emulated
            .iter()
            .map(|p| ProfileEntry {
                name: p.id().to_string(),
                mode: None,
                about: format!(
                    "emulates FileZilla Server {}: {}",
                    p.version(),
                    p.about().trim()
                ),
                unsupported: None,
            })
            .collect(),
    });
    Ok(Listing { servers })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_text(listing: &Listing) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for server in &listing.servers {
        let _ = writeln!(out, "{}", server.name);
        let _ = writeln!(out, "  backends:");
        for b in &server.backends {
            let state = if b.available {
                "available"
            } else {
                "unavailable"
            };
            let version = b
                .version
                .as_deref()
                .map(|v| format!(", version {v}"))
                .unwrap_or_default();
            let detail = b
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {:<10} {state}{version}{detail}",
                b.backend.to_string()
            );
            if let Some(reason) = &b.reason {
                let _ = writeln!(out, "               {}", one_line(reason));
            }
        }
        let _ = writeln!(out, "  profiles:");
        let width = server
            .profiles
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(0);
        for p in &server.profiles {
            let mode = match p.mode {
                Some(Mode::Explicit) => "explicit",
                Some(Mode::Implicit) => "implicit",
                None => "both",
            };
            let note = match &p.unsupported {
                Some(reason) => format!("unsupported: {}", one_line(reason)),
                None => first_sentence(&p.about),
            };
            let _ = writeln!(out, "    {:<width$}  {mode:<8}  {note}", p.name);
        }
        let _ = writeln!(out);
    }
    let _ = match container::engine_status() {
        Ok(engine) => writeln!(out, "docker: {engine}"),
        Err(why) => writeln!(out, "docker: unavailable: {why}"),
    };
    out
}

fn first_sentence(text: &str) -> String {
    let text = one_line(text);
    match text.find(". ") {
        Some(end) => text[..=end].to_string(),
        None => text,
    }
}

pub fn list(args: ListArgs) -> Result<i32, UsageError> {
    let listing = collect()?;
    let text = if args.json {
        let json = serde_json::to_string_pretty(&listing)
            .map_err(|e| UsageError(format!("serializing the listing: {e}")))?;
        format!("{json}\n")
    } else {
        render_text(&listing)
    };
    // A closed pipe (`ftps-compat list | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(EXIT_OK)
}
