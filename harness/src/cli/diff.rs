//! `ftps-compat diff OLD.json NEW.json`: what changed between two runs (two server versions,
//! before and after a client change, two machines), as Markdown on stdout and, with
//! `--report-dir`, as diff.md, diff.html and diff.json.

use std::path::PathBuf;

use clap::Args;

use ftps_compat::baseline;

use super::{EXIT_FAILED, EXIT_OK, UsageError};

#[derive(Args)]
pub struct DiffArgs {
    /// The earlier run's results.json.
    old: PathBuf,
    /// The later run's results.json.
    new: PathBuf,
    /// Match cells by backend too (by default a column is `server/profile`, whatever ran it).
    #[arg(long)]
    by_backend: bool,
    /// Compare server OLD of the old run with server NEW of the new run, profile by profile
    /// (`--pair vsftpd=vsftpd-trixie`; repeatable). Only paired servers are compared, and
    /// both runs may be the same file.
    #[arg(long, value_name = "OLD=NEW")]
    pair: Vec<baseline::ServerPair>,
    /// Also write diff.md, diff.html and diff.json here.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// The file names' stem under --report-dir (`diff-bookworm-trixie` writes
    /// diff-bookworm-trixie.md, .html and .json).
    #[arg(long, default_value = "diff", requires = "report_dir", value_parser = stem)]
    report_name: String,
}

/// A file name stem: no folder, no dot at the start.
fn stem(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(text.to_string())
    } else {
        Err("letters, digits, '-', '_' and '.' only, not starting with '.'".into())
    }
}

/// Exit 0 when every compared cell has the same answer, 1 when any changed.
pub fn diff(args: DiffArgs) -> Result<i32, UsageError> {
    let mut old = baseline::load(&args.old).map_err(UsageError)?;
    let mut new = baseline::load(&args.new).map_err(UsageError)?;
    let mut names = ftps_compat::report::DiffNames {
        old: args.old.display().to_string(),
        new: args.new.display().to_string(),
    };
    if !args.pair.is_empty() {
        let servers = |cells: &[baseline::CellAnswer]| -> Vec<String> {
            let mut found: Vec<String> = cells
                .iter()
                .filter_map(|c| c.column.split_once('/').map(|(s, _)| s.to_string()))
                .collect();
            found.sort();
            found.dedup();
            found
        };
        let (old_servers, new_servers) = (servers(&old), servers(&new));
        for pair in &args.pair {
            for (server, run, known) in [
                (&pair.old, &args.old, &old_servers),
                (&pair.new, &args.new, &new_servers),
            ] {
                if !known.contains(server) {
                    return Err(UsageError(format!(
                        "--pair {}={}: {} has no server {server:?}",
                        pair.old,
                        pair.new,
                        run.display()
                    )));
                }
            }
        }
        let list = |side: fn(&baseline::ServerPair) -> &str| {
            args.pair.iter().map(side).collect::<Vec<_>>().join(", ")
        };
        names.old = format!("{} ({})", names.old, list(|p| p.old.as_str()));
        names.new = format!("{} ({})", names.new, list(|p| p.new.as_str()));
        (old, new) = baseline::paired(old, new, &args.pair);
    }
    let comparison = baseline::compare(&old, &new, args.by_backend);
    print!(
        "{}",
        ftps_compat::report::diff_markdown(&comparison, &names)
    );
    if let Some(dir) = &args.report_dir {
        ftps_compat::report::write_diff(&comparison, &names, dir, &args.report_name)
            .map_err(|e| UsageError(format!("writing the diff to {}: {e}", dir.display())))?;
        println!("\ndiff written to {}", dir.display());
    }
    Ok(if comparison.is_same() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
