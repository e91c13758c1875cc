//! Bad input through the CLI, as a user meets it: every malformed scenario file is refused
//! by `check` and by `run` alike (one validator: the same first error line), with exit code
//! 2, naming the file and, where the YAML parses that far, line:column, in this tool's
//! words, and nothing runs. Bad flags (`--jobs 0`, `--report-dir`, globs) likewise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far above what any command here needs: only a command that blocks (on a FIFO, on
/// `/dev/zero`) reaches it.
const DEADLINE: Duration = Duration::from_secs(60);

/// Text no message may contain: the parser's advice to programmers, Rust type names,
/// panics.
const FORBIDDEN: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    "DuplicateKeyPolicy",
    "Options",
    "from_str_multiple",
    "budget breached",
    "Nodes {",
    "Option<",
    "unit enum variant",
    "externally tagged",
    "invalid u16",
    "invalid usize",
    "recursion limit",
    "serde",
    "saphyr",
];

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn first_error(&self) -> &str {
        self.stderr.lines().next().unwrap_or("")
    }

    fn text(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary in `dir`, output to files (a pipe could fill up), killed at the deadline.
fn ftps_compat(dir: &Path, args: &[&str]) -> Outcome {
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftps-compat"))
        .args(args)
        .current_dir(dir)
        .env_remove("CI")
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .expect("ftps-compat starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ftps-compat {args:?} still running after {DEADLINE:?}: it blocked");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code(),
        stdout: std::fs::read_to_string(out.path()).unwrap(),
        stderr: std::fs::read_to_string(err.path()).unwrap(),
    }
}

fn check(dir: &Path, path: &Path) -> Outcome {
    ftps_compat(dir, &["check", path.to_str().unwrap()])
}

/// `run` on the emulator, one column, the scenario only: bounded even if it ran.
fn run(dir: &Path, path: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "run",
        "--backend",
        "embedded",
        "--profiles",
        "fz-0.9",
        "--view",
        "scenarios",
        "--scenario",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ftps_compat(dir, &args)
}

/// Where a message must point.
#[derive(Clone, Copy, Debug)]
enum At {
    /// `file:line:column`.
    Exactly(u32, u32),
    /// `file:line:` (the column is the parser's business, deep in a long line).
    Line(u32),
    /// `file: ` (nothing to point at: the file cannot be read as text).
    File,
}

