//! `matrix.md`: the client profiles' table first, then the scenarios'; servers are columns
//! (a `server/profile` that answered alike on its backends is one column), and each cell is
//! `outcome [code] [marks]` with the quirk ids under it.

use std::fmt::Write;

use super::{
    Mark, Table, View, cell_headline, display_time, fingerprint, format_duration, place_name,
    quirk_ids,
};
use crate::matrix::CellResult;
use crate::outcome::OutcomeClass;

/// Text safe inside a table cell: no line breaks, no column separators.
fn cell_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// Text safe in running Markdown: characters that would start markup or HTML are escaped.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Markdown has no colours; a coloured dot before the outcome stands in for the HTML's.
fn dot(class: OutcomeClass) -> &'static str {
    match class {
        OutcomeClass::Works => "🟢",
        OutcomeClass::Refused => "🟡",
        OutcomeClass::Hangs => "🟠",
        OutcomeClass::Breaks => "🔴",
        OutcomeClass::Error => "🟣",
        OutcomeClass::Skipped => "⚪",
    }
}

/// `🟡 refused 522 ≠<br>session-reuse-required`.
fn cell_markdown(cell: &CellResult) -> String {
    let mut text = format!("{} {}", dot(cell.class()), cell_headline(cell));
    let ids = quirk_ids(cell);
    if !ids.is_empty() && cell.class() != OutcomeClass::Skipped {
        let _ = write!(text, "<br>{}", ids.join(", "));
    }
    cell_text(&text)
}

/// `column [backend]`, each cell of a list once.
fn places(cells: &[&CellResult]) -> String {
    let names: Vec<String> = cells
        .iter()
        .map(|c| format!("{} [{}]", c.column, c.backend))
        .collect();
    inline(&names.join(", "))
}

