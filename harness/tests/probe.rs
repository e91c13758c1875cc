//! `probe` against every server profile, each started with `serve` as a user would: the
//! findings agree with what the matrix says for that profile (reports/results.json), the
//! `--json` form fits docs/probe-schema.json, and the printed curl, Python ftplib and
//! lftp recipes upload and download a file for real. Real servers need root and
//! ci/setup-debian.sh; elsewhere they are skipped with the reason, in CI (CI set) never.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ftps_compat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftps-compat"));
    command.current_dir(repo()).env_remove("FTP_PASSWORD");
    command
}

/// A server started with `ftps-compat serve`, stopped (Ctrl-C) when dropped.
struct Served {
    child: Child,
    /// The URLs `serve` printed: `ftpes://…` and/or `ftps://…`.
    urls: Vec<String>,
    ca: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        let _ = kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            Signal::SIGINT,
        );
        let _ = self.child.wait();
    }
}

/// Starts `server profile`; None when `serve` refuses it (an unsupported profile).
fn serve(server: &str, profile: &str) -> Option<Served> {
    let mut child = ftps_compat()
        .args(["serve", server, "--profile", profile])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("piped");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let (mut urls, mut ca) = (Vec::new(), None);
    // A server starts in well under a minute; its last line says how to stop it.
    while let Ok(line) = received.recv_timeout(Duration::from_secs(60)) {
        let line = line.trim();
        if line.starts_with("Ctrl-C stops it") {
            let ca = ca.expect("serve printed the CA");
            return Some(Served { child, urls, ca });
        }
        for label in ["url:", "explicit:", "implicit:"] {
            if let Some(rest) = line.strip_prefix(label) {
                urls.push(rest.split_whitespace().next().expect("a URL").to_string());
            }
        }
        if let Some(path) = line.strip_prefix("CA:") {
            ca = Some(PathBuf::from(path.trim()));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// `probe URL --ca CA --json --write-dir .`, parsed.
fn probe(url: &str, ca: &Path) -> Value {
    let output = ftps_compat()
        .args(["probe", url, "--json", "--write-dir", ".", "--ca"])
        .arg(ca)
        .output()
        .expect("probe runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "probe {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("probe --json is JSON")
}

fn verdict<'a>(report: &'a Value, question: &str) -> (&'a str, &'a str) {
    let finding = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["question"] == question)
        .unwrap_or_else(|| panic!("no finding {question}"));
    (
        finding["verdict"].as_str().expect("verdict"),
        finding["detail"].as_str().expect("detail"),
    )
}

/// The committed matrix: `column -> scenario -> class`, from the native or embedded cells.
fn matrix() -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(repo().join("reports/results.json")).expect("matrix");
    let results: Value = serde_json::from_str(&text).expect("results.json");
    let mut classes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for cell in results["cells"].as_array().expect("cells") {
        if cell["backend"] == "container" {
            continue;
        }
        classes
            .entry(cell["column"].as_str().expect("column").to_string())
            .or_default()
            .insert(
                cell["scenario"].as_str().expect("scenario").to_string(),
                cell["outcome"]["class"]
                    .as_str()
                    .expect("class")
                    .to_string(),
            );
    }
    classes
}

/// The probe says what the matrix says, wherever the matrix ran the scenario.
fn agrees_with_matrix(column: &str, report: &Value, cells: &BTreeMap<String, String>) {
    let implicit = report["reached"]["mode"] == "implicit";
    let tls13 = verdict(report, "tls13_accepted").0 == "yes";
    let reuse = if tls13 {
        "reuse_required_tls13"
    } else {
        "reuse_required_tls12"
    };
    // (scenario, whether `works` there means "yes", question)
    let mut pairs = vec![
        ("no-session-reuse", false, reuse),
        ("happy-path-tls12", true, "tls12_accepted"),
        ("happy-path-tls13", true, "tls13_accepted"),
        ("ccc", true, "ccc"),
        ("upload-no-close-notify", false, "upload_needs_close_notify"),
    ];
    if implicit {
        pairs.push(("implicit-no-prot-tls-data", true, "protected_by_default"));
        // Required when neither TLS nor clear data works without PROT.
        let works = |s: &str| cells.get(s).map(|c| c == "works");
        if let (Some(tls), Some(clear)) = (
            works("implicit-no-prot-tls-data"),
            works("implicit-no-prot-clear-data"),
        ) {
            let expected = if !tls && !clear { "yes" } else { "no" };
            assert_eq!(verdict(report, "prot_p_required").0, expected, "{column}");
        }
    } else {
        pairs.push(("no-prot", false, "prot_p_required"));
    }
    let mut compared = 0;
    for (scenario, works_means_yes, question) in pairs {
        let Some(class) = cells.get(scenario).filter(|c| *c != "skipped") else {
            continue;
        };
        let expected = if (class == "works") == works_means_yes {
            "yes"
        } else {
            "no"
        };
        let (got, detail) = verdict(report, question);
        assert_eq!(
            got, expected,
            "{column}: the matrix has {scenario} {class}, the probe says {question} {got} ({detail})"
        );
        compared += 1;
    }
    // Implicit columns skip the explicit-only scenarios.
    assert!(compared >= 3, "{column}: only {compared} findings compared");
}

/// Runs the printed curl commands and ftplib program in a fresh folder: an upload, then
/// a download that must give back the same bytes.
fn run_recipes(column: &str, report: &Value, password: &str) {
    for client in ["curl", "Python ftplib", "lftp"] {
        let recipe = report["recipes"]
            .as_array()
            .expect("recipes")
            .iter()
            .find(|r| r["client"] == client)
            .unwrap_or_else(|| panic!("{column}: no {client} recipe"));
        let text = recipe["text"].as_str().expect("text");
        let dir = tempfile::tempdir().expect("temp dir");
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(dir.path().join("local.bin"), &payload).expect("payload");
        let commands: Vec<Vec<String>> = if client == "curl" {
            text.lines()
                .map(|l| {
                    vec![
                        "sh".into(),
                        "-c".into(),
                        format!("{l} --silent --show-error --max-time 30"),
                    ]
                })
                .collect()
        } else if client == "lftp" {
            std::fs::write(dir.path().join("recipe.lftp"), text).expect("script");
            vec![vec![
                "timeout".into(),
                "60".into(),
                "lftp".into(),
                "-f".into(),
                "recipe.lftp".into(),
            ]]
        } else {
            std::fs::write(dir.path().join("recipe.py"), text).expect("program");
            vec![vec![
                "timeout".into(),
                "60".into(),
                "python3".into(),
                "recipe.py".into(),
            ]]
        };
        for command in commands {
            let output = Command::new(&command[0])
                .args(&command[1..])
                .current_dir(dir.path())
                .env("FTP_PASSWORD", password)
                .env("LFTP_PASSWORD", password)
                // lftp reads its settings from HOME too: none of the user's.
                .env("HOME", dir.path())
                .output()
                .expect("the recipe runs");
            assert!(
                output.status.success(),
                "{column}: {client} recipe failed: {command:?}\n{}\n{text}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let copy = std::fs::read(dir.path().join("copy.bin")).expect("downloaded");
        assert!(
            copy == payload,
            "{column}: {client} downloaded {} bytes, not the upload",
            copy.len()
        );
    }
}

/// Whether real servers can run here; in CI they must.
fn real_servers_here() -> bool {
    let pkgroot = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/ftps-compat/pkgroot"))
        .filter(|p| p.is_dir());
    let missing = if !nix::unistd::Uid::effective().is_root() {
        Some("not root")
    } else if pkgroot.is_none() {
        Some("the servers are not unpacked (ci/setup-debian.sh)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(reason) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must probe the real servers: {reason}"
            );
            eprintln!("skipping the real servers: {reason}");
            false
        }
    }
}

const PROFILES: &[(&str, &str)] = &[
    ("filezilla-like", "fz-0.9"),
    ("filezilla-like", "fz-0.9-custom-pasv-ip"),
    ("filezilla-like", "fz-0.9-noforce"),
    ("filezilla-like", "fz-0.9.33"),
    ("filezilla-like", "fz-1.x"),
    ("vsftpd", "explicit-strict"),
    ("vsftpd", "explicit-lax"),
    ("vsftpd", "implicit-strict"),
    ("vsftpd", "implicit-lax"),
    ("proftpd", "explicit-strict"),
    ("proftpd", "explicit-lax"),
    ("proftpd", "implicit-strict"),
    ("proftpd", "implicit-lax"),
    ("pure-ftpd", "tls-1"),
    ("pure-ftpd", "tls-2"),
    ("pure-ftpd", "tls-3"),
];

/// Probes one profile; the report, for the checks particular to it.
fn probe_profile(
    server: &str,
    profile: &str,
    matrix: &BTreeMap<String, BTreeMap<String, String>>,
) -> Value {
    let column = format!("{server}/{profile}");
    let served = serve(server, profile).unwrap_or_else(|| panic!("{column}: serve failed"));
    // The emulator serves both modes: its explicit URL; a real server has one.
    let url = served.urls.first().expect("a URL").clone();
    let report = probe(&url, &served.ca);
    assert_eq!(report["completed"], true, "{column}: {report:#}");
    assert_eq!(verdict(&report, "upload_works").0, "yes", "{column}");
    assert_eq!(
        verdict(&report, "write_folder_removed").0,
        "yes",
        "{column}"
    );
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/probe-schema.json")).expect("schema"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{column}: --json does not fit the schema: {errors:#?}"
    );
    // Bounded, and nothing ran out of it on a responsive server.
    for finding in report["findings"].as_array().expect("findings") {
        let detail = finding["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains("time limit"), "{column}: {finding}");
    }
    agrees_with_matrix(&column, &report, &matrix[&column]);
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(login, _)| login.split_once(':'))
        .map(|(_, password)| password.to_string())
        .expect("the URL has the login");
    run_recipes(&column, &report, &password);
    eprintln!(
        "{column}: probed in {} ms, {} findings; curl and ftplib recipes transferred",
        report["duration_ms"],
        report["findings"].as_array().map_or(0, Vec::len)
    );
    report
}

#[test]
fn probe_finds_what_the_matrix_says_and_its_recipes_work() {
    let matrix = matrix();
    let real = real_servers_here();
    let profiles: Vec<(&str, &str)> = PROFILES
        .iter()
        .copied()
        .filter(|(server, _)| real || *server == "filezilla-like")
        .collect();
    // Four at a time: each mostly waits on the network.
    let reports: Vec<(String, Value)> = std::thread::scope(|scope| {
        let mut reports = Vec::new();
        for chunk in profiles.chunks(4) {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(server, profile)| {
                    let matrix = &matrix;
                    scope.spawn(move || {
                        (
                            format!("{server}/{profile}"),
                            probe_profile(server, profile, matrix),
                        )
                    })
                })
                .collect();
            for handle in handles {
                reports.push(handle.join().expect("the probe test panicked"));
            }
        }
        reports
    });
    let report = |column: &str| {
        &reports
            .iter()
            .find(|(c, _)| c == column)
            .unwrap_or_else(|| panic!("{column} was not probed"))
            .1
    };

    let fz = report("filezilla-like/fz-0.9.33");
    assert_eq!(verdict(fz, "prot_p_required").0, "yes");
    assert!(
        verdict(fz, "prot_p_required")
            .1
            .starts_with("550 PROT P Required")
    );
    if !real {
        return;
    }
    let vsftpd = report("vsftpd/explicit-strict");
    let (prot, detail) = verdict(vsftpd, "prot_p_required");
    assert_eq!((prot, &detail[..4]), ("yes", "522 "));
    for question in ["reuse_required_tls12", "reuse_required_tls13"] {
        let (required, detail) = verdict(vsftpd, question);
        assert_eq!(required, "yes", "{question}");
        assert!(
            detail.starts_with("522 SSL connection failed: session reuse required")
                && detail.contains("after 150")
                && detail.contains("control connection closed"),
            "{detail}"
        );
    }
    assert_eq!(verdict(vsftpd, "tls12_accepted").0, "yes");
    assert_eq!(verdict(vsftpd, "tls13_accepted").0, "yes");
    assert_eq!(verdict(vsftpd, "ccc").0, "no");

    let proftpd = report("proftpd/implicit-strict");
    assert_eq!(proftpd["reached"]["mode"], "implicit");
    assert!(
        proftpd["reached"]["url"]
            .as_str()
            .unwrap()
            .starts_with("ftps://")
    );
    assert_eq!(verdict(proftpd, "protected_by_default").0, "yes");

    let pure = report("pure-ftpd/tls-1");
    assert_eq!(verdict(pure, "clear_data_allowed").0, "yes");
    assert_eq!(verdict(pure, "reuse_required_tls12").0, "no");
    assert_eq!(verdict(pure, "reuse_required_tls13").0, "no");
}

/// Every file below `root`, relative, sorted.
fn listing(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("readable").flatten() {
            let path = entry.path();
            names.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                folders.push(path);
            }
        }
    }
    names.sort();
    names
}

