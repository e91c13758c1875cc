//! The container backend: one instance is one container of the server's image
//! `ftps-compat/<name>:bookworm`, started with testcontainers.
//!
//! - **Same paths, host network.** The instance directory that [`instance::prepare`]
//!   renders is bind-mounted at the same absolute path, and the container shares the
//!   host's network, so the rendered config (127.0.0.1 ports, PASV range, file paths)
//!   works unchanged (servers/README.md, "Network").
//! - **Command.** The image's entrypoint (tini) stays; the command is
//!   `sh -c 'set -e; <prepare...>; cd <run_dir>; exec <start> 0<>console.log 1>&0 2>&0'`,
//!   so the server writes what it writes natively into `run_dir/console.log`.
//! - **Readiness** is the `220 ` banner ([`instance::wait_for_banner`]), raced against
//!   the container exiting.
//! - **Nothing leaks.** Every container carries labels (`ftps-compat=1`, this process's
//!   run id, pid, host and boot id) and a unique name, and is owned by a guard from before
//!   it is created: [`ContainerServer::stop`] removes it, and dropping the guard anywhere
//!   (a panic, a cancelled start, a runtime shutting down, no runtime at all) removes it
//!   on a thread of its own with a fresh Docker client. Containers left behind by a
//!   killed harness (its pid gone, or another boot) are removed the next time the engine
//!   is first used on this host.
//! - **Old engines.** testcontainers 0.28 (bollard 0.21) speaks Docker API 1.53 and does
//!   not negotiate; Debian 12's docker.io 20.10 answers API 1.41 only ("client version
//!   1.53 is too new"). When the engine is older, testcontainers is pointed (through
//!   `DOCKER_HOST`) at a small in-process proxy on a private unix socket that forwards
//!   everything and only rewrites the request path prefix `/v1.53/` to the engine's
//!   `/v1.41/`, which is exactly what bollard's own version negotiation would change.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::{self, ClientVersion, Docker};
use testcontainers::core::logs::LogFrame;
use testcontainers::core::wait::ExitWaitStrategy;
use testcontainers::core::{Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

use super::instance::{self, Prepared, StartError};
use super::manifest::{Account, Mode, ServerSpec};
use super::process::{pid_alive, process_start};
use crate::certs::Pki;
use crate::runner::Endpoint;

/// Label on every container this harness starts (value `1`).
pub const LABEL: &str = "ftps-compat";
/// Label holding the run id of the process that started the container ([`run_id`]).
pub const LABEL_RUN: &str = "ftps-compat.run";
const LABEL_PID: &str = "ftps-compat.pid";
const LABEL_HOST: &str = "ftps-compat.host";
const LABEL_BOOT: &str = "ftps-compat.boot";
/// The start time of the process named by `ftps-compat.pid` (guards against pid reuse).
const LABEL_START: &str = "ftps-compat.start";

/// How long a server gets to show its banner once its container runs.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// Create + start of one container (testcontainers' startup timeout).
const CREATE_LIMIT: Duration = Duration::from_secs(30);
/// Docker must answer a ping within this.
const PING_LIMIT: Duration = Duration::from_secs(3);
/// Removing one container.
const REMOVE_LIMIT: Duration = Duration::from_secs(30);
/// What the server writes on fds 0, 1 and 2 (the same file the native backend uses).
const CONSOLE_LOG: &str = "console.log";
/// The servers' locale (`LANG`) in their containers.
pub const SERVER_LANG: &str = "C.UTF-8";
/// Container stdout/stderr kept (the prepare commands, tini, sh).
const OUTPUT_LIMIT: usize = 64 * 1024;

/// Removes this process's Docker API adapter socket, if it made one: at exit, since the
/// adapter runs for the life of the process.
pub fn remove_adapter_socket() {
    let _ = std::fs::remove_file(shim::socket_path());
}

/// `ftps-compat/<server>`, tagged with the Debian release it is built from (`bookworm`).
fn repository(spec: &ServerSpec) -> String {
    format!("ftps-compat/{}", spec.name)
}

/// `ftps-compat/<server>:<suite>`.
pub fn image(spec: &ServerSpec) -> String {
    format!("{}:{}", repository(spec), spec.suite)
}

fn image_missing(spec: &ServerSpec) -> String {
    format!(
        "image {} missing: build it with ci/build-images.sh {}",
        image(spec),
        spec.name
    )
}

/// This process's run id, the value of the `ftps-compat.run` label of its containers.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{}-{nanos:x}", std::process::id())
    })
}

