//! The container backend against the native one, and the proof that nothing survives a
//! cell: no server process, no container, no instance directory, whether the cell ends
//! normally, panics, is aborted, is cancelled while its container is being created, or
//! its runtime shuts down under it.
//!
//! Needs root, Docker with the images (ci/build-images.sh) and the native servers
//! (ci/setup-debian.sh). Elsewhere the tests print why they skip; in CI (CI set) a missing
//! prerequisite is a failure, never a silent pass.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftps_compat::certs::Pki;
use ftps_compat::matrix::{
    self, BackendChoice, CellContext, CellResult, Column, Filters, Inputs, MatrixConfig,
};
use ftps_compat::outcome::OutcomeClass;
use ftps_compat::scenario::{self, Scenario};
use ftps_compat::servers::backend::{self, BackendKind, ServerSource};
use ftps_compat::servers::container;
use ftps_compat::servers::manifest::{Account, ServerSpec};

/// The tests of this file share one process-wide run id: one at a time, so that "no
/// container of this run" means no container of the test that just finished.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the tests of this file one at a time, each with an empty private temp dir for
/// the instance directories (other processes on this machine may create their own
/// `ftps-compat-*` directories in the system one meanwhile).
struct Serial {
    _lock: std::sync::MutexGuard<'static, ()>,
}

fn serial() -> Serial {
    let lock = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = private_tmp();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("private temp dir");
    Serial { _lock: lock }
}

impl Drop for Serial {
    fn drop(&mut self) {
        // Kept (with what leaked) when the test failed.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir(private_tmp());
        }
    }
}

/// Where this test process's instance directories go (tempfile's override).
fn private_tmp() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ftps-compat-tests-{}", std::process::id()));
        tempfile::env::override_temp_dir(&dir).expect("temp dir not overridden yet");
        dir
    })
}

