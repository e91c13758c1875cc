//! The session's file tree: virtual paths (never above the session root) and listings.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// `..` would climb above the session root.
    OutsideRoot,
    /// NUL or other bytes no file name may hold.
    Invalid,
}

/// Resolve `arg` against the virtual working directory `cwd` into a normalised absolute
/// virtual path such as `/a/b`.
pub(crate) fn resolve(cwd: &str, arg: &str) -> Result<String, PathError> {
    if arg.contains('\0') {
        return Err(PathError::Invalid);
    }
    let mut parts: Vec<&str> = if arg.starts_with('/') {
        Vec::new()
    } else {
        cwd.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in arg.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::OutsideRoot);
                }
            }
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The real path of a virtual path inside `root`.
pub(crate) fn real(root: &Path, vpath: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in vpath.split('/').filter(|p| !p.is_empty()) {
        p.push(part);
    }
    p
}

/// Parent directory and file name of a virtual path (`None` for the root).
pub(crate) fn split(vpath: &str) -> Option<(&str, &str)> {
    let idx = vpath.rfind('/')?;
    let name = &vpath[idx + 1..];
    if name.is_empty() {
        return None;
    }
    Some((if idx == 0 { "/" } else { &vpath[..idx] }, name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListFormat {
    /// LIST: `ls -l` style lines.
    Long,
    /// NLST: names only.
    Names,
    /// MLSD: RFC 3659 facts.
    Facts,
}

struct Entry {
    name: String,
    is_dir: bool,
    size: u64,
    mtime: u64,
}

async fn entry(path: &Path, name: String) -> io::Result<Entry> {
    let meta = tokio::fs::metadata(path).await?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(Entry {
        name,
        is_dir: meta.is_dir(),
        size: if meta.is_dir() { 0 } else { meta.len() },
        mtime,
    })
}

/// A listing of a directory (its children) or of a single file, with CRLF line ends.
/// `prefix` is put in front of each NLST name (the directory the client asked for).
pub(crate) async fn listing(
    target: &Path,
    format: ListFormat,
    prefix: &str,
) -> io::Result<Vec<u8>> {
    let meta = tokio::fs::metadata(target).await?;
    let mut entries = Vec::new();
    if meta.is_dir() {
        let mut dir = tokio::fs::read_dir(target).await?;
        while let Some(e) = dir.next_entry().await? {
            let name = e.file_name().to_string_lossy().into_owned();
            // Entries that vanish mid-listing are skipped, not fatal.
            if let Ok(entry) = entry(&e.path(), name).await {
                entries.push(entry);
            }
        }
    } else {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.push(entry(target, name).await?);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = String::new();
    for e in &entries {
        match format {
            ListFormat::Long => out.push_str(&long_line(e, now)),
            ListFormat::Names => {
                out.push_str(prefix);
                out.push_str(&e.name);
            }
            ListFormat::Facts => out.push_str(&facts_line(e)),
        }
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// FileZilla 0.9's LIST format (Permissions.cpp AddLongListingEntry), in UTC.
fn long_line(e: &Entry, now: u64) -> String {
    let perms = if e.is_dir { "drwxr-xr-x" } else { "-rw-r--r--" };
    let t = civil(e.mtime);
    let recent = e.mtime <= now && now - e.mtime <= 350 * 86_400;
    let when = if recent {
        format!("{:02}:{:02}", t.hour, t.minute)
    } else {
        format!(" {}", t.year)
    };
    format!(
        "{perms} 1 ftp ftp {:>14} {} {:02} {when} {}",
        e.size,
        MONTHS[(t.month - 1) as usize],
        t.day,
        e.name
    )
}

fn facts_line(e: &Entry) -> String {
    let t = civil(e.mtime);
    let modify = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    if e.is_dir {
        format!("type=dir;modify={modify}; {}", e.name)
    } else {
        format!("type=file;modify={modify};size={}; {}", e.size, e.name)
    }
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Unix seconds to a UTC calendar date (Howard Hinnant's days-to-civil).
fn civil(secs: u64) -> Civil {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_normalises_and_refuses_escape() {
        assert_eq!(resolve("/", "a/b/../c"), Ok("/a/c".into()));
        assert_eq!(resolve("/a", "b"), Ok("/a/b".into()));
        assert_eq!(resolve("/a", "/x/./y/"), Ok("/x/y".into()));
        assert_eq!(resolve("/a", ".."), Ok("/".into()));
        assert_eq!(resolve("/", ".."), Err(PathError::OutsideRoot));
        assert_eq!(resolve("/a", "../../etc"), Err(PathError::OutsideRoot));
        assert_eq!(resolve("/", "a\0b"), Err(PathError::Invalid));
    }

    #[test]
    fn real_stays_under_root() {
        let root = Path::new("/srv/s1");
        assert_eq!(real(root, "/a/b"), PathBuf::from("/srv/s1/a/b"));
        assert_eq!(real(root, "/"), PathBuf::from("/srv/s1"));
    }

    #[test]
    fn split_parent_and_name() {
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/b"), Some(("/", "b")));
        assert_eq!(split("/"), None);
    }

    #[test]
    fn civil_dates() {
        let t = civil(0);
        assert_eq!((t.year, t.month, t.day), (1970, 1, 1));
        let t = civil(951_782_400); // 2000-02-29
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
        let t = civil(1_700_000_000); // 2023-11-14 22:13:20
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2023, 11, 14, 22, 13, 20)
        );
    }

    #[test]
    fn long_line_matches_filezilla_layout() {
        let e = Entry {
            name: "f.bin".into(),
            is_dir: false,
            size: 42,
            mtime: 1_700_000_000,
        };
        assert_eq!(
            long_line(&e, 1_700_000_100),
            "-rw-r--r-- 1 ftp ftp             42 Nov 14 22:13 f.bin"
        );
        assert_eq!(
            long_line(&e, 1_800_000_000),
            "-rw-r--r-- 1 ftp ftp             42 Nov 14  2023 f.bin"
        );
    }
}
