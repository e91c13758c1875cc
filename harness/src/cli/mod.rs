//! Command-line parsing and dispatch. Exit codes: 0 all as expected; 1 a `--baseline` or
//! `--require` check failed, a cell is `error`, a replayed scenario deviated from its
//! `expect:`, or `diff` found a change; 2 bad input or usage (one clear line, nothing run).

mod check;
mod diff;
mod list;
mod matrix;
mod probe;
mod run;
mod serve;
mod target;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

/// Bad input: reported as one line, exit code 2, before anything runs.
#[derive(Debug)]
pub struct UsageError(pub String);

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// Ctrl-C: the conventional 128 + SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;
/// SIGTERM: 128 + 15.
pub const EXIT_TERMINATED: i32 = 143;

#[derive(Parser)]
#[command(
    name = "ftps-compat",
    version,
    about = "FTPS server-compatibility test harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against a server and print transcripts and outcomes.
    Run(Box<run::RunArgs>),
    /// What changed between two runs' results.json (exit 1 when any cell changed).
    Diff(diff::DiffArgs),
    /// Validate scenario files and report every error.
    Check(check::CheckArgs),
    /// Run one server configuration in the foreground for any client to use.
    Serve(serve::ServeArgs),
    /// Show the servers, their profiles and versions, and which backends can run them here.
    List(list::ListArgs),
    /// Find out what a client must do to work with any FTPS server, with a recipe per
    /// popular client (non-destructive, bounded in time).
    Probe(probe::ProbeArgs),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Check(args) => check::check(args),
        Command::Diff(args) => diff::diff(args),
        Command::Serve(args) => serve::serve(args),
        Command::List(args) => list::list(args),
        Command::Probe(args) => probe::probe(args),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(message)) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

/// A repository folder: `./<name>` when run from a checkout, else the one this binary was
/// built from.
fn repo_dir(name: &str) -> PathBuf {
    let local = Path::new(name);
    if local.is_dir() {
        local.to_owned()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
    }
}

pub fn default_scenarios_dir() -> PathBuf {
    repo_dir("scenarios")
}

pub fn servers_dir() -> PathBuf {
    repo_dir("servers")
}