/// Instance directories left in the private temp dir.
fn instance_dirs() -> Vec<PathBuf> {
    std::fs::read_dir(private_tmp())
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// (server, profile) pairs used below: one explicit profile per server.
const SERVERS: [(&str, &str); 3] = [
    ("vsftpd", "explicit-strict"),
    ("pure-ftpd", "tls-3"),
    ("proftpd", "explicit-strict"),
];

fn load_scenarios(ids: &[&str]) -> Vec<Scenario> {
    ids.iter()
        .map(|id| {
            scenario::load_file(&repo().join("scenarios").join(format!("{id}.yaml")))
                .unwrap_or_else(|e| panic!("{id}: {e:?}"))
        })
        .collect()
}

/// Inputs with every real server on both backends, or None (reason printed) when this
/// machine cannot run both here. In CI that is a failure.
fn inputs(scenarios: &[&str]) -> Option<Inputs> {
    let filters = Filters {
        servers: SERVERS.iter().map(|(s, _)| s.to_string()).collect(),
        profiles: vec![],
        scenarios: vec![],
        exclude: Vec::new(),
    };
    let inputs = Inputs::load(
        &repo().join("servers"),
        load_scenarios(scenarios),
        &filters,
        BackendChoice::All,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let missing: Vec<String> = inputs
        .columns
        .iter()
        .filter(|c| SERVERS.contains(&(c.server.as_str(), c.profile.as_str())))
        .filter_map(|c| {
            c.unavailable
                .as_ref()
                .map(|why| format!("{} ({}): {why}", c.id(), c.backend))
        })
        .collect();
    if !missing.is_empty() {
        let reason = missing.join("; ");
        assert!(!in_ci(), "CI must run the container tests: {reason}");
        eprintln!("skipping: {reason}");
        return None;
    }
    Some(inputs)
}

fn column(inputs: &Inputs, server: &str, profile: &str, backend: BackendKind) -> Column {
    inputs
        .columns
        .iter()
        .find(|c| c.server == server && c.profile == profile && c.backend == backend)
        .unwrap_or_else(|| panic!("no column {server}/{profile} ({backend})"))
        .clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn context(inputs: &Inputs) -> CellContext {
    CellContext::new(
        inputs.account.clone(),
        inputs.catalog.clone(),
        MatrixConfig {
            jobs: 1,
            cell_timeout: Duration::from_secs(60),
        },
    )
    .expect("certificates")
}

/// The cell's snapshot: outcome, quirks and normalized transcript.
fn comparable(cell: &CellResult) -> String {
    ftps_compat::snapshot::render(cell)
}

/// The same cell on the container and the native backend gives the same normalized
/// transcript and verdict (same Debian builds, same config): the happy path and each
/// server's known refusal.
#[test]
fn container_transcripts_equal_native() {
    let _serial = serial();
    let Some(inputs) = inputs(&["happy-path", "no-session-reuse", "no-prot", "feat"]) else {
        return;
    };
    let context = context(&inputs);
    let runtime = runtime();
    let cells = [
        ("vsftpd", "explicit-strict", "happy-path"),
        ("vsftpd", "explicit-strict", "no-session-reuse"),
        ("pure-ftpd", "tls-3", "happy-path"),
        ("pure-ftpd", "tls-3", "no-prot"),
        ("proftpd", "explicit-strict", "happy-path"),
        ("proftpd", "explicit-strict", "no-session-reuse"),
        // FEAT shows ProFTPD's locale: the container pins what the native server gets here.
        ("proftpd", "explicit-strict", "feat"),
    ];
    let mut compared = 0;
    for (server, profile, scenario_id) in cells {
        let scenario = inputs
            .scenarios
            .iter()
            .find(|s| s.id == scenario_id)
            .expect("scenario loaded");
        let mut texts = Vec::new();
        for backend in [BackendKind::Native, BackendKind::Container] {
            let column = column(&inputs, server, profile, backend);
            let cell = runtime.block_on(matrix::run_cell(&column, scenario, &context));
            assert!(
                cell.class().ran(),
                "{} ({backend}): {}\n{}\n{}",
                cell.name(),
                cell.outcome.summary,
                cell.transcript_text(),
                cell.log_excerpt
            );
            texts.push(comparable(&cell));
        }
        assert_eq!(
            texts[0], texts[1],
            "{server}/{profile}::{scenario_id}: native (left) and container (right) differ"
        );
        compared += 1;
    }
    assert_eq!(compared, cells.len());
    drop(runtime);
    assert_eq!(container::containers_of_this_run(), Ok(vec![]));
    assert_eq!(instance_dirs(), Vec::<PathBuf>::new(), "instance dirs left");
}

/// What one started instance consists of on this host.
#[derive(Debug, Clone)]
struct Ids {
    what: String,
    dir: PathBuf,
    pid: Option<u32>,
    container: Option<String>,
}

fn ids(what: &str, running: &backend::Running) -> Ids {
    Ids {
        what: what.to_string(),
        dir: running.instance_dir().expect("instance dir").to_owned(),
        pid: running.pid(),
        container: running.container_id().map(str::to_string),
    }
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Every process on this host that belongs to the instance: its cmdline names the
/// instance directory, its cwd or an open file is in it, it is in the native server's
/// process group, or in the container's cgroup.
fn survivors(ids: &Ids) -> Vec<String> {
    let dir = ids.dir.display().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let proc = entry.path();
        let stat = read(proc.join("stat"));
        let comm = stat
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default();
        let pgrp: Option<u32> = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|p| p.parse().ok());
        let mut why = Vec::new();
        if read(proc.join("cmdline")).contains(&dir) {
            why.push("cmdline");
        }
        if std::fs::read_link(proc.join("cwd")).is_ok_and(|p| p.starts_with(&ids.dir)) {
            why.push("cwd");
        }
        if let Ok(fds) = std::fs::read_dir(proc.join("fd"))
            && fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p.starts_with(&ids.dir)))
        {
            why.push("open file");
        }
        if ids.pid.is_some() && pgrp == ids.pid {
            why.push("process group");
        }
        if let Some(id) = &ids.container
            && read(proc.join("cgroup")).contains(id.as_str())
        {
            why.push("container cgroup");
        }
        if !why.is_empty() {
            found.push(format!("pid {pid} ({comm}): {}", why.join(", ")));
        }
    }
    found
}

/// Waits (bounded) until nothing of `ids` is left, then asserts it.
fn assert_gone(ids: &Ids) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = survivors(ids);
        let dir_left = ids.dir.exists();
        let containers = container::containers_of_this_run().expect("listing containers");
        if left.is_empty() && !dir_left && containers.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: still there after the cell: processes {left:?}, instance dir {} exists: {dir_left}, containers of this run: {containers:?}",
            ids.what,
            ids.dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The detector is not vacuous: while the server runs it finds it.
fn assert_detected(ids: &Ids) {
    let left = survivors(ids);
    assert!(
        !left.is_empty(),
        "{}: the leak check sees no process of a running server",
        ids.what
    );
    assert!(ids.dir.exists());
    if let Some(id) = &ids.container {
        let containers = container::containers_of_this_run().expect("listing containers");
        assert!(
            containers.contains(id),
            "{}: container {id} not listed",
            ids.what
        );
    }
}

/// Opens a control connection and reads the banner, so the server has a session
/// process of its own when the cell dies.
fn hold_session(endpoint: &ftps_compat::runner::Endpoint) -> TcpStream {
    let port = endpoint.explicit_port.expect("explicit profile");
    let stream = TcpStream::connect((endpoint.host, port)).expect("control connection");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("banner");
        if line.starts_with("220 ") || line.is_empty() {
            break;
        }
    }
    stream
}

