//! A run stopped by SIGINT or SIGTERM cancels its cells, removes their folders and exits
//! 130 or 143; one killed with SIGKILL cleans up nothing itself, and the next run removes
//! its folders.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ftps_compat() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftps-compat"));
    command
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("CI")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// This process's emulator folders in the temporary folder (their owner file names `pid`).
fn folders_of(pid: u32) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_to_string(p.join(".ftps-compat-owner"))
                .is_ok_and(|owner| owner.split_whitespace().next() == Some(&pid.to_string()))
        })
        .collect()
}

/// `run` on the embedded fz-0.9-noforce column with these scenarios.
fn embedded_run(scenarios: &[&str]) -> Command {
    let mut command = ftps_compat();
    command.args([
        "run",
        "--backend",
        "embedded",
        "--profiles",
        "fz-0.9-noforce",
        "--view",
        "scenarios",
    ]);
    for scenario in scenarios {
        command.args(["--scenarios", scenario]);
    }
    command
}

/// A run whose one cell waits 5 s for a data handshake that never comes, once that cell
/// has made its folder; with the folders.
fn a_run_in_a_cell() -> (std::process::Child, Vec<PathBuf>) {
    let run = embedded_run(&["implicit-no-prot-tls-data"])
        .spawn()
        .expect("ftps-compat starts");
    let pid = run.id();
    let mut left = Vec::new();
    // Up to 20 s: a loaded machine starts the run slowly.
    for _ in 0..400 {
        left = folders_of(pid);
        if !left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!left.is_empty(), "the run made no emulator folder");
    (run, left)
}

#[test]
fn sigint_and_sigterm_cancel_the_cells_clean_up_and_exit_130_and_143() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let (mut run, folders) = a_run_in_a_cell();
        kill(Pid::from_raw(run.id() as i32), signal).expect("signal sent");
        let status = run.wait().expect("the run ends");
        assert_eq!(status.code(), Some(code), "{signal}");
        let left: Vec<&PathBuf> = folders.iter().filter(|dir| dir.exists()).collect();
        assert!(left.is_empty(), "{signal} left {left:?}");
    }
}

#[test]
fn the_next_run_removes_the_folders_of_a_killed_one() {
    let (mut killed, left) = a_run_in_a_cell();
    killed.kill().expect("SIGKILL");
    killed.wait().expect("reaped");
    assert!(
        left.iter().all(|dir| dir.is_dir()),
        "SIGKILL ran no clean-up"
    );

    let next = ftps_compat()
        .args([
            "run",
            "--backend",
            "embedded",
            "--profiles",
            "fz-0.9",
            "--view",
            "scenarios",
            "--scenarios",
            "feat",
        ])
        .status()
        .expect("the next run");
    assert_eq!(next.code(), Some(0));
    let remaining: Vec<&PathBuf> = left.iter().filter(|dir| dir.exists()).collect();
    assert!(remaining.is_empty(), "left behind: {remaining:?}");
}

#[test]
fn a_stopped_run_writes_its_finished_cells_as_an_incomplete_report() {
    use std::io::{BufRead, BufReader};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let reports = tempfile::tempdir().expect("temp dir");
    // `feat` ends at once; the other cell waits 5 s for a data handshake.
    let mut run = embedded_run(&["feat", "implicit-no-prot-tls-data"])
        .args(["--jobs", "2", "--report-dir"])
        .arg(reports.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ftps-compat starts");
    let stdout = BufReader::new(run.stdout.take().expect("piped"));
    let mut lines = stdout.lines();
    let finished = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("::feat "));
    assert!(finished.is_some(), "the run ended before `feat` finished");
    kill(Pid::from_raw(run.id() as i32), Signal::SIGINT).expect("signal sent");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(run.wait().expect("the run ends").code(), Some(130));
    assert!(
        rest.iter().any(|l| l.ends_with("marked incomplete")),
        "{rest:#?}"
    );

    let json = std::fs::read_to_string(reports.path().join("results.json")).expect("results");
    let results: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        results["incomplete"],
        serde_json::json!({"stopped_by": "SIGINT", "planned": 2, "cancelled": 1})
    );
    let cells = results["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0]["scenario"], "feat");
    let md = std::fs::read_to_string(reports.path().join("matrix.md")).expect("matrix.md");
    assert!(
        md.contains("> **Incomplete**: stopped by SIGINT; 1 of 2 cells finished, 1 cancelled."),
        "{md}"
    );
}
