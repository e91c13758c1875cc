//! Known behaviour as a baseline. A cell is reduced to its answer (outcome class, decisive
//! reply code, quirk ids); two runs are compared cell by cell (`run --baseline`, `diff`),
//! and `--require` demands outcome classes of every cell that ran.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::matrix::{CellResult, MatrixResults};
use crate::outcome::{OutcomeClass, deciding_code};
use crate::servers::backend::BackendKind;

/// What a cell's answer is reduced to for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub class: OutcomeClass,
    pub code: Option<u16>,
    /// Quirk ids (variants are wording, not behaviour), sorted.
    pub quirks: Vec<String>,
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.class)?;
        if let Some(code) = self.code {
            write!(f, " {code}")?;
        }
        if !self.quirks.is_empty() {
            write!(f, " [{}]", self.quirks.join(", "))?;
        }
        Ok(())
    }
}

/// One cell of a run, as comparisons see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellAnswer {
    pub column: String,
    pub backend: BackendKind,
    pub scenario: String,
    pub answer: Fingerprint,
}

impl CellAnswer {
    pub fn of(cell: &CellResult) -> CellAnswer {
        let mut quirks: Vec<String> = cell.outcome.quirks.iter().map(|q| q.id.clone()).collect();
        quirks.sort();
        quirks.dedup();
        CellAnswer {
            column: cell.column.clone(),
            backend: cell.backend,
            scenario: cell.scenario.clone(),
            answer: Fingerprint {
                class: cell.class(),
                code: cell.outcome.code(),
                quirks,
            },
        }
    }
}

/// Every cell of a run.
pub fn answers(results: &MatrixResults) -> Vec<CellAnswer> {
    results.cells.iter().map(CellAnswer::of).collect()
}

/// The parts of a results.json that comparisons read (any format version that has them).
#[derive(Deserialize)]
struct SavedResults {
    cells: Vec<SavedCell>,
    #[serde(default)]
    incomplete: Option<crate::matrix::Incomplete>,
}

#[derive(Deserialize)]
struct SavedCell {
    column: String,
    backend: BackendKind,
    scenario: String,
    outcome: SavedOutcome,
}

#[derive(Deserialize)]
struct SavedOutcome {
    class: OutcomeClass,
    #[serde(default)]
    decisive: Option<SavedDecisive>,
    #[serde(default)]
    quirks: Vec<SavedQuirk>,
}

#[derive(Deserialize)]
struct SavedDecisive {
    code: Option<u16>,
}

#[derive(Deserialize)]
struct SavedQuirk {
    id: String,
}

/// Reads the cells of a results.json written by `run --report-dir`. The error names the
/// file, and the line and column where it stops making sense.
pub fn load(path: &Path) -> Result<Vec<CellAnswer>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let saved: SavedResults = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not a results.json of this tool: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    // Its missing cells would read as removed: a stopped run cannot stand for a whole one.
    if let Some(incomplete) = saved.incomplete {
        return Err(format!(
            "{}: a run that did not finish ({}); compare against a complete run",
            path.display(),
            incomplete.headline()
        ));
    }
    Ok(saved
        .cells
        .into_iter()
        .map(|cell| {
            let mut quirks: Vec<String> = cell.outcome.quirks.into_iter().map(|q| q.id).collect();
            quirks.sort();
            quirks.dedup();
            let class = cell.outcome.class;
            let code = deciding_code(class, cell.outcome.decisive.and_then(|d| d.code));
            CellAnswer {
                column: cell.column,
                backend: cell.backend,
                scenario: cell.scenario,
                answer: Fingerprint {
                    class,
                    code,
                    quirks,
                },
            }
        })
        .collect())
}

/// One server of the old run compared with another of the new run (`vsftpd` with
/// `vsftpd-trixie`): two builds of the same server with the same profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPair {
    pub old: String,
    pub new: String,
}

impl std::str::FromStr for ServerPair {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((old, new)) if !old.is_empty() && !new.is_empty() && !new.contains('=') => {
                Ok(ServerPair {
                    old: old.to_string(),
                    new: new.to_string(),
                })
            }
            _ => Err(format!(
                "{text:?} is not OLD_SERVER=NEW_SERVER (vsftpd=vsftpd-trixie)"
            )),
        }
    }
}

/// Keeps only the paired servers' cells, and names each pair's columns alike on both sides
/// (`vsftpd→vsftpd-trixie/explicit-strict`), so that `compare` matches them by profile.
pub fn paired(
    old: Vec<CellAnswer>,
    new: Vec<CellAnswer>,
    pairs: &[ServerPair],
) -> (Vec<CellAnswer>, Vec<CellAnswer>) {
    let rename = |cells: Vec<CellAnswer>, server_of: fn(&ServerPair) -> &str| {
        cells
            .into_iter()
            .filter_map(|mut cell| {
                let (server, profile) = cell.column.split_once('/')?;
                let pair = pairs.iter().find(|p| server_of(p) == server)?;
                cell.column = format!("{}→{}/{profile}", pair.old, pair.new);
                Some(cell)
            })
            .collect()
    };
    (
        rename(old, |p| p.old.as_str()),
        rename(new, |p| p.new.as_str()),
    )
}