struct Case<'a> {
    spec: Arc<ServerSpec>,
    profile: &'a str,
    backend: BackendKind,
}

impl Case<'_> {
    fn source(&self) -> ServerSource {
        match self.backend {
            BackendKind::Container => ServerSource::Container(self.spec.clone()),
            _ => ServerSource::Real(self.spec.clone()),
        }
    }

    fn name(&self, how: &str) -> String {
        format!(
            "{}/{} ({}), {how}",
            self.spec.name, self.profile, self.backend
        )
    }
}

#[derive(Clone, Copy)]
enum Ending {
    /// The cell task panics while a session is open.
    Panic,
    /// The cell task is aborted (as a JoinSet does when it is dropped).
    Abort,
    /// The runtime is dropped while the cell task still runs.
    RuntimeShutdown,
}

/// Starts a server in a task that then ends the way `ending` says; checks the server
/// was seen running, and is entirely gone afterwards.
fn end_cell(case: &Case, ending: Ending, pki: &Arc<Pki>, account: &Account, scenario: &Scenario) {
    let how = match ending {
        Ending::Panic => "panicking cell",
        Ending::Abort => "aborted cell",
        Ending::RuntimeShutdown => "runtime shut down under the cell",
    };
    let what = case.name(how);
    let runtime = runtime();
    let (ids_tx, ids_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let (source, profile) = (case.source(), case.profile.to_string());
    let (pki_task, account_task, scenario_task, what_task) =
        (pki.clone(), account.clone(), scenario.clone(), what.clone());
    let task = runtime.spawn(async move {
        let running = backend::start(&source, &profile, &pki_task, &account_task)
            .await
            .unwrap_or_else(|e| panic!("{what_task}: start: {e}"));
        // A real run first, then a session left open.
        let run = ftps_compat::runner::run(&scenario_task, &running.endpoint)
            .await
            .expect("scenario runs");
        assert!(!run.transcript.render().is_empty());
        let session = hold_session(&running.endpoint);
        ids_tx.send(ids(&what_task, &running)).expect("ids");
        let _ = go_rx.await;
        match ending {
            Ending::Panic => panic!("deliberate panic in a cell ({what_task})"),
            Ending::Abort | Ending::RuntimeShutdown => {
                std::future::pending::<()>().await;
            }
        }
        drop((session, running));
    });
    let ids = ids_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what}: the server did not start"));
    assert_detected(&ids);
    let _ = go_tx.send(());
    match ending {
        Ending::Panic => {
            let joined = runtime.block_on(task);
            assert!(
                joined.as_ref().is_err_and(|e| e.is_panic()),
                "{what}: expected a panic"
            );
        }
        Ending::Abort => {
            runtime.block_on(async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                task.abort();
                assert!(task.await.is_err_and(|e| e.is_cancelled()));
            });
        }
        Ending::RuntimeShutdown => {
            runtime.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
        }
    }
    drop(runtime);
    assert_gone(&ids);
}

