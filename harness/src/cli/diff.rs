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
    /// Also write diff.md, diff.html and diff.json here.
    #[arg(long)]
    report_dir: Option<PathBuf>,
}

/// Exit 0 when every compared cell has the same answer, 1 when any changed.
pub fn diff(args: DiffArgs) -> Result<i32, UsageError> {
    let old = baseline::load(&args.old).map_err(UsageError)?;
    let new = baseline::load(&args.new).map_err(UsageError)?;
    let comparison = baseline::compare(&old, &new, args.by_backend);
    let names = ftps_compat::report::DiffNames {
        old: args.old.display().to_string(),
        new: args.new.display().to_string(),
    };
    print!(
        "{}",
        ftps_compat::report::diff_markdown(&comparison, &names)
    );
    if let Some(dir) = &args.report_dir {
        ftps_compat::report::write_diff(&comparison, &names, dir)
            .map_err(|e| UsageError(format!("writing the diff to {}: {e}", dir.display())))?;
        println!("\ndiff written to {}", dir.display());
    }
    Ok(if comparison.is_same() {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