fn host_id() -> &'static (String, String) {
    static HOST: OnceLock<(String, String)> = OnceLock::new();
    HOST.get_or_init(|| {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        (
            read("/proc/sys/kernel/hostname"),
            read("/proc/sys/kernel/random/boot_id"),
        )
    })
}

fn labels(kind: &str, server: &str, profile: &str) -> Vec<(String, String)> {
    let (host, boot) = host_id();
    [
        (LABEL, "1".to_string()),
        (LABEL_RUN, run_id().to_string()),
        (LABEL_PID, std::process::id().to_string()),
        (LABEL_HOST, host.clone()),
        (LABEL_BOOT, boot.clone()),
        (
            LABEL_START,
            process_start(std::process::id() as i32).unwrap_or_default(),
        ),
        ("ftps-compat.kind", kind.to_string()),
        ("ftps-compat.server", server.to_string()),
        ("ftps-compat.profile", profile.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A container name no other container of this run (or any run) has.
fn container_name(server: &str, what: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("ftps-compat-{server}-{what}-{}-{n}", run_id())
}

// ---------------------------------------------------------------------------------------
// The engine: where it is, which API it speaks, whether it answers.

/// Where the Docker engine listens.
#[derive(Debug, Clone)]
enum Upstream {
    Unix(PathBuf),
    /// `host:port` of a plain-HTTP engine (`DOCKER_HOST=tcp://...`).
    Tcp(String),
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Upstream::Unix(path) => write!(f, "unix://{}", path.display()),
            Upstream::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// The Docker engine this process uses, found and checked once.
struct Engine {
    upstream: Upstream,
    /// The API version our own clients use: the engine's, at most bollard's.
    api: ClientVersion,
    /// The engine's version, as `docker version` shows it.
    version: String,
    /// testcontainers goes through the API version adapter.
    adapted: bool,
}

fn engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(connect_engine)
        .as_ref()
        .map_err(Clone::clone)
}

/// Where testcontainers would look, in its order: `DOCKER_HOST`, then the usual sockets.
fn locate_upstream() -> Result<Upstream, String> {
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && !host.trim().is_empty()
    {
        let host = host.trim();
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Upstream::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            return Ok(Upstream::Tcp(addr.trim_end_matches('/').to_string()));
        }
        return Err(format!(
            "DOCKER_HOST={host}: only unix:// and plain tcp:// engines are supported"
        ));
    }
    let mut candidates = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(dir).join(".docker/run/docker.sock"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        candidates.push(home.join(".docker/run/docker.sock"));
        candidates.push(home.join(".docker/desktop/docker.sock"));
    }
    candidates
        .into_iter()
        .find(|p| p.exists())
        .map(Upstream::Unix)
        .ok_or_else(|| {
            "no Docker engine: /var/run/docker.sock does not exist and DOCKER_HOST is not set"
                .into()
        })
}

/// One unversioned HTTP/1.0 GET (an engine answers it whatever its API version).
fn http_get(upstream: &Upstream, path: &str) -> Result<String, String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n");
    let mut response = Vec::new();
    let io = |e: std::io::Error| format!("no Docker engine answers at {upstream}: {e}");
    match upstream {
        Upstream::Unix(socket) => {
            let mut stream = UnixStream::connect(socket).map_err(io)?;
            stream.set_read_timeout(Some(PING_LIMIT)).map_err(io)?;
            stream.set_write_timeout(Some(PING_LIMIT)).map_err(io)?;
            stream.write_all(request.as_bytes()).map_err(io)?;
            stream.read_to_end(&mut response).map_err(io)?;
        }
        Upstream::Tcp(addr) => {
            let target = addr
                .to_socket_addrs()
                .map_err(io)?
                .next()
                .ok_or_else(|| format!("{upstream}: no address"))?;
            let mut stream = TcpStream::connect_timeout(&target, PING_LIMIT).map_err(io)?;
            stream.set_read_timeout(Some(PING_LIMIT)).map_err(io)?;
            stream.set_write_timeout(Some(PING_LIMIT)).map_err(io)?;
            stream.write_all(request.as_bytes()).map_err(io)?;
            stream.read_to_end(&mut response).map_err(io)?;
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{upstream}: not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("{upstream} answered {status:?} to GET {path}"));
    }
    Ok(body.to_string())
}

fn parse_api(text: &str) -> Option<ClientVersion> {
    let (major, minor) = text.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

fn api_path(version: &ClientVersion) -> String {
    format!(" /v{}.{}/", version.major_version, version.minor_version)
}

fn connect_engine() -> Result<Engine, String> {
    let upstream = locate_upstream()?;
    let body = http_get(&upstream, "/version")?;
    let info: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("{upstream}: /version: {e}"))?;
    let daemon_api = info["ApiVersion"]
        .as_str()
        .and_then(parse_api)
        .ok_or_else(|| format!("{upstream}: /version has no ApiVersion"))?;
    let version = format!(
        "Docker {} (API {}.{})",
        info["Version"].as_str().unwrap_or("?"),
        daemon_api.major_version,
        daemon_api.minor_version
    );
    let ours = bollard::API_DEFAULT_VERSION;
    let api = if daemon_api < *ours {
        let (from, to) = (api_path(ours), api_path(&daemon_api));
        if from.len() != to.len() {
            return Err(format!(
                "{version} is older than testcontainers' API {}.{}, and cannot be adapted",
                ours.major_version, ours.minor_version
            ));
        }
        let socket = shim::start(upstream.clone(), from.into_bytes(), to.into_bytes())
            .map_err(|e| format!("starting the Docker API adapter: {e}"))?;
        // SAFETY: done once, under this OnceLock, before any testcontainers client exists
        // (testcontainers reads DOCKER_HOST when it creates one). std's own readers take
        // the environment lock; nothing in this process reads DOCKER_HOST through libc.
        unsafe { std::env::set_var("DOCKER_HOST", format!("unix://{}", socket.display())) };
        daemon_api
    } else {
        *ours
    };
    let engine = Engine {
        upstream,
        api,
        version,
        adapted: daemon_api < *ours,
    };
    // The check the rest of the backend relies on: testcontainers' own client answers.
    on_own_runtime(async {
        let docker = testcontainers::core::client::docker_client_instance()
            .await
            .map_err(|e| format!("no docker client: {e}"))?;
        tokio::time::timeout(PING_LIMIT, docker.ping())
            .await
            .map_err(|_| "docker ping timed out".to_string())?
            .map_err(|e| format!("docker ping failed: {e}"))?;
        Ok::<(), String>(())
    })??;
    let _ = on_own_runtime(sweep_stale(engine.client()));
    Ok(engine)
}

impl Engine {
    /// A new client, tied to no runtime and to no other client's connections.
    fn client(&self) -> Result<Docker, String> {
        let docker = match &self.upstream {
            Upstream::Unix(path) => {
                Docker::connect_with_unix(&path.display().to_string(), 60, &self.api)
            }
            Upstream::Tcp(addr) => Docker::connect_with_http(addr, 60, &self.api),
        };
        docker.map_err(|e| format!("docker client: {e}"))
    }
}

/// Runs `future` to completion on a fresh runtime on a thread of its own: works from
/// synchronous code, from inside any runtime, and while a runtime shuts down.
fn on_own_runtime<F>(future: F) -> Result<F::Output, String>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::Builder::new()
        .name("ftps-compat-docker".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(future))
                .map_err(|e| format!("starting a runtime: {e}"))
        })
        .map_err(|e| format!("starting a thread: {e}"))?
        .join()
        .map_err(|_| "the Docker thread panicked".to_string())?
}