/// No server process, container or instance directory survives a cell that ends
/// normally (through the matrix runner), panics, is aborted, is cancelled while its
/// container is created, or whose runtime shuts down under it.
#[test]
fn nothing_survives_a_cell() {
    let _serial = serial();
    let Some(inputs) = inputs(&["happy-path"]) else {
        return;
    };
    assert_eq!(
        container::containers_of_this_run(),
        Ok(vec![]),
        "containers of this run before the test"
    );
    let scenario = inputs.scenarios[0].clone();
    let pki = Arc::new(Pki::generate().expect("certificates"));
    let specs: Vec<Arc<ServerSpec>> = SERVERS
        .iter()
        .map(|(server, _)| {
            let path = repo().join("servers").join(server).join("manifest.yaml");
            Arc::new(ServerSpec::load(&path).expect("manifest"))
        })
        .collect();

    // 1. Cells that end normally, through the matrix runner, on both backends.
    let columns: Vec<Column> = inputs
        .columns
        .iter()
        .filter(|c| SERVERS.contains(&(c.server.as_str(), c.profile.as_str())))
        .cloned()
        .collect();
    assert_eq!(columns.len(), 6, "3 servers x 2 backends");
    let results = runtime()
        .block_on(matrix::run(
            columns,
            vec![scenario.clone()],
            inputs.catalog.clone(),
            inputs.account.clone(),
            MatrixConfig {
                jobs: 2,
                cell_timeout: Duration::from_secs(60),
            },
            |_| {},
            std::future::pending(),
        ))
        .expect("matrix");
    for cell in &results.cells {
        assert_eq!(
            cell.class(),
            OutcomeClass::Works,
            "{} ({}): {}",
            cell.name(),
            cell.backend,
            cell.outcome.summary
        );
    }
    assert_eq!(container::containers_of_this_run(), Ok(vec![]));
    assert_eq!(instance_dirs(), Vec::<PathBuf>::new(), "instance dirs left");

    // 2. A cell that panics with a session open, on every server and both backends.
    for (spec, (_, profile)) in specs.iter().zip(SERVERS) {
        for backend in [BackendKind::Native, BackendKind::Container] {
            let case = Case {
                spec: spec.clone(),
                profile,
                backend,
            };
            end_cell(&case, Ending::Panic, &pki, &inputs.account, &scenario);
        }
    }

    // 3. An aborted cell and a runtime shut down under a cell, on both backends.
    for backend in [BackendKind::Native, BackendKind::Container] {
        let case = Case {
            spec: specs[0].clone(),
            profile: SERVERS[0].1,
            backend,
        };
        end_cell(&case, Ending::Abort, &pki, &inputs.account, &scenario);
        end_cell(
            &case,
            Ending::RuntimeShutdown,
            &pki,
            &inputs.account,
            &scenario,
        );
    }

    // 4. A container start cancelled at various points of its creation (the cell's
    //    start timeout firing early).
    let runtime = runtime();
    let source = ServerSource::Container(specs[0].clone());
    for millis in [1, 20, 50, 100, 200, 400, 800] {
        let started = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(millis),
                backend::start(&source, SERVERS[0].1, &pki, &inputs.account),
            )
            .await
        });
        if let Ok(Ok(running)) = started {
            runtime.block_on(running.stop());
        }
    }
    drop(runtime);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = container::containers_of_this_run().expect("listing containers");
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "containers left by cancelled starts: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(instance_dirs(), Vec::<PathBuf>::new(), "instance dirs left");
}

/// Start-to-220 of each server on each backend (a measurement, not a test: run with
/// `cargo test --test container -- --ignored --nocapture start_times`).
#[test]
#[ignore = "a measurement; run on demand"]
fn start_times() {
    let _serial = serial();
    let Some(inputs) = inputs(&["happy-path"]) else {
        return;
    };
    let pki = Pki::generate().expect("certificates");
    let runtime = runtime();
    const ROUNDS: usize = 7;
    for (server, profile) in SERVERS {
        for backend in [BackendKind::Native, BackendKind::Container] {
            let column = column(&inputs, server, profile, backend);
            let mut times = Vec::new();
            for _ in 0..ROUNDS {
                let clock = Instant::now();
                let running = runtime
                    .block_on(backend::start(
                        &column.source,
                        profile,
                        &pki,
                        &inputs.account,
                    ))
                    .unwrap_or_else(|e| panic!("{server} ({backend}): {e}"));
                times.push(clock.elapsed());
                runtime.block_on(running.stop());
            }
            times.sort();
            println!(
                "{server:<10} {backend:<9} start to 220: median {:>4} ms, min {:>4} ms, max {:>4} ms ({ROUNDS} starts)",
                times[ROUNDS / 2].as_millis(),
                times[0].as_millis(),
                times[ROUNDS - 1].as_millis()
            );
        }
    }
}

/// A harness killed with SIGKILL cannot clean up; the next process that uses the engine
/// removes its containers and their instance directories.
#[test]
fn a_killed_harness_is_cleaned_up_by_the_next() {
    let _serial = serial();
    if inputs(&["happy-path"]).is_none() {
        return;
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ftps-compat"))
        .args("run --backend container --servers vsftpd --jobs 2".split(' '))
        .current_dir(repo())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting ftps-compat run");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let theirs = |list: Vec<container::OurContainer>| -> Vec<container::OurContainer> {
        list.into_iter().filter(|c| c.pid == Some(pid)).collect()
    };
    let started = loop {
        let found = theirs(container::our_containers().expect("listing containers"));
        if !found.is_empty() {
            break found;
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child run started no container");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("reaping the child");
    let left = theirs(container::our_containers().expect("listing containers"));
    assert!(
        !left.is_empty(),
        "nothing left to clean up: the test proves nothing"
    );
    let removed = container::sweep_stale_containers().expect("sweep");
    assert!(removed >= left.len(), "removed {removed} of {}", left.len());
    assert_eq!(
        theirs(container::our_containers().expect("listing containers"))
            .iter()
            .map(|c| c.id.clone())
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "containers of the killed harness"
    );
    for dir in started.iter().flat_map(|c| c.instance_dirs.iter()) {
        assert!(!dir.exists(), "{} survived", dir.display());
    }
}