fn table(md: &mut String, view: &View, table: &Table) {
    let _ = writeln!(md, "## {}\n", table.kind.title());
    let mut header = format!("| {} | works on |", table.kind.noun());
    let mut rule = String::from("| --- | --- |");
    for column in &view.columns {
        let mut title = format!(
            "{}<br>{}<br>{}",
            cell_text(column.id()),
            column.backend_names(),
            cell_text(&column.version())
        );
        if view.differs_by_backend(column.id()) {
            title.push_str("<br>differs by backend");
        }
        let _ = write!(header, " {title} |");
        rule.push_str(" --- |");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for row in &table.rows {
        let mut line = format!("| {} | {} |", cell_text(row.label()), row.tally.of());
        for cell in &row.cells {
            let text = cell.map(cell_markdown).unwrap_or_else(|| "—".into());
            let _ = write!(line, " {text} |");
        }
        let _ = writeln!(md, "{line}");
    }
    let mut footer = format!("| **works for** ({} that ran) | |", table.kind.plural());
    for tally in &table.column_tallies {
        let _ = write!(footer, " {} |", tally.of());
    }
    let _ = writeln!(md, "{footer}\n");
}

pub(super) fn render(view: &View) -> String {
    let results = view.results;
    let mut md = String::new();
    let _ = writeln!(md, "# FTPS compatibility matrix\n");
    let _ = writeln!(
        md,
        "Does each client behaviour work with each server, and if not, how exactly does it fail?\n"
    );
    let _ = writeln!(
        md,
        "ftps-compat {} · started {} · took {} · {} ({} cores, {} jobs)\n",
        inline(&results.harness_version),
        inline(&display_time(&results.started_at)),
        format_duration(results.duration_ms),
        inline(&results.host.os),
        results.host.cores,
        results.host.jobs
    );
    if let Some(incomplete) = &results.incomplete {
        let _ = writeln!(
            md,
            "> **Incomplete**: stopped by {}; {} of {} cells finished, {} cancelled. \
             Cells that did not finish are blank.\n",
            inline(&incomplete.stopped_by),
            incomplete.planned - incomplete.cancelled,
            incomplete.planned,
            incomplete.cancelled
        );
    }
    let counts: Vec<String> = view
        .counts()
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    let _ = writeln!(
        md,
        "{} cells: {}.\n",
        results.cells.len(),
        counts.join(", ")
    );

    for t in &view.tables {
        table(&mut md, view, t);
    }

    let _ = writeln!(md, "## Legend\n");
    for class in OutcomeClass::ALL {
        let _ = writeln!(md, "- {} **{class}**: {}.", dot(class), class.meaning());
    }
    for mark in Mark::ALL {
        let _ = writeln!(
            md,
            "- **{}** {}: {}.",
            mark.symbol(),
            mark.name(),
            inline(mark.meaning())
        );
    }
    let _ = writeln!(
        md,
        "\nThe number after an outcome is the decisive reply code (the reply that decided it); \
         the names under it are the catalog quirks the run shows. \"works on\" counts the \
         servers where the row ran, \"works for\" the rows that ran on the server: error and \
         skipped cells are left out. A column names every backend that gave it the same \
         answers.\n"
    );

    let gaps = view.catalog_gaps();
    let _ = writeln!(md, "## Gaps in the quirk catalog\n");
    if gaps.is_empty() {
        let _ = writeln!(
            md,
            "None: a catalog quirk explains every cell that does not work.\n"
        );
    } else {
        let n: usize = gaps.iter().map(|g| g.cells.len()).sum();
        let _ = writeln!(
            md,
            "{n} cells do not work and no quirk in `servers/quirks.yaml` explains them:\n"
        );
        for gap in gaps {
            let _ = writeln!(
                md,
                "- {} `{}`: {}  \n  on {}",
                dot(gap.class),
                gap.scenario,
                inline(gap.summary),
                places(&gap.cells)
            );
        }
        md.push('\n');
    }

    if view.has_several_backends() {
        let _ = writeln!(md, "## Backend differences\n");
        if view.differences.is_empty() {
            let _ = writeln!(
                md,
                "None: every server configuration answered alike on each backend it ran on.\n"
            );
        } else {
            for d in &view.differences {
                let answers: Vec<String> = d
                    .cells
                    .iter()
                    .map(|c| format!("{} {}", c.backend, fingerprint(c)))
                    .collect();
                let _ = writeln!(
                    md,
                    "- `{}` :: `{}`: {}",
                    d.column,
                    d.scenario,
                    inline(&answers.join("; "))
                );
            }
            md.push('\n');
        }
    }

    let unavailable: Vec<_> = results
        .columns
        .iter()
        .filter_map(|c| c.unavailable.as_ref().map(|why| (c, why)))
        .collect();
    if !unavailable.is_empty() {
        let _ = writeln!(md, "## Skipped columns\n");
        for (column, why) in unavailable {
            let _ = writeln!(
                md,
                "- `{}` [{}]: {}",
                column.id,
                column.backend,
                inline(why)
            );
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Quirks found\n");
    let found = view.quirks_found();
    if found.is_empty() {
        let _ = writeln!(md, "None.");
    }
    for found in found {
        match found.quirk {
            Some(q) => {
                let _ = writeln!(
                    md,
                    "- {}**{}**: {} ({})",
                    if q.security {
                        "⚠️ security finding: "
                    } else {
                        ""
                    },
                    inline(found.id),
                    inline(&q.title),
                    inline(&q.standard)
                );
            }
            None => {
                let _ = writeln!(md, "- **{}** (not in the catalog)", inline(found.id));
            }
        }
        for (cell, variant) in found.cells {
            let _ = writeln!(md, "  - {}", inline(&place_name(cell, variant)));
        }
    }
    md.push('\n');

    let _ = writeln!(md, "## Scenarios\n");
    for scenario in &results.scenarios {
        let _ = writeln!(
            md,
            "- **{}**: {}",
            inline(&scenario.id),
            inline(&scenario.about)
        );
        if !scenario.reference.is_empty() {
            let _ = writeln!(md, "  ({})", inline(&scenario.reference));
        }
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "Details of every cell (transcript, server log, quirk explanations): `index.html`. \
         Machine-readable: `results.json`, `junit.xml`."
    );
    md
}