/// Removes containers of harness processes that are gone (killed before they could
/// clean up), with their instance directories: same host, and another boot or a pid that
/// is no longer the same live process.
async fn sweep_stale(docker: Result<Docker, String>) -> Result<usize, String> {
    let docker = docker?;
    let (host, boot) = host_id();
    let mut removed = 0;
    for listed in labeled(&docker, &format!("{LABEL}=1")).await? {
        let labels = &listed.labels;
        let here = labels.get(LABEL_HOST) == Some(host);
        let pid: Option<i32> = labels.get(LABEL_PID).and_then(|p| p.parse().ok());
        let stale = labels.get(LABEL_BOOT) != Some(boot)
            || pid.is_some_and(|p| {
                p as u32 != std::process::id()
                    && match labels.get(LABEL_START).filter(|s| !s.is_empty()) {
                        Some(start) => process_start(p).as_ref() != Some(start),
                        None => !pid_alive(p),
                    }
            });
        if here && stale && remove_container(&docker, &listed.id).await.is_ok() {
            removed += 1;
            for dir in &listed.binds {
                let ours = dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("ftps-compat-"));
                if ours && dir.is_dir() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
    }
    Ok(removed)
}

/// A container of ours, as the engine lists it.
struct Listed {
    id: String,
    labels: HashMap<String, String>,
    /// Host directories bind-mounted into it (the instance directory).
    binds: Vec<PathBuf>,
}

/// Containers (running or not) with `label` (`key=value`).
async fn labeled(docker: &Docker, label: &str) -> Result<Vec<Listed>, String> {
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![label])].into_iter().collect();
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| format!("listing containers: {e}"))?;
    Ok(list
        .into_iter()
        .map(|c| Listed {
            id: c.id.unwrap_or_default(),
            labels: c.labels.unwrap_or_default(),
            binds: c
                .mounts
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.source.map(PathBuf::from))
                .collect(),
        })
        .collect())
}

