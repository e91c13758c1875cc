//! Reading YAML files (scenarios, server manifests) with errors that point at
//! `file:line:column` and say what was expected, in this tool's words: the parser's own
//! messages are written for programmers using it ("set DuplicateKeyPolicy in Options").

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind as ScanErrorKind;
use serde_saphyr::{Error as YamlError, ExternalMessageSource, MessageFormatter, Options};

/// The largest YAML file read: a scenario is a few hundred bytes, and a file bigger than
/// this is a mistake (or `/dev/zero`), not something to read until memory runs out.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most YAML nodes (mappings, lists, values) a file may hold, aliases expanded.
pub const MAX_NODES: usize = 250_000;
/// The deepest nesting of mappings and lists a file may have.
pub const MAX_DEPTH: usize = 64;

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
        // One line per error, whatever bytes the file name or the file held.
        let path = one_line(&self.path.display().to_string()).into_owned();
        let message = one_line(&self.message);
        if self.line == 0 {
            write!(f, "{path}: {message}")
        } else {
            write!(f, "{path}:{}:{}: {message}", self.line, self.column)
        }
    }
}

impl std::error::Error for LoadError {}

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no such file")]
    NotFound,
    #[error("a symbolic link to a file that does not exist")]
    DanglingLink,
    #[error("a symbolic link loop (too many levels of symbolic links)")]
    LinkLoop,
    #[error("not a regular file but {0}: only regular files are read")]
    NotRegular(&'static str),
    #[error("the file is {size} bytes, over the limit of {MAX_FILE_BYTES} bytes (1 MiB)")]
    TooLarge { size: u64 },
    #[error("cannot read: {0}")]
    Io(std::io::Error),
}

impl LoadError {
    pub fn unreadable(path: &Path, err: &std::io::Error) -> Self {
        LoadError::at(path, 0, 0, format!("cannot read: {err}"))
    }

    /// An error about the file as a whole (a rule across keys), with no position.
    pub fn whole_file(path: &Path, message: &str) -> Self {
        LoadError::at(path, 0, 0, message.to_string())
    }

    fn at(path: &Path, line: u64, column: u64, message: String) -> Self {
        LoadError {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    }

    pub fn from_yaml(path: &Path, err: &YamlError) -> Self {
        let (line, column) = err
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        LoadError::at(path, line, column, describe(err).into_owned())
    }
}

/// Reads a YAML file as text: regular files only (a FIFO would block, `/dev/zero` never
/// ends), at most [`MAX_FILE_BYTES`], UTF-8 (a bad byte is reported at its line and column).
pub fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = read_bounded(path).map_err(|e| LoadError::at(path, 0, 0, e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // Columns count characters, as the parser's do.
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count() as u64
            + 1;
        let byte = e.as_bytes()[valid.len()];
        LoadError::at(
            path,
            line,
            column,
            format!("not UTF-8 text: byte 0x{byte:02x} is not valid here"),
        )
    })
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, ReadError> {
    // Non-blocking, so opening a FIFO returns at once; its type is then checked on the
    // opened file, so nothing can swap the file between the check and the read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a special file"
        }));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            size: metadata.len(),
        });
    }
    // Bounded even if the file grows after the check.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn open_error(path: &Path, err: std::io::Error) -> ReadError {
    match err.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ELOOP) => ReadError::LinkLoop,
        Some(Errno::ENOENT) if path.is_symlink() => ReadError::DanglingLink,
        Some(Errno::ENOENT) => ReadError::NotFound,
        // A socket cannot be opened as a file.
        Some(Errno::ENXIO) => ReadError::NotRegular("a socket or device without a driver"),
        _ => ReadError::Io(err),
    }
}

/// The parser's limits, named in our messages.
fn options() -> Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: MAX_NODES,
            max_depth: MAX_DEPTH,
        },
    }
}

/// Deserializes YAML text with this tool's limits; errors point into `path`.
pub fn from_str<T: serde::de::DeserializeOwned>(path: &Path, source: &str) -> Result<T, LoadError> {
    serde_saphyr::from_str_with_options(source, options()).map_err(|e| {
        let mut error = LoadError::from_yaml(path, &e);
        if matches!(e.without_snippet(), YamlError::Eof { .. }) && has_no_content(source) {
            error.message = "the file is empty (no YAML content)".into();
        }
        error
    })
}

fn has_no_content(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

/// Reads and deserializes one YAML file.
pub fn from_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    from_str(path, &read_text(path)?)
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

/// Control characters (from the file, in keys or values) shown escaped, never raw.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// What went wrong, without the parser's position suffix or its advice to programmers.
fn describe(err: &YamlError) -> Cow<'_, str> {
    let inner = match err.without_snippet() {
        YamlError::AliasError { error, .. } => error.without_snippet(),
        other => other,
    };
    OurWords.format_message(inner)
}

/// This tool's wording for the parser's errors; what is not listed here is the parser's
/// plain-language message.
struct OurWords;

