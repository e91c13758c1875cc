//! Reports of a matrix run, written into one directory. Each answers, per cell: does this
//! client behaviour work with this server, and if not, how exactly does it fail?
//!
//! - `matrix.md`: the client profiles' table, then the scenarios' (outcome class, decisive
//!   code, marks and quirk ids per cell; a headline per row and column), a legend, the gaps
//!   in the quirk catalog, the backend differences and the quirks found;
//! - `index.html` + `cells/*.html`: the same as a self-contained HTML page (inline CSS, no
//!   script, no external resource) whose every cell links to a detail page;
//! - `results.json`: [`MatrixResults`] as JSON, schema in `docs/results-schema.json`;
//! - `junit.xml`: one testsuite per column, one testcase per cell, failing on the run's checks.
//!
//! `View` groups the results once for every format: backends of a `server/profile` that
//! answered alike become one shown column, client rows become their own table.
//! The output depends only on the results: columns and rows keep the order they have
//! there, and two writes of the same results produce identical files.

mod diff;
mod html;
mod json;
mod junit;
mod markdown;
mod probe;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::baseline::{CellAnswer, Checks, Comparison, Fingerprint};
use crate::matrix::{CellResult, ColumnInfo, MatrixResults, ScenarioInfo};
use crate::outcome::OutcomeClass;
use crate::quirks::Quirk;
use crate::scenario::{self, CLIENT_ROW_PREFIX};
use crate::servers::backend::BackendKind;

pub use diff::{DiffNames, diff_html, diff_json, diff_markdown};

/// Writes diff.md, diff.html and diff.json into `dir` (created if missing).
/// Writes `<stem>.md`, `<stem>.html` and `<stem>.json` into `dir` (created if missing).
pub fn write_diff(
    comparison: &Comparison,
    names: &DiffNames,
    dir: &Path,
    stem: &str,
) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = |ext: &str| dir.join(format!("{stem}.{ext}"));
    write_file(&path("md"), &diff_markdown(comparison, names))?;
    write_file(&path("html"), &diff_html(comparison, names))?;
    let json = diff_json(comparison, names).map_err(io::Error::other)?;
    write_file(&path("json"), &json)
}

/// Writes `probe.html` and `probe.json` into `dir` (created if missing); the HTML's path.
pub fn write_probe(report: &crate::probe::ProbeReport, dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    write_file(&dir.join("probe.json"), &(json + "\n"))?;
    let html = dir.join("probe.html");
    write_file(&html, &probe::render(report))?;
    Ok(html)
}

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
pub fn write_reports(
    results: &MatrixResults,
    checks: &Checks,
    dir: &Path,
) -> io::Result<ReportFiles> {
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
    write_file(&junit_xml, &junit::render(&view, checks)?)?;

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

/// The results with the lookups and groupings every format needs.
struct View<'a> {
    results: &'a MatrixResults,
    cells: HashMap<(&'a str, BackendKind, &'a str), &'a CellResult>,
    quirks: HashMap<&'a str, &'a Quirk>,
    /// The columns as the tables show them: a `server/profile` whose backends answered
    /// alike is one column.
    columns: Vec<ShownColumn<'a>>,
    /// The client profiles' table first (when the run has client rows), then the scenarios'.
    tables: Vec<Table<'a>>,
    /// Scenarios a `server/profile` answered differently on its backends.
    differences: Vec<BackendDifference<'a>>,
}

/// One column of the tables: a `server/profile` on the backends that gave it the same
/// answers (class, decisive code, quirk ids) wherever both ran.
struct ShownColumn<'a> {
    /// In run order; either all of them ran something or none did.
    members: Vec<&'a ColumnInfo>,
}