/// Force-removes a container (killing it); one that is already gone is fine.
async fn remove_container(docker: &Docker, name: &str) -> Result<(), String> {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    match tokio::time::timeout(REMOVE_LIMIT, docker.remove_container(name, Some(options))).await {
        Err(_) => Err(format!("removing container {name}: timed out")),
        Ok(Ok(())) => Ok(()),
        Ok(Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        })) => Ok(()),
        Ok(Err(e)) => Err(format!("removing container {name}: {e}")),
    }
}

/// A container some ftps-compat process on this engine started, running or not.
#[derive(Debug, Clone)]
pub struct OurContainer {
    pub id: String,
    /// The run id ([`run_id`]) of the process that started it.
    pub run: String,
    /// That process's pid.
    pub pid: Option<u32>,
    /// Host directories bind-mounted into it (its instance directory).
    pub instance_dirs: Vec<PathBuf>,
}

/// Every container labeled `ftps-compat=1` on this engine, from any process.
pub fn our_containers() -> Result<Vec<OurContainer>, String> {
    let docker = engine()?.client()?;
    on_own_runtime(async move {
        labeled(&docker, &format!("{LABEL}=1")).await.map(|list| {
            list.into_iter()
                .map(|c| OurContainer {
                    run: c.labels.get(LABEL_RUN).cloned().unwrap_or_default(),
                    pid: c.labels.get(LABEL_PID).and_then(|p| p.parse().ok()),
                    id: c.id,
                    instance_dirs: c.binds,
                })
                .collect()
        })
    })?
}

/// Ids of this process's containers that still exist (running or not).
pub fn containers_of_this_run() -> Result<Vec<String>, String> {
    Ok(our_containers()?
        .into_iter()
        .filter(|c| c.run == run_id())
        .map(|c| c.id)
        .collect())
}

/// Removes the containers (and instance directories) of ftps-compat processes on this
/// host that died without cleaning up (SIGKILL). Done automatically when a process first
/// uses the engine; returns how many containers were removed.
pub fn sweep_stale_containers() -> Result<usize, String> {
    let docker = engine()?.client();
    on_own_runtime(sweep_stale(docker))?
}

/// The engine this process talks to (`Docker 20.10.24 (API 1.41)`), or why none.
pub fn engine_status() -> Result<String, String> {
    engine().map(|e| {
        let ours = bollard::API_DEFAULT_VERSION;
        let adapter = if e.adapted {
            format!(
                " (testcontainers speaks API {}.{}: requests adapted)",
                ours.major_version, ours.minor_version
            )
        } else {
            String::new()
        };
        format!("{} at {}{adapter}", e.version, e.upstream)
    })
}

// ---------------------------------------------------------------------------------------
// Containers owned by guards.

/// Owns one container from before it is created until it is removed.
struct Guard {
    name: String,
    container: Option<ContainerAsync<GenericImage>>,
    armed: bool,
}

impl Guard {
    fn id(&self) -> &str {
        self.container.as_ref().map_or(&self.name, |c| c.id())
    }