/// The baseline's cells that `results` has, so that a stopped run is compared on what it
/// finished.
pub fn restricted_to(baseline: Vec<CellAnswer>, results: &MatrixResults) -> Vec<CellAnswer> {
    baseline
        .into_iter()
        .filter(|old| {
            results.cells.iter().any(|cell| {
                cell.column == old.column
                    && cell.backend == old.backend
                    && cell.scenario == old.scenario
            })
        })
        .collect()
}

/// Where a cell sits: `server/profile` and scenario, and the backend when asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CellKey {
    pub column: String,
    pub scenario: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
}

impl fmt::Display for CellKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.column, self.scenario)?;
        if let Some(backend) = self.backend {
            write!(f, " [{backend}]")?;
        }
        Ok(())
    }
}

/// A cell's answers on one side: one per backend that ran it, duplicates merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side(pub Vec<Fingerprint>);

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(" | "))
    }
}

/// A cell whose answer differs between the two runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub cell: CellKey,
    pub old: Side,
    pub new: Side,
}

/// Two runs, cell by cell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Comparison {
    /// Cells whose answer changed: these fail a `--baseline` check.
    pub changed: Vec<Change>,
    /// Cells only the new run has (a new scenario or server).
    pub added: Vec<CellKey>,
    /// Cells only the old run has.
    pub removed: Vec<CellKey>,
    /// Cells skipped on either side: nothing to compare.
    pub not_compared: Vec<CellKey>,
    /// Cells with the same answer.
    pub unchanged: usize,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.changed.is_empty()
    }

    /// `1 changed, 52 unchanged, ...`: every count, in one line.
    pub fn headline(&self) -> String {
        format!(
            "{} changed, {} unchanged, {} only in the new run, {} only in the old run, \
             {} not compared (skipped on a side)",
            self.changed.len(),
            self.unchanged,
            self.added.len(),
            self.removed.len(),
            self.not_compared.len()
        )
    }
}

fn group(cells: &[CellAnswer], by_backend: bool) -> BTreeMap<CellKey, BTreeSet<Fingerprint>> {
    let mut grouped: BTreeMap<CellKey, BTreeSet<Fingerprint>> = BTreeMap::new();
    for cell in cells {
        let key = CellKey {
            column: cell.column.clone(),
            scenario: cell.scenario.clone(),
            backend: by_backend.then_some(cell.backend),
        };
        grouped.entry(key).or_default().insert(cell.answer.clone());
    }
    grouped
}

/// Compares two runs. Cells are matched by `server/profile` and scenario; with
/// `by_backend`, the backend too. Skipped answers are left out of the comparison.
pub fn compare(old: &[CellAnswer], new: &[CellAnswer], by_backend: bool) -> Comparison {
    let ran = |set: BTreeSet<Fingerprint>| -> Vec<Fingerprint> {
        set.into_iter()
            .filter(|f| f.class != OutcomeClass::Skipped)
            .collect()
    };
    let old = group(old, by_backend);
    let mut new = group(new, by_backend);
    let mut comparison = Comparison::default();
    for (key, old_set) in old {
        let Some(new_set) = new.remove(&key) else {
            comparison.removed.push(key);
            continue;
        };
        let (old_ran, new_ran) = (ran(old_set), ran(new_set));
        if old_ran.is_empty() || new_ran.is_empty() {
            comparison.not_compared.push(key);
        } else if old_ran == new_ran {
            comparison.unchanged += 1;
        } else {
            comparison.changed.push(Change {
                cell: key,
                old: Side(old_ran),
                new: Side(new_ran),
            });
        }
    }
    comparison.added = new.into_keys().collect();
    comparison
}

/// Why a cell fails this run's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum CheckFailure {
    /// The answer differs from the baseline's.
    Changed { old: Side, new: Side },
    /// The outcome is not one `--require` allows.
    NotRequired {
        class: OutcomeClass,
        required: Vec<OutcomeClass>,
    },
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckFailure::Changed { old, new } => {
                write!(f, "changed from the baseline: {old} -> {new}")
            }
            CheckFailure::NotRequired { class, required } => {
                let names: Vec<&str> = required.iter().map(|c| c.as_str()).collect();
                write!(
                    f,
                    "{class}, where --require asks for {}",
                    names.join(" or ")
                )
            }
        }
    }
}

/// The checks a run is held to, and what failed them, per cell.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    pub baseline: Option<Comparison>,
    pub require: Vec<OutcomeClass>,
    failures: BTreeMap<(String, BackendKind, String), Vec<CheckFailure>>,
}

