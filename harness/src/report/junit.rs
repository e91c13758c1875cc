//! `junit.xml`, written with quick-junit: one testsuite per column (`server/profile [backend]`),
//! one testcase per cell (`server/profile::scenario`, the `cargo test` trial name), client
//! profiles first as in the other reports.
//! A testcase fails when its cell fails a check of the run (a changed answer against
//! `--baseline`, an outcome `--require` does not allow), not merely for not working; an
//! `error` cell is an error and a `skipped` one skipped. The outcome, reply code, quirks,
//! marks and answers on other backends are properties; the system-out is the cell's
//! snapshot (outcome line, quirks line, transcript).

use std::io;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Tally, View, cell_headline, column_title, decisive_summary, fingerprint};
use crate::baseline::Checks;
use crate::matrix::CellResult;
use crate::outcome::OutcomeClass;

pub(super) fn render(view: &View, checks: &Checks) -> io::Result<String> {
    let results = view.results;
    let mut report = Report::new("ftps-compat");
    report.set_time(Duration::from_millis(results.duration_ms));
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&results.started_at) {
        report.set_timestamp(at);
    }
    for column in &results.columns {
        let title = column_title(column);
        let mut suite = TestSuite::new(title.as_str());
        suite.add_property(Property::new("server", column.server.as_str()));
        suite.add_property(Property::new("profile", column.profile.as_str()));
        suite.add_property(Property::new("backend", column.backend.to_string()));
        if let Some(version) = &column.version {
            suite.add_property(Property::new("version", version.as_str()));
        }
        if let Some(why) = &column.unavailable {
            suite.add_property(Property::new("unavailable", why.as_str()));
        }
        let mut time = 0;
        let mut tally = Tally::default();
        for row in view.tables.iter().flat_map(|t| &t.rows) {
            if let Some(cell) = view.cell(column, &row.scenario.id) {
                time += cell.duration_ms;
                tally.add(Some(cell));
                suite.add_test_case(test_case(view, cell, &title, checks));
            }
        }
        // The column's headline: how many of the cells that ran work.
        suite.add_property(Property::new("works", tally.of()));
        suite.set_time(Duration::from_millis(time));
        report.add_test_suite(suite);
    }
    // A stopped run fails as a whole, whatever its finished cells say.
    if let Some(incomplete) = &results.incomplete {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(incomplete.headline());
        status.set_type("incomplete");
        let mut case = TestCase::new("the run finished", status);
        case.set_classname("ftps-compat");
        let mut suite = TestSuite::new("ftps-compat");
        suite.add_test_case(case);
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map(|mut xml| {
            if !xml.ends_with('\n') {
                xml.push('\n');
            }
            xml
        })
        .map_err(|e| io::Error::other(format!("junit.xml: {e}")))
}

/// `refused 522 ≠ [session-reuse-required]`: the outcome first, as in the matrix.
fn case_type(cell: &CellResult) -> String {
    let ids = super::quirk_ids(cell);
    if ids.is_empty() {
        cell_headline(cell)
    } else {
        format!("{} [{}]", cell_headline(cell), ids.join(", "))
    }
}

fn test_case(view: &View, cell: &CellResult, classname: &str, checks: &Checks) -> TestCase {
    let decisive = decisive_summary(cell);
    // The outcome, then the decisive step and reply: what a CI page shows first.
    let description = match &decisive {
        Some(d) => format!("{}\ndecisive: {d}", cell.outcome.summary),
        None => cell.outcome.summary.clone(),
    };
    let failures = checks.failures(cell);
    let status = match cell.class() {
        OutcomeClass::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(cell.outcome.summary.as_str());
            status
        }
        OutcomeClass::Error => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(cell.outcome.summary.as_str());
            status.set_type(case_type(cell));
            status.set_description(description);
            status
        }
        _ if !failures.is_empty() => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
            status.set_message(format!("{}: {}", reasons.join("; "), cell.outcome.summary));
            status.set_type(case_type(cell));
            status.set_description(description);
            status
        }
        _ => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(cell.name(), status);
    case.set_classname(classname);
    case.set_time(Duration::from_millis(cell.duration_ms));
    case.add_property(Property::new("outcome", cell.class().as_str()));
    if let Some(code) = cell.outcome.code() {
        case.add_property(Property::new("reply", code.to_string()));
    }
    for quirk in &cell.outcome.quirks {
        case.add_property(Property::new("quirk", quirk.to_string()));
    }
    if let Some(deviation) = &cell.outcome.deviation {
        case.add_property(Property::new("deviation", deviation.as_str()));
    }
    if cell.outcome.unexplained {
        case.add_property(Property::new("unexplained", "true"));
    }
    if cell.class() != OutcomeClass::Skipped {
        let mine = fingerprint(cell);
        for other in view.siblings(cell) {
            if other.class() != OutcomeClass::Skipped && fingerprint(other) != mine {
                let answer = format!("{}: {}", other.backend, fingerprint(other));
                case.add_property(Property::new("differs_on", answer));
            }
        }
    }
    case.set_system_out(crate::snapshot::render(cell));
    if !cell.log_excerpt.is_empty() {
        case.set_system_err(cell.log_excerpt.as_str());
    }
    case
}
