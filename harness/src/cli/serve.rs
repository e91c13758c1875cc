//! `ftps-compat serve SERVER --profile P`: runs one server configuration in the foreground
//! and prints how to reach it, so any client (FileZilla, curl, lftp) can be pointed at it.
//! Ctrl-C (or SIGTERM) stops it and removes everything it created.

use std::path::PathBuf;

use clap::Args;

use ftps_compat::certs::Pki;
use ftps_compat::matrix::plan::EMULATED;
use ftps_compat::servers::manifest::{Account, ServerSpec};
use ftps_compat::servers::native;

use ftps_compat::runner::ConnectMode;

use super::{EXIT_OK, UsageError, servers_dir};

#[derive(Args)]
pub struct ServeArgs {
    /// Server name (a folder of servers/).
    server: String,
    /// Profile of that server.
    #[arg(long)]
    profile: String,
    /// Where the servers' manifests are.
    #[arg(long)]
    servers_dir: Option<PathBuf>,
}

pub fn serve(args: ServeArgs) -> Result<i32, UsageError> {
    let dir = args.servers_dir.clone().unwrap_or_else(servers_dir);
    if args.server == EMULATED {
        return serve_emulated(&dir, &args.profile);
    }
    let manifest = dir.join(&args.server).join("manifest.yaml");
    if !manifest.is_file() {
        return Err(UsageError(format!(
            "unknown server {:?}: no {}",
            args.server,
            manifest.display()
        )));
    }
    let spec = ServerSpec::load(&manifest).map_err(|e| UsageError(e.to_string()))?;
    if !spec.profiles.contains_key(&args.profile) {
        return Err(UsageError(format!(
            "{} has no profile {:?}; it has: {}",
            spec.name,
            args.profile,
            spec.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let account =
        Account::load(&dir.join("account.yaml")).map_err(|e| UsageError(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        let pki = Pki::generate().map_err(|e| UsageError(e.to_string()))?;
        let server = native::start(&spec, &args.profile, &pki, &account)
            .await
            .map_err(|e| UsageError(format!("{} {}: {e}", spec.name, args.profile)))?;
        let endpoint = &server.endpoint;
        let (mode, port) = match (endpoint.explicit_port, endpoint.implicit_port) {
            (Some(port), _) => (ConnectMode::Explicit, port),
            (None, Some(port)) => (ConnectMode::Implicit, port),
            (None, None) => unreachable!("a started server has a port"),
        };
        let ca = server.instance_dir().join("certs/ca.crt");
        let login = format!("{}:{}", endpoint.user, endpoint.password);
        println!(
            "{} {} (version {}) is running",
            spec.name, args.profile, server.version
        );
        println!("  url:      {}", login_url(mode, &login, port));
        println!(
            "  mode:     {}",
            match mode {
                ConnectMode::Implicit => "implicit FTPS (TLS from the first byte)",
                _ => "explicit FTPS (AUTH TLS)",
            }
        );
        println!("  CA:       {}", ca.display());
        println!("  banner:   {}", server.banner);
        println!("  try:      {}", curl_line(mode, &login, port, &ca));
        println!("Ctrl-C stops it.");
        let _ = wait_for_stop().await;
        drop(server);
        println!("stopped; instance removed");
        Ok(EXIT_OK)
    })
}

/// `ftpes://USER:PASS@127.0.0.1:PORT/` (explicit) or `ftps://…` (implicit): the URLs
/// `probe` and `run --target` read.
fn login_url(mode: ConnectMode, login: &str, port: u16) -> String {
    let url = ftps_compat::target::url_for(mode, "127.0.0.1", port);
    let (scheme, rest) = url.split_once("://").unwrap_or(("ftps", &url));
    format!("{scheme}://{login}@{rest}/")
}

/// curl knows no `ftpes://`: explicit FTPS is `ftp://` with `--ssl-reqd`.
fn curl_line(mode: ConnectMode, login: &str, port: u16, ca: &std::path::Path) -> String {
    let (scheme, reqd) = match mode {
        ConnectMode::Implicit => ("ftps", ""),
        _ => ("ftp", " --ssl-reqd"),
    };
    format!(
        "curl{reqd} --cacert {} {scheme}://{login}@127.0.0.1:{port}/",
        ca.display()
    )
}

/// The in-process FileZilla-like emulator, explicit and implicit listeners.
fn serve_emulated(dir: &std::path::Path, profile: &str) -> Result<i32, UsageError> {
    let profiles = ftps_emulator::Profile::load_dir(&dir.join(EMULATED))
        .map_err(|e| UsageError(e.to_string()))?;
    let Some(profile) = profiles.iter().find(|p| p.id() == profile).cloned() else {
        let ids: Vec<&str> = profiles.iter().map(|p| p.id()).collect();
        return Err(UsageError(format!(
            "{EMULATED} has no profile {profile:?}; it has: {}",
            ids.join(", ")
        )));
    };
    let account =
        Account::load(&dir.join("account.yaml")).map_err(|e| UsageError(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| UsageError(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        let pki = Pki::generate().map_err(|e| UsageError(e.to_string()))?;
        let work = ftps_compat::servers::leftovers::instance_dir("serve")
            .map_err(|e| UsageError(e.to_string()))?;
        let files = pki
            .write_to(work.path())
            .map_err(|e| UsageError(e.to_string()))?;
        let root = work.path().join("root");
        std::fs::create_dir(&root).map_err(|e| UsageError(e.to_string()))?;
        let options = ftps_emulator::EmulatorOptions {
            profile: profile.clone(),
            cert_chain: vec![pki.server.cert_der.clone()],
            key: pki.server.key_der(),
            users: vec![(account.user.clone(), account.password.clone())],
            root,
            // Files stay between logins, as on a real server.
            roots: ftps_emulator::Roots::Shared,
        };
        let emulator = ftps_emulator::Emulator::start(options)
            .await
            .map_err(|e| UsageError(format!("starting the emulator: {e}")))?;
        let login = format!("{}:{}", account.user, account.password);
        let (explicit, implicit) = (emulator.explicit_addr(), emulator.implicit_addr());
        println!(
            "{EMULATED} {} (emulates FileZilla Server {}) is running",
            profile.id(),
            profile.version()
        );
        println!(
            "  explicit: {}   (AUTH TLS)",
            login_url(ConnectMode::Explicit, &login, explicit.port())
        );
        println!(
            "  implicit: {}   (TLS from the first byte)",
            login_url(ConnectMode::Implicit, &login, implicit.port())
        );
        println!("  CA:       {}", files.ca.display());
        println!(
            "  try:      {}",
            curl_line(ConnectMode::Explicit, &login, explicit.port(), &files.ca)
        );
        println!("Ctrl-C stops it.");
        let _ = wait_for_stop().await;
        emulator.shutdown().await;
        drop(work);
        println!("stopped; files removed");
        Ok(EXIT_OK)
    })
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Stop {
    pub fn signal_name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// The conventional exit code: 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            Stop::Interrupt => super::EXIT_INTERRUPTED,
            Stop::Terminate => super::EXIT_TERMINATED,
        }
    }
}

/// The SIGINT and SIGTERM handlers. Installed before any work starts, so a signal that
/// comes before anything waits for it still stops the run instead of killing the process.
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Must be called inside a tokio runtime.
    pub fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    pub async fn wait(mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
        }
    }
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_stop() -> Stop {
    match StopSignals::install() {
        Ok(signals) => signals.wait().await,
        // Without handlers the default action (exit) stays; wait for nothing.
        Err(_) => std::future::pending().await,
    }
}