impl Checks {
    /// Holds `results` to a baseline comparison (by `server/profile` and scenario) and to
    /// the required classes (empty: no requirement).
    pub fn new(
        results: &MatrixResults,
        baseline: Option<&[CellAnswer]>,
        require: Vec<OutcomeClass>,
    ) -> Checks {
        let mut checks = Checks {
            baseline: baseline.map(|old| compare(old, &answers(results), false)),
            require,
            failures: BTreeMap::new(),
        };
        for cell in &results.cells {
            let mut failures = Vec::new();
            if let Some(change) = checks.baseline.as_ref().and_then(|c| {
                c.changed
                    .iter()
                    .find(|ch| ch.cell.column == cell.column && ch.cell.scenario == cell.scenario)
            }) {
                failures.push(CheckFailure::Changed {
                    old: change.old.clone(),
                    new: change.new.clone(),
                });
            }
            if !checks.require.is_empty()
                && cell.class().ran()
                && !checks.require.contains(&cell.class())
            {
                failures.push(CheckFailure::NotRequired {
                    class: cell.class(),
                    required: checks.require.clone(),
                });
            }
            if !failures.is_empty() {
                let key = (cell.column.clone(), cell.backend, cell.scenario.clone());
                checks.failures.insert(key, failures);
            }
        }
        checks
    }

    /// What this cell failed (empty: nothing).
    pub fn failures(&self, cell: &CellResult) -> &[CheckFailure] {
        self.failures
            .get(&(cell.column.clone(), cell.backend, cell.scenario.clone()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Whether any cell failed a check.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// How many cells failed a check.
    pub fn failed_cells(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(
        column: &str,
        backend: BackendKind,
        class: OutcomeClass,
        code: Option<u16>,
    ) -> CellAnswer {
        CellAnswer {
            column: column.into(),
            backend,
            scenario: "s".into(),
            answer: Fingerprint {
                class,
                code,
                quirks: vec![],
            },
        }
    }

    #[test]
    fn paired_servers_are_compared_profile_by_profile() {
        use BackendKind::{Container, Native};
        use OutcomeClass::{Refused, Works};
        // One results file holding both builds, as reports/results.json does.
        let run = vec![
            cell("vsftpd/strict", Native, Works, None),
            cell("vsftpd/lax", Native, Works, None),
            cell("vsftpd-trixie/strict", Container, Refused, Some(522)),
            cell("vsftpd-trixie/lax", Container, Works, None),
            cell("proftpd/strict", Native, Works, None),
        ];
        let pair: ServerPair = "vsftpd=vsftpd-trixie".parse().unwrap();
        let (old, new) = paired(run.clone(), run, &[pair]);
        let comparison = compare(&old, &new, false);
        assert_eq!(comparison.unchanged, 1);
        assert_eq!(comparison.changed.len(), 1);
        assert_eq!(
            comparison.changed[0].cell.column,
            "vsftpd→vsftpd-trixie/strict"
        );
        // proftpd was not paired: it is on neither side.
        assert!(comparison.added.is_empty() && comparison.removed.is_empty());
        assert!("vsftpd".parse::<ServerPair>().is_err());
        assert!("=b".parse::<ServerPair>().is_err());
    }

    #[test]
    fn changed_added_removed_and_skipped_cells() {
        use BackendKind::{Container, Native};
        use OutcomeClass::{Refused, Skipped, Works};
        let old = vec![
            cell("a/p", Native, Works, None),
            cell("a/p", Container, Works, None),
            cell("b/p", Native, Refused, Some(522)),
            cell("c/p", Native, Works, None),
            cell("d/p", Native, Skipped, None),
        ];
        let new = vec![
            cell("a/p", Native, Works, None),
            cell("b/p", Native, Refused, Some(425)),
            cell("d/p", Native, Works, None),
            cell("e/p", Native, Works, None),
        ];
        let comparison = compare(&old, &new, false);
        // a/p ran on one backend only now, with the same answer: unchanged.
        assert_eq!(comparison.unchanged, 1);
        assert_eq!(comparison.changed.len(), 1);
        let change = &comparison.changed[0];
        assert_eq!(change.cell.to_string(), "b/p::s");
        assert_eq!(
            format!("{} -> {}", change.old, change.new),
            "refused 522 -> refused 425"
        );
        assert_eq!(comparison.removed[0].column, "c/p");
        assert_eq!(comparison.added[0].column, "e/p");
        assert_eq!(comparison.not_compared[0].column, "d/p");
        // By backend, the container cell of a/p is gone.
        let by_backend = compare(&old, &new, true);
        assert!(
            by_backend
                .removed
                .iter()
                .any(|k| k.to_string() == "a/p::s [container]")
        );
    }

    #[test]
    fn a_difference_between_backends_is_part_of_the_answer() {
        use BackendKind::{Container, Native};
        use OutcomeClass::{Hangs, Works};
        let old = vec![
            cell("a/p", Native, Works, None),
            cell("a/p", Container, Works, None),
        ];
        let new = vec![
            cell("a/p", Native, Works, None),
            cell("a/p", Container, Hangs, None),
        ];
        let comparison = compare(&old, &new, false);
        assert_eq!(comparison.changed[0].new.to_string(), "works | hangs");
    }
}