enum Make {
    Text(String),
    Bytes(Vec<u8>),
    Fifo,
    Link(&'static str),
    LinkToItself,
}

struct Case {
    /// The file's stem, and its id where it has one.
    name: &'static str,
    make: Make,
    /// What the message must say.
    says: &'static str,
    at: At,
}

const HEAD: &str = "about: a client\nreference: RFC 4217\n";

/// A scenario whose lines from 4 on are `rest` (1 to 3 are id, about, reference).
fn scenario(id: &str, rest: &str) -> Make {
    Make::Text(format!("id: {id}\n{HEAD}{rest}"))
}

fn case(name: &'static str, make: Make, says: &'static str, at: At) -> Case {
    Case {
        name,
        make,
        says,
        at,
    }
}

fn cases() -> Vec<Case> {
    use At::{Exactly, File, Line};
    let lol = ["lol"; 10].join(", ");
    let laughs = |i: u32| vec![format!("*l{}", i - 1); 10].join(", ");
    let mut classic_bomb = format!("steps: [login]\nl0: &l0 [{lol}]\n");
    let mut pipeline_bomb = format!("steps:\n  - pipeline: &l0 [{lol}]\n");
    for i in 1..10 {
        classic_bomb.push_str(&format!("l{i}: &l{i} [{}]\n", laughs(i)));
        pipeline_bomb.push_str(&format!("  - pipeline: &l{i} [{}]\n", laughs(i)));
    }
    let mut not_utf8 =
        b"id: not-utf8\nabout: a client\nreference: r\nsteps: [login]\n# caf".to_vec();
    not_utf8.extend_from_slice(b"\xe9\n");
    let alpn_256 = format!(
        "client:\n  tls: {{ alpn: [{}] }}\nsteps: [login]\n",
        "a".repeat(256)
    );
    vec![
        // Files that cannot be read as a scenario's text.
        case(
            "empty",
            Make::Text(String::new()),
            "the file is empty",
            Exactly(1, 1),
        ),
        case(
            "only-a-comment",
            Make::Text("# nothing here\n".into()),
            "the file is empty",
            Exactly(2, 1),
        ),
        case(
            "not-utf8",
            Make::Bytes(not_utf8),
            "not UTF-8 text: byte 0xe9",
            Exactly(5, 6),
        ),
        case(
            "over-1mib",
            scenario(
                "over-1mib",
                &format!("steps: [login]\n{}\n", "#".repeat(1 << 20)),
            ),
            "over the limit of 1048576 bytes (1 MiB)",
            File,
        ),
        case("a-fifo", Make::Fifo, "not a regular file but a FIFO", File),
        case(
            "dev-zero",
            Make::Link("/dev/zero"),
            "not a regular file but a character device",
            File,
        ),
        case(
            "link-loop",
            Make::LinkToItself,
            "a symbolic link loop",
            File,
        ),
        case(
            "dangling-link",
            Make::Link("nowhere.yaml"),
            "a symbolic link to a file that does not exist",
            File,
        ),
        // YAML that is not one plain document.
        case(
            "duplicate-key",
            Make::Text(format!(
                "id: duplicate-key\nid: duplicate-key\n{HEAD}steps: [login]\n"
            )),
            "duplicate key `id`",
            Exactly(2, 1),
        ),
        case(
            "duplicate-nested-key",
            scenario(
                "duplicate-nested-key",
                "client:\n  tls: { min: \"1.2\", min: \"1.3\" }\nsteps: [login]\n",
            ),
            "duplicate key `min`",
            Exactly(5, 22),
        ),
        case(
            "two-documents",
            scenario("two-documents", "steps: [login]\n---\nid: other\n"),
            "more than one YAML document in the file",
            Exactly(6, 1),
        ),
        case(
            "billion-laughs",
            scenario("billion-laughs", &classic_bomb),
            "unknown field `l0`",
            Exactly(5, 1),
        ),
        case(
            "pipeline-laughs",
            scenario("pipeline-laughs", &pipeline_bomb),
            "expected a string",
            Exactly(6, 20),
        ),
        case(
            "too-many-nodes",
            scenario(
                "too-many-nodes",
                &format!("steps:\n  - pipeline: [{}]\n", vec!["a"; 300_000].join(",")),
            ),
            "the file is too large or too deeply nested (over 250000 nodes)",
            Line(5),
        ),
        case(
            "deep-nesting",
            scenario(
                "deep-nesting",
                &format!("steps: {}{}\n", "[".repeat(1000), "]".repeat(1000)),
            ),
            "the file is nested too deeply (over 64 levels)",
            Line(4),
        ),
        case(
            "not-a-mapping",
            Make::Text("just some text\n".into()),
            "expected a mapping",
            Exactly(1, 1),
        ),
        case(
            "unknown-alias",
            Make::Text(format!("id: *nope\n{HEAD}steps: [login]\n")),
            "names no anchor",
            Exactly(1, 5),
        ),
        case(
            "yaml-syntax",
            Make::Text("id: yaml-syntax\n  about: : [\n".into()),
            "mapping values are not allowed",
            Line(2),
        ),
        // Unknown keys at every level.
        case(
            "unknown-top-key",
            scenario("unknown-top-key", "steps: [login]\ncolour: red\n"),
            "unknown field `colour`",
            Exactly(5, 1),
        ),
        case(
            "unknown-client-key",
            scenario(
                "unknown-client-key",
                "client:\n  conect: plain\nsteps: [login]\n",
            ),
            "unknown field `conect`",
            Exactly(5, 3),
        ),
        case(
            "unknown-tls-key",
            scenario(
                "unknown-tls-key",
                "client:\n  tls: { resuem: true }\nsteps: [login]\n",
            ),
            "unknown field `resuem`",
            Exactly(5, 10),
        ),
        case(
            "unknown-data-key",
            scenario(
                "unknown-data-key",
                "client:\n  data: { mdoe: epsv }\nsteps: [login]\n",
            ),
            "unknown field `mdoe`",
            Exactly(5, 11),
        ),
        case(
            "unknown-timeouts-key",
            scenario(
                "unknown-timeouts-key",
                "client:\n  timeouts: { replay: 1s }\nsteps: [login]\n",
            ),
            "unknown field `replay`",
            Exactly(5, 15),
        ),
        case(
            "unknown-step-key",
            scenario(
                "unknown-step-key",
                "steps:\n  - stor: { path: a.bin, size: 1, sede: 3 }\n",
            ),
            "unknown field `sede`",
            Exactly(5, 35),
        ),
        case(
            "unknown-expect-key",
            scenario(
                "unknown-expect-key",
                "steps: [login]\nexpect: { reply: { code: 500, stp: 1 } }\n",
            ),
            "unknown field `stp`",
            Exactly(5, 31),
        ),
        case(
            "unknown-step",
            scenario("unknown-step", "steps:\n  - frobnicate: 1\n"),
            "unknown variant `frobnicate`",
            Exactly(5, 5),
        ),
        // Wrong types.
        case(
            "steps-not-a-list",
            scenario("steps-not-a-list", "steps: login\n"),
            "expected a list",
            Exactly(4, 8),
        ),
        case(
            "bool-not-bool",
            scenario(
                "bool-not-bool",
                "client:\n  tls: { resume: maybe }\nsteps: [login]\n",
            ),
            "expected true or false",
            Exactly(5, 18),
        ),
        case(
            "number-not-number",
            scenario(
                "number-not-number",
                "client:\n  max_line: lots\nsteps: [login]\n",
            ),
            "expected a whole number, 0 or more",
            Exactly(5, 13),
        ),
        case(
            "id-not-a-string",
            Make::Text(format!("id: [1]\n{HEAD}steps: [login]\n")),
            "expected a string",
            Exactly(1, 5),
        ),
        case(
            "id-without-value",
            Make::Text(format!("id:\n{HEAD}steps: [login]\n")),
            "a value is missing here",
            Exactly(1, 3),
        ),
        case(
            "missing-about",
            Make::Text("id: missing-about\nreference: r\nsteps: [login]\n".into()),
            "missing field `about`",
            // The parser points at the end of the mapping that lacks it.
            Exactly(3, 1),
        ),
        case(
            "login-with-value",
            scenario("login-with-value", "steps:\n  - login: now\n"),
            "takes no value",
            Exactly(5, 12),
        ),
        case(
            "two-steps-in-one",
            scenario(
                "two-steps-in-one",
                "steps:\n  - { raw: NOOP, probe: NOOP }\n",
            ),
            "only one key is allowed here",
            Exactly(5, 18),
        ),
        case(
            "step-as-a-list",
            scenario("step-as-a-list", "steps:\n  - [login]\n"),
            "expected a name",
            Exactly(5, 5),
        ),
        case(
            "reply-code-70000",
            scenario(
                "reply-code-70000",
                "steps: [login]\nexpect: { reply: { code: 70000 } }\n",
            ),
            "expected a whole number from 0 to 65535",
            Exactly(5, 26),
        ),
        case(
            "size-unit",
            scenario(
                "size-unit",
                "steps:\n  - stor: { path: a.bin, size: 10MB }\n",
            ),
            "invalid size \"10MB\"",
            Exactly(5, 32),
        ),
        case(
            "duration-unit",
            scenario(
                "duration-unit",
                "client:\n  timeouts: { reply: 10 }\nsteps: [login]\n",
            ),
            "invalid duration \"10\"",
            Exactly(5, 22),
        ),
        case(
            "duration-over-a-day",
            scenario(
                "duration-over-a-day",
                "client:\n  timeouts: { reply: 1441m }\nsteps: [login]\n",
            ),
            "at most 24 hours",
            Exactly(5, 22),
        ),
        case(
            "unknown-connect",
            scenario(
                "unknown-connect",
                "client:\n  connect: sideways\nsteps: [login]\n",
            ),
            "unknown variant `sideways`",
            Exactly(5, 12),
        ),
        // Parses, but cannot be what the author meant.
        case(
            "id-not-file-name",
            Make::Text(format!("id: other\n{HEAD}steps: [login]\n")),
            "does not match the file name: expected id: id-not-file-name",
            Exactly(1, 1),
        ),
        case(
            "tls-min-above-max",
            scenario(
                "tls-min-above-max",
                "client:\n  tls: { min: \"1.3\", max: \"1.2\" }\nsteps: [login]\n",
            ),
            "client.tls.min \"1.3\" is above client.tls.max \"1.2\"",
            Exactly(5, 10),
        ),
        case(
            "bad-server-name",
            scenario(
                "bad-server-name",
                "client:\n  tls: { server_name: \"bad name!\" }\nsteps: [login]\n",
            ),
            "client.tls.server_name \"bad name!\" is neither a DNS name nor an IP address",
            Exactly(5, 10),
        ),
        case(
            "reply-code-700",
            scenario(
                "reply-code-700",
                "steps: [login]\nexpect: { reply: { code: 700 } }\n",
            ),
            "reply code 700 is not an FTP reply code (100 to 599)",
            Exactly(5, 20),
        ),
        case(
            "reply-code-99",
            scenario(
                "reply-code-99",
                "steps: [login]\nexpect: { reply: { code: 99 } }\n",
            ),
            "reply code 99 is not an FTP reply code (100 to 599)",
            Exactly(5, 20),
        ),
        case(
            "reply-step-beyond",
            scenario(
                "reply-step-beyond",
                "steps: [login]\nexpect: { reply: { code: 530, step: 2 } }\n",
            ),
            "step 2 is beyond the last step (1)",
            Exactly(5, 31),
        ),
        case(
            "timeout-step-beyond",
            scenario(
                "timeout-step-beyond",
                "steps: [login]\nexpect: { timeout: { step: 5 } }\n",
            ),
            "step 5 is beyond the last step (1)",
            Exactly(5, 22),
        ),
        case(
            "max-line-zero",
            scenario("max-line-zero", "client:\n  max_line: 0\nsteps: [login]\n"),
            "client.max_line is 0",
            Exactly(5, 3),
        ),
        case(
            "max-reply-zero",
            scenario(
                "max-reply-zero",
                "client:\n  max_reply: 0\nsteps: [login]\n",
            ),
            "client.max_reply is 0",
            Exactly(5, 3),
        ),
        case(
            "alpn-empty",
            scenario(
                "alpn-empty",
                "client:\n  tls: { alpn: [ftp, \"\"] }\nsteps: [login]\n",
            ),
            "protocol name \"\" is 0 bytes; an ALPN name is 1 to 255 bytes",
            Exactly(5, 22),
        ),
        case(
            "alpn-256-bytes",
            scenario("alpn-256-bytes", &alpn_256),
            "is 256 bytes",
            Exactly(5, 17),
        ),
        case(
            "raw-crlf",
            scenario(
                "raw-crlf",
                "steps:\n  - login\n  - raw: \"NOOP\\r\\nDELE important.bin\"\n",
            ),
            "step 2 (raw) \"NOOP\\r\\nDELE important.bin\" contains a line break",
            Exactly(6, 5),
        ),
        case(
            "raw-block-scalar",
            scenario(
                "raw-block-scalar",
                "steps:\n  - raw: |\n      NOOP\n      DELE important.bin\n",
            ),
            "step 1 (raw) \"NOOP\\nDELE important.bin\\n\" contains a line break",
            Exactly(5, 5),
        ),
        case(
            "probe-lf",
            scenario("probe-lf", "steps:\n  - probe: \"NOOP\\nQUIT\"\n"),
            "step 1 (probe)",
            Exactly(5, 5),
        ),
        case(
            "pipeline-cr",
            scenario(
                "pipeline-cr",
                "steps:\n  - pipeline: [NOOP, \"PWD\\rQUIT\"]\n",
            ),
            "step 1 (pipeline line 2) \"PWD\\rQUIT\" contains a line break",
            Exactly(5, 22),
        ),
        case(
            "path-lf",
            scenario("path-lf", "steps:\n  - dele: \"a.bin\\nRMD /\"\n"),
            "step 1 (dele)",
            Exactly(5, 5),
        ),
        case(
            "stor-size-over-1tib",
            scenario(
                "stor-size-over-1tib",
                "steps:\n  - stor: { path: a.bin, size: 2048GiB }\n",
            ),
            "step 1 (stor) size is 2199023255552 bytes, over the limit of 1099511627776 bytes (1 TiB)",
            Exactly(5, 26),
        ),
        case(
            "appe-rest-over-1tib",
            scenario(
                "appe-rest-over-1tib",
                "steps:\n  - appe: { path: a.bin, size: 1, rest: 2199023255552 }\n",
            ),
            "step 1 (appe) rest offset is 2199023255552 bytes",
            Exactly(5, 35),
        ),
        case(
            "retr-rest-over-1tib",
            scenario(
                "retr-rest-over-1tib",
                "steps:\n  - retr: { path: a.bin, rest: 2199023255552 }\n",
            ),
            "step 1 (retr) rest offset is 2199023255552 bytes",
            Exactly(5, 26),
        ),
        case(
            "max-reply-over-1tib",
            scenario(
                "max-reply-over-1tib",
                "client:\n  max_reply: 2048GiB\nsteps: [login]\n",
            ),
            "client.max_reply is 2199023255552 bytes",
            Exactly(5, 3),
        ),
    ]
}

fn make(dir: &Path, case: &Case) -> PathBuf {
    let path = dir.join(format!("{}.yaml", case.name));
    match &case.make {
        Make::Text(text) => std::fs::write(&path, text).unwrap(),
        Make::Bytes(bytes) => std::fs::write(&path, bytes).unwrap(),
        Make::Fifo => nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap(),
        Make::Link(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
        Make::LinkToItself => std::os::unix::fs::symlink(&path, &path).unwrap(),
    }
    path
}

/// What is wrong with how `outcome` refused `case` (`command` names it); nothing if right.
fn judge(command: &str, case: &Case, path: &Path, outcome: &Outcome) -> Vec<String> {
    let mut wrong = Vec::new();
    let context = || format!("{} ({command}):\n{}", case.name, outcome.text());
    if outcome.code != Some(2) {
        wrong.push(format!(
            "exit code {:?}, not 2: {}",
            outcome.code,
            context()
        ));
    }
    for text in FORBIDDEN {
        if outcome.stdout.contains(text) || outcome.stderr.contains(text) {
            wrong.push(format!("says {text:?}: {}", context()));
        }
    }
    if outcome.stdout.contains("running ") {
        wrong.push(format!("started cells: {}", context()));
    }
    let first = outcome.first_error();
    let prefix = match case.at {
        At::Exactly(line, column) => format!("error: {}:{line}:{column}: ", path.display()),
        At::Line(line) => format!("error: {}:{line}:", path.display()),
        At::File => format!("error: {}: ", path.display()),
    };
    if !first.starts_with(&prefix) {
        wrong.push(format!(
            "first line does not start with {prefix:?}: {}",
            context()
        ));
    }
    if !first.contains(case.says) {
        wrong.push(format!(
            "first line does not say {:?}: {}",
            case.says,
            context()
        ));
    }
    wrong
}

#[test]
fn every_malformed_file_is_refused_alike_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let paths: Vec<PathBuf> = cases.iter().map(|c| make(dir.path(), c)).collect();
    // Each case runs two commands; a few cases at a time keep the test short.
    let wrong: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = cases
            .chunks(8)
            .zip(paths.chunks(8))
            .map(|(cases, paths)| {
                let dir = dir.path();
                scope.spawn(move || {
                    let mut wrong = Vec::new();
                    for (case, path) in cases.iter().zip(paths) {
                        let checked = check(dir, path);
                        let ran = run(dir, path, &[]);
                        wrong.extend(judge("check", case, path, &checked));
                        wrong.extend(judge("run", case, path, &ran));
                        if checked.first_error() != ran.first_error() {
                            wrong.push(format!(
                                "{}: check and run disagree:\n  check: {}\n  run:   {}",
                                case.name,
                                checked.first_error(),
                                ran.first_error()
                            ));
                        }
                    }
                    wrong
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

const VALID: &str = "id: valid\nabout: a client that sends PROT P\nreference: RFC 4217 section 9\n\
    steps:\n  - login\n  - pbsz: 0\n  - prot: P\n  - list\nexpect: completed\n";

fn valid_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("valid.yaml");
    std::fs::write(&path, VALID).unwrap();
    path
}

#[test]
fn a_valid_scenario_passes_check_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_scenario(dir.path());
    let checked = check(dir.path(), &path);
    assert_eq!(checked.code, Some(0), "{}", checked.text());
    assert!(
        checked.stdout.contains("1 scenario files OK"),
        "{}",
        checked.text()
    );
    let ran = run(dir.path(), &path, &["--jobs", "1"]);
    assert_eq!(ran.code, Some(0), "{}", ran.text());
    assert!(
        ran.stdout.contains("works    filezilla-like/fz-0.9::valid"),
        "{}",
        ran.text()
    );
}

#[test]
fn target_mode_refuses_with_the_same_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw-crlf.yaml");
    std::fs::write(
        &path,
        format!("id: raw-crlf\n{HEAD}steps:\n  - raw: \"NOOP\\r\\nDELE important.bin\"\n"),
    )
    .unwrap();
    let checked = check(dir.path(), &path);
    // Port 9 (discard) on loopback: nothing must connect anyway.
    let targeted = ftps_compat(
        dir.path(),
        &[
            "run",
            "--target",
            "ftp://u:p@127.0.0.1:9",
            "--view",
            "scenarios",
            "--scenario",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(checked.code, Some(2), "{}", checked.text());
    assert_eq!(targeted.code, Some(2), "{}", targeted.text());
    assert!(
        checked.first_error().contains("line break"),
        "{}",
        checked.text()
    );
    assert_eq!(checked.first_error(), targeted.first_error());
    assert!(!targeted.stdout.contains("###"), "{}", targeted.text());
}

#[test]
fn client_profiles_go_through_the_same_validator() {
    let dir = tempfile::tempdir().unwrap();
    let clients = dir.path().join("clients");
    std::fs::create_dir(&clients).unwrap();
    std::fs::write(
        clients.join("old.yaml"),
        format!("id: old\n{HEAD}client:\n  tls: {{ max: \"1.2\" }}\nsteps: [login]\n"),
    )
    .unwrap();
    std::fs::write(
        clients.join("chained.yaml"),
        format!("id: chained\n{HEAD}client:\n  profile: old\nsteps: [login]\n"),
    )
    .unwrap();
    // A profile's knob and the scenario's own conflict: pointed at the scenario's key.
    let scenario = dir.path().join("modern.yaml");
    std::fs::write(
        &scenario,
        format!(
            "id: modern\n{HEAD}client:\n  profile: old\n  tls: {{ min: \"1.3\" }}\nsteps: [login]\n"
        ),
    )
    .unwrap();

    let checked = ftps_compat(dir.path(), &["check", "."]);
    assert_eq!(checked.code, Some(2), "{}", checked.text());
    assert!(
        checked.stderr.contains(
            "error: ./clients/chained.yaml:5:3: a client profile cannot build on another profile"
        ),
        "{}",
        checked.text()
    );
    assert!(
        checked.stderr.contains(
            "error: ./modern.yaml:6:10: client.tls.min \"1.3\" is above client.tls.max \"1.2\""
        ),
        "{}",
        checked.text()
    );

    let rows = ftps_compat(
        dir.path(),
        &[
            "run",
            "--backend",
            "embedded",
            "--scenarios-dir",
            ".",
            "--view",
            "clients",
        ],
    );
    assert_eq!(rows.code, Some(2), "{}", rows.text());
    assert!(
        rows.first_error()
            .starts_with("error: ./clients/chained.yaml:5:3: a client profile cannot build"),
        "{}",
        rows.text()
    );
    assert!(!rows.stdout.contains("running "), "{}", rows.text());
}

#[test]
fn a_folder_scan_reads_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    valid_scenario(dir.path());
    nix::unistd::mkfifo(&dir.path().join("x.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::create_dir(dir.path().join("y.yaml")).unwrap();
    let checked = ftps_compat(dir.path(), &["check", "."]);
    assert_eq!(checked.code, Some(2), "{}", checked.text());
    let errors: Vec<&str> = checked.stderr.lines().collect();
    assert_eq!(
        errors,
        [
            "error: ./x.yaml: not a regular file but a FIFO: only regular files are read",
            "error: ./y.yaml: not a regular file but a folder: only regular files are read",
            "2 errors in 3 files",
        ],
        "{}",
        checked.text()
    );
}

#[test]
fn jobs_zero_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_scenario(dir.path());
    let ran = run(dir.path(), &path, &["--jobs", "0"]);
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(ran.stderr.contains("--jobs"), "{}", ran.text());
    assert!(!ran.stdout.contains("running "), "{}", ran.text());
}

#[test]
fn an_unwritable_report_dir_stops_the_run_before_any_cell() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_scenario(dir.path());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let report = file.join("reports");
    let ran = run(
        dir.path(),
        &path,
        &["--report-dir", report.to_str().unwrap()],
    );
    assert_eq!(ran.code, Some(2), "{}", ran.text());
    assert!(
        ran.first_error()
            .starts_with(&format!("error: --report-dir {}: ", report.display())),
        "{}",
        ran.text()
    );
    assert!(!ran.stdout.contains("running "), "{}", ran.text());
}

#[test]
fn bad_globs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_scenario(dir.path());
    let invalid = ftps_compat(
        dir.path(),
        &[
            "run",
            "--backend",
            "embedded",
            "--servers",
            "[fz",
            "--scenario",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(invalid.code, Some(2), "{}", invalid.text());
    assert!(
        invalid
            .first_error()
            .starts_with("error: --servers \"[fz\" is not a valid glob: "),
        "{}",
        invalid.text()
    );
    // A glob that selects nothing is a typo, not a smaller run.
    let typo = run(dir.path(), &path, &["--profiles", "fz-9*"]);
    assert_eq!(typo.code, Some(2), "{}", typo.text());
    assert!(
        typo.first_error()
            .starts_with("error: --profiles \"fz-9*\" matches no server profile"),
        "{}",
        typo.text()
    );
    let scenarios = ftps_compat(
        dir.path(),
        &[
            "run",
            "--backend",
            "embedded",
            "--scenarios-dir",
            ".",
            "--view",
            "scenarios",
            "--scenarios",
            "vaild",
        ],
    );
    assert_eq!(scenarios.code, Some(2), "{}", scenarios.text());
    assert!(
        scenarios
            .first_error()
            .starts_with("error: --scenarios \"vaild\" matches no scenario"),
        "{}",
        scenarios.text()
    );
    for outcome in [&invalid, &typo, &scenarios] {
        assert!(!outcome.stdout.contains("running "), "{}", outcome.text());
    }
}