#[test]
fn run_target_runs_the_whole_corpus_and_leaves_the_server_as_it_found_it() {
    let mut targets = vec![("filezilla-like", "fz-1.x")];
    if real_servers_here() {
        targets.push(("vsftpd", "explicit-strict"));
    }
    for (server, profile) in targets {
        let served = serve(server, profile).expect("serve");
        // The served login folder: next to the CA (emulator) or beside certs/ (native).
        let instance = if server == "filezilla-like" {
            served.ca.parent().unwrap().to_path_buf()
        } else {
            served.ca.parent().unwrap().parent().unwrap().to_path_buf()
        };
        let root = instance.join("root");
        std::fs::write(root.join("partner-data.txt"), "theirs").expect("a file of theirs");
        let before = listing(&root);
        let reports = tempfile::tempdir().expect("temp dir");
        let output = ftps_compat()
            .args(["run", "--target", &served.urls[0], "--ca"])
            .arg(&served.ca)
            .arg("--report-dir")
            .arg(reports.path())
            .output()
            .expect("run --target");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Deviations from `expect:` are answers (exit 1), never bad input (exit 2).
        assert_eq!(
            output.status.code(),
            Some(1),
            "{server}/{profile}: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stderr.contains("uploads go to the folder ftps-compat-"),
            "{stdout}"
        );
        assert!(
            stderr.contains("removed the folder ftps-compat-"),
            "{stdout}"
        );
        let summary = stdout
            .lines()
            .find(|l| l.starts_with("target/127.0.0.1:"))
            .unwrap_or_else(|| panic!("no summary row in\n{stdout}"));
        assert!(summary.contains(" (external) "), "{summary}");
        // Not works cells show their transcript; works cells only their line.
        assert!(stdout.contains("    outcome: refused at step"), "{stdout}");
        assert_eq!(
            listing(&root),
            before,
            "{server}/{profile} left files behind"
        );
        let results: Value = serde_json::from_str(
            &std::fs::read_to_string(reports.path().join("results.json")).expect("results"),
        )
        .expect("JSON");
        let cells = results["cells"].as_array().expect("cells");
        assert!(cells.len() > 50, "{} cells", cells.len());
        assert!(cells.iter().all(|c| c["backend"] == "external"));
        let client_cert = cells
            .iter()
            .find(|c| c["scenario"] == "client-cert")
            .expect("the client-cert cell");
        assert_eq!(client_cert["outcome"]["class"], "skipped");
        // --json: standard output is the results alone.
        let output = ftps_compat()
            .args([
                "run",
                "--target",
                &served.urls[0],
                "--json",
                "--scenarios",
                "happy-path",
            ])
            .args([
                "--view".as_ref(),
                "scenarios".as_ref(),
                "--ca".as_ref(),
                served.ca.as_os_str(),
            ])
            .output()
            .expect("run --target --json");
        let json: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
        assert_eq!(json["cells"].as_array().map(Vec::len), Some(1));
        assert_eq!(json["cells"][0]["outcome"]["class"], "works");
        eprintln!("{server}/{profile}: login folder before and after: {before:?}");
    }
}

