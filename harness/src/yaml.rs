//! Reading YAML files (scenarios, server manifests) with errors that point at
//! `file:line:column` and say what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub path: PathBuf,
    /// 1-based; 0 when the error has no position (unreadable file).
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl LoadError {
    pub fn unreadable(path: &Path, err: &std::io::Error) -> Self {
        LoadError {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message: format!("cannot read: {err}"),
        }
    }

    pub fn from_yaml(path: &Path, err: &serde_saphyr::Error) -> Self {
        let (line, column) = err
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        LoadError {
            path: path.to_owned(),
            line,
            column,
            message: without_position(&err.without_snippet().to_string()),
        }
    }
}

/// The first line of a parser message, without the " at line N column M" it appends
/// (we print our own prefix).
pub fn without_position(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    match line.rfind(" at line ") {
        Some(cut) => line[..cut].to_string(),
        None => line.to_string(),
    }
}

/// Reads and deserializes one YAML file.
pub fn from_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let source = std::fs::read_to_string(path).map_err(|e| LoadError::unreadable(path, &e))?;
    serde_saphyr::from_str(&source).map_err(|e| LoadError::from_yaml(path, &e))
}
