//! A run killed with SIGKILL cleans up nothing itself; the next run removes its folders.

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

#[test]
fn the_next_run_removes_the_folders_of_a_killed_one() {
    // A cell that waits 5 s for a data handshake that never comes.
    let mut killed = ftps_compat()
        .args([
            "run",
            "--backend",
            "embedded",
            "--profiles",
            "fz-0.9-noforce",
            "--view",
            "scenarios",
            "--scenarios",
            "implicit-no-prot-tls-data",
        ])
        .spawn()
        .expect("ftps-compat starts");
    let pid = killed.id();
    let mut left = Vec::new();
    for _ in 0..100 {
        left = folders_of(pid);
        if !left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!left.is_empty(), "the run made no emulator folder");
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
