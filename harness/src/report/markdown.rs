//! `matrix.md`: scenarios as rows, columns as columns, each cell `verdict [code]`.

use std::fmt::Write;

use super::{
    VERDICTS, View, cell_label, display_time, format_duration, place_name, verdict_meaning,
};

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

pub(super) fn render(view: &View) -> String {
    let results = view.results;
    let mut md = String::new();
    let _ = writeln!(md, "# FTPS compatibility matrix\n");
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
    let counts: Vec<String> = view
        .counts()
        .iter()
        .map(|(v, n)| format!("{n} {}", v.as_str()))
        .collect();
    let _ = writeln!(
        md,
        "{} cells: {}.\n",
        results.cells.len(),
        counts.join(", ")
    );

    // The table.
    let mut header = String::from("| scenario |");
    let mut rule = String::from("| --- |");
    for column in &results.columns {
        let version = column.version.as_deref().unwrap_or("version unknown");
        let _ = write!(
            header,
            " {}<br>{}<br>{} |",
            cell_text(&column.id),
            column.backend,
            cell_text(version)
        );
        rule.push_str(" --- |");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for scenario in &results.scenarios {
        let mut row = format!("| {} |", cell_text(&scenario.id));
        for column in &results.columns {
            let text = match view.cell(column, &scenario.id) {
                Some(cell) => cell_label(cell),
                None => "—".into(),
            };
            let _ = write!(row, " {} |", cell_text(&text));
        }
        let _ = writeln!(md, "{row}");
    }
    md.push('\n');

    let _ = writeln!(md, "## Legend\n");
    for verdict in VERDICTS {
        let _ = writeln!(
            md,
            "- **{}**: {}.",
            verdict.as_str(),
            verdict_meaning(verdict)
        );
    }
    let _ = writeln!(
        md,
        "\nThe number after a verdict is the decisive reply code: the reply that decided the verdict.\n"
    );

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
                    "- **{}**: {} ({})",
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
