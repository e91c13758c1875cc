//! Reports of a matrix run, written into one directory:
//!
//! - `matrix.md`: the matrix as a Markdown table, a legend, run metadata and the quirks found;
//! - `index.html` + `cells/*.html`: a self-contained HTML matrix (inline CSS, no script, no
//!   external resource) whose every cell links to a detail page;
//! - `results.json`: [`MatrixResults`] as JSON, schema in `docs/results-schema.json`;
//! - `junit.xml`: one testsuite per column, one testcase per cell.
//!
//! The output depends only on the results: columns and scenarios keep the order they have
//! there, and two writes of the same results produce identical files.

mod html;
mod json;
mod junit;
mod markdown;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::matrix::{CellResult, ColumnInfo, MatrixResults, Verdict};
use crate::quirks::Quirk;
use crate::servers::backend::BackendKind;

/// The folder, inside the report directory, that holds one detail page per cell.
pub const CELLS_DIR: &str = "cells";

/// Every backend name, as used in file names and JSON.
const BACKENDS: [BackendKind; 4] = [
    BackendKind::Embedded,
    BackendKind::Native,
    BackendKind::Container,
    BackendKind::External,
];

/// The files [`write_reports`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    pub matrix_md: PathBuf,
    pub index_html: PathBuf,
    /// One detail page per cell, in the order of `results.cells`.
    pub cell_pages: Vec<PathBuf>,
    pub results_json: PathBuf,
    pub junit_xml: PathBuf,
    /// Detail pages of an earlier run that no longer correspond to a cell, now removed.
    pub removed_stale: Vec<PathBuf>,
}

/// Writes every report into `dir` (created if missing), replacing the previous run's.
pub fn write_reports(results: &MatrixResults, dir: &Path) -> io::Result<ReportFiles> {
    fs::create_dir_all(dir.join(CELLS_DIR))?;
    let view = View::new(results);

    let matrix_md = dir.join("matrix.md");
    write_file(&matrix_md, &markdown::render(&view))?;

    let mut cell_pages = Vec::with_capacity(results.cells.len());
    let mut wanted = BTreeSet::new();
    for cell in &results.cells {
        let name = cell_file_name(&cell.column, cell.backend, &cell.scenario);
        let path = dir.join(CELLS_DIR).join(&name);
        write_file(&path, &html::render_cell(&view, cell))?;
        wanted.insert(name);
        cell_pages.push(path);
    }
    let removed_stale = remove_stale_pages(&dir.join(CELLS_DIR), &wanted)?;

    let index_html = dir.join("index.html");
    write_file(&index_html, &html::render_index(&view))?;

    let junit_xml = dir.join("junit.xml");
    write_file(&junit_xml, &junit::render(&view)?)?;

    // Last: the other reports are written even if the results cannot be serialized.
    let results_json = dir.join("results.json");
    write_file(&results_json, &json::render(results)?)?;

    Ok(ReportFiles {
        matrix_md,
        index_html,
        cell_pages,
        results_json,
        junit_xml,
        removed_stale,
    })
}

/// The detail page of a cell, relative to the report directory:
/// `cells/<column id, / replaced by _>__<backend>__<scenario>.html`.
pub fn cell_page(column: &str, backend: BackendKind, scenario: &str) -> String {
    format!("{CELLS_DIR}/{}", cell_file_name(column, backend, scenario))
}

fn cell_file_name(column: &str, backend: BackendKind, scenario: &str) -> String {
    format!(
        "{}__{backend}__{}.html",
        file_part(column),
        file_part(scenario)
    )
}

/// `/` (and anything else that is not safe in a file name or URL) becomes `_`.
fn file_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `name` is a detail page this writer produces (so it may remove it).
fn is_cell_page_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".html") else {
        return false;
    };
    let parts: Vec<&str> = stem.split("__").collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[2].is_empty()
        && BACKENDS.iter().any(|b| b.to_string() == parts[1])
}