impl MessageFormatter for OurWords {
    fn format_message<'a>(&self, err: &'a YamlError) -> Cow<'a, str> {
        let text = match err {
            YamlError::DuplicateMappingKey { key: Some(key), .. } => {
                format!("duplicate key `{key}`")
            }
            YamlError::DuplicateMappingKey { key: None, .. } => "duplicate key".into(),
            YamlError::MultipleDocuments { .. } => {
                "more than one YAML document in the file (a `---` line starts another one)".into()
            }
            YamlError::Eof { .. } => "the file ends where a value was expected".into(),
            YamlError::Budget { breach, .. } => budget_words(breach),
            YamlError::AliasReplayCounterOverflow { .. }
            | YamlError::AliasReplayLimitExceeded { .. }
            | YamlError::AliasExpansionLimitExceeded { .. }
            | YamlError::AliasReplayStackDepthExceeded { .. } => too_large(),
            YamlError::ExternalMessage { source, .. }
                if matches!(
                    &**source,
                    ExternalMessageSource::Parser(scan)
                        if matches!(scan.kind(), ScanErrorKind::RecursionLimitExceeded)
                ) =>
            {
                too_deep()
            }
            YamlError::NullIntoString { .. } | YamlError::InvalidCharNull { .. } => {
                "a value is missing here".into()
            }
            YamlError::InvalidScalar { ty, .. } => format!("expected {}", scalar_words(ty)),
            YamlError::InvalidBooleanStrict { .. } => "expected true or false".into(),
            YamlError::Unexpected { expected, .. } => {
                format!("expected {}", structure_words(expected))
            }
            YamlError::UnexpectedValueForUnitEnumVariant { .. } => {
                "this name takes no value: write it alone (as in `- login`)".into()
            }
            YamlError::ExternallyTaggedEnumExpectedScalarOrMapping { .. } => {
                "expected a name (as in `- login`) or a name and its value (as in `- pbsz: 0`)"
                    .into()
            }
            YamlError::ExpectedMappingEndAfterEnumVariantValue { .. } => {
                "only one key is allowed here (one step per `- `, one outcome after expect:)".into()
            }
            YamlError::UnknownAnchor { .. } => {
                "the alias (*name) names no anchor (&name) defined before it".into()
            }
            YamlError::BinaryNotUtf8 { .. } => "a !!binary value that is not UTF-8 text".into(),
            _ => return serde_saphyr::UserMessageFormatter.format_message(err),
        };
        Cow::Owned(text)
    }
}

fn too_large() -> String {
    format!("the file is too large or too deeply nested (over {MAX_NODES} nodes)")
}

fn too_deep() -> String {
    format!("the file is nested too deeply (over {MAX_DEPTH} levels)")
}

fn budget_words(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => too_deep(),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => format!(
            "the file's anchors and aliases (&name, *name) expand too far \
             (over {MAX_NODES} nodes)"
        ),
        BudgetBreach::Documents { .. } => {
            "more than one YAML document in the file (a `---` line starts another one)".into()
        }
        _ => too_large(),
    }
}

/// The parser names scalar types as Rust does (`u16`); a person reads the range.
fn scalar_words(ty: &str) -> String {
    match ty {
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" => "a whole number from 0 to 4294967295".into(),
        "u64" | "usize" | "u128" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" => "a whole number".into(),
        "boolean" | "bool" => "true or false".into(),
        "floating point" | "f32" | "f64" => "a number".into(),
        other => format!("a value of type {other}"),
    }
}

fn structure_words(expected: &str) -> &str {
    match expected {
        "mapping start" | "empty mapping start" => "a mapping (`key: value` lines or `{ ... }`)",
        "sequence start" => "a list (`- item` lines or `[ ... ]`)",
        "string scalar" => "a string",
        "scalar" | "single YAML node" => "a single value",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(source: &str) -> String {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            id: String,
            #[serde(default)]
            n: u16,
            #[serde(default)]
            more: Option<serde_json::Value>,
        }
        from_str::<Doc>(Path::new("f.yaml"), source)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parser_advice_is_said_in_our_words() {
        assert_eq!(message("id: a\nid: b\n"), "f.yaml:2:1: duplicate key `id`");
        assert_eq!(
            message("id: a\n---\nid: b\n"),
            "f.yaml:3:1: more than one YAML document in the file (a `---` line starts another one)"
        );
        assert_eq!(message("id:\n"), "f.yaml:1:3: a value is missing here");
        assert_eq!(
            message("id: a\nn: 70000\n"),
            "f.yaml:2:4: expected a whole number from 0 to 65535"
        );
        assert_eq!(
            message(""),
            "f.yaml:1:1: the file is empty (no YAML content)"
        );
        assert_eq!(
            message("# only a comment\n"),
            "f.yaml:2:1: the file is empty (no YAML content)"
        );
    }

    #[test]
    fn limits_are_named() {
        // Billion laughs: each level ten aliases of the one before.
        let mut bomb = String::from("id: a\nmore:\n  l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..7 {
            let aliases = vec![format!("*l{}", level - 1); 10].join(", ");
            bomb.push_str(&format!("  l{level}: &l{level} [{aliases}]\n"));
        }
        let text = message(&bomb);
        assert!(text.ends_with("(over 250000 nodes)"), "{text}");
        let deep = format!("id: a\nmore: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(message(&deep).ends_with("nested too deeply (over 64 levels)"));
        let deeper = format!("id: a\nmore: {}{}\n", "[".repeat(400), "]".repeat(400));
        assert!(message(&deeper).ends_with("nested too deeply (over 64 levels)"));
    }

    #[test]
    fn control_characters_stay_escaped() {
        let error = LoadError::at(Path::new("a\nb.yaml"), 1, 2, "bad \u{1b}[31m".into());
        assert_eq!(error.to_string(), "a\\nb.yaml:1:2: bad \\u{1b}[31m");
    }

    #[test]
    fn non_utf8_is_reported_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.yaml");
        std::fs::write(&path, b"id: a\nabout: caf\xe9\n").unwrap();
        let error = read_text(&path).unwrap_err();
        assert_eq!((error.line, error.column), (2, 11), "{error}");
        assert!(error.message.contains("0xe9"), "{error}");
    }
}