impl<'a> ShownColumn<'a> {
    fn first(&self) -> &'a ColumnInfo {
        self.members[0]
    }

    fn id(&self) -> &'a str {
        &self.first().id
    }

    fn backends(&self) -> Vec<BackendKind> {
        self.members.iter().map(|c| c.backend).collect()
    }

    /// `native + container`.
    fn backend_names(&self) -> String {
        let names: Vec<String> = self.backends().iter().map(ToString::to_string).collect();
        names.join(" + ")
    }

    /// The members' versions, distinct, `/`-separated (`version unknown` when none is known).
    fn version(&self) -> String {
        let mut versions: Vec<&str> = Vec::new();
        for column in &self.members {
            let version = column.version.as_deref().unwrap_or("version unknown");
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        versions.join(" / ")
    }

    /// Why members cannot run here, each reason once.
    fn unavailable(&self) -> Vec<&'a str> {
        let mut reasons: Vec<&str> = Vec::new();
        for why in self.members.iter().filter_map(|c| c.unavailable.as_deref()) {
            if !reasons.contains(&why) {
                reasons.push(why);
            }
        }
        reasons
    }
}

/// Whether rows are client profiles or scenarios: it decides the tables' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowKind {
    Clients,
    Behaviours,
}

impl RowKind {
    fn of(scenario: &ScenarioInfo) -> RowKind {
        match scenario.row {
            scenario::RowKind::Client => RowKind::Clients,
            scenario::RowKind::Behaviour => RowKind::Behaviours,
        }
    }

    fn title(self) -> &'static str {
        match self {
            RowKind::Clients => "Which clients work with which servers",
            RowKind::Behaviours => "Which client behaviours work with which servers",
        }
    }

    /// The rows' header cell.
    fn noun(self) -> &'static str {
        match self {
            RowKind::Clients => "client",
            RowKind::Behaviours => "scenario",
        }
    }

    /// What a column's tally counts.
    fn plural(self) -> &'static str {
        match self {
            RowKind::Clients => "clients",
            RowKind::Behaviours => "client behaviours",
        }
    }

    /// The HTML id of the table's heading.
    fn anchor(self) -> &'static str {
        match self {
            RowKind::Clients => "clients",
            RowKind::Behaviours => "behaviours",
        }
    }
}

/// How many shown cells work, of those that ran (error and skipped cells say nothing
/// about the server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    works: usize,
    ran: usize,
}

impl Tally {
    fn add(&mut self, cell: Option<&CellResult>) {
        if let Some(cell) = cell.filter(|c| c.class().ran()) {
            self.ran += 1;
            if cell.class() == OutcomeClass::Works {
                self.works += 1;
            }
        }
    }

    /// `31 of 53`.
    fn of(self) -> String {
        format!("{} of {}", self.works, self.ran)
    }

    /// The share that works, in percent, for bars (0 when nothing ran).
    fn percent(self) -> usize {
        (self.works * 100).checked_div(self.ran).unwrap_or(0)
    }
}

/// One table: rows of one kind against every shown column.
struct Table<'a> {
    kind: RowKind,
    rows: Vec<Row<'a>>,
    /// Per shown column: how many of this table's rows work there.
    column_tallies: Vec<Tally>,
}

struct Row<'a> {
    scenario: &'a ScenarioInfo,
    /// Per shown column, the cell shown there.
    cells: Vec<Option<&'a CellResult>>,
    /// On how many shown columns the row works.
    tally: Tally,
}

impl Row<'_> {
    /// The row's name: a client profile without its `client-` prefix.
    fn label(&self) -> &str {
        match self.scenario.row {
            scenario::RowKind::Client => self
                .scenario
                .id
                .strip_prefix(CLIENT_ROW_PREFIX)
                .unwrap_or(&self.scenario.id),
            scenario::RowKind::Behaviour => &self.scenario.id,
        }
    }
}

/// A scenario that one `server/profile` answered differently on two or more backends.
struct BackendDifference<'a> {
    column: &'a str,
    scenario: &'a str,
    /// One cell per backend that ran it, in run order.
    cells: Vec<&'a CellResult>,
}

/// Unexplained cells that failed the same way: a scenario and its outcome summary.
struct CatalogGap<'a> {
    scenario: &'a str,
    summary: &'a str,
    class: OutcomeClass,
    cells: Vec<&'a CellResult>,
}

