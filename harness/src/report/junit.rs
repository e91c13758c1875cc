//! `junit.xml`, written with quick-junit: one testsuite per column (`server/profile [backend]`),
//! one testcase per cell (`server/profile::scenario`, the `cargo test` trial name).
//! `fail` is a failure, `error` an error, `skipped` a skipped test; `pass` and `quirk` pass
//! (a tolerated quirk is an expected result), with the verdict and quirks as properties.

use std::io;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{View, cell_label, column_title, decisive_summary};
use crate::matrix::{CellResult, Verdict};

pub(super) fn render(view: &View) -> io::Result<String> {
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
        for scenario in &results.scenarios {
            if let Some(cell) = view.cell(column, &scenario.id) {
                time += cell.duration_ms;
                suite.add_test_case(test_case(cell, &title));
            }
        }
        suite.set_time(Duration::from_millis(time));
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

fn test_case(cell: &CellResult, classname: &str) -> TestCase {
    let decisive = decisive_summary(cell);
    // The reason, then the decisive step and reply: what a CI page shows first.
    let description = match &decisive {
        Some(d) => format!("{}\ndecisive: {d}", cell.reason),
        None => cell.reason.clone(),
    };
    let status = match cell.verdict {
        Verdict::Pass | Verdict::Quirk => TestCaseStatus::success(),
        Verdict::Fail | Verdict::Error => {
            let kind = if cell.verdict == Verdict::Fail {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(match &decisive {
                Some(d) => format!("{} [{d}]", cell.reason),
                None => cell.reason.clone(),
            });
            status.set_type(cell_label(cell));
            status.set_description(description);
            status
        }
        Verdict::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(cell.reason.as_str());
            status
        }
    };
    let mut case = TestCase::new(cell.name(), status);
    case.set_classname(classname);
    case.set_time(Duration::from_millis(cell.duration_ms));
    case.add_property(Property::new("verdict", cell.verdict.as_str()));
    if let Some(code) = cell.decisive.as_ref().and_then(|d| d.code) {
        case.add_property(Property::new("reply", code.to_string()));
    }
    for quirk in &cell.quirks {
        case.add_property(Property::new("quirk", quirk.to_string()));
    }
    if !cell.transcript.is_empty() {
        case.set_system_out(cell.transcript.as_str());
    }
    if !cell.log_excerpt.is_empty() {
        case.set_system_err(cell.log_excerpt.as_str());
    }
    case
}