    /// Removes the container (the normal, asynchronous way).
    async fn remove(mut self) {
        self.armed = false;
        let removed = match self.container.take() {
            Some(container) => container.rm().await.map_err(|e| e.to_string()),
            None => Err(String::new()),
        };
        if removed.is_err() {
            let result = match engine().and_then(Engine::client) {
                Ok(docker) => remove_container(&docker, &self.name).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                eprintln!("warning: {e}");
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Not stopped the normal way: a panic, a cancelled future, or a runtime going
        // away. testcontainers' own Drop needs a live runtime (Handle::current), so
        // remove the container by name from a thread of our own, then forget the handle.
        let name = self.name.clone();
        let result = engine()
            .and_then(Engine::client)
            .and_then(|docker| {
                on_own_runtime(async move { remove_container(&docker, &name).await })
            })
            .and_then(|r| r);
        if let Err(e) = result {
            eprintln!("warning: {e}");
        }
        if let Some(container) = self.container.take() {
            std::mem::forget(container);
        }
    }
}

/// Creates and starts `request` (named `name`) under a guard. The start runs in a task of
/// its own, so a caller that is cancelled half-way leaves nothing behind: the task removes
/// what it started, and the caller's guard removes the container by name.
async fn launch(request: ContainerRequest<GenericImage>, name: String) -> Result<Guard, String> {
    let guard = Guard {
        name: name.clone(),
        container: None,
        armed: true,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let result = request.start().await;
        match tx.send(result) {
            Ok(()) => {}
            Err(Ok(container)) => {
                let _ = container.rm().await;
            }
            Err(Err(_)) => {
                if let Ok(docker) = engine().and_then(Engine::client) {
                    let _ = remove_container(&docker, &name).await;
                }
            }
        }
    });
    match rx.await {
        Ok(Ok(container)) => {
            let mut guard = guard;
            guard.container = Some(container);
            Ok(guard)
        }
        Ok(Err(e)) => {
            guard.remove().await;
            Err(e.to_string())
        }
        Err(_) => {
            guard.remove().await;
            Err("the container start task ended without an answer".into())
        }
    }
}

/// Returns when the container is no longer running: its exit status, or why not known.
async fn watch_exit(name: &str) -> String {
    let docker = match engine().and_then(Engine::client) {
        Ok(docker) => docker,
        Err(e) => {
            // Cannot watch: never report an exit.
            eprintln!("warning: {e}");
            return std::future::pending().await;
        }
    };
    loop {
        match docker.inspect_container(name, None).await {
            Ok(details) => {
                let state = details.state.unwrap_or_default();
                if state.running == Some(false) {
                    return match state.exit_code {
                        Some(code) => format!("exit status {code}"),
                        None => "exited".into(),
                    };
                }
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return "the container is gone".into(),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@%".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The container's command: the manifest's prepare commands, then the server in the
/// foreground with fds 0, 1 and 2 on `run_dir/console.log` (as the native backend does).
fn start_script(spec: &ServerSpec, prepared: &Prepared) -> Result<String, StartError> {
    let mut lines = vec!["set -e".to_string()];
    for command in &spec.prepare {
        lines.push(shell_join(&prepared.argv(spec, command)?));
    }
    let run_dir = prepared.run_dir.display().to_string();
    let console = prepared.run_dir.join(CONSOLE_LOG).display().to_string();
    lines.push(format!("cd {}", shell_quote(&run_dir)));
    lines.push(format!(
        "exec {} 0<>{} 1>&0 2>&0",
        shell_join(&prepared.argv(spec, &spec.start)?),
        shell_quote(&console)
    ));
    Ok(lines.join("\n"))
}

fn append(buffer: &Mutex<Vec<u8>>, bytes: &[u8]) {
    if let Ok(mut buffer) = buffer.lock() {
        buffer.extend_from_slice(bytes);
        if buffer.len() > 2 * OUTPUT_LIMIT {
            let cut = buffer.len() - OUTPUT_LIMIT;
            buffer.drain(..cut);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Images and versions.

/// Makes sure the server's image exists. It is never built from here: a Dockerfile's
/// `FROM` reaches for an image registry, and building is ci/build-images.sh's job (offline,
/// from the host's Debian mirror), so a missing image makes the columns skipped with the
/// command that builds it.
async fn ensure_image(spec: &ServerSpec, docker: &Docker) -> Result<(), String> {
    let tag = image(spec);
    match docker.inspect_image(&tag).await {
        Ok(_) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Err(image_missing(spec)),
        Err(e) => Err(format!("inspecting image {tag}: {e}")),
    }
}

/// Runs the manifest's version command in a throw-away container of the image.
async fn probe_version(spec: Arc<ServerSpec>) -> Result<String, String> {
    let binary = Path::new("/").join(&spec.binary).display().to_string();
    let argv: Vec<String> = spec
        .version
        .command
        .iter()
        .map(|a| a.replace("{binary}", &binary))
        .collect();
    let name = container_name(&spec.name, "version");
    let mut request = GenericImage::new(repository(&spec), spec.suite.clone())
        .with_cmd(argv.clone())
        .with_network("none")
        .with_container_name(&name)
        .with_labels(labels("version", &spec.name, "-"))
        .with_ready_conditions(vec![WaitFor::exit(ExitWaitStrategy::new())])
        .with_startup_timeout(CREATE_LIMIT);
    for cap in &spec.container.cap_add {
        request = request.with_cap_add(cap.clone());
    }
    let guard = launch(request, name).await?;
    let output = match &guard.container {
        Some(container) => {
            let stdout = container.stdout_to_vec().await.unwrap_or_default();
            let stderr = container.stderr_to_vec().await.unwrap_or_default();
            format!(
                "{}{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            )
        }
        None => String::new(),
    };
    guard.remove().await;
    let pattern = regex::Regex::new(&spec.version.pattern).map_err(|e| e.to_string())?;
    pattern
        .captures(&output)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
        .ok_or_else(|| {
            format!(
                "{}: version pattern did not match {:?}",
                argv.join(" "),
                output.trim()
            )
        })
}

/// Whether this server can run in a container here, and its version as the server in the
/// image reports it: `(version, None)` or `(version?, Some(why not))`. Checked once per
/// server per process (a missing image is built from the Dockerfile if that works).
pub fn availability(spec: &ServerSpec) -> (Option<String>, Option<String>) {
    type Known = Mutex<BTreeMap<String, (Option<String>, Option<String>)>>;
    static KNOWN: OnceLock<Known> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(answer) = known.get(&spec.name) {
        return answer.clone();
    }
    let answer = check(spec);
    known.insert(spec.name.clone(), answer.clone());
    answer
}

fn check(spec: &ServerSpec) -> (Option<String>, Option<String>) {
    let unavailable = |why: String| (None, Some(format!("container backend unavailable: {why}")));
    let engine = match engine() {
        Ok(engine) => engine,
        Err(why) => return unavailable(why),
    };
    if !nix::unistd::Uid::effective().is_root() {
        return unavailable(
            "the harness must run as root (the instance's FTP root belongs to the login account, and the servers write root-owned files into the bind-mounted instance directory)".into(),
        );
    }
    let docker = match engine.client() {
        Ok(docker) => docker,
        Err(why) => return unavailable(why),
    };
    let spec = Arc::new(spec.clone());
    let probe = spec.clone();
    let result = on_own_runtime(async move {
        ensure_image(&probe, &docker).await?;
        Ok::<_, String>(probe_version(probe).await)
    })
    .and_then(|r| r);
    match result {
        Err(why) => unavailable(why),
        Ok(Ok(version)) => (Some(version), None),
        // Like the native backend: an unknown version does not stop the cells.
        Ok(Err(_)) => (None, None),
    }
}

// ---------------------------------------------------------------------------------------
// A running server.

pub struct ContainerServer {
    pub endpoint: Endpoint,
    pub banner: String,
    output: Arc<Mutex<Vec<u8>>>,
    // Field order matters: the container goes before its directory.
    guard: Guard,
    prepared: Prepared,
}

impl ContainerServer {
    /// Files under the instance directory to show when a cell fails.
    pub fn log_paths(&self, spec: &ServerSpec) -> Vec<PathBuf> {
        let mut paths = vec![self.prepared.run_dir.join(CONSOLE_LOG)];
        paths.extend(self.prepared.log_paths(spec));
        paths
    }

    /// The container's own stdout and stderr (prepare commands, tini, sh).
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    pub fn container_id(&self) -> &str {
        self.guard.id()
    }

    pub fn instance_dir(&self) -> &Path {
        self.prepared.dir.path()
    }

    /// Removes the container, then the instance directory.
    pub async fn stop(self) {
        let ContainerServer {
            guard, prepared, ..
        } = self;
        guard.remove().await;
        drop(prepared);
    }
}

/// Starts one instance of `profile` in a container of the server's image.
pub async fn start(
    spec: &ServerSpec,
    profile: &str,
    pki: &Pki,
    account: &Account,
) -> Result<ContainerServer, StartError> {
    let not_ready = |detail: String| StartError::NotReady {
        server: spec.name.clone(),
        detail,
    };
    engine()
        .map_err(|why| StartError::Unsupported(format!("container backend unavailable: {why}")))?;
    let prepared = instance::prepare(spec, profile, pki, account, Path::new("/"))?;
    let script = start_script(spec, &prepared)?;
    let name = container_name(&spec.name, profile);
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = output.clone();
    let dir = prepared.dir.path().display().to_string();
    let mut request = GenericImage::new(repository(spec), spec.suite.clone())
        .with_cmd(["sh".to_string(), "-c".to_string(), script])
        .with_network("host")
        .with_mount(Mount::bind_mount(dir.clone(), dir))
        .with_container_name(&name)
        // The locale shows in replies (ProFTPD's FEAT lists `LANG <locale>*`): pin the
        // one CI runs the native servers with, whatever the harness's own locale.
        .with_env_var("LANG", SERVER_LANG)
        .with_labels(labels("server", &spec.name, profile))
        .with_startup_timeout(CREATE_LIMIT)
        .with_log_consumer(move |frame: &LogFrame| append(&sink, frame.bytes()));
    for cap in &spec.container.cap_add {
        request = request.with_cap_add(cap.clone());
    }
    let guard = launch(request, name)
        .await
        .map_err(|e| not_ready(format!("starting container of {}: {e}", image(spec))))?;
    let implicit = prepared.mode == Mode::Implicit;
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), prepared.port);
    let ready = tokio::select! {
        ready = instance::wait_for_banner(addr, implicit, READY_LIMIT, || Ok(())) => ready,
        exit = watch_exit(&guard.name) => Err(format!("the container ended ({exit})")),
    };
    let banner = match ready {
        Ok(banner) => banner,
        Err(detail) => {
            // Give the log consumer a moment to receive the last lines.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let console =
                std::fs::read_to_string(prepared.run_dir.join(CONSOLE_LOG)).unwrap_or_default();
            let captured = output
                .lock()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            guard.remove().await;
            return Err(not_ready(format!(
                "{detail}: {}",
                [console.trim(), captured.trim()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" | ")
            )));
        }
    };
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
    Ok(ContainerServer {
        endpoint,
        banner,
        output,
        guard,
        prepared,
    })
}

// ---------------------------------------------------------------------------------------
// The API version adapter for engines older than testcontainers' bollard.

mod shim {
    use std::path::PathBuf;

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    use super::Upstream;

    /// Rewrites every `from` to `to` (same length) in a byte stream cut anywhere.
    pub(super) struct Rewriter {
        from: Vec<u8>,
        to: Vec<u8>,
        held: Vec<u8>,
    }

    impl Rewriter {
        pub(super) fn new(from: Vec<u8>, to: Vec<u8>) -> Rewriter {
            assert_eq!(from.len(), to.len(), "same-length rewrite only");
            Rewriter {
                from,
                to,
                held: Vec::new(),
            }
        }

        /// What can be sent now; a tail that may be the start of `from` is held back.
        pub(super) fn feed(&mut self, input: &[u8]) -> Vec<u8> {
            let mut buf = std::mem::take(&mut self.held);
            buf.extend_from_slice(input);
            let n = self.from.len();
            let mut out = Vec::with_capacity(buf.len());
            let mut i = 0;
            while i + n <= buf.len() {
                if buf[i..i + n] == self.from[..] {
                    out.extend_from_slice(&self.to);
                    i += n;
                } else {
                    out.push(buf[i]);
                    i += 1;
                }
            }
            let keep = (i..buf.len())
                .find(|&j| self.from.starts_with(&buf[j..]))
                .unwrap_or(buf.len());
            out.extend_from_slice(&buf[i..keep]);
            self.held = buf[keep..].to_vec();
            out
        }

        /// The end of the stream: whatever was held back.
        pub(super) fn finish(&mut self) -> Vec<u8> {
            std::mem::take(&mut self.held)
        }
    }

    /// This process's socket.
    pub(super) fn socket_path() -> PathBuf {
        std::env::temp_dir().join(format!("ftps-compat-docker-{}.sock", std::process::id()))
    }

    /// Listens on a private unix socket and forwards each connection to `upstream`,
    /// rewriting the client's side. Runs for the life of the process.
    pub(super) fn start(upstream: Upstream, from: Vec<u8>, to: Vec<u8>) -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir();
        remove_stale(&dir);
        let path = socket_path();
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::thread::Builder::new()
            .name("ftps-compat-docker-api".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
                        return;
                    };
                    while let Ok((client, _)) = listener.accept().await {
                        let (upstream, from, to) = (upstream.clone(), from.clone(), to.clone());
                        tokio::spawn(async move {
                            let _ = forward(client, upstream, from, to).await;
                        });
                    }
                });
            })
            .map_err(|e| format!("starting the adapter thread: {e}"))?;
        Ok(path)
    }

    /// Sockets of harness processes that are gone.
    fn remove_stale(dir: &std::path::Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("ftps-compat-docker-")
                .and_then(|rest| rest.strip_suffix(".sock"))
                .and_then(|pid| pid.parse::<i32>().ok());
            if let Some(pid) = pid
                && !super::pid_alive(pid)
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    async fn forward(
        client: tokio::net::UnixStream,
        upstream: Upstream,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> std::io::Result<()> {
        let (client_read, client_write) = tokio::io::split(client);
        match upstream {
            Upstream::Unix(path) => {
                let server = tokio::net::UnixStream::connect(path).await?;
                let (server_read, server_write) = tokio::io::split(server);
                pump(
                    client_read,
                    client_write,
                    server_read,
                    server_write,
                    from,
                    to,
                )
                .await
            }
            Upstream::Tcp(addr) => {
                let server = tokio::net::TcpStream::connect(addr).await?;
                let (server_read, server_write) = tokio::io::split(server);
                pump(
                    client_read,
                    client_write,
                    server_read,
                    server_write,
                    from,
                    to,
                )
                .await
            }
        }
    }

    async fn pump(
        mut client_read: impl AsyncRead + Unpin,
        mut client_write: impl AsyncWrite + Unpin,
        mut server_read: impl AsyncRead + Unpin,
        mut server_write: impl AsyncWrite + Unpin,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> std::io::Result<()> {
        let up = async {
            let mut rewriter = Rewriter::new(from, to);
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = client_read.read(&mut buf).await?;
                if n == 0 {
                    server_write.write_all(&rewriter.finish()).await?;
                    server_write.shutdown().await?;
                    return Ok::<(), std::io::Error>(());
                }
                server_write.write_all(&rewriter.feed(&buf[..n])).await?;
            }
        };
        let down = async {
            tokio::io::copy(&mut server_read, &mut client_write).await?;
            client_write.shutdown().await
        };
        let (a, b) = tokio::join!(up, down);
        a.and(b)
    }
}

#[cfg(test)]
mod tests {
    use super::shim::Rewriter;
    use super::*;

    #[test]
    fn rewrites_the_version_prefix_across_any_cut() {
        let input =
            b"GET /v1.53/containers/json HTTP/1.1\r\nHost: d\r\n\r\nPOST /v1.53/x HTTP/1.1\r\n\r\n";
        let expected =
            b"GET /v1.41/containers/json HTTP/1.1\r\nHost: d\r\n\r\nPOST /v1.41/x HTTP/1.1\r\n\r\n";
        for cut in 0..input.len() {
            for second in cut..input.len() {
                let mut r = Rewriter::new(b" /v1.53/".to_vec(), b" /v1.41/".to_vec());
                let mut out = r.feed(&input[..cut]);
                out.extend(r.feed(&input[cut..second]));
                out.extend(r.feed(&input[second..]));
                out.extend(r.finish());
                assert_eq!(out, expected.to_vec(), "cut at {cut} and {second}");
            }
        }
    }

    #[test]
    fn holds_back_nothing_at_the_end_of_a_request() {
        let mut r = Rewriter::new(b" /v1.53/".to_vec(), b" /v1.41/".to_vec());
        let request = b"GET /v1.53/_ping HTTP/1.1\r\nHost: d\r\n\r\n";
        assert_eq!(
            r.feed(request),
            b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n".to_vec()
        );
        assert_eq!(r.feed(b"GET /"), b"GET".to_vec());
        assert_eq!(r.feed(b"v1.53/a"), b" /v1.41/a".to_vec());
    }

    #[test]
    fn quotes_for_sh() {
        assert_eq!(shell_quote("/tmp/a-b/run.conf"), "/tmp/a-b/run.conf");
        assert_eq!(shell_quote("exec \"$0\" -v 0>&1"), "'exec \"$0\" -v 0>&1'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_join(&["-S".into(), "127.0.0.1,2121".into()]),
            "-S 127.0.0.1,2121"
        );
    }

    #[test]
    fn parses_api_versions() {
        let v = parse_api("1.41").unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert!(parse_api("x").is_none());
        assert_eq!(api_path(&v), " /v1.41/");
    }
}