fn fingerprint(cell: &CellResult) -> Fingerprint {
    CellAnswer::of(cell).answer
}

fn skipped(cell: &CellResult) -> bool {
    cell.class() == OutcomeClass::Skipped
}

impl<'a> View<'a> {
    fn new(results: &'a MatrixResults) -> Self {
        let cells = results
            .cells
            .iter()
            .map(|c| ((c.column.as_str(), c.backend, c.scenario.as_str()), c))
            .collect();
        let quirks = results.quirks.iter().map(|q| (q.id.as_str(), q)).collect();
        let mut view = View {
            results,
            cells,
            quirks,
            columns: Vec::new(),
            tables: Vec::new(),
            differences: Vec::new(),
        };
        view.columns = view.shown_columns();
        view.tables = [RowKind::Clients, RowKind::Behaviours]
            .into_iter()
            .filter_map(|kind| view.table(kind))
            .collect();
        view.differences = view.backend_differences();
        view
    }

    fn cell(&self, column: &ColumnInfo, scenario: &str) -> Option<&'a CellResult> {
        self.cells
            .get(&(column.id.as_str(), column.backend, scenario))
            .copied()
    }

    /// The cell a shown column shows: the first member's that was not skipped, else the
    /// first member's.
    fn shown_cell(&self, column: &ShownColumn<'a>, scenario: &str) -> Option<&'a CellResult> {
        let cells: Vec<&CellResult> = column
            .members
            .iter()
            .filter_map(|c| self.cell(c, scenario))
            .collect();
        cells
            .iter()
            .find(|c| !skipped(c))
            .or(cells.first())
            .copied()
    }

    /// Whether two columns of one `server/profile` answered alike: the same fingerprint
    /// wherever both ran, and either both ran something or neither did (a column that ran
    /// nothing is no evidence of sameness).
    fn same_answers(&self, a: &ColumnInfo, b: &ColumnInfo) -> bool {
        let ran_any = |column: &ColumnInfo| {
            self.results
                .scenarios
                .iter()
                .any(|s| self.cell(column, &s.id).is_some_and(|c| !skipped(c)))
        };
        if ran_any(a) != ran_any(b) {
            return false;
        }
        self.results
            .scenarios
            .iter()
            .all(|s| match (self.cell(a, &s.id), self.cell(b, &s.id)) {
                (Some(x), Some(y)) if !skipped(x) && !skipped(y) => {
                    fingerprint(x) == fingerprint(y)
                }
                _ => true,
            })
    }

    /// Columns grouped by `server/profile` in run order; within one, each backend joins
    /// the first group it answered alike with.
    fn shown_columns(&self) -> Vec<ShownColumn<'a>> {
        let mut ids: Vec<&str> = Vec::new();
        for column in &self.results.columns {
            if !ids.contains(&column.id.as_str()) {
                ids.push(&column.id);
            }
        }
        let mut shown = Vec::new();
        for id in ids {
            let mut groups: Vec<ShownColumn<'a>> = Vec::new();
            for column in self.results.columns.iter().filter(|c| c.id == id) {
                let alike = groups
                    .iter_mut()
                    .find(|g| g.members.iter().all(|m| self.same_answers(m, column)));
                match alike {
                    Some(group) => group.members.push(column),
                    None => groups.push(ShownColumn {
                        members: vec![column],
                    }),
                }
            }
            shown.extend(groups);
        }
        shown
    }

    fn table(&self, kind: RowKind) -> Option<Table<'a>> {
        let mut column_tallies = vec![Tally::default(); self.columns.len()];
        let rows: Vec<Row<'a>> = self
            .results
            .scenarios
            .iter()
            .filter(|s| RowKind::of(s) == kind)
            .map(|scenario| {
                let cells: Vec<Option<&CellResult>> = self
                    .columns
                    .iter()
                    .map(|column| self.shown_cell(column, &scenario.id))
                    .collect();
                let mut tally = Tally::default();
                for (cell, column_tally) in cells.iter().zip(&mut column_tallies) {
                    tally.add(*cell);
                    column_tally.add(*cell);
                }
                Row {
                    scenario,
                    cells,
                    tally,
                }
            })
            .collect();
        (!rows.is_empty()).then_some(Table {
            kind,
            rows,
            column_tallies,
        })
    }

    /// Per `server/profile` with more than one shown column, the scenarios whose ran
    /// cells differ, in table order.
    fn backend_differences(&self) -> Vec<BackendDifference<'a>> {
        let mut differences = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for column in &self.columns {
            let id = column.id();
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let split = self.columns.iter().filter(|c| c.id() == id).count() > 1;
            if !split {
                continue;
            }
            let members: Vec<&ColumnInfo> =
                self.results.columns.iter().filter(|c| c.id == id).collect();
            for row in self.tables.iter().flat_map(|t| &t.rows) {
                let cells: Vec<&CellResult> = members
                    .iter()
                    .filter_map(|c| self.cell(c, &row.scenario.id))
                    .filter(|c| !skipped(c))
                    .collect();
                let first = cells.first().map(|c| fingerprint(c));
                if cells.iter().any(|c| Some(fingerprint(c)) != first) {
                    differences.push(BackendDifference {
                        column: id,
                        scenario: &row.scenario.id,
                        cells,
                    });
                }
            }
        }
        differences
    }

    /// Whether a `server/profile` answered differently on its backends.
    fn differs_by_backend(&self, id: &str) -> bool {
        self.differences.iter().any(|d| d.column == id)
    }

    /// Whether any `server/profile` ran on more than one backend (so sameness was checked).
    fn has_several_backends(&self) -> bool {
        self.results.columns.iter().any(|a| {
            self.results
                .columns
                .iter()
                .any(|b| a.id == b.id && a.backend != b.backend)
        })
    }

    /// The same `server/profile` and scenario on the other backends.
    fn siblings(&self, cell: &CellResult) -> Vec<&'a CellResult> {
        self.results
            .cells
            .iter()
            .filter(|c| {
                c.column == cell.column && c.scenario == cell.scenario && c.backend != cell.backend
            })
            .collect()
    }

    /// Unexplained cells, grouped by scenario and summary, in table order.
    fn catalog_gaps(&self) -> Vec<CatalogGap<'a>> {
        let mut gaps: Vec<CatalogGap<'a>> = Vec::new();
        for row in self.tables.iter().flat_map(|t| &t.rows) {
            let start = gaps.len();
            for cell in self
                .results
                .cells
                .iter()
                .filter(|c| c.scenario == row.scenario.id && c.outcome.unexplained)
            {
                match gaps[start..]
                    .iter_mut()
                    .find(|g| g.summary == cell.outcome.summary)
                {
                    Some(gap) => gap.cells.push(cell),
                    None => gaps.push(CatalogGap {
                        scenario: &row.scenario.id,
                        summary: &cell.outcome.summary,
                        class: cell.class(),
                        cells: vec![cell],
                    }),
                }
            }
        }
        gaps
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
            for m in &cell.outcome.quirks {
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
        // Security findings first, then in catalog order.
        let security = |f: &QuirkFound| !f.quirk.is_some_and(|q| q.security);
        found.sort_by(|a, b| {
            security(a)
                .cmp(&security(b))
                .then_with(|| rank(a.id).cmp(&rank(b.id)))
                .then_with(|| a.id.cmp(b.id))
        });
        found
    }

    /// How many cells have each outcome class, in [`OutcomeClass::ALL`] order.
    fn counts(&self) -> Vec<(OutcomeClass, usize)> {
        OutcomeClass::ALL
            .iter()
            .map(|class| {
                (
                    *class,
                    self.results
                        .cells
                        .iter()
                        .filter(|c| c.class() == *class)
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

/// The short label of a cell: the outcome and, when known, the decisive reply code
/// (`works`, `refused 522`, `skipped`).
pub fn cell_label(cell: &CellResult) -> String {
    match cell.outcome.code() {
        Some(code) => format!("{} {code}", cell.class()),
        None => cell.class().to_string(),
    }
}

/// The label and the cell's marks: `refused 522 ≠ ?`.
fn cell_headline(cell: &CellResult) -> String {
    let mut text = cell_label(cell);
    for mark in Mark::on(cell) {
        text.push(' ');
        text.push_str(mark.symbol());
    }
    text
}

/// The ids of the quirks a cell shows, each once, in the cell's order.
fn quirk_ids(cell: &CellResult) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for m in &cell.outcome.quirks {
        if !ids.contains(&m.id.as_str()) {
            ids.push(&m.id);
        }
    }
    ids
}

/// What a cell is marked with besides its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// The outcome differs from the scenario's `expect:`.
    Deviation,
    /// Not `works`, and no catalog quirk explains it.
    Unexplained,
}

impl Mark {
    const ALL: [Mark; 2] = [Mark::Deviation, Mark::Unexplained];

    fn on(cell: &CellResult) -> Vec<Mark> {
        Mark::ALL
            .into_iter()
            .filter(|mark| match mark {
                Mark::Deviation => cell.outcome.deviation.is_some(),
                Mark::Unexplained => cell.outcome.unexplained,
            })
            .collect()
    }

    fn symbol(self) -> &'static str {
        match self {
            Mark::Deviation => "≠",
            Mark::Unexplained => "?",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mark::Deviation => "deviation",
            Mark::Unexplained => "unexplained",
        }
    }

    /// For legends.
    fn meaning(self) -> &'static str {
        match self {
            Mark::Deviation => {
                "differs from the scenario's expect: (what a server conforming to RFC 959 / 4217 does)"
            }
            Mark::Unexplained => {
                "does not work as the scenario expects, and no catalog quirk explains it (a gap in servers/quirks.yaml)"
            }
        }
    }

    /// For this cell's tooltip.
    fn describe(self, cell: &CellResult) -> String {
        match (self, &cell.outcome.deviation) {
            (Mark::Deviation, Some(expected)) => format!("deviation: the scenario {expected}"),
            (Mark::Deviation, None) => "deviation".into(),
            (Mark::Unexplained, _) => "unexplained: no catalog quirk explains this outcome".into(),
        }
    }
}

