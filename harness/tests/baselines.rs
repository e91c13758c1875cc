//! Known behaviour as a baseline, through the CLI as a user runs it: `run --baseline`,
//! `run --require` and `diff` against a real change of client behaviour (the same scenario id
//! with and without PROT P, on the in-process FileZilla 0.9 emulation), and a server added as
//! one folder in servers/ (a throw-away Python FTPS server) whose first run answers every cell.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ftps_compat(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftps-compat"))
        .args(args)
        .current_dir(dir)
        .env_remove("CI")
        .output()
        .expect("ftps-compat runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A scenario folder holding one scenario, `prot-change`, with or without PROT P.
fn scenarios(dir: &Path, prot_p: bool) -> PathBuf {
    let folder = dir.join(if prot_p { "with-prot" } else { "without-prot" });
    std::fs::create_dir_all(&folder).unwrap();
    let protection = if prot_p {
        "  - pbsz: 0\n  - prot: P\n"
    } else {
        ""
    };
    std::fs::write(
        folder.join("prot-change.yaml"),
        format!(
            "id: prot-change\nabout: A client before and after it learned to send PROT P.\n\
             reference: RFC 4217 section 9\nsteps:\n  - login\n{protection}  - list\n"
        ),
    )
    .unwrap();
    folder
}

/// `run` on the emulator's fz-0.9 column with these scenarios, reports into `report`.
fn run(dir: &Path, scenarios: &Path, report: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--backend",
        "embedded",
        "--profiles",
        "fz-0.9",
        "--view",
        "scenarios",
        "--scenarios-dir",
        scenarios.to_str().unwrap(),
        "--report-dir",
        report,
    ];
    args.extend_from_slice(extra);
    ftps_compat(dir, &args)
}

#[test]
fn baseline_require_and_diff_catch_a_changed_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo();
    let with = scenarios(dir.path(), true);
    let without = scenarios(dir.path(), false);

    let first = run(&repo, &with, dir.path().join("a").to_str().unwrap(), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let baseline = dir.path().join("a/results.json");
    let baseline = baseline.to_str().unwrap();

    // The same behaviour again: identical answers, exit 0.
    let again = run(
        &repo,
        &with,
        dir.path().join("b").to_str().unwrap(),
        &["--baseline", baseline, "--require", "works"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains("against the baseline: 0 changed, 1 unchanged"),
        "{}",
        text(&again)
    );
    let same = ftps_compat(
        &repo,
        &[
            "diff",
            baseline,
            dir.path().join("b/results.json").to_str().unwrap(),
        ],
    );
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(
        text(&same).contains("0 changed, 1 unchanged"),
        "{}",
        text(&same)
    );

    // Without PROT P, FileZilla 0.9 refuses the listing: a changed answer, exit 1.
    let changed = run(
        &repo,
        &without,
        dir.path().join("c").to_str().unwrap(),
        &["--baseline", baseline],
    );
    assert_eq!(changed.status.code(), Some(1), "{}", text(&changed));
    assert!(
        text(&changed)
            .contains("filezilla-like/fz-0.9::prot-change: works -> refused 521 [prot-p-required]"),
        "{}",
        text(&changed)
    );
    let junit = std::fs::read_to_string(dir.path().join("c/junit.xml")).unwrap();
    assert!(
        junit.contains("changed from the baseline: works -&gt; refused 521"),
        "{junit}"
    );

    let required = run(
        &repo,
        &without,
        dir.path().join("d").to_str().unwrap(),
        &["--require", "works"],
    );
    assert_eq!(required.status.code(), Some(1), "{}", text(&required));
    assert!(
        text(&required).contains("--require works: 1 cells do not comply"),
        "{}",
        text(&required)
    );
    // Without a check, a refusal is an answer, not a failure of the run.
    let plain = run(&repo, &without, dir.path().join("e").to_str().unwrap(), &[]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));

    let diff_dir = dir.path().join("diff");
    let diff = ftps_compat(
        &repo,
        &[
            "diff",
            baseline,
            dir.path().join("c/results.json").to_str().unwrap(),
            "--report-dir",
            diff_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(diff.status.code(), Some(1), "{}", text(&diff));
    assert!(
        text(&diff).contains(
            "| filezilla-like/fz-0.9::prot-change | works | refused 521 [prot-p-required] |"
        ),
        "{}",
        text(&diff)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(diff_dir.join("diff.json")).unwrap())
            .unwrap();
    assert_eq!(json["changed"][0]["new"][0]["class"], "refused");
    assert_eq!(json["changed"][0]["new"][0]["code"], 521);
    assert!(diff_dir.join("diff.html").is_file() && diff_dir.join("diff.md").is_file());

    // A file that is not a results.json is bad input: exit 2, one line naming it.
    std::fs::write(
        dir.path().join("bad.json"),
        "{\"cells\": [{\"column\": 1}]}",
    )
    .unwrap();
    let bad = ftps_compat(
        &repo,
        &[
            "diff",
            dir.path().join("bad.json").to_str().unwrap(),
            baseline,
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("bad.json:1:"), "{}", text(&bad));
}

/// Links every entry of `from` into `to` (a workspace that sees the project's files).
fn link_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_server_added_as_one_folder_answers_every_cell_on_its_first_run() {
    if !nix::unistd::Uid::effective().is_root() {
        // The native backend gives the login account its FTP root (chown).
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("skipping: not root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    std::os::unix::fs::symlink(repo().join("scenarios"), work.join("scenarios")).unwrap();
    link_all(&repo().join("servers"), &work.join("servers"));
    // The new server: one folder, no Rust, no scenario edits.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tinyftps");
    let folder = work.join("servers/tinyftps");
    std::fs::create_dir(&folder).unwrap();
    for file in ["manifest.yaml", "tinyftps.py.tmpl"] {
        std::fs::copy(fixture.join(file), folder.join(file)).unwrap();
    }

    let output = ftps_compat(
        work,
        &[
            "run",
            "--servers",
            "tinyftps",
            "--backend",
            "native",
            "--jobs",
            "8",
            "--report-dir",
            "report",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("report/results.json")).unwrap())
            .unwrap();
    let scenario_files = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    let client_files = std::fs::read_dir(repo().join("scenarios/clients"))
        .unwrap()
        .count();
    let cells = results["cells"].as_array().unwrap();
    assert_eq!(
        cells.len(),
        scenario_files + client_files,
        "one cell per row"
    );
    let class = |id: &str| {
        cells
            .iter()
            .find(|c| c["scenario"] == id)
            .map(|c| c["outcome"]["class"].as_str().unwrap().to_string())
            .unwrap()
    };
    for cell in cells {
        assert_eq!(cell["column"], "tinyftps/explicit");
        let class = cell["outcome"]["class"].as_str().unwrap();
        assert!(
            ["works", "refused", "hangs", "breaks", "skipped"].contains(&class),
            "{}: {class}: {}",
            cell["scenario"],
            cell["outcome"]["summary"]
        );
    }
    // What the small server does and does not do, as answers.
    assert_eq!(class("happy-path"), "works");
    assert_eq!(class("no-session-reuse"), "works");
    assert_eq!(class("ccc"), "refused");
    // Implicit-only scenarios cannot run on an explicit-only server.
    assert_eq!(class("implicit-happy-path"), "skipped");
}