#[test]
fn probe_reads_a_named_file_writes_its_report_and_leaves_the_folder_as_it_was() {
    let served = serve("filezilla-like", "fz-1.x").expect("serve");
    let root = served.ca.parent().unwrap().join("root");
    std::fs::write(root.join("hello.txt"), "hello\n").expect("a file to read");
    let before = listing(&root);
    let reports = tempfile::tempdir().expect("temp dir");
    let output = ftps_compat()
        .args([
            "probe",
            &served.urls[0],
            "--read",
            "hello.txt",
            "--write-dir",
            ".",
        ])
        .args(["--ca".as_ref(), served.ca.as_os_str()])
        .arg("--report-dir")
        .arg(reports.path())
        .output()
        .expect("probe");
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Does a download of the --read file work?"),
        "{text}"
    );
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("probe.json")).expect("probe.json"),
    )
    .expect("JSON");
    assert_eq!(verdict(&json, "download_works"), ("yes", "6 bytes read"));
    assert_ne!(verdict(&json, "ascii_by_default").0, "unknown");
    assert_eq!(verdict(&json, "write_folder_removed").0, "yes");
    let html = std::fs::read_to_string(reports.path().join("probe.html")).expect("probe.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<h2>Findings</h2>") && html.contains("<h2>Recipes</h2>"));
    for outside in ["<script", "src=\"http", "href=\"http", "url(http"] {
        assert!(!html.contains(outside), "not self-contained: {outside}");
    }
    assert_eq!(listing(&root), before, "the probe left something behind");
}