fn remove_stale_pages(cells_dir: &Path, wanted: &BTreeSet<String>) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(cells_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if entry.file_type()?.is_file() && is_cell_page_name(name) && !wanted.contains(name) {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    removed.sort();
    Ok(removed)
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
fn write_file(path: &Path, contents: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The results with the lookups every format needs.
struct View<'a> {
    results: &'a MatrixResults,
    cells: HashMap<(&'a str, BackendKind, &'a str), &'a CellResult>,
    quirks: HashMap<&'a str, &'a Quirk>,
}

impl<'a> View<'a> {
    fn new(results: &'a MatrixResults) -> Self {
        let cells = results
            .cells
            .iter()
            .map(|c| ((c.column.as_str(), c.backend, c.scenario.as_str()), c))
            .collect();
        let quirks = results.quirks.iter().map(|q| (q.id.as_str(), q)).collect();
        View {
            results,
            cells,
            quirks,
        }
    }

    fn cell(&self, column: &ColumnInfo, scenario: &str) -> Option<&'a CellResult> {
        self.cells
            .get(&(column.id.as_str(), column.backend, scenario))
            .copied()
    }

    fn column_of(&self, cell: &CellResult) -> Option<&'a ColumnInfo> {
        self.results
            .columns
            .iter()
            .find(|c| c.id == cell.column && c.backend == cell.backend)
    }

    fn quirk(&self, id: &str) -> Option<&'a Quirk> {
        self.quirks.get(id).copied()
    }

    /// Quirks seen in any cell, in catalog order (ids missing from the catalog last), each
    /// with the cells that showed it and the variant seen there.
    fn quirks_found(&self) -> Vec<QuirkFound<'a>> {
        let mut found: Vec<QuirkFound<'a>> = Vec::new();
        for cell in &self.results.cells {
            for m in &cell.quirks {
                let place = (cell, m.variant.as_deref());
                match found.iter_mut().find(|f| f.id == m.id) {
                    Some(f) => f.cells.push(place),
                    None => found.push(QuirkFound {
                        id: &m.id,
                        quirk: self.quirk(&m.id),
                        cells: vec![place],
                    }),
                }
            }
        }
        let rank = |id: &str| {
            self.results
                .quirks
                .iter()
                .position(|q| q.id == id)
                .unwrap_or(usize::MAX)
        };
        found.sort_by(|a, b| rank(a.id).cmp(&rank(b.id)).then_with(|| a.id.cmp(b.id)));
        found
    }

    /// How many cells have each verdict, in [`VERDICTS`] order.
    fn counts(&self) -> Vec<(Verdict, usize)> {
        VERDICTS
            .iter()
            .map(|v| {
                (
                    *v,
                    self.results
                        .cells
                        .iter()
                        .filter(|c| c.verdict == *v)
                        .count(),
                )
            })
            .collect()
    }
}

/// A quirk seen in the run: its catalog entry (if any) and the cells (with variant) it was seen in.
struct QuirkFound<'a> {
    id: &'a str,
    quirk: Option<&'a Quirk>,
    cells: Vec<(&'a CellResult, Option<&'a str>)>,
}

/// `column [backend] :: scenario (variant)`.
fn place_name(cell: &CellResult, variant: Option<&str>) -> String {
    let mut text = format!("{} [{}] :: {}", cell.column, cell.backend, cell.scenario);
    if let Some(v) = variant {
        text.push_str(&format!(" ({v})"));
    }
    text
}

/// The verdicts in legend order, with what each means.
const VERDICTS: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::Quirk,
    Verdict::Fail,
    Verdict::Error,
    Verdict::Skipped,
];

fn verdict_meaning(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "the scenario's expectation held",
        Verdict::Quirk => {
            "a known, named server deviation (see the quirk catalog) that the scenario tolerates on this server"
        }
        Verdict::Fail => "an unexpected result: no tolerated quirk explains it",
        Verdict::Error => {
            "the harness or its infrastructure broke (server did not start, timeout of the cell)"
        }
        Verdict::Skipped => {
            "not run here (backend unavailable, configuration unsupported, not applicable); the reason is shown"
        }
    }
}

/// The short label of a cell: the verdict and, when known, the decisive reply code
/// (`pass 226`, `quirk 522`, `skipped`).
pub fn cell_label(cell: &CellResult) -> String {
    match decisive_code(cell) {
        Some(code) => format!("{} {code}", cell.verdict.as_str()),
        None => cell.verdict.as_str().to_string(),
    }
}

fn decisive_code(cell: &CellResult) -> Option<u16> {
    if cell.verdict == Verdict::Skipped {
        return None;
    }
    cell.decisive.as_ref().and_then(|d| d.code)
}

/// `step 5 (list): LIST -> 522 SSL connection failed`.
fn decisive_summary(cell: &CellResult) -> Option<String> {
    let d = cell.decisive.as_ref()?;
    let mut text = format!("step {} ({})", d.step, d.label);
    if let Some(command) = &d.command {
        text.push_str(&format!(": {command}"));
    }
    text.push_str(&format!(" -> {}", d.detail));
    Some(text)
}

fn column_title(column: &ColumnInfo) -> String {
    format!("{} [{}]", column.id, column.backend)
}

/// `2026-01-02T03:04:05.123Z` as `2026-01-02 03:04:05 UTC`; anything else as it is.
fn display_time(rfc3339: &str) -> String {
    let Some((date, time)) = rfc3339.split_once('T') else {
        return rfc3339.to_string();
    };
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(i) => time.split_at(i),
        None => (time, ""),
    };
    let clock = clock.split('.').next().unwrap_or(clock);
    let zone = if zone == "Z" { " UTC" } else { zone };
    format!("{date} {clock}{zone}")
}

fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_names_are_safe_and_recognised() {
        let name = cell_file_name("vsftpd/explicit-strict", BackendKind::Native, "happy-path");
        assert_eq!(name, "vsftpd_explicit-strict__native__happy-path.html");
        assert!(is_cell_page_name(&name));
        assert_eq!(
            cell_page("a b/c", BackendKind::Container, "x?y"),
            "cells/a_b_c__container__x_y.html"
        );
        assert!(!is_cell_page_name("style.css"));
        assert!(!is_cell_page_name("notes__mine.html"));
        assert!(!is_cell_page_name("a__docker__b.html"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(12_345), "12.3 s");
        assert_eq!(format_duration(125_000), "2m 05s");
    }
}
