//! Temporary folders of server instances (and `serve`) name the process that made them,
//! so a later run removes the folders of a harness that was killed before it could clean
//! up (SIGKILL runs no destructor). A folder is stale when its owner is no longer the same
//! live process: gone, or its pid taken by a process that started at another time.

use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::process::process_start;

/// The file in each folder that names its owner: `<pid> <start time>`.
const OWNER: &str = ".ftps-compat-owner";
/// Every folder this module makes starts with this.
const PREFIX: &str = "ftps-compat-";

/// A new temporary folder `ftps-compat-<kind>-XXXX`, marked as this process's.
pub fn instance_dir(kind: &str) -> io::Result<TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{kind}-"))
        .tempdir()?;
    let pid = std::process::id();
    let start = process_start(pid as i32).unwrap_or_default();
    std::fs::write(dir.path().join(OWNER), format!("{pid} {start}"))?;
    Ok(dir)
}

/// Whether the process that wrote `owner` is gone.
fn owner_gone(owner: &str) -> bool {
    let mut fields = owner.split_whitespace();
    let Some(pid) = fields.next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    let start = fields.next().unwrap_or_default();
    pid as u32 != std::process::id() && process_start(pid).as_deref() != Some(start)
}

/// Removes the folders of harness processes that are gone, in `dir`; returns them.
pub fn sweep_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(PREFIX);
        // Only folders we marked: anything else with our prefix is left alone.
        let stale = ours
            && path.is_dir()
            && std::fs::read_to_string(path.join(OWNER)).is_ok_and(|owner| owner_gone(&owner));
        if stale && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// [`sweep_in`] the system's temporary folder.
pub fn sweep() -> Vec<PathBuf> {
    sweep_in(&std::env::temp_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_gone_processes_are_swept_and_ours_kept() {
        let base = tempfile::tempdir().unwrap();
        let mine = base.path().join("ftps-compat-fz-mine");
        let gone = base.path().join("ftps-compat-fz-gone");
        let reused = base.path().join("ftps-compat-vsftpd-reused");
        let unmarked = base.path().join("ftps-compat-other");
        for dir in [&mine, &gone, &reused, &unmarked] {
            std::fs::create_dir(dir).unwrap();
        }
        let pid = std::process::id();
        let start = process_start(pid as i32).unwrap();
        std::fs::write(mine.join(OWNER), format!("{pid} {start}")).unwrap();
        // A pid beyond pid_max: no such process.
        std::fs::write(gone.join(OWNER), "99999999 1").unwrap();
        // pid 1 is alive, but it did not start at this time.
        std::fs::write(reused.join(OWNER), "1 0").unwrap();
        let mut removed = sweep_in(base.path());
        removed.sort();
        assert_eq!(removed, vec![gone, reused]);
        assert!(mine.is_dir() && unmarked.is_dir());
    }

    #[test]
    fn a_new_folder_names_this_process() {
        let dir = instance_dir("test").unwrap();
        let owner = std::fs::read_to_string(dir.path().join(OWNER)).unwrap();
        assert!(owner.starts_with(&format!("{} ", std::process::id())));
        assert!(!owner_gone(&owner));
    }
}