/// `step 5 (list): LIST -> 522 SSL connection failed`.
fn decisive_summary(cell: &CellResult) -> Option<String> {
    let d = cell.outcome.decisive.as_ref()?;
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
    use crate::matrix::HostInfo;
    use crate::outcome::Answer;
    use BackendKind::{Container, Native};
    use OutcomeClass::{Refused, Skipped, Works};

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

    fn column(id: &str, backend: BackendKind) -> ColumnInfo {
        let (server, profile) = id.split_once('/').unwrap();
        ColumnInfo {
            id: id.into(),
            server: server.into(),
            profile: profile.into(),
            backend,
            mode: None,
            version: None,
            about: String::new(),
            unavailable: None,
        }
    }

    fn cell(column: &str, backend: BackendKind, scenario: &str, class: OutcomeClass) -> CellResult {
        CellResult {
            column: column.into(),
            backend,
            scenario: scenario.into(),
            outcome: Answer::not_run(class, ""),
            run: None,
            duration_ms: 0,
            transcript: Vec::new(),
            log_excerpt: String::new(),
        }
    }

    /// Columns `a/p`, `b/p`, `c/p` on native and container; rows `s`, `t` and a client.
    /// `a` answers alike (the container skips `t`); `b` differs on `s`; `c`'s container
    /// runs nothing.
    fn results() -> MatrixResults {
        let mut columns = Vec::new();
        let mut cells = Vec::new();
        let rows = ["s", "t", "client-curl"];
        for id in ["a/p", "b/p", "c/p"] {
            for backend in [Native, Container] {
                columns.push(column(id, backend));
                for row in rows {
                    let class = match (id, backend, row) {
                        ("a/p", Container, "t") | ("c/p", Container, _) => Skipped,
                        ("b/p", Container, "s") | (_, _, "t") => Refused,
                        _ => Works,
                    };
                    cells.push(cell(id, backend, row, class));
                }
            }
        }
        MatrixResults {
            format: crate::matrix::RESULTS_FORMAT,
            harness_version: "0".into(),
            started_at: String::new(),
            duration_ms: 0,
            host: HostInfo {
                os: String::new(),
                cores: 1,
                jobs: 1,
            },
            columns,
            scenarios: rows
                .iter()
                .map(|id| ScenarioInfo {
                    id: id.to_string(),
                    row: if id.starts_with(CLIENT_ROW_PREFIX) {
                        scenario::RowKind::Client
                    } else {
                        scenario::RowKind::Behaviour
                    },
                    about: String::new(),
                    reference: String::new(),
                })
                .collect(),
            cells,
            quirks: Vec::new(),
            incomplete: None,
        }
    }

    #[test]
    fn backends_that_answer_alike_are_one_column_and_differences_are_findings() {
        let results = results();
        let view = View::new(&results);
        let shown: Vec<(&str, Vec<BackendKind>)> = view
            .columns
            .iter()
            .map(|c| (c.id(), c.backends()))
            .collect();
        assert_eq!(
            shown,
            [
                // A skipped cell on one side is no difference.
                ("a/p", vec![Native, Container]),
                ("b/p", vec![Native]),
                ("b/p", vec![Container]),
                // A backend that ran nothing is no evidence of sameness.
                ("c/p", vec![Native]),
                ("c/p", vec![Container]),
            ]
        );
        let differences: Vec<(&str, &str, Vec<BackendKind>)> = view
            .differences
            .iter()
            .map(|d| {
                (
                    d.column,
                    d.scenario,
                    d.cells.iter().map(|c| c.backend).collect(),
                )
            })
            .collect();
        assert_eq!(differences, [("b/p", "s", vec![Native, Container])]);
        assert!(view.differs_by_backend("b/p") && !view.differs_by_backend("c/p"));

        // Client profiles first; the merged column shows the native answer where the
        // container skipped.
        let kinds: Vec<RowKind> = view.tables.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [RowKind::Clients, RowKind::Behaviours]);
        assert_eq!(view.tables[0].rows[0].label(), "curl");
        let t_row = &view.tables[1].rows[1];
        assert_eq!(t_row.scenario.id, "t");
        let a_cell = t_row.cells[0].unwrap();
        assert_eq!((a_cell.backend, a_cell.class()), (Native, Refused));
        // Headlines count cells that ran: `c/p` container skipped everything.
        let s_row = &view.tables[1].rows[0];
        assert_eq!(s_row.tally, Tally { works: 3, ran: 4 });
        let tallies: Vec<String> = view.tables[1]
            .column_tallies
            .iter()
            .map(|t| t.of())
            .collect();
        assert_eq!(tallies, ["1 of 2", "1 of 2", "0 of 2", "1 of 2", "0 of 0"]);
    }

    /// The row kind is the loader's word, not the id: a scenario named `client-cert` is a
    /// client behaviour.
    #[test]
    fn a_scenario_whose_id_starts_with_client_is_still_a_scenario() {
        let mut results = results();
        for scenario in &mut results.scenarios {
            if scenario.id == "t" {
                scenario.id = "client-cert".into();
            }
        }
        for cell in &mut results.cells {
            if cell.scenario == "t" {
                cell.scenario = "client-cert".into();
            }
        }
        let view = View::new(&results);
        let clients: Vec<&str> = view.tables[0].rows.iter().map(|r| r.label()).collect();
        let behaviours: Vec<&str> = view.tables[1].rows.iter().map(|r| r.label()).collect();
        assert_eq!(clients, ["curl"]);
        assert_eq!(behaviours, ["s", "client-cert"]);
    }
}
